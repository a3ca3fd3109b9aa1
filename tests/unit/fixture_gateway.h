/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A supercluster on the sim env, for the gateway suite: fixture_cluster.h's nodes
 * ("n1", "n2", ... each a host in a region of the same name, clients on 4222, routes on
 * 6222), each also given a cluster name of its own choosing and a gateway {} block
 * listening on 7222. The gateway options (names, URL lists) live in the fixture next
 * to the node, so a crashed node restarts with the same configuration.
 *
 * White box: the gateway state is read through gateway.h and server_int.h (the
 * registered outbound and inbound lists, an outbound connection's interest count and
 * the connection's counters), as /gatewayz would show it. Functions are static: the
 * suite is one translation unit.
 */
#ifndef MR_TEST_FIXTURE_GATEWAY_H
#define MR_TEST_FIXTURE_GATEWAY_H

#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "core/conf/conf_server.h"
#include "core/server/gateway.h"
#include "core/server/server_int.h"
#include "tests/unit/fixture_cluster.h"

#define GX_GATEWAY_PORT 7222
#define GX_REMOTES_MAX CX_NODES_MAX

/* The gateway configuration of one node; borrowed by its server through opts.gateway. */
struct gx_node {
    char cluster[16];
    struct mr_gateway_opts gw;
    struct mr_gateway_remote_opts remotes[GX_REMOTES_MAX];
    char remote_names[GX_REMOTES_MAX][16];
    char url_buf[GX_REMOTES_MAX][CX_NODES_MAX][64];
    char *urls[GX_REMOTES_MAX][CX_NODES_MAX];
};

struct gx {
    struct cx x;
    struct gx_node g[CX_NODES_MAX];
};

static inline void gx_init(struct gx *gx, uint64_t seed)
{
    memset(gx, 0, sizeof(*gx));
    cx_init(&gx->x, seed);
}

/* As gx_init, keeping log lines down to level in the hosts' logs. */
static inline void gx_init_logging(struct gx *gx, uint64_t seed, enum mr_log_level level)
{
    memset(gx, 0, sizeof(*gx));
    struct sim_world_opts wo;
    sim_world_opts_default(&wo);
    wo.seed = seed;
    wo.log_level = level;
    gx->x.w = sim_world_create(&wo);
}

/* Adds node "n<k>" of cluster `cluster` without starting it. seeds are route seeds as
 * in cx_add ("" for none). gateways lists the gateway {} block's gateways as
 * "NAME=host,host;NAME=host", each host meaning nats://host:7222 (or "host:port" for
 * another port). */
static inline struct cx_node *gx_add_unbooted(struct gx *gx, const char *cluster,
                                              const char *seeds, const char *gateways)
{
    struct cx_node *n = cx_add_unbooted(&gx->x, seeds, NULL);
    struct gx_node *g = &gx->g[gx->x.count - 1];
    g_strlcpy(g->cluster, cluster, sizeof(g->cluster));
    n->cl.name = g->cluster;
    g->gw.present = true;
    g->gw.name = g->cluster;
    g->gw.host = n->name; /* so its gateway URL is "n<k>:7222", gossiped to others */
    g->gw.port = GX_GATEWAY_PORT;
    gchar **items = g_strsplit(gateways, ";", -1);
    size_t k = 0;
    for (size_t i = 0; items[i] != NULL; i++) {
        if (items[i][0] == '\0') {
            continue;
        }
        ck_assert_uint_lt(k, GX_REMOTES_MAX);
        gchar **kv = g_strsplit(items[i], "=", 2);
        ck_assert_ptr_nonnull(kv[1]);
        g_strlcpy(g->remote_names[k], kv[0], sizeof(g->remote_names[k]));
        g->remotes[k].name = g->remote_names[k];
        gchar **hosts = g_strsplit(kv[1], ",", -1);
        size_t u = 0;
        for (size_t h = 0; hosts[h] != NULL; h++) {
            ck_assert_uint_lt(u, CX_NODES_MAX);
            if (strchr(hosts[h], ':') != NULL) {
                snprintf(g->url_buf[k][u], sizeof(g->url_buf[k][u]), "nats://%s", hosts[h]);
            } else {
                snprintf(g->url_buf[k][u], sizeof(g->url_buf[k][u]), "nats://%s:%d",
                         hosts[h], GX_GATEWAY_PORT);
            }
            g->urls[k][u] = g->url_buf[k][u];
            u++;
        }
        g_strfreev(hosts);
        g_strfreev(kv);
        g->remotes[k].urls.items = g->urls[k];
        g->remotes[k].urls.count = u;
        k++;
    }
    g_strfreev(items);
    g->gw.gateways = g->remotes;
    g->gw.gateways_count = k;
    n->opts.gateway = &g->gw;
    return n;
}

static inline struct cx_node *gx_add(struct gx *gx, const char *cluster, const char *seeds,
                                     const char *gateways)
{
    struct cx_node *n = gx_add_unbooted(gx, cluster, seeds, gateways);
    cx_boot(&gx->x, n);
    return n;
}

/* ---- gateway state ------------------------------------------------------------------ */

/* The registered outbound gateway connection of s to cluster `name`, or NULL. */
static inline struct mr_gw_conn *gx_out_to(const struct mr_server *s, const char *name)
{
    for (struct mr_gw_conn *g = s->gw.out_head; g != NULL; g = g->next) {
        if (strcmp(g->name, name) == 0) {
            return g;
        }
    }
    return NULL;
}

/* How many registered inbound gateway connections of s come from cluster `name`. */
static inline uint32_t gx_in_from(const struct mr_server *s, const char *name)
{
    uint32_t k = 0;
    for (const struct mr_gw_conn *g = s->gw.in_head; g != NULL; g = g->next) {
        k += strcmp(g->name, name) == 0 ? 1 : 0;
    }
    return k;
}

/* Every live node has a registered outbound connection to every cluster other than
 * its own among the nodes'. */
static inline bool gx_full_pred(void *ctx)
{
    const struct gx *gx = ctx;
    for (size_t i = 0; i < gx->x.count; i++) {
        const struct mr_server *s = gx->x.n[i].srv;
        if (s == NULL) {
            continue;
        }
        for (size_t j = 0; j < gx->x.count; j++) {
            const char *other = gx->g[j].cluster;
            if (strcmp(other, gx->g[i].cluster) != 0 && gx_out_to(s, other) == NULL) {
                return false;
            }
        }
    }
    return true;
}

static inline bool gx_wait_full(struct gx *gx, uint64_t within)
{
    return sim_world_run_until_pred(gx->x.w, gx_full_pred, gx, cx_after(&gx->x, within));
}

struct gx_rsubs {
    const struct mr_server *s;
    const char *remote;
    uint32_t n;
};

static inline bool gx_rsubs_pred(void *ctx)
{
    const struct gx_rsubs *r = ctx;
    const struct mr_gw_conn *g = gx_out_to(r->s, r->remote);
    return g != NULL && g->rsubs == r->n;
}

/* Runs until n's outbound connection to cluster remote holds `count` interest entries
 * (the remote cluster's RS+ minus RS-). */
static inline bool gx_wait_rsubs(struct gx *gx, const struct cx_node *n, const char *remote,
                                 uint32_t count)
{
    struct gx_rsubs r = {n->srv, remote, count};
    return sim_world_run_until_pred(gx->x.w, gx_rsubs_pred, &r, cx_after(&gx->x, 2 * SEC));
}

static inline void gx_finish(struct gx *gx)
{
    cx_finish(&gx->x);
}

#endif
