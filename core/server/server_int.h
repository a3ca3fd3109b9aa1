/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The server's internal state, shared by the modules of core/server/ (server.c,
 * monitor.c, ...) and by nothing outside it. See server.c for the invariants.
 */
#ifndef MR_SERVER_INT_H
#define MR_SERVER_INT_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/mem.h"
#include "core/proto/parser.h"
#include "core/server/monitor.h"
#include "core/server/gateway.h"
#include "core/server/interest.h"
#include "core/server/leaf.h"
#include "core/server/outbuf.h"
#include "core/server/route.h"
#include "core/server/server.h"
#include "core/server/sublist.h"

/* Subjects up to this long are remembered per publisher for the last-match shortcut. */
#define MR_LAST_MATCH_SUBJECT_MAX 64

/* Listener ids given to env->listen. */
#define MR_LISTENER_CLIENT 0
#define MR_LISTENER_HTTP 1
#define MR_LISTENER_ROUTE 2
#define MR_LISTENER_GATEWAY 3
#define MR_LISTENER_LEAF 4
#define MR_LISTENER_WS 5
/* TLS context ids given to env->tls_configure. */
#define MR_TLS_CLIENT 1
#define MR_TLS_ROUTE 2
#define MR_TLS_GATEWAY 3
#define MR_TLS_LEAF 4
#define MR_TLS_WEBSOCKET 5
/* Leaf remotes: one context each, MR_TLS_LEAF_REMOTE + the remote's index. */
#define MR_TLS_LEAF_REMOTE 1000

/* Timer ids: env connection id in the high bits, kind in the low 4; server-wide timers
 * use connection id 0. */
enum mr_timer_kind {
    TIMER_AUTH = 1,
    TIMER_PING = 2,
    TIMER_WRITE = 3,
    TIMER_RESUME = 4,
    TIMER_RESPONSES = 5, /* server-wide: expire service-import response mappings */
    TIMER_ROUTE_RETRY = 6, /* per route slot: connect again (route.c) */
    TIMER_GATEWAY_RETRY = 7, /* per remote gateway: connect (again) (gateway.c) */
    TIMER_DIAL = 8,          /* a route or gateway connect in flight took too long */
    TIMER_LEAF_RETRY = 9,    /* per leaf remote: connect again (leaf.c) */
    TIMER_JS = 10,           /* JetStream (core/js/js_api.h says what the ids mean) */
};

enum mr_conn_kind {
    MR_CONN_CLIENT = 0, /* the NATS client protocol */
    MR_CONN_HTTP = 1,   /* the monitoring endpoint */
    MR_CONN_ROUTE = 2,  /* a cluster route (route.c) */
    MR_CONN_GATEWAY = 3, /* a gateway, inbound or outbound (gateway.c) */
    MR_CONN_LEAF = 4,    /* a leaf node link, either side (leaf.c) */
};

struct mr_account;
struct mr_isub;
struct mr_js;
#define TIMER_KIND_BITS 4u
/* Server-wide timers use a connection id no env hands out. */
#define MR_TIMER_SERVER_CONN ((UINT64_C(1) << (64 - TIMER_KIND_BITS)) - 1)
#define MR_TIMER_SERVER(kind) ((MR_TIMER_SERVER_CONN << TIMER_KIND_BITS) | (uint64_t)(kind))

enum mr_conn_state {
    CONN_OPEN = 0,   /* accepted; CONNECT may not have arrived yet */
    CONN_CLOSING = 1 /* close requested; waiting for on_closed */
};

struct mr_csub;

