/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for gateways (core/server/gateway.c; shared reference protocol.md section 6) on
 * the sim env: one outbound and one inbound connection per cluster pair, implicit
 * gateways learned by gossip (inbound INFO command 1, and relayed over routes, byte
 * for byte), interest-only sending counted cluster-wide, the gateway protocol byte for
 * byte against a scripted peer (INFO at accept, queue RS+, INFO commands 2 and 3
 * around an account's RS+, RS+/RS- as interest changes, RMSG delivery, RS+ on an
 * inbound connection, the -ERR strings), name and port checks on the soliciting side,
 * gateway authorization and reject_unknown_cluster, queue groups served in the local
 * cluster first and then by RTT order, "_GR_." reply mapping winning the interest
 * propagation race, no forwarding from gateway to gateway, crashes, failover to
 * another server of a cluster, a long partition, and determinism. Virtual time makes
 * the 1 s solicit delay, the reconnects and the keepalives instant.
 *
 * Every test builds one world with nodes "n1", "n2", ... (fixture_gateway.h; clusters
 * named "A", "B", ...; mr_server_check runs after every event delivered to a node) and
 * ends with gx_finish: shutdown, every connection closed, counters at zero,
 * mr_server_destroy asserting no byte is still allocated.
 */
#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/server/gateway.h"
#include "core/server/server.h"
#include "sim/sim_env.h"

#include "tests/unit/fixture_gateway.h"

#define PUB_HELLO "PUB foo 5\r\nhello\r\n"
#define AB "A=n1;B=n2"
#define ABC "A=n1;B=n2;C=n3"

/* Runs long enough for anything in flight to land (links are at most 20 ms here). */
static void settle(struct gx *gx)
{
    sim_world_run_until(gx->x.w, cx_after(&gx->x, 200 * MS));
}

struct wait_count {
    struct sim_client **cs;
    size_t n;
    const char *needle;
    size_t total;
};

static bool wait_count_pred(void *ctx)
{
    const struct wait_count *wc = ctx;
    size_t t = 0;
    for (size_t i = 0; i < wc->n; i++) {
        t += count(wc->cs[i], wc->needle);
    }
    return t >= wc->total;
}

/* Runs until the clients together have received needle total times (or within). */
static bool wait_total(struct gx *gx, struct sim_client **cs, size_t n, const char *needle,
                       size_t total, uint64_t within)
{
    struct wait_count wc = {cs, n, needle, total};
    return sim_world_run_until_pred(gx->x.w, wait_count_pred, &wc, cx_after(&gx->x, within));
}

static void publish_n(struct sim_client *pub, int n)
{
    GString *batch = g_string_new(NULL);
    for (int i = 0; i < n; i++) {
        g_string_append(batch, PUB_HELLO);
    }
    say(pub, batch->str);
    g_string_free(batch, TRUE);
}

/* The received bytes without the server's keepalive PINGs (g_free it). */
static char *received_no_pings(const struct sim_client *c)
{
    char *got = received_str(c);
    char *w = got;
    for (const char *r = got; *r != '\0';) {
        if (strncmp(r, "PING\r\n", 6) == 0 && (r == got || r[-1] == '\n')) {
            r += 6;
            continue;
        }
        *w++ = *r++;
    }
    *w = '\0';
    return got;
}

static void assert_received_no_pings(const struct sim_client *c, const char *want)
{
    char *got = received_no_pings(c);
    ck_assert_str_eq(got, want);
    g_free(got);
}

/* ---- formation ---------------------------------------------------------------------- */

START_TEST(two_clusters_get_one_outbound_and_one_inbound_each)
{
    struct gx gx;
    gx_init(&gx, 1);
    struct cx_node *a = gx_add(&gx, "A", "", AB);
    struct cx_node *b = gx_add(&gx, "B", "", AB);
    sim_world_run_until(gx.x.w, cx_after(&gx.x, 2500 * MS));
    const struct mr_gateways *ga = &a->srv->gw;
    const struct mr_gateways *gb = &b->srv->gw;
    ck_assert_uint_eq(ga->out_count, 1);
    ck_assert_uint_eq(ga->in_count, 1);
    ck_assert_uint_eq(gb->out_count, 1);
    ck_assert_uint_eq(gb->in_count, 1);
    ck_assert_str_eq(ga->out_head->name, "B");
    ck_assert_str_eq(gb->out_head->name, "A");
    ck_assert_str_eq(ga->in_head->name, "B");
    ck_assert_str_eq(gb->in_head->name, "A");
    ck_assert_str_eq(ga->out_head->remote_id, mr_server_id(b->srv));
    ck_assert_str_eq(gb->out_head->remote_id, mr_server_id(a->srv));
    ck_assert(ga->out_head->iom);
    ck_assert(!ga->out_head->old_prefix);
    /* Stable: no duplicates or flapping afterwards. */
    uint64_t gid = ga->out_head->gid;
    sim_world_run_until(gx.x.w, cx_after(&gx.x, 20 * SEC));
    ck_assert_uint_eq(ga->out_count, 1);
    ck_assert_uint_eq(ga->in_count, 1);
    ck_assert_uint_eq(gb->out_count, 1);
    ck_assert_uint_eq(gb->in_count, 1);
    ck_assert_uint_eq(ga->out_head->gid, gid);
    gx_finish(&gx);
}
END_TEST

/* A's servers list only A and B; C is learned by gossip: from B's inbound INFO
 * command 1, from C's own inbound connection, and relayed over A's route. */
START_TEST(gossip_completes_a_three_cluster_mesh)
{
    struct gx gx;
    gx_init(&gx, 2);
    struct cx_node *a1 = gx_add(&gx, "A", "n2", "A=n1,n2;B=n3");
    struct cx_node *a2 = gx_add(&gx, "A", "", "A=n1,n2;B=n3");
    struct cx_node *b = gx_add(&gx, "B", "", "A=n1,n2;B=n3;C=n4");
    struct cx_node *c = gx_add(&gx, "C", "", "A=n1,n2;B=n3;C=n4");
    ck_assert(cx_wait_mesh(&gx.x, 1, 2 * SEC) || cx_routes(a1->srv) == 1);
    ck_assert(gx_wait_full(&gx, 6 * SEC));
    sim_world_run_until(gx.x.w, cx_after(&gx.x, 5 * SEC));
    ck_assert(gx_full_pred(&gx));
    ck_assert_uint_eq(cx_routes(a1->srv), 1);
    ck_assert_uint_eq(cx_routes(a2->srv), 1);
    struct cx_node *ns[4] = {a1, a2, b, c};
    uint32_t out = 0;
    uint32_t in = 0;
    for (size_t i = 0; i < 4; i++) {
        ck_assert_uint_eq(ns[i]->srv->gw.out_count, 2);
        out += ns[i]->srv->gw.out_count;
        in += ns[i]->srv->gw.in_count;
    }
    ck_assert_uint_eq(out, 2 * 2 + 1 * 2 + 1 * 2);
    ck_assert_uint_eq(in, out);
    /* Each of A's servers has an outbound to B and C; B and C each take one inbound
     * per server of every other cluster. */
    ck_assert_uint_eq(gx_in_from(b->srv, "A"), 2);
    ck_assert_uint_eq(gx_in_from(b->srv, "C"), 1);
    ck_assert_uint_eq(gx_in_from(c->srv, "A"), 2);
    ck_assert_uint_eq(gx_in_from(c->srv, "B"), 1);
    ck_assert_uint_eq(gx_in_from(a1->srv, "B") + gx_in_from(a2->srv, "B"), 1);
    ck_assert_uint_eq(gx_in_from(a1->srv, "C") + gx_in_from(a2->srv, "C"), 1);
    /* C was never configured on A: learned, so implicit. */
    ck_assert(gx_out_to(a1->srv, "C")->remote->implicit);
    ck_assert(gx_out_to(a2->srv, "C")->remote->implicit);
    ck_assert(!gx_out_to(a1->srv, "B")->remote->implicit);
    gx_finish(&gx);
}
END_TEST

/* ---- interest-only ------------------------------------------------------------------ */

