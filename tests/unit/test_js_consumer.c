/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JetStream consumers on a server in the simulator (js_consumer.c, js_consumer_api.c):
 * scripted clients create consumers, pull with MSG.NEXT, ack on the $JS.ACK reply and
 * read what arrives, on the virtual clock: redelivery after ack_wait, pull expiry, idle
 * heartbeats, inactive ephemerals, retention and a durable across a restart.
 */
#include <check.h>
#include <stdlib.h>

#include "fixture_js.h"

/* Runs until c has received needle n times, or fails after ns. */
static void wait_count(struct fx *f, struct sim_client *c, const char *needle, size_t n,
                       uint64_t ns)
{
    struct count_reaches cr = {c, needle, n};
    ck_assert_msg(sim_world_run_until_pred(f->w, count_reaches_pred, &cr, after(f, ns)),
                  "\"%s\" not seen %zu times", needle, n);
}

static void assert_contains_received(const struct sim_client *c, const char *want)
{
    char *all = received_str(c);
    assert_contains(all, want);
    g_free(all);
}

static void create_stream(struct fx *f, struct sim_client *c, const char *name,
                          const char *extra)
{
    char *subject = g_strdup_printf("$JS.API.STREAM.CREATE.%s", name);
    char *body = g_strdup_printf("{\"name\":\"%s\",\"subjects\":[\"%s.>\"]%s}", name, name,
                                 extra);
    char *r = request(f, c, subject, body);
    assert_contains(r, "\"did_create\":true");
    g_free(r);
    g_free(subject);
    g_free(body);
}

/* Creates consumer name on stream with the config fields in cfg ("..." inside {}). */
static char *create_consumer(struct fx *f, struct sim_client *c, const char *stream,
                             const char *name, const char *cfg)
{
    char *subject = g_strdup_printf("$JS.API.CONSUMER.DURABLE.CREATE.%s.%s", stream, name);
    char *body = g_strdup_printf("{\"stream_name\":\"%s\",\"config\":{\"durable_name\":\"%s\"%s}}",
                                 stream, name, cfg);
    char *r = request(f, c, subject, body);
    g_free(subject);
    g_free(body);
    return r;
}

static void publish(struct fx *f, struct sim_client *c, const char *subject, const char *data)
{
    g_free(request(f, c, subject, data));
}

/* A pull request with body, answers to inbox (subscribed as sid 900 once). */
static void pull(struct sim_client *c, const char *stream, const char *consumer,
                 const char *body)
{
    char *line = g_strdup_printf("PUB $JS.API.CONSUMER.MSG.NEXT.%s.%s pulls %zu\r\n%s\r\n",
                                 stream, consumer, strlen(body), body);
    say(c, line);
    g_free(line);
}

START_TEST(pull_delivers_with_ack_reply_and_acks_move_the_floor)
{
    struct fx f;
    fx_start(&f, 21, with_js_mem);
    struct sim_client *c = client(&f, "c", "{\"verbose\":false,\"headers\":true}");
    create_stream(&f, c, "S", ",\"storage\":\"memory\"");
    char *r = create_consumer(&f, c, "S", "d", ",\"ack_policy\":\"explicit\"");
    assert_contains(r, "\"type\":\"io.nats.jetstream.api.v1.consumer_create_response\"");
    assert_contains(r, "\"ack_wait\":30000000000");
    assert_contains(r, "\"max_ack_pending\":1000");
    g_free(r);
    publish(&f, c, "S.a", "one");
    publish(&f, c, "S.b", "two");
    publish(&f, c, "S.a", "three");
    sim_client_clear(c);
    say(c, "SUB pulls 900\r\n");
    pull(c, "S", "d", "{\"batch\":2}");
    wait_count(&f, c, "MSG S.", 2, SEC);
    /* The stored subject, the inbox's sid, the ack reply with the pending count. */
    ck_assert_uint_eq(count(c, "MSG S.a 900 $JS.ACK.S.d.1.1.1."), 1);
    ck_assert_uint_eq(count(c, "MSG S.b 900 $JS.ACK.S.d.1.2.2."), 1);
    char *all = received_str(c);
    char *p = strstr(all, "$JS.ACK.S.d.1.1.1.");
    ck_assert_ptr_nonnull(p);
    char *end = strchr(p, ' ');
    char *ack = g_strndup(p, (gsize)(end - p));
    ck_assert(g_str_has_suffix(ack, ".2")); /* two more after it */
    g_free(all);
    r = request(&f, c, ack, "+ACK");
    ck_assert_str_eq(r, ""); /* the ack with a reply is confirmed */
    g_free(r);
    g_free(ack);
    r = request(&f, c, "$JS.API.CONSUMER.INFO.S.d", "");
    assert_contains(r, "\"ack_floor\":{\"consumer_seq\":1,\"stream_seq\":1");
    assert_contains(r, "\"num_ack_pending\":1");
    assert_contains(r, "\"num_pending\":1");
    assert_contains(r, "\"delivered\":{\"consumer_seq\":2,\"stream_seq\":2");
    g_free(r);
    fx_finish(&f);
}
END_TEST

