/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The WebSocket transport (RFC 6455) as nats-server 2.9 speaks it; the contract is in
 * websocket.h.
 *
 * Handshakes: the request head is parsed by http.c, which validates every header line;
 * this module then walks those lines again to read the WebSocket headers (Go's
 * http.Header semantics: names in any case, values trimmed, Get() is the first value,
 * token lists are comma-separated across all values). The client side reads the
 * server's response head with its own small scanner, since http.c parses requests only.
 *
 * Decoder: a frame header (2 to 14 bytes) is judged byte by byte in a fixed order (first
 * byte, second byte, extended length, limits), each check as soon as its bytes are
 * present, and consumed only with the first payload byte of a data frame or with the
 * whole payload of a control frame. The only state kept between calls describes the
 * consumed bytes: whether a message and a frame are open, the frame's key and how much
 * of its payload is still due, and how large the message has grown.
 *
 * Invariants:
 *  - A successful call consumes 0 < n <= len bytes and writes only those (unmasking).
 *  - in_frame implies frame_remaining > 0; !in_message implies !in_frame.
 *  - message_bytes <= message_max; a control payload is at most MR_WS_CONTROL_MAX.
 *  - An error is sticky and leaves buf untouched.
 *
 * Ownership: buffers are borrowed for the call; views point into them.
 */
#include "core/proto/websocket.h"

#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/limits.h"

_Static_assert(MR_WS_REASON_MAX == 123, "a close reason fills a control frame after its code");
_Static_assert(MR_WS_MESSAGE_MAX >= MR_PAYLOAD_MAX, "a maximal NATS payload fits a message");

/* RFC 6455 1.3: appended to the key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The permessage-deflate answer nats-server gives and the offer its leaf remotes make. */
#define PMC_PARAMS "permessage-deflate; server_no_context_takeover; client_no_context_takeover"

/* ---- small text helpers ------------------------------------------------------------ */

static uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* True if s[0, n) equals word ignoring ASCII case (Go's strings.EqualFold for ASCII). */
static bool equal_fold(const char *s, size_t n, const char *word)
{
    size_t wn = strlen(word);
    if (n != wn) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (lower((uint8_t)s[i]) != lower((uint8_t)word[i])) {
            return false;
        }
    }
    return true;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

/* Trims blanks at both ends of s[*start, *end). */
static void trim(const char *s, size_t *start, size_t *end)
{
    while (*start < *end && is_blank(s[*start])) {
        (*start)++;
    }
    while (*end > *start && is_blank(s[*end - 1])) {
        (*end)--;
    }
}

/* True if the comma-separated list v holds token, ignoring case and blanks (nats-server's
 * wsHeaderContains for one value). */
static bool list_has(struct mr_view v, const char *token)
{
    size_t i = 0;
    while (i <= v.len) {
        const char *comma = v.len > i ? memchr(v.ptr + i, ',', v.len - i) : NULL;
        size_t end = comma != NULL ? (size_t)(comma - v.ptr) : v.len;
        size_t start = i;
        trim(v.ptr, &start, &end);
        if (equal_fold(v.ptr + start, end - start, token)) {
            return true;
        }
        if (comma == NULL) {
            return false;
        }
        i = (size_t)(comma - v.ptr) + 1;
    }
    return false;
}

/* Reads an extensions value: sets *offered when one extension is permessage-deflate, and
 * *no_context when that extension also carries both *_no_context_takeover parameters
 * (nats-server's wsPMCExtensionSupport). Extensions are split on ',' and parameters on
 * ';'; a quoted ',' is not expected in these parameters. */
static void read_extensions(struct mr_view v, bool *offered, bool *no_context)
{
    size_t i = 0;
    while (i < v.len && !*offered) {
        const char *comma = memchr(v.ptr + i, ',', v.len - i);
        size_t ext_end = comma != NULL ? (size_t)(comma - v.ptr) : v.len;
        bool pmc = false;
        bool snc = false;
        bool cnc = false;
        size_t p = i;
        while (p <= ext_end) {
            const char *semi = ext_end > p ? memchr(v.ptr + p, ';', ext_end - p) : NULL;
            size_t end = semi != NULL ? (size_t)(semi - v.ptr) : ext_end;
            size_t start = p;
            trim(v.ptr, &start, &end);
            const char *w = v.ptr + start;
            size_t wn = end - start;
            if (!pmc) {
                pmc = equal_fold(w, wn, "permessage-deflate");
            } else if (equal_fold(w, wn, "server_no_context_takeover")) {
                snc = true;
            } else if (equal_fold(w, wn, "client_no_context_takeover")) {
                cnc = true;
            }
            if (semi == NULL) {
                break;
            }
            p = (size_t)(semi - v.ptr) + 1;
        }
        if (pmc) {
            *offered = true;
            *no_context = snc && cnc;
        }
        i = ext_end + 1;
    }
}

/* Standard base64 with padding of n bytes into out (4 * ceil(n / 3) characters, no NUL). */
static size_t base64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < n) {
            v |= (uint32_t)in[i + 1] << 8;
        }
        if (i + 2 < n) {
            v |= in[i + 2];
        }
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64_alphabet[v & 63] : '=';
    }
    return o;
}

