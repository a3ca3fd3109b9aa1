/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A server instance: clients, subscriptions, fan-out, keepalive. All state hangs off
 * struct mr_server, so one process can hold many (the simulator holds dozens). It
 * acts on the world only through its struct mr_env and is driven by the inputs of
 * struct mr_env_sink (mr_server_sink()).
 *
 * Lifecycle: mr_server_create -> mr_server_start (listens) -> inputs ... ->
 * mr_server_shutdown (closes everything; on_closed inputs follow) -> when
 * mr_server_done() is true, mr_server_destroy.
 */
#ifndef MR_SERVER_H
#define MR_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/env.h"
#include "core/limits.h"

/* The protocol feature level we claim in INFO "version": real clients choose their
 * JetStream API forms by it. The server's own version goes in "meridian_version". */
#define MR_SERVER_COMPAT_VERSION "2.10.0"
#define MR_SERVER_VERSION "0.1.0"

/*
 * Authorization and accounts, as configured (config.md sections 3 and 4). Built by the
 * config loader (core/conf/conf_server.c) or by hand in tests; borrowed by the server,
 * so it must outlive it. Strings are NUL-terminated and owned by whoever built the
 * structure (mr_auth_opts_free frees one built with GLib allocation, as the loader
 * does).
 */
struct mr_subject_list {
    char **subjects; /* "subject" or, for subscribe, "subject queue" */
    size_t count;
};

struct mr_permissions {
    struct mr_subject_list pub_allow; /* empty = everything allowed */
    struct mr_subject_list pub_deny;
    struct mr_subject_list sub_allow;
    struct mr_subject_list sub_deny;
    bool allow_responses;            /* may publish to reply subjects of requests */
    uint32_t responses_max;          /* 0 = 1 */
    uint64_t responses_expires_ns;   /* 0 = no expiry */
};

struct mr_user_opts {
    char *user;     /* NULL for a token-less nkey user */
    char *password; /* plain, or a bcrypt hash starting with "$2" */
    char *nkey;     /* public nkey, if any (not supported yet: refused by the loader) */
    char *account;  /* NULL = the global account $G */
    struct mr_permissions *permissions; /* NULL = everything allowed */
};

enum mr_response_type {
    MR_RESPONSE_SINGLE = 0,
    MR_RESPONSE_STREAM,
    MR_RESPONSE_CHUNKED,
};

struct mr_export_opts {
    bool service;  /* false = stream export */
    char *subject; /* may hold wildcards */
    char **accounts; /* NULL/0 = public */
    size_t accounts_count;
    enum mr_response_type response_type;
    uint64_t response_threshold_ns; /* 0 = 2 minutes */
};

struct mr_import_opts {
    bool service;
    char *account; /* exporting account */
    char *subject; /* subject in the exporting account */
    char *prefix;  /* stream imports: messages appear as prefix.subject */
    char *to;      /* local subject (service: what local clients publish to) */
};

struct mr_account_opts {
    char *name;
    struct mr_export_opts *exports;
    size_t exports_count;
    struct mr_import_opts *imports;
    size_t imports_count;
    bool jetstream;
    int32_t max_connections;   /* -1 = unlimited */
    int32_t max_subscriptions; /* -1 = unlimited */
    int32_t max_payload;       /* -1 = server's */
};

struct mr_cluster_opts; /* core/conf/conf_server.h */
struct mr_gateway_opts;
struct mr_leafnode_opts;
struct mr_websocket_opts;
struct mr_jetstream_opts;
struct mr_account_jetstream_opts;

struct mr_auth_opts {
    /* Top-level authorization {}: one user/password, a token, or users. */
    struct mr_user_opts *users; /* every user of every account; account names them */
    size_t users_count;
    char *token;
    uint64_t timeout_ns; /* 0 = default (2 s) */
    struct mr_permissions *default_permissions;
    struct mr_account_opts *accounts;
    size_t accounts_count;
    char *system_account; /* NULL = "$SYS" (created if missing) */
    bool no_system_account;
    char *no_auth_user;
};

/* Frees a structure whose strings and arrays were allocated with GLib (g_malloc). */
void mr_auth_opts_free(struct mr_auth_opts *a);

