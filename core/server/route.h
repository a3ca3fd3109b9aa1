/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cluster routes (shared reference protocol.md section 5): the route listener, solicited
 * and gossiped (implicit) routes, the route handshake, interest propagation (RS+/RS-)
 * and the per-route half of message fan-out (RMSG/HMSG). Internal to core/server/.
 *
 * Model, as nats-server 2.9 without pooling: one route connection per peer server,
 * full mesh. Interest is account scoped and reference counted per (subject, queue):
 * RS+ on a plain subject's 0 -> 1 and RS- on 1 -> 0; a queue's RS+ carries the local
 * member count (its weight) and is re-sent on every change. A peer's interest enters
 * the account's sublist as one struct mr_rsub per (route, subject, queue), flagged
 * MR_SUB_ROUTE. A message from a client (or an import) crosses to each route with
 * matching interest once, naming the queue groups that route must serve; a message
 * from a route is delivered locally only, never forwarded to another route.
 *
 * Imports are evaluated on the server where the message enters: import subscriptions
 * are not propagated and routed messages skip them, except the reply subscriptions
 * of service imports (MR_SUB_ROUTABLE), which are unique per server and must receive
 * responses that come back over a route.
 *
 * Determinism: routes, slots, remote subscriptions and local interest are kept in
 * creation-ordered lists; hash tables are for lookup only.
 */
#ifndef MR_ROUTE_H
#define MR_ROUTE_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/proto/parser.h"
#include "core/server/sublist.h"

struct mr_server;
struct mr_conn;
struct mr_account;
struct mr_sub;
struct mr_msg;
struct mr_cluster_opts;

/* mr_sub.flags: a peer's interest (owner is the route's struct mr_conn). */
#define MR_SUB_ROUTE 2u
/* mr_sub.flags: an internal subscription that routed messages reach and whose interest
 * is sent to routes. */
#define MR_SUB_ROUTABLE 4u

/* Where a solicited route connects: a configured URL, or a peer learned by gossip. */
struct mr_route_slot {
    uint32_t index;   /* creation order; names the slot's retry timer */
    char host[256];
    uint16_t port;
    char user[128];   /* from the URL, or the cluster's authorization for implicit ones */
    char pass[128];
    bool configured;  /* from the config: retried for ever */
    bool self;        /* it led back to this server: never tried again */
    bool retry_armed;
    bool retry_once;  /* its route survived a duplicate: retry once if it drops */
    uint32_t attempts;     /* failed connects in a row */
    uint64_t pending_conn; /* env id of a connect in flight, 0 if none */
    struct mr_conn *conn;  /* the route it made, while open */
    char remote_id[64];    /* implicit: the peer's server id */
};

/* A peer's interest in one (subject, queue) of one account. */
struct mr_rsub {
    struct mr_sub sub; /* first: the sublist hands back &rsub->sub */
    struct mr_route *route;
    struct mr_account *acc;
    int32_t weight;
    char *key; /* "account subject[ queue]"; sub.subject and sub.queue point inside */
    struct mr_rsub *prev;
    struct mr_rsub *next;
};

/* The route state of a MR_CONN_ROUTE connection (mr_conn.route). */
struct mr_route {
    struct mr_conn *conn;
    uint64_t rid;           /* route id shown in /routez, unique per server */
    bool solicited;
    bool connect_received;  /* accepted side: the peer's CONNECT was accepted */
    bool info_received;     /* the peer's first INFO was processed */
    bool registered;        /* in the cluster's route list */
    bool headers;           /* the peer takes HMSG */
    struct mr_route_slot *slot; /* solicited: the slot that made it */
    char remote_id[64];
    char remote_name[256];
    char remote_cluster[256];
    char url_host[256];     /* where the peer's route listener is, for gossip */
    uint16_t url_port;
    GPtrArray *connect_urls; /* the peer's client URLs (char *) */
    char gateway_url[300];   /* the peer's gateway URL, "" if none */
    /* The peer's interest: key "account subject[ queue]" -> struct mr_rsub, and the
     * same entries in arrival order. */
    GHashTable *rsubs;
    struct mr_rsub *rsubs_head;
    struct mr_rsub *rsubs_tail;
    uint32_t rsubs_count;
    /* Fan-out scratch (see mr_route_fan_*): queue names for the current message. */
    uint64_t fan_gen;
    bool fan_plain;
    struct mr_view *fan_queues;
    uint32_t fan_nq;
    uint32_t fan_cap;
    struct mr_route *prev; /* registration order */
    struct mr_route *next;
};