START_TEST(only_subjects_with_remote_interest_cross)
{
    struct gx gx;
    gx_init(&gx, 3);
    struct cx_node *a = gx_add(&gx, "A", "", AB);
    struct cx_node *b = gx_add(&gx, "B", "", AB);
    ck_assert(gx_wait_full(&gx, 3 * SEC));
    struct sim_client *sub = cx_client(&gx.x, "sub", b);
    struct sim_client *pub = cx_client(&gx.x, "pub", a);
    say(sub, "SUB foo 1\r\nSUB baz 2\r\n");
    cx_barrier(&gx.x, sub);
    sim_client_clear(sub);
    ck_assert(gx_wait_rsubs(&gx, a, "B", 2));
    const struct mr_gw_conn *ab = gx_out_to(a->srv, "B");
    ck_assert_uint_eq(ab->conn->out_msgs, 0);
    say(pub, "PUB bar 5\r\nworld\r\n" PUB_HELLO "PUB bar 5\r\nworld\r\n");
    cx_barrier(&gx.x, pub);
    ck_assert(sim_client_wait_for(sub, "hello\r\n", cx_after(&gx.x, SEC)));
    settle(&gx);
    assert_received(sub, "MSG foo 1 5\r\nhello\r\n");
    ck_assert_uint_eq(ab->conn->out_msgs, 1);
    sim_client_clear(sub);

    /* UNSUB takes the interest off A's outbound connection: foo stops crossing. */
    say(sub, "UNSUB 1\r\n");
    cx_barrier(&gx.x, sub);
    sim_client_clear(sub);
    ck_assert(gx_wait_rsubs(&gx, a, "B", 1));
    say(pub, PUB_HELLO PUB_HELLO);
    cx_barrier(&gx.x, pub);
    settle(&gx);
    cx_barrier(&gx.x, sub);
    assert_received(sub, "PONG\r\n");
    ck_assert_uint_eq(ab->conn->out_msgs, 1);
    gx_finish(&gx);
}
END_TEST

/* ---- protocol against a scripted peer ---------------------------------------------- */

#define GX_PEER_ID "NXPEERXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"

/* The decoded gateway_cmd_payload of the INFO line with gateway_cmd `cmd` in text. */
static char *cmd_payload(const char *text, int cmd)
{
    char needle[64];
    snprintf(needle, sizeof(needle), "\"gateway_cmd\":%d,\"gateway_cmd_payload\":\"", cmd);
    const char *p = strstr(text, needle);
    ck_assert_ptr_nonnull(p);
    p += strlen(needle);
    const char *end = strchr(p, '"');
    ck_assert_ptr_nonnull(end);
    char *b64 = g_strndup(p, (gsize)(end - p));
    gsize len = 0;
    guchar *raw = g_base64_decode(b64, &len);
    g_free(b64);
    char *out = g_strndup((const char *)raw, len);
    g_free(raw);
    return out;
}

START_TEST(scripted_peer_sees_exact_gateway_protocol)
{
    struct gx gx;
    gx_init(&gx, 4);
    struct cx_node *a = gx_add(&gx, "A", "", "A=n1");
    struct sim_client *c1 = cx_client(&gx.x, "c1", a);
    say(c1, "SUB foo 2\r\nSUB qs grp 1\r\n");
    cx_barrier(&gx.x, c1);
    sim_client_clear(c1);

    /* A's INFO at accept. */
    struct sim_client *p = sim_client_create(gx.x.w, "px", a->name, GX_GATEWAY_PORT);
    ck_assert(sim_client_wait_for(p, "}\r\n", cx_after(&gx.x, SEC)));
    char *info = received_str(p);
    ck_assert_msg(g_str_has_prefix(info, "INFO {\"server_id\":\""), "%s", info);
    ck_assert_uint_eq(count(p, "\r\n"), 1);
    ck_assert_ptr_nonnull(strstr(info, "\"gateway\":\"A\",\"gateway_urls\":[\"n1:7222\"],"
                                       "\"gateway_url\":\"n1:7222\",\"gateway_nrp\":true,"
                                       "\"gateway_iom\":true"));
    ck_assert_ptr_nonnull(strstr(info, mr_server_id(a->srv)));
    g_free(info);
    sim_client_clear(p);

    /* The soliciting side's CONNECT and INFO: A registers the inbound connection and
     * sends its queue interest, then the account's interest-only switch. */
    say(p, "CONNECT {\"echo\":false,\"verbose\":false,\"pedantic\":false,"
           "\"tls_required\":false,\"headers\":false,\"name\":\"" GX_PEER_ID "\","
           "\"cluster\":\"\",\"gateway\":\"X\"}\r\n"
           "INFO {\"server_id\":\"" GX_PEER_ID "\",\"server_name\":\"px\","
           "\"version\":\"2.9.0\",\"proto\":1,\"host\":\"0.0.0.0\",\"port\":7222,"
           "\"headers\":true,\"max_payload\":1048576,\"gateway\":\"X\","
           "\"gateway_nrp\":true,\"gateway_iom\":true}\r\n");
    cx_barrier(&gx.x, p);
    ck_assert_uint_eq(a->srv->gw.in_count, 1);
    ck_assert_str_eq(a->srv->gw.in_head->name, "X");
    ck_assert_str_eq(a->srv->gw.in_head->remote_id, GX_PEER_ID);
    char *got = received_no_pings(p);
    char *acc2 = cmd_payload(got, 2);
    char *acc3 = cmd_payload(got, 3);
    ck_assert_str_eq(acc2, "$G");
    ck_assert_str_eq(acc3, "$G");
    g_free(acc2);
    g_free(acc3);
    /* Every account is switched, the system account too (it has no interest). */
    const char *id = mr_server_id(a->srv);
    gchar *b64 = g_base64_encode((const guchar *)"$G", 2);
    gchar *sys = g_base64_encode((const guchar *)"$SYS", 4);
    char *want = g_strdup_printf(
        "RS+ $G qs grp 1\r\n"
        "INFO {\"server_id\":\"%s\",\"gateway\":\"A\",\"gateway_cmd\":2,"
        "\"gateway_cmd_payload\":\"%s\"}\r\n"
        "RS+ $G foo\r\n"
        "INFO {\"server_id\":\"%s\",\"gateway\":\"A\",\"gateway_cmd\":3,"
        "\"gateway_cmd_payload\":\"%s\"}\r\n"
        "INFO {\"server_id\":\"%s\",\"gateway\":\"A\",\"gateway_cmd\":2,"
        "\"gateway_cmd_payload\":\"%s\"}\r\n"
        "INFO {\"server_id\":\"%s\",\"gateway\":\"A\",\"gateway_cmd\":3,"
        "\"gateway_cmd_payload\":\"%s\"}\r\n"
        "PONG\r\n",
        id, b64, id, b64, id, sys, id, sys);
    ck_assert_str_eq(got, want);
    g_free(want);
    g_free(sys);
    g_free(b64);
    g_free(got);
    sim_client_clear(p);

    /* Interest as it comes and goes; a second member of a group is no news. */
    struct sim_client *c2 = cx_client(&gx.x, "c2", a);
    say(c2, "SUB bar 1\r\nSUB qs grp 2\r\nSUB foo 3\r\n");
    cx_barrier(&gx.x, c2);
    cx_barrier(&gx.x, p);
    assert_received_no_pings(p, "RS+ $G bar\r\nPONG\r\n");
    sim_client_clear(p);
    say(c2, "UNSUB 1\r\nUNSUB 2\r\nUNSUB 3\r\n");
    cx_barrier(&gx.x, c2);
    cx_barrier(&gx.x, p);
    assert_received_no_pings(p, "RS- $G bar\r\nPONG\r\n");
    sim_client_clear(p);
    say(c1, "UNSUB 1\r\n");
    cx_barrier(&gx.x, c1);
    cx_barrier(&gx.x, p);
    assert_received_no_pings(p, "RS- $G qs grp\r\nPONG\r\n");
    sim_client_clear(p);
    sim_client_clear(c1);

    /* A message from the gateway reaches the local subscriber once, and is not sent
     * back to the gateway it came from. */
    say(p, "RMSG $G foo 5\r\nhello\r\nRMSG $G foo reply.x 5\r\nworld\r\n");
    cx_barrier(&gx.x, p);
    cx_barrier(&gx.x, c1);
    assert_received(c1, "MSG foo 2 5\r\nhello\r\nMSG foo 2 reply.x 5\r\nworld\r\nPONG\r\n");
    assert_received_no_pings(p, "PONG\r\n");
    ck_assert_uint_eq(a->srv->gw.in_head->conn->in_msgs, 2);

    /* RS+ belongs on outbound connections only: on this inbound one it closes it. */
    say(p, "RS+ $G zzz\r\n");
    ck_assert(sim_client_wait_closed(p, cx_after(&gx.x, SEC)));
    settle(&gx);
    ck_assert_uint_eq(a->srv->gw.in_count, 0);

    /* A client on the gateway port. */
    struct sim_client *cl = sim_client_create(gx.x.w, "cl", a->name, GX_GATEWAY_PORT);
    ck_assert(sim_client_wait_for(cl, "}\r\n", cx_after(&gx.x, SEC)));
    sim_client_clear(cl);
    say(cl, "CONNECT {\"verbose\":false,\"pedantic\":false,\"lang\":\"go\","
            "\"version\":\"1.0\"}\r\n");
    ck_assert(sim_client_wait_closed(cl, cx_after(&gx.x, SEC)));
    assert_received(cl, "-ERR 'attempted to connect to gateway port'\r\n");
    ck_assert_uint_eq(a->srv->gw.in_count, 0);
    gx_finish(&gx);
}
END_TEST

