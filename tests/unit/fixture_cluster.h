/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A cluster of servers on the sim env with scripted clients and scripted route peers,
 * for the route suite. Each node is a host named "n1", "n2", ... in a region of the
 * same name, with its client listener on 4222 and its route listener on 6222;
 * mr_server_check runs after every event delivered to it. A node's options (and its
 * struct mr_cluster_opts, which the server borrows) live in the fixture, so a crashed
 * node restarts with the same configuration, as the simulator's runner does. Every
 * fixture ends with cx_finish: shutdown, every connection closed, counters at zero, and
 * mr_server_destroy, whose mr_mem_deinit asserts that no byte is still allocated.
 *
 * White box: the route state is read through route.h and server_int.h (the route list,
 * its slots and remote interest, the route connection's counters), as /routez would
 * show it. Functions are static: the suite is one translation unit.
 */
#ifndef MR_TEST_FIXTURE_CLUSTER_H
#define MR_TEST_FIXTURE_CLUSTER_H

#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "core/conf/conf_server.h"
#include "core/err.h"
#include "core/server/route.h"
#include "core/server/server.h"
#include "core/server/server_int.h"
#include "sim/sim_env.h"
#include "tests/unit/fixture_server.h"

#define CX_NODES_MAX 4
#define CX_CLIENT_PORT 4222
#define CX_ROUTE_PORT 6222

struct cx_node {
    char name[16];
    struct sim_host *host;
    struct mr_server *srv; /* NULL while crashed */
    struct mr_server_opts opts;
    struct mr_cluster_opts cl; /* borrowed by srv through opts.cluster */
    char route_buf[CX_NODES_MAX + 1][64];
    char *routes[CX_NODES_MAX + 1];
};

struct cx {
    struct sim_world *w;
    struct cx_node n[CX_NODES_MAX];
    size_t count;
};

typedef void (*cx_tweak_fn)(struct cx_node *n);

static char cx_cluster_name[] = "c";

static inline void cx_check_server(void *ctx)
{
    mr_server_check(ctx);
}

static inline void cx_init(struct cx *x, uint64_t seed)
{
    memset(x, 0, sizeof(*x));
    struct sim_world_opts wo;
    sim_world_opts_default(&wo);
    wo.seed = seed;
    x->w = sim_world_create(&wo);
}

static inline uint64_t cx_after(struct cx *x, uint64_t ns)
{
    return sim_world_now_ns(x->w) + ns;
}

static inline void cx_boot(struct cx *x, struct cx_node *n)
{
    ck_assert_ptr_null(n->srv);
    char errmsg[MR_ERRMSG_MAX];
    int rc = mr_server_create(&n->opts, sim_host_env(n->host), &n->srv, errmsg, sizeof(errmsg));
    ck_assert_msg(rc == 0, "mr_server_create %s: %s", n->name, errmsg);
    sim_host_set_sink(n->host, mr_server_sink(n->srv));
    sim_host_set_check(n->host, cx_check_server, n->srv);
    ck_assert_int_eq(mr_server_start(n->srv), 0);
    (void)x;
}

/* Adds and starts node "n<k>" (k = its index + 1). seeds is a comma-separated list of
 * node names its routes list points at ("" for none); tweak may change its options
 * before it starts. Returns the node (stable: nodes never move). */
/* As cx_add, but the server is not started: cx_boot it later (to start several
 * servers at the same instant, after all their hosts exist). */
static inline struct cx_node *cx_add_unbooted(struct cx *x, const char *seeds,
                                              cx_tweak_fn tweak)
{
    ck_assert_uint_lt(x->count, CX_NODES_MAX);
    struct cx_node *n = &x->n[x->count++];
    snprintf(n->name, sizeof(n->name), "n%zu", x->count);
    n->host = sim_host_create_in(x->w, n->name, n->name);
    mr_server_opts_default(&n->opts);
    g_strlcpy(n->opts.server_name, n->name, sizeof(n->opts.server_name));
    n->cl.present = true;
    n->cl.name = cx_cluster_name;
    n->cl.port = CX_ROUTE_PORT;
    n->cl.pool_size = -1;
    n->cl.connect_retries = 3;
    gchar **names = g_strsplit(seeds, ",", -1);
    size_t k = 0;
    for (size_t i = 0; names[i] != NULL; i++) {
        if (names[i][0] == '\0') {
            continue;
        }
        ck_assert_uint_lt(k, CX_NODES_MAX + 1);
        snprintf(n->route_buf[k], sizeof(n->route_buf[k]), "nats-route://%s:%d", names[i],
                 CX_ROUTE_PORT);
        n->routes[k] = n->route_buf[k];
        k++;
    }
    g_strfreev(names);
    n->cl.routes.items = n->routes;
    n->cl.routes.count = k;
    n->opts.cluster = &n->cl;
    if (tweak != NULL) {
        tweak(n);
    }
    return n;
}

static inline struct cx_node *cx_add(struct cx *x, const char *seeds, cx_tweak_fn tweak)
{
    struct cx_node *n = cx_add_unbooted(x, seeds, tweak);
    cx_boot(x, n);
    return n;
}

/* The process dies (as sim_run's server_crash): the host drops everything and the
 * server object is freed without a shutdown. */
static inline void cx_crash(struct cx *x, struct cx_node *n)
{
    (void)x;
    sim_host_crash(n->host, SIM_CRASH_PROCESS);
    sim_host_set_check(n->host, NULL, NULL);
    mr_server_destroy(n->srv);
    n->srv = NULL;
}

/* The host comes back and a new server with the same options starts on it. */
static inline void cx_restart(struct cx *x, struct cx_node *n)
{
    sim_host_restart(n->host);
    cx_boot(x, n);
}

static inline bool cx_all_done_pred(void *ctx)
{
    struct cx *x = ctx;
    for (size_t i = 0; i < x->count; i++) {
        if (x->n[i].srv != NULL && !mr_server_done(x->n[i].srv)) {
            return false;
        }
    }
    return true;
}

static inline void cx_finish(struct cx *x)
{
    for (size_t i = 0; i < x->count; i++) {
        if (x->n[i].srv != NULL) {
            mr_server_shutdown(x->n[i].srv);
        }
    }
    ck_assert(sim_world_run_until_pred(x->w, cx_all_done_pred, x, cx_after(x, 10 * SEC)));
    for (size_t i = 0; i < x->count; i++) {
        struct cx_node *n = &x->n[i];
        if (n->srv == NULL) {
            continue;
        }
        mr_server_check(n->srv);
        struct mr_server_stats st;
        mr_server_stats(n->srv, &st);
        ck_assert_uint_eq(st.connections, 0);
        ck_assert_uint_eq(st.subscriptions, 0);
        ck_assert_ptr_null(mr_route_first(n->srv));
        sim_host_set_check(n->host, NULL, NULL);
        sim_host_set_sink(n->host, NULL);
        mr_server_destroy(n->srv); /* asserts every counted byte was freed */
        n->srv = NULL;
    }
    sim_world_check(x->w);
    sim_world_destroy(x->w);
}

/* ---- route state ------------------------------------------------------------------- */

static inline uint32_t cx_routes(const struct mr_server *s)
{
    uint32_t k = 0;
    for (const struct mr_route *r = mr_route_first(s); r != NULL; r = mr_route_next(r)) {
        k++;
    }
    return k;
}

static inline const struct mr_route *cx_route_to(const struct mr_server *s, const char *id)
{
    for (const struct mr_route *r = mr_route_first(s); r != NULL; r = mr_route_next(r)) {
        if (strcmp(r->remote_id, id) == 0) {
            return r;
        }
    }
    return NULL;
}

/* The weight of a remote interest "account subject[ queue]" on route r; 0 if absent. */
static inline int32_t cx_rsub_weight(const struct mr_route *r, const char *key)
{
    const struct mr_rsub *rs = g_hash_table_lookup(r->rsubs, key);
    return rs != NULL ? rs->weight : 0;
}

/* Entries in the global account's sublist (local and remote). */
static inline uint64_t cx_global_subs(const struct mr_server *s)
{
    struct mr_sublist_stats st;
    mr_sublist_stats(s->global->sublist, &st);
    return st.subs;
}

struct cx_mesh {
    struct cx *x;
    uint32_t routes; /* each live node has this many */
};

static inline bool cx_mesh_pred(void *ctx)
{
    const struct cx_mesh *m = ctx;
    for (size_t i = 0; i < m->x->count; i++) {
        const struct mr_server *s = m->x->n[i].srv;
        if (s != NULL && cx_routes(s) != m->routes) {
            return false;
        }
    }
    return true;
}

/* Runs until every live node has `routes` routes or `within` passes. */
static inline bool cx_wait_mesh(struct cx *x, uint32_t routes, uint64_t within)
{
    struct cx_mesh m = {x, routes};
    return sim_world_run_until_pred(x->w, cx_mesh_pred, &m, cx_after(x, within));
}

/* ---- clients and route peers -------------------------------------------------------- */

/* Sends PING and runs until its PONG is back (client or route peer alike). */
static inline void cx_barrier(struct cx *x, struct sim_client *c)
{
    struct count_reaches cr = {c, "PONG\r\n", count(c, "PONG\r\n") + 1};
    say(c, "PING\r\n");
    ck_assert(sim_world_run_until_pred(x->w, count_reaches_pred, &cr, cx_after(x, SEC)));
}

/* A client of node n that has its INFO and has sent CONNECT (headers on); received
 * bytes cleared. */
static inline struct sim_client *cx_client(struct cx *x, const char *name, struct cx_node *n)
{
    struct sim_client *c = sim_client_create(x->w, name, n->name, CX_CLIENT_PORT);
    ck_assert(sim_client_wait_for(c, "}\r\n", cx_after(x, SEC)));
    sim_client_clear(c);
    say(c, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true}\r\n");
    cx_barrier(x, c);
    sim_client_clear(c);
    return c;
}

/* A raw connection to n's route port that has the route INFO; received bytes cleared. */
static inline struct sim_client *cx_raw_route(struct cx *x, const char *name, struct cx_node *n)
{
    struct sim_client *c = sim_client_create(x->w, name, n->name, CX_ROUTE_PORT);
    ck_assert(sim_client_wait_for(c, "}\r\n", cx_after(x, SEC)));
    ck_assert_uint_eq(count(c, "INFO {"), 1);
    sim_client_clear(c);
    return c;
}

#define CX_PEER_ID "NPEERXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX"

/* A scripted peer server "peer" acting as the soliciting side of a route to n: CONNECT
 * then INFO, then a PING barrier, so when it returns the route is registered and
 * whatever n sent at registration (its interest) is in the received bytes, followed
 * by the barrier's PONG. */
static inline struct sim_client *cx_peer(struct cx *x, const char *name, struct cx_node *n)
{
    struct sim_client *p = cx_raw_route(x, name, n);
    say(p, "CONNECT {\"echo\":true,\"verbose\":false,\"pedantic\":false,"
           "\"tls_required\":false,\"headers\":true,\"name\":\"" CX_PEER_ID "\","
           "\"cluster\":\"c\",\"lnoc\":true}\r\n"
           "INFO {\"server_id\":\"" CX_PEER_ID "\",\"server_name\":\"peer\","
           "\"version\":\"2.9.0\",\"proto\":1,\"host\":\"0.0.0.0\",\"port\":6222,"
           "\"headers\":true,\"max_payload\":1048576,\"cluster\":\"c\",\"lnoc\":true}\r\n");
    cx_barrier(x, p);
    ck_assert_ptr_nonnull(cx_route_to(n->srv, CX_PEER_ID));
    return p;
}

#endif