START_TEST(unacked_message_is_redelivered_after_ack_wait_until_max_deliver)
{
    struct fx f;
    fx_start(&f, 22, with_js_mem);
    struct sim_client *c = client(&f, "c", "{\"verbose\":false,\"headers\":true}");
    create_stream(&f, c, "R", ",\"storage\":\"memory\"");
    g_free(create_consumer(&f, c, "R", "d",
                           ",\"ack_policy\":\"explicit\",\"ack_wait\":2000000000,"
                           "\"max_deliver\":2"));
    publish(&f, c, "R.x", "m");
    sim_client_clear(c);
    say(c, "SUB pulls 900\r\n");
    pull(c, "R", "d", "{\"batch\":5,\"expires\":10000000000}");
    wait_count(&f, c, "$JS.ACK.R.d.1.1.1.", 1, SEC);
    uint64_t t0 = sim_world_now_ns(f.w);
    /* Not before ack_wait... */
    sim_world_run_until(f.w, t0 + 1900 * MS);
    ck_assert_uint_eq(count(c, "$JS.ACK.R.d.2."), 0);
    /* ...then once more, delivery count 2, and never a third time. */
    wait_count(&f, c, "$JS.ACK.R.d.2.1.2.", 1, SEC);
    sim_world_run_until(f.w, t0 + 7 * SEC);
    ck_assert_uint_eq(count(c, "$JS.ACK.R.d."), 2);
    char *r = request(&f, c, "$JS.API.CONSUMER.INFO.R.d", "");
    assert_contains(r, "\"num_ack_pending\":0");
    assert_contains(r, "\"num_redelivered\":1");
    g_free(r);
    fx_finish(&f);
}
END_TEST

START_TEST(pull_requests_expire_and_no_wait_answers_at_once)
{
    struct fx f;
    fx_start(&f, 23, with_js_mem);
    struct sim_client *c = client(&f, "c", "{\"verbose\":false,\"headers\":true}");
    create_stream(&f, c, "E", ",\"storage\":\"memory\"");
    g_free(create_consumer(&f, c, "E", "d", ",\"ack_policy\":\"explicit\""));
    sim_client_clear(c);
    say(c, "SUB pulls 900\r\n");
    pull(c, "E", "d", "{\"batch\":1,\"no_wait\":true}");
    wait_count(&f, c, "NATS/1.0 404 No Messages\r\n\r\n", 1, SEC);
    sim_client_clear(c);
    uint64_t t0 = sim_world_now_ns(f.w);
    pull(c, "E", "d", "{\"batch\":3,\"expires\":1500000000}");
    sim_world_run_until(f.w, t0 + 1400 * MS);
    ck_assert_uint_eq(count(c, "408"), 0);
    wait_count(&f, c,
               "NATS/1.0 408 Request Timeout\r\nNats-Pending-Messages: 3\r\n"
               "Nats-Pending-Bytes: 0\r\n\r\n",
               1, 200 * MS);
    /* Bad requests and limits get their status lines. */
    sim_client_clear(c);
    pull(c, "E", "d", "{\"batch\":");
    wait_count(&f, c, "NATS/1.0 400 Bad Request - invalid JSON\r\n", 1, SEC);
    pull(c, "E", "nope", "");
    wait_count(&f, c, "NATS/1.0 503\r\n", 1, SEC);
    fx_finish(&f);
}
END_TEST