/* The soliciting side checks the gateway name of the INFO it gets. */
START_TEST(solicitor_rejects_wrong_name_and_wrong_port)
{
    struct gx gx;
    gx_init(&gx, 5);
    /* A expects B at n2, but n2 is cluster C. */
    struct cx_node *a = gx_add(&gx, "A", "", "A=n1;B=n2");
    struct cx_node *c = gx_add(&gx, "C", "", "C=n2");
    sim_world_run_until(gx.x.w, cx_after(&gx.x, 3 * SEC));
    ck_assert_uint_eq(a->srv->gw.out_count, 0);
    ck_assert_uint_eq(c->srv->gw.in_count, 0);
    /* The -ERR with 'Connection from "A" rejected, wanted to connect to "B", this is
     * "C"' goes to C before any CONNECT, which C (as nats-server) answers with an
     * authorization violation; A logs the refusal. */
    size_t len = 0;
    const char *log = sim_host_log(a->host, &len);
    char *text = g_strndup(log, len);
    ck_assert_msg(strstr(text, "Failing connection to gateway B: remote is C") != NULL,
                  "n1 log: %s", text);
    g_free(text);
    gx_finish(&gx);

    /* A expects B at n2's client port: the client INFO has no gateway name. */
    gx_init_logging(&gx, 6, MR_LOG_TRACE);
    a = gx_add_unbooted(&gx, "A", "", "A=n1;B=n2:4222");
    a->opts.debug = true;
    a->opts.trace = true;
    cx_boot(&gx.x, a);
    struct cx_node *b = gx_add_unbooted(&gx, "B", "", "B=n2");
    b->opts.trace = true;
    cx_boot(&gx.x, b);
    sim_world_run_until(gx.x.w, cx_after(&gx.x, 3 * SEC));
    ck_assert_uint_eq(a->srv->gw.out_count, 0);
    ck_assert_uint_eq(b->srv->gw.in_count, 0);
    /* The -ERR text goes to n2's client port, whose trace does not show it; what can
     * be seen is that one arrived per attempt and that A closed for that reason. */
    log = sim_host_log(b->host, &len);
    ck_assert_uint_ge(count_in((const uint8_t *)log, len, "<<- [-ERR]"), 2);
    log = sim_host_log(a->host, &len);
    text = g_strndup(log, len);
    ck_assert_msg(count_in((const uint8_t *)log, len, "closed: Wrong Port") >= 2, "n1 log: %s",
                  text);
    g_free(text);
    gx_finish(&gx);
}
END_TEST

static char gw_user[] = "gwu";
static char gw_pass[] = "gwp";

/* gateway { authorization {} }: servers with the same credentials connect (a remote URL
 * without credentials uses the gateway's own), others are refused. */
START_TEST(gateway_authorization_is_checked_on_connect)
{
    struct gx gx;
    gx_init(&gx, 17);
    struct cx_node *a = gx_add_unbooted(&gx, "A", "", AB);
    struct cx_node *b = gx_add_unbooted(&gx, "B", "", AB);
    for (size_t i = 0; i < 2; i++) {
        gx.g[i].gw.auth.user = gw_user;
        gx.g[i].gw.auth.password = gw_pass;
    }
    cx_boot(&gx.x, a);
    cx_boot(&gx.x, b);
    struct cx_node *c = gx_add(&gx, "C", "", "A=n1;C=n3");
    sim_world_run_until(gx.x.w, cx_after(&gx.x, 4 * SEC));
    ck_assert_ptr_nonnull(gx_out_to(a->srv, "B"));
    ck_assert_ptr_nonnull(gx_out_to(b->srv, "A"));
    ck_assert_uint_eq(gx_in_from(a->srv, "C"), 0);
    ck_assert_ptr_null(gx_out_to(c->srv, "A"));
    ck_assert_ptr_null(gx_out_to(a->srv, "C"));

    struct sim_client *p = sim_client_create(gx.x.w, "px", a->name, GX_GATEWAY_PORT);
    ck_assert(sim_client_wait_for(p, "}\r\n", cx_after(&gx.x, SEC)));
    ck_assert_uint_eq(count(p, "\"auth_required\":true"), 1);
    sim_client_clear(p);
    say(p, "CONNECT {\"user\":\"gwu\",\"pass\":\"bad\",\"gateway\":\"X\"}\r\n");
    ck_assert(sim_client_wait_closed(p, cx_after(&gx.x, SEC)));
    assert_received(p, "-ERR 'Authorization Violation'\r\n");
    gx_finish(&gx);
}
END_TEST

/* reject_unknown_cluster: a cluster that is not configured is refused, and not
 * learned either. */
START_TEST(reject_unknown_cluster_refuses_unlisted_gateways)
{
    struct gx gx;
    gx_init(&gx, 18);
    struct cx_node *a = gx_add_unbooted(&gx, "A", "", "A=n1;B=n2");
    gx.g[0].gw.reject_unknown_cluster = true;
    cx_boot(&gx.x, a);
    struct cx_node *b = gx_add(&gx, "B", "", "A=n1;B=n2");
    struct cx_node *c = gx_add(&gx, "C", "", "A=n1;C=n3");
    sim_world_run_until(gx.x.w, cx_after(&gx.x, 4 * SEC));
    ck_assert_ptr_nonnull(gx_out_to(a->srv, "B"));
    ck_assert_ptr_nonnull(gx_out_to(b->srv, "A"));
    ck_assert_uint_eq(gx_in_from(a->srv, "C"), 0);
    ck_assert_ptr_null(gx_out_to(a->srv, "C"));
    ck_assert_ptr_null(gx_out_to(c->srv, "A"));
    ck_assert_uint_eq(a->srv->gw.remotes->len, 1);
    size_t len = 0;
    const char *log = sim_host_log(c->host, &len);
    ck_assert_uint_ge(count_in((const uint8_t *)log, len, "rejected"), 1);
    gx_finish(&gx);
}
END_TEST

/* ---- queue groups ------------------------------------------------------------------ */

struct rtt_order {
    const struct mr_server *s;
    const char *first;
};

/* s has measured the RTT of every outbound connection and `first` is the lowest. */
static bool rtt_order_pred(void *ctx)
{
    const struct rtt_order *ro = ctx;
    const struct mr_gw_conn *h = ro->s->gw.out_head;
    if (h == NULL || strcmp(h->name, ro->first) != 0) {
        return false;
    }
    for (const struct mr_gw_conn *g = h; g != NULL; g = g->next) {
        if (g->conn->rtt_ns == 0) {
            return false;
        }
    }
    return true;
}