/* True if key is base64 of exactly 16 bytes: 22 alphabet characters and "==". */
static bool key_is_valid(struct mr_view key)
{
    if (key.len != MR_WS_KEY_LEN) {
        return false;
    }
    for (size_t i = 0; i < MR_WS_KEY_LEN - 2; i++) {
        if (key.ptr[i] == '=' || strchr(b64_alphabet, key.ptr[i]) == NULL) {
            return false;
        }
    }
    return key.ptr[MR_WS_KEY_LEN - 2] == '=' && key.ptr[MR_WS_KEY_LEN - 1] == '=';
}

void mr_ws_accept_key(const char *key, size_t key_len, char out[MR_WS_ACCEPT_LEN + 1])
{
    mr_assert(key != NULL);
    mr_assert(out != NULL);
    GChecksum *ck = g_checksum_new(G_CHECKSUM_SHA1);
    mr_assert(ck != NULL);
    g_checksum_update(ck, (const guchar *)key, (gssize)key_len);
    g_checksum_update(ck, (const guchar *)ws_guid, (gssize)(sizeof(ws_guid) - 1));
    uint8_t sum[20];
    gsize sum_len = sizeof(sum);
    g_checksum_get_digest(ck, sum, &sum_len);
    g_checksum_free(ck);
    mr_assert(sum_len == sizeof(sum));
    size_t n = base64_encode(sum, sizeof(sum), out);
    mr_assert(n == MR_WS_ACCEPT_LEN);
    out[n] = '\0';
}

/* ---- head lines -------------------------------------------------------------------- */

/* Walks the header lines of a complete head, http.c-validated or checked by the caller:
 * each call yields the next "name: value" line's name and trimmed value. */
struct line_walk {
    const char *head;
    size_t len;
    size_t off; /* start of the next line */
};

/* Positions w after the first non-empty line (the request or status line). */
static void walk_start(struct line_walk *w, const uint8_t *head, size_t len)
{
    w->head = (const char *)head;
    w->len = len;
    w->off = 0;
    for (;;) {
        const char *nl = memchr(w->head + w->off, '\n', w->len - w->off);
        mr_assert(nl != NULL);
        size_t end = (size_t)(nl - w->head);
        bool empty = end == w->off || (end == w->off + 1 && w->head[w->off] == '\r');
        w->off = end + 1;
        if (!empty) {
            return;
        }
    }
}

/* The next header line; false at the blank line that ends the head, or at a line
 * without a colon (only the response scanner meets one: it then reports malformed). */
static bool walk_next(struct line_walk *w, struct mr_view *name, struct mr_view *value,
                      bool *malformed)
{
    const char *nl = memchr(w->head + w->off, '\n', w->len - w->off);
    mr_assert(nl != NULL);
    size_t end = (size_t)(nl - w->head);
    size_t content_end = end;
    if (content_end > w->off && w->head[content_end - 1] == '\r') {
        content_end--;
    }
    size_t start = w->off;
    w->off = end + 1;
    if (content_end == start) {
        return false;
    }
    const char *colon = memchr(w->head + start, ':', content_end - start);
    if (colon == NULL || colon == w->head + start) {
        *malformed = true;
        return false;
    }
    name->ptr = w->head + start;
    name->len = (uint32_t)(colon - name->ptr);
    size_t vs = (size_t)(colon - w->head) + 1;
    size_t ve = content_end;
    trim(w->head, &vs, &ve);
    value->ptr = w->head + vs;
    value->len = (uint32_t)(ve - vs);
    return true;
}

/* ---- server opening handshake ------------------------------------------------------ */

/* Everything the request's header lines say that the checks need. */
struct upgrade_facts {
    bool upgrade_ok;    /* some Upgrade value lists "websocket" */
    bool connection_ok; /* some Connection value lists "Upgrade" */
    bool version_ok;    /* some Sec-WebSocket-Version value lists "13" */
    bool has_key, has_host, has_origin, has_ws_origin, has_ua, has_xff, has_nm;
    struct mr_view host, key, ws_origin, nm;
};

static int upgrade_fail(struct mr_ws_upgrade *up, int err, uint16_t status, const char *reason)
{
    mr_assert(err < 0);
    mr_assert(status >= 400);
    /* Views into a rejected head are not kept: the caller answers and closes. */
    memset(up, 0, sizeof(*up));
    up->status = status;
    snprintf(up->reason, sizeof(up->reason), "%s", reason);
    return err;
}

/* The first value of each header counts for Get(); lists gather over all values. */
static void read_upgrade_header(struct mr_view n, struct mr_view v, struct mr_ws_upgrade *up,
                                struct upgrade_facts *f)
{
    if (equal_fold(n.ptr, n.len, "upgrade")) {
        f->upgrade_ok = f->upgrade_ok || list_has(v, "websocket");
    } else if (equal_fold(n.ptr, n.len, "connection")) {
        f->connection_ok = f->connection_ok || list_has(v, "upgrade");
    } else if (equal_fold(n.ptr, n.len, "sec-websocket-version")) {
        f->version_ok = f->version_ok || list_has(v, "13");
    } else if (equal_fold(n.ptr, n.len, "sec-websocket-key") && !f->has_key) {
        f->has_key = true;
        f->key = v;
    } else if (equal_fold(n.ptr, n.len, "host") && !f->has_host) {
        f->has_host = true;
        f->host = v;
    } else if (equal_fold(n.ptr, n.len, "origin") && !f->has_origin) {
        f->has_origin = true;
        up->origin = v;
    } else if (equal_fold(n.ptr, n.len, "sec-websocket-origin") && !f->has_ws_origin) {
        f->has_ws_origin = true;
        f->ws_origin = v;
    } else if (equal_fold(n.ptr, n.len, "user-agent") && !f->has_ua) {
        f->has_ua = true;
        up->user_agent = v;
    } else if (equal_fold(n.ptr, n.len, "x-forwarded-for") && !f->has_xff) {
        f->has_xff = true;
        up->forwarded_for = v;
    } else if (equal_fold(n.ptr, n.len, "nats-no-masking") && !f->has_nm) {
        f->has_nm = true;
        f->nm = v;
    } else if (equal_fold(n.ptr, n.len, "sec-websocket-extensions")) {
        read_extensions(v, &up->deflate_offered, &up->deflate_no_context);
    }
}

