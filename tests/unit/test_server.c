/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the server core (core/server/server.h) running on the sim env with
 * scripted clients: the client protocol of protocol.md section 3 byte for byte
 * (INFO, CONNECT, PING/PONG, SUB/PUB/MSG, wildcards, queue groups, UNSUB max,
 * HPUB/HMSG, no-responders, echo, verbose), the -ERR strings and whether they close,
 * auth, keepalive, slow consumers, max connections, isolation between clients, and
 * determinism. Virtual time makes timeouts of seconds instant.
 *
 * Every test builds one world with one server host "srv" (mr_server_check runs after
 * every event delivered to it) and ends with fx_finish: shutdown, every connection
 * closed, counters at zero, and mr_server_destroy, whose mr_mem_deinit asserts that no
 * byte is still allocated.
 */
#include <check.h>
#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/server/server.h"
#include "sim/sim_env.h"

#include "tests/unit/fixture_server.h"

/* ------------------------------------------------------------------------------------
 * Handshake
 */

START_TEST(info_on_connect_has_fields)
{
    struct fx f;
    fx_start(&f, 1, NULL);
    struct sim_client *c = sim_client_create(f.w, "c1", "srv", 4222);
    ck_assert(sim_client_wait_for(c, "\r\n", after(&f, SEC)));
    char *got = received_str(c);
    ck_assert(g_str_has_prefix(got, "INFO {"));
    ck_assert(g_str_has_suffix(got, "}\r\n"));
    json_error_t jerr;
    json_t *info = json_loads(got + 5, JSON_DISABLE_EOF_CHECK, &jerr);
    ck_assert_msg(info != NULL, "INFO json: %s", jerr.text);
    const char *id = json_string_value(json_object_get(info, "server_id"));
    ck_assert_ptr_nonnull(id);
    ck_assert_uint_eq(strlen(id), 56);
    ck_assert_int_eq(id[0], 'N');
    ck_assert_str_eq(id, mr_server_id(f.srv));
    ck_assert_str_eq(json_string_value(json_object_get(info, "server_name")), id);
    ck_assert_str_eq(json_string_value(json_object_get(info, "version")), "2.10.0");
    ck_assert_int_eq(json_integer_value(json_object_get(info, "proto")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(info, "port")), 4222);
    ck_assert(json_is_true(json_object_get(info, "headers")));
    ck_assert_int_eq(json_integer_value(json_object_get(info, "max_payload")), 1048576);
    ck_assert_int_eq(json_integer_value(json_object_get(info, "client_id")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(info, "client_ip")), "c1");
    ck_assert_ptr_null(json_object_get(info, "auth_required")); /* omitted when false */
    json_decref(info);
    g_free(got);
    /* Client ids count up per connection. */
    struct sim_client *c2 = sim_client_create(f.w, "c2", "srv", 4222);
    ck_assert(sim_client_wait_for(c2, "\"client_id\":2", after(&f, SEC)));
    fx_finish(&f);
}
END_TEST

START_TEST(connect_and_ping_get_pong)
{
    struct fx f;
    fx_start(&f, 1, NULL);
    struct sim_client *c = client(&f, "c1", NULL);
    say(c, "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"t\",\"lang\":\"c\"}\r\n"
           "PING\r\n");
    ck_assert(sim_client_wait_for(c, "PONG\r\n", after(&f, SEC)));
    assert_received(c, "PONG\r\n");
    /* Without auth CONNECT is optional (telnet works), and ops are case-insensitive. */
    struct sim_client *t = client(&f, "telnet", NULL);
    say(t, "ping\r\n");
    ck_assert(sim_client_wait_for(t, "PONG\r\n", after(&f, SEC)));
    fx_finish(&f);
}
END_TEST

