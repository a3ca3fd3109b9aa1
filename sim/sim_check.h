/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checkers over a sim_history (simulation.md section 6): each judges one invariant of
 * core NATS delivery and returns a verdict with counts and the first violation in one
 * line with virtual time and ids.
 *
 *  no_duplicates        a subscription (actor + generation) never receives the same id
 *                       twice; a re-subscription after reconnect is a new subscription.
 *  per_publisher_order  each subscription sees each publisher's counters increasing.
 *  delivery             every message (PUB or REQ) published while healthy reaches every
 *                       matching non-queue subscription that was active over the
 *                       message's whole healthy span.
 *  queue_once           each message reaches at most one member of each queue group
 *                       (subject pattern + queue name); exactly one when healthy and a
 *                       member subscription was active over its healthy span.
 *  liveness             after heal_ns + bound_ns: every subscription kind actor that was
 *                       not stopped received a MSG in (heal, heal + bound] when a
 *                       matching message was published in [heal, heal + bound - settle),
 *                       every queue group likewise, and every requester that sent a
 *                       request in that span got a reply in it.
 *
 *  local_delivery       while a leaf server (opts.servers[i].local) is up, every message
 *                       (PUB or REQ) published by a client attached to it reaches every
 *                       matching non-queue subscription attached to it or to a server of
 *                       its leaf cluster (same group) that was active over the message's
 *                       span, whatever happens to the links to the hub (see below).
 *  account_scoping      a message published by a client of account A reaches no client of
 *                       another account B unless opts.crossings allows A -> B (accounts
 *                       from opts.accounts; actors without one are exempt).
 *  no_acked_loss        JetStream: every message whose PubAck was received (JS_ACK) is
 *                       read back (JS_READ) at the acknowledged sequence with its own
 *                       payload, unless opts.acked_loss allows its loss (see below); no
 *                       read ever returns bytes no publisher sent.
 *
 * no_acked_loss in detail. An ack belongs to the server of its publisher's last CONNECT.
 * It is judged against the last JS_INFO of its stream (the reader's view at the end);
 * acks after that are exempt, and so are duplicate acks (they name an earlier message).
 * An acked message is lost when its sequence reads "missing", an error, or another
 * published message (the sequence was reused after the loss); a read of bytes no
 * publisher sent, or of a published message acked at another sequence, is corruption
 * served: always a violation. A loss is "bounded" when its server does not sync always
 * (opts.js_servers) and lost power (opts.crashes) within its sync interval plus settle
 * after the ack, and "detected" when its server's store reported a problem (JS_STORE)
 * after the ack. opts.acked_loss 0 allows no loss, 1 bounded ones, 2 bounded and
 * detected ones. Every loss is counted in the verdict's note (first) whatever it allows.
 *
 * local_delivery in detail. A publisher is attached to the server of its last CONNECT
 * until its next DISCONNECT or STOP; a subscription to the server named by its SUB
 * event. A message published at t on server S is judged for subscription j on server
 * S' (S' = S, or S' in S's group) when: S is local; t + settle <= end; the publisher
 * did not disconnect in [t, t + settle]; j is active over [t - sub_settle, t +
 * sub_settle] (so a resubscription after the subscriber's own reconnect counts from its
 * SUB, the PONG after it, plus sub_settle); and t lies outside [from - settle, to +
 * settle) of every outage of S or S' (opts.outages with a == b: crashed, paused, or cut
 * from the clients' hosts) and, when S' != S, of every cut between S and S'. Faults
 * anywhere else (the hub down, cut, reset or slow) exempt nothing.
 *
 * Accounts: with opts.accounts, a message is owed only to subscriptions of its
 * publisher's account (delivery, queue_once, liveness, local_delivery; a queue group
 * lives in one account); actors without an account match everyone, as when no
 * accounts are given. Imports create no expectations.
 *
 * With a core (liveness mode, opts.core): a client is attached to the server of its
 * last CONNECT until its next DISCONNECT, and a subscription to the server its actor
 * was attached to at its SUB. From core_from_ns on, delivery judges only messages whose
 * publisher was attached to a core server when it published, towards subscriptions on
 * core servers; queue_once demands "exactly one" only for such messages and counts
 * only members on core servers as covering; liveness judges a subscriber or queue
 * group only when one of its subscriptions on a core server spans a matching message
 * from a publisher attached to a core server (published in the window, while that
 * subscription was active), and a requester only when it sent a request in the window
 * while attached to a core server. Clients of servers outside the core are exempt,
 * whatever they list; those that fail over to a core server are judged from then on.
 * no_duplicates and per_publisher_order ignore the core: they hold always.
 *
 * Healthy: a message published at t is healthy when t is outside every
 * [from - settle, to + settle) fault window, t + settle <= end (the run's end, or the
 * truncation time of a truncated history), and its publisher did not disconnect in
 * [t, t + settle]. A subscription is active over [SUB + sub_settle, end of
 * subscription - sub_settle], where it ends at the actor's next DISCONNECT or STOP.
 * (A STOP alone, as a publisher done with max_count records, is not a disconnect.)
 *
 * Verdicts of a truncated history say so (truncated, and a note in first when ok).
 *
 * Ownership: checkers only read the history; verdicts are caller memory. The online
 * checker owns its tables (init/deinit). Nothing observable iterates a hash table.
 */