/* The host of an absolute-form target ("http://host:port/path"), as Go takes r.Host from
 * the URL before the Host header; absent for origin-form. */
static struct mr_view target_host(const struct mr_http_request *req)
{
    struct mr_view none = {NULL, 0};
    const char *t = req->target.ptr;
    size_t n = req->target.len;
    if (n == 0 || t[0] == '/' || t[0] == '*') {
        return none;
    }
    const char *sep = NULL;
    for (size_t i = 0; i + 3 <= n; i++) {
        if (memcmp(t + i, "://", 3) == 0) {
            sep = t + i + 3;
            break;
        }
    }
    if (sep == NULL) {
        return none;
    }
    size_t start = (size_t)(sep - t);
    size_t end = start;
    while (end < n && t[end] != '/' && t[end] != '?' && t[end] != '#') {
        end++;
    }
    struct mr_view host = {t + start, (uint32_t)(end - start)};
    return host;
}

static bool has_prefix(struct mr_view v, const char *prefix)
{
    size_t n = strlen(prefix);
    return v.len >= n && memcmp(v.ptr, prefix, n) == 0;
}

/* nats-server's checks of an upgrade request, in its order (RFC 6455 4.2.1 items 1 to
 * 6), so the first failure named is the one it names; then Meridian's own. */
static int judge_upgrade(const struct mr_http_request *req, const struct upgrade_facts *f,
                         struct mr_view host, struct mr_ws_upgrade *up)
{
    if (req->method != MR_HTTP_GET) {
        return upgrade_fail(up, MR_E_PROTO_ARGS, 405, "request method must be GET");
    }
    if (host.len == 0) {
        return upgrade_fail(up, MR_E_PROTO_ARGS, 400, "'Host' missing in request");
    }
    if (!f->upgrade_ok) {
        return upgrade_fail(up, MR_E_PROTO_ARGS, 400, "invalid value for header 'Upgrade'");
    }
    if (!f->connection_ok) {
        return upgrade_fail(up, MR_E_PROTO_ARGS, 400, "invalid value for header 'Connection'");
    }
    if (f->key.len == 0) {
        return upgrade_fail(up, MR_E_PROTO_ARGS, 400, "key missing");
    }
    if (!f->version_ok) {
        return upgrade_fail(up, MR_E_PROTO_ARGS, 400, "invalid version");
    }
    if (!key_is_valid(f->key)) {
        return upgrade_fail(up, MR_E_PROTO_ARGS, 400, "invalid key");
    }
    /* A GET with a body has sent data the server would read as frames. */
    if (req->body_len > 0) {
        return upgrade_fail(up, MR_E_PROTO_ARGS, 400,
                            "client sent data before handshake is complete");
    }
    return MR_OK;
}

int mr_ws_upgrade_parse(struct mr_http_parser *p, const uint8_t *buf, size_t len,
                        struct mr_ws_upgrade *up)
{
    mr_assert(p != NULL);
    mr_assert(up != NULL);
    memset(up, 0, sizeof(*up));
    struct mr_http_request req;
    int rc = mr_http_parse(p, buf, len, &req);
    if (rc == MR_AGAIN) {
        return MR_AGAIN;
    }
    if (rc < 0) {
        return upgrade_fail(up, rc, p->status, "malformed request");
    }
    struct upgrade_facts f;
    memset(&f, 0, sizeof(f));
    struct line_walk w;
    walk_start(&w, buf, req.head_len);
    struct mr_view n;
    struct mr_view v;
    bool malformed = false;
    while (walk_next(&w, &n, &v, &malformed)) {
        read_upgrade_header(n, v, up, &f);
    }
    mr_assert(!malformed); /* http.c accepted every line */
    struct mr_view host = target_host(&req);
    if (host.len == 0) {
        host = f.host;
    }
    rc = judge_upgrade(&req, &f, host, up);
    if (rc < 0) {
        return rc;
    }
    up->path = req.path;
    up->kind = has_prefix(req.path, MR_WS_LEAF_PATH) ? MR_WS_KIND_LEAF
               : has_prefix(req.path, "/mqtt")      ? MR_WS_KIND_MQTT
                                                    : MR_WS_KIND_CLIENT;
    up->host = host;
    up->key = f.key;
    if (up->origin.len == 0) {
        up->origin = f.ws_origin;
    }
    /* Go's Get() == "true": exact, case-sensitive. */
    up->no_masking = f.nm.len == 4 && memcmp(f.nm.ptr, "true", 4) == 0;
    up->browser = has_prefix(up->user_agent, "Mozilla/");
    up->head_len = req.head_len;
    mr_assert(up->head_len <= len);
    mr_assert(up->key.len == MR_WS_KEY_LEN);
    return (int)req.head_len;
}