START_TEST(verbose_acks_every_op_with_ok)
{
    struct fx f;
    fx_start(&f, 1, NULL);
    struct sim_client *c = client(&f, "c1", NULL);
    say(c, "CONNECT {\"verbose\":true}\r\nSUB foo 1\r\nPUB bar 2\r\nhi\r\nUNSUB 1\r\n");
    barrier(&f, c);
    assert_received(c, "+OK\r\n+OK\r\n+OK\r\n+OK\r\nPONG\r\n");
    fx_finish(&f);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Messages
 */

START_TEST(pub_sub_delivers_exact_bytes)
{
    struct fx f;
    fx_start(&f, 1, NULL);
    struct sim_client *sub = plain_client(&f, "sub");
    struct sim_client *pub = plain_client(&f, "pub");
    say(sub, "SUB foo 1\r\n");
    barrier(&f, sub);
    sim_client_clear(sub);
    say(pub, "PUB foo 5\r\nhello\r\nPUB foo reply.to 3\r\nabc\r\nPUB foo 0\r\n\r\n"
             "PUB other 2\r\nno\r\n");
    barrier(&f, pub);
    barrier(&f, sub);
    assert_received(sub, "MSG foo 1 5\r\nhello\r\nMSG foo 1 reply.to 3\r\nabc\r\n"
                         "MSG foo 1 0\r\n\r\nPONG\r\n");
    struct mr_server_stats st;
    mr_server_stats(f.srv, &st);
    ck_assert_uint_eq(st.in_msgs, 4);
    ck_assert_uint_eq(st.out_msgs, 3);
    ck_assert_uint_eq(st.subscriptions, 1);
    fx_finish(&f);
}
END_TEST

START_TEST(payload_with_protocol_bytes_is_opaque)
{
    struct fx f;
    fx_start(&f, 1, NULL);
    struct sim_client *c = plain_client(&f, "c");
    say(c, "SUB x 9\r\n");
    static const char body[] = "PING\r\nMSG a 1 2\r\n\0\xff";
    char line[64];
    snprintf(line, sizeof(line), "PUB x %zu\r\n", sizeof(body) - 1);
    say(c, line);
    ck_assert_int_eq(sim_client_send(c, body, sizeof(body) - 1), 0);
    say(c, "\r\n");
    barrier(&f, c);
    size_t len;
    const uint8_t *got = sim_client_received(c, &len);
    char want[128];
    int n = snprintf(want, sizeof(want), "MSG x 9 %zu\r\n", sizeof(body) - 1);
    ck_assert_uint_eq(len, (size_t)n + sizeof(body) - 1 + 2 + 6);
    ck_assert_int_eq(memcmp(got, want, (size_t)n), 0);
    ck_assert_int_eq(memcmp(got + n, body, sizeof(body) - 1), 0);
    ck_assert_int_eq(memcmp(got + n + sizeof(body) - 1, "\r\nPONG\r\n", 8), 0);
    fx_finish(&f);
}
END_TEST

START_TEST(wildcards_match_by_token)
{
    struct fx f;
    fx_start(&f, 1, NULL);
    struct sim_client *sub = plain_client(&f, "sub");
    struct sim_client *pub = plain_client(&f, "pub");
    say(sub, "SUB foo.* 1\r\nSUB foo.> 2\r\nSUB > 3\r\nSUB foo.bar 4\r\nSUB *.bar.* 5\r\n");
    barrier(&f, sub);
    sim_client_clear(sub);
    say(pub, "PUB foo.bar 1\r\na\r\n");
    barrier(&f, pub);
    barrier(&f, sub);
    ck_assert_uint_eq(count(sub, "MSG foo.bar 1 1\r\na\r\n"), 1);
    ck_assert_uint_eq(count(sub, "MSG foo.bar 2 1\r\na\r\n"), 1);
    ck_assert_uint_eq(count(sub, "MSG foo.bar 3 1\r\na\r\n"), 1);
    ck_assert_uint_eq(count(sub, "MSG foo.bar 4 1\r\na\r\n"), 1);
    ck_assert_uint_eq(count(sub, "MSG "), 4);
    sim_client_clear(sub);
    say(pub, "PUB foo.bar.baz 1\r\nb\r\nPUB foo 1\r\nc\r\nPUB x.bar.y 1\r\nd\r\n");
    barrier(&f, pub);
    barrier(&f, sub);
    ck_assert_uint_eq(count(sub, "MSG foo.bar.baz 2 1\r\n"), 1);
    ck_assert_uint_eq(count(sub, "MSG foo.bar.baz 3 1\r\n"), 1);
    ck_assert_uint_eq(count(sub, "MSG foo 3 1\r\n"), 1);
    ck_assert_uint_eq(count(sub, "MSG x.bar.y 3 1\r\n"), 1);
    ck_assert_uint_eq(count(sub, "MSG x.bar.y 5 1\r\n"), 1);
    ck_assert_uint_eq(count(sub, "MSG foo.bar.baz 5 1\r\n"), 1);
    ck_assert_uint_eq(count(sub, "MSG "), 6);
    fx_finish(&f);
}
END_TEST

/* Counts deliveries of each "m%03d" payload to one client. */
static void tally(const struct sim_client *c, int *seen, int n)
{
    for (int i = 0; i < n; i++) {
        char needle[32];
        snprintf(needle, sizeof(needle), "\r\nm%03d\r\n", i);
        seen[i] += (int)count(c, needle);
    }
}

START_TEST(queue_group_delivers_each_message_once)
{
    struct fx f;
    fx_start(&f, 7, NULL);
    struct sim_client *m[3];
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof(name), "m%d", i);
        m[i] = plain_client(&f, name);
        say(m[i], "SUB work q 1\r\n");
        barrier(&f, m[i]);
        sim_client_clear(m[i]);
    }
    struct sim_client *plain = plain_client(&f, "plain");
    say(plain, "SUB work 1\r\n");
    barrier(&f, plain);
    sim_client_clear(plain);
    struct sim_client *pub = plain_client(&f, "pub");
    enum { N = 300 };
    for (int i = 0; i < N; i++) {
        char line[64];
        snprintf(line, sizeof(line), "PUB work 4\r\nm%03d\r\n", i);
        say(pub, line);
    }
    barrier(&f, pub);
    int seen[N] = {0};
    int per_member[3];
    for (int i = 0; i < 3; i++) {
        barrier(&f, m[i]);
        per_member[i] = (int)count(m[i], "MSG work 1 4\r\n");
        tally(m[i], seen, N);
    }
    for (int i = 0; i < N; i++) {
        ck_assert_msg(seen[i] == 1, "message %d delivered %d times", i, seen[i]);
    }
    ck_assert_int_eq(per_member[0] + per_member[1] + per_member[2], N);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_gt(per_member[i], 0); /* random start spreads the load */
    }
    barrier(&f, plain);
    ck_assert_uint_eq(count(plain, "MSG work 1 4\r\n"), N);
    fx_finish(&f);
}
END_TEST