START_TEST(queue_group_prefers_local_then_lowest_rtt_cluster)
{
    enum { N = 30 };
    struct gx gx;
    gx_init(&gx, 7);
    struct sim_latency near = {.kind = SIM_LAT_FIXED, .base_ns = 1 * MS};
    struct sim_latency far = {.kind = SIM_LAT_FIXED, .base_ns = 10 * MS};
    sim_world_set_link(gx.x.w, "n1", "n3", &near, 0);
    sim_world_set_link(gx.x.w, "n1", "n2", &far, 0);
    struct cx_node *a = gx_add(&gx, "A", "", ABC);
    struct cx_node *b = gx_add(&gx, "B", "", ABC);
    struct cx_node *c = gx_add(&gx, "C", "", ABC);
    ck_assert(gx_wait_full(&gx, 3 * SEC));
    struct rtt_order ro = {a->srv, "C"};
    ck_assert(sim_world_run_until_pred(gx.x.w, rtt_order_pred, &ro, cx_after(&gx.x, 5 * SEC)));
    ck_assert_uint_lt(gx_out_to(a->srv, "C")->conn->rtt_ns,
                      gx_out_to(a->srv, "B")->conn->rtt_ns);

    struct sim_client *m[3];
    m[0] = cx_client(&gx.x, "qa", a);
    m[1] = cx_client(&gx.x, "qb", b);
    m[2] = cx_client(&gx.x, "qc", c);
    struct sim_client *pub = cx_client(&gx.x, "pub", a);
    say(m[0], "SUB foo q 1\r\n");
    say(m[1], "SUB foo q 1\r\n");
    cx_barrier(&gx.x, m[0]);
    cx_barrier(&gx.x, m[1]);
    ck_assert(gx_wait_rsubs(&gx, a, "B", 1));

    /* Members in A and B: A's member takes everything. */
    publish_n(pub, N);
    ck_assert(wait_total(&gx, m, 3, "MSG foo", N, 2 * SEC));
    settle(&gx);
    ck_assert_uint_eq(count(m[0], "MSG foo"), N);
    ck_assert_uint_eq(count(m[1], "MSG foo"), 0);
    ck_assert_uint_eq(gx_out_to(a->srv, "B")->conn->out_msgs, 0);

    /* A's member gone: everything to B. */
    say(m[0], "UNSUB 1\r\n");
    cx_barrier(&gx.x, m[0]);
    for (size_t i = 0; i < 3; i++) {
        sim_client_clear(m[i]);
    }
    publish_n(pub, N);
    ck_assert(wait_total(&gx, m, 3, "MSG foo", N, 2 * SEC));
    settle(&gx);
    ck_assert_uint_eq(count(m[1], "MSG foo"), N);
    ck_assert_uint_eq(count(m[0], "MSG foo") + count(m[2], "MSG foo"), 0);

    /* Members in B and C: C is nearer, so C gets everything. */
    say(m[2], "SUB foo q 1\r\n");
    cx_barrier(&gx.x, m[2]);
    ck_assert(gx_wait_rsubs(&gx, a, "C", 1));
    for (size_t i = 0; i < 3; i++) {
        sim_client_clear(m[i]);
    }
    publish_n(pub, N);
    ck_assert(wait_total(&gx, m, 3, "MSG foo", N, 2 * SEC));
    settle(&gx);
    ck_assert_uint_eq(count(m[2], "MSG foo"), N);
    ck_assert_uint_eq(count(m[0], "MSG foo") + count(m[1], "MSG foo"), 0);

    /* C's member gone: back to B. */
    say(m[2], "UNSUB 1\r\n");
    cx_barrier(&gx.x, m[2]);
    ck_assert(gx_wait_rsubs(&gx, a, "C", 0));
    for (size_t i = 0; i < 3; i++) {
        sim_client_clear(m[i]);
    }
    publish_n(pub, N);
    ck_assert(wait_total(&gx, m, 3, "MSG foo", N, 2 * SEC));
    settle(&gx);
    ck_assert_uint_eq(count(m[1], "MSG foo"), N);
    ck_assert_uint_eq(count(m[0], "MSG foo") + count(m[2], "MSG foo"), 0);
    /* B and C never passed A's messages on to each other. */
    ck_assert_uint_eq(gx_out_to(b->srv, "C")->conn->out_msgs, 0);
    ck_assert_uint_eq(gx_out_to(c->srv, "B")->conn->out_msgs, 0);
    gx_finish(&gx);
}
END_TEST

/* The publisher's server has no member but its cluster does (over a route): the group
 * is served in the cluster and does not cross. */
START_TEST(queue_group_served_over_a_route_does_not_cross)
{
    enum { N = 20 };
    struct gx gx;
    gx_init(&gx, 20);
    const char *gws = "A=n1,n2;B=n3";
    struct cx_node *a1 = gx_add(&gx, "A", "n2", gws);
    struct cx_node *a2 = gx_add(&gx, "A", "", gws);
    struct cx_node *b = gx_add(&gx, "B", "", gws);
    ck_assert(cx_wait_mesh(&gx.x, 1, 3 * SEC) || cx_routes(a1->srv) == 1);
    ck_assert(gx_wait_full(&gx, 5 * SEC));
    struct sim_client *m[2];
    m[0] = cx_client(&gx.x, "qa2", a2);
    m[1] = cx_client(&gx.x, "qb", b);
    say(m[0], "SUB foo q 1\r\n");
    say(m[1], "SUB foo q 1\r\n");
    cx_barrier(&gx.x, m[0]);
    cx_barrier(&gx.x, m[1]);
    ck_assert(gx_wait_rsubs(&gx, a1, "B", 1));
    settle(&gx); /* a2's member reaches a1 over the route */
    struct sim_client *pub = cx_client(&gx.x, "pub", a1);
    publish_n(pub, N);
    ck_assert(wait_total(&gx, m, 2, "MSG foo", N, 2 * SEC));
    settle(&gx);
    ck_assert_uint_eq(count(m[0], "MSG foo"), N);
    ck_assert_uint_eq(count(m[1], "MSG foo"), 0);
    ck_assert_uint_eq(gx_out_to(a1->srv, "B")->conn->out_msgs, 0);
    gx_finish(&gx);
}
END_TEST

#define GX_RPEER_ID "NRPEERXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"

/* A raw route peer of `cluster` on n's route port, registered; received bytes kept.
 * gateway_url, when not NULL, is announced in its route INFO. */
static struct sim_client *route_peer(struct gx *gx, const char *name, struct cx_node *n,
                                     const char *cluster, const char *gateway_url)
{
    struct sim_client *p = sim_client_create(gx->x.w, name, n->name, CX_ROUTE_PORT);
    ck_assert(sim_client_wait_for(p, "}\r\n", cx_after(&gx->x, SEC)));
    char *gu = gateway_url != NULL ? g_strdup_printf(",\"gateway_url\":\"%s\"", gateway_url)
                                   : g_strdup("");
    char *hello = g_strdup_printf(
        "CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,\"tls_required\":false,"
        "\"headers\":true,\"name\":\"%s%s\",\"cluster\":\"%s\",\"lnoc\":true}\r\n"
        "INFO {\"server_id\":\"%s%s\",\"server_name\":\"%s\",\"version\":\"2.9.0\","
        "\"proto\":1,\"host\":\"0.0.0.0\",\"port\":6222,\"headers\":true,"
        "\"max_payload\":1048576,\"cluster\":\"%s\",\"lnoc\":true%s}\r\n",
        GX_RPEER_ID, name, cluster, GX_RPEER_ID, name, name, cluster, gu);
    say(p, hello);
    g_free(hello);
    g_free(gu);
    cx_barrier(&gx->x, p);
    return p;
}

/* ---- reply mapping ------------------------------------------------------------------ */

/*
 * Cluster A is n1 and n2 with a slow route between them (50 ms); B (n3) is 5 ms from
 * both. The requester sits on the A server that B's outbound connection does not go
 * to, so its inbox interest reaches B only over the slow route and then the gateway:
 * the request arrives and is answered long before. The "_GR_." reply goes straight to
 * cluster A and, when needed, over the route to the requester's server.
 */