/* Appends to a bounded output; overflow is remembered and reported once at the end. */
struct out_buf {
    char *p;
    size_t cap;
    size_t len;
    bool overflow;
};

static void put(struct out_buf *o, const char *s, size_t n)
{
    if (o->overflow || n > o->cap - o->len) {
        o->overflow = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void put_str(struct out_buf *o, const char *s)
{
    put(o, s, strlen(s));
}

static int out_done(struct out_buf *o)
{
    if (o->overflow) {
        return MR_E_LIMIT;
    }
    mr_assert(o->len <= o->cap);
    mr_assert(o->len <= INT32_MAX);
    return (int)o->len;
}

int mr_ws_upgrade_accept_encode(const struct mr_ws_upgrade *up, bool compress, char *out,
                                size_t cap)
{
    mr_assert(up != NULL);
    mr_assert(out != NULL);
    mr_assert(up->key.len == MR_WS_KEY_LEN);
    if (compress) {
        mr_assert(up->deflate_offered);
    }
    char accept[MR_WS_ACCEPT_LEN + 1];
    mr_ws_accept_key(up->key.ptr, up->key.len, accept);
    struct out_buf o = {out, cap, 0, false};
    put_str(&o, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
              "Connection: Upgrade\r\nSec-WebSocket-Accept: ");
    put_str(&o, accept);
    put_str(&o, "\r\n");
    if (compress) {
        put_str(&o, "Sec-WebSocket-Extensions: " PMC_PARAMS "\r\n");
    }
    if (up->no_masking) {
        put_str(&o, "Nats-No-Masking: true\r\n");
    }
    if (up->kind == MR_WS_KIND_MQTT) {
        put_str(&o, "Sec-Websocket-Protocol: mqtt\r\n");
    }
    put_str(&o, "\r\n");
    return out_done(&o);
}

/* Status texts of the answers this module gives; http.c knows the monitoring ones. */
static const char *status_text(uint16_t status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 403:
        return "Forbidden";
    default:
        return mr_http_status_text(status);
    }
}

int mr_ws_upgrade_reject_encode(uint16_t status, char *out, size_t cap)
{
    mr_assert(status >= 400 && status <= 599);
    mr_assert(out != NULL);
    const char *text = status_text(status);
    char line[256];
    /* Go's http.Error: the body is the status text and a newline. */
    int n = snprintf(line, sizeof(line),
                     "HTTP/1.1 %u %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Sec-Websocket-Version: 13\r\nX-Content-Type-Options: nosniff\r\n",
                     (unsigned)status, text);
    mr_assert(n > 0 && (size_t)n < sizeof(line));
    struct out_buf o = {out, cap, 0, false};
    put(&o, line, (size_t)n);
    n = snprintf(line, sizeof(line), "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
                 strlen(text) + 1, text);
    mr_assert(n > 0 && (size_t)n < sizeof(line));
    put(&o, line, (size_t)n);
    return out_done(&o);
}

/* ---- client opening handshake ------------------------------------------------------ */

int mr_ws_client_request_encode(struct mr_ws_client_handshake *hs, const char *host,
                                const char *url_path, const uint8_t nonce[MR_WS_NONCE_BYTES],
                                bool compress, bool no_masking, char *out, size_t cap)
{
    mr_assert(hs != NULL);
    mr_assert(host != NULL && host[0] != '\0');
    mr_assert(nonce != NULL);
    mr_assert(out != NULL);
    memset(hs, 0, sizeof(*hs));
    char key[MR_WS_KEY_LEN + 1];
    size_t kn = base64_encode(nonce, MR_WS_NONCE_BYTES, key);
    mr_assert(kn == MR_WS_KEY_LEN);
    key[kn] = '\0';
    mr_ws_accept_key(key, kn, hs->accept);
    hs->compress_requested = compress;
    hs->no_masking_requested = no_masking;
    hs->mask_writes = true;
    struct out_buf o = {out, cap, 0, false};
    put_str(&o, "GET " MR_WS_LEAF_PATH);
    if (url_path != NULL) {
        put_str(&o, url_path[0] == '/' ? url_path + 1 : url_path);
    }
    put_str(&o, " HTTP/1.1\r\nHost: ");
    put_str(&o, host);
    put_str(&o, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
    put_str(&o, key);
    put_str(&o, "\r\nSec-WebSocket-Version: 13\r\n");
    if (compress) {
        put_str(&o, "Sec-WebSocket-Extensions: " PMC_PARAMS "\r\n");
    }
    if (no_masking) {
        put_str(&o, "Nats-No-Masking: true\r\n");
    }
    put_str(&o, "\r\n");
    return out_done(&o);
}

static int client_fail(struct mr_ws_client_handshake *hs, int err, const char *reason)
{
    mr_assert(err < 0);
    snprintf(hs->reason, sizeof(hs->reason), "%s", reason);
    hs->compress = false;
    hs->mask_writes = true;
    return err;
}

/* Finds the end of a response head in b[0, n): the length through the blank line, 0 if
 * not there yet. Lines end in LF or CRLF. */
static size_t head_end(const uint8_t *b, size_t n)
{
    size_t off = 0;
    for (;;) {
        const uint8_t *nl = memchr(b + off, '\n', n - off);
        if (nl == NULL) {
            return 0;
        }
        size_t end = (size_t)(nl - b);
        /* The first line is the status line, never the blank one. */
        if (off > 0 && (end == off || (end == off + 1 && b[off] == '\r'))) {
            return end + 1;
        }
        off = end + 1;
    }
}

/* "HTTP/1.x SP 3DIGIT [SP reason]": returns the status or -1. */
static int status_line(const uint8_t *b, size_t n)
{
    static const char proto[] = "HTTP/1.";
    if (n < sizeof(proto) - 1 + 5 || memcmp(b, proto, sizeof(proto) - 1) != 0) {
        return -1;
    }
    size_t i = sizeof(proto) - 1;
    if (b[i] < '0' || b[i] > '9' || b[i + 1] != ' ') {
        return -1;
    }
    i += 2;
    int status = 0;
    for (size_t k = 0; k < 3; k++, i++) {
        if (i >= n || b[i] < '0' || b[i] > '9') {
            return -1;
        }
        status = status * 10 + (b[i] - '0');
    }
    if (i < n && b[i] != ' ' && b[i] != '\r' && b[i] != '\n') {
        return -1;
    }
    return status;
}

int mr_ws_client_response_parse(struct mr_ws_client_handshake *hs, const uint8_t *buf,
                                size_t len)
{
    mr_assert(hs != NULL);
    mr_assert(buf != NULL || len == 0);
    mr_assert(hs->accept[0] != '\0');
    hs->reason[0] = '\0';
    size_t avail = len < MR_HTTP_HEAD_MAX ? len : MR_HTTP_HEAD_MAX;
    /* Bytes that cannot begin a response fail at once (nats-server's reader fails on
     * the first line), not after a head that will never end: a peer speaking another
     * protocol (a NATS INFO) is refused as soon as it is seen. */
    size_t k = avail < 7 ? avail : 7;
    if (k > 0 && memcmp(buf, "HTTP/1.", k) != 0) {
        return client_fail(hs, MR_E_PROTO_ARGS, "malformed HTTP response");
    }
    size_t head = head_end(buf, avail);
    if (head == 0) {
        if (avail == MR_HTTP_HEAD_MAX) {
            return client_fail(hs, MR_E_PROTO_CONTROL_LINE, "response head too long");
        }
        return MR_AGAIN;
    }
    int status = status_line(buf, head);
    if (status < 0) {
        return client_fail(hs, MR_E_PROTO_ARGS, "malformed HTTP response");
    }
    hs->status = (uint16_t)status;
    struct mr_view upgrade = {NULL, 0};
    struct mr_view connection = {NULL, 0};
    struct mr_view accept = {NULL, 0};
    struct mr_view nm = {NULL, 0};
    bool seen[4] = {false, false, false, false};
    bool pmc = false;
    bool no_ctx = false;
    bool malformed = false;
    struct line_walk w;
    walk_start(&w, buf, head);
    struct mr_view n;
    struct mr_view v;
    while (walk_next(&w, &n, &v, &malformed)) {
        struct mr_view *slot = NULL;
        size_t which = 0;
        if (equal_fold(n.ptr, n.len, "upgrade")) {
            slot = &upgrade;
        } else if (equal_fold(n.ptr, n.len, "connection")) {
            slot = &connection, which = 1;
        } else if (equal_fold(n.ptr, n.len, "sec-websocket-accept")) {
            slot = &accept, which = 2;
        } else if (equal_fold(n.ptr, n.len, "nats-no-masking")) {
            slot = &nm, which = 3;
        } else if (equal_fold(n.ptr, n.len, "sec-websocket-extensions")) {
            read_extensions(v, &pmc, &no_ctx);
        }
        if (slot != NULL && !seen[which]) {
            seen[which] = true;
            *slot = v;
        }
    }
    if (malformed) {
        return client_fail(hs, MR_E_PROTO_ARGS, "malformed HTTP response");
    }
    if (status != 101 || !equal_fold(upgrade.ptr, upgrade.len, "websocket") ||
        !equal_fold(connection.ptr, connection.len, "upgrade") ||
        accept.len != MR_WS_ACCEPT_LEN || memcmp(accept.ptr, hs->accept, MR_WS_ACCEPT_LEN) != 0) {
        return client_fail(hs, MR_E_PROTO_ARGS, "invalid websocket connection");
    }
    /* nats-server: no extension means no compression; the extension without both
     * no-context parameters is refused, as neither side keeps a context. */
    if (hs->compress_requested && pmc && !no_ctx) {
        return client_fail(hs, MR_E_PROTO_ARGS, "compression negotiation error");
    }
    hs->compress = hs->compress_requested && pmc;
    hs->mask_writes = !(hs->no_masking_requested && nm.len == 4 && memcmp(nm.ptr, "true", 4) == 0);
    mr_assert(head <= len);
    return (int)head;
}

/* ---- frame decoder ----------------------------------------------------------------- */

/* A frame header as judged so far. */
struct frame_head {
    bool fin;
    bool rsv1;
    bool masked;
    enum mr_ws_opcode op;
    uint64_t len;
    size_t head_len;
    uint8_t key[4];
};

static bool is_control(enum mr_ws_opcode op)
{
    return op >= MR_WS_OP_CLOSE;
}

void mr_ws_decoder_init(struct mr_ws_decoder *d, enum mr_ws_role role, bool mask_required,
                        bool compression, uint64_t message_max)
{
    mr_assert(d != NULL);
    mr_assert(role == MR_WS_ROLE_SERVER || role == MR_WS_ROLE_CLIENT);
    mr_assert(message_max > 0);
    mr_assert(message_max <= MR_WS_MESSAGE_MAX);
    memset(d, 0, sizeof(*d));
    d->role = role;
    d->mask_required = role == MR_WS_ROLE_SERVER && mask_required;
    d->compression = compression;
    d->message_max = message_max;
}

static int decode_fail(struct mr_ws_decoder *d, int err, uint16_t code, const char *reason)
{
    mr_assert(err < 0);
    mr_assert(code >= 1000);
    d->error = err;
    d->close_code = code;
    d->error_offset = d->offset;
    d->need_bytes = 0;
    snprintf(d->reason, sizeof(d->reason), "%s", reason);
    return err;
}

static int protocol_error(struct mr_ws_decoder *d, const char *reason)
{
    return decode_fail(d, MR_E_PROTO_ARGS, MR_WS_CLOSE_PROTOCOL, reason);
}

/* Judges the first byte against the decoder's state: reserved bits, opcode, the
 * fragmentation rules (RFC 6455 5.4, 5.5) and RSV1 (RFC 7692 6). */
static int judge_first_byte(struct mr_ws_decoder *d, uint8_t b0, struct frame_head *h)
{
    h->fin = (b0 & 0x80) != 0;
    h->rsv1 = (b0 & 0x40) != 0;
    h->op = (enum mr_ws_opcode)(b0 & 0x0f);
    if ((b0 & 0x30) != 0) {
        return protocol_error(d, "reserved bits RSV2/RSV3 set");
    }
    switch (h->op) {
    case MR_WS_OP_CLOSE:
    case MR_WS_OP_PING:
    case MR_WS_OP_PONG:
        if (!h->fin) {
            return protocol_error(d, "control frame does not have final bit set");
        }
        if (h->rsv1) {
            return protocol_error(d, "compressed control frame");
        }
        return MR_OK;
    case MR_WS_OP_TEXT:
    case MR_WS_OP_BINARY:
        if (d->in_message) {
            return protocol_error(d, "new message started before final frame for previous "
                                     "message was received");
        }
        if (h->rsv1 && !d->compression) {
            return protocol_error(d, "compressed frame without negotiated compression");
        }
        return MR_OK;
    case MR_WS_OP_CONTINUATION:
        /* Only a message's first frame may carry RSV1. */
        if (!d->in_message || h->rsv1) {
            return protocol_error(d, "invalid continuation frame");
        }
        return MR_OK;
    default: {
        char reason[32];
        snprintf(reason, sizeof(reason), "unknown opcode %u", (unsigned)h->op);
        return protocol_error(d, reason);
    }
    }
}

/* Judges the second byte: the mask bit for our role and a control frame's length. Returns
 * the bytes of extended length that follow (0, 2 or 8) or an error. */
static int judge_second_byte(struct mr_ws_decoder *d, uint8_t b1, struct frame_head *h)
{
    h->masked = (b1 & 0x80) != 0;
    uint8_t len7 = b1 & 0x7f;
    if (d->role == MR_WS_ROLE_SERVER && d->mask_required && !h->masked) {
        return protocol_error(d, "mask bit missing");
    }
    /* RFC 6455 5.1: a client closes on a masked frame from the server. */
    if (d->role == MR_WS_ROLE_CLIENT && h->masked) {
        return protocol_error(d, "masked frame from server");
    }
    if (is_control(h->op) && len7 > MR_WS_CONTROL_MAX) {
        return protocol_error(d, "control frame length bigger than maximum allowed of 125 "
                                 "bytes");
    }
    h->len = len7;
    return len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
}

/* Judges the header at the front of b[0, n) byte by byte. Returns its length (with the
 * masking key) once complete, MR_AGAIN (need_bytes set), or an error. */
static int parse_head(struct mr_ws_decoder *d, const uint8_t *b, size_t n, struct frame_head *h)
{
    memset(h, 0, sizeof(*h));
    mr_assert(n >= 1);
    int rc = judge_first_byte(d, b[0], h);
    if (rc < 0) {
        return rc;
    }
    if (n < 2) {
        d->need_bytes = 2;
        return MR_AGAIN;
    }
    int ext = judge_second_byte(d, b[1], h);
    if (ext < 0) {
        return ext;
    }
    size_t head_len = 2 + (size_t)ext + (h->masked ? 4 : 0);
    if (n < 2 + (size_t)ext) {
        d->need_bytes = head_len;
        return MR_AGAIN;
    }
    if (ext > 0) {
        uint64_t len = 0;
        for (int i = 0; i < ext; i++) {
            len = len << 8 | b[2 + i];
        }
        /* RFC 6455 5.2: the most significant bit of a 64-bit length must be 0. Lengths
         * that a shorter form could carry are accepted, as nats-server does. */
        if (len >> 63 != 0) {
            return protocol_error(d, "invalid frame length");
        }
        h->len = len;
    }
    if (!is_control(h->op)) {
        uint64_t so_far = h->op == MR_WS_OP_CONTINUATION ? d->message_bytes : 0;
        mr_assert(so_far <= d->message_max);
        if (h->len > d->message_max - so_far) {
            char reason[MR_WS_REASON_MAX + 1];
            snprintf(reason, sizeof(reason),
                     "frame of %" PRIu64 " bytes takes the message over %" PRIu64 " bytes",
                     h->len, d->message_max);
            return decode_fail(d, MR_E_PROTO_MAX_PAYLOAD, MR_WS_CLOSE_TOO_BIG, reason);
        }
    }
    if (n < head_len) {
        d->need_bytes = head_len;
        return MR_AGAIN;
    }
    if (h->masked) {
        memcpy(h->key, b + head_len - 4, 4);
    }
    h->head_len = head_len;
    mr_assert(head_len >= 2 && head_len <= MR_WS_HEADER_MAX);
    return (int)head_len;
}

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing above U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t more;
        uint32_t cp;
        uint32_t min;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            more = 1, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            more = 2, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            more = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i - 1 < more) {
            return false;
        }
        for (size_t k = 1; k <= more; k++) {
            if ((s[i + k] & 0xc0) != 0x80) {
                return false;
            }
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
            return false;
        }
        i += more + 1;
    }
    return true;
}

