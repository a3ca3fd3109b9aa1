/* SPDX-License-Identifier: Apache-2.0 */
/*
 * From a parsed configuration tree (core/conf/conf.h) to server options: the keys of a
 * nats-server configuration file (shared reference config.md sections 2 to 10) with
 * nats-server's names, aliases, defaults and validation messages, checked and turned
 * into struct mr_config.
 *
 * What goes where: client-facing options fill config.server (struct mr_server_opts);
 * authorization {} and accounts {} build config.auth (struct mr_auth_opts, NULL when the
 * file has neither); the blocks whose features land in later issues (cluster, gateway,
 * leafnodes, jetstream, websocket) are parsed and validated into their own structs below,
 * each with `present` set, so a driver can say they are not active yet.
 *
 * Errors and warnings: the first error stops loading and is written to err as
 * "file:line:col: reason" (nats-server's wording where it has one). Warnings go to a
 * callback with the same prefix; each has a kind: MR_CONF_WARN_COMPAT for what
 * nats-server also warns about (legacy integer durations, duplicate URLs, deprecated
 * forms: `nats-server -t` fails on those), MR_CONF_WARN_NOTICE for keys nats-server
 * knows and Meridian accepts but ignores for now. Unknown keys are errors, as in
 * nats-server ("unknown field"), unless the key only serves as a variable.
 *
 * Ownership: a loaded mr_config owns every string and array in it, allocated with GLib;
 * mr_conf_server_deinit frees them, and config.auth with mr_auth_opts_free. The server
 * borrows config.auth (mr_server_opts.auth), so the config must outlive the server. The
 * tree passed to mr_conf_server_load stays the caller's; nothing points into it
 * afterwards. No I/O: file names (certificates, store_dir, log files) are copied, never
 * opened.
 */
#ifndef MR_CONF_SERVER_H
#define MR_CONF_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/conf/conf.h"
#include "core/env.h"
#include "core/proto/nkey.h"
#include "core/server/server.h"

/* "file:line:col" of a block, kept for messages after the tree is gone. */
#define MR_CONF_WHERE_MAX 300
/* One warning or error line, position included. */
#define MR_CONF_MSG_MAX 1024
/* RTT thresholds of compression mode s2_auto (uncompressed, fast, better, best). */
#define MR_CONF_COMPRESSION_RTT_MAX 4

/* Route and leafnode defaults nats-server uses. */
#define MR_CLUSTER_POOL_SIZE_DEFAULT 3
#define MR_CLUSTER_PING_INTERVAL_MAX_NS (30ULL * 1000000000ULL)
#define MR_LEAFNODE_RECONNECT_DEFAULT_NS (1ULL * 1000000000ULL)
#define MR_WEBSOCKET_HANDSHAKE_TIMEOUT_DEFAULT_NS (2ULL * 1000000000ULL)
#define MR_JETSTREAM_SYNC_INTERVAL_DEFAULT_NS (120ULL * 1000000000ULL)
#define MR_JETSTREAM_DUPLICATE_WINDOW_DEFAULT_NS (120ULL * 1000000000ULL)
#define MR_ALLOW_RESPONSES_EXPIRES_DEFAULT_NS (120ULL * 1000000000ULL)
#define MR_LAME_DUCK_DURATION_DEFAULT_NS (120ULL * 1000000000ULL)
#define MR_LAME_DUCK_GRACE_PERIOD_DEFAULT_NS (10ULL * 1000000000ULL)

enum mr_conf_warn_kind {
    MR_CONF_WARN_COMPAT = 1, /* nats-server warns too; `-t` fails on it */
    MR_CONF_WARN_NOTICE,     /* accepted by both; Meridian ignores it for now */
};

/* Receives one warning: "file:line:col: text" (valid during the call only). */
typedef void (*mr_conf_warn_fn)(void *ctx, enum mr_conf_warn_kind kind, const char *msg);

/* A list of strings (URLs, subjects, names). Owned by the config. */
struct mr_conf_strings {
    char **items;
    size_t count;
};

enum mr_compression_mode {
    MR_COMPRESSION_OFF = 0,
    MR_COMPRESSION_ACCEPT,
    MR_COMPRESSION_S2_UNCOMPRESSED,
    MR_COMPRESSION_S2_FAST,
    MR_COMPRESSION_S2_BETTER,
    MR_COMPRESSION_S2_BEST,
    MR_COMPRESSION_S2_AUTO,
    MR_COMPRESSION_NOT_SUPPORTED,
};

