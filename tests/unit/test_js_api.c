/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JetStream's API and streams on a server in the simulator (js_api.c, js_stream.c):
 * scripted clients send $JS.API requests and publishes and read the JSON answers.
 */
#include <check.h>
#include <stdlib.h>

#include "core/conf/conf_server.h"
#include "core/server/monitor.h"
#include "fixture_js.h"

START_TEST(info_announces_jetstream_and_account_info_answers)
{
    struct fx f;
    fx_start(&f, 1, with_js_mem);
    struct sim_client *c = sim_client_create(f.w, "c", "srv", 4222);
    ck_assert(sim_client_wait_for(c, "}\r\n", after(&f, SEC)));
    ck_assert_uint_eq(count(c, "\"jetstream\":true"), 1);
    sim_client_clear(c);
    say(c, "CONNECT {\"verbose\":false}\r\n");
    char *r = request(&f, c, "$JS.API.INFO", "");
    assert_contains(r, "\"type\":\"io.nats.jetstream.api.v1.account_info_response\"");
    assert_contains(r, "\"streams\":0");
    assert_contains(r, "\"max_streams\":-1");
    g_free(r);
    fx_finish(&f);
}
END_TEST

START_TEST(create_info_publish_and_puback)
{
    struct fx f;
    fx_start(&f, 2, with_js_mem);
    struct sim_client *c = plain_client(&f, "c");
    char *r = request(&f, c, "$JS.API.STREAM.CREATE.S",
                      "{\"name\":\"S\",\"subjects\":[\"s.*\"],\"storage\":\"memory\"}");
    assert_contains(r, "stream_create_response");
    assert_contains(r, "\"did_create\":true");
    assert_contains(r, "\"duplicate_window\":120000000000");
    g_free(r);
    r = request(&f, c, "s.one", "hello");
    ck_assert_str_eq(r, "{\"stream\":\"S\", \"seq\":1}");
    g_free(r);
    /* A publish without a reply is stored without an ack. */
    say(c, "PUB s.two 3\r\nabc\r\n");
    r = request(&f, c, "$JS.API.STREAM.INFO.S", "");
    assert_contains(r, "\"messages\":2");
    assert_contains(r, "\"last_seq\":2");
    g_free(r);
    r = request(&f, c, "$JS.API.STREAM.MSG.GET.S", "{\"seq\":2}");
    assert_contains(r, "\"subject\":\"s.two\"");
    assert_contains(r, "\"data\":\"YWJj\"");
    g_free(r);
    fx_finish(&f);
}
END_TEST

START_TEST(msg_id_duplicates_and_expect_headers)
{
    struct fx f;
    fx_start(&f, 3, with_js_mem);
    struct sim_client *c = client(&f, "c", "{\"verbose\":false,\"headers\":true}");
    char *r = request(&f, c, "$JS.API.STREAM.CREATE.D", "{\"name\":\"D\",\"storage\":\"memory\"}");
    g_free(r);
    const char *hdr = "NATS/1.0\r\nNats-Msg-Id: a1\r\n\r\n";
    char *line = g_strdup_printf("SUB in.1 91\r\nHPUB D in.1 %zu %zu\r\n%sx\r\n", strlen(hdr),
                                 strlen(hdr) + 1, hdr);
    say(c, line);
    say(c, line);
    g_free(line);
    barrier(&f, c);
    ck_assert(sim_client_wait_for(c, "\"duplicate\": true", after(&f, SEC)));
    ck_assert_uint_eq(count(c, "\"seq\":1"), 2);
    sim_client_clear(c);
    const char *exp = "NATS/1.0\r\nNats-Expected-Last-Sequence: 7\r\n\r\n";
    line = g_strdup_printf("HPUB D in.1 %zu %zu\r\n%sx\r\n", strlen(exp), strlen(exp) + 1, exp);
    say(c, line);
    g_free(line);
    ck_assert(sim_client_wait_for(c, "}\r\n", after(&f, SEC)));
    ck_assert_uint_eq(count(c, "\"err_code\":10071,\"description\":\"wrong last sequence: 1\""), 1);
    fx_finish(&f);
}
END_TEST