/* Close codes a peer may send (RFC 6455 7.4): the defined ones except those reserved for
 * local use (1004 to 1006, 1015), and the registered and private ranges. */
static bool close_code_valid(uint16_t code)
{
    if (code >= 3000 && code <= 4999) {
        return true;
    }
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}

/* A whole control frame is in buf: unmask it (into a copy first, so a rejected frame
 * leaves buf untouched), judge a close payload, fill the event. */
static int control_frame(struct mr_ws_decoder *d, uint8_t *buf, const struct frame_head *h,
                         struct mr_ws_event *ev)
{
    mr_assert(h->len <= MR_WS_CONTROL_MAX);
    size_t n = (size_t)h->len;
    uint8_t tmp[MR_WS_CONTROL_MAX];
    uint8_t *payload = buf + h->head_len;
    if (h->masked) {
        mr_ws_mask(tmp, payload, n, h->key, 0);
    } else if (n > 0) {
        memcpy(tmp, payload, n);
    }
    uint16_t code = MR_WS_CLOSE_NO_STATUS;
    if (h->op == MR_WS_OP_CLOSE) {
        if (n == 1) {
            return protocol_error(d, "close frame payload of 1 byte");
        }
        if (n >= 2) {
            code = (uint16_t)(tmp[0] << 8 | tmp[1]);
            if (!close_code_valid(code)) {
                char reason[48];
                snprintf(reason, sizeof(reason), "invalid close status code %u", (unsigned)code);
                return protocol_error(d, reason);
            }
            if (!utf8_valid(tmp + 2, n - 2)) {
                return decode_fail(d, MR_E_PROTO_ARGS, MR_WS_CLOSE_INVALID_DATA,
                                   "invalid utf8 body in close frame");
            }
        }
    }
    if (n > 0) {
        memcpy(payload, tmp, n);
    }
    ev->type = h->op == MR_WS_OP_CLOSE  ? MR_WS_EV_CLOSE
               : h->op == MR_WS_OP_PING ? MR_WS_EV_PING
                                        : MR_WS_EV_PONG;
    ev->opcode = h->op;
    ev->payload = payload;
    ev->len = n;
    if (h->op == MR_WS_OP_CLOSE) {
        ev->close_code = code;
        if (n > 2) {
            ev->close_reason.ptr = (const char *)payload + 2;
            ev->close_reason.len = (uint32_t)(n - 2);
        }
        d->closed = true;
    }
    size_t total = h->head_len + n;
    d->offset += total;
    return (int)total;
}