START_TEST(unsub_with_max_stops_after_max)
{
    struct fx f;
    fx_start(&f, 1, NULL);
    struct sim_client *c = plain_client(&f, "c");
    say(c, "SUB a 1\r\nUNSUB 1 3\r\nSUB b 2\r\nUNSUB 2\r\nUNSUB 99\r\n");
    for (int i = 0; i < 5; i++) {
        say(c, "PUB a 1\r\nx\r\nPUB b 1\r\ny\r\n");
    }
    barrier(&f, c);
    ck_assert_uint_eq(count(c, "MSG a 1 1\r\nx\r\n"), 3);
    ck_assert_uint_eq(count(c, "MSG b"), 0);
    struct mr_server_stats st;
    mr_server_stats(f.srv, &st);
    ck_assert_uint_eq(st.subscriptions, 0); /* the auto-unsubscribe removed it */
    /* A max at or below what was already delivered removes the sub at once. */
    sim_client_clear(c);
    say(c, "SUB d 3\r\nPUB d 1\r\n1\r\nPUB d 1\r\n2\r\n");
    barrier(&f, c);
    say(c, "UNSUB 3 1\r\nPUB d 1\r\n3\r\n");
    barrier(&f, c);
    ck_assert_uint_eq(count(c, "MSG d 3 1\r\n"), 2);
    fx_finish(&f);
}
END_TEST

START_TEST(hpub_gives_hmsg_or_stripped_msg)
{
    struct fx f;
    fx_start(&f, 1, NULL);
    struct sim_client *hsub = client(&f, "hsub", "{\"headers\":true}");
    struct sim_client *psub = plain_client(&f, "psub");
    struct sim_client *pub = client(&f, "pub", "{\"headers\":true}");
    say(hsub, "SUB foo 1\r\n");
    say(psub, "SUB foo 2\r\n");
    barrier(&f, hsub);
    barrier(&f, psub);
    sim_client_clear(hsub);
    sim_client_clear(psub);
    /* "NATS/1.0\r\nA: b\r\n\r\n" is 18 bytes; with "hello", 23. */
    say(pub, "HPUB foo 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nhello\r\n"
             "HPUB foo r 12 12\r\nNATS/1.0\r\n\r\n\r\n");
    barrier(&f, pub);
    barrier(&f, hsub);
    barrier(&f, psub);
    assert_received(hsub, "HMSG foo 1 18 23\r\nNATS/1.0\r\nA: b\r\n\r\nhello\r\n"
                          "HMSG foo 1 r 12 12\r\nNATS/1.0\r\n\r\n\r\nPONG\r\n");
    assert_received(psub, "MSG foo 2 5\r\nhello\r\nMSG foo 2 r 0\r\n\r\nPONG\r\n");
    fx_finish(&f);
}
END_TEST

START_TEST(hpub_without_headers_is_a_protocol_error)
{
    struct fx f;
    fx_start(&f, 1, NULL);
    struct sim_client *c = plain_client(&f, "c");
    say(c, "HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n");
    ck_assert(sim_client_wait_closed(c, after(&f, SEC)));
    fx_finish(&f);
}
END_TEST