/* `compression:` of cluster, leafnodes and remotes: a mode string, a bool (true = the
 * block's "on" mode) or { mode, rtt_thresholds }. Defaults: cluster accept, leafnodes
 * s2_auto (with nats-server's thresholds 10ms, 50ms, 100ms). */
struct mr_compression_opts {
    enum mr_compression_mode mode;
    uint64_t rtt_thresholds_ns[MR_CONF_COMPRESSION_RTT_MAX];
    size_t rtt_count;
};

/* authorization {} of cluster, gateway and websocket: one user or (websocket) a token. */
struct mr_conf_simple_auth {
    char *user;
    char *password;      /* plain or bcrypt ("$2a$...") */
    char *token;         /* websocket only */
    uint64_t timeout_ns; /* 0 = the listener's default */
};

/* cluster {} (config.md section 5); routes are in core/server/route.c. */
struct mr_cluster_opts {
    bool present;
    char where[MR_CONF_WHERE_MAX];
    char *name;      /* NULL = dynamic (or the gateway name, see validation) */
    char *host;      /* listen address; NULL = 0.0.0.0 */
    int port;        /* 0 = no route listener; -1 = random */
    char *advertise; /* alias cluster_advertise */
    bool no_advertise;
    struct mr_conf_strings routes; /* URLs as written (nats://, nats-route://, user:pw@) */
    struct mr_conf_simple_auth auth;
    /* permissions { import, export }: import is stored as publish, export as
     * subscribe (nats-server does the same). NULL = none. */
    struct mr_permissions *permissions;
    int32_t connect_retries;         /* implicit routes; 0 = none */
    int32_t pool_size;               /* MR_CLUSTER_POOL_SIZE_DEFAULT; -1 = no pooling */
    struct mr_conf_strings accounts; /* pinned per-account routes */
    struct mr_compression_opts compression;
    uint64_t ping_interval_ns;  /* 0 = the server's, at most 30 s */
    uint32_t ping_max;          /* 0 = the server's */
    uint64_t write_deadline_ns; /* 0 = the server's */
    struct mr_tls_opts tls;     /* tls.enabled when a tls {} block was given */
};

/* One entry of gateway.gateways. */
struct mr_gateway_remote_opts {
    char *name;
    struct mr_conf_strings urls; /* url and urls merged, in file order */
    struct mr_tls_opts tls;
};

/* gateway {} (config.md section 6). Gateways are not active yet. */
struct mr_gateway_opts {
    bool present;
    char where[MR_CONF_WHERE_MAX];
    char *name; /* required; equals the cluster name */
    char *host;
    int port; /* required (-1 = random) */
    char *advertise;
    struct mr_conf_simple_auth auth;
    bool reject_unknown_cluster; /* alias reject_unknown */
    int32_t connect_retries;
    uint64_t write_deadline_ns; /* 0 = the server's */
    struct mr_tls_opts tls;
    struct mr_gateway_remote_opts *gateways;
    size_t gateways_count;
};

/* One user of leafnodes.authorization.users. */
struct mr_leafnode_user_opts {
    char *user;
    char *password;
    char *account; /* NULL = $G */
};

/* leafnodes { authorization {} } */
struct mr_leafnode_auth_opts {
    char *user;
    char *password;
    char *account; /* account the single user binds to; NULL = $G */
    uint64_t timeout_ns;
    struct mr_leafnode_user_opts *users;
    size_t users_count;
};

/* remotes[*].proxy {} */
struct mr_leafnode_proxy_opts {
    char *url;
    char *username;
    char *password;
    uint64_t timeout_ns;
};

/* One entry of leafnodes.remotes. */
struct mr_leafnode_remote_opts {
    struct mr_conf_strings urls; /* nats://, nats-leaf://, tls://, ws://, wss:// */
    char *account;               /* local account bound (alias local); NULL = $G */
    char *credentials;           /* alias creds: a .creds file path */
    /* Where `credentials` was written, and the file's contents once
     * mr_conf_server_load_files has read them (creds.jwt NULL until then). */
    char credentials_where[MR_CONF_WHERE_MAX];
    struct mr_creds creds;
    struct mr_tls_opts tls;
    bool ws_compression;
    bool ws_no_masking;
    bool hub;
    struct mr_conf_strings deny_imports;
    struct mr_conf_strings deny_exports;
    bool no_randomize;              /* alias dont_randomize */
    uint64_t first_info_timeout_ns; /* 0 = default (1 s) */
    bool disabled;
    bool request_isolation;
    bool isolate_leafnode_interest;
    struct mr_compression_opts compression;
    struct mr_leafnode_proxy_opts proxy;
};

