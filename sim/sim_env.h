/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulated environment: one world with a virtual clock, one event queue, seeded
 * random streams and a rolling trace hash; hosts in regions that each expose a struct
 * mr_env (core/env.h) over that world, with a disk each; a network of links with
 * latency models, bandwidth and faults; and scripted in-memory clients. The same core
 * code that runs on real sockets runs here unchanged, many instances in one thread.
 *
 * Invariants:
 *  - Events run in (time, insertion sequence) order; the clock never goes backwards.
 *  - The env never calls a sink inside the env call that requested the action: every
 *    completion, delivery and close is a queued event (env.h rule).
 *  - A connection is a pair of ordered byte pipes with a one-way delay per chunk (its
 *    link's latency model and bandwidth) and a receive window per direction. Bytes
 *    are pulled from the sender's sink (out_peek/out_consume) at the end of the step
 *    in which it asked to write (or by a flush event at the same time) and reach the
 *    receiver's on_bytes after the delay, in order, in chunks of at most chunk_bytes.
 *  - Each endpoint gets exactly one terminal input: on_closed, or a failed
 *    on_connected.
 *  - The same seed and the same calls give the same events, bytes and trace hash.
 *
 * Ownership: the world owns its hosts and clients and frees them in
 * sim_world_destroy. Sinks attached to hosts are borrowed and must outlive the
 * attachment (detach with sim_host_set_sink(h, NULL) before freeing one).
 *
 * Network model: every host lives in a region. A link joins two regions (or a region
 * to itself) and carries a latency model and a bandwidth; links are symmetric in
 * configuration, and each direction of a link serialises its bytes separately (full
 * duplex), shared by every connection on it. Unconfigured links have the fixed
 * link_delay_ns and unlimited bandwidth, which is the behaviour of the minimal env.
 * A chunk's arrival is clamped so it never overtakes an earlier chunk of the same
 * direction of a connection (TCP: loss and reordering show up as delay).
 *
 * Faults (sim_net_*, sim_host_crash/restart/pause/resume/set_clock) are folded into
 * the trace hash. A cut stalls a path (bytes wait, as under TCP retransmission, and
 * flow in order after the heal); connects across a cut retry their SYN every second
 * and fail with MR_E_TIMEOUT after connect_timeout_ns. Every random draw of the
 * network (latency samples, shared-name picks) comes from the world's network stream,
 * derived from the seed, so workloads drawing from sim_world_rng do not shift it.
 *
 * Files: each host has a sim_disk (sim_disk.h); file requests complete as later
 * events, disk_latency_ns after the request, in request order per host.
 */
#ifndef SIM_ENV_H
#define SIM_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/env.h"
#include "sim/sim_disk.h"

/* A xoshiro256** generator; streams are derived from one root seed with splitmix64,
 * so adding a stream never shifts another. */
struct sim_rng {
    uint64_t s[4];
};

/* Seeds rng as stream stream_id of the root seed. */
void sim_rng_init(struct sim_rng *rng, uint64_t seed, uint64_t stream_id);
uint64_t sim_rng_next(struct sim_rng *rng);
/* A uniform value in [0, n); n > 0. */
uint64_t sim_rng_below(struct sim_rng *rng, uint64_t n);
void sim_rng_bytes(struct sim_rng *rng, uint8_t *out, size_t len);

struct sim_world_opts {
    uint64_t seed;
    uint64_t link_delay_ns;      /* one-way delay of unconfigured links; 100 us */
    size_t window_bytes;         /* per direction: bytes in flight or unread; 256 KiB */
    size_t chunk_bytes;          /* most bytes per on_bytes call; default 16 KiB */
    enum mr_log_level log_level; /* lines above it are not kept; default MR_LOG_INFO */
    bool verbose;                /* also print kept log lines to stderr */
    uint64_t connect_timeout_ns; /* a connect with no answer fails; default 5 s */
    uint64_t disk_latency_ns;    /* from a file request to its completion; 20 us */
};

struct sim_world;
struct sim_host;
struct sim_client;

typedef bool (*sim_pred_fn)(void *ctx);

void sim_world_opts_default(struct sim_world_opts *o);
/* Creates an empty world at virtual time 0. Never fails (allocation failure aborts). */
struct sim_world *sim_world_create(const struct sim_world_opts *opts);
/* Frees the world with its hosts, clients, connections and queued events. Servers
 * running on its hosts must be destroyed first. */
void sim_world_destroy(struct sim_world *w);

uint64_t sim_world_now_ns(const struct sim_world *w);
uint64_t sim_world_seed(const struct sim_world *w);
/* The rolling hash over every dispatched event (time, kind, ids, bytes) and every log
 * call. Two runs with the same seed and the same calls have the same hash. */
uint64_t sim_world_trace_hash(const struct sim_world *w);
uint64_t sim_world_events_dispatched(const struct sim_world *w);
size_t sim_world_events_queued(const struct sim_world *w);
/* The world's own stream (workloads, tests); independent of the hosts' streams. */
struct sim_rng *sim_world_rng(struct sim_world *w);

/* Runs the earliest event. Returns false when the queue is empty. */
bool sim_world_step(struct sim_world *w);
/* Runs every event due at or before t_ns, then sets the clock to t_ns (if later). */
void sim_world_run_until(struct sim_world *w, uint64_t t_ns);
/* Runs events until pred(ctx) holds (checked first and after every event) or the next
 * event is after deadline_ns; in the second case the clock ends at deadline_ns.
 * Returns the last value of pred. */
bool sim_world_run_until_pred(struct sim_world *w, sim_pred_fn pred, void *ctx,
                              uint64_t deadline_ns);
/* Asserts the queue's invariants. O(events). */
void sim_world_check(const struct sim_world *w);

/* Creates a host; name must be unique in the world (it is what connect() resolves).
 * Its env draws randomness from its own stream. The world owns it. */
struct sim_host *sim_host_create(struct sim_world *w, const char *name);
struct sim_host *sim_world_host(struct sim_world *w, const char *name);
const char *sim_host_name(const struct sim_host *h);
/* The env to hand to the core; valid as long as the world. */
const struct mr_env *sim_host_env(struct sim_host *h);
/* Attaches the sink that receives this host's inputs (borrowed). NULL detaches: the
 * host's timers are cancelled and later inputs to it are dropped and counted. */
void sim_host_set_sink(struct sim_host *h, const struct mr_env_sink *sink);
/* A check run after every event delivered to this host (e.g. mr_server_check). */
void sim_host_set_check(struct sim_host *h, void (*check)(void *ctx), void *ctx);
/* An observer of a host's log lines (every level, whatever the world keeps). It may
 * read the world and append to a history, never change the host. */
typedef void (*sim_host_log_fn)(void *ctx, enum mr_log_level level, const char *module,
                                const char *msg);
void sim_host_set_log_fn(struct sim_host *h, sim_host_log_fn fn, void *ctx);
/* Roots the host's file paths at root on its disk (a server's store directory,
 * store_dir/jetstream, as the real env does): the env's "a/b" is the disk's
 * "root/a/b", its "" or "." the root itself. NULL or "" = the disk's own root. The
 * string is copied. */
void sim_host_set_file_root(struct sim_host *h, const char *root);
/* The kept log lines, "<sec>.<ns> <host> <level> <module>: <msg>\n" each; bounded,
 * later lines are counted in log_dropped. */
const char *sim_host_log(const struct sim_host *h, size_t *len);
void sim_host_log_clear(struct sim_host *h);
uint64_t sim_host_inputs_dropped(const struct sim_host *h);

/* ------------------------------------------------------------------------------------
 * Regions, links and names
 */

/* Latency models of a link (one-way delay per chunk). */
enum sim_latency_kind {
    SIM_LAT_FIXED = 0,   /* base_ns exactly */
    SIM_LAT_UNIFORM = 1, /* uniform in [base_ns, base_ns + spread_ns] */
    /* base_ns +/- spread_ns, bell-shaped (a sum of four uniforms), mean base_ns; values
     * below 0 are clamped to 0. */
    SIM_LAT_NORMAL = 2,
    /* base_ns plus a heavy (pareto-like, alpha 1) tail: extra = spread_ns * X with
     * P(X >= k) ~ 1 / (k + 1), capped at X = SIM_LAT_TAIL_CAP; median extra spread_ns. */
    SIM_LAT_LONG_TAIL = 3,
};

#define SIM_LAT_TAIL_CAP 100

struct sim_latency {
    enum sim_latency_kind kind;
    uint64_t base_ns;
    uint64_t spread_ns; /* unused by SIM_LAT_FIXED */
};

/* The region of hosts created with sim_host_create and sim_client_create. */
#define SIM_REGION_DEFAULT "default"

/* Like sim_host_create, in region (any non-empty string; regions exist once named). */
struct sim_host *sim_host_create_in(struct sim_world *w, const char *name, const char *region);
const char *sim_host_region(const struct sim_host *h);
/* Configures the link between two regions (region_a == region_b: the region's own,
 * intra-region link): its latency model and its bandwidth in bytes per second per
 * direction (0 = unlimited). Symmetric: (a, b) and (b, a) are one link. May be called
 * at any time; bytes already sent keep their arrival times. */
void sim_world_set_link(struct sim_world *w, const char *region_a, const char *region_b,
                        const struct sim_latency *latency, uint64_t bandwidth_bytes_per_s);
/* Draws one latency value from a model with rng (exposed for tests and workloads). */
uint64_t sim_latency_sample(const struct sim_latency *lat, struct sim_rng *rng);
/* Data bytes carried over the link between the two regions, both directions, since
 * the world was created (region_a == region_b: the intra-region link). 0 for unknown
 * regions. */
uint64_t sim_world_link_bytes(const struct sim_world *w, const char *region_a,
                              const char *region_b);
/* Adds host to the shared name `name` (created on first use; it must not be a host's
 * name, and a host is added once). A connect to a shared name picks one of its live
 * (not crashed) hosts with the world's network stream, as DNS round robin would;
 * when none is live it picks among all of them, and the connect then fails as to a
 * crashed host. A host name always resolves to its host; unknown names fail the
 * connect with MR_E_ADDR. */
void sim_world_add_name(struct sim_world *w, const char *name, struct sim_host *h);

/* ------------------------------------------------------------------------------------
 * Network faults. Hosts are the world's; each call is folded into the trace hash and
 * takes effect at the current virtual time.
 */

/* Cuts the path from a to b, and from b to a unless one_way. Bytes (and FINs, resets)
 * in flight or sent later on a cut path wait and flow again in order after the heal;
 * connects across it retry and fail with MR_E_TIMEOUT after connect_timeout_ns. a and
 * b must differ. Cutting a cut path is a no-op. */
void sim_net_cut(struct sim_world *w, struct sim_host *a, struct sim_host *b, bool one_way);
/* Heals both directions between a and b (a no-op where nothing was cut). */
void sim_net_heal(struct sim_world *w, struct sim_host *a, struct sim_host *b);
void sim_net_heal_all(struct sim_world *w);
/* True if the path from a to b is cut. */
bool sim_net_is_cut(const struct sim_world *w, const struct sim_host *a,
                    const struct sim_host *b);
/* Cuts h from every other host existing now, both ways. */
void sim_net_isolate(struct sim_world *w, struct sim_host *h);
/* groups: a NULL-terminated array of NULL-terminated arrays of host names (each name
 * must exist); hosts in different groups are cut both ways, hosts in no group are not
 * touched, and existing cuts stay. */
void sim_net_partition(struct sim_world *w, const char *const *const *groups);
/* Resets every connection of h: h's end gets on_closed (or a failed on_connected for
 * a connect in flight) now, as a later event; the peer one link delay later (after
 * the bytes already in flight, and after a heal if the path is cut). */
void sim_net_reset(struct sim_world *w, struct sim_host *h);
/* Changes the latency model of a link at run time (bandwidth unchanged); see
 * sim_world_set_link. */
void sim_net_set_latency(struct sim_world *w, const char *region_a, const char *region_b,
                         const struct sim_latency *latency);

/* ------------------------------------------------------------------------------------
 * Host faults
 */

/* The host goes down: every connection is dropped (peers get on_closed one link
 * delay later), its timers, queued inputs and held events are dropped, its listeners
 * removed, its sink detached (without any input), and its disk crashes with kind
 * (sim_disk_crash). Connects to it then fail: MR_E_REFUSED after SIM_CRASH_PROCESS
 * (the OS answers with a reset), MR_E_TIMEOUT after SIM_CRASH_POWER (nothing answers).
 * It stays down until sim_host_restart. Crashing a down host is a no-op. */
void sim_host_crash(struct sim_host *h, enum sim_crash_kind kind);
/* Brings a crashed host back up, empty but for its disk and clock settings; the
 * caller then creates a new server on it and attaches its sink. No-op if up. */
void sim_host_restart(struct sim_host *h);
bool sim_host_up(const struct sim_host *h);
/* Stop the world for one host (SIGSTOP): its inputs (bytes, timers, file completions,
 * accepts) are held, its connections stay open (peers' windows fill up); after
 * sim_host_resume they are delivered in their original order at the resume time
 * (timers fire late). Pausing a paused host is a no-op. */
void sim_host_pause(struct sim_host *h);
void sim_host_resume(struct sim_host *h);
bool sim_host_paused(const struct sim_host *h);
/* Sets the host's clock relative to virtual time t, from now on:
 *   wall_ns  = wall epoch + t + offset_ns + drift since this call,
 *   now_ns   = its value now, or now + offset_ns if that is later, plus drift since,
 * where drift runs at (1e6 + drift_ppm) / 1e6 of virtual time, so the monotonic
 * clock never goes backwards while the wall clock may jump both ways. Timers armed by
 * the host are deadlines on its monotonic clock, converted to virtual time (and
 * converted again by each call). drift_ppm in [-500000, 500000]. */
void sim_host_set_clock(struct sim_host *h, int64_t offset_ns, int32_t drift_ppm);
/* The host's simulated disk (borrowed; lives as long as the world). */
struct sim_disk *sim_host_disk(struct sim_host *h);

/* A scripted client on a host of its own (named name) in region that connects to
 * host:port now. The world owns it. */
struct sim_client *sim_client_create_in(struct sim_world *w, const char *name,
                                        const char *region, const char *host, uint16_t port);
/* A scripted client on a host of its own (named name) that connects to host:port now.
 * The world owns it. */
struct sim_client *sim_client_create(struct sim_world *w, const char *name, const char *host,
                                     uint16_t port);
struct sim_host *sim_client_host(struct sim_client *c);
/* Queues bytes to send (copied). Returns 0, or MR_E_CLOSED once the stream is gone. */
int sim_client_send(struct sim_client *c, const void *buf, size_t len);
int sim_client_send_str(struct sim_client *c, const char *s);
/* Bytes queued by sim_client_send that the env has not pulled yet. */
size_t sim_client_out_pending(const struct sim_client *c);
/* Everything received since creation or the last clear. Valid until the next event. */
const uint8_t *sim_client_received(const struct sim_client *c, size_t *len);
void sim_client_clear(struct sim_client *c);
uint64_t sim_client_received_total(const struct sim_client *c);
/* Runs the world until needle appears in the received bytes or deadline_ns passes. */
bool sim_client_wait_for(struct sim_client *c, const char *needle, uint64_t deadline_ns);
/* Runs the world until the stream is gone or deadline_ns passes. */
bool sim_client_wait_closed(struct sim_client *c, uint64_t deadline_ns);
/* Stops (false) or resumes (true) reading: unread bytes fill the receive window and
 * the sender's pending output grows. */
void sim_client_read_enable(struct sim_client *c, bool enable);
/* Asks the env to close the stream. */
void sim_client_close(struct sim_client *c);
bool sim_client_connected(const struct sim_client *c);
/* 0 until on_connected, then its status. */
int sim_client_connect_status(const struct sim_client *c);
/* True once the stream is gone: on_closed, or a failed connect. */
bool sim_client_closed(const struct sim_client *c);

#endif