START_TEST(request_without_responders_gets_503)
{
    struct fx f;
    fx_start(&f, 1, NULL);
    struct sim_client *c =
        client(&f, "req",
               "{\"verbose\":false,\"headers\":true,\"no_responders\":true,\"protocol\":1}");
    say(c, "SUB _INBOX.abc.* 1\r\nPUB service _INBOX.abc.1 2\r\nhi\r\n");
    barrier(&f, c);
    assert_received(c, "HMSG _INBOX.abc.1 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\nPONG\r\n");
    /* With a responder, no 503. */
    struct sim_client *svc = plain_client(&f, "svc");
    say(svc, "SUB service 1\r\n");
    barrier(&f, svc);
    sim_client_clear(c);
    say(c, "PUB service _INBOX.abc.2 2\r\nhi\r\n");
    barrier(&f, c);
    assert_received(c, "PONG\r\n");
    ck_assert(sim_client_wait_for(svc, "MSG service 1 _INBOX.abc.2 2\r\nhi\r\n", after(&f, SEC)));
    /* A client without no_responders gets nothing. */
    struct sim_client *old = plain_client(&f, "old");
    say(old, "SUB _INBOX.z 1\r\nPUB nobody _INBOX.z 0\r\n\r\n");
    barrier(&f, old);
    assert_received(old, "PONG\r\n");
    fx_finish(&f);
}
END_TEST

