/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Servers configured from config text on the sim env, for the leaf and ws_conn suites:
 * each node is a host of its own name (in a region of the same name), its options
 * loaded with the config loader (so "ws://hub:8080" in a remote dials host "hub"); the
 * loaded config lives in the node, as the server borrows it. The simulated TLS is a
 * no-op that keeps the handshake order (tls {} blocks need no real files). Every
 * fixture ends with lx_finish: shutdown, every connection closed, counters at zero,
 * no leaf left registered, and mr_server_destroy, whose mr_mem_deinit asserts that no
 * byte is still allocated.
 *
 * Raw WebSocket peers: lx_ws_open() sends an upgrade request from a scripted client;
 * lx_ws_send() writes a masked (or unmasked) binary frame, lx_ws_send_deflated() a
 * masked permessage-deflate one; lx_ws_text() decodes the frames received after the
 * 101 with the client-role decoder, inflating compressed messages.
 *
 * White box: leaf state is read through leaf.h and server_int.h. Functions are
 * static: each suite is one translation unit.
 */
#ifndef MR_TEST_FIXTURE_LEAF_H
#define MR_TEST_FIXTURE_LEAF_H

#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "core/conf/conf.h"
#include "core/conf/conf_server.h"
#include "core/err.h"
#include "core/proto/websocket.h"
#include "core/server/leaf.h"
#include "core/server/server.h"
#include "core/server/server_int.h"
#include "sim/sim_env.h"
#include "tests/unit/fixture_server.h"

#define LX_NODES_MAX 3

struct lx_node {
    char name[16];
    struct sim_host *host;
    struct mr_server *srv; /* NULL before lx_boot */
    struct mr_config cfg;  /* borrowed by srv */
};

struct lx {
    struct sim_world *w;
    struct lx_node n[LX_NODES_MAX];
    size_t count;
};

static inline void lx_check_server(void *ctx)
{
    mr_server_check(ctx);
}

static inline void lx_init(struct lx *x, uint64_t seed)
{
    memset(x, 0, sizeof(*x));
    struct sim_world_opts wo;
    sim_world_opts_default(&wo);
    wo.seed = seed;
    x->w = sim_world_create(&wo);
}

static inline uint64_t lx_after(struct lx *x, uint64_t ns)
{
    return sim_world_now_ns(x->w) + ns;
}

/* Adds node `name` configured by conf (NATS config text) without starting it. */
static inline struct lx_node *lx_add_unbooted(struct lx *x, const char *name, const char *conf)
{
    ck_assert_uint_lt(x->count, LX_NODES_MAX);
    struct lx_node *n = &x->n[x->count++];
    g_strlcpy(n->name, name, sizeof(n->name));
    n->host = sim_host_create_in(x->w, name, name);
    struct mr_conf_value *root = NULL;
    char err[MR_CONF_ERR_MAX] = "";
    int rc = mr_conf_parse("t.conf", conf, strlen(conf), NULL, &root, err, sizeof(err));
    ck_assert_msg(rc == 0, "parse of %s's config failed: %s", name, err);
    char lerr[MR_CONF_MSG_MAX] = "";
    rc = mr_conf_server_load(root, &n->cfg, NULL, NULL, lerr, sizeof(lerr));
    mr_conf_free(root);
    ck_assert_msg(rc == 0, "load of %s's config failed: %s", name, lerr);
    g_strlcpy(n->cfg.server.server_name, name, sizeof(n->cfg.server.server_name));
    return n;
}

/* Creates and starts the node's server; returns mr_server_start's result. */
static inline int lx_boot(struct lx *x, struct lx_node *n)
{
    (void)x;
    ck_assert_ptr_null(n->srv);
    char errmsg[MR_ERRMSG_MAX];
    int rc = mr_server_create(&n->cfg.server, sim_host_env(n->host), &n->srv, errmsg,
                              sizeof(errmsg));
    ck_assert_msg(rc == 0, "mr_server_create %s: %s", n->name, errmsg);
    sim_host_set_sink(n->host, mr_server_sink(n->srv));
    sim_host_set_check(n->host, lx_check_server, n->srv);
    return mr_server_start(n->srv);
}