START_TEST(push_consumer_sends_idle_heartbeats)
{
    struct fx f;
    fx_start(&f, 24, with_js_mem);
    struct sim_client *c = client(&f, "c", "{\"verbose\":false,\"headers\":true}");
    create_stream(&f, c, "H", ",\"storage\":\"memory\"");
    publish(&f, c, "H.a", "x");
    sim_client_clear(c);
    say(c, "SUB deliver.h 901\r\n");
    barrier(&f, c);
    char *r = create_consumer(&f, c, "H", "p",
                              ",\"deliver_subject\":\"deliver.h\",\"idle_heartbeat\":1000000000,"
                              "\"flow_control\":true");
    assert_contains(r, "\"flow_control\":true");
    g_free(r);
    wait_count(&f, c, "MSG H.a 901 $JS.ACK.H.p.1.1.1.", 1, SEC);
    uint64_t t0 = sim_world_now_ns(f.w);
    sim_world_run_until(f.w, t0 + 900 * MS);
    ck_assert_uint_eq(count(c, "Idle Heartbeat"), 0);
    wait_count(&f, c,
               "NATS/1.0 100 Idle Heartbeat\r\nNats-Last-Consumer: 1\r\nNats-Last-Stream: 1\r\n",
               1, 200 * MS);
    wait_count(&f, c, "Idle Heartbeat", 3, 2100 * MS);
    fx_finish(&f);
}
END_TEST

START_TEST(ephemeral_goes_after_inactive_threshold)
{
    struct fx f;
    fx_start(&f, 25, with_js_mem);
    struct sim_client *c = client(&f, "c", "{\"verbose\":false,\"headers\":true}");
    create_stream(&f, c, "P", ",\"storage\":\"memory\"");
    char *r = request(&f, c, "$JS.API.CONSUMER.CREATE.P",
                      "{\"stream_name\":\"P\",\"config\":{\"ack_policy\":\"explicit\"}}");
    assert_contains(r, "\"inactive_threshold\":5000000000");
    g_free(r);
    r = request(&f, c, "$JS.API.CONSUMER.NAMES.P", "");
    assert_contains(r, "\"total\":1");
    g_free(r);
    sim_world_run_until(f.w, after(&f, 6 * SEC));
    r = request(&f, c, "$JS.API.CONSUMER.NAMES.P", "");
    assert_contains(r, "\"total\":0");
    assert_contains(r, "\"consumers\":[]");
    g_free(r);
    fx_finish(&f);
}
END_TEST

START_TEST(workqueue_drops_acked_messages)
{
    struct fx f;
    fx_start(&f, 26, with_js_mem);
    struct sim_client *c = client(&f, "c", "{\"verbose\":false,\"headers\":true}");
    create_stream(&f, c, "W", ",\"storage\":\"memory\",\"retention\":\"workqueue\"");
    g_free(create_consumer(&f, c, "W", "w", ",\"ack_policy\":\"explicit\""));
    char *r = create_consumer(&f, c, "W", "v", ",\"ack_policy\":\"explicit\"");
    assert_contains(r, "\"err_code\":10099");
    g_free(r);
    publish(&f, c, "W.j", "job");
    sim_client_clear(c);
    say(c, "SUB pulls 900\r\n");
    pull(c, "W", "w", "");
    wait_count(&f, c, "$JS.ACK.W.w.1.1.1.", 1, SEC);
    char *all = received_str(c);
    char *p = strstr(all, "$JS.ACK.W.w.1.1.1.");
    char *ack = g_strndup(p, strcspn(p, " "));
    g_free(all);
    g_free(request(&f, c, ack, ""));
    g_free(ack);
    r = request(&f, c, "$JS.API.STREAM.INFO.W", "");
    assert_contains(r, "\"messages\":0");
    assert_contains(r, "\"consumer_count\":1");
    g_free(r);
    fx_finish(&f);
}
END_TEST