START_TEST(reply_beats_interest_propagation_through_gr_mapping)
{
    struct gx gx;
    gx_init(&gx, 8);
    struct sim_latency slow = {.kind = SIM_LAT_FIXED, .base_ns = 50 * MS};
    struct sim_latency fast = {.kind = SIM_LAT_FIXED, .base_ns = 5 * MS};
    sim_world_set_link(gx.x.w, "n1", "n2", &slow, 0);
    sim_world_set_link(gx.x.w, "n1", "n3", &fast, 0);
    sim_world_set_link(gx.x.w, "n2", "n3", &fast, 0);
    struct cx_node *a1 = gx_add(&gx, "A", "n2", "A=n1,n2;B=n3");
    struct cx_node *a2 = gx_add(&gx, "A", "", "A=n1,n2;B=n3");
    struct cx_node *b = gx_add(&gx, "B", "", "A=n1,n2;B=n3");
    ck_assert(cx_wait_mesh(&gx.x, 1, 3 * SEC) || cx_routes(a1->srv) == 1);
    ck_assert(gx_wait_full(&gx, 5 * SEC));
    sim_world_run_until(gx.x.w, cx_after(&gx.x, SEC));
    ck_assert_uint_eq(gx_in_from(a1->srv, "B") + gx_in_from(a2->srv, "B"), 1);
    struct cx_node *req_node = gx_in_from(a1->srv, "B") == 1 ? a2 : a1;

    struct sim_client *resp = cx_client(&gx.x, "resp", b);
    say(resp, "SUB svc 1\r\n");
    cx_barrier(&gx.x, resp);
    sim_client_clear(resp);
    ck_assert(gx_wait_rsubs(&gx, req_node, "B", 1));
    const struct mr_gw_conn *ba = gx_out_to(b->srv, "A");
    ck_assert_uint_eq(ba->rsubs, 0);
    /* A scripted route peer of cluster B shows the request as it travels in B. */
    struct sim_client *rp = route_peer(&gx, "rp", b, "B", NULL);
    say(rp, "RS+ $G svc\r\n");
    cx_barrier(&gx.x, rp);

    struct sim_client *req = cx_client(&gx.x, "req", req_node);
    say(req, "SUB _INBOX.r1 1\r\nPUB svc _INBOX.r1 4\r\nping\r\n");
    ck_assert(sim_client_wait_for(resp, "ping\r\n", cx_after(&gx.x, SEC)));
    /* B has not heard of the inbox yet. */
    ck_assert_uint_eq(ba->rsubs, 0);
    /* The responder sees the requester's own reply subject (protocol.md 6.7); the
     * copy that crossed carried it as "_GR_.<hash of A>.<hash of its server>.". */
    assert_received_no_pings(resp, "MSG svc 1 _INBOX.r1 4\r\nping\r\n");
    char ch[MR_GW_HASH_LEN + 1];
    char sh[MR_GW_HASH_LEN + 1];
    mr_gateway_hash("A", ch);
    mr_gateway_hash(mr_server_id(req_node->srv), sh);
    char *rmsg = g_strdup_printf("RMSG $G svc _GR_.%s.%s._INBOX.r1 4\r\nping\r\n", ch, sh);
    ck_assert(sim_client_wait_for(rp, "ping\r\n", cx_after(&gx.x, SEC)));
    ck_assert_uint_eq(count(rp, rmsg), 1);
    g_free(rmsg);
    ck_assert_uint_eq(gx_out_to(req_node->srv, "B")->conn->out_msgs, 1);
    uint64_t back = ba->conn->out_msgs;
    say(resp, "PUB _INBOX.r1 4\r\npong\r\n");
    ck_assert(sim_client_wait_for(req, "pong\r\n", cx_after(&gx.x, SEC)));
    settle(&gx);
    assert_received_no_pings(req, "MSG _INBOX.r1 1 4\r\npong\r\n");
    /* It went over B's outbound connection although B had no interest in it. */
    ck_assert_uint_eq(ba->conn->out_msgs, back + 1);
    gx_finish(&gx);
}
END_TEST

/* The responder sits behind a route in the remote cluster, on the server whose link
 * to A is slow: the request reaches it through B's other server and the route well
 * before A's interest in the inbox does, and its answer still goes straight back over
 * its own outbound connection. */
START_TEST(reply_from_behind_a_route_in_the_remote_cluster)
{
    struct gx gx;
    gx_init(&gx, 21);
    const char *gws = "A=n1;B=n2,n3";
    struct cx_node *a = gx_add(&gx, "A", "", gws);
    struct cx_node *b1 = gx_add(&gx, "B", "n3", gws);
    struct cx_node *b2 = gx_add(&gx, "B", "", gws);
    ck_assert(gx_wait_full(&gx, 5 * SEC));
    sim_world_run_until(gx.x.w, cx_after(&gx.x, SEC));
    const char *to = gx_out_to(a->srv, "B")->remote_id;
    struct cx_node *x = strcmp(to, mr_server_id(b1->srv)) == 0 ? b1 : b2;
    struct cx_node *y = x == b1 ? b2 : b1;
    struct sim_latency slow = {.kind = SIM_LAT_FIXED, .base_ns = 50 * MS};
    struct sim_latency fast = {.kind = SIM_LAT_FIXED, .base_ns = 5 * MS};
    sim_world_set_link(gx.x.w, a->name, y->name, &slow, 0);
    sim_world_set_link(gx.x.w, a->name, x->name, &fast, 0);
    sim_world_set_link(gx.x.w, x->name, y->name, &fast, 0);

    struct sim_client *resp = cx_client(&gx.x, "resp", y);
    say(resp, "SUB svc 1\r\n");
    cx_barrier(&gx.x, resp);
    sim_client_clear(resp);
    ck_assert(gx_wait_rsubs(&gx, a, "B", 1));
    const struct mr_gw_conn *ya = gx_out_to(y->srv, "A");
    ck_assert_uint_eq(ya->rsubs, 0);
    struct sim_client *req = cx_client(&gx.x, "req", a);
    say(req, "SUB _INBOX.r2 1\r\nPUB svc _INBOX.r2 4\r\nping\r\n");
    ck_assert(sim_client_wait_for(resp, "ping\r\n", cx_after(&gx.x, SEC)));
    ck_assert_uint_eq(ya->rsubs, 0);
    assert_received_no_pings(resp, "MSG svc 1 _INBOX.r2 4\r\nping\r\n");
    say(resp, "PUB _INBOX.r2 4\r\npong\r\n");
    ck_assert(sim_client_wait_for(req, "pong\r\n", cx_after(&gx.x, SEC)));
    settle(&gx);
    assert_received_no_pings(req, "MSG _INBOX.r2 1 4\r\npong\r\n");
    ck_assert_uint_eq(ya->conn->out_msgs, 1);
    gx_finish(&gx);
}
END_TEST

/* Without gateways "_GR_." is an ordinary subject: nats-server only treats it as a
 * routed reply when gateways are enabled (handleGatewayReply returns false otherwise),
 * so a local subscriber gets it. */
START_TEST(gr_subject_is_ordinary_without_gateways)
{
    struct gx gx;
    gx_init(&gx, 16);
    struct cx_node *n = cx_add(&gx.x, "", NULL);
    struct sim_client *c = cx_client(&gx.x, "c", n);
    say(c, "SUB _GR_.> 1\r\nPUB _GR_.abcdef.ghijkl.x 2\r\nhi\r\n");
    cx_barrier(&gx.x, c);
    assert_received(c, "MSG _GR_.abcdef.ghijkl.x 1 2\r\nhi\r\nPONG\r\n");
    gx_finish(&gx);
}
END_TEST

/* ---- no gateway-to-gateway forwarding ---------------------------------------------- */

START_TEST(gateway_message_is_never_forwarded_to_another_gateway)
{
    struct gx gx;
    gx_init(&gx, 9);
    struct cx_node *a = gx_add(&gx, "A", "", ABC);
    struct cx_node *b = gx_add(&gx, "B", "", ABC);
    struct cx_node *c = gx_add(&gx, "C", "", ABC);
    ck_assert(gx_wait_full(&gx, 3 * SEC));
    struct sim_client *sb = cx_client(&gx.x, "sb", b);
    struct sim_client *sc = cx_client(&gx.x, "sc", c);
    struct sim_client *pub = cx_client(&gx.x, "pub", a);
    say(sb, "SUB foo 1\r\n");
    say(sc, "SUB foo 1\r\n");
    cx_barrier(&gx.x, sb);
    cx_barrier(&gx.x, sc);
    sim_client_clear(sb);
    sim_client_clear(sc);
    /* Every cluster's outbound connections know of the other clusters' interest, so
     * B and C could pass the message on if they did so. */
    ck_assert(gx_wait_rsubs(&gx, a, "B", 1));
    ck_assert(gx_wait_rsubs(&gx, a, "C", 1));
    ck_assert(gx_wait_rsubs(&gx, b, "C", 1));
    ck_assert(gx_wait_rsubs(&gx, c, "B", 1));
    say(pub, PUB_HELLO);
    struct sim_client *both[2] = {sb, sc};
    ck_assert(wait_total(&gx, both, 2, "MSG foo", 2, SEC));
    settle(&gx);
    assert_received(sb, "MSG foo 1 5\r\nhello\r\n");
    assert_received(sc, "MSG foo 1 5\r\nhello\r\n");
    ck_assert_uint_eq(gx_out_to(a->srv, "B")->conn->out_msgs, 1);
    ck_assert_uint_eq(gx_out_to(a->srv, "C")->conn->out_msgs, 1);
    ck_assert_uint_eq(gx_out_to(b->srv, "C")->conn->out_msgs, 0);
    ck_assert_uint_eq(gx_out_to(c->srv, "B")->conn->out_msgs, 0);
    ck_assert_uint_eq(gx_out_to(b->srv, "A")->conn->out_msgs, 0);
    ck_assert_uint_eq(gx_out_to(c->srv, "A")->conn->out_msgs, 0);
    gx_finish(&gx);
}
END_TEST

/* ---- faults ------------------------------------------------------------------------ */

static bool pair_pred(void *ctx)
{
    const struct gx *gx = ctx;
    for (size_t i = 0; i < gx->x.count; i++) {
        const struct mr_server *s = gx->x.n[i].srv;
        if (s == NULL || s->gw.out_count != 1 || s->gw.in_count != 1) {
            return false;
        }
    }
    return true;
}

static bool a_alone_pred(void *ctx)
{
    const struct mr_server *s = ctx;
    return s->gw.out_count == 0 && s->gw.in_count == 0;
}