/* Adds and starts a node; its start must succeed. */
static inline struct lx_node *lx_add(struct lx *x, const char *name, const char *conf)
{
    struct lx_node *n = lx_add_unbooted(x, name, conf);
    ck_assert_int_eq(lx_boot(x, n), 0);
    return n;
}

static inline bool lx_all_done_pred(void *ctx)
{
    struct lx *x = ctx;
    for (size_t i = 0; i < x->count; i++) {
        if (x->n[i].srv != NULL && !mr_server_done(x->n[i].srv)) {
            return false;
        }
    }
    return true;
}

static inline void lx_finish(struct lx *x)
{
    for (size_t i = 0; i < x->count; i++) {
        if (x->n[i].srv != NULL) {
            mr_server_shutdown(x->n[i].srv);
        }
    }
    ck_assert(sim_world_run_until_pred(x->w, lx_all_done_pred, x, lx_after(x, 10 * SEC)));
    for (size_t i = 0; i < x->count; i++) {
        struct lx_node *n = &x->n[i];
        if (n->srv != NULL) {
            mr_server_check(n->srv);
            struct mr_server_stats st;
            mr_server_stats(n->srv, &st);
            ck_assert_uint_eq(st.connections, 0);
            ck_assert_uint_eq(st.subscriptions, 0);
            ck_assert_ptr_null(mr_leaf_first(n->srv));
            sim_host_set_check(n->host, NULL, NULL);
            sim_host_set_sink(n->host, NULL);
            mr_server_destroy(n->srv); /* asserts every counted byte was freed */
            n->srv = NULL;
        }
        mr_conf_server_deinit(&n->cfg);
    }
    sim_world_check(x->w);
    sim_world_destroy(x->w);
}

/* ---- leaf state -------------------------------------------------------------------- */

static inline uint32_t lx_leafs(const struct mr_server *s)
{
    uint32_t k = 0;
    for (const struct mr_leaf *l = mr_leaf_first(s); l != NULL; l = l->next) {
        k++;
    }
    return k;
}

/* The registered leaf's interest entry "subject[ queue]", or NULL. */
static inline const struct mr_lsub *lx_lsub(const struct mr_server *s, const char *key)
{
    const struct mr_leaf *l = mr_leaf_first(s);
    return l != NULL ? g_hash_table_lookup(l->lsubs, key) : NULL;
}

struct lx_linked {
    struct lx_node *a;
    struct lx_node *b;
};

static inline bool lx_linked_pred(void *ctx)
{
    const struct lx_linked *k = ctx;
    return lx_leafs(k->a->srv) == 1 && lx_leafs(k->b->srv) == 1;
}

/* Runs until hub and spoke each have one registered leaf link, or `within` passes. */
static inline bool lx_wait_linked(struct lx *x, struct lx_node *hub, struct lx_node *spoke,
                                  uint64_t within)
{
    struct lx_linked k = {hub, spoke};
    return sim_world_run_until_pred(x->w, lx_linked_pred, &k, lx_after(x, within));
}

struct lx_lsub_wait {
    const struct mr_server *s;
    const char *key;
};

static inline bool lx_lsub_pred(void *ctx)
{
    const struct lx_lsub_wait *k = ctx;
    return lx_lsub(k->s, k->key) != NULL;
}

/* Runs until server s knows its leaf peer's interest `key`, or `within` passes. */
static inline bool lx_wait_lsub(struct lx *x, const struct mr_server *s, const char *key,
                                uint64_t within)
{
    struct lx_lsub_wait k = {s, key};
    return sim_world_run_until_pred(x->w, lx_lsub_pred, &k, lx_after(x, within));
}