START_TEST(durable_state_survives_a_restart)
{
    struct fx f;
    fx_start(&f, 27, with_js_file);
    struct sim_client *c = client(&f, "c", "{\"verbose\":false,\"headers\":true}");
    create_stream(&f, c, "K", "");
    for (int i = 0; i < 3; i++) {
        publish(&f, c, "K.x", "v");
    }
    g_free(create_consumer(&f, c, "K", "dur", ",\"ack_policy\":\"explicit\""));
    sim_client_clear(c);
    say(c, "SUB pulls 900\r\n");
    pull(c, "K", "dur", "{\"batch\":2}");
    wait_count(&f, c, "$JS.ACK.K.dur.1.2.2.", 1, SEC);
    g_free(request(&f, c, "$JS.ACK.K.dur.1.1.1.0.2", "+ACK"));
    sim_world_run_until(f.w, after(&f, SEC)); /* consumer.json is written */
    restart(&f, c);
    c = client(&f, "c2", "{\"verbose\":false,\"headers\":true}");
    char *r = request(&f, c, "$JS.API.CONSUMER.INFO.K.dur", "");
    assert_contains(r, "\"durable_name\":\"dur\"");
    assert_contains(r, "\"ack_floor\":{\"consumer_seq\":1,\"stream_seq\":1");
    assert_contains(r, "\"delivered\":{\"consumer_seq\":2,\"stream_seq\":2");
    assert_contains(r, "\"num_ack_pending\":1");
    g_free(r);
    sim_client_clear(c);
    say(c, "SUB pulls 900\r\n");
    pull(c, "K", "dur", "");
    wait_count(&f, c, "MSG K.x 900 $JS.ACK.K.dur.1.3.3.", 1, SEC);
    r = request(&f, c, "$JS.API.CONSUMER.DELETE.K.dur", "");
    assert_contains(r, "\"success\":true");
    g_free(r);
    r = request(&f, c, "$JS.API.STREAM.DELETE.K", "");
    assert_contains(r, "\"success\":true");
    g_free(r);
    fx_finish(&f);
}
END_TEST

