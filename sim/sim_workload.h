/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Simulated client workloads: publishers, subscribers, queue-group members, requesters
 * and repliers that speak the real NATS client protocol (protocol.md section 3) to
 * servers on the sim env, and record what they do and see in a sim_history.
 *
 * A workload is an actor on a sim_host of its own, named after the workload, with its
 * own mr_env sink: its timers and streams go through the same world, event queue and
 * network model as the servers. It has spec.clients members; each member is one
 * connection ("client") with actor name spec.name when clients == 1, else
 * "<name>-<i>" for i in 0..clients-1.
 *
 * Member life: at start_ns it connects to servers[i % servers_len]; on INFO it sends
 * CONNECT {"verbose":false,"pedantic":false,"headers":true,"protocol":1,...} (with
 * "user"/"pass" or "auth_token" when the spec has credentials), its SUBs and a PING;
 * the PONG to that PING marks its subscription active (SUB event). A server that
 * refuses the credentials answers -ERR 'Authorization Violation' and closes instead:
 * no PONG, so no SUB event and no publishing; the member records the ERR and the
 * DISCONNECT and keeps retrying with its backoff, as real clients do. It
 * answers server PINGs with PONG, sends its own PING every ping_interval_ns and
 * closes the connection when SIM_WL_PINGS_OUT_MAX are unanswered (the way real
 * clients notice a stalled stream), records -ERR lines, and when the connection
 * closes or a connect fails it waits a backoff (250 ms doubling to 2 s, reset after a
 * handshake) and tries the next listed server, in order, re-subscribing after the
 * reconnect (a new subscription generation, counted from the SUB it sends, so a MSG
 * arriving before the PONG belongs to it). At stop_ns it records STOP and DISCONNECT
 * and closes; after max_count publishes or requests it records STOP but stays
 * connected (a requester still collects replies).
 *
 * Kinds:
 *  - PUBLISH: every 1/rate virtual seconds (on absolute ticks start + k*1e9/rate) sends
 *    "PUB subject size\r\n<payload>\r\n" with payload "<actor>:<counter>" then
 *    padding to payload_bytes (at least the id); a tick while not connected is
 *    skipped (no counter used).
 *  - SUBSCRIBE: "SUB subject 1"; records every MSG.
 *  - QUEUE: "SUB subject queue 1"; records every MSG.
 *  - REPLY: "SUB subject [queue] 1"; records every MSG and answers each one that has a
 *    reply subject with "PUB <reply> n\r\n<request id>\r\n".
 *  - REQUEST: subscribes to "_INBOX.<actor>.*" (sid 2); at rate sends
 *    "PUB subject _INBOX.<actor>.<counter> size\r\n<actor>:<counter>..." (REQ event),
 *    records the first reply to each (REPLY) and a TIMEOUT when none came within
 *    request_timeout_ns (default 2 s).
 *  - JS_PUBLISH: publishes like a requester, a PUB event each, to a stream's subject
 *    with the reply inbox "_INBOX.<actor>.<counter>", and records each PubAck (JS_ACK:
 *    stream, sequence, duplicate), API error (JS_NAK) or TIMEOUT. With stream_json it
 *    first sends it to $JS.API.STREAM.CREATE.<stream> (on every connect: the stream is
 *    ensured, as applications do) and starts publishing at the first answer; an API
 *    error there is recorded as an ERR "stream create: <description>".
 *  - JS_READ: at start_ns reads stream back: STREAM.INFO for its last sequence (JS_INFO),
 *    then STREAM.MSG.GET of every sequence from 1, one at a time (JS_READ each: the
 *    payload's id, or missing / corrupt / error), re-sending a request that timed out
 *    or was cut by a reconnect; then STOP and disconnect.
 *
 * Invariants: a member has at most one connection; timer ids are member * 4 + slot
 * on the workload's host; history events of one member are appended in time order.
 * Faults: the workload's host may be cut or reset (sim_net_*) like any host; members
 * notice through their pings or on_closed and reconnect. Crashing the workload's own
 * host is not supported (its sink would be detached under it).
 *
 * Ownership: the caller owns the workload (create/destroy) and the history it records
 * into (borrowed, must outlive the workload). The world owns the host.
 */
#ifndef SIM_WORKLOAD_H
#define SIM_WORKLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/sim_env.h"
#include "sim/sim_history.h"

#define SIM_WL_NAME_MAX 64        /* workload and server host names, with the NUL */
#define SIM_WL_SUBJECT_MAX 256    /* subject and queue, with the NUL */
#define SIM_WL_SERVERS_MAX 16     /* listed servers per workload */
#define SIM_WL_CLIENTS_MAX 64     /* members per workload */
#define SIM_WL_PAYLOAD_MAX (1024u * 1024)
#define SIM_WL_PINGS_OUT_MAX 2    /* unanswered client PINGs before closing */
#define SIM_WL_BACKOFF_MIN_NS (250ull * 1000 * 1000)
#define SIM_WL_BACKOFF_MAX_NS (2000ull * 1000 * 1000)
#define SIM_WL_REQUESTS_OUT_MAX 100000 /* outstanding requests; beyond, a tick is skipped */
#define SIM_WL_CRED_MAX 256       /* user, password or token, with the NUL */
#define SIM_WL_ERROR_TEXT_MAX 160 /* the first -ERR text kept for the run's report */

enum sim_workload_kind {
    SIM_WL_PUBLISH = 1,
    SIM_WL_SUBSCRIBE,
    SIM_WL_QUEUE,
    SIM_WL_REQUEST,
    SIM_WL_REPLY,
    SIM_WL_JS_PUBLISH,
    SIM_WL_JS_READ,
};

#define SIM_WL_STREAM_JSON_MAX 4096 /* a STREAM.CREATE request, with the NUL */

struct sim_workload_spec {
    char name[SIM_WL_NAME_MAX];  /* unique host name in the world; subject-token safe */
    char region[SIM_WL_NAME_MAX]; /* region of the workload's host; "" = the default */
    enum sim_workload_kind kind;
    char servers[SIM_WL_SERVERS_MAX][SIM_WL_NAME_MAX]; /* server host names, tried in order */
    size_t servers_len;          /* >= 1 */
    uint16_t port;               /* default 4222 */
    char subject[SIM_WL_SUBJECT_MAX]; /* may be a wildcard for SUBSCRIBE/QUEUE/REPLY */
    char queue[SIM_WL_SUBJECT_MAX];   /* required for QUEUE, optional for REPLY */
    uint32_t rate;               /* PUBLISH/REQUEST: messages per virtual second, >= 1 */
    uint32_t payload_bytes;      /* PUBLISH/REQUEST: payload size (at least the id) */
    uint64_t max_count;          /* PUBLISH/REQUEST: per member; 0 = unlimited */
    uint64_t start_ns;           /* virtual time of the first connect */
    uint64_t stop_ns;            /* virtual time to stop; 0 = never */
    uint32_t clients;            /* members (connections); default 1 */
    uint64_t ping_interval_ns;   /* client keepalive PING; default 2 s; 0 = none */
    uint64_t request_timeout_ns; /* REQUEST: default 2 s */
    /* Credentials sent in CONNECT ("user"/"pass", "auth_token"); "" = not sent. */
    char user[SIM_WL_CRED_MAX];
    char password[SIM_WL_CRED_MAX];
    char token[SIM_WL_CRED_MAX];
    /* JetStream: the stream (JS_READ: the one read; JS_PUBLISH: the one created), and
     * JS_PUBLISH's STREAM.CREATE request; "" = none. */
    char stream[SIM_WL_NAME_MAX];
    char stream_json[SIM_WL_STREAM_JSON_MAX];
};

struct sim_workload_stats {
    uint64_t published;      /* PUBs sent (PUBLISH) or requests sent (REQUEST) */
    uint64_t received;       /* MSGs on the workload's subscription */
    uint64_t replies;        /* REQUEST: first replies; REPLY: replies sent */
    uint64_t timeouts;       /* REQUEST, JS_PUBLISH, JS_READ */
    uint64_t js_acked;       /* JS_PUBLISH: PubAcks; JS_READ: sequences read */
    uint64_t connects;       /* handshakes (INFO received) */
    uint64_t connect_fails;  /* failed connects */
    uint64_t disconnects;
    uint64_t errors;         /* -ERR lines */
    uint64_t protocol_errors; /* bytes from the server the parser rejected */
    /* The first -ERR (or rejected bytes) any member saw: its text, server and virtual
     * time, so a run can say why a client never got going (Authorization Violation). */
    char first_error[SIM_WL_ERROR_TEXT_MAX];
    char first_error_server[SIM_WL_NAME_MAX];
    uint64_t first_error_ns;
};

struct sim_workload;

/* Fills defaults: port 4222, clients 1, rate 1, payload 16, ping 2 s, timeout 2 s;
 * name, kind, servers and subject must be set by the caller. */
void sim_workload_spec_default(struct sim_workload_spec *spec);

/*
 * Checks spec, creates the workload's host (spec->name) in w, attaches its sink and
 * arms its start timer. Does not connect yet: members connect at start_ns (or at
 * once when that is in the past) as world events. history is borrowed and must
 * outlive the workload. Returns 0, or MR_E_INVAL (errmsg names the field) or
 * MR_E_EXISTS (a host of that name exists).
 */
int sim_workload_create(struct sim_world *w, const struct sim_workload_spec *spec,
                        struct sim_history *history, struct sim_workload **out, char *errmsg,
                        size_t errmsg_len);

/* Stops now as at stop_ns: closes every connection (STOP recorded once per member),
 * cancels timers, never reconnects. Idempotent. */
void sim_workload_stop(struct sim_workload *wl);

/* Detaches the sink from the host and frees the workload. Connections still open are
 * left to the world (closed by sim_world_destroy). Call before sim_world_destroy. */
void sim_workload_destroy(struct sim_workload *wl);

const struct sim_workload_spec *sim_workload_spec(const struct sim_workload *wl);
struct sim_host *sim_workload_host(struct sim_workload *wl);
void sim_workload_stats(const struct sim_workload *wl, struct sim_workload_stats *out);
/* True when every member is connected with its subscriptions active (for
 * publishers: handshake PONG received). */
bool sim_workload_ready(const struct sim_workload *wl);
/* A sim_pred_fn over a struct sim_workload * (for sim_world_run_until_pred). */
bool sim_workload_ready_pred(void *wl);
/* Asserts internal invariants (states, counters); O(members + outstanding). */
void sim_workload_check(const struct sim_workload *wl);

#endif