/* leafnodes {} (config.md section 7). Leaf nodes are not active yet. */
struct mr_leafnode_opts {
    bool present;
    char where[MR_CONF_WHERE_MAX];
    char *host;
    int port;        /* 0 = no leafnode listener (remotes only) */
    char *advertise; /* alias leafnode_advertise */
    bool no_advertise;
    struct mr_leafnode_auth_opts auth;
    struct mr_tls_opts tls;
    struct mr_compression_opts compression;
    uint64_t reconnect_ns;          /* aliases reconnect_delay, reconnect_interval */
    bool isolate_leafnode_interest; /* alias isolate */
    char *min_version;              /* alias minimum_version; at least 2.8.0 */
    uint64_t write_deadline_ns;
    struct mr_leafnode_remote_opts *remotes;
    size_t remotes_count;
};

/* jetstream { limits {} } */
struct mr_jetstream_limits_opts {
    int64_t max_ack_pending;      /* 0 = unlimited */
    int64_t max_ha_assets;        /* 0 = unlimited */
    int64_t max_request_batch;    /* 0 = unlimited */
    uint64_t duplicate_window_ns; /* 0 = the stream's own (2 min) */
};

/* jetstream {} or jetstream: enabled|true (config.md section 9; core/js/js_api.h). */
struct mr_jetstream_opts {
    bool present;
    char where[MR_CONF_WHERE_MAX];
    bool enabled;
    char *store_dir;          /* aliases store, storedir; or top-level store_dir */
    int64_t max_memory_store; /* bytes; -1 = default (75% of RAM) */
    int64_t max_file_store;   /* bytes; -1 = default (available disk) */
    char *domain;
    char *unique_tag;                /* lower case, trimmed */
    uint64_t sync_interval_ns;       /* MR_JETSTREAM_SYNC_INTERVAL_DEFAULT_NS */
    bool sync_always;                /* sync_interval: always */
    int64_t max_outstanding_catchup; /* bytes; 0 = default */
    bool strict;                     /* true by default */
    struct mr_jetstream_limits_opts limits;
};

/* accounts { X { jetstream: ... } }: the limits of one account (-1 = unlimited). */
struct mr_account_jetstream_opts {
    char *account;
    int64_t max_memory;
    int64_t max_store;
    int64_t max_streams;
    int64_t max_consumers;
    int64_t max_ack_pending;
    int64_t memory_max_stream_bytes;
    int64_t store_max_stream_bytes;
    bool max_bytes_required;
};

/* websocket {} (config.md section 10). Not active yet. */
struct mr_websocket_opts {
    bool present;
    char where[MR_CONF_WHERE_MAX];
    char *host;
    int port;
    char *advertise;
    bool no_tls;
    struct mr_tls_opts tls;
    bool same_origin;
    struct mr_conf_strings allowed_origins;
    bool compression;
    uint64_t handshake_timeout_ns; /* MR_WEBSOCKET_HANDSHAKE_TIMEOUT_DEFAULT_NS */
    struct mr_conf_simple_auth auth;
    char *no_auth_user;
    char *jwt_cookie;
};

struct mr_config {
    struct mr_server_opts server; /* server.auth == auth after loading */
    struct mr_auth_opts *auth;    /* NULL when no authorization {} and no accounts {} */
    /* True when auth->users[0] is authorization {}'s single user/password (command
     * line --user/--pass replace it, as in nats-server). */
    bool auth_single_user;

    /* Logging and process files (the driver acts on them). */
    bool logtime; /* true by default */
    char *log_file;
    char *pid_file;

    /* Accepted and kept, not acted on yet (a notice says so). */
    char *client_advertise;
    struct mr_conf_strings server_tags;
    uint64_t lame_duck_duration_ns;
    uint64_t lame_duck_grace_period_ns;

