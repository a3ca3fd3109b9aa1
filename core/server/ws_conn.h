/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A client connection over WebSocket (ws_conn.c). Internal to core/server/.
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
void mr_ws_conn_free(struct mr_conn *c);
/* Whether output must be framed (the upgrade is done). */
bool mr_ws_conn_framing(const struct mr_conn *c);
/* Queues n bytes as one binary frame. */
bool mr_ws_conn_queue(struct mr_conn *c, const void *p, size_t n);
/* Input: the upgrade, then frames whose payloads feed the NATS parser. *opened says
 * the upgrade completed in this call (the caller's INFO has been sent). */
bool mr_ws_conn_on_bytes(struct mr_server *s, struct mr_conn *c, const uint8_t *buf, size_t len,
                         bool *opened);
/* The connection is about to close for reason: send the matching close frame. */
void mr_ws_conn_closing(struct mr_conn *c, const char *reason);

#endif