#ifndef SIM_CHECK_H
#define SIM_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/sim_history.h"

#define SIM_CHECK_FIRST_MAX 320 /* one-line description of the first violation */
#define SIM_CHECK_NAME_MAX 32

struct sim_verdict {
    char name[SIM_CHECK_NAME_MAX]; /* "no_duplicates", ... */
    bool ok;
    bool truncated;        /* the history was truncated: only its prefix was judged */
    uint64_t checked;      /* items judged (deliveries, messages, actors) */
    uint64_t exempt;       /* items skipped because not healthy or not covered */
    uint64_t violations;
    char first[SIM_CHECK_FIRST_MAX]; /* first violation, "" when none (or a note) */
};

/* A fault window [from_ns, to_ns) as the runner saw it (partition, crash, ...). */
struct sim_window {
    uint64_t from_ns;
    uint64_t to_ns;
};

/* A server as local_delivery sees it (index i of opts.servers). */
struct sim_check_server {
    const char *name; /* as clients name it in CONNECT and SUB events (borrowed) */
    bool local;       /* a leaf server: its local delivery is judged */
    uint32_t group;   /* servers of one leaf cluster share a group; else their own index */
};

/* An outage for local_delivery: server a impaired (a == b), or a and b cut apart. */
struct sim_check_outage {
    uint32_t a;
    uint32_t b;
    struct sim_window w;
};

/* The account of an actor (a client name), for account_scoping. */
struct sim_check_account {
    const char *actor;   /* borrowed */
    const char *account; /* borrowed; "A" or "A@server" (sim_scenario.h) */
};

/* An allowed crossing: messages from account `from` may reach account `to` (names
 * without the "@server" part). */
struct sim_check_crossing {
    const char *from;
    const char *to;
};

/* opts.acked_loss levels (the values of enum sim_sc_acked_loss). */
#define SIM_CHECK_LOSS_NONE 0
#define SIM_CHECK_LOSS_BOUNDED 1
#define SIM_CHECK_LOSS_DETECTED 2

/* A JetStream server for no_acked_loss (as clients name it in CONNECT events). */
struct sim_check_js_server {
    const char *name; /* borrowed */
    bool sync_always;
    uint64_t sync_interval_ns;
};

/* A crash of a server (index into opts.js_servers) at t: power lost or process killed. */
struct sim_check_crash {
    uint32_t server;
    uint64_t t_ns;
    bool power;
};