    struct mr_cluster_opts cluster;
    struct mr_gateway_opts gateway;
    struct mr_leafnode_opts leafnodes;
    struct mr_jetstream_opts jetstream;
    struct mr_websocket_opts websocket;
    struct mr_account_jetstream_opts *account_jetstream;
    size_t account_jetstream_count;
};

/* Fills defaults (mr_server_opts_default and nats-server's block defaults); allocates
 * nothing. */
void mr_conf_server_init(struct mr_config *c);

/*
 * Initialises config and fills it from root (a map, as mr_conf_parse returns it).
 * Warnings go to warn (may be NULL) with warn_ctx. Returns 0, or MR_E_INVAL with err
 * holding "file:line:col: reason" (no position for a few whole-config checks, as in
 * nats-server), or MR_E_UNSUPPORTED for a feature Meridian refuses (nkey users,
 * operator mode, https monitoring, ...). Either way config may be passed to
 * mr_conf_server_deinit; after a failure it holds nothing. root may be any map (a
 * scenario's server block too). The load sets the used flag of every entry it visits;
 * an entry already marked used (a variable, or a key looked up with mr_conf_get before
 * the load) is not reported as unknown.
 */
int mr_conf_server_load(struct mr_conf_value *root, struct mr_config *config, mr_conf_warn_fn warn,
                        void *warn_ctx, char *err, size_t err_len);

/*
 * Reads the files a loaded config names and the server needs in memory, through io (the
 * driver's file reader, as for `include`): each leafnodes remote's `credentials` file,
 * parsed into its creds (user JWT and nkey seed). Call it after mr_conf_server_load. A
 * missing, unreadable or malformed file is a config error: returns MR_E_INVAL (or the
 * reader's error) with err as "file:line:col: LeafNode Remote Credentials file \"x\" ..."
 * naming the file and what is wrong. io NULL with a credentials file named is an error
 * too, never a silent connect without credentials.
 */
int mr_conf_server_load_files(struct mr_config *config, const struct mr_conf_io *io, char *err,
                              size_t err_len);

/* Frees everything a load allocated (auth too) and re-initialises c. */
void mr_conf_server_deinit(struct mr_config *c);

/*
 * Command line flags that override the file (config.md section 11): a NULL string or
 * a false *_set means "not given". nats-server re-applies the flags that were given
 * after reading the file; this does the same.
 */
struct mr_conf_server_flags {
    const char *host; /* -a, --addr, --net */
    bool port_set;    /* -p, --port */
    int port;
    const char *server_name; /* -n, --name, --server_name */
    bool debug_set;          /* -D, -DV, -DVV */
    bool debug;
    bool trace_set; /* -V, -VV, -DV, -DVV */
    bool trace;
    bool logtime_set; /* -T, --logtime */
    bool logtime;
    const char *log_file; /* -l, --log */
    const char *pid_file; /* -P, --pid */
    const char *user;     /* --user */
    const char *pass;     /* --pass */
    const char *token;    /* --auth */
    bool http_port_set;   /* -m, --http_port */
    int http_port;
    /* --tls, --tlscert, --tlskey, --tlscacert, --tlsverify. Any of them (unless
     * --tls=false) replaces the file's tls {} with exactly these values, which then
     * need a certificate and a key; --tls=false turns client TLS off. */
    bool tls_set; /* --tls given */
    bool tls;
    const char *tls_cert;
    const char *tls_key;
    const char *tls_ca;
    bool tls_verify_set;
    bool tls_verify;
    /* --cluster / --cluster_listen URL (nats://host:port), --cluster_name, --routes
     * (comma-separated URLs), --cluster_advertise, --no_advertise, --connect_retries:
     * each replaces the file's cluster {} value; a listen URL enables the cluster. */
    const char *cluster_listen;
    const char *cluster_name;
    const char *routes;
    const char *cluster_advertise;
    bool no_advertise_set;
    bool no_advertise;
    bool connect_retries_set;
    int connect_retries;
};

/*
 * Applies the given flags over a loaded (or only initialised) config. Flag --user,
 * --pass and --auth replace authorization {}'s single user or token; with a users list
 * in the file they are ignored, as nats-server ignores them, and warn says so.
 * Returns 0 or MR_E_INVAL with err set (nats-server's messages for TLS flags).
 */
int mr_conf_server_apply_flags(struct mr_config *c, const struct mr_conf_server_flags *f,
                               mr_conf_warn_fn warn, void *warn_ctx, char *err, size_t err_len);

#endif