/* Whether the node's log holds needle. */
static inline bool lx_logged(const struct lx_node *n, const char *needle)
{
    size_t len;
    const char *log = sim_host_log(n->host, &len);
    return memmem(log, len, needle, strlen(needle)) != NULL;
}

/* ---- clients ----------------------------------------------------------------------- */

static inline void lx_barrier(struct lx *x, struct sim_client *c)
{
    struct count_reaches cr = {c, "PONG\r\n", count(c, "PONG\r\n") + 1};
    say(c, "PING\r\n");
    ck_assert(sim_world_run_until_pred(x->w, count_reaches_pred, &cr, lx_after(x, SEC)));
}

/* A client of node n on port 4222 that has its INFO and has sent CONNECT json (NULL: a
 * plain one); received bytes cleared. */
static inline struct sim_client *lx_client(struct lx *x, const char *name, struct lx_node *n,
                                           const char *json)
{
    struct sim_client *c = sim_client_create(x->w, name, n->name, 4222);
    ck_assert(sim_client_wait_for(c, "}\r\n", lx_after(x, SEC)));
    sim_client_clear(c);
    char *line = g_strdup_printf("CONNECT %s\r\n", json != NULL ? json
                                 : "{\"verbose\":false,\"pedantic\":false,\"headers\":true}");
    say(c, line);
    g_free(line);
    lx_barrier(x, c);
    sim_client_clear(c);
    return c;
}

/* ---- raw WebSocket peers ----------------------------------------------------------- */

/* Opens a connection to n:port, sends an upgrade request for path with extra header
 * lines (each ending in CRLF, may be ""), and runs until the answer's head is in. */
static inline struct sim_client *lx_ws_open(struct lx *x, const char *name, struct lx_node *n,
                                            uint16_t port, const char *path, const char *extra)
{
    struct sim_client *c = sim_client_create(x->w, name, n->name, port);
    char *req = g_strdup_printf("GET %s HTTP/1.1\r\nHost: %s:%u\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Version: 13\r\n%s\r\n",
                                path, n->name, (unsigned)port, extra);
    say(c, req);
    g_free(req);
    ck_assert(sim_client_wait_for(c, "\r\n\r\n", lx_after(x, SEC)));
    return c;
}

/* Sends text as one binary frame, masked unless mask is false. */
static inline void lx_ws_send(struct sim_client *c, const char *text, bool mask)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t len = strlen(text);
    uint8_t *frame = g_malloc(len + MR_WS_HEADER_MAX);
    int n = mr_ws_frame_encode(frame, len + MR_WS_HEADER_MAX, MR_WS_OP_BINARY,
                               (const uint8_t *)text, len, mask ? key : NULL);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(sim_client_send(c, frame, (size_t)n), 0);
    g_free(frame);
}

/* Raw deflate of text as one permessage-deflate message (no context takeover), without
 * the 4-byte tail; g_free the result. */
static inline uint8_t *lx_deflate(const char *text, size_t *out_len)
{
    z_stream z = {0};
    ck_assert_int_eq(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t len = strlen(text);
    size_t cap = deflateBound(&z, len) + 16;
    uint8_t *out = g_malloc(cap);
    z.next_in = (Bytef *)(uintptr_t)text;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&z, Z_SYNC_FLUSH), Z_OK);
    size_t n = cap - z.avail_out;
    ck_assert_uint_ge(n, 4);
    *out_len = n - 4;
    deflateEnd(&z);
    return out;
}

/* Sends text as one masked binary frame, deflated (RSV1 set). */
static inline void lx_ws_send_deflated(struct sim_client *c, const char *text)
{
    static const uint8_t key[4] = {0x11, 0x22, 0x33, 0x44};
    size_t n = 0;
    uint8_t *z = lx_deflate(text, &n);
    uint8_t hdr[MR_WS_HEADER_MAX];
    size_t h = mr_ws_header_encode(hdr, MR_WS_OP_BINARY, true, true, n, key);
    mr_ws_mask(z, z, n, key, 0);
    ck_assert_int_eq(sim_client_send(c, hdr, h), 0);
    ck_assert_int_eq(sim_client_send(c, z, n), 0);
    g_free(z);
}

