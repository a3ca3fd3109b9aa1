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
#include "core/server/outbuf.h"
#include "core/server/server.h"
#include "core/server/sublist.h"

/* Timer ids: connection cid in the high bits, kind in the low 4. */
enum mr_timer_kind {
    TIMER_AUTH = 1,
    TIMER_PING = 2,
    TIMER_WRITE = 3,
    TIMER_RESUME = 4,
};
#define TIMER_KIND_BITS 4u

enum mr_conn_state {
    CONN_OPEN = 0,   /* accepted; CONNECT may not have arrived yet */
    CONN_CLOSING = 1 /* close requested; waiting for on_closed */
};

struct mr_csub;

struct mr_conn {
    struct mr_server *srv;
    uint64_t id;  /* env stream id */
    uint64_t cid; /* client_id shown to clients, unique per server */
    enum mr_conn_state state;
    bool connect_received;
    bool verbose;
    bool pedantic;
    bool echo;
    bool headers;
    bool no_responders;
    bool want_write;  /* stream_want_write told to the env, output not yet drained */
    bool read_paused; /* input backlog waits for a resume timer */
    bool reap_queued;
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

struct mr_server {
    struct mr_server_opts opts;
    const struct mr_env *env;
    struct mr_env_sink sink;
    struct mr_mem mem;
    struct mr_outbuf_pool pool;
    struct mr_sublist *sublist;
    char server_id[MR_SERVER_ID_LEN + 1];
    char *info_prefix; /* INFO {...  without the closing brace; per-conn fields follow */
    size_t info_prefix_len;
    bool auth_required;
    bool started;
    bool shutting_down;
    uint16_t port;
    uint64_t rng[4];
    GHashTable *conns_by_id; /* uint64 id -> conn; lookup only */
    struct mr_conn *conns_head;
    struct mr_conn *conns_tail;
    struct mr_conn *reap_head;
    struct mr_csub *unsub_head;
    uint64_t next_cid;
    uint64_t deliveries; /* for the test-only drop fault */
    struct mr_server_stats stats;
};


#endif
