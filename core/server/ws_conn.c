/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Connections over WebSocket: clients and leafs accepted on the websocket {} listener,
 * and leaf remotes dialed to ws:// or wss:// URLs (core/proto/websocket.h does the
 * protocol; this file drives it for one connection).
 *
 * Input: bytes accumulate in ws->buf until the upgrade request (server role) or the
 * 101 answer (client role) is complete; after it every decoded data payload is fed to
 * the connection's NATS parser as if it had arrived on a plain socket; pings are
 * answered, a close is echoed. Output: every piece the server queues goes out as one
 * binary frame, masked with a fresh key on the client side (RFC 6455 5.3).
 *
 * permessage-deflate (RFC 7692), as nats-server negotiates it: when both sides want it
 * (websocket { compression: true } and an offer; a remote's ws_compression and the
 * hub's answer), always without context takeover, so every message is deflated and
 * inflated on its own (zlib raw streams, reset per message). Output of more than
 * WS_COMPRESS_MIN bytes is compressed; compressed input is gathered until its message
 * ends, then inflated (at most the decoder's message_max bytes) into the NATS parser.
 *
 * Invariant: client is fixed at attach; open only goes from false to true; once open,
 * dec decodes in the role of client.
 */
#include "core/server/ws_conn.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "core/assert.h"
#include "core/conf/conf_server.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/proto/http.h"
#include "core/proto/websocket.h"
#include "core/server/auth.h"
#include "core/server/server_int.h"

/* Masked output is written through a stack buffer of this many bytes at a time. */
#define WS_MASK_CHUNK 4096
/* nats-server does not compress buffers this small: the frame would not shrink. */
#define WS_COMPRESS_MIN 64
/* The end of a deflate block flushed with Z_SYNC_FLUSH, which RFC 7692 7.2.1 has the
 * sender drop from every message and the receiver append again. */
static const uint8_t deflate_tail[4] = {0x00, 0x00, 0xff, 0xff};

struct mr_ws_conn {
    bool open;        /* the 101 went out (server) or came in (client): frames from now on */
    bool client;      /* we dialed: a leaf remote */
    bool mask_writes; /* client role, unless the hub granted no-masking */
    struct mr_http_parser http;
    struct mr_ws_client_handshake hs; /* client role: what the 101 must carry */
    struct mr_ws_decoder dec;
    uint8_t *buf; /* bytes not decoded yet */
    size_t len;
    size_t cap;
    bool close_sent;
    bool compress;         /* permessage-deflate negotiated */
    z_stream *deflater;    /* made on first use; reset per message */
    z_stream *inflater;    /* made on first use; reset per message */
    GByteArray *zmsg;      /* the compressed message being gathered */
    GByteArray *zout;      /* scratch for a compressed frame */
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

void mr_ws_conn_attach_client(struct mr_server *s, struct mr_conn *c)
{
    (void)s;
    mr_assert(c->ws == NULL);
    struct mr_ws_conn *w = g_new0(struct mr_ws_conn, 1);
    w->client = true;
    w->mask_writes = true;
    c->ws = w;
}

void mr_ws_conn_start_client(struct mr_server *s, struct mr_conn *c, const char *host,
                             const char *url_path, bool compress, bool no_masking)
{
    struct mr_ws_conn *w = c->ws;
    mr_assert(w != NULL && w->client && !w->open);
    uint8_t nonce[MR_WS_NONCE_BYTES];
    for (size_t i = 0; i < sizeof(nonce); i += 8) {
        uint64_t r = mr_server_rand(s);
        memcpy(nonce + i, &r, 8);
    }
    char request[1024];
    int n = mr_ws_client_request_encode(&w->hs, host, url_path, nonce, compress, no_masking,
                                        request, sizeof(request));
    if (n < 0) {
        mr_server_log(s, MR_LOG_ERROR, "websocket upgrade request to %s%s does not fit %zu bytes",
                      host, url_path != NULL ? url_path : "", sizeof(request));
        mr_conn_close(c, "WebSocket Handshake Error");
        return;
    }
    (void)mr_conn_queue_raw(c, request, (size_t)n);
}

void mr_ws_conn_free(struct mr_conn *c)
{
    struct mr_ws_conn *w = c->ws;
    if (w == NULL) {
        return;
    }
    if (w->deflater != NULL) {
        (void)deflateEnd(w->deflater); /* Z_DATA_ERROR only says a message was cut short */
        g_free(w->deflater);
    }
    if (w->inflater != NULL) {
        (void)inflateEnd(w->inflater);
        g_free(w->inflater);
    }
    if (w->zmsg != NULL) {
        g_byte_array_free(w->zmsg, TRUE);
    }
    if (w->zout != NULL) {
        g_byte_array_free(w->zout, TRUE);
    }
    g_free(w->buf);
    g_free(w);
    c->ws = NULL;
}

bool mr_ws_conn_framing(const struct mr_conn *c)
{
    return c->ws != NULL && c->ws->open;
}

/* A fresh masking key for a frame we send as the client, else NULL (RFC 6455 5.3 wants
 * it unpredictable; it comes from the server's PRNG, seeded from env->random). */
static const uint8_t *frame_key(struct mr_conn *c, uint8_t key[4])
{
    if (!c->ws->mask_writes) {
        return NULL;
    }
    uint64_t r = mr_server_rand(c->srv);
    memcpy(key, &r, 4);
    return key;
}

/* Deflates n bytes as one message into w->zout, without the 4-byte tail. False when
 * zlib fails (out of memory): the caller sends the bytes uncompressed. */
static bool deflate_message(struct mr_ws_conn *w, const void *p, size_t n)
{
    if (w->deflater == NULL) {
        w->deflater = g_new0(z_stream, 1);
        /* Raw deflate (no zlib header), level 1 as nats-server's flate.BestSpeed. */
        if (deflateInit2(w->deflater, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
            g_free(w->deflater);
            w->deflater = NULL;
            return false;
        }
        w->zout = g_byte_array_new();
    } else if (deflateReset(w->deflater) != Z_OK) {
        return false;
    }
    z_stream *z = w->deflater;
    g_byte_array_set_size(w->zout, (guint)deflateBound(z, (uLong)n) + 16);
    z->next_in = (Bytef *)(uintptr_t)p;
    z->avail_in = (uInt)n;
    z->next_out = w->zout->data;
    z->avail_out = w->zout->len;
    /* deflateBound plus room for the sync flush: one call consumes everything. */
    if (deflate(z, Z_SYNC_FLUSH) != Z_OK || z->avail_in != 0 || z->avail_out == 0) {
        return false;
    }
    size_t out = w->zout->len - z->avail_out;
    if (out >= 4 && memcmp(w->zout->data + out - 4, deflate_tail, 4) == 0) {
        out -= 4;
    }
    g_byte_array_set_size(w->zout, (guint)out);
    return true;
}

/* One binary frame with payload p (masked on the client side), compressed or not. */
static bool queue_frame(struct mr_conn *c, const void *p, size_t n, bool compressed)
{
    uint8_t hdr[MR_WS_HEADER_MAX];
    uint8_t keybuf[4];
    const uint8_t *key = frame_key(c, keybuf);
    size_t h = mr_ws_header_encode(hdr, MR_WS_OP_BINARY, true, compressed, n, key);
    if (!mr_conn_queue_raw(c, hdr, h)) {
        return false;
    }
    if (key == NULL) {
        return mr_conn_queue_raw(c, p, n);
    }
    /* The caller's bytes are not ours to mask in place. */
    uint8_t chunk[WS_MASK_CHUNK];
    for (size_t off = 0; off < n; off += sizeof(chunk)) {
        size_t k = n - off < sizeof(chunk) ? n - off : sizeof(chunk);
        mr_ws_mask(chunk, (const uint8_t *)p + off, k, key, off);
        if (!mr_conn_queue_raw(c, chunk, k)) {
            return false;
        }
    }
    return true;
}

bool mr_ws_conn_queue(struct mr_conn *c, const void *p, size_t n)
{
    struct mr_ws_conn *w = c->ws;
    /* The frame is queued from zout before anything else may deflate into it. */
    if (w->compress && n > WS_COMPRESS_MIN && n <= UINT32_MAX && deflate_message(w, p, n)) {
        return queue_frame(c, w->zout->data, w->zout->len, true);
    }
    return queue_frame(c, p, n, false);
}

/* A whole control frame (ping answer, close), masked on the client side. */
static void send_control(struct mr_conn *c, enum mr_ws_opcode op, const uint8_t *payload,
                         size_t len)
{
    uint8_t frame[MR_WS_HEADER_MAX + MR_WS_CONTROL_MAX];
    uint8_t keybuf[4];
    int n = mr_ws_frame_encode(frame, sizeof(frame), op, payload, len, frame_key(c, keybuf));
    if (n > 0) {
        (void)mr_conn_queue_raw(c, frame, (size_t)n);
    }
}

/* A close frame, once, then the connection closes after flushing. */
static void send_close(struct mr_conn *c, uint16_t code, const char *reason)
{
    struct mr_ws_conn *w = c->ws;
    if (!w->close_sent) {
        w->close_sent = true;
        uint8_t frame[MR_WS_HEADER_MAX + MR_WS_CONTROL_MAX];
        uint8_t keybuf[4];
        int n = mr_ws_close_encode(frame, sizeof(frame), code, reason, strlen(reason),
                                   frame_key(c, keybuf));
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

/* Refuses an upgrade request with an HTTP error answer and closes. */
static void refuse(struct mr_server *s, struct mr_conn *c, uint16_t status, const char *why)
{
    mr_server_log(s, MR_LOG_DEBUG, "%s:%u - websocket upgrade refused: %s", c->host,
                  (unsigned)c->port, why);
    char answer[256];
    int n = mr_ws_upgrade_reject_encode(status != 0 ? status : 400, answer, sizeof(answer));
    if (n > 0) {
        (void)mr_conn_queue_raw(c, answer, (size_t)n);
    }
    mr_conn_close(c, "WebSocket Handshake Error");
}

/* The upgrade request (server role): answer 101 or the error, and hand a client to
 * server.c, a leaf to leaf.c. Returns whether frames follow; *used is the bytes of the
 * request (all of them after a refusal). */
static bool server_handshake(struct mr_server *s, struct mr_conn *c, size_t *used)
{
    struct mr_ws_conn *w = c->ws;
    struct mr_ws_upgrade up;
    *used = 0;
    int rc = mr_ws_upgrade_parse(&w->http, w->buf, w->len, &up);
    if (rc == MR_AGAIN) {
        return false;
    }
    *used = w->len;
    if (rc < 0) {
        refuse(s, c, up.status, up.reason);
        return false;
    }
    if (up.kind == MR_WS_KIND_MQTT) {
        refuse(s, c, 400, "MQTT is not supported");
        return false;
    }
    if (s->opts.websocket != NULL && !origin_allowed(s->opts.websocket, &up)) {
        char why[400];
        snprintf(why, sizeof(why), "origin not allowed: %.*s", (int)up.origin.len,
                 up.origin.ptr);
        refuse(s, c, 403, why);
        return false;
    }
    /* nats-server agrees to permessage-deflate whenever it is configured and offered. */
    bool compress = s->opts.websocket != NULL && s->opts.websocket->compression &&
                    up.deflate_offered;
    char answer[1024];
    int n = mr_ws_upgrade_accept_encode(&up, compress, answer, sizeof(answer));
    mr_assert(n > 0);
    (void)mr_conn_queue_raw(c, answer, (size_t)n);
    if (up.kind == MR_WS_KIND_LEAF && !mr_leaf_accepts(s)) {
        /* nats-server answers 101, logs, then drops the connection without a frame. */
        mr_server_log(s, MR_LOG_ERROR, "%s:%u - Not configured to accept leaf node connections",
                      c->host, (unsigned)c->port);
        mr_conn_close(c, "WebSocket Handshake Error");
        return false;
    }
    /* nats-server: a peer that negotiated no masking may send unmasked frames. */
    w->dec.mask_required = !up.no_masking;
    w->dec.compression = compress; /* nothing decoded yet: the decoder may change */
    w->compress = compress;
    w->open = true;
    *used = (size_t)rc;
    if (up.kind == MR_WS_KIND_LEAF) {
        mr_leaf_accept_ws(s, c);
    } else {
        mr_conn_ws_client_open(c);
    }
    return true;
}

/* The hub's answer to our upgrade request (client role). */
static bool client_handshake(struct mr_server *s, struct mr_conn *c, size_t *used)
{
    struct mr_ws_conn *w = c->ws;
    *used = 0;
    int rc = mr_ws_client_response_parse(&w->hs, w->buf, w->len);
    if (rc == MR_AGAIN) {
        return false;
    }
    if (rc < 0) {
        *used = w->len;
        mr_server_log(s, MR_LOG_ERROR, "%s:%u - Error soliciting websocket connection: %s",
                      c->host, (unsigned)c->port, w->hs.reason);
        mr_conn_close(c, "WebSocket Handshake Error");
        return false;
    }
    uint64_t max = (uint64_t)s->opts.max_payload * 8;
    mr_ws_decoder_init(&w->dec, MR_WS_ROLE_CLIENT, false, w->hs.compress,
                       max < MR_WS_MESSAGE_MAX ? max : MR_WS_MESSAGE_MAX);
    w->mask_writes = w->hs.mask_writes;
    w->compress = w->hs.compress;
    w->open = true;
    *used = (size_t)rc;
    mr_server_log(s, MR_LOG_DEBUG, "%s:%u - Leafnode websocket upgrade done (compression=%s "
                  "masking=%s)", c->host, (unsigned)c->port, w->compress ? "true" : "false",
                  w->mask_writes ? "true" : "false");
    return true;
}

/* A compressed message is complete in w->zmsg: inflate it (with the tail RFC 7692
 * has the sender drop) into the NATS parser, at most message_max bytes. False when the
 * connection was closed. */
static bool inflate_message(struct mr_server *s, struct mr_conn *c)
{
    struct mr_ws_conn *w = c->ws;
    if (w->inflater == NULL) {
        w->inflater = g_new0(z_stream, 1);
        if (inflateInit2(w->inflater, -15) != Z_OK) {
            g_free(w->inflater);
            w->inflater = NULL;
            mr_conn_close(c, "Out Of Memory");
            return false;
        }
    } else if (inflateReset(w->inflater) != Z_OK) {
        mr_conn_close(c, "Out Of Memory");
        return false;
    }
    g_byte_array_append(w->zmsg, deflate_tail, sizeof(deflate_tail));
    z_stream *z = w->inflater;
    z->next_in = w->zmsg->data;
    z->avail_in = w->zmsg->len;
    uint64_t total = 0;
    uint8_t chunk[16384];
    int rc = Z_OK;
    while (rc == Z_OK && c->state == CONN_OPEN) {
        z->next_out = chunk;
        z->avail_out = sizeof(chunk);
        rc = inflate(z, Z_SYNC_FLUSH);
        size_t got = sizeof(chunk) - z->avail_out;
        if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
            mr_server_log(s, MR_LOG_DEBUG, "%s:%u - websocket: bad compressed message: %s",
                          c->host, (unsigned)c->port, z->msg != NULL ? z->msg : "zlib error");
            send_close(c, MR_WS_CLOSE_INVALID_DATA, "invalid compressed data");
            mr_conn_close(c, "WebSocket Protocol Error");
            break;
        }
        total += got;
        if (total > w->dec.message_max) {
            send_close(c, MR_WS_CLOSE_TOO_BIG, "message too big");
            mr_conn_close(c, "Maximum Payload Violation");
            break;
        }
        if (got > 0) {
            mr_conn_feed(c, chunk, got);
        }
        /* Z_BUF_ERROR: no progress possible, all input is used (a sync flush ends the
         * data without a final block). */
        if (rc == Z_BUF_ERROR || (z->avail_in == 0 && z->avail_out != 0)) {
            break;
        }
    }
    g_byte_array_set_size(w->zmsg, 0);
    return c->state == CONN_OPEN;
}

/* Decodes the frames in w->buf from off and acts on them; returns the bytes used. */
static size_t decode_frames(struct mr_server *s, struct mr_conn *c, size_t off)
{
    struct mr_ws_conn *w = c->ws;
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
            if (ev.compressed) {
                /* Bounded by the decoder: a message over message_max is an error. */
                if (w->zmsg == NULL) {
                    w->zmsg = g_byte_array_new();
                }
                g_byte_array_append(w->zmsg, ev.payload, (guint)ev.len);
                if (ev.last) {
                    (void)inflate_message(s, c);
                }
            } else if (ev.len > 0) {
                mr_conn_feed(c, ev.payload, ev.len);
            }
            break;
        case MR_WS_EV_PING:
            send_control(c, MR_WS_OP_PONG, ev.payload, ev.len);
            break;
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
    return off;
}

bool mr_ws_conn_on_bytes(struct mr_server *s, struct mr_conn *c, const uint8_t *buf, size_t len,
                         bool *opened)
{
    struct mr_ws_conn *w = c->ws;
    *opened = false;
    if (!buf_append(w, buf, len)) {
        if (w->open) {
            send_close(c, MR_WS_CLOSE_TOO_BIG, "too much data");
        }
        mr_conn_close(c, "WebSocket Buffer Exceeded");
        return false;
    }
    size_t off = 0;
    if (!w->open) {
        size_t used = 0;
        bool ok = w->client ? client_handshake(s, c, &used) : server_handshake(s, c, &used);
        if (!ok) {
            if (used > 0) {
                w->len = 0;
            }
            return false;
        }
        off = used;
        *opened = true;
    }
    off = decode_frames(s, c, off);
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

/* ------------------------------------------------------------------------------------ */
/* Authentication of WebSocket peers                                                     */

bool mr_ws_conn_auth_override(const struct mr_server *s)
{
    const struct mr_websocket_opts *o = s->opts.websocket;
    return o != NULL && o->present &&
           (o->auth.user != NULL || o->auth.token != NULL || o->no_auth_user != NULL);
}

/* Binds c as the configured user `name` (no_auth_user: no password to check), with
 * its account and permissions, as a CONNECT naming it would. */
static bool bind_named_user(struct mr_server *s, struct mr_conn *c, const char *name)
{
    const struct mr_auth_opts *a = s->opts.auth;
    for (size_t i = 0; a != NULL && i < a->users_count; i++) {
        const struct mr_user_opts *u = &a->users[i];
        if (u->user == NULL || strcmp(u->user, name) != 0) {
            continue;
        }
        struct mr_account *acc = s->global;
        if (u->account != NULL) {
            acc = g_hash_table_lookup(s->accounts_by_name, u->account);
            if (acc == NULL) {
                return false;
            }
        }
        c->account = acc;
        c->user = u;
        c->permissions = u->permissions != NULL ? u->permissions : a->default_permissions;
        return true;
    }
    return false;
}

bool mr_ws_conn_authenticate(struct mr_server *s, struct mr_conn *c, const char *user,
                             const char *pass, const char *token)
{
    const struct mr_websocket_opts *o = s->opts.websocket;
    bool none = (user == NULL || user[0] == '\0') && (pass == NULL || pass[0] == '\0') &&
                (token == NULL || token[0] == '\0');
    if (o == NULL || !o->present) {
        return mr_auth_connect(s, c, user, pass, token);
    }
    if (c->kind == MR_CONN_LEAF) {
        if (none && o->no_auth_user != NULL && s->auth_required) {
            return bind_named_user(s, c, o->no_auth_user);
        }
        return mr_auth_connect(s, c, user, pass, token);
    }
    if (!mr_ws_conn_auth_override(s)) {
        return mr_auth_connect(s, c, user, pass, token);
    }
    if (none && o->no_auth_user != NULL) {
        return bind_named_user(s, c, o->no_auth_user);
    }
    /* The loader refuses a websocket token or user next to configured users, so these
     * replace the server's credentials and bind the global account. */
    bool ok;
    if (o->auth.token != NULL) {
        ok = token != NULL && mr_auth_password_ok(token, o->auth.token);
    } else if (o->auth.user != NULL) {
        ok = user != NULL && strcmp(user, o->auth.user) == 0 &&
             mr_auth_password_ok(pass != NULL ? pass : "",
                                 o->auth.password != NULL ? o->auth.password : "");
    } else {
        /* no_auth_user alone: credentials are the server's users'. */
        return mr_auth_connect(s, c, user, pass, token);
    }
    if (ok) {
        c->account = s->global;
        c->user = NULL;
        c->permissions = NULL;
    }
    return ok;
}