START_TEST(crashed_remote_reconnects_and_messages_flow_again)
{
    struct gx gx;
    gx_init(&gx, 10);
    struct cx_node *a = gx_add(&gx, "A", "", AB);
    struct cx_node *b = gx_add(&gx, "B", "", AB);
    ck_assert(sim_world_run_until_pred(gx.x.w, pair_pred, &gx, cx_after(&gx.x, 3 * SEC)));
    struct sim_client *sb = cx_client(&gx.x, "sb", b);
    struct sim_client *pub = cx_client(&gx.x, "pub", a);
    say(sb, "SUB foo 1\r\n");
    cx_barrier(&gx.x, sb);
    sim_client_clear(sb);
    ck_assert(gx_wait_rsubs(&gx, a, "B", 1));
    say(pub, PUB_HELLO);
    ck_assert(sim_client_wait_for(sb, "hello\r\n", cx_after(&gx.x, SEC)));

    cx_crash(&gx.x, b);
    ck_assert(sim_world_run_until_pred(gx.x.w, a_alone_pred, a->srv, cx_after(&gx.x, SEC)));
    /* While B is down A keeps retrying; publishes go nowhere. */
    say(pub, PUB_HELLO);
    cx_barrier(&gx.x, pub);
    sim_world_run_until(gx.x.w, cx_after(&gx.x, 5 * SEC));
    ck_assert_uint_eq(a->srv->gw.out_count, 0);
    ck_assert_uint_ge(a->srv->gw.remotes->len, 1);
    const struct mr_gw_remote *r = g_ptr_array_index(a->srv->gw.remotes, 0);
    ck_assert_str_eq(r->name, "B");
    ck_assert_uint_ge(r->attempts, 3);

    cx_restart(&gx.x, b);
    ck_assert(sim_world_run_until_pred(gx.x.w, pair_pred, &gx, cx_after(&gx.x, 3 * SEC)));
    ck_assert_str_eq(gx_out_to(a->srv, "B")->remote_id, mr_server_id(b->srv));
    struct sim_client *sb2 = cx_client(&gx.x, "sb2", b);
    say(sb2, "SUB foo 1\r\n");
    cx_barrier(&gx.x, sb2);
    sim_client_clear(sb2);
    ck_assert(gx_wait_rsubs(&gx, a, "B", 1));
    say(pub, PUB_HELLO);
    ck_assert(sim_client_wait_for(sb2, "hello\r\n", cx_after(&gx.x, SEC)));
    settle(&gx);
    assert_received(sb2, "MSG foo 1 5\r\nhello\r\n");
    /* And the other way, over B's new outbound connection. */
    struct sim_client *sa = cx_client(&gx.x, "sa", a);
    struct sim_client *pb = cx_client(&gx.x, "pb", b);
    say(sa, "SUB foo 1\r\n");
    cx_barrier(&gx.x, sa);
    sim_client_clear(sa);
    ck_assert(gx_wait_rsubs(&gx, b, "A", 1));
    say(pb, PUB_HELLO);
    ck_assert(sim_client_wait_for(sa, "hello\r\n", cx_after(&gx.x, SEC)));
    gx_finish(&gx);
}
END_TEST

/* Two servers per cluster: a message enters B once (through the publishing server's
 * outbound connection), reaches B's subscribers on both servers through B's route,
 * and B's interest is counted cluster-wide (RS- only when the last server's goes). */
START_TEST(two_server_clusters_deliver_once_and_count_interest_cluster_wide)
{
    enum { N = 10 };
    struct gx gx;
    gx_init(&gx, 11);
    const char *gws = "A=n1,n2;B=n3,n4";
    struct cx_node *a1 = gx_add(&gx, "A", "n2", gws);
    struct cx_node *a2 = gx_add(&gx, "A", "", gws);
    struct cx_node *b1 = gx_add(&gx, "B", "n4", gws);
    struct cx_node *b2 = gx_add(&gx, "B", "", gws);
    ck_assert(cx_wait_mesh(&gx.x, 1, 3 * SEC));
    ck_assert(gx_wait_full(&gx, 5 * SEC));
    struct sim_client *s2 = cx_client(&gx.x, "s2", a2);
    struct sim_client *s3 = cx_client(&gx.x, "s3", b1);
    struct sim_client *s4 = cx_client(&gx.x, "s4", b2);
    say(s2, "SUB foo 1\r\n");
    say(s3, "SUB foo 1\r\nSUB foo q 2\r\n");
    say(s4, "SUB foo 1\r\nSUB foo q 2\r\n");
    cx_barrier(&gx.x, s2);
    cx_barrier(&gx.x, s3);
    cx_barrier(&gx.x, s4);
    ck_assert(gx_wait_rsubs(&gx, a1, "B", 2));
    ck_assert(gx_wait_rsubs(&gx, a2, "B", 2));
    settle(&gx);
    sim_client_clear(s2);
    sim_client_clear(s3);
    sim_client_clear(s4);
    struct sim_client *p1 = cx_client(&gx.x, "p1", a1);
    struct sim_client *p2 = cx_client(&gx.x, "p2", a2);
    publish_n(p1, N);
    publish_n(p2, N);
    struct sim_client *all[3] = {s2, s3, s4};
    ck_assert(wait_total(&gx, all, 3, "MSG foo", 4 * 2 * N, 2 * SEC));
    settle(&gx);
    ck_assert_uint_eq(count(s2, "MSG foo 1 "), 2 * N);
    ck_assert_uint_eq(count(s3, "MSG foo 1 "), 2 * N);
    ck_assert_uint_eq(count(s4, "MSG foo 1 "), 2 * N);
    ck_assert_uint_eq(count(s3, "MSG foo 2 ") + count(s4, "MSG foo 2 "), 2 * N);
    ck_assert_uint_eq(count(s2, "MSG foo 2 "), 0);
    ck_assert_uint_eq(gx_out_to(a1->srv, "B")->conn->out_msgs, N);
    ck_assert_uint_eq(gx_out_to(a2->srv, "B")->conn->out_msgs, N);

    /* Headers cross as HMSG. */
    sim_client_clear(s3);
    sim_client_clear(s4);
    say(p1, "HPUB foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n");
    struct sim_client *bs[2] = {s3, s4};
    ck_assert(wait_total(&gx, bs, 2, "HMSG foo", 3, SEC));
    settle(&gx);
    ck_assert_uint_eq(count(s3, "HMSG foo 1 12 17\r\nNATS/1.0\r\n\r\nhello\r\n"), 1);
    ck_assert_uint_eq(count(s4, "HMSG foo 1 12 17\r\nNATS/1.0\r\n\r\nhello\r\n"), 1);
    ck_assert_uint_eq(count(s3, "HMSG foo 2 ") + count(s4, "HMSG foo 2 "), 1);

    /* One of B's servers loses its subscribers: B as a whole still wants foo. */
    say(s3, "UNSUB 1\r\nUNSUB 2\r\n");
    cx_barrier(&gx.x, s3);
    settle(&gx);
    ck_assert_uint_eq(gx_out_to(a1->srv, "B")->rsubs, 2);
    ck_assert_uint_eq(gx_out_to(a2->srv, "B")->rsubs, 2);
    /* The last ones go: RS- for both. */
    say(s4, "UNSUB 1\r\nUNSUB 2\r\n");
    cx_barrier(&gx.x, s4);
    ck_assert(gx_wait_rsubs(&gx, a1, "B", 0));
    ck_assert(gx_wait_rsubs(&gx, a2, "B", 0));
    gx_finish(&gx);
}
END_TEST

static bool url_listed(const GPtrArray *a, const char *url)
{
    for (guint i = 0; i < a->len; i++) {
        if (strcmp(g_ptr_array_index(a, i), url) == 0) {
            return true;
        }
    }
    return false;
}

static bool url_gone_pred(void *ctx)
{
    const struct mr_server *s = ctx;
    return !url_listed(s->gw.urls, "py:7222");
}

/* Gossip over routes, byte for byte: a route INFO carries gateway_url; a new route
 * hears of every gateway its server has an outbound connection to (INFO gateway_cmd 1,
 * server_id "GW"+id); such an INFO from a route makes the server connect to that
 * gateway, and the cluster it learns of connects back. */
