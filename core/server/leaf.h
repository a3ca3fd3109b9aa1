/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Leaf nodes (shared reference protocol.md section 7): account-scoped links from an
 * edge server (the spoke, which solicits them from leafnodes.remotes) to a hub (which
 * accepts them on the leafnodes port). Internal to core/server/.
 *
 * A leaf connection binds one local account to one account of the other side: the
 * spoke's remote `account`, the hub's by the credentials of the CONNECT. Frames carry
 * no account (LS+/LS- with queue weights, LMSG/HMSG). Interest told to a leaf, per
 * connection, reference counted:
 *  - by the hub side (accepted connections): its local interest in the account, its
 *    routes' and its other leafs' (east-west), never the leaf's own;
 *  - by the spoke side (solicited connections): its local interest and that of leafs
 *    connected to it as their hub, never its routes' (every server of a leaf cluster
 *    has its own link to the hub).
 * Messages follow the same rules: never back on the connection they came from; from a
 * route only to leafs this server is the hub of; what a spoke gets from its hub goes to
 * its clients and to leafs it is the hub of, not to its routes or gateways. Queue groups
 * prefer members that are not behind a leaf. Every server sends its account's
 * loop-detection subject ($LDS.<random>); receiving its own back means a loop.
 *
 * Determinism: connections, remotes and interest are kept in creation order.
 */
#ifndef MR_LEAF_H
#define MR_LEAF_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/proto/parser.h"
#include "core/server/interest.h"
#include "core/server/sublist.h"

struct mr_server;
struct mr_conn;
struct mr_account;
struct mr_msg;
struct mr_leafnode_opts;
struct mr_leafnode_remote_opts;

/* mr_sub.flags: a leaf peer's interest (owner is the leaf's struct mr_conn). */
#define MR_SUB_LEAF 8u

struct mr_leaf;

/* A leaf's interest in one (subject, queue) of its bound account. */
struct mr_lsub {
    struct mr_sub sub; /* first */
    struct mr_leaf *leaf;
    int32_t weight;
    char *key; /* "subject[ queue]" */
    struct mr_lsub *prev;
    struct mr_lsub *next;
};

/* A remotes[] entry: where a spoke connects, and its state. */
struct mr_leaf_remote {
    uint32_t index;
    const struct mr_leafnode_remote_opts *opts;
    struct mr_account *acc; /* the local account bound */
    GPtrArray *urls;        /* char *, as configured */
    uint32_t next_url;
    uint64_t pending_conn;
    struct mr_conn *conn;
    bool retry_armed;
    uint32_t attempts;
    bool loop; /* the last connection detected a loop: wait 30 s */
    bool tls;  /* tls {} in the remote, or a tls:// or wss:// URL */
    bool ws;   /* ws:// or wss:// URLs (the loader refuses a mix with others) */
};

/* The leaf state of a MR_CONN_LEAF connection (mr_conn.leaf). */
struct mr_leaf {
    struct mr_conn *conn;
    uint64_t lid;
    bool solicited; /* we are the spoke of this link */
    struct mr_leaf_remote *remote;
    struct mr_account *acc; /* bound local account (hub side: from the CONNECT) */
    bool info_received;
    bool connect_received;
    bool registered;
    bool headers;
    char remote_id[64];
    char remote_name[256];
    char remote_cluster[256];
    char *nonce; /* spoke: the hub INFO's nonce (owned), signed when creds are used */
    /* The peer's interest, in the account's sublist. */
    GHashTable *lsubs; /* key -> struct mr_lsub */
    struct mr_lsub *lsubs_head;
    struct mr_lsub *lsubs_tail;
    uint32_t lsubs_count;
    /* What this side told the peer. */
    struct mr_interest_table smap;
    /* Permissions of the link (char *, owned), as nats-server keeps them on a leaf
     * connection. deny_pub: subjects never sent over it (spoke: the remote's
     * deny_exports; hub: the spoke's CONNECT deny_pub, its deny_imports). deny_sub
     * (spoke only: deny_imports): interest never told to the hub. NULL when empty. */
    GPtrArray *deny_pub;
    GPtrArray *deny_sub;
    /* Fan-out scratch. */
    uint64_t fan_gen;
    bool fan_plain;
    struct mr_view *fan_queues;
    uint32_t fan_nq;
    uint32_t fan_cap;
    struct mr_leaf *prev; /* registered leafs, registration order */
    struct mr_leaf *next;
};

/* Server-wide leaf state (struct mr_server.leafs). */
struct mr_leafs {
    const struct mr_leafnode_opts *opts; /* NULL: no leafnodes block */
    bool listening;
    uint16_t port;
    GPtrArray *remotes; /* struct mr_leaf_remote * */
    struct mr_leaf *head;
    struct mr_leaf *tail;
    uint32_t count;
    uint64_t next_lid;
    struct mr_leaf **fan;
    uint32_t fan_count;
    uint32_t fan_cap;
    uint64_t fan_gen;
    uint64_t changes;
    uint64_t checked_at;
};

void mr_leaf_init(struct mr_server *s);
int mr_leaf_start(struct mr_server *s);
void mr_leaf_shutdown(struct mr_server *s);
void mr_leaf_deinit(struct mr_server *s);

void mr_leaf_accept(struct mr_server *s, struct mr_conn *c);
/* Whether leaf connections are accepted (a leafnodes port is configured): nats-server's
 * condition for a "/leafnode" upgrade on the websocket listener. */
bool mr_leaf_accepts(const struct mr_server *s);
/* A connection of the websocket listener whose upgrade asked for "/leafnode" (the 101
 * has gone out): it becomes a leaf connection, and the hub's INFO goes out framed. */
void mr_leaf_accept_ws(struct mr_server *s, struct mr_conn *c);
/* A leaf link's TLS handshake finished successfully. */
void mr_leaf_on_tls(struct mr_server *s, struct mr_conn *c);
bool mr_leaf_on_connected(struct mr_server *s, uint64_t conn_id, int status);
bool mr_leaf_dial_timeout(struct mr_server *s, uint64_t conn_id);
void mr_leaf_process_op(struct mr_server *s, struct mr_conn *c, const struct mr_proto_op *op);
void mr_leaf_reap(struct mr_server *s, struct mr_conn *c);
void mr_leaf_conn_free(struct mr_server *s, struct mr_conn *c);
void mr_leaf_on_timer(struct mr_server *s, uint64_t remote_id);

/* Interest in acc changed by delta; source is the connection it came from (a route or
 * a leaf) or NULL for this server's own clients and internal subscriptions. */
void mr_leaf_interest(struct mr_server *s, struct mr_account *acc, const struct mr_sub *sub,
                      const struct mr_conn *source, int delta);

/* Fan-out: whether a leaf entry may get a message that came from origin (NULL: a
 * client or an import here; a route; a leaf), then begin/mark/flush as for routes. */
bool mr_leaf_may_send(const struct mr_sub *lsub, const struct mr_conn *origin);
void mr_leaf_fan_begin(struct mr_server *s);
void mr_leaf_fan_plain(struct mr_server *s, const struct mr_sub *lsub);
void mr_leaf_fan_queue(struct mr_server *s, const struct mr_sub *lsub);
uint32_t mr_leaf_fan_flush(struct mr_server *s, const struct mr_msg *m);
uint32_t mr_leaf_sub_weight(const struct mr_sub *lsub);

const struct mr_leaf *mr_leaf_first(const struct mr_server *s);

void mr_leaf_check(const struct mr_server *s);

#endif