/* Delivers payload of the current data frame from buf[off, len) (off is the header just
 * consumed with it, or 0), unmasking it in place. */
static int data_chunk(struct mr_ws_decoder *d, uint8_t *buf, size_t len, size_t off,
                      struct mr_ws_event *ev)
{
    mr_assert(off <= len);
    mr_assert(off <= MR_WS_HEADER_MAX);
    uint64_t n = len - off;
    if (n > d->frame_remaining) {
        n = d->frame_remaining;
    }
    if (n > (uint64_t)INT32_MAX - off) {
        n = (uint64_t)INT32_MAX - off;
    }
    uint8_t *payload = buf + off;
    if (d->frame_masked) {
        mr_ws_mask(payload, payload, (size_t)n, d->mask_key, d->mask_pos);
    }
    d->mask_pos += n;
    d->frame_remaining -= n;
    d->in_frame = d->frame_remaining > 0;
    ev->type = MR_WS_EV_DATA;
    ev->opcode = d->message_opcode;
    ev->first = d->first_pending;
    ev->last = d->frame_fin && d->frame_remaining == 0;
    ev->compressed = d->message_compressed;
    ev->payload = payload;
    ev->len = (size_t)n;
    d->first_pending = false;
    size_t total = off + (size_t)n;
    mr_assert(total > 0);
    d->offset += total;
    return (int)total;
}

