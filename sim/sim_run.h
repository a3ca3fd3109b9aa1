/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The scenario runner: builds a world from a loaded scenario (sim_scenario.h) and a
 * seed, runs it in virtual time and judges it.
 *
 * What a run does, in order: a world with the seed; a link per region (its latency
 * range) and per links [] entry; one host per server, in the server's region, and the
 * scenario's shared names; a real server (core/server) per host from the server's
 * loaded config, started; one workload (sim_workload.h) per client, recording into one
 * history; the materialised schedule (sim_scenario_materialise) applied entry by entry
 * at its virtual time; the online checker after every event; at the end (the duration,
 * or until_ns) the offline checkers the scenario asked for, with the fault windows the
 * runner recorded.
 *
 * Crash and power_fail call sim_host_crash and then destroy the server object (its
 * memory is gone, as a killed process's is); restart calls sim_host_restart and
 * creates a fresh server from the same config. region_down power-fails every server
 * of the region and region_up restarts them. quiesce heals every cut, restarts every
 * crashed server, resumes every paused one and puts latencies and clocks back.
 *
 * For local_delivery the run records the outages of every leaf server (one with
 * leafnodes remotes): down, paused, cut from a client's host, or reset, and the cuts
 * between servers of one leaf cluster (leaf servers sharing a cluster name); for
 * account_scoping it hands the checkers each client's account and the scenario's
 * account_crossings (sim_check.h). Workloads send the clients' credentials, and the
 * result lists every client that saw an -ERR (client_errors).
 *
 * JetStream: a server whose config enables it gets the config's jetstream options and
 * its host's files rooted at store_dir/jetstream (sim_host_set_file_root), its disk
 * gets the scenario's disk {} faults, and its store's error lines become JS_STORE
 * history events; every crash is recorded (power or process) for no_acked_loss, which
 * runs with the scenario's expect { acked_loss }.
 *
 * Liveness mode (sim { mode: liveness } with a quiesce; simulation.md section 7): the
 * run draws a core from the seed (sim_scenario_choose_core: a majority of each
 * cluster). At quiesce only the core is healed, restarted and resumed; faults outside
 * it stay for good (a server outside the core that is still up and cut off from
 * nothing is crashed then), entries after quiesce are skipped, and the checkers judge
 * the rest of the run against the core (sim_check_opts.core), with (quiesce, quiesce +
 * converge) as one more fault window for delivery and queue_once when a fault outside
 * the core stays: the core's time to converge without it. The core and the permanent
 * faults are in the timeline, the trace, the schedule and the summary.
 *
 * Invariants: the same scenario, seed and until_ns give the same trace hash, history,
 * timeline and verdicts; nothing here reads a clock or the OS (the caller measures
 * wall time and opens the trace file).
 *
 * Ownership: sim_run borrows the scenario and the trace stream; the result owns its
 * strings (sim_run_result_deinit frees them).
 */
#ifndef SIM_RUN_H
#define SIM_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sim/sim_check.h"
#include "sim/sim_scenario.h"

/* Default budget of dispatched events per run (simulation.md D11): over it the run
 * stops and fails with "event budget exceeded". */
#define SIM_RUN_EVENTS_MAX_DEFAULT (500ULL * 1000 * 1000)
#define SIM_RUN_ERR_MAX 1024

/* The state of a run at one instant, for observers (meridian-topo's frames,
 * meridian-sim --report): each server up, down or paused, and which servers cannot
 * reach which. Index i is the scenario's server i. Valid during the callback only. */
enum sim_run_server_state {
    SIM_RUN_SERVER_UP = 0,
    SIM_RUN_SERVER_DOWN,
    SIM_RUN_SERVER_PAUSED,
};

struct sim_run_frame {
    uint64_t at_ns;
    const char *what; /* "start", "end", or the timeline row's entry in scenario syntax */
    size_t servers_count;
    enum sim_run_server_state state[SIM_SC_SERVERS_MAX];
    bool cut[SIM_SC_SERVERS_MAX][SIM_SC_SERVERS_MAX]; /* bytes from i do not reach j */
};

/* Called for every timeline row (the start, each schedule entry applied, the end);
 * it must only read the frame. */
typedef void (*sim_run_frame_fn)(void *ctx, const struct sim_run_frame *f);

struct sim_run_opts {
    uint64_t seed;
    uint64_t until_ns;   /* 0 = the scenario's duration; else the earlier of the two */
    uint64_t events_max; /* 0 = SIM_RUN_EVENTS_MAX_DEFAULT */
    bool online_checks;  /* run the online checker after every event (default true) */
    FILE *trace;         /* JSON lines of faults, client events and verdicts; NULL = none */
    bool verbose;        /* server logs to stderr */
    /* mr_server_check after every Nth event delivered to a server's host: 1 (the
     * default) = every event, 0 = never. The check is O(connections + subscriptions)
     * and dominates the cost of a run; sweeps may thin it out. */
    uint32_t server_check_every;
    sim_run_frame_fn on_frame; /* NULL = none */
    void *on_frame_ctx;
};

struct sim_run_result {
    uint64_t seed;
    int rc;                     /* 0, or a negative mr_err when the world could not be built */
    char err[SIM_RUN_ERR_MAX];  /* why rc != 0, or why the budget stopped the run */
    bool ok;                    /* rc == 0, every verdict ok and no budget overrun */
    bool budget_exceeded;

    struct sim_verdict verdicts[SIM_CHECK_COUNT];
    bool verdict_run[SIM_CHECK_COUNT]; /* the scenario asked for it */
    uint64_t first_violation_ns;      /* online checker's first violation; 0 = none */

    uint64_t published; /* PUBs and requests sent by every workload */
    uint64_t received;
    uint64_t replies;
    uint64_t timeouts;
    uint64_t connects;
    uint64_t disconnects;
    uint64_t errors;
    uint64_t history_events;
    /* JetStream (printed when js_clients > 0): PubAcks received, sequences read back,
     * store error lines (JS_STORE events) and bits the disks' bit_rot flipped. */
    uint64_t js_clients;
    uint64_t js_acked;
    uint64_t js_read;
    uint64_t js_store_errors;
    uint64_t bit_rots;

    uint64_t events;     /* world events dispatched */
    uint64_t virtual_ns; /* virtual time at the end */
    uint64_t trace_hash; /* world trace hash folded with the history hash */
    uint64_t faults;     /* schedule entries applied */

    /* One row per state change: "   12.500s  s1 s2 s3 | crash [s2]"; owned. */
    char *timeline;
    /* The materialised schedule in scenario syntax (a `timeline [...]` block); owned. */
    char *schedule;

    /* Liveness mode with a quiesce (simulation.md section 7): the core chosen from the
     * seed (in_core[i] for server i; core_count servers), and the summary line
     * "liveness core: [n1, n3] from quiesce at 40s; outside it for good: n2 stays
     * down" (owned; the part after ";" once quiesce ran). NULL and zeros otherwise. */
    bool in_core[SIM_SC_SERVERS_MAX];
    size_t core_count;
    char *core;
    /* "client NAME: N errors, first at T from SERVER: TEXT" lines, one per client that
     * saw an -ERR (owned); NULL when none did. */
    char *client_errors;
};

void sim_run_opts_default(struct sim_run_opts *o);

/* Runs sc with o. Returns 0 when the run happened (verdicts in out, out->ok tells),
 * or the error that stopped the world being built (out->err says which server). The
 * result must be released with sim_run_result_deinit either way. */
int sim_run(const struct sim_scenario *sc, const struct sim_run_opts *o,
            struct sim_run_result *out);
void sim_run_result_deinit(struct sim_run_result *r);

/* Writes the verdict lines, counts and the trace hash, as the CLI prints them. */
void sim_run_result_print(const struct sim_run_result *r, FILE *out);

#endif
