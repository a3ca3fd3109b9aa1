/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Leaf suite on the sim env (fixture_leaf.h): links over WebSocket (a remote with a
 * ws:// or wss:// URL, the hub's websocket listener taking "/leafnode" upgrades), the
 * hub side spoken raw (masking rules, no-masking), a leaf upgrade refused without a
 * leafnodes port, websocket no_auth_user binding a leaf, and a remote's deny_imports
 * and deny_exports (interest not told or not taken, messages filtered, the CONNECT's
 * deny_pub on the hub, a hub's permissions violation), and credentials: a CONNECT with a
 * user JWT or nkey refused by the hub (which cannot verify either) whatever its auth, and
 * a spoke with a .creds file logging the refusal and retrying.
 */
#include <check.h>
#include <glib.h>
#include <string.h>

#include "tests/unit/fixture_leaf.h"

#define HUB_WS_CONF                                                                        \
    "port: 4222\nleafnodes { port: 7422 }\nwebsocket { port: 8080, no_tls: true }\n"

/* A message published by `from` reaches a subscriber of `to` (both already have SUB'd
 * and the interest crossed): payload once, nothing else. */
static void deliver_once(struct lx *x, struct sim_client *pub, struct sim_client *sub,
                         const char *subject, const char *payload)
{
    char *want = g_strdup_printf("MSG %s", subject);
    struct count_reaches cr = {sub, want, count(sub, want) + 1};
    char *line = g_strdup_printf("PUB %s %zu\r\n%s\r\n", subject, strlen(payload), payload);
    say(pub, line);
    g_free(line);
    lx_barrier(x, pub);
    if (!sim_world_run_until_pred(x->w, count_reaches_pred, &cr, lx_after(x, SEC))) {
        char *got = received_str(sub);
        ck_abort_msg("%s did not cross; the subscriber got: %.200s", subject, got);
    }
    g_free(want);
}

START_TEST(ws_remote_links_and_carries_both_ways)
{
    struct lx x;
    lx_init(&x, 11);
    struct lx_node *hub = lx_add(&x, "hub", HUB_WS_CONF);
    struct lx_node *spoke = lx_add(&x, "spoke", "port: 4222\n"
                                   "leafnodes { remotes: [ { url: \"ws://hub:8080\" } ] }\n");
    ck_assert(lx_wait_linked(&x, hub, spoke, 5 * SEC));
    /* Both ends of the link are WebSocket connections. */
    ck_assert_ptr_nonnull(mr_leaf_first(hub->srv)->conn->ws);
    ck_assert_ptr_nonnull(mr_leaf_first(spoke->srv)->conn->ws);
    ck_assert(!mr_leaf_first(hub->srv)->solicited);
    ck_assert(mr_leaf_first(spoke->srv)->solicited);

    struct sim_client *hc = lx_client(&x, "hc", hub, NULL);
    struct sim_client *sc = lx_client(&x, "sc", spoke, NULL);
    say(sc, "SUB down 1\r\n");
    say(hc, "SUB up 1\r\n");
    ck_assert(lx_wait_lsub(&x, hub->srv, "down", SEC));
    ck_assert(lx_wait_lsub(&x, spoke->srv, "up", SEC));
    deliver_once(&x, hc, sc, "down", "to-spoke");
    deliver_once(&x, sc, hc, "up", "to-hub");
    /* A message larger than one read, across several frames' worth of bytes. */
    char *big = g_strnfill(100000, 'z');
    deliver_once(&x, hc, sc, "down", big);
    ck_assert(sim_client_wait_for(sc, big, lx_after(&x, SEC)));
    ck_assert_uint_eq(count(sc, big), 1);
    g_free(big);
    ck_assert_uint_eq(count(sc, "to-spoke"), 1);
    ck_assert_uint_eq(count(hc, "to-hub"), 1);
    sim_client_close(hc);
    sim_client_close(sc);
    lx_finish(&x);
}
END_TEST

START_TEST(ws_queue_group_across_the_link_gets_each_message_once)
{
    struct lx x;
    lx_init(&x, 12);
    struct lx_node *hub = lx_add(&x, "hub", HUB_WS_CONF);
    struct lx_node *spoke = lx_add(&x, "spoke", "port: 4222\n"
                                   "leafnodes { remotes: [ { url: \"ws://hub:8080\" } ] }\n");
    ck_assert(lx_wait_linked(&x, hub, spoke, 5 * SEC));
    struct sim_client *q1 = lx_client(&x, "q1", hub, NULL);
    struct sim_client *q2 = lx_client(&x, "q2", hub, NULL);
    say(q1, "SUB work g 1\r\n");
    say(q2, "SUB work g 1\r\n");
    lx_barrier(&x, q1);
    lx_barrier(&x, q2);
    ck_assert(lx_wait_lsub(&x, spoke->srv, "work g", SEC));
    sim_world_run_until(x.w, lx_after(&x, 100 * MS)); /* the second member's weight */
    ck_assert_int_eq(lx_lsub(spoke->srv, "work g")->weight, 2);
    struct sim_client *pub = lx_client(&x, "pub", spoke, NULL);
    for (int i = 0; i < 40; i++) {
        say(pub, "PUB work 1\r\nw\r\n");
    }
    lx_barrier(&x, pub);
    sim_world_run_until(x.w, lx_after(&x, SEC));
    ck_assert_uint_eq(count(q1, "MSG work") + count(q2, "MSG work"), 40);
    sim_client_close(q1);
    sim_client_close(q2);
    sim_client_close(pub);
    lx_finish(&x);
}
END_TEST

START_TEST(wss_remote_does_tls_then_the_upgrade)
{
    struct lx x;
    lx_init(&x, 13);
    struct lx_node *hub = lx_add(&x, "hub", "port: 4222\nleafnodes { port: 7422 }\n"
                                 "websocket { port: 8443, tls { cert_file: \"s.pem\", "
                                 "key_file: \"s-key.pem\" } }\n");
    /* No tls {} in the remote: wss:// alone asks for TLS with the defaults. */
    struct lx_node *spoke = lx_add(&x, "spoke", "port: 4222\n"
                                   "leafnodes { remotes: [ { url: \"wss://hub:8443\" } ] }\n");
    ck_assert(lx_wait_linked(&x, hub, spoke, 5 * SEC));
    struct sim_client *hc = lx_client(&x, "hc", hub, NULL);
    struct sim_client *sc = lx_client(&x, "sc", spoke, NULL);
    say(sc, "SUB s 1\r\n");
    ck_assert(lx_wait_lsub(&x, hub->srv, "s", SEC));
    deliver_once(&x, hc, sc, "s", "over-wss");
    sim_client_close(hc);
    sim_client_close(sc);
    lx_finish(&x);
}
END_TEST

START_TEST(ws_compression_link_carries_both_ways)
{
    struct lx x;
    lx_init(&x, 20);
    struct lx_node *hub = lx_add(&x, "hub", "port: 4222\nleafnodes { port: 7422 }\n"
                                 "websocket { port: 8080, no_tls: true, compression: true }\n");
    struct lx_node *spoke = lx_add(&x, "spoke", "port: 4222\nleafnodes { remotes: [ "
                                   "{ url: \"ws://hub:8080\", ws_compression: true } ] }\n");
    ck_assert(lx_wait_linked(&x, hub, spoke, 5 * SEC));
    struct sim_client *hc = lx_client(&x, "hc", hub, NULL);
    struct sim_client *sc = lx_client(&x, "sc", spoke, NULL);
    say(sc, "SUB down 1\r\n");
    say(hc, "SUB up 1\r\n");
    ck_assert(lx_wait_lsub(&x, hub->srv, "down", SEC));
    ck_assert(lx_wait_lsub(&x, spoke->srv, "up", SEC));
    /* Repetitive payloads: the link carries far fewer bytes than the messages. */
    char *big = g_strnfill(200000, 'c');
    uint64_t before = sim_world_link_bytes(x.w, "hub", "spoke");
    deliver_once(&x, hc, sc, "down", big);
    ck_assert(sim_client_wait_for(sc, big, lx_after(&x, SEC)));
    deliver_once(&x, sc, hc, "up", big);
    ck_assert(sim_client_wait_for(hc, big, lx_after(&x, SEC)));
    uint64_t crossed = sim_world_link_bytes(x.w, "hub", "spoke") - before;
    ck_assert_uint_lt(crossed, 100000);
    g_free(big);
    sim_client_close(hc);
    sim_client_close(sc);
    lx_finish(&x);
}
END_TEST

START_TEST(raw_leaf_upgrade_gets_info_in_a_frame_and_needs_masking)
{
    struct lx x;
    lx_init(&x, 14);
    struct lx_node *hub = lx_add(&x, "hub", HUB_WS_CONF);
    struct sim_client *p = lx_ws_open(&x, "peer", hub, 8080, "/leafnode", "");
    ck_assert(lx_ws_wait(&x, p, "INFO {", 1, SEC));
    char *text = lx_ws_text(p, NULL);
    ck_assert_ptr_nonnull(strstr(text, "\"info_on_connect\":true"));
    g_free(text);
    /* A leaf, not a client: the hub counts no client connection. */
    struct mr_server_stats st;
    mr_server_stats(hub->srv, &st);
    ck_assert_uint_eq(st.connections, 0);
    /* An unmasked frame without no-masking negotiated is a protocol error (1002). */
    lx_ws_send(p, "CONNECT {\"name\":\"peer\"}\r\n", false);
    ck_assert(sim_client_wait_closed(p, lx_after(&x, SEC)));
    uint16_t code = 0;
    g_free(lx_ws_text(p, &code));
    ck_assert_uint_eq(code, MR_WS_CLOSE_PROTOCOL);
    ck_assert_uint_eq(lx_leafs(hub->srv), 0);
    lx_finish(&x);
}
END_TEST

START_TEST(raw_leaf_with_no_masking_registers_with_unmasked_frames)
{
    struct lx x;
    lx_init(&x, 15);
    struct lx_node *hub = lx_add(&x, "hub", HUB_WS_CONF);
    struct sim_client *p = lx_ws_open(&x, "peer", hub, 8080, "/leafnode",
                                      "Nats-No-Masking: true\r\n");
    ck_assert(count(p, "Nats-No-Masking: true\r\n") == 1);
    ck_assert(lx_ws_wait(&x, p, "INFO {", 1, SEC));
    lx_ws_send(p, "CONNECT {\"name\":\"peer\",\"server_id\":\"NPEER\",\"headers\":true}\r\n"
               "PING\r\n", false);
    ck_assert(lx_ws_wait(&x, p, "PONG\r\n", 1, SEC));
    ck_assert_uint_eq(lx_leafs(hub->srv), 1);
    ck_assert_ptr_nonnull(strstr(mr_leaf_first(hub->srv)->remote_name, "peer"));
    /* A masked frame is still read (nats-server unmasks what comes masked). */
    lx_ws_send(p, "LS+ from.peer\r\nPING\r\n", true);
    ck_assert(lx_ws_wait(&x, p, "PONG\r\n", 2, SEC));
    ck_assert_ptr_nonnull(lx_lsub(hub->srv, "from.peer"));
    sim_client_close(p);
    lx_finish(&x);
}
END_TEST

START_TEST(leaf_upgrade_without_leafnodes_port_is_dropped)
{
    struct lx x;
    lx_init(&x, 16);
    struct lx_node *hub = lx_add(&x, "hub", "port: 4222\nwebsocket { port: 8080, no_tls: true }\n");
    struct sim_client *p = lx_ws_open(&x, "peer", hub, 8080, "/leafnode", "");
    ck_assert(sim_client_wait_closed(p, lx_after(&x, SEC)));
    ck_assert_uint_eq(count(p, "HTTP/1.1 101 "), 1);
    char *text = lx_ws_text(p, NULL);
    ck_assert_str_eq(text, ""); /* no INFO, no close frame */
    g_free(text);
    ck_assert(lx_logged(hub, "Not configured to accept leaf node connections"));
    lx_finish(&x);
}
END_TEST

START_TEST(ws_leaf_without_credentials_binds_websocket_no_auth_user)
{
    struct lx x;
    lx_init(&x, 17);
    struct lx_node *hub = lx_add(&x, "hub", "port: 4222\n"
                                 "accounts { A: { users: [ { user: a, password: a } ] }\n"
                                 "  B: { users: [ { user: b, password: b } ] } }\n"
                                 "leafnodes { port: 7422 }\n"
                                 "websocket { port: 8080, no_tls: true, no_auth_user: b }\n");
    struct lx_node *spoke = lx_add(&x, "spoke", "port: 4222\n"
                                   "leafnodes { remotes: [ { url: \"ws://hub:8080\" } ] }\n");
    ck_assert(lx_wait_linked(&x, hub, spoke, 5 * SEC));
    ck_assert_str_eq(mr_leaf_first(hub->srv)->acc->name, "B");
    lx_finish(&x);
}
END_TEST

START_TEST(an_answer_that_is_not_an_upgrade_closes_and_retries)
{
    struct lx x;
    lx_init(&x, 19);
    struct lx_node *hub = lx_add(&x, "hub", "port: 4222\nleafnodes { port: 7422 }\n");
    /* The client port answers with INFO, not with HTTP. */
    struct lx_node *spoke = lx_add(&x, "spoke", "port: 4222\n"
                                   "leafnodes { remotes: [ { url: \"ws://hub:4222\" } ] }\n");
    sim_world_run_until(x.w, lx_after(&x, 3 * SEC));
    ck_assert(lx_logged(spoke, "Error soliciting websocket connection: malformed HTTP "
                              "response"));
    ck_assert_uint_eq(lx_leafs(spoke->srv), 0);
    ck_assert_uint_eq(lx_leafs(hub->srv), 0);
    /* Retried once a second (leafnodes.reconnect), each attempt refused the same way. */
    size_t len;
    const char *log = sim_host_log(spoke->host, &len);
    ck_assert_uint_ge(count_in((const uint8_t *)log, len, "Error soliciting websocket"), 2);
    lx_finish(&x);
}
END_TEST

START_TEST(mixed_ws_and_nats_urls_are_refused_at_start)
{
    struct lx x;
    lx_init(&x, 18);
    struct lx_node *n = lx_add_unbooted(&x, "spoke", "port: 4222\n"
                                        "leafnodes { remotes: [ { url: \"ws://hub:8080\" } ] }\n");
    /* The loader refuses the mix; options built another way meet the same check. */
    static char mixed0[] = "ws://hub:8080";
    static char mixed1[] = "nats://hub:7422";
    static char *mixed[] = {mixed0, mixed1};
    struct mr_conf_strings saved = n->cfg.leafnodes.remotes[0].urls;
    n->cfg.leafnodes.remotes[0].urls = (struct mr_conf_strings){mixed, 2};
    ck_assert_int_eq(lx_boot(&x, n), MR_E_INVAL);
    ck_assert(lx_logged(n, "cannot have a mix of websocket and non-websocket urls"));
    n->cfg.leafnodes.remotes[0].urls = saved;
    lx_finish(&x);
}
END_TEST

/* ---- deny_imports, deny_exports ---------------------------------------------------- */

#define DENY_SPOKE_CONF                                                                    \
    "port: 4222\nleafnodes { remotes: [ { url: \"nats://hub:7422\",\n"                     \
    "  deny_imports: [\"in.>\"], deny_exports: [\"out.>\"] } ] }\n"

START_TEST(deny_imports_are_not_told_and_the_hub_filters_them)
{
    struct lx x;
    lx_init(&x, 21);
    struct lx_node *hub = lx_add(&x, "hub", "port: 4222\nleafnodes { port: 7422 }\n");
    struct lx_node *spoke = lx_add(&x, "spoke", DENY_SPOKE_CONF);
    ck_assert(lx_wait_linked(&x, hub, spoke, 5 * SEC));
    /* The spoke's CONNECT told the hub what it will not import. */
    const struct mr_leaf *hl = mr_leaf_first(hub->srv);
    ck_assert_ptr_nonnull(hl->deny_pub);
    ck_assert_uint_eq(hl->deny_pub->len, 1);
    ck_assert_str_eq(g_ptr_array_index(hl->deny_pub, 0), "in.>");

    struct sim_client *sc = lx_client(&x, "sc", spoke, NULL);
    say(sc, "SUB in.x 1\r\nSUB in.> 2\r\nSUB > 3\r\n");
    lx_barrier(&x, sc);
    ck_assert(lx_wait_lsub(&x, hub->srv, ">", SEC));
    ck_assert_ptr_null(lx_lsub(hub->srv, "in.x"));
    ck_assert_ptr_null(lx_lsub(hub->srv, "in.>"));
    /* The wildcard interest was told; the hub still keeps in.* home. */
    struct sim_client *hc = lx_client(&x, "hc", hub, NULL);
    say(hc, "PUB in.x 6\r\ndenied\r\n");
    deliver_once(&x, hc, sc, "ok.x", "allowed");
    ck_assert_uint_eq(count(sc, "denied"), 0);
    ck_assert_uint_eq(count(sc, "MSG ok.x 3"), 1);
    /* Inside the spoke, in.x flows. */
    struct sim_client *sp = lx_client(&x, "sp", spoke, NULL);
    deliver_once(&x, sp, sc, "in.x", "local");
    sim_client_close(sc);
    sim_client_close(hc);
    sim_client_close(sp);
    lx_finish(&x);
}
END_TEST

START_TEST(deny_exports_ignore_the_hubs_interest_and_filter_messages)
{
    struct lx x;
    lx_init(&x, 22);
    struct lx_node *hub = lx_add(&x, "hub", "port: 4222\nleafnodes { port: 7422 }\n");
    struct lx_node *spoke = lx_add(&x, "spoke", DENY_SPOKE_CONF);
    ck_assert(lx_wait_linked(&x, hub, spoke, 5 * SEC));
    struct sim_client *hc = lx_client(&x, "hc", hub, NULL);
    say(hc, "SUB out.x 1\r\nSUB > 2\r\n");
    lx_barrier(&x, hc);
    ck_assert(lx_wait_lsub(&x, spoke->srv, ">", SEC));
    ck_assert_ptr_null(lx_lsub(spoke->srv, "out.x")); /* a literal denied export: ignored */
    struct sim_client *sc = lx_client(&x, "sc", spoke, NULL);
    say(sc, "PUB out.y 6\r\ndenied\r\n");
    deliver_once(&x, sc, hc, "fine", "allowed");
    ck_assert_uint_eq(count(hc, "denied"), 0);
    ck_assert_uint_eq(count(hc, "MSG fine 2"), 1);
    sim_client_close(sc);
    sim_client_close(hc);
    lx_finish(&x);
}
END_TEST

START_TEST(hub_closes_a_spoke_that_asks_for_its_denied_imports)
{
    struct lx x;
    lx_init(&x, 23);
    struct lx_node *hub = lx_add(&x, "hub", "port: 4222\nleafnodes { port: 7422 }\n");
    struct sim_client *p = sim_client_create(x.w, "peer", "hub", 7422);
    ck_assert(sim_client_wait_for(p, "}\r\n", lx_after(&x, SEC)));
    say(p, "CONNECT {\"name\":\"peer\",\"server_id\":\"NPEER\",\"deny_pub\":[\"x.>\"]}\r\n"
           "LS+ x.>\r\nPING\r\n");
    ck_assert(sim_client_wait_for(p, "PONG\r\n", lx_after(&x, SEC)));
    /* A wildcard is let in (messages are filtered), a literal denied subject is not. */
    ck_assert_ptr_nonnull(lx_lsub(hub->srv, "x.>"));
    say(p, "LS+ x.y\r\n");
    ck_assert(sim_client_wait_closed(p, lx_after(&x, SEC)));
    ck_assert_uint_eq(count(p, "-ERR 'Permissions Violation for Subscription to \"x.y\"'\r\n"),
                      1);
    ck_assert(lx_logged(hub, "Check other side configuration"));
    lx_finish(&x);
}
END_TEST

/* ---- credentials: a spoke's user JWT, which a Meridian hub cannot verify ---------- */

/* A .creds file whose JWT has the right shape (claims of type user) and a user seed. */
static const char spoke_creds[] =
    "-----BEGIN NATS USER JWT-----\n"
    "eyJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJuYXRzIjp7InR5cGUiOiJ1c2VyIn19.c2ln\n"
    "------END NATS USER JWT------\n\n"
    "-----BEGIN USER NKEY SEED-----\n"
    "SUAJBQ6D4IUWL43Q4AKB6NVFNRWYIGHST5VWZPN6EKNJ52SDZD3U6FEWU4\n"
    "------END USER NKEY SEED------\n";

static int creds_read(void *ctx, const char *path, char **data, size_t *len, char *err,
                      size_t err_len)
{
    (void)ctx;
    (void)err;
    (void)err_len;
    ck_assert_str_eq(path, "u.creds");
    *data = strdup(spoke_creds);
    *len = strlen(spoke_creds);
    return 0;
}

static size_t log_count(const struct lx_node *n, const char *needle)
{
    size_t len;
    const char *log = sim_host_log(n->host, &len);
    return count_in((const uint8_t *)log, len, needle);
}

struct log_reaches {
    const struct lx_node *n;
    const char *needle;
    size_t want;
};

static bool log_reaches_pred(void *ctx)
{
    const struct log_reaches *k = ctx;
    return log_count(k->n, k->needle) >= k->want;
}

/* Hub configs that accept a leaf CONNECT without credentials: none refuses for lack of a
 * user, so a refusal can only come from the JWT or nkey the CONNECT carries. */
static const char *const open_hubs[] = {
    "port: 4222\nleafnodes { port: 7422 }\n",
    "port: 4222\naccounts { A: { users: [ { user: a, password: a } ] } }\nno_auth_user: a\n"
    "leafnodes { port: 7422 }\n",
};

/* A raw peer on the hub's leafnodes port sends connect_json; returns the peer. */
static struct sim_client *raw_leaf_connect(struct lx *x, const char *connect_json)
{
    struct sim_client *p = sim_client_create(x->w, "peer", "hub", 7422);
    ck_assert(sim_client_wait_for(p, "}\r\n", lx_after(x, SEC)));
    char *line = g_strdup_printf("CONNECT %s\r\nPING\r\n", connect_json);
    say(p, line);
    g_free(line);
    return p;
}

START_TEST(hub_refuses_a_connect_with_a_jwt_or_nkey_not_binding_it)
{
    static const struct {
        const char *auth;
        const char *why;
    } cases[] = {
        {",\"jwt\":\"eyJh.eyJu.c2ln\",\"sig\":\"c2ln\"", "user JWT authentication"},
        {",\"nkey\":\"UDD4KCUMQPTTMCNTURA4H3RPILH3HNPAC25ONHTBH4J4NKFQ6SZMAHSB\",\"sig\":\"c2ln\"",
         "nkey authentication"},
        /* A known user does not make a JWT acceptable. */
        {",\"user\":\"a\",\"pass\":\"a\",\"jwt\":\"eyJh.eyJu.c2ln\",\"sig\":\"c2ln\"",
         "user JWT authentication"},
    };
    for (size_t h = 0; h < G_N_ELEMENTS(open_hubs); h++) {
        for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
            struct lx x;
            lx_init(&x, 30 + h * 10 + i);
            struct lx_node *hub = lx_add(&x, "hub", open_hubs[h]);
            char *json = g_strdup_printf("{\"name\":\"peer\",\"server_id\":\"NPEER\"%s}",
                                         cases[i].auth);
            struct sim_client *p = raw_leaf_connect(&x, json);
            g_free(json);
            ck_assert_msg(sim_client_wait_closed(p, lx_after(&x, SEC)), "hub %zu case %zu", h, i);
            ck_assert_uint_eq(count(p, "-ERR 'Authorization Violation'\r\n"), 1);
            ck_assert_uint_eq(count(p, "PONG"), 0);
            ck_assert_uint_eq(lx_leafs(hub->srv), 0);
            ck_assert(lx_logged(hub, cases[i].why));
            lx_finish(&x);
        }
    }
}
END_TEST

START_TEST(hub_binds_the_same_connect_without_jwt)
{
    /* The control for the test above: without jwt/nkey these hubs take the leaf. */
    for (size_t h = 0; h < G_N_ELEMENTS(open_hubs); h++) {
        struct lx x;
        lx_init(&x, 50 + h);
        struct lx_node *hub = lx_add(&x, "hub", open_hubs[h]);
        struct sim_client *p = raw_leaf_connect(&x, "{\"name\":\"peer\",\"server_id\":\"NPEER\"}");
        ck_assert(sim_client_wait_for(p, "PONG\r\n", lx_after(&x, SEC)));
        ck_assert_uint_eq(lx_leafs(hub->srv), 1);
        ck_assert_str_eq(mr_leaf_first(hub->srv)->acc->name, h == 0 ? "$G" : "A");
        sim_client_close(p);
        lx_finish(&x);
    }
}
END_TEST

START_TEST(spoke_with_creds_is_refused_by_a_meridian_hub_and_keeps_retrying)
{
    struct lx x;
    lx_init(&x, 60);
    struct lx_node *hub = lx_add(&x, "hub", open_hubs[0]);
    struct lx_node *spoke = lx_add_unbooted(
        &x, "spoke",
        "port: 4222\nleafnodes { remotes: [ { url: \"nats://hub:7422\", credentials: "
        "\"u.creds\" } ] }\n");
    const struct mr_conf_io io = {NULL, creds_read, NULL};
    char err[MR_CONF_MSG_MAX] = "";
    ck_assert_int_eq(mr_conf_server_load_files(&spoke->cfg, &io, err, sizeof(err)), 0);
    ck_assert_int_eq(lx_boot(&x, spoke), 0);
    /* Refused once per attempt; the spoke logs the hub's error and tries again. */
    struct log_reaches k = {spoke, "sent -ERR 'Authorization Violation'", 3};
    ck_assert_msg(sim_world_run_until_pred(x.w, log_reaches_pred, &k, lx_after(&x, 10 * SEC)),
                  "spoke log: %.2000s", sim_host_log(spoke->host, &(size_t){0}));
    ck_assert_uint_ge(log_count(hub, "user JWT authentication is not supported"), 3);
    ck_assert_uint_eq(lx_leafs(hub->srv), 0);
    lx_finish(&x);
}
END_TEST

static Suite *leaf_suite(void)
{
    Suite *s = suite_create("leaf");
    TCase *tc = tcase_create("websocket");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, ws_remote_links_and_carries_both_ways);
    tcase_add_test(tc, ws_queue_group_across_the_link_gets_each_message_once);
    tcase_add_test(tc, wss_remote_does_tls_then_the_upgrade);
    tcase_add_test(tc, ws_compression_link_carries_both_ways);
    tcase_add_test(tc, raw_leaf_upgrade_gets_info_in_a_frame_and_needs_masking);
    tcase_add_test(tc, raw_leaf_with_no_masking_registers_with_unmasked_frames);
    tcase_add_test(tc, leaf_upgrade_without_leafnodes_port_is_dropped);
    tcase_add_test(tc, ws_leaf_without_credentials_binds_websocket_no_auth_user);
    tcase_add_test(tc, an_answer_that_is_not_an_upgrade_closes_and_retries);
    tcase_add_test(tc, mixed_ws_and_nats_urls_are_refused_at_start);
    suite_add_tcase(s, tc);
    tc = tcase_create("deny");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, deny_imports_are_not_told_and_the_hub_filters_them);
    tcase_add_test(tc, deny_exports_ignore_the_hubs_interest_and_filter_messages);
    tcase_add_test(tc, hub_closes_a_spoke_that_asks_for_its_denied_imports);
    suite_add_tcase(s, tc);
    tc = tcase_create("credentials");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, hub_refuses_a_connect_with_a_jwt_or_nkey_not_binding_it);
    tcase_add_test(tc, hub_binds_the_same_connect_without_jwt);
    tcase_add_test(tc, spoke_with_creds_is_refused_by_a_meridian_hub_and_keeps_retrying);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(leaf_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