struct sim_check_opts {
    const struct sim_window *faults; /* borrowed; may be NULL when faults_len == 0 */
    size_t faults_len;
    uint64_t settle_ns;   /* margin around faults, a publisher's disconnect, the end */
    uint64_t sub_settle_ns; /* margin after SUB (interest propagation across servers)
                               and before a subscription ends */
    uint64_t end_ns;      /* end of the run; 0 = the history's last event time */
    uint64_t heal_ns;     /* liveness: time of the last heal (0 = start of run) */
    uint64_t bound_ns;    /* liveness: how long after heal_ns recovery may take */
    /* Liveness mode (simulation.md section 7): the servers of the core, as clients name
     * them in CONNECT events (borrowed), and the time from which the servers outside it
     * stay faulty for good (quiesce). core_len == 0: no core, every server counts. */
    const char *const *core;
    size_t core_len;
    uint64_t core_from_ns;
    /* local_delivery: the servers and their outages (borrowed; none = nothing judged). */
    const struct sim_check_server *servers;
    size_t servers_len;
    const struct sim_check_outage *outages;
    size_t outages_len;
    /* account_scoping (borrowed; no accounts = nothing judged). */
    const struct sim_check_account *accounts;
    size_t accounts_len;
    const struct sim_check_crossing *crossings;
    size_t crossings_len;
    /* no_acked_loss (borrowed): the servers, their crashes, what loss is allowed (0
     * none, 1 bounded, 2 detected; enum sim_sc_acked_loss). */
    const struct sim_check_js_server *js_servers;
    size_t js_servers_len;
    const struct sim_check_crash *crashes;
    size_t crashes_len;
    int acked_loss;
};

/* Defaults: no faults, settle 500 ms, sub_settle 100 ms, end 0 (last event), heal 0,
 * bound 10 s. */
void sim_check_opts_default(struct sim_check_opts *o);

void sim_check_no_duplicates(const struct sim_history *h, const struct sim_check_opts *o,
                             struct sim_verdict *v);
void sim_check_per_publisher_order(const struct sim_history *h, const struct sim_check_opts *o,
                                   struct sim_verdict *v);
void sim_check_delivery(const struct sim_history *h, const struct sim_check_opts *o,
                        struct sim_verdict *v);
void sim_check_queue_once(const struct sim_history *h, const struct sim_check_opts *o,
                          struct sim_verdict *v);
void sim_check_liveness(const struct sim_history *h, const struct sim_check_opts *o,
                        struct sim_verdict *v);
void sim_check_local_delivery(const struct sim_history *h, const struct sim_check_opts *o,
                              struct sim_verdict *v);
void sim_check_account_scoping(const struct sim_history *h, const struct sim_check_opts *o,
                               struct sim_verdict *v);
/* no_acked_loss; not among SIM_CHECKERS (a scenario asks for it when it reads a stream
 * back), run on its own. */
void sim_check_no_acked_loss(const struct sim_history *h, const struct sim_check_opts *o,
                             struct sim_verdict *v);

/* The checkers by name, in the order above (for scenario files). */
#define SIM_CHECKERS 7
const char *sim_check_name(size_t i);
/* Runs checker "name". Returns 0, or MR_E_NOT_FOUND for an unknown name. */
int sim_check_run(const char *name, const struct sim_history *h, const struct sim_check_opts *o,
                  struct sim_verdict *v);
/* Runs all SIM_CHECKERS checkers into v[0..SIM_CHECKERS-1] (in sim_check_name order);
 * returns how many failed. */
size_t sim_check_all(const struct sim_history *h, const struct sim_check_opts *o,
                     struct sim_verdict v[SIM_CHECKERS]);
/* "name: ok (checked N, exempt E)" or "name: FAIL (V violations): <first>". */
void sim_verdict_format(const struct sim_verdict *v, char *out, size_t out_len);

/*
 * The online checker: no_duplicates and per_publisher_order, incrementally. Call
 * sim_check_online_step after every world step (or any time); it judges the events
 * appended since its last call, O(new events). Returns true while no violation has
 * been seen; the first violation is kept in its verdict.
 */
struct sim_check_online {
    size_t next;          /* first event not judged yet */
    void *subs;           /* internal tables (seen ids, last counter per publisher) */
    struct sim_verdict dup;
    struct sim_verdict order;
};

void sim_check_online_init(struct sim_check_online *c);
void sim_check_online_deinit(struct sim_check_online *c);
bool sim_check_online_step(struct sim_check_online *c, const struct sim_history *h);

/* sim_check_all, with no_duplicates and per_publisher_order taken from online: an
 * online checker that has judged a prefix of h (it is stepped to the end first). A run
 * that checked online all along so skips a second pass; the verdicts are the same. */
size_t sim_check_all_online(const struct sim_history *h, const struct sim_check_opts *o,
                            struct sim_check_online *online, struct sim_verdict v[SIM_CHECKERS]);

#endif
