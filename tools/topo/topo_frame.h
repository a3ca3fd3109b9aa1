/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Simulator frames for meridian-topo and meridian-sim --report: a scenario's topology
 * (topo_infer.h) as it stands at one instant of a simulated run, with the servers that
 * are down or paused and the connections that a partition cuts marked.
 *
 * A frame is taken from sim_run's observer hook (sim_run_opts.on_frame) at every row of
 * the fault timeline: the start, each schedule entry applied, the end. An edge is drawn
 * cut when every pair of servers it stands for is cut (in either direction): a route
 * between two servers, a gateway between two cluster boxes, a WAN link between two
 * region boxes. JetStream does not run in the simulator yet, so frames mark no stream
 * leaders.
 *
 * Ownership: topo_frames_run returns an array of struct topo_frame the caller frees with
 * g_ptr_array_free (the array owns its frames). Frames are plain copies; nothing in them
 * points into the run.
 */
#ifndef TOPO_FRAME_H
#define TOPO_FRAME_H

#include <glib.h>
#include <stdint.h>

#include "sim/sim_run.h"
#include "sim/sim_scenario.h"
#include "tools/topo/topo_graph.h"

struct topo_frame {
    struct sim_run_frame state; /* state.what points at what below */
    char *what;
};

/* A sim_run_frame_fn that appends a copy of every frame to ctx (a GPtrArray made with
 * topo_frames_new). */
void topo_frames_collect(void *ctx, const struct sim_run_frame *f);
/* An empty array for topo_frames_collect, owning its frames. */
GPtrArray *topo_frames_new(void);

/*
 * Runs sc with seed until until_ns (0 = the whole duration) and returns every frame.
 * result, when not NULL, receives the run's result (the caller deinits it). Returns
 * NULL with err set when the world could not be built.
 */
GPtrArray *topo_frames_run(const struct sim_scenario *sc, uint64_t seed, uint64_t until_ns,
                           struct sim_run_result *result, char *err, size_t err_len);

/* Marks frame f on g, a graph made by topo_from_scenario(g, sc): servers down or
 * paused, cut edges, and a note with the time and the timeline entry. */
void topo_frame_apply(struct topo_graph *g, const struct sim_scenario *sc,
                      const struct topo_frame *f);

/* Whether a frame is a fault of the timeline (not the start or the end row). */
bool topo_frame_is_fault(const struct topo_frame *f);

#endif