struct mr_conn {
    struct mr_server *srv;
    uint64_t id;  /* env stream id */
    uint64_t cid; /* client_id shown to clients, unique per server */
    enum mr_conn_kind kind;
    enum mr_conn_state state;
    /* Bound at CONNECT (or at accept when no auth is required); never NULL after that. */
    struct mr_account *account;
    const struct mr_user_opts *user;          /* NULL: no user (token or no auth) */
    const struct mr_permissions *permissions; /* NULL: everything allowed */
    /* CONNECT metadata for monitoring; owned, allocated with g_strdup, NULL if absent. */
    char *name;
    char *lang;
    char *version;
    /* Publish permission results by subject (bounded), and reply subjects this
     * connection may answer (allow_responses); NULL until needed. */
    GHashTable *pub_cache;
    GHashTable *replies_allowed;
    bool tls_pending; /* TLS handshake under way: input waits for on_tls */
    struct mr_route *route; /* MR_CONN_ROUTE only */
    struct mr_gw_conn *gw;  /* MR_CONN_GATEWAY only */
    struct mr_leaf *leaf;   /* MR_CONN_LEAF only */
    struct mr_ws_conn *ws;  /* clients and leafs over WebSocket (ws_conn.c) */
    /* Clients: routed replies handed to this client, plain -> full (gateway.c). */
    GHashTable *gw_replies;
    GQueue *gw_replies_fifo;
    /* The last match of this publisher, reused while its account's sublist epoch is
     * unchanged (mr_sublist_epoch): a publisher usually repeats its subject, and a
     * memcmp is cheaper than the sublist's hash and probe. */
    const struct mr_sublist_result *last_match;
    const struct mr_account *last_match_acc;
    uint64_t last_match_epoch;
    uint8_t last_match_len;
    char last_match_subject[MR_LAST_MATCH_SUBJECT_MAX];
    uint64_t start_ns;   /* monotonic time of accept */
    uint64_t ping_sent_ns; /* when the outstanding RTT PING left, 0 if none */
    uint64_t rtt_ns;       /* last measured round trip, 0 until known */
    bool connect_received;
    bool verbose;
    bool pedantic;
    bool echo;
    bool headers;
    bool no_responders;
    bool want_write;  /* stream_want_write told to the env, output not yet drained */
    bool read_paused; /* input backlog waits for a resume timer */
    bool reap_queued;
    bool counted; /* a client in stats.connections (WebSocket: once upgraded) */
    int protocol;
    char host[64];
    uint16_t port;
    struct mr_parser parser;
    /* Input bytes of an operation split across reads, or a backlog left when the per-read
     * operation bound was hit. */
    uint8_t *in_buf;
    size_t in_len;
    size_t in_cap;
    struct mr_outbuf out;
    uint64_t last_in_ns;       /* last time bytes arrived */
    uint64_t last_progress_ns; /* last time output drained or became pending */
    uint32_t pings_out;
    bool write_timer_armed;
    /* Subscriptions: sid -> csub for lookup, and a list in subscription order. */
    GHashTable *subs_by_sid;
    struct mr_csub *subs_head;
    struct mr_csub *subs_tail;
    uint32_t subs_count;
    uint64_t in_msgs;
    uint64_t in_bytes;
    uint64_t out_msgs;
    uint64_t out_bytes;
    struct mr_conn *prev; /* accept order */
    struct mr_conn *next;
    struct mr_conn *reap_next;
};

struct mr_csub {
    struct mr_sub sub; /* first: the sublist hands back &csub->sub */
    struct mr_conn *conn;
    char *sid; /* NUL-terminated; subject and queue follow in the same allocation */
    uint32_t sid_len;
    size_t alloc_len;
    uint64_t delivered;
    uint64_t max; /* 0 = unlimited */
    bool removing;
    struct mr_csub *prev;
    struct mr_csub *next;
    struct mr_csub *unsub_next; /* deferred auto-unsubscribe */
};

/*
 * An account: its own subject space (sublist) and, from the config, its users, exports
 * and imports. $G (global) and the system account always exist. Accounts are kept in
 * creation order ($G first, then configuration order); the name table is lookup only.
 */