struct mr_server_opts {
    char host[256];     /* client listen address; "0.0.0.0" by default */
    int port;           /* 4222; -1 = random; 0 = the default */
    char server_name[MR_SERVER_NAME_MAX]; /* empty = server id */
    uint32_t max_payload;
    uint32_t max_control_line;
    int64_t max_pending;
    uint32_t max_connections;
    uint32_t max_subs; /* per connection, 0 = unlimited */
    uint64_t ping_interval_ns;
    uint32_t ping_max;
    uint64_t write_deadline_ns;
    uint64_t auth_timeout_ns;
    /* Single-user authorization from flags (--user/--pass/--auth); the config issue
     * adds users, accounts and permissions. */
    char user[256];
    char pass[256];
    char token[256];
    /* Users, accounts and permissions from a config file; NULL = none. Borrowed. When
     * set, user/pass/token above are folded in by the loader, not read separately. */
    const struct mr_auth_opts *auth;
    /* cluster {} (routes); NULL or not present = no cluster. Borrowed like auth. */
    const struct mr_cluster_opts *cluster;
    /* gateway {}; NULL or not present = no gateway. Borrowed like auth. */
    const struct mr_gateway_opts *gateway;
    /* leafnodes {}; NULL or not present = none. Borrowed like auth. */
    const struct mr_leafnode_opts *leafnodes;
    /* websocket {}; NULL or not present = none. Borrowed like auth. */
    const struct mr_websocket_opts *websocket;
    /* jetstream {}; NULL or not enabled = none. Borrowed like auth, and so are the
     * per-account limits (accounts { X { jetstream {} } }). */
    const struct mr_jetstream_opts *jetstream;
    const struct mr_account_jetstream_opts *account_jetstream;
    size_t account_jetstream_count;
    struct mr_tls_opts tls;
    /* Monitoring HTTP listener: port 0 = off, -1 = random. */
    char http_host[256];
    int http_port;
    bool debug;
    bool trace;
    /* Test-only fault: drop every Nth delivered message (0 = off). Proves the
     * simulator's checkers can fail; never set in production. */
    uint32_t test_drop_every;
    /* Test-only fault: outbound gateways send every message, wanted or not (as an
     * optimistic gateway would). Proves the interest_only check can fail. */
    bool test_gateway_send_all;
};

struct mr_server;

/* Fills defaults (nats-server's). */
void mr_server_opts_default(struct mr_server_opts *o);

/* Creates a server that borrows env (which must outlive it) and copies opts.
 * Returns 0, MR_E_NOMEM or MR_E_INVAL (errmsg says which option). */
int mr_server_create(const struct mr_server_opts *opts, const struct mr_env *env,
                     struct mr_server **out, char *errmsg, size_t errmsg_len);
/* Starts listening. Returns 0 or the env's listen error. */
int mr_server_start(struct mr_server *s);
/* Closes listeners and every connection. on_closed inputs still arrive afterwards. */
void mr_server_shutdown(struct mr_server *s);
/* True once shut down and every connection is gone. */
bool mr_server_done(const struct mr_server *s);
/* Frees everything. Only when mr_server_done() or never started. */
void mr_server_destroy(struct mr_server *s);

/* The env delivers inputs here. */
const struct mr_env_sink *mr_server_sink(struct mr_server *s);

/* The port the client listener is bound to (after start). */
uint16_t mr_server_port(const struct mr_server *s);
const char *mr_server_id(const struct mr_server *s);

struct mr_server_stats {
    uint64_t connections;       /* open now */
    uint64_t total_connections; /* ever accepted */
    uint64_t subscriptions;
    uint64_t in_msgs;
    uint64_t out_msgs;
    uint64_t in_bytes;
    uint64_t out_bytes;
    uint64_t slow_consumers;
    size_t mem_bytes; /* bytes the core has allocated through its mr_mem */
};
void mr_server_stats(const struct mr_server *s, struct mr_server_stats *out);

/* Asserts the server's invariants. O(connections + subscriptions). */
void mr_server_check(const struct mr_server *s);

#endif