START_TEST(gateways_are_gossiped_over_routes)
{
    struct gx gx;
    gx_init(&gx, 12);
    struct cx_node *a = gx_add(&gx, "A", "", AB);
    struct cx_node *b = gx_add(&gx, "B", "", AB);
    ck_assert(gx_wait_full(&gx, 3 * SEC));

    struct sim_client *info = sim_client_create(gx.x.w, "info", a->name, CX_ROUTE_PORT);
    ck_assert(sim_client_wait_for(info, "}\r\n", cx_after(&gx.x, SEC)));
    ck_assert_uint_eq(count(info, "\"gateway_url\":\"n1:7222\""), 1);
    sim_client_close(info);

    struct sim_client *p = route_peer(&gx, "px", a, "A", NULL);
    char *want = g_strdup_printf("INFO {\"server_id\":\"GW%s\",\"server_name\":\"n1\","
                                 "\"gateway\":\"B\",\"gateway_urls\":[\"n2:7222\"],"
                                 "\"gateway_cmd\":1}\r\n",
                                 mr_server_id(a->srv));
    ck_assert_uint_eq(count(p, want), 1);
    g_free(want);

    /* Cluster C knows nobody; A hears of it from its route. */
    struct cx_node *c = gx_add(&gx, "C", "", "C=n3");
    say(p, "INFO {\"server_id\":\"GW" GX_RPEER_ID "px\",\"server_name\":\"px\","
           "\"gateway\":\"C\",\"gateway_urls\":[\"n3:7222\"],\"gateway_cmd\":1}\r\n");
    ck_assert(gx_wait_full(&gx, 5 * SEC));
    ck_assert(gx_out_to(a->srv, "C")->remote->implicit);
    ck_assert(gx_out_to(c->srv, "A")->remote->implicit);
    ck_assert(gx_out_to(c->srv, "B")->remote->implicit);
    ck_assert_ptr_nonnull(gx_out_to(b->srv, "C"));
    /* A relays its new outbound's INFO to its route. */
    want = g_strdup_printf("\"server_id\":\"GW%s\",\"server_name\":\"n1\",\"gateway\":\"C\"",
                           mr_server_id(a->srv));
    ck_assert(sim_client_wait_for(p, want, cx_after(&gx.x, SEC)));
    g_free(want);

    /* A route's gateway_url joins this cluster's gateway URLs while the route lasts. */
    struct sim_client *q = route_peer(&gx, "py", a, "A", "py:7222");
    ck_assert(url_listed(a->srv->gw.urls, "py:7222"));
    ck_assert(url_listed(a->srv->gw.urls, "n1:7222"));
    sim_client_close(q);
    ck_assert(sim_world_run_until_pred(gx.x.w, url_gone_pred, a->srv, cx_after(&gx.x, SEC)));
    ck_assert(url_listed(a->srv->gw.urls, "n1:7222"));
    sim_client_close(p);
    settle(&gx);
    gx_finish(&gx);
}
END_TEST

static bool nobody_to_c_pred(void *ctx)
{
    const struct gx *gx = ctx;
    for (size_t i = 0; i < gx->x.count; i++) {
        const struct mr_server *s = gx->x.n[i].srv;
        if (s != NULL && gx_out_to(s, "C") != NULL) {
            return false;
        }
    }
    return true;
}

/* C is implicit for A's servers: they give up on it while it is down, and connect
 * again when it comes back and gossip names it anew. */
START_TEST(implicit_cluster_crash_and_return_restores_the_mesh)
{
    struct gx gx;
    gx_init(&gx, 13);
    struct cx_node *a1 = gx_add(&gx, "A", "n2", "A=n1,n2;B=n3");
    struct cx_node *a2 = gx_add(&gx, "A", "", "A=n1,n2;B=n3");
    (void)gx_add(&gx, "B", "", "A=n1,n2;B=n3;C=n4");
    struct cx_node *c = gx_add(&gx, "C", "", "A=n1,n2;B=n3;C=n4");
    ck_assert(gx_wait_full(&gx, 6 * SEC));
    cx_crash(&gx.x, c);
    ck_assert(sim_world_run_until_pred(gx.x.w, nobody_to_c_pred, &gx, cx_after(&gx.x, SEC)));
    sim_world_run_until(gx.x.w, cx_after(&gx.x, 10 * SEC));
    ck_assert(nobody_to_c_pred(&gx));
    cx_restart(&gx.x, c);
    ck_assert(gx_wait_full(&gx, 5 * SEC));
    struct sim_client *sc = cx_client(&gx.x, "sc", c);
    say(sc, "SUB foo 1\r\n");
    cx_barrier(&gx.x, sc);
    sim_client_clear(sc);
    ck_assert(gx_wait_rsubs(&gx, a1, "C", 1));
    ck_assert(gx_wait_rsubs(&gx, a2, "C", 1));
    struct sim_client *p1 = cx_client(&gx.x, "p1", a1);
    struct sim_client *p2 = cx_client(&gx.x, "p2", a2);
    say(p1, PUB_HELLO);
    say(p2, PUB_HELLO);
    struct sim_client *one[1] = {sc};
    ck_assert(wait_total(&gx, one, 1, "MSG foo", 2, SEC));
    settle(&gx);
    ck_assert_uint_eq(count(sc, "MSG foo"), 2);
    gx_finish(&gx);
}
END_TEST

struct out_id {
    const struct mr_server *s;
    const char *remote_id;
};

static bool out_id_pred(void *ctx)
{
    const struct out_id *o = ctx;
    const struct mr_gw_conn *g = gx_out_to(o->s, "B");
    return g != NULL && strcmp(g->remote_id, o->remote_id) == 0;
}

/* The server of B that A's outbound connection goes to crashes: A reconnects to B's
 * other server and messages to B flow again. */
START_TEST(outbound_fails_over_to_another_server_of_the_cluster)
{
    struct gx gx;
    gx_init(&gx, 14);
    const char *gws = "A=n1;B=n2,n3";
    struct cx_node *a = gx_add(&gx, "A", "", gws);
    struct cx_node *b1 = gx_add(&gx, "B", "n3", gws);
    struct cx_node *b2 = gx_add(&gx, "B", "", gws);
    ck_assert(gx_wait_full(&gx, 5 * SEC));
    const char *to = gx_out_to(a->srv, "B")->remote_id;
    struct cx_node *dead = strcmp(to, mr_server_id(b1->srv)) == 0 ? b1 : b2;
    struct cx_node *live = dead == b1 ? b2 : b1;
    struct sim_client *s = cx_client(&gx.x, "s", live);
    say(s, "SUB foo 1\r\n");
    cx_barrier(&gx.x, s);
    sim_client_clear(s);
    ck_assert(gx_wait_rsubs(&gx, a, "B", 1));
    cx_crash(&gx.x, dead);
    struct out_id o = {a->srv, mr_server_id(live->srv)};
    ck_assert(sim_world_run_until_pred(gx.x.w, out_id_pred, &o, cx_after(&gx.x, 10 * SEC)));
    ck_assert(gx_wait_rsubs(&gx, a, "B", 1));
    struct sim_client *pub = cx_client(&gx.x, "pub", a);
    say(pub, PUB_HELLO);
    ck_assert(sim_client_wait_for(s, "hello\r\n", cx_after(&gx.x, SEC)));
    settle(&gx);
    assert_received_no_pings(s, "MSG foo 1 5\r\nhello\r\n");
    gx_finish(&gx);
}
END_TEST

/*
 * A dead URL does not keep getting picked: when the server A was connected to dies,
 * B's other server is reached within two retries (about 2.2 s). (nats-server's
 * solicitGateway even tries every URL in one attempt.) Eight seeds, since the first
 * URL tried is random.
 */
START_TEST(reconnect_moves_on_from_a_dead_url)
{
    const char *gws = "A=n1;B=n2,n3";
    GString *bad = g_string_new(NULL);
    for (uint64_t seed = 30; seed < 38; seed++) {
        struct gx gx;
        gx_init(&gx, seed);
        struct cx_node *a = gx_add(&gx, "A", "", gws);
        struct cx_node *b1 = gx_add(&gx, "B", "n3", gws);
        struct cx_node *b2 = gx_add(&gx, "B", "", gws);
        ck_assert(gx_wait_full(&gx, 5 * SEC));
        const char *to = gx_out_to(a->srv, "B")->remote_id;
        struct cx_node *dead = strcmp(to, mr_server_id(b1->srv)) == 0 ? b1 : b2;
        struct cx_node *live = dead == b1 ? b2 : b1;
        cx_crash(&gx.x, dead);
        struct out_id o = {a->srv, mr_server_id(live->srv)};
        if (!sim_world_run_until_pred(gx.x.w, out_id_pred, &o, cx_after(&gx.x, 2500 * MS))) {
            const struct mr_gw_remote *r = g_ptr_array_index(a->srv->gw.remotes, 0);
            g_string_append_printf(bad, " seed %llu (%u attempts at %s)",
                                   (unsigned long long)seed, r->attempts, r->dial_url);
        }
        gx_finish(&gx);
    }
    ck_assert_msg(bad->len == 0, "no outbound to B's live server 2.5 s after the crash:%s",
                  bad->str);
    g_string_free(bad, TRUE);
}
END_TEST