struct mr_account {
    char *name; /* owned (g_strdup) */
    const struct mr_account_opts *opts; /* NULL for implicit accounts */
    struct mr_sublist *sublist;
    uint32_t conns;       /* client connections bound now */
    uint64_t subs;        /* client subscriptions now */
    uint64_t in_msgs;     /* published in this account */
    uint64_t in_bytes;
    uint64_t out_msgs;    /* delivered to clients of this account */
    uint64_t out_bytes;
    char reply_prefix[16]; /* "_R_.XXXXXX." for replies of service imports into it */
    /* Local interest, sent to routes (route.c); the cluster's, sent to inbound
     * gateways (gateway.c). */
    struct mr_interest_table route_interest;
    struct mr_interest_table gw_interest;
    struct mr_interest_table local_interest; /* clients and internal subs only (leaf.c) */
    char lds[32]; /* loop-detection subject for leaf links, made on first use (leaf.c) */
    struct mr_account *next;
};

struct mr_server {
    struct mr_server_opts opts;
    const struct mr_env *env;
    struct mr_env_sink sink;
    struct mr_mem mem;
    struct mr_outbuf_pool pool;
    struct mr_account *accounts_head; /* creation order */
    struct mr_account *accounts_tail;
    GHashTable *accounts_by_name;     /* name -> account; lookup only */
    struct mr_account *global;        /* $G */
    struct mr_account *system;        /* the system account */
    uint64_t start_ns;      /* monotonic time of start */
    int64_t start_wall_ns;  /* wall time of start, for displayed timestamps */
    uint16_t http_port;     /* bound monitoring port, 0 if off */
    uint16_t ws_port;       /* bound websocket port, 0 if off */
    struct mr_monitor monitor; /* monitoring state (monitor.c) */
    /* Imports (account.c): internal subscriptions in creation order, and the reply
     * mappings of service imports waiting for their responses. */
    struct mr_isub *isubs_head;
    GHashTable *responses;   /* mapped reply subject -> response entry; lookup only */
    GQueue responses_fifo;   /* the same entries in creation order, for expiry */
    uint64_t next_response_id;
    bool responses_timer_armed;
    /* File completions go to the module that issued the request (the JetStream stores
     * own their req_ids, core/js/js_store.h); NULL while nothing has files open. */
    void (*file_done_hook)(void *ctx, uint64_t req_id, int64_t result, const uint8_t *data,
                           size_t len);
    void *file_done_ctx;
    struct mr_js *js; /* JetStream (core/js/js_api.c); NULL when not enabled */
    char server_id[MR_SERVER_ID_LEN + 1];
    char *info_prefix; /* INFO {...  without the closing brace; per-conn fields follow */
    size_t info_prefix_len;
    bool auth_required;
    bool started;
    bool shutting_down;
    uint16_t port;
    uint64_t rng[4];
    GHashTable *conns_by_id; /* uint64 id -> conn; lookup only */
    struct mr_conn *conn_memo;       /* last conn_lookup hit: env calls come in runs per conn */
    struct mr_account *account_memo; /* last account found by name from a route */
    struct mr_conn *conns_head;
    struct mr_conn *conns_tail;
    struct mr_conn *reap_head;
    struct mr_csub *unsub_head;
    uint64_t next_cid;
    uint64_t deliveries; /* for the test-only drop fault */
    uint64_t sub_changes;    /* client subscriptions made or removed */
    uint64_t sub_checked_at; /* mr_server_check memo */
    uint64_t conn_changes;   /* connections listed or freed */
    uint64_t conn_checked_at;
    bool accounts_checked;   /* mr_accounts_check memo: the name table is fixed */
    struct mr_cluster cluster; /* routes (route.c) */
    struct mr_gateways gw;     /* gateways (gateway.c) */
    struct mr_leafs leafs;     /* leaf nodes (leaf.c) */
    struct mr_server_stats stats;
};

/* A message being routed: views into the publisher's input (or a rewritten subject). */
struct mr_msg {
    struct mr_view subject;
    struct mr_view reply;
    uint32_t hdr_len;       /* header bytes at the front of payload */
    uint32_t size;          /* payload bytes including headers */
    const uint8_t *payload;
};

/* mr_sub.flags: an internal subscription (imports), owner is not a connection. */
#define MR_SUB_INTERNAL 1u

/* Imports may chain (A exports to B, B to C); bounded so a cycle in the config cannot
 * loop. */
