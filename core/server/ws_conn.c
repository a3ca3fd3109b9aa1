/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Client connections over WebSocket (websocket {} listener): the HTTP upgrade, then
 * the NATS client protocol carried in binary frames (core/proto/websocket.h does the
 * protocol; this file drives it for one connection).
 *
 * Input: bytes accumulate in ws->buf until the upgrade request is complete; after the
 * 101 answer every decoded data payload is fed to the connection's NATS parser as if
 * it had arrived on a plain socket; pings are answered, a close is echoed. Output:
 * every piece the server queues goes out as one unmasked binary frame.
 */
#include "core/server/ws_conn.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "core/assert.h"
#include "core/conf/conf_server.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/proto/http.h"
#include "core/proto/websocket.h"
#include "core/server/server_int.h"

struct mr_ws_conn {
    bool open; /* the 101 went out: frames from now on */
    struct mr_http_parser http;
    struct mr_ws_decoder dec;
    uint8_t *buf; /* bytes not decoded yet */
    size_t len;
    size_t cap;
    bool close_sent;
};

void mr_ws_conn_attach(struct mr_server *s, struct mr_conn *c)
{
    struct mr_ws_conn *w = g_new0(struct mr_ws_conn, 1);
    mr_http_parser_init(&w->http, MR_HTTP_HEAD_MAX, MR_HTTP_HEADERS_MAX, 0);
    uint64_t max = (uint64_t)s->opts.max_payload * 8;
    mr_ws_decoder_init(&w->dec, MR_WS_ROLE_SERVER, true, false,
                       max < MR_WS_MESSAGE_MAX ? max : MR_WS_MESSAGE_MAX);
    c->ws = w;
}

void mr_ws_conn_free(struct mr_conn *c)
{
    if (c->ws != NULL) {
        g_free(c->ws->buf);
        g_free(c->ws);
        c->ws = NULL;
    }
}

bool mr_ws_conn_framing(const struct mr_conn *c)
{
    return c->ws != NULL && c->ws->open;
}

bool mr_ws_conn_queue(struct mr_conn *c, const void *p, size_t n)
{
    uint8_t hdr[MR_WS_HEADER_MAX];
    size_t h = mr_ws_header_encode(hdr, MR_WS_OP_BINARY, true, false, n, NULL);
    return mr_conn_queue_raw(c, hdr, h) && mr_conn_queue_raw(c, p, n);
}

/* A close frame, once, then the connection closes after flushing. */
static void send_close(struct mr_conn *c, uint16_t code, const char *reason)
{
    struct mr_ws_conn *w = c->ws;
    if (!w->close_sent) {
        w->close_sent = true;
        uint8_t frame[MR_WS_HEADER_MAX + MR_WS_CONTROL_MAX];
        int n = mr_ws_close_encode(frame, sizeof(frame), code, reason, strlen(reason), NULL);
        if (n > 0) {
            (void)mr_conn_queue_raw(c, frame, (size_t)n);
        }
    }
}