/* Inflates one compressed message (tail appended) onto text. */
static inline void lx_inflate_into(GString *text, GByteArray *msg)
{
    static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
    g_byte_array_append(msg, tail, 4);
    z_stream z = {0};
    ck_assert_int_eq(inflateInit2(&z, -15), Z_OK);
    z.next_in = msg->data;
    z.avail_in = msg->len;
    uint8_t chunk[4096];
    int rc;
    do {
        z.next_out = chunk;
        z.avail_out = sizeof(chunk);
        rc = inflate(&z, Z_SYNC_FLUSH);
        ck_assert(rc == Z_OK || rc == Z_BUF_ERROR || rc == Z_STREAM_END);
        g_string_append_len(text, (const char *)chunk, (gssize)(sizeof(chunk) - z.avail_out));
    } while (rc == Z_OK && z.avail_out == 0);
    inflateEnd(&z);
    g_byte_array_set_size(msg, 0);
}

/* The data carried by the frames received after the answer's head, as a string (g_free
 * it); *close_code is the close frame's code, 0 if none came. Compressed messages are
 * inflated. */
static inline char *lx_ws_text(const struct sim_client *c, uint16_t *close_code)
{
    size_t len;
    const uint8_t *buf = sim_client_received(c, &len);
    const uint8_t *end = memmem(buf, len, "\r\n\r\n", 4);
    ck_assert_ptr_nonnull(end);
    size_t off = (size_t)(end + 4 - buf);
    uint8_t *copy = g_memdup2(buf + off, len - off); /* the decoder writes in place */
    struct mr_ws_decoder d;
    mr_ws_decoder_init(&d, MR_WS_ROLE_CLIENT, false, true, MR_WS_MESSAGE_MAX);
    GString *text = g_string_new(NULL);
    GByteArray *zmsg = g_byte_array_new();
    if (close_code != NULL) {
        *close_code = 0;
    }
    size_t at = 0;
    while (at < len - off) {
        struct mr_ws_event ev;
        int rc = mr_ws_decode(&d, copy + at, len - off - at, &ev);
        if (rc <= 0) {
            break;
        }
        at += (size_t)rc;
        if (ev.type == MR_WS_EV_DATA && ev.compressed) {
            g_byte_array_append(zmsg, ev.payload, (guint)ev.len);
            if (ev.last) {
                lx_inflate_into(text, zmsg);
            }
        } else if (ev.type == MR_WS_EV_DATA) {
            g_string_append_len(text, (const char *)ev.payload, (gssize)ev.len);
        } else if (ev.type == MR_WS_EV_CLOSE && close_code != NULL) {
            *close_code = ev.close_code;
        }
    }
    g_free(copy);
    g_byte_array_free(zmsg, TRUE);
    return g_string_free(text, FALSE);
}

static inline size_t lx_ws_count(const struct sim_client *c, const char *needle)
{
    char *t = lx_ws_text(c, NULL);
    size_t n = count_in((const uint8_t *)t, strlen(t), needle);
    g_free(t);
    return n;
}

struct lx_ws_reaches {
    const struct sim_client *c;
    const char *needle;
    size_t n;
};

static inline bool lx_ws_reaches_pred(void *ctx)
{
    const struct lx_ws_reaches *k = ctx;
    return lx_ws_count(k->c, k->needle) >= k->n;
}

/* Runs until the frames received hold needle n times, or `within` passes. */
static inline bool lx_ws_wait(struct lx *x, const struct sim_client *c, const char *needle,
                              size_t n, uint64_t within)
{
    struct lx_ws_reaches k = {c, needle, n};
    return sim_world_run_until_pred(x->w, lx_ws_reaches_pred, &k, lx_after(x, within));
}

#endif
