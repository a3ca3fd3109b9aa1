/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The history of a simulated run: an append-only, bounded log of what the simulated
 * clients (sim_workload.h) did and saw, in virtual time, for the checkers
 * (sim_check.h) to judge after the run or online after every step, and for --trace
 * as JSON lines.
 *
 * Each event has a virtual time, a kind, the actor that recorded it (a workload
 * member, e.g. "sub1" or "q-2"), and depending on the kind a subject, a queue group,
 * a message id (publisher actor + counter, as in the payload "<publisher>:<counter>")
 * and the subscription generation: every SUB event starts a new subscription of its
 * actor (gen 1, 2, ... across reconnects), and every MSG names the generation that
 * received it, so "a re-subscription is a new subscription".
 *
 * Invariants:
 *  - Events are appended in non-decreasing time order (asserted).
 *  - At most max_events are kept; the first append beyond that sets truncated,
 *    remembers the time, and every later append is only counted in dropped.
 *  - Strings (actors, subjects, queues, servers, text) are interned: an event's
 *    pointers stay valid as long as the history, and equal strings share one pointer
 *    (so pointer equality is string equality for interned strings). Nothing
 *    observable iterates a hash table.
 *
 * Ownership: the caller owns the history (create/destroy); events and interned
 * strings belong to it. Borrowed pointers passed in are copied.
 */
#ifndef SIM_HISTORY_H
#define SIM_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Default for sim_history_create(0). */
#define SIM_HISTORY_EVENTS_DEFAULT (4u * 1000 * 1000)

enum sim_hist_kind {
    SIM_H_PUB = 1,    /* actor sent PUB subject with id (pub, seq) */
    SIM_H_MSG,        /* actor's subscription gen received id (pub, seq) on subject */
    SIM_H_REQ,        /* actor sent a request (pub = actor, seq) to subject, reply inbox */
    SIM_H_REPLY,      /* actor got the reply to its request seq; text = replier's payload id */
    SIM_H_TIMEOUT,    /* actor's request seq got no reply within the request timeout */
    SIM_H_CONNECT,    /* actor got INFO from server (a new connection is up) */
    SIM_H_DISCONNECT, /* actor's connection to server closed (any reason) */
    SIM_H_ERR,        /* actor got -ERR; text = the error text */
    SIM_H_SUB,        /* actor's subscription gen to subject [queue] is active (PONG back) */
    SIM_H_STOP,       /* actor's workload stopped (stop time, max count, or stopped) */
    /* JetStream (docs/scenarios.md): */
    SIM_H_JS_ACK,     /* actor's publish seq got a PubAck: sseq in stream text (with
                         " duplicate" appended when the ack said so) */
    SIM_H_JS_NAK,     /* actor's publish seq got an API error; text = its description */
    SIM_H_JS_INFO,    /* reader actor learnt stream text's last sequence: sseq */
    SIM_H_JS_READ,    /* reader actor read sseq of stream subject: id (pub, seq) and
                         text "ok", "missing", "corrupt" (bytes no publisher sent) or
                         "error: <description>" */
    SIM_H_JS_STORE,   /* server's store reported a problem (damage found at recovery, a
                         failed read or sync); text = the log line */
};

struct sim_hist_event {
    uint64_t t_ns;           /* virtual time of recording */
    enum sim_hist_kind kind;
    uint32_t actor;          /* actor index (sim_history_actor_name) */
    uint32_t gen;            /* SUB, MSG: subscription generation of actor; else 0 */
    uint32_t pub;            /* PUB, MSG, REQ, REPLY, TIMEOUT: publisher actor index;
                                UINT32_MAX when a MSG payload carried no parseable id */
    uint64_t seq;            /* the publisher's counter, from 1 */
    uint64_t sseq;           /* JS_ACK, JS_INFO, JS_READ: a stream sequence; else 0 */
    const char *subject;     /* interned; PUB/MSG/REQ/SUB subject; "" otherwise */
    const char *queue;       /* interned; SUB of a queue member; "" otherwise */
    const char *server;      /* interned; CONNECT/DISCONNECT server host; "" otherwise */
    const char *text;        /* interned; ERR text, REPLY payload id, REQ inbox; or "" */
};

struct sim_history;

/* Creates an empty history keeping at most max_events events (0 = the default). */
struct sim_history *sim_history_create(size_t max_events);
void sim_history_destroy(struct sim_history *h);

/* Interns an actor name and returns its index (stable, dense, in first-seen order). */
uint32_t sim_history_actor(struct sim_history *h, const char *name);
/* The name of actor index i (i < sim_history_actors()). */
const char *sim_history_actor_name(const struct sim_history *h, uint32_t i);
size_t sim_history_actors(const struct sim_history *h);
/* Returns the actor index of name, or -1 when it was never interned. */
int64_t sim_history_actor_find(const struct sim_history *h, const char *name);

/* Interns s (NULL reads as "") and returns the history's copy, valid as long as the
 * history. Passing interned strings to sim_history_append spares it a lookup by
 * content. */
const char *sim_history_intern(struct sim_history *h, const char *s);

/*
 * Appends one event. ev->subject/queue/server/text may be NULL (read as "") and are
 * interned (copied); the rest is copied. ev->t_ns must be >= the last event's time.
 * Returns 0, or MR_E_LIMIT when the history is full (the event is counted as dropped
 * and the history is marked truncated).
 */
int sim_history_append(struct sim_history *h, const struct sim_hist_event *ev);

size_t sim_history_len(const struct sim_history *h);
/* Event i (i < len); valid until the history is destroyed. */
const struct sim_hist_event *sim_history_at(const struct sim_history *h, size_t i);
bool sim_history_truncated(const struct sim_history *h);
/* Time of the first dropped event (0 when not truncated). */
uint64_t sim_history_truncated_at_ns(const struct sim_history *h);
uint64_t sim_history_dropped(const struct sim_history *h);
/* Time of the last kept event, 0 when empty. */
uint64_t sim_history_last_ns(const struct sim_history *h);

/* The kind's name as in JSON ("PUB", "MSG", ...). */
const char *sim_hist_kind_name(enum sim_hist_kind kind);

/*
 * Writes event i as one JSON object without newline into out (a GString *, typed
 * void * to keep glib out of this header), keys in a fixed order:
 *   {"t":<ns>,"kind":"MSG","actor":"sub1","gen":1,"pub":"pub1","seq":17,
 *    "subject":"foo","queue":"","server":"","text":""}
 * "pub" is "" when the event has no id. JetStream kinds add "sseq":<n> after "seq".
 */
void sim_history_event_json(const struct sim_history *h, size_t i, void *gstring_out);
/* Writes every event as JSON lines, then, when truncated, one line
 * {"truncated":true,"at":<ns>,"dropped":<n>}. Returns 0 or MR_E_IO. */
int sim_history_write_jsonl(const struct sim_history *h, FILE *out);
/* A 64-bit FNV-1a hash of the JSON lines: equal histories have equal hashes. */
uint64_t sim_history_hash(const struct sim_history *h);

#endif