START_TEST(bad_consumer_requests_get_errors)
{
    struct fx f;
    fx_start(&f, 28, with_js_mem);
    struct sim_client *c = plain_client(&f, "c");
    create_stream(&f, c, "B", ",\"storage\":\"memory\"");
    static const struct {
        const char *subject;
        const char *body;
        const char *want;
    } cases[] = {
        {"$JS.API.CONSUMER.CREATE.B", "{bad", "\"err_code\":10025"},
        {"$JS.API.CONSUMER.CREATE.B", "{\"stream_name\":\"B\",\"config\":{\"ack_policy\":\"x\"}}",
         "\"err_code\":10025"},
        {"$JS.API.CONSUMER.CREATE.B", "{\"stream_name\":\"B\",\"config\":{\"durable_name\":\"d\"}}",
         "\"err_code\":10020"},
        {"$JS.API.CONSUMER.DURABLE.CREATE.B.d", "{\"stream_name\":\"B\",\"config\":{}}",
         "\"err_code\":10018"},
        {"$JS.API.CONSUMER.DURABLE.CREATE.B.d",
         "{\"stream_name\":\"B\",\"config\":{\"durable_name\":\"e\"}}", "\"err_code\":10017"},
        {"$JS.API.CONSUMER.CREATE.B.n.B.x.y",
         "{\"stream_name\":\"B\",\"config\":{\"filter_subject\":\"B.z\"}}", "\"err_code\":10131"},
        {"$JS.API.CONSUMER.CREATE.B",
         "{\"stream_name\":\"B\",\"config\":{\"filter_subject\":\"Z.>\"}}", "\"err_code\":10093"},
        {"$JS.API.CONSUMER.CREATE.B",
         "{\"stream_name\":\"B\",\"config\":{\"deliver_policy\":\"by_start_time\"}}",
         "but optional start time is not set"},
        {"$JS.API.CONSUMER.CREATE.B",
         "{\"stream_name\":\"B\",\"config\":{\"deliver_subject\":\"d.*\"}}", "\"err_code\":10079"},
        {"$JS.API.CONSUMER.CREATE.B", "{\"stream_name\":\"B\",\"config\":{\"idle_heartbeat\":1}}",
         "\"err_code\":10088"},
        {"$JS.API.CONSUMER.CREATE.NOPE", "{\"stream_name\":\"NOPE\",\"config\":{}}",
         "\"err_code\":10059"},
        {"$JS.API.CONSUMER.INFO.B.none", "", "\"err_code\":10014"},
        {"$JS.API.CONSUMER.DELETE.B.none", "", "\"err_code\":10014"},
        {"$JS.API.CONSUMER.NAMES.B", "{\"offset\":\"x\"}", "\"err_code\":10025"},
        {"$JS.API.CONSUMER.LEADER.STEPDOWN.B.d", "", "\"err_code\":10010"},
        {"$JS.API.STREAM.LEADER.STEPDOWN.B", "", "stream_leader_stepdown_response"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *r = request(&f, c, cases[i].subject, cases[i].body);
        assert_contains(r, cases[i].want);
        g_free(r);
    }
    char *r = request(&f, c, "$JS.API.INFO", "");
    assert_contains(r, "\"consumers\":0");
    g_free(r);
    fx_finish(&f);
}
END_TEST

/* The reply subject of the first flow control request c received. */
static char *fc_reply(struct sim_client *c)
{
    char *all = received_str(c);
    char *p = strstr(all, "$JS.FC.");
    ck_assert_ptr_nonnull(p);
    char *out = g_strndup(p, strcspn(p, " "));
    g_free(all);
    return out;
}

START_TEST(flow_control_stalls_until_the_reply)
{
    struct fx f;
    fx_start(&f, 29, with_js_mem);
    struct sim_client *c = client(&f, "c", "{\"verbose\":false,\"headers\":true}");
    create_stream(&f, c, "F", ",\"storage\":\"memory\"");
    char *body = g_malloc(64 * 1024 + 1);
    memset(body, 'x', 64 * 1024);
    body[64 * 1024] = '\0';
    for (int i = 0; i < 40; i++) {
        publish(&f, c, "F.big", body);
    }
    g_free(body);
    sim_client_clear(c);
    say(c, "SUB deliver.f 901\r\n");
    barrier(&f, c);
    g_free(create_consumer(&f, c, "F", "p",
                           ",\"deliver_subject\":\"deliver.f\",\"idle_heartbeat\":5000000000,"
                           "\"flow_control\":true"));
    sim_world_run_until(f.w, after(&f, SEC));
    /* The window starts at 2 MiB: the request goes out past half of it, delivery stops
     * once the window is full. */
    ck_assert_uint_eq(count(c, "NATS/1.0 100 FlowControl Request\r\n\r\n"), 1);
    size_t first = count(c, "MSG F.big 901 $JS.ACK.F.p.1.");
    ck_assert_uint_gt(first, 16);
    ck_assert_uint_lt(first, 40);
    char *fc = fc_reply(c);
    ck_assert(g_str_has_prefix(fc, "$JS.FC.F.p."));
    char *line = g_strdup_printf("PUB %s 0\r\n\r\n", fc);
    say(c, line);
    g_free(line);
    g_free(fc);
    wait_count(&f, c, "MSG F.big 901 $JS.ACK.F.p.1.", 40, 2 * SEC);
    fx_finish(&f);
}
END_TEST

START_TEST(advisories_go_to_listeners)
{
    struct fx f;
    fx_start(&f, 30, with_js_mem);
    struct sim_client *c = client(&f, "c", "{\"verbose\":false,\"headers\":true}");
    say(c, "SUB $JS.EVENT.ADVISORY.> 902\r\n");
    create_stream(&f, c, "A", ",\"storage\":\"memory\"");
    ck_assert_uint_eq(count(c, "MSG $JS.EVENT.ADVISORY.STREAM.CREATED.A 902 "), 1);
    ck_assert_uint_eq(count(c, "MSG $JS.EVENT.ADVISORY.API 902 "), 1);
    g_free(create_consumer(&f, c, "A", "d", ",\"ack_policy\":\"explicit\""));
    ck_assert_uint_eq(count(c, "MSG $JS.EVENT.ADVISORY.CONSUMER.CREATED.A.d 902 "), 1);
    assert_contains_received(c, "{\"type\":\"io.nats.jetstream.advisory.v1.consumer_action\","
                                "\"id\":\"");
    assert_contains_received(c, "\"stream\":\"A\",\"consumer\":\"d\",\"action\":\"create\"}");
    publish(&f, c, "A.x", "m");
    sim_client_clear(c);
    say(c, "SUB pulls 900\r\n");
    pull(c, "A", "d", "");
    wait_count(&f, c, "$JS.ACK.A.d.1.1.1.", 1, SEC);
    g_free(request(&f, c, "$JS.ACK.A.d.1.1.1.0.0", "+TERM"));
    ck_assert_uint_eq(count(c, "MSG $JS.EVENT.ADVISORY.CONSUMER.MSG_TERMINATED.A.d 902 "), 1);
    assert_contains_received(c, "\"consumer_seq\":1,\"stream_seq\":1,\"deliveries\":1}");
    fx_finish(&f);
}
END_TEST

START_TEST(nak_delay_next_and_pull_heartbeats_run_on_the_clock)
{
    struct fx f;
    fx_start(&f, 31, with_js_mem);
    struct sim_client *c = client(&f, "c", "{\"verbose\":false,\"headers\":true}");
    create_stream(&f, c, "N", ",\"storage\":\"memory\"");
    g_free(create_consumer(&f, c, "N", "d", ",\"ack_policy\":\"explicit\""));
    publish(&f, c, "N.a", "one");
    publish(&f, c, "N.a", "two");
    sim_client_clear(c);
    say(c, "SUB pulls 900\r\nSUB more 903\r\n");
    /* A waiting request with a heartbeat every 500ms. */
    pull(c, "N", "d", "{\"batch\":3,\"expires\":3000000000,\"idle_heartbeat\":500000000}");
    wait_count(&f, c, "$JS.ACK.N.d.1.2.2.", 1, SEC);
    /* -NAK 1s: redelivered to the still waiting request after a second, not before. */
    say(c, "PUB $JS.ACK.N.d.1.1.1.0.1 7\r\n-NAK 1s\r\n");
    uint64_t t0 = sim_world_now_ns(f.w);
    sim_world_run_until(f.w, t0 + 900 * MS);
    ck_assert_uint_eq(count(c, "$JS.ACK.N.d.2.1.3."), 0);
    wait_count(&f, c, "MSG N.a 900 $JS.ACK.N.d.2.1.3.", 1, 300 * MS);
    /* The request is done (3 messages); +NXT acks and pulls on its own reply. */
    publish(&f, c, "N.a", "three");
    say(c, "PUB $JS.ACK.N.d.2.1.3.0.0 more 4\r\n+NXT\r\n");
    wait_count(&f, c, "MSG N.a 903 $JS.ACK.N.d.1.3.4.", 1, SEC);
    sim_client_clear(c);
    pull(c, "N", "d", "{\"batch\":1,\"expires\":2000000000,\"idle_heartbeat\":500000000}");
    sim_world_run_until(f.w, after(&f, 1200 * MS));
    ck_assert_uint_eq(count(c, "NATS/1.0 100 Idle Heartbeat\r\n"), 2);
    fx_finish(&f);
}
END_TEST

START_TEST(push_rate_limit_spreads_deliveries)
{
    struct fx f;
    fx_start(&f, 32, with_js_mem);
    struct sim_client *c = client(&f, "c", "{\"verbose\":false,\"headers\":true}");
    create_stream(&f, c, "L", ",\"storage\":\"memory\",\"max_msg_size\":200");
    char body[101];
    memset(body, 'b', 100);
    body[100] = '\0';
    for (int i = 0; i < 10; i++) {
        publish(&f, c, "L.x", body);
    }
    sim_client_clear(c);
    say(c, "SUB deliver.l 904\r\n");
    barrier(&f, c);
    /* 8000 bits/s: 1000 bytes a second, after a burst of one 200-byte message. */
    g_free(create_consumer(&f, c, "L", "r",
                           ",\"deliver_subject\":\"deliver.l\",\"rate_limit_bps\":8000"));
    uint64_t t0 = sim_world_now_ns(f.w);
    sim_world_run_until(f.w, t0 + 500 * MS);
    size_t early = count(c, "MSG L.x 904 ");
    ck_assert_uint_ge(early, 2);
    ck_assert_uint_le(early, 6);
    wait_count(&f, c, "MSG L.x 904 ", 10, 2 * SEC);
    ck_assert_uint_gt(sim_world_now_ns(f.w) - t0, 1000 * MS);
    fx_finish(&f);
}
END_TEST

/* The server's host loses power: unsynced writes are gone. A new server boots on the
 * same disk. */
static void power_loss(struct fx *f)
{
    sim_host_crash(f->host, SIM_CRASH_POWER);
    sim_host_set_check(f->host, NULL, NULL);
    mr_server_destroy(f->srv);
    sim_host_restart(f->host);
    char errmsg[MR_ERRMSG_MAX];
    ck_assert_int_eq(mr_server_create(&f->opts, sim_host_env(f->host), &f->srv, errmsg,
                                      sizeof(errmsg)),
                     0);
    sim_host_set_sink(f->host, mr_server_sink(f->srv));
    sim_host_set_check(f->host, check_server, f->srv);
    ck_assert_int_eq(mr_server_start(f->srv), 0);
}

START_TEST(durable_past_a_lost_stream_tail_takes_the_new_messages)
{
    struct fx f;
    fx_start(&f, 33, with_js_file);
    struct sim_client *c = client(&f, "c", "{\"verbose\":false,\"headers\":true}");
    create_stream(&f, c, "T", "");
    sim_world_run_until(f.w, after(&f, SEC)); /* meta.json is synced, the messages are not */
    for (int i = 0; i < 3; i++) {
        publish(&f, c, "T.x", "unsynced");
    }
    /* Created after them with deliver_policy new: its first (synced) state is past them. */
    g_free(create_consumer(&f, c, "T", "d",
                           ",\"ack_policy\":\"explicit\",\"deliver_policy\":\"new\""));
    sim_world_run_until(f.w, after(&f, SEC));
    power_loss(&f);
    c = client(&f, "c2", "{\"verbose\":false,\"headers\":true}");
    char *r = request(&f, c, "$JS.API.STREAM.INFO.T", "");
    assert_contains(r, "\"last_seq\":0");
    g_free(r);
    r = request(&f, c, "$JS.API.CONSUMER.INFO.T.d", "");
    assert_contains(r, "\"deliver_policy\":\"new\"");
    assert_contains(r, "\"delivered\":{\"consumer_seq\":0,\"stream_seq\":0");
    g_free(r);
    /* Sequence 1 again, a new message: delivered, not taken for one already passed. */
    publish(&f, c, "T.x", "after");
    sim_client_clear(c);
    say(c, "SUB pulls 900\r\n");
    pull(c, "T", "d", "");
    wait_count(&f, c, "MSG T.x 900 $JS.ACK.T.d.1.1.1.", 1, SEC);
    fx_finish(&f);
}
END_TEST

START_TEST(replay_original_keeps_the_stored_spacing)
{
    struct fx f;
    fx_start(&f, 34, with_js_mem);
    struct sim_client *c = client(&f, "c", "{\"verbose\":false,\"headers\":true}");
    create_stream(&f, c, "O", ",\"storage\":\"memory\"");
    for (int i = 0; i < 3; i++) {
        publish(&f, c, "O.x", "m");
        sim_world_run_until(f.w, after(&f, SEC));
    }
    sim_client_clear(c);
    say(c, "SUB deliver.o 905\r\n");
    barrier(&f, c);
    g_free(create_consumer(&f, c, "O", "r",
                           ",\"deliver_subject\":\"deliver.o\",\"replay_policy\":\"original\""));
    uint64_t t0 = sim_world_now_ns(f.w);
    ck_assert_uint_eq(count(c, "MSG O.x 905 "), 1);
    sim_world_run_until(f.w, t0 + 900 * MS);
    ck_assert_uint_eq(count(c, "MSG O.x 905 "), 1);
    sim_world_run_until(f.w, t0 + 1100 * MS);
    ck_assert_uint_eq(count(c, "MSG O.x 905 "), 2);
    wait_count(&f, c, "MSG O.x 905 ", 3, SEC);
    /* Caught up: a new message goes at once. */
    publish(&f, c, "O.x", "new");
    wait_count(&f, c, "MSG O.x 905 $JS.ACK.O.r.1.4.4.", 1, 100 * MS);
    fx_finish(&f);
}
END_TEST

START_TEST(sampled_acks_send_metrics)
{
    struct fx f;
    fx_start(&f, 35, with_js_mem);
    struct sim_client *c = client(&f, "c", "{\"verbose\":false,\"headers\":true}");
    create_stream(&f, c, "M", ",\"storage\":\"memory\"");
    g_free(create_consumer(&f, c, "M", "d",
                           ",\"ack_policy\":\"explicit\",\"sample_freq\":\"100%\""));
    publish(&f, c, "M.x", "m");
    sim_client_clear(c);
    say(c, "SUB $JS.EVENT.METRIC.> 906\r\nSUB pulls 900\r\n");
    pull(c, "M", "d", "");
    wait_count(&f, c, "$JS.ACK.M.d.1.1.1.", 1, SEC);
    sim_world_run_until(f.w, after(&f, 250 * MS));
    g_free(request(&f, c, "$JS.ACK.M.d.1.1.1.0.0", "+ACK"));
    ck_assert_uint_eq(count(c, "MSG $JS.EVENT.METRIC.CONSUMER.ACK.M.d 906 "), 1);
    char *all = received_str(c);
    assert_contains(all, "\"type\":\"io.nats.jetstream.metric.v1.consumer_ack\"");
    assert_contains(all, "\"consumer_seq\":1,\"stream_seq\":1,\"ack_time\":2");
    assert_contains(all, "\"deliveries\":1}");
    g_free(all);
    fx_finish(&f);
}
END_TEST

static Suite *js_consumer_suite(void)
{
    Suite *s = suite_create("js_consumer");
    TCase *tc = tcase_create("consumer");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, pull_delivers_with_ack_reply_and_acks_move_the_floor);
    tcase_add_test(tc, unacked_message_is_redelivered_after_ack_wait_until_max_deliver);
    tcase_add_test(tc, pull_requests_expire_and_no_wait_answers_at_once);
    tcase_add_test(tc, push_consumer_sends_idle_heartbeats);
    tcase_add_test(tc, ephemeral_goes_after_inactive_threshold);
    tcase_add_test(tc, workqueue_drops_acked_messages);
    tcase_add_test(tc, durable_state_survives_a_restart);
    tcase_add_test(tc, bad_consumer_requests_get_errors);
    tcase_add_test(tc, flow_control_stalls_until_the_reply);
    tcase_add_test(tc, advisories_go_to_listeners);
    tcase_add_test(tc, nak_delay_next_and_pull_heartbeats_run_on_the_clock);
    tcase_add_test(tc, push_rate_limit_spreads_deliveries);
    tcase_add_test(tc, durable_past_a_lost_stream_tail_takes_the_new_messages);
    tcase_add_test(tc, replay_original_keeps_the_stored_spacing);
    tcase_add_test(tc, sampled_acks_send_metrics);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(js_consumer_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
