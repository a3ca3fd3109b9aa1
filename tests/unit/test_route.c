/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for cluster routes (core/server/route.c; shared reference protocol.md section 5)
 * on the sim env: route formation from seeds and by gossip, routes to self, duplicate
 * resolution, the route protocol byte for byte against a scripted peer (CONNECT/INFO
 * handshake, RS+/RS- with queue weights, RMSG/HMSG forms, no forwarding of routed
 * messages, the -ERR strings of the route port), weighted queue groups across servers,
 * and a crashed peer and a partition. Virtual time makes the 1 s route retry instant.
 *
 * Every test builds one world with nodes "n1", "n2", ... (fixture_cluster.h;
 * mr_server_check runs after every event delivered to a node) and ends with
 * cx_finish: shutdown, every connection closed, counters at zero, mr_server_destroy
 * asserting no byte is still allocated.
 */
#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/server/route.h"
#include "core/server/server.h"
#include "sim/sim_env.h"

#include "tests/unit/fixture_cluster.h"

#define PUB_HELLO "PUB foo 5\r\nhello\r\n"

/* Runs long enough for anything in flight between nodes to land (link delay 100 us). */
static void settle(struct cx *x)
{
    sim_world_run_until(x->w, cx_after(x, 50 * MS));
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
static bool wait_total(struct cx *x, struct sim_client **cs, size_t n, const char *needle,
                       size_t total, uint64_t within)
{
    struct wait_count wc = {cs, n, needle, total};
    return sim_world_run_until_pred(x->w, wait_count_pred, &wc, cx_after(x, within));
}

struct rsub_weight {
    const struct mr_server *s;
    const char *remote_id;
    const char *key;
    int32_t weight;
};

static bool rsub_weight_pred(void *ctx)
{
    const struct rsub_weight *rw = ctx;
    const struct mr_route *r = cx_route_to(rw->s, rw->remote_id);
    return r != NULL && cx_rsub_weight(r, rw->key) == rw->weight;
}

/* Runs until node a's route to b holds remote interest key with weight (0: absent). */
static bool wait_rsub(struct cx *x, struct cx_node *a, struct cx_node *b, const char *key,
                      int32_t weight)
{
    struct rsub_weight rw = {a->srv, mr_server_id(b->srv), key, weight};
    return sim_world_run_until_pred(x->w, rsub_weight_pred, &rw, cx_after(x, SEC));
}

/* ---- formation ---------------------------------------------------------------------- */

START_TEST(seeded_pair_forms_one_route_and_carries_messages)
{
    struct cx x;
    cx_init(&x, 1);
    struct cx_node *a = cx_add(&x, "n2", NULL);
    struct cx_node *b = cx_add(&x, "", NULL);
    ck_assert(cx_wait_mesh(&x, 1, 2 * SEC));
    const struct mr_route *ra = mr_route_first(a->srv);
    const struct mr_route *rb = mr_route_first(b->srv);
    ck_assert_str_eq(ra->remote_id, mr_server_id(b->srv));
    ck_assert_str_eq(rb->remote_id, mr_server_id(a->srv));
    ck_assert_str_eq(ra->remote_name, "n2");
    ck_assert_str_eq(rb->remote_name, "n1");
    ck_assert(ra->solicited);
    ck_assert(!rb->solicited);
    ck_assert(ra->slot != NULL && ra->slot->configured);

    struct sim_client *sub = cx_client(&x, "sub", a);
    struct sim_client *pub = cx_client(&x, "pub", b);
    say(sub, "SUB foo 1\r\n");
    cx_barrier(&x, sub);
    sim_client_clear(sub);
    ck_assert(wait_rsub(&x, b, a, "$G foo", 1));
    say(pub, PUB_HELLO);
    cx_barrier(&x, pub);
    ck_assert(sim_client_wait_for(sub, "hello\r\n", cx_after(&x, SEC)));
    settle(&x);
    assert_received(sub, "MSG foo 1 5\r\nhello\r\n");
    ck_assert_uint_eq(rb->conn->out_msgs, 1);
    sim_client_clear(sub);

    /* UNSUB takes the interest off b: the next publish does not cross. */
    say(sub, "UNSUB 1\r\n");
    cx_barrier(&x, sub);
    sim_client_clear(sub);
    ck_assert(wait_rsub(&x, b, a, "$G foo", 0));
    ck_assert_uint_eq(rb->rsubs_count, 0);
    say(pub, PUB_HELLO);
    cx_barrier(&x, pub);
    settle(&x);
    cx_barrier(&x, sub);
    ck_assert_uint_eq(rb->conn->out_msgs, 1);
    assert_received(sub, "PONG\r\n");
    cx_finish(&x);
}
END_TEST

START_TEST(three_nodes_seeded_at_one_form_full_mesh_by_gossip)
{
    struct cx x;
    cx_init(&x, 2);
    struct cx_node *a = cx_add(&x, "", NULL);
    struct cx_node *b = cx_add(&x, "n1", NULL);
    struct cx_node *c = cx_add(&x, "n1", NULL);
    ck_assert(cx_wait_mesh(&x, 2, 5 * SEC));
    struct cx_node *ns[3] = {a, b, c};
    for (size_t i = 0; i < 3; i++) {
        for (size_t j = 0; j < 3; j++) {
            if (i != j) {
                ck_assert_msg(cx_route_to(ns[i]->srv, mr_server_id(ns[j]->srv)) != NULL,
                              "%s has no route to %s", ns[i]->name, ns[j]->name);
            }
        }
    }
    /* n1 seeded nobody: none of its routes comes from its configuration. */
    for (const struct mr_route *r = mr_route_first(a->srv); r != NULL; r = mr_route_next(r)) {
        ck_assert(r->slot == NULL || !r->slot->configured);
    }
    /* The n2-n3 route came from gossip: whichever side solicited it did so implicitly. */
    const struct mr_route *bc = cx_route_to(b->srv, mr_server_id(c->srv));
    const struct mr_route *cb = cx_route_to(c->srv, mr_server_id(b->srv));
    ck_assert_int_eq(bc->solicited + cb->solicited, 1);
    const struct mr_route *sol = bc->solicited ? bc : cb;
    ck_assert(sol->slot != NULL && !sol->slot->configured);

    /* One copy over the n2-n3 route, none relayed through n1. */
    struct sim_client *sub = cx_client(&x, "sub", c);
    struct sim_client *pub = cx_client(&x, "pub", b);
    say(sub, "SUB foo 1\r\n");
    cx_barrier(&x, sub);
    sim_client_clear(sub);
    ck_assert(wait_rsub(&x, b, c, "$G foo", 1));
    ck_assert(wait_rsub(&x, a, c, "$G foo", 1));
    say(pub, PUB_HELLO);
    ck_assert(sim_client_wait_for(sub, "hello\r\n", cx_after(&x, SEC)));
    settle(&x);
    assert_received(sub, "MSG foo 1 5\r\nhello\r\n");
    const struct mr_route *ba = cx_route_to(b->srv, mr_server_id(a->srv));
    ck_assert_uint_eq(ba->conn->out_msgs, 0);
    cx_finish(&x);
}
END_TEST

START_TEST(route_to_self_is_dropped_and_never_retried)
{
    struct cx x;
    cx_init(&x, 3);
    struct cx_node *a = cx_add(&x, "n1", NULL);
    sim_world_run_until(x.w, cx_after(&x, 30 * SEC));
    ck_assert_uint_eq(cx_routes(a->srv), 0);
    const struct mr_cluster *cl = &a->srv->cluster;
    ck_assert_uint_eq(cl->slots->len, 1);
    const struct mr_route_slot *slot = g_ptr_array_index(cl->slots, 0);
    ck_assert(slot->self);
    ck_assert(!slot->retry_armed);
    ck_assert_uint_eq(slot->pending_conn, 0);
    ck_assert_ptr_null(slot->conn);
    /* One attempt: a solicited and an accepted route connection, each with a rid. */
    ck_assert_uint_le(cl->next_rid, 2);
    struct mr_server_stats st;
    mr_server_stats(a->srv, &st);
    ck_assert_uint_eq(st.connections, 0);
    cx_finish(&x);
}
END_TEST

/* As the simulator's cluster scenarios configure it: every node lists every node. */
START_TEST(seeds_listing_self_and_peer_form_one_route)
{
    struct cx x;
    cx_init(&x, 4);
    struct cx_node *a = cx_add(&x, "n1,n2", NULL);
    struct cx_node *b = cx_add(&x, "n1,n2", NULL);
    ck_assert(cx_wait_mesh(&x, 1, 5 * SEC));
    sim_world_run_until(x.w, cx_after(&x, 10 * SEC));
    ck_assert_uint_eq(cx_routes(a->srv), 1);
    ck_assert_uint_eq(cx_routes(b->srv), 1);
    ck_assert_uint_le(a->srv->cluster.next_rid, 8);
    ck_assert_uint_le(b->srv->cluster.next_rid, 8);
    cx_finish(&x);
}
END_TEST

/* n1 and n2 have one route each, the two ends of one stream (solicited on one side). */
static bool one_stream_any_pred(void *ctx)
{
    struct cx *x = ctx;
    const struct mr_server *a = x->n[0].srv;
    const struct mr_server *b = x->n[1].srv;
    if (cx_routes(a) != 1 || cx_routes(b) != 1) {
        return false;
    }
    const struct mr_route *ra = mr_route_first(a);
    const struct mr_route *rb = mr_route_first(b);
    return ra->solicited != rb->solicited && strcmp(ra->remote_id, mr_server_id(b)) == 0;
}

/* As one_stream_any_pred, and solicited by the server with the smaller id (how two
 * routes made at the same time resolve). */
static bool one_stream_pred(void *ctx)
{
    struct cx *x = ctx;
    const struct mr_server *a = x->n[0].srv;
    const struct mr_server *b = x->n[1].srv;
    if (cx_routes(a) != 1 || cx_routes(b) != 1) {
        return false;
    }
    const struct mr_route *ra = mr_route_first(a);
    const struct mr_route *rb = mr_route_first(b);
    const struct mr_route *lower = strcmp(mr_server_id(a), mr_server_id(b)) < 0 ? ra : rb;
    return ra->solicited != rb->solicited && lower->solicited &&
           strcmp(ra->remote_id, mr_server_id(b)) == 0;
}

START_TEST(mutual_seeds_keep_one_route)
{
    for (uint64_t seed = 10; seed < 16; seed++) {
        struct cx x;
        cx_init(&x, seed);
        struct cx_node *a = cx_add(&x, "n2", NULL);
        struct cx_node *b = cx_add(&x, "n1", NULL);
        ck_assert(sim_world_run_until_pred(x.w, one_stream_any_pred, &x, cx_after(&x, 5 * SEC)));
        /* Stable: no flapping afterwards. */
        uint64_t rid_a = mr_route_first(a->srv)->rid;
        uint64_t rid_b = mr_route_first(b->srv)->rid;
        sim_world_run_until(x.w, cx_after(&x, 10 * SEC));
        ck_assert_uint_eq(cx_routes(a->srv), 1);
        ck_assert_uint_eq(cx_routes(b->srv), 1);
        const struct mr_route *ra = mr_route_first(a->srv);
        const struct mr_route *rb = mr_route_first(b->srv);
        ck_assert_uint_eq(ra->rid, rid_a);
        ck_assert_uint_eq(rb->rid, rid_b);
        /* Both ends of one TCP stream: solicited on exactly one side. (n1 starts first,
         * so its first dial may fail and n2's route, taking n1's slot, is the only one;
         * when both dials race, the smaller id's wins: see the next test.) */
        ck_assert_msg(ra->solicited != rb->solicited, "seed %llu: solicited %d/%d",
                      (unsigned long long)seed, ra->solicited, rb->solicited);
        /* And it carries messages both ways. */
        struct sim_client *ca = cx_client(&x, "ca", a);
        struct sim_client *cb = cx_client(&x, "cb", b);
        say(ca, "SUB foo 1\r\n");
        say(cb, "SUB foo 1\r\n");
        cx_barrier(&x, ca);
        cx_barrier(&x, cb);
        ck_assert(wait_rsub(&x, a, b, "$G foo", 1));
        ck_assert(wait_rsub(&x, b, a, "$G foo", 1));
        sim_client_clear(ca);
        sim_client_clear(cb);
        say(ca, PUB_HELLO);
        struct sim_client *both[2] = {ca, cb};
        ck_assert(wait_total(&x, both, 2, "MSG foo", 2, SEC));
        settle(&x);
        ck_assert_uint_eq(count(ca, "MSG foo"), 1);
        ck_assert_uint_eq(count(cb, "MSG foo"), 1);
        cx_finish(&x);
    }
}
END_TEST

/* Both servers start at the same instant and dial each other: two routes race, and
 * both sides keep the one solicited by the smaller server id, at once and for good. */
START_TEST(racing_dials_keep_the_smaller_ids_route)
{
    for (uint64_t seed = 20; seed < 26; seed++) {
        struct cx x;
        cx_init(&x, seed);
        struct cx_node *a = cx_add_unbooted(&x, "n2", NULL);
        struct cx_node *b = cx_add_unbooted(&x, "n1", NULL);
        cx_boot(&x, a);
        cx_boot(&x, b);
        ck_assert(sim_world_run_until_pred(x.w, one_stream_pred, &x, cx_after(&x, SEC)));
        uint64_t rid_a = mr_route_first(a->srv)->rid;
        sim_world_run_until(x.w, cx_after(&x, 10 * SEC));
        ck_assert(one_stream_pred(&x));
        ck_assert_uint_eq(mr_route_first(a->srv)->rid, rid_a);
        cx_finish(&x);
    }
}
END_TEST

/*
 * Both nodes seed each other and n1 starts before n2's host exists, so n1's first
 * connect fails and its retry (about 1.2 s later) makes a second route while the first
 * one carries traffic; duplicate resolution then keeps one. Messages published steadily
 * on both sides across that moment must each arrive exactly once on both sides.
 */
START_TEST(duplicate_resolution_loses_no_messages)
{
    enum { STEPS = 2500 };
    for (uint64_t seed = 10; seed < 16; seed++) {
        struct cx x;
        cx_init(&x, seed);
        struct sim_latency lat = {.kind = SIM_LAT_FIXED, .base_ns = 5 * MS};
        sim_world_set_link(x.w, "n1", "n2", &lat, 0);
        struct cx_node *a = cx_add(&x, "n2", NULL);
        struct cx_node *b = cx_add(&x, "n1", NULL);
        ck_assert(cx_wait_mesh(&x, 1, 2 * SEC));
        struct sim_client *sa = cx_client(&x, "sa", a);
        struct sim_client *sb = cx_client(&x, "sb", b);
        struct sim_client *pa = cx_client(&x, "pa", a);
        struct sim_client *pb = cx_client(&x, "pb", b);
        say(sa, "SUB foo 1\r\n");
        say(sb, "SUB foo 1\r\n");
        cx_barrier(&x, sa);
        cx_barrier(&x, sb);
        ck_assert(wait_rsub(&x, a, b, "$G foo", 1));
        ck_assert(wait_rsub(&x, b, a, "$G foo", 1));
        sim_client_clear(sa);
        sim_client_clear(sb);
        uint64_t rid = mr_route_first(a->srv)->rid;
        for (int i = 0; i < STEPS; i++) {
            say(pa, PUB_HELLO);
            say(pb, PUB_HELLO);
            sim_world_run_until(x.w, cx_after(&x, MS));
        }
        sim_world_run_until(x.w, cx_after(&x, SEC));
        /* The late duplicate is dropped: the route that carried traffic stays. */
        ck_assert(one_stream_any_pred(&x));
        ck_assert_uint_eq(mr_route_first(a->srv)->rid, rid);
        size_t got_a = count(sa, "MSG foo");
        size_t got_b = count(sb, "MSG foo");
        ck_assert_msg(got_a == 2 * STEPS && got_b == 2 * STEPS,
                      "seed %llu: route rid %llu -> %llu; n1 sub got %zu, n2 sub got %zu, "
                      "want %d each",
                      (unsigned long long)seed, (unsigned long long)rid,
                      (unsigned long long)mr_route_first(a->srv)->rid, got_a, got_b,
                      2 * STEPS);
        cx_finish(&x);
    }
}
END_TEST

/* ---- protocol against a scripted peer ---------------------------------------------- */

START_TEST(peer_gets_local_interest_as_rs_lines)
{
    struct cx x;
    cx_init(&x, 5);
    struct cx_node *b = cx_add(&x, "", NULL);
    struct sim_client *c1 = cx_client(&x, "c1", b);
    struct sim_client *c2 = cx_client(&x, "c2", b);
    say(c1, "SUB foo 1\r\nSUB bar q 2\r\nSUB foo 3\r\n");
    cx_barrier(&x, c1);
    /* At registration: the whole interest, queue with its member count. */
    struct sim_client *p = cx_peer(&x, "peer", b);
    assert_received(p, "RS+ $G foo\r\nRS+ $G bar q 1\r\nPONG\r\n");
    sim_client_clear(p);

    /* A second member re-sends the queue's RS+ with the new count. */
    say(c2, "SUB bar q 1\r\n");
    cx_barrier(&x, c2);
    cx_barrier(&x, p);
    assert_received(p, "RS+ $G bar q 2\r\nPONG\r\n");
    sim_client_clear(p);
    /* A second plain sub on a subject with interest sends nothing. */
    say(c2, "SUB foo 2\r\n");
    cx_barrier(&x, c2);
    cx_barrier(&x, p);
    assert_received(p, "PONG\r\n");
    sim_client_clear(p);

    /* Members leave: count down, then RS- without a weight. */
    say(c1, "UNSUB 2\r\n");
    cx_barrier(&x, c1);
    cx_barrier(&x, p);
    assert_received(p, "RS+ $G bar q 1\r\nPONG\r\n");
    sim_client_clear(p);
    say(c2, "UNSUB 1\r\n");
    cx_barrier(&x, c2);
    cx_barrier(&x, p);
    assert_received(p, "RS- $G bar q\r\nPONG\r\n");
    sim_client_clear(p);
    /* Plain: RS- only when the last of three subs on foo goes (one by disconnect). */
    say(c1, "UNSUB 1\r\n");
    cx_barrier(&x, c1);
    sim_client_close(c2);
    ck_assert(sim_client_wait_closed(c2, cx_after(&x, SEC)));
    settle(&x);
    cx_barrier(&x, p);
    assert_received(p, "PONG\r\n");
    sim_client_clear(p);
    say(c1, "UNSUB 3\r\n");
    cx_barrier(&x, c1);
    cx_barrier(&x, p);
    assert_received(p, "RS- $G foo\r\nPONG\r\n");
    cx_finish(&x);
}
END_TEST

/* Publishes line on pub, then returns what the peer got up to its barrier's PONG. */
static char *crossing(struct cx *x, struct sim_client *pub, struct sim_client *p,
                      const char *line)
{
    sim_client_clear(p);
    say(pub, line);
    cx_barrier(x, pub);
    cx_barrier(x, p);
    char *got = received_str(p);
    sim_client_clear(p);
    return got;
}

static void assert_crossing(struct cx *x, struct sim_client *pub, struct sim_client *p,
                            const char *line, const char *want)
{
    char *got = crossing(x, pub, p, line);
    ck_assert_str_eq(got, want);
    g_free(got);
}

START_TEST(publish_to_peer_interest_gives_exact_rmsg_forms)
{
    struct cx x;
    cx_init(&x, 6);
    struct cx_node *b = cx_add(&x, "", NULL);
    struct sim_client *p = cx_peer(&x, "peer", b);
    struct sim_client *pub = cx_client(&x, "pub", b);
    say(p, "RS+ $G foo\r\nRS+ $G qs q 1\r\nRS+ $G both\r\nRS+ $G both q 1\r\n");
    cx_barrier(&x, p);
    const struct mr_route *r = cx_route_to(b->srv, CX_PEER_ID);
    ck_assert_uint_eq(r->rsubs_count, 4);

    assert_crossing(&x, pub, p, PUB_HELLO, "RMSG $G foo 5\r\nhello\r\nPONG\r\n");
    assert_crossing(&x, pub, p, "PUB foo reply 5\r\nhello\r\n",
                    "RMSG $G foo reply 5\r\nhello\r\nPONG\r\n");
    /* The peer is the only member: the pick is forced and names the group. */
    assert_crossing(&x, pub, p, "PUB qs 5\r\nhello\r\n", "RMSG $G qs | q 5\r\nhello\r\nPONG\r\n");
    assert_crossing(&x, pub, p, "PUB qs reply 5\r\nhello\r\n",
                    "RMSG $G qs + reply q 5\r\nhello\r\nPONG\r\n");
    assert_crossing(&x, pub, p, "HPUB foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n",
                    "HMSG $G foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\nPONG\r\n");
    assert_crossing(&x, pub, p, "HPUB foo reply 12 17\r\nNATS/1.0\r\n\r\nhello\r\n",
                    "HMSG $G foo reply 12 17\r\nNATS/1.0\r\n\r\nhello\r\nPONG\r\n");
    assert_crossing(&x, pub, p, "HPUB qs 12 17\r\nNATS/1.0\r\n\r\nhello\r\n",
                    "HMSG $G qs | q 12 17\r\nNATS/1.0\r\n\r\nhello\r\nPONG\r\n");
    /* Plain and queue interest of one peer on one subject: one copy naming the group. */
    assert_crossing(&x, pub, p, "PUB both 5\r\nhello\r\n",
                    "RMSG $G both | q 5\r\nhello\r\nPONG\r\n");
    /* No interest: nothing crosses. */
    assert_crossing(&x, pub, p, "PUB none 5\r\nhello\r\n", "PONG\r\n");
    ck_assert_uint_eq(r->conn->out_msgs, 8);

    /* The peer withdraws: nothing crosses any more. */
    say(p, "RS- $G foo\r\nRS- $G qs q\r\n");
    cx_barrier(&x, p);
    ck_assert_uint_eq(r->rsubs_count, 2);
    assert_crossing(&x, pub, p, PUB_HELLO, "PONG\r\n");
    assert_crossing(&x, pub, p, "PUB qs 5\r\nhello\r\n", "PONG\r\n");
    cx_finish(&x);
}
END_TEST

/* A peer whose INFO says headers false gets HPUB as RMSG, headers stripped. */
START_TEST(peer_without_headers_gets_rmsg_without_headers)
{
    struct cx x;
    cx_init(&x, 15);
    struct cx_node *b = cx_add(&x, "", NULL);
    struct sim_client *p = cx_raw_route(&x, "peer", b);
    say(p, "CONNECT {\"headers\":false,\"name\":\"" CX_PEER_ID "\",\"cluster\":\"c\"}\r\n"
           "INFO {\"server_id\":\"" CX_PEER_ID "\",\"server_name\":\"peer\","
           "\"port\":6222,\"cluster\":\"c\"}\r\n"
           "RS+ $G foo\r\n");
    cx_barrier(&x, p);
    ck_assert_ptr_nonnull(cx_route_to(b->srv, CX_PEER_ID));
    struct sim_client *pub = cx_client(&x, "pub", b);
    assert_crossing(&x, pub, p, "HPUB foo 12 17\r\nNATS/1.0\r\n\r\nhello\r\n",
                    "RMSG $G foo 5\r\nhello\r\nPONG\r\n");
    cx_finish(&x);
}
END_TEST

START_TEST(routed_message_is_delivered_locally_once_and_never_forwarded)
{
    struct cx x;
    cx_init(&x, 7);
    struct cx_node *a = cx_add(&x, "n2", NULL);
    struct cx_node *b = cx_add(&x, "", NULL);
    ck_assert(cx_wait_mesh(&x, 1, 2 * SEC));
    struct sim_client *sa = cx_client(&x, "sa", a);
    struct sim_client *sb = cx_client(&x, "sb", b);
    struct sim_client *q1 = cx_client(&x, "q1", b);
    struct sim_client *q2 = cx_client(&x, "q2", b);
    say(sa, "SUB foo 1\r\nSUB foo q 2\r\n");
    say(sb, "SUB foo 1\r\n");
    say(q1, "SUB foo q 1\r\n");
    say(q2, "SUB foo q 1\r\n");
    cx_barrier(&x, sa);
    cx_barrier(&x, sb);
    cx_barrier(&x, q1);
    cx_barrier(&x, q2);
    ck_assert(wait_rsub(&x, b, a, "$G foo", 1));
    ck_assert(wait_rsub(&x, b, a, "$G foo q", 1));
    sim_client_clear(sa);
    sim_client_clear(sb);
    struct sim_client *p = cx_peer(&x, "peer", b);
    sim_client_clear(p);
    const struct mr_route *ba = cx_route_to(b->srv, mr_server_id(a->srv));
    uint64_t ba_out = ba->conn->out_msgs;
    /* The peer's own interest in foo must not make b echo the message back to it. */
    say(p, "RS+ $G foo\r\nRMSG $G foo 5\r\nhello\r\nRMSG $G foo | q 5\r\nworld\r\n");
    cx_barrier(&x, p);
    cx_barrier(&x, sb);
    settle(&x);
    cx_barrier(&x, sa);
    /* Plain: once each (two RMSGs); queue: only the one that named q, to one local
     * member, never to a's member over the route. */
    assert_received(sb, "MSG foo 1 5\r\nhello\r\nMSG foo 1 5\r\nworld\r\nPONG\r\n");
    ck_assert_uint_eq(count(q1, "MSG foo") + count(q2, "MSG foo"), 1);
    ck_assert_uint_eq(count(q1, "world") + count(q2, "world"), 1);
    assert_received(sa, "PONG\r\n");
    ck_assert_uint_eq(ba->conn->out_msgs, ba_out);
    ck_assert_uint_eq(count(p, "MSG"), 0);
    assert_received(p, "PONG\r\n");
    cx_finish(&x);
}
END_TEST

START_TEST(client_connect_on_route_port_is_rejected)
{
    struct cx x;
    cx_init(&x, 8);
    struct cx_node *b = cx_add(&x, "", NULL);
    struct sim_client *c = cx_raw_route(&x, "c", b);
    say(c, "CONNECT {\"verbose\":false,\"pedantic\":false,\"lang\":\"go\","
           "\"version\":\"1.0\"}\r\n");
    ck_assert(sim_client_wait_closed(c, cx_after(&x, SEC)));
    assert_received(c, "-ERR 'attempted to connect to route port'\r\n");
    ck_assert_uint_eq(cx_routes(b->srv), 0);
    cx_finish(&x);
}
END_TEST

START_TEST(wrong_cluster_name_is_rejected)
{
    struct cx x;
    cx_init(&x, 9);
    struct cx_node *b = cx_add(&x, "", NULL);
    struct sim_client *c = cx_raw_route(&x, "c", b);
    say(c, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,"
           "\"name\":\"" CX_PEER_ID "\",\"cluster\":\"other\"}\r\n");
    ck_assert(sim_client_wait_closed(c, cx_after(&x, SEC)));
    assert_received(c,
                    "-ERR 'Rejecting connection, cluster name \"other\" does not match \"c\"'\r\n");
    ck_assert_uint_eq(cx_routes(b->srv), 0);
    cx_finish(&x);
}
END_TEST

static void cluster_auth(struct cx_node *n)
{
    static char user[] = "ru";
    static char pass[] = "rp";
    n->cl.auth.user = user;
    n->cl.auth.password = pass;
}

START_TEST(cluster_authorization_is_checked_on_route_connect)
{
    struct cx x;
    cx_init(&x, 10);
    struct cx_node *b = cx_add(&x, "", cluster_auth);
    /* The route INFO announces it. */
    struct sim_client *c = sim_client_create(x.w, "info", b->name, CX_ROUTE_PORT);
    ck_assert(sim_client_wait_for(c, "}\r\n", cx_after(&x, SEC)));
    ck_assert_uint_eq(count(c, "\"auth_required\":true"), 1);
    sim_client_close(c);

    struct sim_client *bad = cx_raw_route(&x, "bad", b);
    say(bad, "CONNECT {\"user\":\"ru\",\"pass\":\"wrong\",\"headers\":true,"
             "\"name\":\"" CX_PEER_ID "\",\"cluster\":\"c\"}\r\n");
    ck_assert(sim_client_wait_closed(bad, cx_after(&x, SEC)));
    assert_received(bad, "-ERR 'Authorization Violation'\r\n");
    struct sim_client *none = cx_raw_route(&x, "none", b);
    say(none, "CONNECT {\"headers\":true,\"name\":\"" CX_PEER_ID "\",\"cluster\":\"c\"}\r\n");
    ck_assert(sim_client_wait_closed(none, cx_after(&x, SEC)));
    assert_received(none, "-ERR 'Authorization Violation'\r\n");
    ck_assert_uint_eq(cx_routes(b->srv), 0);

    /* A server with the same cluster authorization gets in. */
    struct cx_node *a = cx_add(&x, "n1", cluster_auth);
    ck_assert(cx_wait_mesh(&x, 1, 2 * SEC));
    ck_assert_ptr_nonnull(cx_route_to(b->srv, mr_server_id(a->srv)));
    cx_finish(&x);
}
END_TEST

START_TEST(interest_before_handshake_closes)
{
    struct cx x;
    cx_init(&x, 11);
    struct cx_node *b = cx_add(&x, "", NULL);
    struct sim_client *c = cx_raw_route(&x, "c", b);
    say(c, "RS+ $G foo\r\n");
    ck_assert(sim_client_wait_closed(c, cx_after(&x, SEC)));
    ck_assert_uint_eq(count(c, "-ERR 'Authorization Violation'\r\n"), 1);
    /* CONNECT but no INFO yet: still not a route. */
    struct sim_client *d = cx_raw_route(&x, "d", b);
    say(d, "CONNECT {\"headers\":true,\"name\":\"" CX_PEER_ID "\",\"cluster\":\"c\"}\r\n"
           "RMSG $G foo 5\r\nhello\r\n");
    ck_assert(sim_client_wait_closed(d, cx_after(&x, SEC)));
    ck_assert_uint_eq(count(d, "-ERR 'Authorization Violation'\r\n"), 1);
    ck_assert_uint_eq(cx_routes(b->srv), 0);
    ck_assert_uint_eq(cx_global_subs(b->srv), 0);
    cx_finish(&x);
}
END_TEST

/* ---- queue groups ------------------------------------------------------------------ */

START_TEST(queue_group_split_follows_member_weights)
{
    enum { N = 400, M = 100 };
    struct cx x;
    cx_init(&x, 12);
    struct cx_node *a = cx_add(&x, "n2", NULL);
    struct cx_node *b = cx_add(&x, "", NULL);
    ck_assert(cx_wait_mesh(&x, 1, 2 * SEC));
    struct sim_client *m[4];
    m[0] = cx_client(&x, "ma", a);
    m[1] = cx_client(&x, "mb1", b);
    m[2] = cx_client(&x, "mb2", b);
    m[3] = cx_client(&x, "mb3", b);
    for (size_t i = 0; i < 4; i++) {
        say(m[i], "SUB foo q 1\r\n");
        cx_barrier(&x, m[i]);
    }
    ck_assert(wait_rsub(&x, a, b, "$G foo q", 3));
    ck_assert(wait_rsub(&x, b, a, "$G foo q", 1));
    struct sim_client *pub = cx_client(&x, "pub", a);
    GString *batch = g_string_new(NULL);
    for (int i = 0; i < N; i++) {
        g_string_append(batch, PUB_HELLO);
    }
    say(pub, batch->str);
    ck_assert(wait_total(&x, m, 4, "MSG foo", N, 5 * SEC));
    settle(&x);
    size_t on_a = count(m[0], "MSG foo");
    size_t on_b = count(m[1], "MSG foo") + count(m[2], "MSG foo") + count(m[3], "MSG foo");
    ck_assert_uint_eq(on_a + on_b, N); /* each exactly once */
    /* Weights 1 : 3, so about N / 4 on a (sd ~ 9). */
    ck_assert_msg(on_a >= N / 4 - 40 && on_a <= N / 4 + 40, "on a %zu of %d", on_a, N);
    for (size_t i = 1; i < 4; i++) {
        ck_assert_uint_gt(count(m[i], "MSG foo"), 0);
    }
    const struct mr_route *ab = cx_route_to(a->srv, mr_server_id(b->srv));
    ck_assert_uint_eq(ab->conn->out_msgs, on_b);

    /* Members on b only: everything crosses. */
    say(m[0], "UNSUB 1\r\n");
    cx_barrier(&x, m[0]);
    for (size_t i = 0; i < 4; i++) {
        sim_client_clear(m[i]);
    }
    g_string_truncate(batch, 0);
    for (int i = 0; i < M; i++) {
        g_string_append(batch, PUB_HELLO);
    }
    say(pub, batch->str);
    ck_assert(wait_total(&x, m, 4, "MSG foo", M, 5 * SEC));
    settle(&x);
    ck_assert_uint_eq(count(m[0], "MSG foo"), 0);
    on_b = count(m[1], "MSG foo") + count(m[2], "MSG foo") + count(m[3], "MSG foo");
    ck_assert_uint_eq(on_b, M);
    g_string_free(batch, TRUE);
    cx_finish(&x);
}
END_TEST

/* ---- faults ------------------------------------------------------------------------ */

START_TEST(crashed_peer_clears_interest_and_route_comes_back)
{
    struct cx x;
    cx_init(&x, 13);
    struct cx_node *a = cx_add(&x, "n2", NULL);
    struct cx_node *b = cx_add(&x, "", NULL);
    ck_assert(cx_wait_mesh(&x, 1, 2 * SEC));
    struct sim_client *sb = cx_client(&x, "sb", b);
    say(sb, "SUB foo 1\r\nSUB bar q 2\r\n");
    cx_barrier(&x, sb);
    ck_assert(wait_rsub(&x, a, b, "$G bar q", 1));
    ck_assert_uint_eq(cx_global_subs(a->srv), 2);

    cx_crash(&x, b);
    ck_assert(cx_wait_mesh(&x, 0, SEC));
    ck_assert_uint_eq(cx_global_subs(a->srv), 0);
    /* While b is down a's configured route keeps retrying; publishes go nowhere. */
    struct sim_client *pub = cx_client(&x, "pub", a);
    say(pub, PUB_HELLO);
    cx_barrier(&x, pub);
    sim_world_run_until(x.w, cx_after(&x, 5 * SEC));
    ck_assert_uint_eq(cx_routes(a->srv), 0);
    const struct mr_route_slot *slot = g_ptr_array_index(a->srv->cluster.slots, 0);
    ck_assert(slot->configured);
    ck_assert_uint_ge(slot->attempts, 3);

    cx_restart(&x, b);
    uint64_t t0 = sim_world_now_ns(x.w);
    ck_assert(cx_wait_mesh(&x, 1, 3 * SEC));
    ck_assert_uint_le(sim_world_now_ns(x.w) - t0, 1300 * MS);
    ck_assert_str_eq(mr_route_first(a->srv)->remote_id, mr_server_id(b->srv));
    struct sim_client *sb2 = cx_client(&x, "sb2", b);
    say(sb2, "SUB foo 1\r\n");
    cx_barrier(&x, sb2);
    sim_client_clear(sb2);
    ck_assert(wait_rsub(&x, a, b, "$G foo", 1));
    ck_assert_uint_eq(cx_global_subs(a->srv), 1);
    say(pub, PUB_HELLO);
    ck_assert(sim_client_wait_for(sb2, "hello\r\n", cx_after(&x, SEC)));
    settle(&x);
    assert_received(sb2, "MSG foo 1 5\r\nhello\r\n");
    cx_finish(&x);
}
END_TEST

START_TEST(partition_stalls_route_and_heal_delivers_once)
{
    enum { N = 10 };
    struct cx x;
    cx_init(&x, 14);
    struct cx_node *a = cx_add(&x, "n2", NULL);
    struct cx_node *b = cx_add(&x, "", NULL);
    ck_assert(cx_wait_mesh(&x, 1, 2 * SEC));
    uint64_t rid = mr_route_first(a->srv)->rid;
    struct sim_client *sb = cx_client(&x, "sb", b);
    struct sim_client *pub = cx_client(&x, "pub", a);
    say(sb, "SUB foo 1\r\n");
    cx_barrier(&x, sb);
    ck_assert(wait_rsub(&x, a, b, "$G foo", 1));

    sim_net_cut(x.w, a->host, b->host, false);
    for (int i = 0; i < N; i++) {
        say(pub, PUB_HELLO);
    }
    cx_barrier(&x, pub);
    sim_world_run_until(x.w, cx_after(&x, 3 * SEC));
    ck_assert_uint_eq(count(sb, "MSG foo"), 0);
    ck_assert_uint_eq(cx_routes(a->srv), 1);

    sim_net_heal(x.w, a->host, b->host);
    struct sim_client *one[1] = {sb};
    ck_assert(wait_total(&x, one, 1, "MSG foo", N, 2 * SEC));
    sim_world_run_until(x.w, cx_after(&x, SEC));
    ck_assert_uint_eq(count(sb, "MSG foo"), N);
    /* The same route carried them: it never dropped. */
    ck_assert_uint_eq(cx_routes(a->srv), 1);
    ck_assert_uint_eq(mr_route_first(a->srv)->rid, rid);
    cx_finish(&x);
}
END_TEST

/* n3 crashes and restarts with a new id: the mesh forms again by its seed and gossip,
 * and the others drop the old n3's interest. */
START_TEST(crashed_member_of_mesh_rejoins_by_gossip)
{
    struct cx x;
    cx_init(&x, 16);
    struct cx_node *a = cx_add(&x, "", NULL);
    struct cx_node *b = cx_add(&x, "n1", NULL);
    struct cx_node *c = cx_add(&x, "n1", NULL);
    ck_assert(cx_wait_mesh(&x, 2, 5 * SEC));
    struct sim_client *sc = cx_client(&x, "sc", c);
    say(sc, "SUB foo 1\r\n");
    cx_barrier(&x, sc);
    ck_assert(wait_rsub(&x, b, c, "$G foo", 1));
    cx_crash(&x, c);
    ck_assert(cx_wait_mesh(&x, 1, 2 * SEC));
    ck_assert_uint_eq(cx_global_subs(a->srv), 0);
    ck_assert_uint_eq(cx_global_subs(b->srv), 0);
    sim_world_run_until(x.w, cx_after(&x, 10 * SEC));
    cx_restart(&x, c);
    ck_assert(cx_wait_mesh(&x, 2, 5 * SEC));
    ck_assert_ptr_nonnull(cx_route_to(b->srv, mr_server_id(c->srv)));
    ck_assert_ptr_nonnull(cx_route_to(c->srv, mr_server_id(b->srv)));
    struct sim_client *sc2 = cx_client(&x, "sc2", c);
    struct sim_client *pub = cx_client(&x, "pub", b);
    say(sc2, "SUB foo 1\r\n");
    cx_barrier(&x, sc2);
    sim_client_clear(sc2);
    ck_assert(wait_rsub(&x, b, c, "$G foo", 1));
    say(pub, PUB_HELLO);
    ck_assert(sim_client_wait_for(sc2, "hello\r\n", cx_after(&x, SEC)));
    settle(&x);
    assert_received(sc2, "MSG foo 1 5\r\nhello\r\n");
    cx_finish(&x);
}
END_TEST

/* ---- determinism ------------------------------------------------------------------- */

static uint64_t mesh_trace(uint64_t seed)
{
    struct cx x;
    cx_init(&x, seed);
    (void)cx_add(&x, "n2,n3", NULL);
    (void)cx_add(&x, "n1", NULL);
    (void)cx_add(&x, "n1", NULL);
    ck_assert(cx_wait_mesh(&x, 2, 5 * SEC));
    sim_world_run_until(x.w, cx_after(&x, 3 * SEC));
    uint64_t h = sim_world_trace_hash(x.w);
    cx_finish(&x);
    return h;
}

START_TEST(same_seed_gives_same_trace_hash)
{
    ck_assert_uint_eq(mesh_trace(21), mesh_trace(21));
}
END_TEST

static Suite *route_suite(void)
{
    Suite *s = suite_create("route");

    TCase *form = tcase_create("formation");
    tcase_set_timeout(form, 20);
    tcase_add_test(form, seeded_pair_forms_one_route_and_carries_messages);
    tcase_add_test(form, three_nodes_seeded_at_one_form_full_mesh_by_gossip);
    tcase_add_test(form, route_to_self_is_dropped_and_never_retried);
    tcase_add_test(form, seeds_listing_self_and_peer_form_one_route);
    tcase_add_test(form, mutual_seeds_keep_one_route);
    tcase_add_test(form, racing_dials_keep_the_smaller_ids_route);
    tcase_add_test(form, duplicate_resolution_loses_no_messages);
    suite_add_tcase(s, form);

    TCase *proto = tcase_create("protocol");
    tcase_set_timeout(proto, 20);
    tcase_add_test(proto, peer_gets_local_interest_as_rs_lines);
    tcase_add_test(proto, publish_to_peer_interest_gives_exact_rmsg_forms);
    tcase_add_test(proto, peer_without_headers_gets_rmsg_without_headers);
    tcase_add_test(proto, routed_message_is_delivered_locally_once_and_never_forwarded);
    tcase_add_test(proto, client_connect_on_route_port_is_rejected);
    tcase_add_test(proto, wrong_cluster_name_is_rejected);
    tcase_add_test(proto, cluster_authorization_is_checked_on_route_connect);
    tcase_add_test(proto, interest_before_handshake_closes);
    suite_add_tcase(s, proto);

    TCase *queue = tcase_create("queues");
    tcase_set_timeout(queue, 20);
    tcase_add_test(queue, queue_group_split_follows_member_weights);
    suite_add_tcase(s, queue);

    TCase *fault = tcase_create("faults");
    tcase_set_timeout(fault, 20);
    tcase_add_test(fault, crashed_peer_clears_interest_and_route_comes_back);
    tcase_add_test(fault, partition_stalls_route_and_heal_delivers_once);
    tcase_add_test(fault, crashed_member_of_mesh_rejoins_by_gossip);
    suite_add_tcase(s, fault);

    TCase *det = tcase_create("determinism");
    tcase_set_timeout(det, 20);
    tcase_add_test(det, same_seed_gives_same_trace_hash);
    suite_add_tcase(s, det);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(route_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