/* Server-wide cluster state (struct mr_server.cluster). */
struct mr_cluster {
    const struct mr_cluster_opts *opts; /* NULL: no cluster */
    bool active;                        /* listener up */
    char name[256];
    bool dynamic; /* no name configured: a random one, yielding to configured names */
    uint16_t port;
    GPtrArray *slots;                   /* struct mr_route_slot *, creation order */
    struct mr_route *head;              /* registered routes, registration order */
    struct mr_route *tail;
    uint32_t count;
    uint64_t next_rid;
    uint64_t changes;    /* registrations and remote interest changes */
    uint64_t checked_at; /* mr_route_check memo */
    /* Fan-out scratch: the routes one message goes to. */
    struct mr_route **fan;
    uint32_t fan_count;
    uint32_t fan_cap;
    uint64_t fan_gen;
    /* Client URLs of this server ("host:port"), then of every registered route, for
     * INFO connect_urls; rebuilt on change. */
    GPtrArray *client_urls;
};

/* Parses [scheme://][user[:pass]@]host[:port] into out's host, port (6222 when absent),
 * user and pass. */
bool mr_route_parse_url(const char *url, struct mr_route_slot *out);
/* Writes RMSG (or HMSG when the message has headers and the peer takes them) for m on
 * c, in account, with reply and the queue names (the "+ reply q.." and "| q.." forms);
 * with account NULL, the leaf forms LMSG/HMSG without an account.
 * Returns false if the connection was closed (slow consumer). */
bool mr_send_rmsg(struct mr_conn *c, bool headers_ok, const char *account, const struct mr_msg *m,
                  struct mr_view reply, const struct mr_view *queues, uint32_t nq);

/* As mr_send_rmsg; with origin (a leaf cluster's name), the route form
 * "LMSG origin account ..." that keeps the message from going back to that cluster. */
bool mr_send_routed(struct mr_conn *c, bool headers_ok, const char *origin, const char *account,
                    const struct mr_msg *m, struct mr_view reply, const struct mr_view *queues,
                    uint32_t nq);

/* Lifecycle. init before accounts are created; start after the client listener. */
void mr_route_init(struct mr_server *s);
int mr_route_start(struct mr_server *s);
void mr_route_shutdown(struct mr_server *s);
void mr_route_deinit(struct mr_server *s);

/* A connection accepted on the route listener (kind MR_CONN_ROUTE, already created). */
void mr_route_accept(struct mr_server *s, struct mr_conn *c);
/* The TLS handshake of a route finished successfully: the route protocol starts. */
void mr_route_on_tls(struct mr_server *s, struct mr_conn *c);
/* A route connect in flight timed out: counted as a failure. False if it was not one. */
bool mr_route_dial_timeout(struct mr_server *s, uint64_t conn_id);
/* An outbound connect finished. Returns false if conn_id was not a route's. */
bool mr_route_on_connected(struct mr_server *s, uint64_t conn_id, int status);
void mr_route_process_op(struct mr_server *s, struct mr_conn *c, const struct mr_proto_op *op);
/* The route connection is closing: its interest leaves the sublists (outside a
 * fan-out), it is unregistered and, if solicited and configured, retried. */
void mr_route_reap(struct mr_server *s, struct mr_conn *c);
/* Frees the route state of a connection about to be freed. */
void mr_route_conn_free(struct mr_server *s, struct mr_conn *c);
/* A route timer fired (MR_TIMER_ROUTE_RETRY); slot_id is the timer's connection field. */
void mr_route_on_timer(struct mr_server *s, uint64_t slot_id);
/* Ping interval and limit for route connections: the cluster's, else the server's. */
uint64_t mr_route_ping_interval(const struct mr_server *s);
uint32_t mr_route_ping_max(const struct mr_server *s);

/* Local interest changed by delta (+1/-1) for a client or routable internal sub. */
void mr_route_interest(struct mr_server *s, struct mr_account *acc, const struct mr_sub *sub,
                       int delta);

/* Fan-out to routes, around one message: begin, mark routes, flush. */
void mr_route_fan_begin(struct mr_server *s);
void mr_route_fan_plain(struct mr_server *s, const struct mr_sub *rsub);
void mr_route_fan_queue(struct mr_server *s, const struct mr_sub *rsub);
/* Sends the message to each marked route; returns how many routes it went to. origin:
 * the leaf cluster it came from, or NULL. */
uint32_t mr_route_fan_flush(struct mr_server *s, const struct mr_account *acc,
                            const struct mr_msg *m, const char *origin);
/* Queue weight of a sublist entry: a route's member count, 1 for local ones. */
uint32_t mr_route_sub_weight(const struct mr_sub *sub);
/* Whether a route entry can take a message now (its route is open and registered). */
bool mr_route_sub_usable(const struct mr_sub *sub);

/* For monitoring (/routez) and the INFO connect_urls. */
const struct mr_route *mr_route_first(const struct mr_server *s);
const struct mr_route *mr_route_next(const struct mr_route *r);

void mr_route_check(const struct mr_server *s);

#endif