START_TEST(bad_requests_get_errors_not_crashes)
{
    struct fx f;
    fx_start(&f, 4, with_js_mem);
    struct sim_client *c = plain_client(&f, "c");
    static const struct {
        const char *subject;
        const char *body;
        const char *want;
    } cases[] = {
        {"$JS.API.STREAM.CREATE.X", "{bad", "\"err_code\":10025"},
        {"$JS.API.STREAM.CREATE.X", "[1]", "\"err_code\":10025"},
        {"$JS.API.STREAM.CREATE.X", "", "\"err_code\":10025"},
        {"$JS.API.STREAM.CREATE.X", "{\"name\":\"Y\"}", "\"err_code\":10056"},
        {"$JS.API.STREAM.CREATE.X", "{\"name\":\"X\",\"max_msgs\":\"many\"}", "\"err_code\":10025"},
        {"$JS.API.STREAM.CREATE.X", "{\"name\":\"X\",\"subjects\":[\"a..b\"]}",
         "\"description\":\"invalid subject\""},
        {"$JS.API.STREAM.CREATE.X", "{\"name\":\"X\",\"num_replicas\":3}", "\"err_code\":10074"},
        {"$JS.API.STREAM.CREATE.X", "{\"name\":\"X\",\"max_age\":5}",
         "max age needs to be >= 100ms"},
        {"$JS.API.STREAM.CREATE.X", "{\"name\":\"X\",\"storage\":\"file\"}", "\"err_code\":10049"},
        {"$JS.API.STREAM.INFO.NOPE", "", "\"err_code\":10059"},
        {"$JS.API.STREAM.NAMES", "{\"offset\":\"x\"}", "\"err_code\":10025"},
        {"$JS.API.STREAM.PURGE.NOPE", "", "\"purged\":0"},
        {"$JS.API.CONSUMER.CREATE.X", "{}", "\"err_code\":10056"},
        {"$JS.API.CONSUMER.CREATE.X", "{\"stream_name\":\"X\"}", "\"err_code\":10059"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *r = request(&f, c, cases[i].subject, cases[i].body);
        assert_contains(r, cases[i].want);
        g_free(r);
    }
    char *r = request(&f, c, "$JS.API.INFO", "");
    assert_contains(r, "\"streams\":0");
    g_free(r);
    fx_finish(&f);
}
END_TEST

START_TEST(overlapping_subjects_are_refused)
{
    struct fx f;
    fx_start(&f, 5, with_js_mem);
    struct sim_client *c = plain_client(&f, "c");
    char *r = request(&f, c, "$JS.API.STREAM.CREATE.A",
                      "{\"name\":\"A\",\"subjects\":[\"o.>\"],\"storage\":\"memory\"}");
    assert_contains(r, "did_create");
    g_free(r);
    r = request(&f, c, "$JS.API.STREAM.CREATE.B",
                "{\"name\":\"B\",\"subjects\":[\"o.x.*\"],\"storage\":\"memory\"}");
    assert_contains(r, "\"err_code\":10065");
    g_free(r);
    r = request(&f, c, "$JS.API.STREAM.NAMES", "");
    assert_contains(r, "\"streams\":[\"A\"]");
    g_free(r);
    fx_finish(&f);
}
END_TEST

START_TEST(max_age_expires_on_a_timer)
{
    struct fx f;
    fx_start(&f, 6, with_js_mem);
    struct sim_client *c = plain_client(&f, "c");
    char *r = request(&f, c, "$JS.API.STREAM.CREATE.T",
                      "{\"name\":\"T\",\"storage\":\"memory\",\"max_age\":500000000}");
    assert_contains(r, "\"duplicate_window\":500000000");
    g_free(r);
    r = request(&f, c, "T", "x");
    g_free(r);
    r = request(&f, c, "$JS.API.STREAM.INFO.T", "");
    assert_contains(r, "\"messages\":1");
    g_free(r);
    sim_world_run_until(f.w, after(&f, 2 * SEC));
    r = request(&f, c, "$JS.API.STREAM.INFO.T", "");
    assert_contains(r, "\"messages\":0");
    assert_contains(r, "\"last_seq\":1");
    g_free(r);
    fx_finish(&f);
}
END_TEST

START_TEST(discard_new_and_per_subject_limits)
{
    struct fx f;
    fx_start(&f, 7, with_js_mem);
    struct sim_client *c = plain_client(&f, "c");
    char *r = request(&f, c, "$JS.API.STREAM.CREATE.N",
                      "{\"name\":\"N\",\"storage\":\"memory\",\"max_msgs\":2,\"discard\":\"new\"}");
    g_free(r);
    g_free(request(&f, c, "N", "1"));
    g_free(request(&f, c, "N", "2"));
    r = request(&f, c, "N", "3");
    assert_contains(r, "\"description\":\"maximum messages exceeded\"");
    g_free(r);
    r = request(&f, c, "$JS.API.STREAM.CREATE.P",
                "{\"name\":\"P\",\"subjects\":[\"p.*\"],\"storage\":\"memory\","
                "\"max_msgs_per_subject\":1}");
    g_free(r);
    g_free(request(&f, c, "p.a", "1"));
    g_free(request(&f, c, "p.a", "2"));
    g_free(request(&f, c, "p.b", "3"));
    r = request(&f, c, "$JS.API.STREAM.INFO.P", "{\"subjects_filter\":\">\"}");
    assert_contains(r, "\"subjects\":{\"p.a\":1,\"p.b\":1}");
    assert_contains(r, "\"first_seq\":2");
    g_free(r);
    fx_finish(&f);
}
END_TEST

START_TEST(jsz_reports_streams_and_messages)
{
    struct fx f;
    fx_start(&f, 9, with_js_mem);
    struct sim_client *c = plain_client(&f, "c");
    g_free(request(&f, c, "$JS.API.STREAM.CREATE.Z", "{\"name\":\"Z\",\"storage\":\"memory\"}"));
    g_free(request(&f, c, "Z", "12345"));
    char *body = NULL;
    const char *ctype = NULL;
    ck_assert_int_eq(mr_monitor_render(f.srv, "/jsz", "", &body, &ctype), 200);
    assert_contains(body, "\"streams\": 1");
    assert_contains(body, "\"messages\": 1");
    assert_contains(body, "\"memory\": 22"); /* 1 + 5 + 16, nats-server's memory size */
    ck_assert_ptr_null(strstr(body, "account_details"));
    free(body);
    ck_assert_int_eq(mr_monitor_render(f.srv, "/jsz", "streams=true", &body, &ctype), 200);
    assert_contains(body, "\"stream_detail\"");
    assert_contains(body, "\"name\": \"Z\"");
    free(body);
    ck_assert_int_eq(mr_monitor_render(f.srv, "/jsz", "accounts=maybe", &body, &ctype), 400);
    free(body);
    fx_finish(&f);
}
END_TEST

static struct mr_account_opts js_accounts[] = {
    {.name = "JS", .jetstream = true, .max_connections = -1, .max_subscriptions = -1,
     .max_payload = -1},
    {.name = "PLAIN", .max_connections = -1, .max_subscriptions = -1, .max_payload = -1},
};
static struct mr_user_opts js_users[] = {
    {.user = "j", .password = "pj", .account = "JS"},
    {.user = "p", .password = "pp", .account = "PLAIN"},
};
static struct mr_auth_opts js_auth = {
    .users = js_users,
    .users_count = 2,
    .accounts = js_accounts,
    .accounts_count = 2,
};

static void with_js_accounts(struct mr_server_opts *o)
{
    with_js_mem(o);
    o->auth = &js_auth;
}

START_TEST(only_accounts_with_jetstream_serve_it)
{
    struct fx f;
    fx_start(&f, 10, with_js_accounts);
    struct sim_client *j = client(&f, "j", "{\"verbose\":false,\"user\":\"j\",\"pass\":\"pj\"}");
    struct sim_client *p = client(&f, "p", "{\"verbose\":false,\"user\":\"p\",\"pass\":\"pp\"}");
    char *r = request(&f, j, "$JS.API.STREAM.CREATE.S", "{\"name\":\"S\",\"storage\":\"memory\"}");
    assert_contains(r, "did_create");
    g_free(r);
    r = request(&f, p, "$JS.API.INFO", "");
    assert_contains(r, "\"err_code\":10039");
    assert_contains(r, "JetStream not enabled for account");
    g_free(r);
    r = request(&f, p, "$JS.API.STREAM.CREATE.X", "{\"name\":\"X\"}");
    assert_contains(r, "\"type\":\"io.nats.jetstream.api.v1.stream_create_response\"");
    assert_contains(r, "\"err_code\":10039");
    g_free(r);
    r = request(&f, p, "$JS.API.STREAM.MSG.GET.X", "{\"seq\":1}");
    assert_contains(r, "stream_msg_get_response");
    g_free(r);
    /* The other account's publish on the same subject is not stored. */
    say(p, "PUB S 1\r\nx\r\n");
    barrier(&f, p);
    r = request(&f, j, "$JS.API.STREAM.INFO.S", "");
    assert_contains(r, "\"messages\":0");
    g_free(r);
    fx_finish(&f);
}
END_TEST

START_TEST(sealed_stream_refuses_writes)
{
    struct fx f;
    fx_start(&f, 11, with_js_mem);
    struct sim_client *c = plain_client(&f, "c");
    char *r = request(&f, c, "$JS.API.STREAM.CREATE.Q", "{\"name\":\"Q\",\"storage\":\"memory\"}");
    g_free(r);
    g_free(request(&f, c, "Q", "x"));
    r = request(&f, c, "$JS.API.STREAM.UPDATE.Q",
                "{\"name\":\"Q\",\"storage\":\"memory\",\"sealed\":true}");
    assert_contains(r, "\"sealed\":true");
    g_free(r);
    r = request(&f, c, "Q", "y");
    assert_contains(r, "\"err_code\":10109");
    g_free(r);
    r = request(&f, c, "$JS.API.STREAM.PURGE.Q", "");
    assert_contains(r, "\"err_code\":10109");
    g_free(r);
    r = request(&f, c, "$JS.API.STREAM.UPDATE.Q", "{\"name\":\"Q\",\"storage\":\"memory\"}");
    assert_contains(r, "can not unseal a sealed stream");
    g_free(r);
    fx_finish(&f);
}
END_TEST

START_TEST(file_stream_survives_a_restart)
{
    struct fx f;
    fx_start(&f, 8, with_js_file);
    struct sim_client *c = client(&f, "c", "{\"verbose\":false,\"headers\":true}");
    char *r = request(&f, c, "$JS.API.STREAM.CREATE.F",
                      "{\"name\":\"F\",\"subjects\":[\"f.>\"],\"max_msgs_per_subject\":3}");
    assert_contains(r, "\"storage\":\"file\"");
    g_free(r);
    for (int i = 0; i < 4; i++) {
        r = request(&f, c, "f.x", "payload");
        g_free(r);
    }
    say(c, "SUB in.1 77\r\nHPUB f.x in.1 30 31\r\nNATS/1.0\r\nNats-Msg-Id: m-5\r\n\r\nx\r\n");
    ck_assert(sim_client_wait_for(c, "\"seq\":5}", after(&f, SEC)));
    sim_world_run_until(f.w, after(&f, SEC)); /* the configuration file is written */
    restart(&f, c);
    c = client(&f, "c2", "{\"verbose\":false,\"headers\":true}");
    /* The duplicate window outlives the restart (rebuilt from the stored headers). */
    say(c, "SUB in.2 78\r\nHPUB f.x in.2 30 31\r\nNATS/1.0\r\nNats-Msg-Id: m-5\r\n\r\nx\r\n");
    ck_assert(sim_client_wait_for(c, "\"duplicate\": true", after(&f, SEC)));
    ck_assert_uint_eq(count(c, "{\"stream\":\"F\", \"seq\":5,\"duplicate\": true}"), 1);
    r = request(&f, c, "$JS.API.STREAM.INFO.F", "");
    assert_contains(r, "\"max_msgs_per_subject\":3");
    assert_contains(r, "\"messages\":3");
    assert_contains(r, "\"last_seq\":5");
    g_free(r);
    r = request(&f, c, "f.y", "after");
    ck_assert_str_eq(r, "{\"stream\":\"F\", \"seq\":6}");
    g_free(r);
    r = request(&f, c, "$JS.API.STREAM.DELETE.F", "");
    assert_contains(r, "\"success\":true");
    g_free(r);
    fx_finish(&f);
}
END_TEST

START_TEST(max_age_applies_to_recovered_messages)
{
    struct fx f;
    fx_start(&f, 12, with_js_file);
    struct sim_client *c = plain_client(&f, "c");
    char *r = request(&f, c, "$JS.API.STREAM.CREATE.AGE",
                      "{\"name\":\"AGE\",\"max_age\":4000000000}");
    assert_contains(r, "\"max_age\":4000000000");
    g_free(r);
    g_free(request(&f, c, "AGE", "old"));
    sim_world_run_until(f.w, after(&f, SEC));
    restart(&f, c);
    c = plain_client(&f, "c2");
    r = request(&f, c, "$JS.API.STREAM.INFO.AGE", "");
    assert_contains(r, "\"messages\":1");
    g_free(r);
    sim_world_run_until(f.w, after(&f, 5 * SEC)); /* no publish in between */
    r = request(&f, c, "$JS.API.STREAM.INFO.AGE", "");
    assert_contains(r, "\"messages\":0");
    g_free(r);
    fx_finish(&f);
}
END_TEST

static void with_js_domain(struct mr_server_opts *o)
{
    static char domain[] = "hub";
    with_js_mem(o);
    js_mem_opts.domain = domain;
}

START_TEST(domain_shows_in_puback_and_infos)
{
    struct fx f;
    fx_start(&f, 13, with_js_domain);
    struct sim_client *c = plain_client(&f, "c");
    char *r = request(&f, c, "$JS.API.STREAM.CREATE.D", "{\"name\":\"D\",\"storage\":\"memory\"}");
    assert_contains(r, "\"domain\":\"hub\"");
    g_free(r);
    r = request(&f, c, "D", "x");
    ck_assert_str_eq(r, "{\"stream\":\"D\", \"domain\":\"hub\", \"seq\":1}");
    g_free(r);
    r = request(&f, c, "$JS.API.INFO", "");
    assert_contains(r, "\"domain\":\"hub\"");
    g_free(r);
    fx_finish(&f);
}
END_TEST

/* As nats-server maps $JS.<domain>.API.> onto $JS.API.>: the same requests, answered. */
START_TEST(domain_prefixed_api_is_served)
{
    struct fx f;
    fx_start(&f, 14, with_js_domain);
    struct sim_client *c = plain_client(&f, "c");
    char *r = request(&f, c, "$JS.hub.API.STREAM.CREATE.D",
                      "{\"name\":\"D\",\"storage\":\"memory\"}");
    assert_contains(r, "\"type\":\"io.nats.jetstream.api.v1.stream_create_response\"");
    assert_contains(r, "\"name\":\"D\"");
    g_free(r);
    r = request(&f, c, "D", "x");
    ck_assert_str_eq(r, "{\"stream\":\"D\", \"domain\":\"hub\", \"seq\":1}");
    g_free(r);
    r = request(&f, c, "$JS.hub.API.STREAM.INFO.D", "");
    assert_contains(r, "\"messages\":1");
    g_free(r);
    r = request(&f, c, "$JS.hub.API.INFO", "");
    assert_contains(r, "\"streams\":1");
    g_free(r);
    /* Another domain's prefix is not ours: nobody answers. */
    sim_client_clear(c);
    say(c, "SUB _INBOX.other 99\r\nPUB $JS.leaf.API.INFO _INBOX.other 0\r\n\r\n");
    barrier(&f, c);
    ck_assert_uint_eq(count(c, "MSG _INBOX.other"), 0);
    fx_finish(&f);
}
END_TEST

START_TEST(puback_bytes_are_exact)
{
    struct fx f;
    fx_start(&f, 14, with_js_mem);
    struct sim_client *c = client(&f, "c", "{\"verbose\":false,\"headers\":true}");
    /* A name with a quote and a backslash: the cached name is JSON-escaped once. */
    char *r = request(&f, c, "$JS.API.STREAM.CREATE.q\"\\n",
                      "{\"name\":\"q\\\"\\\\n\",\"subjects\":[\"q\"],\"storage\":\"memory\"}");
    assert_contains(r, "\"did_create\":true");
    g_free(r);
    r = request(&f, c, "q", "x");
    ck_assert_str_eq(r, "{\"stream\":\"q\\\"\\\\n\", \"seq\":1}");
    g_free(r);
    sim_client_clear(c);
    say(c, "SUB _INBOX.d 99\r\nHPUB q _INBOX.d 28 29\r\nNATS/1.0\r\nNats-Msg-Id: a\r\n\r\nx\r\n"
           "HPUB q _INBOX.d 28 29\r\nNATS/1.0\r\nNats-Msg-Id: a\r\n\r\nx\r\n");
    ck_assert(sim_client_wait_for(c, "\"duplicate\": true}", after(&f, 2 * SEC)));
    barrier(&f, c);
    char *all = received_str(c);
    assert_contains(all, "{\"stream\":\"q\\\"\\\\n\", \"seq\":2}\r\n");
    assert_contains(all, "{\"stream\":\"q\\\"\\\\n\", \"seq\":2,\"duplicate\": true}\r\n");
    g_free(all);
    fx_finish(&f);
}
END_TEST

static struct mr_account_jetstream_opts limits_js[] = {
    {.account = "JS", .max_memory = 1000, .max_store = -1, .max_streams = 2,
     .max_consumers = 1, .max_ack_pending = -1, .memory_max_stream_bytes = -1,
     .store_max_stream_bytes = -1},
};

static void with_js_limits(struct mr_server_opts *o)
{
    with_js_mem(o);
    o->auth = &js_auth;
    o->account_jetstream = limits_js;
    o->account_jetstream_count = 1;
}

static void assert_request_has(struct fx *f, struct sim_client *c, const char *subject,
                               const char *body, const char *want)
{
    char *r = request(f, c, subject, body);
    assert_contains(r, want);
    g_free(r);
}

START_TEST(account_limits_reserve_max_bytes)
{
    struct fx f;
    fx_start(&f, 15, with_js_limits);
    struct sim_client *j = client(&f, "j", "{\"verbose\":false,\"user\":\"j\",\"pass\":\"pj\"}");
    const char *mem = "\"storage\":\"memory\"";
    char *a = g_strdup_printf("{\"name\":\"A\",%s,\"max_bytes\":600}", mem);
    assert_request_has(&f, j, "$JS.API.STREAM.CREATE.A", a, "\"did_create\":true");
    char *b = g_strdup_printf("{\"name\":\"B\",%s,\"max_bytes\":500}", mem);
    assert_request_has(&f, j, "$JS.API.STREAM.CREATE.B", b,
                       "{\"code\":500,\"err_code\":10028,"
                       "\"description\":\"insufficient memory resources available\"}");
    g_free(b);
    b = g_strdup_printf("{\"name\":\"B\",%s,\"max_bytes\":400}", mem);
    assert_request_has(&f, j, "$JS.API.STREAM.CREATE.B", b, "\"did_create\":true");
    g_free(b);
    /* An update reserves only the growth. */
    b = g_strdup_printf("{\"name\":\"B\",%s,\"max_bytes\":401}", mem);
    assert_request_has(&f, j, "$JS.API.STREAM.UPDATE.B", b, "\"err_code\":10028");
    g_free(b);
    b = g_strdup_printf("{\"name\":\"B\",%s,\"max_bytes\":300}", mem);
    assert_request_has(&f, j, "$JS.API.STREAM.UPDATE.B", b, "\"max_bytes\":300");
    g_free(b);
    /* At max_streams even the same configuration again is refused, as in nats-server. */
    assert_request_has(&f, j, "$JS.API.STREAM.CREATE.C", "{\"name\":\"C\",\"storage\":\"memory\"}",
                       "\"err_code\":10027");
    assert_request_has(&f, j, "$JS.API.STREAM.CREATE.A", a, "\"err_code\":10027");
    g_free(a);
    const char *eph = "{\"stream_name\":\"A\",\"config\":{}}";
    assert_request_has(&f, j, "$JS.API.CONSUMER.CREATE.A", eph, "\"delivered\"");
    assert_request_has(&f, j, "$JS.API.CONSUMER.CREATE.A", eph, "\"err_code\":10026");
    assert_request_has(&f, j, "$JS.API.INFO", "", "\"max_memory\":1000");
    char *body = NULL;
    const char *ctype = NULL;
    ck_assert_int_eq(mr_monitor_render(f.srv, "/jsz", "accounts=true", &body, &ctype), 200);
    assert_contains(body, "\"reserved_memory\": 900");
    assert_contains(body, "\"reserved_memory\": 1000"); /* the account's detail */
    free(body);
    fx_finish(&f);
}
END_TEST

START_TEST(publish_over_the_account_limit_is_refused)
{
    struct fx f;
    limits_js[0].max_memory = 100;
    fx_start(&f, 16, with_js_limits);
    struct sim_client *j = client(&f, "j", "{\"verbose\":false,\"user\":\"j\",\"pass\":\"pj\"}");
    assert_request_has(&f, j, "$JS.API.STREAM.CREATE.P", "{\"name\":\"P\",\"storage\":\"memory\"}",
                       "\"did_create\":true");
    char fifty[51];
    memset(fifty, 'x', 50);
    fifty[50] = '\0';
    char *r = request(&f, j, "P", fifty); /* 1 + 50 + 16 = 67 bytes */
    ck_assert_str_eq(r, "{\"stream\":\"P\", \"seq\":1}");
    g_free(r);
    r = request(&f, j, "P", fifty); /* 134 > 100 */
    ck_assert_str_eq(r, "{\"error\":{\"code\":400,\"err_code\":10002,\"description\":"
                        "\"resource limits exceeded for account\"},\"stream\":\"P\",\"seq\":0}");
    g_free(r);
    /* The refused message used its sequence, as in nats-server. */
    r = request(&f, j, "P", "small");
    ck_assert_str_eq(r, "{\"stream\":\"P\", \"seq\":3}");
    g_free(r);
    assert_request_has(&f, j, "$JS.API.STREAM.INFO.P", "", "\"messages\":2");
    assert_request_has(&f, j, "$JS.API.INFO", "", "\"memory\":89");
    fx_finish(&f);
    limits_js[0].max_memory = 1000; /* the server borrowed the table until now */
}
END_TEST

static void with_js_small_server(struct mr_server_opts *o)
{
    with_js_mem(o);
    js_mem_opts.max_memory_store = 100;
}

START_TEST(server_limits_refuse_streams_and_publishes)
{
    struct fx f;
    fx_start(&f, 17, with_js_small_server);
    struct sim_client *c = client(&f, "c", "{\"verbose\":false,\"headers\":true}");
    assert_request_has(&f, c, "$JS.API.STREAM.CREATE.R",
                       "{\"name\":\"R\",\"storage\":\"memory\",\"max_bytes\":101}",
                       "\"err_code\":10028");
    assert_request_has(&f, c, "$JS.API.STREAM.CREATE.R", "{\"name\":\"R\",\"storage\":\"memory\"}",
                       "\"did_create\":true");
    say(c, "SUB _INBOX.d 98\r\nHPUB R _INBOX.d 28 29\r\nNATS/1.0\r\nNats-Msg-Id: a\r\n\r\nx\r\n");
    ck_assert(sim_client_wait_for(c, "{\"stream\":\"R\", \"seq\":1}", after(&f, 2 * SEC)));
    char fifty[51];
    memset(fifty, 'x', 50);
    fifty[50] = '\0';
    g_free(request(&f, c, "R", fifty)); /* stored: 46 + 67 bytes, over the server's 100 */
    char *r = request(&f, c, "R", fifty);
    ck_assert_str_eq(r, "{\"error\":{\"code\":503,\"err_code\":10023,\"description\":"
                        "\"insufficient resources\"},\"stream\":\"R\",\"seq\":0}");
    g_free(r);
    /* A duplicate is answered before the resources are looked at, as in nats-server. */
    sim_client_clear(c);
    say(c, "HPUB R _INBOX.d 28 29\r\nNATS/1.0\r\nNats-Msg-Id: a\r\n\r\nx\r\n");
    ck_assert(sim_client_wait_for(c, "{\"stream\":\"R\", \"seq\":1,\"duplicate\": true}",
                                  after(&f, 2 * SEC)));
    fx_finish(&f);
}
END_TEST

static struct mr_account_opts two_js_accounts[] = {
    {.name = "A", .jetstream = true, .max_connections = -1, .max_subscriptions = -1,
     .max_payload = -1},
    {.name = "B", .jetstream = true, .max_connections = -1, .max_subscriptions = -1,
     .max_payload = -1},
};
static struct mr_auth_opts two_js_auth = {.accounts = two_js_accounts, .accounts_count = 2};
static struct mr_account_jetstream_opts two_limits[] = {
    {.account = "A", .max_memory = 600, .max_store = 10, .max_streams = -1,
     .max_consumers = -1, .max_ack_pending = -1, .memory_max_stream_bytes = -1,
     .store_max_stream_bytes = -1},
    {.account = "B", .max_memory = 500, .max_store = -1, .max_streams = -1,
     .max_consumers = -1, .max_ack_pending = -1, .memory_max_stream_bytes = -1,
     .store_max_stream_bytes = -1},
};

/* mr_server_create with accounts A and B and the server limits given; returns its code
 * and leaves its message in errmsg. */
static int create_two_accounts(int64_t max_memory_store, int64_t max_file_store,
                               char errmsg[MR_ERRMSG_MAX])
{
    struct sim_world_opts wo;
    sim_world_opts_default(&wo);
    struct sim_world *w = sim_world_create(&wo);
    struct sim_host *host = sim_host_create(w, "srv");
    struct mr_server_opts o;
    mr_server_opts_default(&o);
    with_js_mem(&o);
    js_mem_opts.max_memory_store = max_memory_store;
    js_mem_opts.max_file_store = max_file_store;
    o.auth = &two_js_auth;
    o.account_jetstream = two_limits;
    o.account_jetstream_count = 2;
    struct mr_server *srv = NULL;
    errmsg[0] = '\0';
    int rc = mr_server_create(&o, sim_host_env(host), &srv, errmsg, MR_ERRMSG_MAX);
    if (rc == MR_OK) {
        mr_server_destroy(srv);
    }
    sim_world_destroy(w);
    return rc;
}

START_TEST(account_limits_over_the_server_refuse_the_start)
{
    char errmsg[MR_ERRMSG_MAX];
    /* 600 + 500 > 1000: refused at B, the account whose limit tips the sum over. */
    ck_assert_int_eq(create_two_accounts(1000, -1, errmsg), MR_E_LIMIT);
    ck_assert_str_eq(errmsg, "Can't start JetStream: Error enabling jetstream on configured "
                             "accounts: insufficient memory resources available (10028); "
                             "account B: accounts' max_memory total 1100 > max_memory_store "
                             "1000");
    ck_assert_int_eq(create_two_accounts(1100, -1, errmsg), MR_OK);
    ck_assert_int_eq(create_two_accounts(1100, 9, errmsg), MR_E_LIMIT);
    assert_contains(errmsg, "insufficient storage resources available (10047); account A: "
                            "accounts' max_store total 10 > max_file_store 9");
    ck_assert_int_eq(create_two_accounts(-1, 10, errmsg), MR_OK);
}
END_TEST

static Suite *js_api_suite(void)
{
    Suite *s = suite_create("js_api");
    TCase *api = tcase_create("api");
    tcase_set_timeout(api, 30);
    tcase_add_test(api, info_announces_jetstream_and_account_info_answers);
    tcase_add_test(api, create_info_publish_and_puback);
    tcase_add_test(api, msg_id_duplicates_and_expect_headers);
    tcase_add_test(api, bad_requests_get_errors_not_crashes);
    tcase_add_test(api, overlapping_subjects_are_refused);
    tcase_add_test(api, max_age_expires_on_a_timer);
    tcase_add_test(api, discard_new_and_per_subject_limits);
    tcase_add_test(api, file_stream_survives_a_restart);
    tcase_add_test(api, jsz_reports_streams_and_messages);
    tcase_add_test(api, only_accounts_with_jetstream_serve_it);
    tcase_add_test(api, sealed_stream_refuses_writes);
    tcase_add_test(api, max_age_applies_to_recovered_messages);
    tcase_add_test(api, domain_shows_in_puback_and_infos);
    tcase_add_test(api, domain_prefixed_api_is_served);
    tcase_add_test(api, puback_bytes_are_exact);
    tcase_add_test(api, account_limits_reserve_max_bytes);
    tcase_add_test(api, publish_over_the_account_limit_is_refused);
    tcase_add_test(api, server_limits_refuse_streams_and_publishes);
    tcase_add_test(api, account_limits_over_the_server_refuse_the_start);
    suite_add_tcase(s, api);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(js_api_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
