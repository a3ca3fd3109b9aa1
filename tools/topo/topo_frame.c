/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Simulator frames (topo_frame.h): copies of the run's state at each timeline row, and
 * their marks on a scenario's graph.
 */
#include "tools/topo/topo_frame.h"

#include <stdio.h>
#include <string.h>

#include "core/assert.h"

static void frame_free(gpointer p)
{
    struct topo_frame *f = p;
    g_free(f->what);
    g_free(f);
}

GPtrArray *topo_frames_new(void)
{
    return g_ptr_array_new_with_free_func(frame_free);
}

void topo_frames_collect(void *ctx, const struct sim_run_frame *f)
{
    GPtrArray *frames = ctx;
    struct topo_frame *copy = g_new0(struct topo_frame, 1);
    copy->state = *f;
    copy->what = g_strdup(f->what != NULL ? f->what : "");
    copy->state.what = copy->what;
    g_ptr_array_add(frames, copy);
}

GPtrArray *topo_frames_run(const struct sim_scenario *sc, uint64_t seed, uint64_t until_ns,
                           struct sim_run_result *result, char *err, size_t err_len)
{
    GPtrArray *frames = topo_frames_new();
    struct sim_run_opts o;
    sim_run_opts_default(&o);
    o.seed = seed;
    o.until_ns = until_ns;
    o.server_check_every = 0; /* drawing, not checking: the run's speed matters more */
    o.on_frame = topo_frames_collect;
    o.on_frame_ctx = frames;
    struct sim_run_result local;
    struct sim_run_result *r = result != NULL ? result : &local;
    int rc = sim_run(sc, &o, r);
    if (rc != 0) {
        snprintf(err, err_len, "%s", r->err);
        g_ptr_array_free(frames, TRUE);
        frames = NULL;
    }
    if (result == NULL) {
        sim_run_result_deinit(&local);
    }
    return frames;
}

bool topo_frame_is_fault(const struct topo_frame *f)
{
    return strcmp(f->what, "start") != 0 && strcmp(f->what, "end") != 0;
}

/* The scenario's servers an edge end stands for (a server, a cluster box or a region
 * box), as indices into sc->servers, written to out (at most SIM_SC_SERVERS_MAX). */
static size_t end_servers(const struct topo_graph *g, const struct sim_scenario *sc,
                          const char *end, size_t out[SIM_SC_SERVERS_MAX])
{
    size_t n = 0;
    bool region = g_str_has_prefix(end, "region:");
    bool cluster = g_str_has_prefix(end, "cluster:");
    const char *name = region ? end + strlen("region:") : cluster ? end + strlen("cluster:") : end;
    for (size_t i = 0; i < sc->servers_count && n < SIM_SC_SERVERS_MAX; i++) {
        const char *sname = sc->servers[i].name;
        bool hit;
        if (region) {
            hit = strcmp(sc->servers[i].region, name) == 0;
        } else if (cluster) {
            const struct topo_server *s = topo_graph_find_server(g, sname);
            hit = s != NULL && s->cluster != NULL && strcmp(s->cluster, name) == 0;
        } else {
            hit = strcmp(sname, name) == 0;
        }
        if (hit) {
            out[n++] = i;
        }
    }
    return n;
}

/* Whether every pair of servers across the edge is cut (either direction). */
static bool edge_cut(const struct topo_graph *g, const struct sim_scenario *sc,
                     const struct topo_edge *e, const struct sim_run_frame *f)
{
    size_t a[SIM_SC_SERVERS_MAX];
    size_t b[SIM_SC_SERVERS_MAX];
    size_t na = end_servers(g, sc, e->a, a);
    size_t nb = end_servers(g, sc, e->b, b);
    size_t pairs = 0;
    for (size_t i = 0; i < na; i++) {
        for (size_t k = 0; k < nb; k++) {
            if (a[i] == b[k]) {
                continue;
            }
            pairs++;
            if (!f->cut[a[i]][b[k]] && !f->cut[b[k]][a[i]]) {
                return false;
            }
        }
    }
    return pairs > 0;
}

void topo_frame_apply(struct topo_graph *g, const struct sim_scenario *sc,
                      const struct topo_frame *f)
{
    mr_assert(f->state.servers_count == sc->servers_count);
    for (size_t i = 0; i < sc->servers_count; i++) {
        struct topo_server *s = topo_graph_find_server(g, sc->servers[i].name);
        if (s == NULL) {
            continue;
        }
        s->down = f->state.state[i] == SIM_RUN_SERVER_DOWN;
        s->paused = f->state.state[i] == SIM_RUN_SERVER_PAUSED;
    }
    for (guint i = 0; i < g->edges->len; i++) {
        struct topo_edge *e = g_ptr_array_index(g->edges, i);
        e->cut = edge_cut(g, sc, e, &f->state);
    }
    char at[32];
    sim_sc_duration_format(f->state.at_ns, at, sizeof(at));
    if (strcmp(f->what, "end") == 0) {
        topo_graph_add_note(g, "at %s", at);
    } else {
        topo_graph_add_note(g, "at %s: %s", at, f->what);
    }
}