static bool buf_append(struct mr_ws_conn *w, const uint8_t *p, size_t n)
{
    if (w->len + n > MR_HTTP_HEAD_MAX + 2 * (size_t)MR_PAYLOAD_MAX) {
        return false; /* far beyond any frame a client may send */
    }
    if (w->len + n > w->cap) {
        size_t cap = w->cap == 0 ? 4096 : w->cap;
        while (cap < w->len + n) {
            cap *= 2;
        }
        w->buf = g_realloc(w->buf, cap);
        w->cap = cap;
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
    return true;
}

/* The host:port of an origin "scheme://host[:port]" (the default port by scheme). */
static void origin_hostport(struct mr_view origin, char *out, size_t cap)
{
    const char *p = origin.ptr;
    size_t n = origin.len;
    const char *sep = memchr(p, ':', n);
    bool https = n >= 5 && g_ascii_strncasecmp(p, "https", 5) == 0;
    if (sep != NULL && (size_t)(sep - p) + 3 <= n && sep[1] == '/' && sep[2] == '/') {
        n -= (size_t)(sep + 3 - p);
        p = sep + 3;
    }
    const char *slash = memchr(p, '/', n);
    if (slash != NULL) {
        n = (size_t)(slash - p);
    }
    bool has_port = memchr(p, ':', n) != NULL;
    snprintf(out, cap, "%.*s%s", (int)n, p, has_port ? "" : https ? ":443" : ":80");
}

/* same_origin and allowed_origins, as nats-server checks them: a request without an
 * Origin (not a browser) passes; else the origin's host must be the request's Host
 * (same_origin) and/or be listed (allowed_origins, compared as host:port). */
static bool origin_allowed(const struct mr_websocket_opts *o, const struct mr_ws_upgrade *up)
{
    if (up->origin.len == 0 || (!o->same_origin && o->allowed_origins.count == 0)) {
        return true;
    }
    char origin[300];
    origin_hostport(up->origin, origin, sizeof(origin));
    if (o->same_origin) {
        char host[300];
        bool has_port = memchr(up->host.ptr, ':', up->host.len) != NULL;
        snprintf(host, sizeof(host), "%.*s%s", (int)up->host.len, up->host.ptr,
                 has_port ? "" : ":80");
        if (g_ascii_strcasecmp(origin, host) != 0) {
            return false;
        }
    }
    if (o->allowed_origins.count > 0) {
        for (size_t i = 0; i < o->allowed_origins.count; i++) {
            char allowed[300];
            const char *a = o->allowed_origins.items[i];
            origin_hostport((struct mr_view){a, (uint32_t)strlen(a)}, allowed, sizeof(allowed));
            if (g_ascii_strcasecmp(origin, allowed) == 0) {
                return true;
            }
        }
        return false;
    }
    return true;
}

/* The upgrade request: answer 101 (or the error) and report whether frames follow. */
static bool handshake(struct mr_server *s, struct mr_conn *c, size_t *used)
{
    struct mr_ws_conn *w = c->ws;
    struct mr_ws_upgrade up;
    int rc = mr_ws_upgrade_parse(&w->http, w->buf, w->len, &up);
    if (rc == MR_AGAIN) {
        *used = 0;
        return false;
    }
    char answer[1024];
    if (rc < 0 || up.kind != MR_WS_KIND_CLIENT) {
        uint16_t status = rc < 0 ? up.status : 400;
        mr_server_log(s, MR_LOG_DEBUG, "%s:%u - websocket upgrade refused: %s", c->host,
                      (unsigned)c->port,
                      rc < 0 ? up.reason : "leaf nodes over WebSocket are not supported yet");
        int n = mr_ws_upgrade_reject_encode(status != 0 ? status : 400, answer, sizeof(answer));
        if (n > 0) {
            (void)mr_conn_queue_raw(c, answer, (size_t)n);
        }
        mr_conn_close(c, "WebSocket Handshake Error");
        *used = w->len;
        return false;
    }
    if (s->opts.websocket != NULL && !origin_allowed(s->opts.websocket, &up)) {
        mr_server_log(s, MR_LOG_DEBUG, "%s:%u - websocket upgrade refused: origin not allowed: "
                      "%.*s", c->host, (unsigned)c->port, (int)up.origin.len, up.origin.ptr);
        int r = mr_ws_upgrade_reject_encode(403, answer, sizeof(answer));
        if (r > 0) {
            (void)mr_conn_queue_raw(c, answer, (size_t)r);
        }
        mr_conn_close(c, "WebSocket Handshake Error");
        *used = w->len;
        return false;
    }
    int n = mr_ws_upgrade_accept_encode(&up, false, answer, sizeof(answer));
    mr_assert(n > 0);
    (void)mr_conn_queue_raw(c, answer, (size_t)n);
    /* nats-server: a client that negotiated no masking may send unmasked frames. */
    w->dec.mask_required = !up.no_masking;
    w->open = true;
    *used = (size_t)rc;
    return true;
}

bool mr_ws_conn_on_bytes(struct mr_server *s, struct mr_conn *c, const uint8_t *buf, size_t len,
                         bool *opened)
{
    struct mr_ws_conn *w = c->ws;
    *opened = false;
    if (!buf_append(w, buf, len)) {
        send_close(c, MR_WS_CLOSE_TOO_BIG, "too much data");
        mr_conn_close(c, "WebSocket Buffer Exceeded");
        return false;
    }
    size_t off = 0;
    if (!w->open) {
        size_t used = 0;
        if (!handshake(s, c, &used)) {
            if (used > 0) {
                w->len = 0;
            }
            return false;
        }
        off = used;
        *opened = true;
        mr_conn_greet(c); /* INFO, framed */
    }
    while (off < w->len && c->state == CONN_OPEN) {
        struct mr_ws_event ev;
        int rc = mr_ws_decode(&w->dec, w->buf + off, w->len - off, &ev);
        if (rc == MR_AGAIN) {
            break;
        }
        if (rc < 0) {
            if (rc != MR_E_CLOSED) {
                mr_server_log(s, MR_LOG_DEBUG, "%s:%u - websocket: %s", c->host,
                              (unsigned)c->port, w->dec.reason);
                send_close(c, w->dec.close_code, w->dec.reason);
            }
            mr_conn_close(c, "WebSocket Protocol Error");
            break;
        }
        off += (size_t)rc;
        switch (ev.type) {
        case MR_WS_EV_DATA:
            if (ev.len > 0) {
                mr_conn_feed(c, ev.payload, ev.len);
            }
            break;
        case MR_WS_EV_PING: {
            uint8_t frame[MR_WS_HEADER_MAX + MR_WS_CONTROL_MAX];
            int n = mr_ws_frame_encode(frame, sizeof(frame), MR_WS_OP_PONG, ev.payload, ev.len,
                                       NULL);
            if (n > 0) {
                (void)mr_conn_queue_raw(c, frame, (size_t)n);
            }
            break;
        }
        case MR_WS_EV_CLOSE:
            send_close(c, ev.close_code == MR_WS_CLOSE_NO_STATUS ? MR_WS_CLOSE_NORMAL
                                                                  : ev.close_code,
                       "");
            mr_conn_close(c, "Client Closed");
            break;
        default:
            break;
        }
    }
    /* Keep what is left of a frame for the next read. */
    if (off >= w->len) {
        w->len = 0;
    } else if (off > 0) {
        memmove(w->buf, w->buf + off, w->len - off);
        w->len -= off;
    }
    return *opened;
}

void mr_ws_conn_closing(struct mr_conn *c, const char *reason)
{
    if (c->ws == NULL || !c->ws->open) {
        return;
    }
    /* nats-server's mapping of close reasons to WebSocket close codes. */
    uint16_t code = MR_WS_CLOSE_INTERNAL;
    if (strstr(reason, "Client Closed") != NULL) {
        code = MR_WS_CLOSE_NORMAL;
    } else if (strstr(reason, "Shutdown") != NULL) {
        code = MR_WS_CLOSE_GOING_AWAY;
    } else if (strstr(reason, "Authori") != NULL || strstr(reason, "Authenti") != NULL ||
               strstr(reason, "Slow Consumer") != NULL || strstr(reason, "Maximum") != NULL) {
        code = MR_WS_CLOSE_POLICY;
    } else if (strstr(reason, "Protocol") != NULL || strstr(reason, "Parse") != NULL) {
        code = MR_WS_CLOSE_PROTOCOL;
    }
    send_close(c, code, reason);
}
