/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The minimal simulated environment: one world with a virtual clock, one event queue,
 * seeded random streams and a rolling trace hash; hosts that each expose a struct
 * mr_env (core/env.h) over that world; and scripted in-memory clients. The same core
 * code that runs on real sockets runs here unchanged, many instances in one thread.
 *
 * Invariants:
 *  - Events run in (time, insertion sequence) order; the clock never goes backwards.
 *  - The env never calls a sink inside the env call that requested the action: every
 *    completion, delivery and close is a queued event (env.h rule).
 *  - A connection is a pair of ordered byte pipes with a fixed one-way delay and a
 *    receive window per direction. Bytes are pulled from the sender's sink
 *    (out_peek/out_consume) by a flush event and reach the receiver's on_bytes after
 *    the delay, in order, in chunks of at most chunk_bytes.
 *  - Each endpoint gets exactly one terminal input: on_closed, or a failed
 *    on_connected.
 *  - The same seed and the same calls give the same events, bytes and trace hash.
 *
 * Ownership: the world owns its hosts and clients and frees them in
 * sim_world_destroy. Sinks attached to hosts are borrowed and must outlive the
 * attachment (detach with sim_host_set_sink(h, NULL) before freeing one).
 *
 * Not modelled yet (the full simulator adds them): regions, per-link latency and
 * faults, crashes, files (every file op completes with MR_E_UNSUPPORTED).
 */
#ifndef SIM_ENV_H
#define SIM_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/env.h"

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
    uint64_t link_delay_ns;      /* one-way delay of every stream; default 100 us */
    size_t window_bytes;         /* per direction: bytes in flight or unread; 256 KiB */
    size_t chunk_bytes;          /* most bytes per on_bytes call; default 16 KiB */
    enum mr_log_level log_level; /* lines above it are not kept; default MR_LOG_INFO */
    bool verbose;                /* also print kept log lines to stderr */
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
/* The kept log lines, "<sec>.<ns> <host> <level> <module>: <msg>\n" each; bounded,
 * later lines are counted in log_dropped. */
const char *sim_host_log(const struct sim_host *h, size_t *len);
void sim_host_log_clear(struct sim_host *h);
uint64_t sim_host_inputs_dropped(const struct sim_host *h);

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