#define MR_IMPORT_DEPTH_MAX 8

/* Helpers shared by the modules of core/server/. */

/* Fans m out to the subscriptions of acc: plain subs, one member per queue group,
 * internal import subs. publisher may be NULL (internal). Returns deliveries made. */
uint32_t mr_server_route(struct mr_server *s, struct mr_account *acc, struct mr_conn *publisher,
                         const struct mr_msg *m, uint32_t depth);
/* Splits a JetStream delivery's reply "$JS.ACK.…@<subject>" into out (views into m):
 * what a client is handed. False when m is not one. */
bool mr_server_js_split(const struct mr_msg *m, struct mr_msg *out);
/* Logs through the env with the server's level filter. */
void mr_server_log(struct mr_server *s, enum mr_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Queues bytes on a connection; false if it was closed (slow consumer or budget). */
bool mr_conn_queue_out(struct mr_conn *c, const void *p, size_t n);
/* The same without WebSocket framing (handshake answers, control frames). */
bool mr_conn_queue_raw(struct mr_conn *c, const void *p, size_t n);
/* Hands bytes of the NATS protocol to a connection's parser, as if they had just been
 * read (WebSocket payloads). */
void mr_conn_feed(struct mr_conn *c, const uint8_t *buf, size_t len);
/* A WebSocket client's upgrade is done (ws_conn.c): count it, bind it when it needs no
 * credentials, send INFO, arm its auth timer. */
void mr_conn_ws_client_open(struct mr_conn *c);
/* Closes a connection: no more input or output, the env closes the stream after
 * flushing what is pending. */
void mr_conn_close(struct mr_conn *c, const char *reason);
/* Creates a connection for an env stream (accepted or connected) and lists it. NULL
 * when the memory budget is exhausted (the stream is closed then). */
struct mr_conn *mr_conn_new(struct mr_server *s, uint64_t conn_id, enum mr_conn_kind kind,
                            const char *peer_host, uint16_t peer_port);
/* Arms the connection's keepalive PING delay_ns from now. */
void mr_conn_arm_ping(struct mr_conn *c, uint64_t delay_ns);
/* Sends -ERR '<text>'. */
void mr_conn_send_err(struct mr_conn *c, const char *text);
/* The cluster's client URLs changed: rebuild INFO and tell the clients that take
 * asynchronous INFO. */
void mr_server_info_changed(struct mr_server *s);
/* Delivers a message that arrived over a route to local subscriptions only: plain ones,
 * routable internal ones, and one local member of each queue group named in queues
 * (blank-separated). */
void mr_server_route_inbound(struct mr_server *s, struct mr_account *acc, struct mr_conn *route,
                             const struct mr_msg *m, struct mr_view queues, struct mr_view origin);
/* Fans out a message that arrived from a gateway: local clients, routes with interest,
 * and one member (local or routed) of each queue group named in queues. Never to
 * another gateway. */
void mr_server_route_from_gateway(struct mr_server *s, struct mr_account *acc,
                                  const struct mr_msg *m, struct mr_view queues);
/* Arms (or cancels) the dial timeout of an outbound connect in flight (env id). */
void mr_server_arm_dial(struct mr_server *s, uint64_t conn_id);
void mr_server_cancel_dial(struct mr_server *s, uint64_t conn_id);
/* Fans out a message that came over leaf link c: local clients, routes and gateways
 * (unless we are the spoke of c), other leafs as mr_leaf_may_send allows, one member
 * of each queue group named in queues. */
void mr_server_route_from_leaf(struct mr_server *s, struct mr_account *acc, struct mr_conn *c,
                               const struct mr_msg *m, struct mr_view queues);
/* Monotonic now. */
uint64_t mr_server_now(const struct mr_server *s);
/* Next value of the server's seeded PRNG. */
uint64_t mr_server_rand(struct mr_server *s);
/* Wall-clock nanoseconds of a monotonic instant, for displayed timestamps. */
int64_t mr_server_wall_of(const struct mr_server *s, uint64_t mono_ns);

#endif
