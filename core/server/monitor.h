/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The monitoring endpoint (nats-server's HTTP port): /varz, /connz, /subsz, /accountz,
 * /healthz (and / listing them), with nats-server's field names and JSON shapes. The
 * core serves it over an ordinary env stream (listener MR_LISTENER_HTTP), so the
 * simulator can query the same data the real server shows.
 *
 * Ownership: monitor state lives in the server and its connections; nothing here
 * allocates outside the server's lifetime.
 */
#ifndef MR_MONITOR_H
#define MR_MONITOR_H

#include <stddef.h>
#include <stdint.h>

struct mr_server;
struct mr_conn;

/* Bytes arrived on an HTTP connection (kind MR_CONN_HTTP): buffers until a request is
 * complete, answers it (keep-alive as the request asks), closes on a malformed request
 * with a 400. Called by the server's on_bytes. */
void mr_monitor_on_bytes(struct mr_server *s, struct mr_conn *c, const uint8_t *buf, size_t len);

/* Builds the JSON for an endpoint. path is e.g. "/connz", query the part after '?'
 * (may be empty). Returns the HTTP status (200, 400 for bad query values, 404 for an
 * unknown path) and sets *body (malloc'ed, NUL-terminated, the caller frees with free())
 * and *content_type (static). */
int mr_monitor_render(struct mr_server *s, const char *path, const char *query, char **body,
                      const char **content_type);

#endif
