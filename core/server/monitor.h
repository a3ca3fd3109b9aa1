/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The monitoring endpoint (nats-server's HTTP port): /varz, /connz, /subsz, /accountz,
 * /healthz (and / listing them), with nats-server's field names and JSON shapes. The
 * core serves it over an ordinary env stream (listener MR_LISTENER_HTTP), so the
 * simulator can query the same data the real server shows.
 *
 * Ownership: monitor state (request counts, the ring of recently closed connections)
 * lives in struct mr_server as struct mr_monitor, allocated through the server's mr_mem
 * and freed by mr_monitor_deinit; an HTTP connection's partial request lives in its
 * in_buf. Nothing here allocates outside the server's lifetime except the response
 * bodies mr_monitor_render hands to its caller.
 */
#ifndef MR_MONITOR_H
#define MR_MONITOR_H

#include <stddef.h>
#include <stdint.h>

struct mr_server;
struct mr_conn;

/* The endpoints, in the order their http_req_stats keys sort. */
enum mr_monitor_endpoint {
    MR_MON_ROOT = 0, /* "/" */
    MR_MON_ACCOUNTZ,
    MR_MON_CONNZ,
    MR_MON_GATEWAYZ,
    MR_MON_HEALTHZ,
    MR_MON_JSZ,
    MR_MON_LEAFZ,
    MR_MON_ROUTEZ,
    MR_MON_SUBSZ,
    MR_MON_VARZ,
    MR_MON_ENDPOINT_COUNT,
};

struct mr_monitor_closed;

/* Monitoring state, a field of struct mr_server: zeroed at create, freed by
 * mr_monitor_deinit. */
struct mr_monitor {
    uint64_t requests[MR_MON_ENDPOINT_COUNT]; /* HTTP requests per endpoint (/varz) */
    /* Recently closed client connections: a ring of MR_MONITOR_CLOSED_MAX slots
     * (mr_mem), NULL until the first close; closed_next is the slot the next one takes,
     * the oldest when the ring is full. */
    struct mr_monitor_closed **closed;
    uint32_t closed_next;
    uint32_t closed_count;
};

/* Bytes arrived on an HTTP connection (kind MR_CONN_HTTP): buffers until a request is
 * complete, answers it (keep-alive as the request asks), closes on a malformed request
 * with a 400. Called by the server's on_bytes. */
void mr_monitor_on_bytes(struct mr_server *s, struct mr_conn *c, const uint8_t *buf, size_t len);

/* A connection is being marked closing for reason (nats-server's wording: "Client
 * Closed", "Slow Consumer (Pending Bytes)", ...). For a client connection it keeps a
 * snapshot, subscriptions included, for /connz?state=closed; HTTP connections are
 * ignored. Call once per connection, while its subscriptions are still attached.
 * Borrows c and reason. */
void mr_monitor_conn_closed(struct mr_server *s, const struct mr_conn *c, const char *reason);

/* Frees what the monitor holds (the closed-connection ring). Call from
 * mr_server_destroy before the server's memory is checked. */
void mr_monitor_deinit(struct mr_server *s);

/* Builds the JSON for an endpoint (the HTML index for "/"). path is e.g. "/connz", query
 * the part after '?' (may be empty or NULL). Returns the HTTP status: 200; 400 for a bad
 * query value, with nats-server's message as a text body; 404 for an unknown path; 503
 * when the memory budget is exhausted, or from /healthz while shutting down. Sets *body
 * (malloc'ed, NUL-terminated, the caller frees with free()) and *content_type (static).
 * Reads the server without changing it (requests are counted by mr_monitor_on_bytes). */
int mr_monitor_render(struct mr_server *s, const char *path, const char *query, char **body,
                      const char **content_type);

#endif
