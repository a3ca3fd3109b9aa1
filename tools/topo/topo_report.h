/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HTML report of a simulator run (meridian-sim --report DIR): one self-contained page,
 * DIR/index.html, openable offline (no scripts, fonts or images from elsewhere; the
 * graphs are inline SVG). It shows the result and the checker verdicts, the scenario's
 * topology at the start, one frame per fault of the timeline (topo_frame.h), the fault
 * timeline and the materialised schedule.
 */
#ifndef TOPO_REPORT_H
#define TOPO_REPORT_H

#include <glib.h>
#include <stddef.h>

#include "sim/sim_run.h"
#include "sim/sim_scenario.h"

/* Frames past this many are listed in the timeline but not drawn. */
#define TOPO_REPORT_FRAMES_MAX 200

/*
 * Writes DIR/index.html (creating DIR) for run r of sc with frames (struct topo_frame *,
 * as topo_frames_collect gathers them). Returns 0, or -1 with err naming the path and
 * the reason.
 */
int topo_report_write(const char *dir, const struct sim_scenario *sc,
                      const struct sim_run_result *r, const GPtrArray *frames, char *err,
                      size_t err_len);

#endif