/* A server of B goes with its subscriber: B's route to it closes, and the server A's
 * outbound connection goes to withdraws that interest (RS-). */
START_TEST(lost_route_withdraws_the_clusters_interest)
{
    struct gx gx;
    gx_init(&gx, 15);
    const char *gws = "A=n1;B=n2,n3";
    struct cx_node *a = gx_add(&gx, "A", "", gws);
    struct cx_node *b1 = gx_add(&gx, "B", "n3", gws);
    struct cx_node *b2 = gx_add(&gx, "B", "", gws);
    ck_assert(gx_wait_full(&gx, 5 * SEC));
    const char *to = gx_out_to(a->srv, "B")->remote_id;
    struct cx_node *peer = strcmp(to, mr_server_id(b1->srv)) == 0 ? b1 : b2;
    struct cx_node *other = peer == b1 ? b2 : b1;
    struct sim_client *s = cx_client(&gx.x, "s", other);
    say(s, "SUB foo 1\r\nSUB foo q 2\r\n");
    cx_barrier(&gx.x, s);
    ck_assert(gx_wait_rsubs(&gx, a, "B", 2));
    uint64_t gid = gx_out_to(a->srv, "B")->gid;
    cx_crash(&gx.x, other);
    ck_assert(gx_wait_rsubs(&gx, a, "B", 0));
    /* The same connection: the interest was withdrawn, not lost with a reconnect. */
    ck_assert_uint_eq(gx_out_to(a->srv, "B")->gid, gid);
    const struct mr_gw_conn *ab = gx_out_to(a->srv, "B");
    uint64_t out = ab->conn->out_msgs;
    struct sim_client *pub = cx_client(&gx.x, "pub", a);
    say(pub, PUB_HELLO);
    cx_barrier(&gx.x, pub);
    settle(&gx);
    ck_assert_uint_eq(ab->conn->out_msgs, out);
    gx_finish(&gx);
}
END_TEST

/* A long partition: keepalives find both gateway connections stale and close them;
 * after the heal exactly one outbound and one inbound per side come back and carry
 * messages again. */
START_TEST(partition_closes_stale_gateways_and_heal_reconnects)
{
    struct gx gx;
    gx_init(&gx, 19);
    struct cx_node *a = gx_add(&gx, "A", "", AB);
    struct cx_node *b = gx_add(&gx, "B", "", AB);
    ck_assert(sim_world_run_until_pred(gx.x.w, pair_pred, &gx, cx_after(&gx.x, 3 * SEC)));
    uint64_t gid = gx_out_to(a->srv, "B")->gid;
    sim_net_cut(gx.x.w, a->host, b->host, false);
    ck_assert(sim_world_run_until_pred(gx.x.w, a_alone_pred, a->srv, cx_after(&gx.x, 90 * SEC)));
    ck_assert(sim_world_run_until_pred(gx.x.w, a_alone_pred, b->srv, cx_after(&gx.x, 30 * SEC)));
    sim_net_heal(gx.x.w, a->host, b->host);
    ck_assert(sim_world_run_until_pred(gx.x.w, pair_pred, &gx, cx_after(&gx.x, 10 * SEC)));
    sim_world_run_until(gx.x.w, cx_after(&gx.x, 5 * SEC));
    ck_assert(pair_pred(&gx));
    ck_assert_uint_ne(gx_out_to(a->srv, "B")->gid, gid);
    struct sim_client *sb = cx_client(&gx.x, "sb", b);
    struct sim_client *pub = cx_client(&gx.x, "pub", a);
    say(sb, "SUB foo 1\r\n");
    cx_barrier(&gx.x, sb);
    sim_client_clear(sb);
    ck_assert(gx_wait_rsubs(&gx, a, "B", 1));
    say(pub, PUB_HELLO);
    ck_assert(sim_client_wait_for(sb, "hello\r\n", cx_after(&gx.x, SEC)));
    settle(&gx);
    assert_received_no_pings(sb, "MSG foo 1 5\r\nhello\r\n");
    gx_finish(&gx);
}
END_TEST

/* ---- determinism ------------------------------------------------------------------- */

static uint64_t supercluster_trace(uint64_t seed)
{
    struct gx gx;
    gx_init(&gx, seed);
    struct cx_node *a = gx_add(&gx, "A", "", ABC);
    struct cx_node *b = gx_add(&gx, "B", "", ABC);
    struct cx_node *c = gx_add(&gx, "C", "", ABC);
    ck_assert(gx_wait_full(&gx, 3 * SEC));
    struct sim_client *sb = cx_client(&gx.x, "sb", b);
    struct sim_client *sc = cx_client(&gx.x, "sc", c);
    struct sim_client *pub = cx_client(&gx.x, "pub", a);
    say(sb, "SUB foo 1\r\nSUB foo q 2\r\n");
    say(sc, "SUB foo 1\r\nSUB foo q 2\r\n");
    cx_barrier(&gx.x, sb);
    cx_barrier(&gx.x, sc);
    ck_assert(gx_wait_rsubs(&gx, a, "B", 2));
    ck_assert(gx_wait_rsubs(&gx, a, "C", 2));
    publish_n(pub, 20);
    sim_world_run_until(gx.x.w, cx_after(&gx.x, 3 * SEC));
    ck_assert_uint_eq(count(sb, "MSG foo") + count(sc, "MSG foo"), 20 * 3);
    uint64_t h = sim_world_trace_hash(gx.x.w);
    gx_finish(&gx);
    return h;
}

START_TEST(same_seed_gives_same_trace_hash)
{
    ck_assert_uint_eq(supercluster_trace(21), supercluster_trace(21));
}
END_TEST

static Suite *gateway_suite(void)
{
    Suite *s = suite_create("gateway");

    TCase *form = tcase_create("formation");
    tcase_set_timeout(form, 20);
    tcase_add_test(form, two_clusters_get_one_outbound_and_one_inbound_each);
    tcase_add_test(form, gossip_completes_a_three_cluster_mesh);
    tcase_add_test(form, gateways_are_gossiped_over_routes);
    suite_add_tcase(s, form);

    TCase *msgs = tcase_create("messages");
    tcase_set_timeout(msgs, 20);
    tcase_add_test(msgs, only_subjects_with_remote_interest_cross);
    tcase_add_test(msgs, queue_group_prefers_local_then_lowest_rtt_cluster);
    tcase_add_test(msgs, queue_group_served_over_a_route_does_not_cross);
    tcase_add_test(msgs, reply_beats_interest_propagation_through_gr_mapping);
    tcase_add_test(msgs, reply_from_behind_a_route_in_the_remote_cluster);
    tcase_add_test(msgs, gr_subject_is_ordinary_without_gateways);
    tcase_add_test(msgs, gateway_message_is_never_forwarded_to_another_gateway);
    tcase_add_test(msgs, two_server_clusters_deliver_once_and_count_interest_cluster_wide);
    suite_add_tcase(s, msgs);

    TCase *proto = tcase_create("protocol");
    tcase_set_timeout(proto, 20);
    tcase_add_test(proto, scripted_peer_sees_exact_gateway_protocol);
    tcase_add_test(proto, solicitor_rejects_wrong_name_and_wrong_port);
    tcase_add_test(proto, gateway_authorization_is_checked_on_connect);
    tcase_add_test(proto, reject_unknown_cluster_refuses_unlisted_gateways);
    suite_add_tcase(s, proto);

    TCase *fault = tcase_create("faults");
    tcase_set_timeout(fault, 20);
    tcase_add_test(fault, crashed_remote_reconnects_and_messages_flow_again);
    tcase_add_test(fault, implicit_cluster_crash_and_return_restores_the_mesh);
    tcase_add_test(fault, outbound_fails_over_to_another_server_of_the_cluster);
    tcase_add_test(fault, reconnect_moves_on_from_a_dead_url);
    tcase_add_test(fault, lost_route_withdraws_the_clusters_interest);
    tcase_add_test(fault, partition_closes_stale_gateways_and_heal_reconnects);
    suite_add_tcase(s, fault);

    TCase *det = tcase_create("determinism");
    tcase_set_timeout(det, 20);
    tcase_add_test(det, same_seed_gives_same_trace_hash);
    suite_add_tcase(s, det);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(gateway_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