START_TEST(echo_false_skips_own_messages)
{
    struct fx f;
    fx_start(&f, 1, NULL);
    struct sim_client *quiet = client(&f, "quiet", "{\"verbose\":false,\"echo\":false}");
    struct sim_client *other = plain_client(&f, "other");
    say(quiet, "SUB foo 1\r\n");
    say(other, "SUB foo 1\r\n");
    barrier(&f, quiet);
    barrier(&f, other);
    sim_client_clear(quiet);
    sim_client_clear(other);
    say(quiet, "PUB foo 2\r\nme\r\n");
    barrier(&f, quiet);
    barrier(&f, other);
    assert_received(quiet, "PONG\r\n");
    assert_received(other, "MSG foo 1 2\r\nme\r\nPONG\r\n");
    /* It still gets what others publish. */
    sim_client_clear(quiet);
    say(other, "PUB foo 3\r\nyou\r\n");
    ck_assert(sim_client_wait_for(quiet, "MSG foo 1 3\r\nyou\r\n", after(&f, SEC)));
    /* And the default (echo on) delivers to oneself. */
    sim_client_clear(other);
    barrier(&f, other);
    ck_assert_uint_eq(count(other, "MSG foo 1 3\r\nyou\r\n"), 1);
    fx_finish(&f);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Errors (protocol.md 3.6)
 */

static void expect_err_and_close(struct fx *f, const char *input, const char *err)
{
    struct sim_client *c = plain_client(f, "bad");
    say(c, input);
    ck_assert(sim_client_wait_closed(c, after(f, SEC)));
    char *got = received_str(c);
    ck_assert_msg(strstr(got, err) != NULL, "want %s, got \"%s\"", err, got);
    g_free(got);
}

START_TEST(unknown_op_errs_and_closes)
{
    struct fx f;
    fx_start(&f, 1, NULL);
    expect_err_and_close(&f, "FOO bar\r\n", "-ERR 'Unknown Protocol Operation'\r\n");
    fx_finish(&f);
}
END_TEST

START_TEST(long_control_line_errs_and_closes)
{
    struct fx f;
    fx_start(&f, 1, NULL);
    GString *line = g_string_new("PUB ");
    for (int i = 0; i < 5000; i++) {
        g_string_append_c(line, 'a');
    }
    g_string_append(line, " 1\r\nx\r\n");
    expect_err_and_close(&f, line->str, "-ERR 'maximum control line exceeded'\r\n");
    g_string_free(line, TRUE);
    fx_finish(&f);
}
END_TEST

static void small_payload(struct mr_server_opts *o)
{
    o->max_payload = 1024;
}

START_TEST(max_payload_errs_and_closes)
{
    struct fx f;
    fx_start(&f, 1, small_payload);
    struct sim_client *c = sim_client_create(f.w, "c", "srv", 4222);
    ck_assert(sim_client_wait_for(c, "\"max_payload\":1024", after(&f, SEC)));
    expect_err_and_close(&f, "PUB foo 1025\r\n", "-ERR 'Maximum Payload Violation'\r\n");
    /* At the limit is fine. */
    GString *ok = g_string_new("SUB foo 1\r\nPUB foo 1024\r\n");
    for (int i = 0; i < 1024; i++) {
        g_string_append_c(ok, 'p');
    }
    g_string_append(ok, "\r\n");
    say(c, ok->str);
    ck_assert(sim_client_wait_for(c, "MSG foo 1 1024\r\n", after(&f, SEC)));
    g_string_free(ok, TRUE);
    fx_finish(&f);
}
END_TEST

START_TEST(invalid_subject_errs_and_stays_open)
{
    struct fx f;
    fx_start(&f, 1, NULL);
    struct sim_client *c = plain_client(&f, "c");
    say(c, "SUB foo..bar 1\r\nSUB foo.>.bar 2\r\nSUB .foo 3\r\n");
    barrier(&f, c);
    assert_received(c, "-ERR 'Invalid Subject'\r\n-ERR 'Invalid Subject'\r\n"
                       "-ERR 'Invalid Subject'\r\nPONG\r\n");
    ck_assert(!sim_client_closed(c));
    struct mr_server_stats st;
    mr_server_stats(f.srv, &st);
    ck_assert_uint_eq(st.subscriptions, 0);
    fx_finish(&f);
}
END_TEST

START_TEST(bad_arguments_close_without_err)
{
    struct fx f;
    fx_start(&f, 1, NULL);
    struct sim_client *c = plain_client(&f, "c");
    say(c, "PUB foo notanumber\r\n");
    ck_assert(sim_client_wait_closed(c, after(&f, SEC)));
    ck_assert_uint_eq(count(c, "-ERR"), 0);
    struct sim_client *j = client(&f, "j", NULL);
    say(j, "CONNECT {not json\r\n");
    ck_assert(sim_client_wait_closed(j, after(&f, SEC)));
    ck_assert_uint_eq(count(j, "-ERR"), 0);
    fx_finish(&f);
}
END_TEST

START_TEST(bad_connect_options_err_and_close)
{
    struct fx f;
    fx_start(&f, 1, NULL);
    struct sim_client *p = client(&f, "p", NULL);
    say(p, "CONNECT {\"protocol\":2}\r\n");
    ck_assert(sim_client_wait_closed(p, after(&f, SEC)));
    assert_received(p, "-ERR 'invalid client protocol'\r\n");
    struct sim_client *n = client(&f, "n", NULL);
    say(n, "CONNECT {\"no_responders\":true}\r\n");
    ck_assert(sim_client_wait_closed(n, after(&f, SEC)));
    assert_received(n, "-ERR 'no responders requires headers support'\r\n");
    fx_finish(&f);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Auth
 */

static void user_pass(struct mr_server_opts *o)
{
    snprintf(o->user, sizeof(o->user), "alice");
    snprintf(o->pass, sizeof(o->pass), "s3cret");
}

START_TEST(auth_required_is_announced_and_good_creds_pass)
{
    struct fx f;
    fx_start(&f, 1, user_pass);
    struct sim_client *c = sim_client_create(f.w, "c", "srv", 4222);
    ck_assert(sim_client_wait_for(c, "\"auth_required\":true", after(&f, SEC)));
    sim_client_clear(c);
    say(c, "CONNECT {\"user\":\"alice\",\"pass\":\"s3cret\"}\r\nPING\r\n");
    ck_assert(sim_client_wait_for(c, "PONG\r\n", after(&f, SEC)));
    /* Well past the auth timeout it is still connected. */
    sim_world_run_until(f.w, after(&f, 5 * SEC));
    ck_assert(!sim_client_closed(c));
    ck_assert_uint_eq(count(c, "-ERR"), 0);
    fx_finish(&f);
}
END_TEST

START_TEST(auth_timeout_errs_and_closes)
{
    struct fx f;
    fx_start(&f, 1, user_pass);
    struct sim_client *c = sim_client_create(f.w, "c", "srv", 4222);
    ck_assert(sim_client_wait_closed(c, after(&f, 10 * SEC)));
    ck_assert_uint_eq(count(c, "-ERR 'Authentication Timeout'\r\n"), 1);
    /* nats-server's default authorization timeout: 2 s (plus the link delays). */
    ck_assert_uint_ge(sim_world_now_ns(f.w), 2 * SEC);
    ck_assert_uint_lt(sim_world_now_ns(f.w), 2 * SEC + 10 * MS);
    fx_finish(&f);
}
END_TEST

START_TEST(wrong_password_is_authorization_violation)
{
    struct fx f;
    fx_start(&f, 1, user_pass);
    struct sim_client *c = client(&f, "c", NULL);
    say(c, "CONNECT {\"user\":\"alice\",\"pass\":\"guess\"}\r\nPING\r\n");
    ck_assert(sim_client_wait_closed(c, after(&f, SEC)));
    assert_received(c, "-ERR 'Authorization Violation'\r\n");
    fx_finish(&f);
}
END_TEST

START_TEST(op_before_connect_is_authorization_violation)
{
    struct fx f;
    fx_start(&f, 1, user_pass);
    struct sim_client *c = client(&f, "c", NULL);
    say(c, "SUB foo 1\r\n");
    ck_assert(sim_client_wait_closed(c, after(&f, SEC)));
    assert_received(c, "-ERR 'Authorization Violation'\r\n");
    fx_finish(&f);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Keepalive
 */

static void fast_ping(struct mr_server_opts *o)
{
    o->ping_interval_ns = SEC;
}

START_TEST(silent_client_gets_pings_then_stale_connection)
{
    struct fx f;
    fx_start(&f, 1, fast_ping);
    struct sim_client *c = plain_client(&f, "c");
    ck_assert(sim_client_wait_closed(c, after(&f, 30 * SEC)));
    /* ping_max 2: two PINGs go unanswered, the third interval closes it. */
    assert_received(c, "PING\r\nPING\r\n-ERR 'Stale Connection'\r\n");
    ck_assert_uint_lt(sim_world_now_ns(f.w), 6 * SEC);
    fx_finish(&f);
}
END_TEST

START_TEST(client_answering_pings_stays)
{
    struct fx f;
    fx_start(&f, 1, fast_ping);
    struct sim_client *c = plain_client(&f, "c");
    for (size_t i = 1; i <= 10; i++) {
        struct count_reaches cr = {c, "PING\r\n", i};
        ck_assert(sim_world_run_until_pred(f.w, count_reaches_pred, &cr, after(&f, 5 * SEC)));
        say(c, "PONG\r\n");
    }
    ck_assert(!sim_client_closed(c));
    ck_assert_uint_eq(count(c, "-ERR"), 0);
    fx_finish(&f);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Slow consumers and limits
 */

enum { BIG_PAYLOAD = 64 * 1024, BIG_MSGS = 1600 }; /* 100 MiB */

struct drained {
    struct sim_client *pub;
    struct sim_client *fast;
};

static bool drained_pred(void *ctx)
{
    const struct drained *d = ctx;
    return sim_client_out_pending(d->pub) == 0;
}

START_TEST(slow_consumer_is_closed_and_others_unaffected)
{
    struct fx f;
    fx_start(&f, 1, NULL);
    struct sim_client *fast = plain_client(&f, "fast");
    struct sim_client *slow = plain_client(&f, "slow");
    struct sim_client *pub = plain_client(&f, "pub");
    say(fast, "SUB big 1\r\n");
    say(slow, "SUB big 1\r\n");
    barrier(&f, fast);
    barrier(&f, slow);
    sim_client_read_enable(slow, false);
    uint64_t fast_before = sim_client_received_total(fast);
    char *msg = g_malloc(BIG_PAYLOAD + 64);
    int hdr = snprintf(msg, 64, "PUB big %d\r\n", BIG_PAYLOAD);
    memset(msg + hdr, 'z', BIG_PAYLOAD);
    memcpy(msg + hdr + BIG_PAYLOAD, "\r\n", 2);
    size_t msg_len = (size_t)hdr + BIG_PAYLOAD + 2;
    struct drained d = {pub, fast};
    for (int i = 0; i < BIG_MSGS; i++) {
        ck_assert_int_eq(sim_client_send(pub, msg, msg_len), 0);
        if (i % 16 == 15) {
            ck_assert(sim_world_run_until_pred(f.w, drained_pred, &d, after(&f, SEC)));
            sim_client_clear(fast); /* keep memory flat; the total is counted */
        }
    }
    barrier(&f, pub);
    barrier(&f, fast);
    g_free(msg);
    uint64_t per_msg = strlen("MSG big 1 65536\r\n") + BIG_PAYLOAD + 2;
    ck_assert_uint_eq(sim_client_received_total(fast) - fast_before,
                      (uint64_t)BIG_MSGS * per_msg + strlen("PONG\r\n"));
    ck_assert(!sim_client_closed(fast));
    ck_assert(!sim_client_closed(pub));
    struct mr_server_stats st;
    mr_server_stats(f.srv, &st);
    ck_assert_uint_eq(st.slow_consumers, 1);
    ck_assert_uint_eq(st.connections, 2);
    ck_assert_uint_eq(st.in_msgs, BIG_MSGS);
    /* The slow client learns it was closed once it reads again. */
    ck_assert(!sim_client_closed(slow));
    sim_client_read_enable(slow, true);
    ck_assert(sim_client_wait_closed(slow, after(&f, SEC)));
    ck_assert_uint_lt(sim_client_received_total(slow), 64ULL * 1024 * 1024);
    fx_finish(&f);
}
END_TEST

static void short_write_deadline(struct mr_server_opts *o)
{
    o->write_deadline_ns = 2 * SEC;
    o->ping_interval_ns = 3600 * SEC; /* keepalive must not be what closes it */
}

/* Output stuck far below max_pending is still a slow consumer once nothing has drained
 * for write_deadline (nats-server's write deadline). */
START_TEST(stalled_reader_is_closed_after_write_deadline)
{
    struct fx f;
    fx_start(&f, 1, short_write_deadline);
    struct sim_client *slow = plain_client(&f, "slow");
    struct sim_client *pub = plain_client(&f, "pub");
    say(slow, "SUB big 1\r\n");
    barrier(&f, slow);
    sim_client_read_enable(slow, false);
    char *msg = g_malloc(BIG_PAYLOAD + 64);
    int hdr = snprintf(msg, 64, "PUB big %d\r\n", BIG_PAYLOAD);
    memset(msg + hdr, 'z', BIG_PAYLOAD);
    memcpy(msg + hdr + BIG_PAYLOAD, "\r\n", 2);
    for (int i = 0; i < 16; i++) { /* 1 MiB: more than the stream window holds */
        ck_assert_int_eq(sim_client_send(pub, msg, (size_t)hdr + BIG_PAYLOAD + 2), 0);
    }
    g_free(msg);
    barrier(&f, pub);
    struct mr_server_stats st;
    mr_server_stats(f.srv, &st);
    ck_assert_uint_eq(st.slow_consumers, 0);
    ck_assert_uint_eq(st.connections, 2);
    /* Nothing drains: the deadline passes and the server gives up on the reader. */
    sim_world_run_until(f.w, after(&f, 3 * SEC));
    mr_server_stats(f.srv, &st);
    ck_assert_uint_eq(st.slow_consumers, 1);
    ck_assert_uint_eq(st.connections, 1);
    ck_assert(!sim_client_closed(pub));
    fx_finish(&f);
}
END_TEST

static void two_connections(struct mr_server_opts *o)
{
    o->max_connections = 2;
}

START_TEST(max_connections_refuses_the_extra_one)
{
    struct fx f;
    fx_start(&f, 1, two_connections);
    struct sim_client *a = plain_client(&f, "a");
    struct sim_client *b = plain_client(&f, "b");
    struct sim_client *c = sim_client_create(f.w, "c", "srv", 4222);
    ck_assert(sim_client_wait_closed(c, after(&f, SEC)));
    assert_received(c, "-ERR 'maximum connections exceeded'\r\n");
    barrier(&f, a);
    barrier(&f, b);
    /* A slot freed is a slot reusable. */
    sim_client_close(a);
    ck_assert(sim_client_wait_closed(a, after(&f, SEC)));
    sim_world_run_until(f.w, after(&f, MS));
    struct sim_client *d = plain_client(&f, "d");
    barrier(&f, d);
    ck_assert(!sim_client_closed(d));
    fx_finish(&f);
}
END_TEST

START_TEST(bad_client_does_not_disturb_others)
{
    struct fx f;
    fx_start(&f, 1, NULL);
    struct sim_client *sub = plain_client(&f, "sub");
    struct sim_client *pub = plain_client(&f, "pub");
    struct sim_client *bad = plain_client(&f, "bad");
    say(sub, "SUB t 1\r\n");
    say(bad, "SUB t 1\r\n");
    barrier(&f, sub);
    barrier(&f, bad);
    sim_client_clear(sub);
    sim_client_clear(bad);
    say(pub, "PUB t 3\r\none\r\n");
    /* A half-sent message, then garbage: the bad client is closed mid-stream. */
    say(bad, "PUB t 10\r\nabc");
    sim_world_run_until(f.w, after(&f, MS));
    say(bad, "defghijXY\r\n");
    say(pub, "PUB t 3\r\ntwo\r\n");
    ck_assert(sim_client_wait_closed(bad, after(&f, SEC)));
    assert_received(bad, "MSG t 1 3\r\none\r\n-ERR 'Unknown Protocol Operation'\r\n");
    say(pub, "PUB t 5\r\nthree\r\n");
    barrier(&f, pub);
    barrier(&f, sub);
    assert_received(sub, "MSG t 1 3\r\none\r\nMSG t 1 3\r\ntwo\r\nMSG t 1 5\r\nthree\r\nPONG\r\n");
    struct mr_server_stats st;
    mr_server_stats(f.srv, &st);
    ck_assert_uint_eq(st.connections, 2);
    ck_assert_uint_eq(st.subscriptions, 1);
    fx_finish(&f);
}
END_TEST

START_TEST(client_disconnect_removes_its_subscriptions)
{
    struct fx f;
    fx_start(&f, 1, NULL);
    struct sim_client *a = plain_client(&f, "a");
    say(a, "SUB x 1\r\nSUB y q 2\r\nSUB > 3\r\n");
    barrier(&f, a);
    struct mr_server_stats st;
    mr_server_stats(f.srv, &st);
    ck_assert_uint_eq(st.subscriptions, 3);
    sim_client_close(a);
    sim_world_run_until(f.w, after(&f, SEC));
    mr_server_stats(f.srv, &st);
    ck_assert_uint_eq(st.subscriptions, 0);
    ck_assert_uint_eq(st.connections, 0);
    ck_assert_uint_eq(st.total_connections, 1);
    fx_finish(&f);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * Determinism
 */

/* Publishers, wildcard and queue subscribers at seed-chosen times; returns the trace
 * hash and checks the queue deliveries add up. */
static uint64_t scripted_run(uint64_t seed)
{
    struct fx f;
    fx_start(&f, seed, fast_ping);
    struct sim_client *q[3];
    for (int i = 0; i < 3; i++) {
        char name[8];
        snprintf(name, sizeof(name), "q%d", i);
        q[i] = plain_client(&f, name);
        say(q[i], "SUB jobs.* workers 1\r\nSUB jobs.> 2\r\n");
    }
    struct sim_client *pub = plain_client(&f, "pub");
    struct sim_rng *rng = sim_world_rng(f.w);
    for (int i = 0; i < 200; i++) {
        char line[64];
        snprintf(line, sizeof(line), "PUB jobs.%d 3\r\n%03d\r\n", (int)sim_rng_below(rng, 5), i);
        say(pub, line);
        sim_world_run_until(f.w, after(&f, sim_rng_below(rng, 2 * MS)));
    }
    barrier(&f, pub);
    size_t queued = 0;
    for (int i = 0; i < 3; i++) {
        barrier(&f, q[i]);
        queued += count(q[i], " 1 3\r\n");
        ck_assert_uint_eq(count(q[i], " 2 3\r\n"), 200);
    }
    ck_assert_uint_eq(queued, 200);
    sim_world_run_until(f.w, after(&f, 3 * SEC)); /* some keepalive traffic too */
    uint64_t hash = sim_world_trace_hash(f.w);
    fx_finish(&f);
    return hash;
}

START_TEST(same_seed_gives_same_trace_hash)
{
    uint64_t a = scripted_run(1234);
    uint64_t b = scripted_run(1234);
    ck_assert_uint_eq(a, b);
    uint64_t c = scripted_run(1235);
    ck_assert_uint_ne(a, c);
}
END_TEST

static Suite *server_suite(void)
{
    Suite *s = suite_create("server");
    TCase *hs = tcase_create("handshake");
    tcase_set_timeout(hs, 10);
    tcase_add_test(hs, info_on_connect_has_fields);
    tcase_add_test(hs, connect_and_ping_get_pong);
    tcase_add_test(hs, verbose_acks_every_op_with_ok);
    suite_add_tcase(s, hs);

    TCase *msg = tcase_create("messages");
    tcase_set_timeout(msg, 20);
    tcase_add_test(msg, pub_sub_delivers_exact_bytes);
    tcase_add_test(msg, payload_with_protocol_bytes_is_opaque);
    tcase_add_test(msg, wildcards_match_by_token);
    tcase_add_test(msg, queue_group_delivers_each_message_once);
    tcase_add_test(msg, unsub_with_max_stops_after_max);
    tcase_add_test(msg, hpub_gives_hmsg_or_stripped_msg);
    tcase_add_test(msg, hpub_without_headers_is_a_protocol_error);
    tcase_add_test(msg, request_without_responders_gets_503);
    tcase_add_test(msg, echo_false_skips_own_messages);
    suite_add_tcase(s, msg);

    TCase *err = tcase_create("errors");
    tcase_set_timeout(err, 10);
    tcase_add_test(err, unknown_op_errs_and_closes);
    tcase_add_test(err, long_control_line_errs_and_closes);
    tcase_add_test(err, max_payload_errs_and_closes);
    tcase_add_test(err, invalid_subject_errs_and_stays_open);
    tcase_add_test(err, bad_arguments_close_without_err);
    tcase_add_test(err, bad_connect_options_err_and_close);
    suite_add_tcase(s, err);

    TCase *auth = tcase_create("auth");
    tcase_set_timeout(auth, 10);
    tcase_add_test(auth, auth_required_is_announced_and_good_creds_pass);
    tcase_add_test(auth, auth_timeout_errs_and_closes);
    tcase_add_test(auth, wrong_password_is_authorization_violation);
    tcase_add_test(auth, op_before_connect_is_authorization_violation);
    suite_add_tcase(s, auth);

    TCase *ka = tcase_create("keepalive");
    tcase_set_timeout(ka, 10);
    tcase_add_test(ka, silent_client_gets_pings_then_stale_connection);
    tcase_add_test(ka, client_answering_pings_stays);
    suite_add_tcase(s, ka);

    TCase *lim = tcase_create("limits");
    tcase_set_timeout(lim, 120);
    tcase_add_test(lim, slow_consumer_is_closed_and_others_unaffected);
    tcase_add_test(lim, stalled_reader_is_closed_after_write_deadline);
    tcase_add_test(lim, max_connections_refuses_the_extra_one);
    tcase_add_test(lim, bad_client_does_not_disturb_others);
    tcase_add_test(lim, client_disconnect_removes_its_subscriptions);
    suite_add_tcase(s, lim);

    TCase *det = tcase_create("determinism");
    tcase_set_timeout(det, 60);
    tcase_add_test(det, same_seed_gives_same_trace_hash);
    suite_add_tcase(s, det);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(server_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
