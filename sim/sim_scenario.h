/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Scenario files: what a simulation run builds and does, written in the NATS
 * configuration language (core/conf/conf.h) and loaded into plain data. docs/scenarios.md
 * is the user's guide; the blocks are sim {}, regions {}, links [], names {},
 * servers {}, clients {}, timeline [], random {}, quiesce, expect {} and check [].
 *
 * Each server block is a real server configuration (inline under `config {}` or the
 * block's own keys, for example through `include "file.conf"`), loaded with
 * mr_conf_server_load so a user can simulate production configs unchanged.
 *
 * Invariants of a loaded scenario:
 *  - Every name a block refers to exists: a server's region, a link's regions, a
 *    client's servers, a timeline target (a server or a region, as the action needs).
 *  - Server, region and client names are unique; the timeline is sorted by time
 *    (ties keep file order) and every time is below the duration.
 *  - Every error is "file:line:col: what was wrong (what was expected)".
 *
 * Ownership: sim_scenario_load* returns a scenario the caller frees with
 * sim_scenario_destroy; it owns every string, array and server config in it. The
 * conf tree it was loaded from is freed before the load returns.
 */
#ifndef SIM_SCENARIO_H
#define SIM_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/conf/conf.h"
#include "core/conf/conf_server.h"
#include "sim/sim_disk.h"

/* Bounds on what a scenario may declare; over one: a load error naming it. */
#define SIM_SC_SERVERS_MAX 64
#define SIM_SC_REGIONS_MAX 32
#define SIM_SC_CLIENTS_MAX 1024
#define SIM_SC_EVENTS_MAX 4096
#define SIM_SC_NAME_MAX 64     /* with the NUL (the workloads' SIM_WL_NAME_MAX) */
#define SIM_SC_AT_MAX 16       /* servers a client lists (SIM_WL_SERVERS_MAX) */
#define SIM_SC_SUBJECT_MAX 255 /* subject and queue bytes (SIM_WL_SUBJECT_MAX - 1) */
#define SIM_SC_DURATION_MAX_NS (24ULL * 3600 * 1000000000ULL)
#define SIM_SC_RATE_MAX 100000
#define SIM_SC_SIZE_MAX (1024 * 1024)
#define SIM_SC_ERR_MAX 1024
#define SIM_SC_CRED_MAX 256 /* user, password, token, account: bytes with the NUL */
#define SIM_SC_STREAM_JSON_MAX 4096 /* a js_publish client's stream {} as JSON, with NUL */

/* Durations used when a scenario leaves them out. */
#define SIM_SC_DURATION_DEFAULT_NS (60ULL * 1000000000ULL)
#define SIM_SC_REGION_LATENCY_DEFAULT_NS (200ULL * 1000)
#define SIM_SC_LINK_LATENCY_DEFAULT_NS (50ULL * 1000000)
#define SIM_SC_CONVERGE_DEFAULT_NS (10ULL * 1000000000ULL)

enum sim_sc_mode {
    SIM_SC_MODE_SAFETY = 0,
    SIM_SC_MODE_LIVENESS,
};

/* Timeline actions (docs/scenarios.md lists their targets and parameters). */
#define SIM_SC_ACTION_TABLE(X)                                                             \
    X(SIM_ACT_PARTITION, "partition")                                                      \
    X(SIM_ACT_ISOLATE, "isolate")                                                          \
    X(SIM_ACT_HEAL, "heal")                                                                \
    X(SIM_ACT_HEAL_ALL, "heal_all")                                                        \
    X(SIM_ACT_CRASH, "crash")                                                              \
    X(SIM_ACT_POWER_FAIL, "power_fail")                                                    \
    X(SIM_ACT_RESTART, "restart")                                                          \
    X(SIM_ACT_PAUSE, "pause")                                                              \
    X(SIM_ACT_RESUME, "resume")                                                            \
    X(SIM_ACT_RESET, "reset")                                                              \
    X(SIM_ACT_LATENCY, "latency")                                                          \
    X(SIM_ACT_CLOCK_SKEW, "clock_skew")                                                    \
    X(SIM_ACT_REGION_DOWN, "region_down")                                                  \
    X(SIM_ACT_REGION_UP, "region_up")                                                      \
    X(SIM_ACT_QUIESCE, "quiesce")

enum sim_sc_action {
#define SIM_SC_ACTION_ENUM(name, text) name,
    SIM_SC_ACTION_TABLE(SIM_SC_ACTION_ENUM)
#undef SIM_SC_ACTION_ENUM
        SIM_ACT_COUNT
};

/* Checkers a scenario may ask for. */
#define SIM_SC_CHECK_TABLE(X)                                                              \
    X(SIM_CHECK_NO_DUPLICATES, "no_duplicates")                                            \
    X(SIM_CHECK_PER_PUBLISHER_ORDER, "per_publisher_order")                                \
    X(SIM_CHECK_DELIVERY, "delivery")                                                      \
    X(SIM_CHECK_QUEUE_ONCE, "queue_once")                                                  \
    X(SIM_CHECK_LIVENESS, "liveness")                                                      \
    X(SIM_CHECK_INTEREST_ONLY, "interest_only")                                            \
    X(SIM_CHECK_LOCAL_DELIVERY, "local_delivery")                                          \
    X(SIM_CHECK_ACCOUNT_SCOPING, "account_scoping")                                        \
    X(SIM_CHECK_NO_ACKED_LOSS, "no_acked_loss")

enum sim_sc_check {
#define SIM_SC_CHECK_ENUM(name, text) name,
    SIM_SC_CHECK_TABLE(SIM_SC_CHECK_ENUM)
#undef SIM_SC_CHECK_ENUM
        SIM_CHECK_COUNT
};

/* The name of an action or a check ("partition", "delivery"). */
const char *sim_sc_action_name(enum sim_sc_action a);
const char *sim_sc_check_name(enum sim_sc_check c);

struct sim_sc_strings {
    char **items; /* owned */
    size_t count;
};

struct sim_sc_region {
    char *name;
    uint64_t latency_min_ns; /* one-way delay inside the region: uniform in [min, max] */
    uint64_t latency_max_ns;
};

struct sim_sc_link {
    char *a; /* region names, as written */
    char *b;
    size_t a_index; /* into regions */
    size_t b_index;
    uint64_t latency_ns; /* one-way */
    uint64_t jitter_ns;
    uint64_t bandwidth_bytes_per_s; /* 0 = unlimited */
};

/* expect { quiet_links: [...] }: a link that must carry at most max_bytes of data over
 * the run (both directions), because nothing on one side wants what the other side
 * publishes: the interest_only check. */
struct sim_sc_quiet_link {
    char *a;
    char *b;
    uint64_t max_bytes;
};

/* A shared DNS name (names {}): connect() to it picks one of servers. */
struct sim_sc_name {
    char *name;
    struct sim_sc_strings servers;
};

struct sim_sc_server {
    char *name; /* also its host name */
    char *region;
    size_t region_index;
    struct mr_config config; /* loaded with mr_conf_server_load; options applied */
    struct sim_disk_faults disk; /* disk {}: the host's disk faults; all zero = none */
    char where[MR_CONF_WHERE_MAX];
};

enum sim_sc_client_kind {
    SIM_SC_CLIENT_PUBLISH = 1,
    SIM_SC_CLIENT_SUBSCRIBE,
    SIM_SC_CLIENT_REQUEST,
    SIM_SC_CLIENT_REPLY,
    SIM_SC_CLIENT_JS_PUBLISH, /* js_publish: SUBJ (PubAcks recorded) */
    SIM_SC_CLIENT_JS_READ,    /* js_read: STREAM (read back by sequence at start) */
};

/* expect { acked_loss }: what no_acked_loss lets pass (each level allows the ones
 * before it); lost acknowledged messages are counted and shown whatever the level. */
enum sim_sc_acked_loss {
    SIM_SC_ACKED_LOSS_NONE = 0, /* every acknowledged message must be read back */
    SIM_SC_ACKED_LOSS_BOUNDED,  /* interval sync: losses acked within sync_interval of a
                                   power loss of their server */
    SIM_SC_ACKED_LOSS_DETECTED, /* also losses the store reported (damage at recovery) */
};

struct sim_sc_client {
    char *name;
    enum sim_sc_client_kind kind;
    struct sim_sc_strings at; /* server names, in the order to try */
    char *subject;
    char *queue;       /* subscribe and reply only; NULL = none */
    uint32_t rate;     /* publish and request: messages per second */
    uint32_t size;     /* payload bytes */
    uint64_t start_ns; /* first action */
    uint64_t stop_ns;  /* last action (0 = the duration) */
    /* Credentials sent in CONNECT; NULL = none. token excludes user and password. */
    char *user;
    char *password;
    char *token;
    char *account_declared; /* account: as written; NULL = not declared */
    /* JetStream: js_publish's stream {} as the STREAM.CREATE request (JSON, NULL = no
     * stream created) and its name; js_read's stream name. */
    char *stream_json;
    char *stream;
    /* The account the client's servers bind it to (see sim_scenario_load_text), as the
     * account_scoping check names it: "LEAF", or "A@hub" when two unrelated accounts
     * share a name; NULL when every server it lists refuses its credentials. */
    char *account;
    char where[MR_CONF_WHERE_MAX];
};

/* expect { account_crossings: [ { from: A, to: B } ] }: messages from account A may
 * reach clients of account B, because a server's config imports between them (a stream
 * import of A's in B, or a service import of B's in A). */
struct sim_sc_crossing {
    char *from;
    char *to;
};

/* One timeline entry. Targets are server names, except for region_down/region_up
 * (regions) and heal/latency between regions (see docs/scenarios.md). */
struct sim_sc_event {
    uint64_t at_ns;
    enum sim_sc_action action;
    struct sim_sc_strings targets;
    /* partition with groups: targets holds every member, group[i] its group (0..);
     * NULL when the entry used targets (then the targets are cut from the rest). */
    uint32_t *groups;
    size_t groups_count;
    uint64_t for_ns;      /* 0 = permanent; else the inverse is scheduled at at + for */
    uint64_t latency_ns;  /* latency */
    uint64_t jitter_ns;   /* latency */
    int64_t skew_ns;      /* clock_skew */
    bool generated;       /* from random {} or for: (not written by the user) */
    uint64_t seq;         /* creation order; breaks ties of at_ns */
    char where[MR_CONF_WHERE_MAX];
};

struct sim_sc_random {
    bool present;
    uint64_t from_ns;
    uint64_t to_ns;
    uint64_t every_min_ns;
    uint64_t every_max_ns;
    enum sim_sc_action faults[SIM_ACT_COUNT];
    size_t faults_count;
    struct sim_sc_strings targets; /* servers; empty = all */
};

struct sim_scenario {
    char *path; /* as given to the load */
    uint64_t seed;
    bool seed_set;
    uint64_t duration_ns;
    enum sim_sc_mode mode;

    struct sim_sc_region *regions;
    size_t regions_count;
    struct sim_sc_link *links;
    size_t links_count;
    struct sim_sc_name *names;
    size_t names_count;
    struct sim_sc_server *servers;
    size_t servers_count;
    struct sim_sc_client *clients;
    size_t clients_count;

    /* The user's timeline (sorted); the for: inverses are added by materialise. */
    struct sim_sc_event *events;
    size_t events_count;
    struct sim_sc_random random;
    uint64_t quiesce_ns; /* 0 = none */
    uint64_t converge_ns;
    uint64_t settle_ns; /* expect { settle }: margin around faults; 0 = the checkers' */
    struct sim_sc_quiet_link *quiet_links;
    size_t quiet_links_count;
    struct sim_sc_crossing *crossings;
    size_t crossings_count;
    bool checks[SIM_CHECK_COUNT];
    enum sim_sc_acked_loss acked_loss; /* expect { acked_loss } */
    /* Server config warnings ("file:line:col: text"), e.g. blocks not active yet. */
    struct sim_sc_strings warnings;
};

/* A materialised schedule: every concrete timeline entry of one run, sorted by time
 * (ties in generation order). Owned by the caller; free with sim_sc_schedule_free. */
struct sim_sc_schedule {
    struct sim_sc_event *events;
    size_t count;
};

/*
 * Loads a scenario from text (the contents of path, used in messages and as the base
 * of includes). io reads included files (may be NULL when there are none). Returns 0
 * and *out, or MR_E_INVAL (or the io's error) with err holding "file:line:col: ...".
 *
 * Client accounts: each client's account is worked out from the configs, the way the
 * servers bind a CONNECT (users, token, no_auth_user; no auth: $G). Accounts joined by
 * a leaf remote (the leaf's local account and the account the hub binds the remote's
 * URL credentials to, through names {} for the URL's host) are one account, and so
 * are same-named accounts of servers in one cluster or joined by gateways. A declared
 * `account:` must agree with that; a client whose servers bind it to different
 * accounts is an error, and one whose credentials some server refuses gets a warning.
 */
int sim_scenario_load_text(const char *path, const char *text, size_t len,
                           const struct mr_conf_io *io, struct sim_scenario **out, char *err,
                           size_t err_len);
/* Reads path through io and loads it. */
int sim_scenario_load_file(const char *path, const struct mr_conf_io *io,
                           struct sim_scenario **out, char *err, size_t err_len);
void sim_scenario_destroy(struct sim_scenario *sc);

/* An io that reads files from the process's working directory and has no environment
 * variables (a scenario must not depend on the caller's environment). */
const struct mr_conf_io *sim_scenario_file_io(void);

/*
 * Builds the concrete schedule for seed: the user's entries, the inverse of every
 * entry with for:, the random {} faults drawn from the seed's fault stream (each with
 * its inverse), and the quiesce step. The same scenario and seed always give the same
 * schedule. Returns 0 (allocation failure aborts).
 */
int sim_scenario_materialise(const struct sim_scenario *sc, uint64_t seed,
                             struct sim_sc_schedule *out);
void sim_sc_schedule_free(struct sim_sc_schedule *s);

/*
 * The core of a liveness run (simulation.md section 7) for seed. Servers are grouped
 * by cluster name (cluster {} name; a server without a cluster {} block is a group of
 * its own; clusters without a name share one group); the core holds a majority,
 * n / 2 + 1, of every group, drawn uniformly from the seed's core stream (its own
 * stream, so the fault schedule and the run's other draws do not move). The same
 * scenario and seed always give the same core. Sets in_core[i] for server i (every
 * entry below servers_count is written) and returns the core's size.
 */
size_t sim_scenario_choose_core(const struct sim_scenario *sc, uint64_t seed,
                                bool in_core[SIM_SC_SERVERS_MAX]);

/* Writes one entry as a line of scenario syntax without the newline, e.g.
 * `{ at: "10500ms", do: crash, targets: [s1] }` (groups only for partition; other
 * actions list the members as targets). Returns the length snprintf would. */
int sim_sc_event_format(const struct sim_sc_event *e, char *buf, size_t len);
/* Writes a time in ns as an exact duration string ("3s", "1500ms", "0s"). */
void sim_sc_duration_format(uint64_t ns, char *buf, size_t len);

/* Index of a server, region or client by name, or -1. */
int sim_scenario_server_index(const struct sim_scenario *sc, const char *name);
int sim_scenario_region_index(const struct sim_scenario *sc, const char *name);

#endif
