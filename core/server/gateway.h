/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Gateways (shared reference protocol.md section 6): the links between the clusters of
 * a supercluster. Internal to core/server/.
 *
 * Model, as nats-server 2.9: every server opens one outbound connection to one server
 * of each remote cluster and accepts any number of inbound ones. Messages travel on
 * outbound connections; interest travels back on inbound ones. The inbound side runs
 * every account in interest-only mode from the start (it tells the outbound side with
 * "gateway_iom" and, per account, the INFO commands 2 and 3 around a full RS+ resend),
 * and then sends RS+/RS- as its cluster's interest (local clients and routes) comes and
 * goes, queue groups with weight 1. An outbound side keeps, per account, the remote's
 * interest in a sublist; towards an older optimistic peer it sends everything that was
 * not refused by RS- or A-.
 *
 * A client's message (or an import's) goes, after the local cluster, to each outbound
 * gateway whose cluster has interest; a queue group already served in this cluster
 * does not cross, and each remaining group goes to the first cluster in RTT order that
 * has members. A message from a gateway goes to local clients and routes, never to
 * another gateway. Replies to requests from recently made subscriptions are prefixed
 * "_GR_.<cluster hash>.<server hash>." so the answer goes straight back to the origin
 * server, whatever the interest propagation race.
 *
 * Determinism: remotes and connections are kept in creation (or RTT) order; hash tables
 * are for lookup only.
 */
#ifndef MR_GATEWAY_H
#define MR_GATEWAY_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/proto/parser.h"

struct mr_server;
struct mr_conn;
struct mr_account;
struct mr_sub;
struct mr_msg;
struct mr_gateway_opts;
struct mr_tls_opts;

#define MR_GW_HASH_LEN 6
/* "_GR_." + cluster hash + "." + server hash + "." */
#define MR_GW_REPLY_PREFIX_LEN (5 + MR_GW_HASH_LEN + 1 + MR_GW_HASH_LEN + 1)

/* A remote cluster this server keeps an outbound connection to. */
struct mr_gw_remote {
    uint32_t index; /* creation order; names the retry timer */
    char name[256];
    GPtrArray *urls; /* "host:port" strings (char *), configured then learned */
    bool implicit;   /* learned by gossip, not configured */
    const struct mr_tls_opts *tls; /* NULL: plain */
    char user[128];
    char pass[128];
    char hash[MR_GW_HASH_LEN + 1];
    char dial_url[300];    /* the URL of the latest connect */
    uint64_t pending_conn; /* env id of a connect in flight */
    struct mr_conn *out;   /* its outbound connection, while open */
    uint32_t attempts;
    uint32_t next_url; /* index of the URL the next connect uses */
    bool retry_armed;
};

/* Per account, what an outbound connection knows of the remote's interest. */
struct mr_gw_outacc;

/* The gateway state of a MR_CONN_GATEWAY connection (mr_conn.gw). */
struct mr_gw_conn {
    struct mr_conn *conn;
    uint64_t gid;          /* id shown in /gatewayz */
    bool outbound;
    bool info_received;
    bool connect_received; /* inbound: the peer's CONNECT was accepted */
    bool registered;
    bool headers;
    bool iom;        /* outbound: the peer runs every account interest-only */
    bool old_prefix; /* outbound: the peer only knows the "$GR." reply prefix */
    struct mr_gw_remote *remote; /* outbound */
    char name[256];  /* the remote gateway (cluster) name */
    char remote_id[64];
    char remote_name[256];
    char connect_url[300]; /* outbound: host:port it dialled */
    GHashTable *accounts;  /* outbound: account name -> struct mr_gw_outacc */
    uint32_t rsubs;        /* outbound: interest entries held */
    struct mr_gw_conn *prev; /* outbound: RTT order; inbound: arrival order */
    struct mr_gw_conn *next;
};

/* Server-wide gateway state (struct mr_server.gw). */
struct mr_gateways {
    const struct mr_gateway_opts *opts; /* NULL: no gateway */
    bool active;
    char name[256];
    uint16_t port;
    char url[300];        /* this server's gateway URL, "" when it listens on a wildcard */
    char cluster_hash[MR_GW_HASH_LEN + 1];
    char server_hash[MR_GW_HASH_LEN + 1];
    GPtrArray *urls;      /* gateway URLs of this cluster (char *): ours, then routes' */
    GPtrArray *remotes;   /* struct mr_gw_remote *, creation order */
    struct mr_gw_conn *out_head; /* registered outbound connections, RTT order */
    struct mr_gw_conn *out_tail;
    uint32_t out_count;
    struct mr_gw_conn *in_head; /* registered inbound connections */
    struct mr_gw_conn *in_tail;
    uint32_t in_count;
    uint64_t next_gid;
    uint64_t changes;    /* list changes, for the check's memo */
    uint64_t checked_at;
    /* Recent client subscriptions per account name, for reply mapping: a FIFO of
     * struct mr_gw_recent. */
    GQueue recent;
};

