/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A connection over WebSocket (ws_conn.c), either side. Internal to core/server/.
 *
 *  - Accepted on the websocket {} listener (server role): waits for the upgrade request;
 *    its path makes it a client (server.c takes over) or, for "/leafnode...", a leaf
 *    (leaf.c takes over), as nats-server 2.9 decides.
 *  - Dialed by a leaf remote with a ws:// or wss:// URL (client role): sends the upgrade
 *    request, checks the 101, then masks every frame it writes (RFC 6455 5.3) unless the
 *    hub granted Nats-No-Masking.
 *
 * Compression: permessage-deflate (RFC 7692) without context takeover, as nats-server
 * negotiates it (websocket { compression: true } on the listener, ws_compression on a
 * remote); see ws_conn.c.
 */
#ifndef MR_WS_CONN_H
#define MR_WS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mr_server;
struct mr_conn;
struct mr_ws_conn;

/* A connection accepted on the websocket listener: waits for the upgrade request. */
void mr_ws_conn_attach(struct mr_server *s, struct mr_conn *c);
/* An outbound leaf connection to a ws:// or wss:// URL: state only; the request goes
 * out with mr_ws_conn_start_client (after TLS for wss://). */
void mr_ws_conn_attach_client(struct mr_server *s, struct mr_conn *c);
/* Sends the upgrade request for host ("host:port", the Host header) and the URL's path
 * (NULL or "" for none; the request path is "/leafnode" followed by it). compress offers
 * permessage-deflate without context takeover; no_masking asks the hub to accept
 * unmasked frames. */
void mr_ws_conn_start_client(struct mr_server *s, struct mr_conn *c, const char *host,
                             const char *url_path, bool compress, bool no_masking);
void mr_ws_conn_free(struct mr_conn *c);
/* Whether output must be framed (the upgrade is done). */
bool mr_ws_conn_framing(const struct mr_conn *c);
/* Queues n bytes as one binary frame (masked on the client side). */
bool mr_ws_conn_queue(struct mr_conn *c, const void *p, size_t n);
/* Input: the upgrade, then frames whose payloads feed the NATS parser. *opened says
 * the upgrade completed in this call (the new owner has greeted the peer). */
bool mr_ws_conn_on_bytes(struct mr_server *s, struct mr_conn *c, const uint8_t *buf, size_t len,
                         bool *opened);
/* The connection is about to close for reason: send the matching close frame. */
void mr_ws_conn_closing(struct mr_conn *c, const char *reason);

/* websocket {} authorization, no_auth_user, username/password or token: whether they
 * replace the server's for WebSocket clients (nats-server's "auth override"). */
bool mr_ws_conn_auth_override(const struct mr_server *s);
/* Checks the CONNECT credentials of a client or leaf that came over WebSocket as
 * nats-server 2.9 does. A client with an override: the websocket {} token or
 * user/password (binding $G), or its no_auth_user when none are given, else the
 * server's users. A leaf (no leafnodes authorization): websocket no_auth_user when it
 * gives none, else the server's users. Anything else as mr_auth_connect, which this
 * binds like; returns whether the peer is authenticated. */
bool mr_ws_conn_authenticate(struct mr_server *s, struct mr_conn *c, const char *user,
                             const char *pass, const char *token);

#endif