/* Opens the data frame whose header h was judged: new message state for a first frame,
 * the frame's key and length. */
static void open_data_frame(struct mr_ws_decoder *d, const struct frame_head *h)
{
    if (h->op != MR_WS_OP_CONTINUATION) {
        d->message_opcode = h->op;
        d->message_compressed = h->rsv1;
        d->message_bytes = 0;
        d->first_pending = true;
    }
    d->message_bytes += h->len;
    mr_assert(d->message_bytes <= d->message_max);
    /* A continuation is due after this frame unless it is the message's last. */
    d->in_message = !h->fin;
    d->frame_fin = h->fin;
    d->frame_masked = h->masked;
    memcpy(d->mask_key, h->key, 4);
    d->mask_pos = 0;
    d->frame_remaining = h->len;
    d->in_frame = h->len > 0;
}

int mr_ws_decode(struct mr_ws_decoder *d, uint8_t *buf, size_t len, struct mr_ws_event *ev)
{
    mr_assert(d != NULL);
    mr_assert(ev != NULL);
    mr_assert(buf != NULL || len == 0);
    memset(ev, 0, sizeof(*ev));
    d->need_bytes = 0;
    if (d->error != 0) {
        return d->error;
    }
    if (d->closed) {
        return MR_E_CLOSED;
    }
    if (len == 0) {
        return MR_AGAIN;
    }
    if (d->in_frame) {
        return data_chunk(d, buf, len, 0, ev);
    }
    struct frame_head h;
    int rc = parse_head(d, buf, len, &h);
    if (rc < 0) {
        return rc;
    }
    if (is_control(h.op)) {
        if (len - h.head_len < h.len) {
            d->need_bytes = h.head_len + (size_t)h.len;
            return MR_AGAIN;
        }
        return control_frame(d, buf, &h, ev);
    }
    /* The header goes with the first payload byte, so an event always carries the
     * frame's payload from its start. */
    if (h.len > 0 && len == h.head_len) {
        d->need_bytes = h.head_len + 1;
        return MR_AGAIN;
    }
    open_data_frame(d, &h);
    return data_chunk(d, buf, len, h.head_len, ev);
}