void mr_gateway_init(struct mr_server *s);
int mr_gateway_start(struct mr_server *s);
void mr_gateway_shutdown(struct mr_server *s);
void mr_gateway_deinit(struct mr_server *s);

void mr_gateway_accept(struct mr_server *s, struct mr_conn *c);
bool mr_gateway_on_connected(struct mr_server *s, uint64_t conn_id, int status);
/* A gateway connect in flight timed out: counted as a failure. False if not one. */
bool mr_gateway_dial_timeout(struct mr_server *s, uint64_t conn_id);
void mr_gateway_on_tls(struct mr_server *s, struct mr_conn *c);
void mr_gateway_process_op(struct mr_server *s, struct mr_conn *c, const struct mr_proto_op *op);
void mr_gateway_reap(struct mr_server *s, struct mr_conn *c);
void mr_gateway_conn_free(struct mr_server *s, struct mr_conn *c);
void mr_gateway_on_timer(struct mr_server *s, uint64_t remote_id);
/* Keepalive interval of gateway connections: the server's, at most 15 s. */
uint64_t mr_gateway_ping_interval(const struct mr_server *s);
/* A PONG measured a gateway connection's RTT: keep outbound ones sorted by it. */
void mr_gateway_rtt_updated(struct mr_server *s, struct mr_conn *c);

/* The cluster's interest changed by delta for a local or routed subscription. */
void mr_gateway_interest(struct mr_server *s, struct mr_account *acc, const struct mr_sub *sub,
                         int delta);
/* A local client subscription was made: remembered for reply mapping. */
void mr_gateway_note_sub(struct mr_server *s, const struct mr_account *acc,
                         const struct mr_sub *sub);

/* Sends a message that entered this cluster here (from a client or an import) to the
 * outbound gateways with interest. served lists the queue groups already served in this
 * cluster. Returns the number of gateways it went to. */
uint32_t mr_gateway_send(struct mr_server *s, struct mr_account *acc, const struct mr_msg *m,
                         const struct mr_view *served, uint32_t served_count);
/* Whether subject is a routed reply ("_GR_.") and, if so, handles it: sent to the origin
 * cluster's gateway, to the origin server's route, or delivered here. from_gateway says
 * it arrived on a gateway connection. Returns false for other subjects. */
bool mr_gateway_routed_reply(struct mr_server *s, struct mr_account *acc, const struct mr_msg *m);
/* Whether subject has the routed-reply form "_GR_.<6>.<6>.<rest>". */
bool mr_gateway_is_routed(struct mr_view subject);
/* A client is handed a request whose reply was routed: it sees the reply without the
 * prefix, and this remembers the full one (bounded, oldest first out) so that its
 * answer goes straight back. */
void mr_gateway_note_reply(struct mr_conn *c, struct mr_view routed);
/* If the client publishes to a reply it was handed that way, *routed is the full
 * routed subject (valid until the next note or the connection's end). */
bool mr_gateway_map_reply(const struct mr_conn *c, struct mr_view subject,
                          struct mr_view *routed);
/* Frees a client connection's remembered replies. */
void mr_gateway_client_free(struct mr_conn *c);
/* A route registered or went: its gateway URL joins or leaves this cluster's list. */
void mr_gateway_route_url(struct mr_server *s, const char *url, bool add);
/* Tells a newly registered route about every cluster this server has an outbound
 * gateway to, so its server connects to them too. */
void mr_gateway_gossip_to_route(struct mr_server *s, struct mr_conn *route);
/* A route relayed INFO about a gateway (gateway_cmd 1). */
void mr_gateway_info_from_route(struct mr_server *s, const char *json, size_t len);
/* The 6-character hash of a name (sha256, each byte mod 62 into [0-9A-Za-z]). */
void mr_gateway_hash(const char *name, char out[MR_GW_HASH_LEN + 1]);

/* For /gatewayz?accs=1: the accounts an outbound connection knows the remote's mode of,
 * sorted (free the array), and one account's mode name and interest counts. */
GPtrArray *mr_gateway_out_accounts(const struct mr_gw_conn *g);
void mr_gateway_out_account_info(const struct mr_gw_conn *g, const char *account,
                                 const char **mode, uint32_t *subs, uint32_t *qsubs);

void mr_gateway_check(const struct mr_server *s);

#endif
