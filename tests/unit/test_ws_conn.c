/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ws_conn suite on the sim env (fixture_leaf.h): WebSocket clients as the websocket {}
 * listener takes them. A connection is a client (counted) only once its upgrade is
 * done; a silent one is closed at the handshake timeout; the TLS listener keeps the
 * order (TLS, then the upgrade); authorization { user, password } and { token }
 * override for WebSocket clients only (INFO auth_required, -ERR 'Authorization
 * Violation'); no_auth_user binds clients without credentials; compression: true
 * agrees to an offered permessage-deflate (compressed frames both ways), and without
 * it a compressed frame is a protocol error.
 */
#include <check.h>
#include <glib.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/server/monitor.h"
#include "tests/unit/fixture_leaf.h"

/* A WebSocket client `name` of n:8080 that has INFO, sent CONNECT json and PING, and got the
 * answer (PONG or -ERR). Returns the client; *ok says PONG. */
static struct sim_client *ws_connect(struct lx *x, const char *name, struct lx_node *n,
                                     const char *json, bool *ok)
{
    struct sim_client *c = lx_ws_open(x, name, n, 8080, "/", "");
    ck_assert_uint_eq(count(c, "HTTP/1.1 101 "), 1);
    ck_assert(lx_ws_wait(x, c, "INFO {", 1, SEC));
    char *line = g_strdup_printf("CONNECT %s\r\nPING\r\n", json);
    lx_ws_send(c, line, true);
    g_free(line);
    for (int i = 0; i < 100 && lx_ws_count(c, "PONG\r\n") == 0 && lx_ws_count(c, "-ERR") == 0;
         i++) {
        sim_world_run_until(x->w, lx_after(x, 10 * MS));
    }
    *ok = lx_ws_count(c, "PONG\r\n") == 1;
    return c;
}

/* The INFO the client got. */
static char *ws_info(const struct sim_client *c)
{
    char *text = lx_ws_text(c, NULL);
    char *end = strstr(text, "\r\n");
    ck_assert_ptr_nonnull(end);
    *end = '\0';
    return text;
}

static uint64_t connections(const struct lx_node *n)
{
    struct mr_server_stats st;
    mr_server_stats(n->srv, &st);
    return st.connections;
}

/* num_connections of /connz?query (nats-server lists clients only). */
static int64_t connz_count(const struct lx_node *n, const char *query)
{
    char *body = NULL;
    const char *ctype = NULL;
    ck_assert_int_eq(mr_monitor_render(n->srv, "/connz", query, &body, &ctype), 200);
    json_t *root = json_loads(body, 0, NULL);
    ck_assert_ptr_nonnull(root);
    int64_t v = json_integer_value(json_object_get(root, "num_connections"));
    json_decref(root);
    free(body);
    return v;
}

START_TEST(a_client_counts_once_upgraded)
{
    struct lx x;
    lx_init(&x, 31);
    struct lx_node *n = lx_add(&x, "srv", "port: 4222\nwebsocket { port: 8080, no_tls: true }\n");
    struct sim_client *c = sim_client_create(x.w, "raw", "srv", 8080);
    sim_world_run_until(x.w, lx_after(&x, 100 * MS));
    ck_assert(sim_client_connected(c));
    ck_assert_uint_eq(connections(n), 0); /* accepted, not yet a client */
    ck_assert_uint_eq(connz_count(n, ""), 0);
    sim_client_close(c);
    sim_world_run_until(x.w, lx_after(&x, 100 * MS));
    /* Never a client, so not among the closed ones either. */
    ck_assert_uint_eq(connz_count(n, "state=closed"), 0);
    bool ok = false;
    struct sim_client *ws = ws_connect(&x, "ws1", n, "{\"verbose\":false}", &ok);
    ck_assert(ok);
    ck_assert_uint_eq(connections(n), 1);
    ck_assert_int_eq(connz_count(n, ""), 1);
    sim_client_close(ws);
    lx_finish(&x);
}
END_TEST

START_TEST(a_silent_connection_is_closed_at_the_handshake_timeout)
{
    struct lx x;
    lx_init(&x, 32);
    lx_add(&x, "srv", "port: 4222\n"
           "websocket { port: 8080, no_tls: true, handshake_timeout: \"1s\" }\n");
    struct sim_client *c = sim_client_create(x.w, "raw", "srv", 8080);
    sim_world_run_until(x.w, lx_after(&x, 900 * MS));
    ck_assert(!sim_client_closed(c));
    ck_assert(sim_client_wait_closed(c, lx_after(&x, 500 * MS)));
    size_t len;
    (void)sim_client_received(c, &len);
    ck_assert_uint_eq(len, 0); /* no -ERR in the middle of HTTP */
    lx_finish(&x);
}
END_TEST

START_TEST(tls_listener_upgrades_after_the_handshake)
{
    struct lx x;
    lx_init(&x, 33);
    struct lx_node *n = lx_add(&x, "srv", "port: 4222\nwebsocket { port: 8080, "
                               "tls { cert_file: \"s.pem\", key_file: \"s-key.pem\" } }\n");
    bool ok = false;
    struct sim_client *ws = ws_connect(&x, "ws2", n, "{\"verbose\":false}", &ok);
    ck_assert(ok);
    ck_assert(lx_logged(n, "Listening for websocket clients on wss://"));
    sim_client_close(ws);
    lx_finish(&x);
}
END_TEST

START_TEST(user_override_applies_to_websocket_clients_only)
{
    struct lx x;
    lx_init(&x, 34);
    struct lx_node *n = lx_add(&x, "srv", "port: 4222\nwebsocket { port: 8080, no_tls: true, "
                               "authorization { user: wsu, password: wsp } }\n");
    bool ok = true;
    struct sim_client *bad = ws_connect(&x, "ws3", n, "{\"verbose\":false}", &ok);
    ck_assert(!ok);
    ck_assert_uint_eq(lx_ws_count(bad, "-ERR 'Authorization Violation'\r\n"), 1);
    char *info = ws_info(bad);
    ck_assert_ptr_nonnull(strstr(info, "\"auth_required\":true"));
    g_free(info);
    sim_client_close(bad);
    struct sim_client *wrong = ws_connect(&x, "ws4", n, "{\"user\":\"wsu\",\"pass\":\"x\"}", &ok);
    ck_assert(!ok);
    sim_client_close(wrong);
    struct sim_client *good = ws_connect(&x, "ws5", n, "{\"verbose\":false,\"user\":\"wsu\","
                                         "\"pass\":\"wsp\"}", &ok);
    ck_assert(ok);
    /* TCP clients need no credentials: the override is the websocket's. */
    struct sim_client *tcp = lx_client(&x, "tcp", n, NULL);
    lx_ws_send(good, "SUB a 1\r\nPING\r\n", true);
    ck_assert(lx_ws_wait(&x, good, "PONG\r\n", 2, SEC));
    say(tcp, "PUB a 2\r\nhi\r\n");
    ck_assert(lx_ws_wait(&x, good, "MSG a 1 2\r\nhi\r\n", 1, SEC));
    sim_client_close(good);
    sim_client_close(tcp);
    lx_finish(&x);
}
END_TEST

START_TEST(token_override_is_checked)
{
    struct lx x;
    lx_init(&x, 35);
    struct lx_node *n = lx_add(&x, "srv", "port: 4222\nwebsocket { port: 8080, no_tls: true, "
                               "authorization { token: wstok } }\n");
    bool ok = false;
    struct sim_client *good = ws_connect(&x, "ws6", n, "{\"auth_token\":\"wstok\"}", &ok);
    ck_assert(ok);
    sim_client_close(good);
    struct sim_client *bad = ws_connect(&x, "ws7", n, "{\"auth_token\":\"other\"}", &ok);
    ck_assert(!ok);
    sim_client_close(bad);
    lx_finish(&x);
}
END_TEST

START_TEST(no_auth_user_binds_clients_without_credentials)
{
    struct lx x;
    lx_init(&x, 36);
    struct lx_node *n = lx_add(&x, "srv", "port: 4222\n"
                               "accounts { A: { users: [ { user: a, password: a } ] }\n"
                               "  B: { users: [ { user: b, password: b } ] } }\n"
                               "websocket { port: 8080, no_tls: true, no_auth_user: b }\n");
    bool ok = false;
    struct sim_client *ws = ws_connect(&x, "ws8", n, "{\"verbose\":false}", &ok);
    ck_assert(ok);
    lx_ws_send(ws, "SUB s 1\r\nPING\r\n", true);
    ck_assert(lx_ws_wait(&x, ws, "PONG\r\n", 2, SEC));
    struct sim_client *ca = lx_client(&x, "ca", n, "{\"verbose\":false,\"user\":\"a\","
                                      "\"pass\":\"a\"}");
    struct sim_client *cb = lx_client(&x, "cb", n, "{\"verbose\":false,\"user\":\"b\","
                                      "\"pass\":\"b\"}");
    say(ca, "PUB s 5\r\nfromA\r\n");
    lx_barrier(&x, ca);
    say(cb, "PUB s 5\r\nfromB\r\n");
    ck_assert(lx_ws_wait(&x, ws, "fromB", 1, SEC));
    ck_assert_uint_eq(lx_ws_count(ws, "fromA"), 0);
    /* Without credentials over TCP: refused, the server's rules apply there. */
    struct sim_client *tcp = sim_client_create(x.w, "tcp", "srv", 4222);
    ck_assert(sim_client_wait_for(tcp, "}\r\n", lx_after(&x, SEC)));
    say(tcp, "CONNECT {\"verbose\":false}\r\nPING\r\n");
    ck_assert(sim_client_wait_for(tcp, "-ERR 'Authorization Violation'", lx_after(&x, SEC)));
    sim_client_close(ws);
    sim_client_close(ca);
    sim_client_close(cb);
    lx_finish(&x);
}
END_TEST

START_TEST(compression_is_negotiated_when_offered_and_both_ways_work)
{
    struct lx x;
    lx_init(&x, 37);
    struct lx_node *n = lx_add(&x, "srv", "port: 4222\n"
                               "websocket { port: 8080, no_tls: true, compression: true }\n");
    struct sim_client *c = lx_ws_open(&x, "ws", n, 8080, "/",
                                      "Sec-WebSocket-Extensions: permessage-deflate; "
                                      "client_no_context_takeover; "
                                      "server_no_context_takeover\r\n");
    ck_assert_uint_eq(count(c, "HTTP/1.1 101 "), 1);
    ck_assert_uint_eq(count(c, "Sec-WebSocket-Extensions: permessage-deflate; "
                               "server_no_context_takeover; client_no_context_takeover\r\n"),
                      1);
    /* INFO is longer than 64 bytes: it comes compressed, and inflates to an INFO. */
    ck_assert(lx_ws_wait(&x, c, "INFO {", 1, SEC));
    size_t len;
    const uint8_t *raw = sim_client_received(c, &len);
    const uint8_t *body = (const uint8_t *)memmem(raw, len, "\r\n\r\n", 4) + 4;
    ck_assert_uint_eq(body[0], 0xC2); /* FIN, RSV1, binary */
    /* A compressed CONNECT and SUB, then a plain PING: both are read. */
    lx_ws_send_deflated(c, "CONNECT {\"verbose\":false}\r\nSUB big 1\r\n");
    lx_ws_send(c, "PING\r\n", true);
    ck_assert(lx_ws_wait(&x, c, "PONG\r\n", 1, SEC));
    struct sim_client *tcp = lx_client(&x, "tcp", n, NULL);
    char *big = g_strnfill(50000, 'q');
    char *pub = g_strdup_printf("PUB big 50000\r\n%s\r\n", big);
    say(tcp, pub);
    ck_assert(lx_ws_wait(&x, c, big, 1, SEC));
    g_free(pub);
    g_free(big);
    sim_client_close(c);
    sim_client_close(tcp);
    lx_finish(&x);
}
END_TEST

START_TEST(bad_compressed_data_closes_with_1007)
{
    struct lx x;
    lx_init(&x, 39);
    struct lx_node *n = lx_add(&x, "srv", "port: 4222\n"
                               "websocket { port: 8080, no_tls: true, compression: true }\n");
    struct sim_client *c = lx_ws_open(&x, "ws", n, 8080, "/",
                                      "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    ck_assert(lx_ws_wait(&x, c, "INFO {", 1, SEC));
    /* Block type 3 does not exist in deflate: the inflater refuses it. */
    static const uint8_t key[4] = {1, 2, 3, 4};
    uint8_t bad[8] = {0xff, 0xff, 0xff, 0xff, 0x07, 0x07, 0x07, 0x07};
    uint8_t hdr[MR_WS_HEADER_MAX];
    size_t h = mr_ws_header_encode(hdr, MR_WS_OP_BINARY, true, true, sizeof(bad), key);
    mr_ws_mask(bad, bad, sizeof(bad), key, 0);
    ck_assert_int_eq(sim_client_send(c, hdr, h), 0);
    ck_assert_int_eq(sim_client_send(c, bad, sizeof(bad)), 0);
    ck_assert(sim_client_wait_closed(c, lx_after(&x, SEC)));
    uint16_t code = 0;
    g_free(lx_ws_text(c, &code));
    ck_assert_uint_eq(code, MR_WS_CLOSE_INVALID_DATA);
    lx_finish(&x);
}
END_TEST

START_TEST(compression_is_not_agreed_without_the_option)
{
    struct lx x;
    lx_init(&x, 38);
    struct lx_node *n = lx_add(&x, "srv", "port: 4222\nwebsocket { port: 8080, no_tls: true }\n");
    struct sim_client *c = lx_ws_open(&x, "ws", n, 8080, "/",
                                      "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    ck_assert_uint_eq(count(c, "permessage-deflate"), 0);
    ck_assert(lx_ws_wait(&x, c, "INFO {", 1, SEC));
    /* A compressed frame without the extension is a protocol error. */
    lx_ws_send_deflated(c, "CONNECT {}\r\n");
    ck_assert(sim_client_wait_closed(c, lx_after(&x, SEC)));
    uint16_t code = 0;
    g_free(lx_ws_text(c, &code));
    ck_assert_uint_eq(code, MR_WS_CLOSE_PROTOCOL);
    lx_finish(&x);
}
END_TEST

static Suite *ws_conn_suite(void)
{
    Suite *s = suite_create("ws_conn");
    TCase *tc = tcase_create("clients");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, a_client_counts_once_upgraded);
    tcase_add_test(tc, a_silent_connection_is_closed_at_the_handshake_timeout);
    tcase_add_test(tc, tls_listener_upgrades_after_the_handshake);
    tcase_add_test(tc, user_override_applies_to_websocket_clients_only);
    tcase_add_test(tc, token_override_is_checked);
    tcase_add_test(tc, no_auth_user_binds_clients_without_credentials);
    tcase_add_test(tc, compression_is_negotiated_when_offered_and_both_ways_work);
    tcase_add_test(tc, bad_compressed_data_closes_with_1007);
    tcase_add_test(tc, compression_is_not_agreed_without_the_option);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(ws_conn_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