/* ---- frame encoder ----------------------------------------------------------------- */

size_t mr_ws_header_encode(uint8_t out[MR_WS_HEADER_MAX], enum mr_ws_opcode op, bool fin,
                           bool compressed, uint64_t len, const uint8_t *mask_key)
{
    mr_assert(out != NULL);
    mr_assert(len <= (uint64_t)INT64_MAX);
    if (is_control(op)) {
        mr_assert(fin);
        mr_assert(!compressed);
        mr_assert(len <= MR_WS_CONTROL_MAX);
    }
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (compressed ? 0x40 : 0) | (op & 0x0f));
    uint8_t mask_bit = mask_key != NULL ? 0x80 : 0;
    size_t n;
    if (len <= 125) {
        out[1] = (uint8_t)(mask_bit | len);
        n = 2;
    } else if (len <= 0xffff) {
        out[1] = mask_bit | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        n = 4;
    } else {
        out[1] = mask_bit | 127;
        for (int i = 0; i < 8; i++) {
            out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        }
        n = 10;
    }
    if (mask_key != NULL) {
        memcpy(out + n, mask_key, 4);
        n += 4;
    }
    mr_assert(n <= MR_WS_HEADER_MAX);
    return n;
}

void mr_ws_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4],
                uint64_t pos)
{
    mr_assert(key != NULL);
    mr_assert((dst != NULL && src != NULL) || len == 0);
    size_t i = 0;
    /* Eight bytes at a time with the key rotated to pos; i stays a multiple of 8, so
     * the byte loop after it picks the key up at the right place. */
    if (len >= 16) {
        uint8_t k8[8];
        for (size_t j = 0; j < 8; j++) {
            k8[j] = key[(pos + j) & 3];
        }
        uint64_t km;
        memcpy(&km, k8, sizeof(km));
        for (; i + 8 <= len; i += 8) {
            uint64_t word;
            memcpy(&word, src + i, sizeof(word));
            word ^= km;
            memcpy(dst + i, &word, sizeof(word));
        }
    }
    for (; i < len; i++) {
        dst[i] = src[i] ^ key[(pos + i) & 3];
    }
}

int mr_ws_frame_encode(uint8_t *out, size_t cap, enum mr_ws_opcode op, const uint8_t *payload,
                       size_t len, const uint8_t *mask_key)
{
    mr_assert(out != NULL);
    mr_assert(payload != NULL || len == 0);
    uint8_t head[MR_WS_HEADER_MAX];
    size_t hn = mr_ws_header_encode(head, op, true, false, len, mask_key);
    if (len > cap || hn > cap - len || hn + len > INT32_MAX) {
        return MR_E_LIMIT;
    }
    memcpy(out, head, hn);
    if (mask_key != NULL) {
        mr_ws_mask(out + hn, payload, len, mask_key, 0);
    } else if (len > 0) {
        memcpy(out + hn, payload, len);
    }
    return (int)(hn + len);
}

int mr_ws_close_encode(uint8_t *out, size_t cap, uint16_t code, const char *reason,
                       size_t reason_len, const uint8_t *mask_key)
{
    mr_assert(reason != NULL || reason_len == 0);
    if (code == 0) {
        mr_assert(reason_len == 0);
        return mr_ws_frame_encode(out, cap, MR_WS_OP_CLOSE, NULL, 0, mask_key);
    }
    uint8_t payload[MR_WS_CONTROL_MAX];
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)code;
    size_t n = 2;
    if (reason_len > MR_WS_REASON_MAX) {
        memcpy(payload + n, reason, MR_WS_REASON_MAX - 3);
        n += MR_WS_REASON_MAX - 3;
        memcpy(payload + n, "...", 3);
        n += 3;
    } else if (reason_len > 0) {
        memcpy(payload + n, reason, reason_len);
        n += reason_len;
    }
    mr_assert(n <= MR_WS_CONTROL_MAX);
    return mr_ws_frame_encode(out, cap, MR_WS_OP_CLOSE, payload, n, mask_key);
}
