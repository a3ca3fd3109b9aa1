/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The monitoring port's HTTP/1.1 request parser; the contract is in http.h.
 *
 * One call scans from the front of buf: empty lines, the request line (a small state
 * machine that judges each byte as soon as it is present, so garbage such as a NATS
 * client's "CONNECT {...}" is refused at the first impossible byte), then complete header
 * lines one at a time until the blank line, then waits for Content-Length body bytes.
 *
 * Invariants:
 *  - Decisions depend only on bytes before the decision point; nothing at or past
 *    head_max is read while looking for the end of the head. Header lines are judged
 *    only once complete. So a prefix of an input gives MR_AGAIN or the input's result.
 *  - On success 0 < returned <= len, head_len + body_len == returned, and every view lies
 *    inside buf[0, head_len) (or is the static "/" of an absolute-form target with no
 *    path).
 *  - After MR_AGAIN or an error *req is cleared; after an error p->status is 400..505.
 *  - No allocation; the only state kept between calls is need_bytes and status.
 *
 * Ownership: buf is borrowed for the call; views point into it.
 */
#include "core/proto/http.h"

#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/limits.h"

_Static_assert(MR_HTTP_HEAD_MAX + MR_HTTP_BODY_MAX <= INT32_MAX,
               "a whole request's length fits the int return value");
_Static_assert(MR_HTTP_HEAD_MAX <= UINT32_MAX, "views inside the head fit uint32_t");

/* Content-Length digits read before a value is judged too large: 19 cannot overflow
 * the uint64_t accumulator. */
#define LENGTH_DIGITS_MAX 19

static bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 9110 tchar: the bytes of methods and header names. */
static bool is_tchar(uint8_t c)
{
    if (is_alpha(c) || is_digit(c)) {
        return true;
    }
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* Bytes of a request-target: visible ASCII, and bytes >= 0x80 for lenient clients;
 * never a control, a space or DEL. */
static bool is_target_char(uint8_t c)
{
    return c > 0x20 && c != 0x7f;
}

/* Bytes of a header value: visible ASCII, space, tab, obs-text. */
static bool is_value_char(uint8_t c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static uint8_t lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

/* True if s[0, n) equals the lower-case word, ignoring ASCII case. */
static bool word_is(const uint8_t *s, size_t n, const char *word)
{
    size_t wn = strlen(word);
    if (n != wn) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (lower(s[i]) != (uint8_t)word[i]) {
            return false;
        }
    }
    return true;
}

static int fail(struct mr_http_parser *p, int err, uint16_t status)
{
    mr_assert(err < 0);
    mr_assert(status >= 400 && status <= 505);
    p->status = status;
    return err;
}

static void req_clear(struct mr_http_request *req)
{
    memset(req, 0, sizeof(*req));
}

/* What the header lines said, gathered while scanning them. */
struct head_facts {
    bool conn_close;
    bool conn_keep_alive;
    bool has_length;
    uint64_t length;
    uint32_t hosts;
};

/* ---- request line ------------------------------------------------------------------ */

/* Scans the request line "METHOD SP target SP HTTP/d.d CRLF" in b[0, n), byte by byte.
 * Returns its length including the line end once complete, MR_AGAIN while every byte so
 * far can still start a valid line, or an error. Fills method and target views and the
 * version. Single spaces only, as Go's server splits the line on exactly one. A byte-level
 * state machine, kept in one piece so each byte's judgement is in one place. */
static int scan_request_line(struct mr_http_parser *p, const uint8_t *b, size_t n,
                             struct mr_http_request *req, uint8_t *major)
{
    static const char proto[] = "HTTP/";
    size_t i = 0;
    while (i < n && is_tchar(b[i])) {
        i++;
    }
    if (i == n) {
        return MR_AGAIN;
    }
    if (b[i] != ' ' || i == 0) {
        return fail(p, MR_E_PROTO_ARGS, 400);
    }
    req->method_name.ptr = (const char *)b;
    req->method_name.len = (uint32_t)i;
    size_t t = ++i;
    if (i == n) {
        return MR_AGAIN;
    }
    /* origin-form starts with '/', absolute-form with a scheme, asterisk-form is "*". */
    if (b[i] != '/' && b[i] != '*' && !is_alpha(b[i])) {
        return fail(p, MR_E_PROTO_ARGS, 400);
    }
    while (i < n && is_target_char(b[i])) {
        i++;
    }
    if (i == n) {
        return MR_AGAIN;
    }
    if (b[i] != ' ') {
        return fail(p, MR_E_PROTO_ARGS, 400);
    }
    req->target.ptr = (const char *)b + t;
    req->target.len = (uint32_t)(i - t);
    i++;
    for (size_t k = 0; k < sizeof(proto) - 1; k++, i++) {
        if (i == n) {
            return MR_AGAIN;
        }
        if (b[i] != (uint8_t)proto[k]) {
            return fail(p, MR_E_PROTO_ARGS, 400);
        }
    }
    /* "HTTP/" DIGIT "." DIGIT, then CRLF or LF. */
    static const char shape[] = "d.d";
    uint8_t digits[2] = {0, 0};
    for (size_t k = 0; k < sizeof(shape) - 1; k++, i++) {
        if (i == n) {
            return MR_AGAIN;
        }
        if (shape[k] == 'd' ? !is_digit(b[i]) : b[i] != '.') {
            return fail(p, MR_E_PROTO_ARGS, 400);
        }
        if (shape[k] == 'd') {
            digits[k / 2] = (uint8_t)(b[i] - '0');
        }
    }
    if (i == n) {
        return MR_AGAIN;
    }
    if (b[i] == '\r') {
        if (++i == n) {
            return MR_AGAIN;
        }
    }
    if (b[i] != '\n') {
        return fail(p, MR_E_PROTO_ARGS, 400);
    }
    *major = digits[0];
    req->minor_version = digits[1];
    mr_assert(i + 1 <= n);
    return (int)(i + 1);
}

/* Splits the complete target into path and query: origin-form "/p?q", absolute-form
 * "http://host/p?q" (path "/" when it has none), asterisk-form "*". A '#' fragment is
 * dropped. */
static int split_target(struct mr_http_parser *p, struct mr_http_request *req)
{
    static const char root[] = "/";
    const char *s = req->target.ptr;
    size_t n = req->target.len;
    const char *hash = memchr(s, '#', n);
    if (hash != NULL) {
        n = (size_t)(hash - s);
    }
    size_t start = 0;
    if (s[0] == '*') {
        if (n != 1) {
            return fail(p, MR_E_PROTO_ARGS, 400);
        }
    } else if (s[0] != '/') {
        const uint8_t *u = (const uint8_t *)s;
        size_t scheme = 0;
        if (n >= 7 && word_is(u, 7, "http://")) {
            scheme = 7;
        } else if (n >= 8 && word_is(u, 8, "https://")) {
            scheme = 8;
        } else {
            return fail(p, MR_E_PROTO_ARGS, 400);
        }
        start = scheme;
        while (start < n && s[start] != '/' && s[start] != '?') {
            start++;
        }
        if (start == scheme) {
            return fail(p, MR_E_PROTO_ARGS, 400); /* no host */
        }
    }
    const char *q = memchr(s + start, '?', n - start);
    size_t path_end = q != NULL ? (size_t)(q - s) : n;
    if (path_end == start) {
        req->path.ptr = root;
        req->path.len = 1;
    } else {
        req->path.ptr = s + start;
        req->path.len = (uint32_t)(path_end - start);
    }
    if (q != NULL) {
        req->query.ptr = q + 1;
        req->query.len = (uint32_t)(n - path_end - 1);
    }
    return MR_OK;
}

/* ---- header lines ------------------------------------------------------------------ */

/* "Connection: close, keep-alive": a comma-separated list of tokens. */
static void read_connection(const uint8_t *v, size_t n, struct head_facts *f)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) {
            i++;
        }
        size_t start = i;
        while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t') {
            i++;
        }
        if (word_is(v + start, i - start, "close")) {
            f->conn_close = true;
        } else if (word_is(v + start, i - start, "keep-alive")) {
            f->conn_keep_alive = true;
        }
    }
}

static int read_content_length(struct mr_http_parser *p, const uint8_t *v, size_t n,
                               struct head_facts *f)
{
    if (n == 0 || n > LENGTH_DIGITS_MAX) {
        return fail(p, MR_E_PROTO_ARGS, 400);
    }
    uint64_t len = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(v[i])) {
            return fail(p, MR_E_PROTO_ARGS, 400);
        }
        len = len * 10 + (uint64_t)(v[i] - '0');
    }
    /* Repeats must agree (RFC 9112 6.3): a disagreement is a smuggling attempt. */
    if (f->has_length && f->length != len) {
        return fail(p, MR_E_PROTO_ARGS, 400);
    }
    if (len > p->body_max) {
        return fail(p, MR_E_PROTO_MAX_PAYLOAD, 413);
    }
    f->has_length = true;
    f->length = len;
    return MR_OK;
}

/* One complete header line without its line end: name ':' OWS value OWS. */
static int read_header(struct mr_http_parser *p, const uint8_t *l, size_t n, struct head_facts *f)
{
    size_t i = 0;
    while (i < n && is_tchar(l[i])) {
        i++;
    }
    /* Nothing but a token may precede the colon: "Host : x" and obs-fold lines that
     * start with a blank are refused (RFC 9112 5.1, 5.2). */
    if (i == 0 || i == n || l[i] != ':') {
        return fail(p, MR_E_PROTO_ARGS, 400);
    }
    size_t name_len = i++;
    while (i < n && (l[i] == ' ' || l[i] == '\t')) {
        i++;
    }
    size_t vstart = i;
    size_t vend = n;
    while (vend > vstart && (l[vend - 1] == ' ' || l[vend - 1] == '\t')) {
        vend--;
    }
    for (size_t k = vstart; k < vend; k++) {
        if (!is_value_char(l[k])) {
            return fail(p, MR_E_PROTO_ARGS, 400);
        }
    }
    const uint8_t *v = l + vstart;
    size_t vn = vend - vstart;
    if (word_is(l, name_len, "connection")) {
        read_connection(v, vn, f);
    } else if (word_is(l, name_len, "content-length")) {
        return read_content_length(p, v, vn, f);
    } else if (word_is(l, name_len, "transfer-encoding")) {
        return fail(p, MR_E_UNSUPPORTED, 501);
    } else if (word_is(l, name_len, "host")) {
        if (++f->hosts > 1) {
            return fail(p, MR_E_PROTO_ARGS, 400);
        }
    }
    return MR_OK;
}

/* Reads header lines from b[off, avail) up to the blank line. Returns the head's length
 * (through the blank line), MR_AGAIN, or an error. avail is at most head_max. */
static int scan_headers(struct mr_http_parser *p, const uint8_t *b, size_t off, size_t avail,
                        struct mr_http_request *req, struct head_facts *f)
{
    for (;;) {
        const uint8_t *nl = memchr(b + off, '\n', avail - off);
        if (nl == NULL) {
            if (avail == p->head_max) {
                return fail(p, MR_E_PROTO_CONTROL_LINE, 431);
            }
            return MR_AGAIN;
        }
        size_t end = (size_t)(nl - b);
        size_t content_end = end;
        if (content_end > off && b[content_end - 1] == '\r') {
            content_end--;
        }
        if (content_end == off) {
            return (int)(end + 1);
        }
        if (req->headers_count == p->headers_max) {
            return fail(p, MR_E_LIMIT, 431);
        }
        req->headers_count++;
        int rc = read_header(p, b + off, content_end - off, f);
        if (rc < 0) {
            return rc;
        }
        off = end + 1;
    }
}

/* ---- one request ------------------------------------------------------------------- */

void mr_http_parser_init(struct mr_http_parser *p, uint32_t head_max, uint32_t headers_max,
                         uint32_t body_max)
{
    mr_assert(p != NULL);
    mr_assert(head_max >= 16);
    mr_assert(head_max <= MR_HTTP_HEAD_MAX);
    mr_assert(body_max <= MR_HTTP_BODY_MAX);
    p->head_max = head_max;
    p->headers_max = headers_max;
    p->body_max = body_max;
    p->need_bytes = 0;
    p->status = 0;
}

/* Skips empty lines before the request line (RFC 9112 2.2). Returns the offset of the
 * first byte of the request line, MR_AGAIN, or an error. */
static int skip_empty_lines(struct mr_http_parser *p, const uint8_t *b, size_t avail)
{
    size_t i = 0;
    for (;;) {
        if (i == avail) {
            return avail == p->head_max ? fail(p, MR_E_PROTO_CONTROL_LINE, 431) : MR_AGAIN;
        }
        if (b[i] == '\n') {
            i++;
        } else if (b[i] == '\r') {
            if (i + 1 == avail) {
                return avail == p->head_max ? fail(p, MR_E_PROTO_CONTROL_LINE, 431) : MR_AGAIN;
            }
            if (b[i + 1] != '\n') {
                return fail(p, MR_E_PROTO_ARGS, 400);
            }
            i += 2;
        } else {
            return (int)i;
        }
    }
}

/* Parses the head in b[0, avail): returns its length, MR_AGAIN or an error. */
static int parse_head(struct mr_http_parser *p, const uint8_t *b, size_t avail,
                      struct mr_http_request *req, struct head_facts *f)
{
    int start = skip_empty_lines(p, b, avail);
    if (start < 0) {
        return start;
    }
    uint8_t major = 0;
    int line = scan_request_line(p, b + start, avail - (size_t)start, req, &major);
    if (line == MR_AGAIN && avail == p->head_max) {
        return fail(p, MR_E_PROTO_CONTROL_LINE, 431);
    }
    if (line < 0) {
        return line;
    }
    /* The version is judged once the line is whole, so "HTTP/2.0" with junk after it is
     * a 400 like any malformed line, not a 505. */
    if (major != 1) {
        return fail(p, MR_E_UNSUPPORTED, 505);
    }
    int rc = split_target(p, req);
    if (rc < 0) {
        return rc;
    }
    int head = scan_headers(p, b, (size_t)start + (size_t)line, avail, req, f);
    if (head < 0) {
        return head;
    }
    if (req->minor_version >= 1 && f->hosts == 0) {
        return fail(p, MR_E_PROTO_ARGS, 400); /* Go: "missing required Host header" */
    }
    return head;
}

int mr_http_parse(struct mr_http_parser *p, const uint8_t *buf, size_t len,
                  struct mr_http_request *req)
{
    mr_assert(p != NULL);
    mr_assert(req != NULL);
    mr_assert(buf != NULL || len == 0);
    req_clear(req);
    p->need_bytes = 0;
    p->status = 0;
    if (len == 0) {
        return MR_AGAIN;
    }
    size_t avail = len < p->head_max ? len : p->head_max;
    struct head_facts f;
    memset(&f, 0, sizeof(f));
    int head = parse_head(p, buf, avail, req, &f);
    if (head < 0) {
        req_clear(req);
        return head;
    }
    mr_assert((size_t)head <= avail);
    req->head_len = (uint32_t)head;
    req->body_len = (uint32_t)f.length;
    /* Methods are case-sensitive (RFC 9110 9.1): "get" is some other method. */
    if (req->method_name.len == 3 && memcmp(req->method_name.ptr, "GET", 3) == 0) {
        req->method = MR_HTTP_GET;
    } else if (req->method_name.len == 4 && memcmp(req->method_name.ptr, "HEAD", 4) == 0) {
        req->method = MR_HTTP_HEAD;
    }
    /* HTTP/1.1 keeps the connection unless told to close; HTTP/1.0 closes unless asked
     * to keep it. */
    req->keep_alive = req->minor_version >= 1 ? !f.conn_close : f.conn_keep_alive && !f.conn_close;
    size_t total = (size_t)head + f.length;
    if (len < total) {
        req_clear(req);
        p->need_bytes = total;
        return MR_AGAIN;
    }
    mr_assert(total <= (size_t)MR_HTTP_HEAD_MAX + MR_HTTP_BODY_MAX);
    return (int)total;
}

/* ---- query strings ----------------------------------------------------------------- */

static int unhex(uint8_t c)
{
    if (is_digit(c)) {
        return c - '0';
    }
    uint8_t l = lower(c);
    if (l >= 'a' && l <= 'f') {
        return l - 'a' + 10;
    }
    return -1;
}

/* Percent-decodes s[0, n) ('+' is a space) into out when out != NULL (at most cap
 * bytes; the caller checked the length). Returns the decoded length, or -1 for a bad
 * escape. Decoded text is never longer than the input. */
static int64_t unescape(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c == '%') {
            if (i + 2 >= n) {
                return -1;
            }
            int hi = unhex((uint8_t)s[i + 1]);
            int lo = unhex((uint8_t)s[i + 2]);
            if (hi < 0 || lo < 0) {
                return -1;
            }
            c = (uint8_t)(hi * 16 + lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (out != NULL) {
            mr_assert(o < cap);
            out[o] = (char)c;
        }
        o++;
    }
    return (int64_t)o;
}

/* True if s[0, n) decodes (validly) to exactly key. */
static bool key_is(const char *s, size_t n, const char *key)
{
    size_t kn = strlen(key);
    size_t k = 0;
    for (size_t i = 0; i < n; i++, k++) {
        uint8_t c = (uint8_t)s[i];
        if (c == '%') {
            if (i + 2 >= n || unhex((uint8_t)s[i + 1]) < 0 || unhex((uint8_t)s[i + 2]) < 0) {
                return false;
            }
            c = (uint8_t)(unhex((uint8_t)s[i + 1]) * 16 + unhex((uint8_t)s[i + 2]));
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (k == kn || c != (uint8_t)key[k]) {
            return false;
        }
    }
    return k == kn;
}

int mr_http_query_get(const char *query, size_t len, const char *key, char *out, size_t out_cap)
{
    mr_assert(key != NULL);
    mr_assert(out != NULL);
    mr_assert(out_cap > 0);
    mr_assert(query != NULL || len == 0);
    size_t i = 0;
    while (i < len) {
        const char *amp = memchr(query + i, '&', len - i);
        size_t end = amp != NULL ? (size_t)(amp - query) : len;
        const char *pair = query + i;
        size_t pn = end - i;
        i = amp != NULL ? end + 1 : len;
        if (pn == 0 || memchr(pair, ';', pn) != NULL) {
            continue;
        }
        const char *eq = memchr(pair, '=', pn);
        size_t kn = eq != NULL ? (size_t)(eq - pair) : pn;
        const char *v = eq != NULL ? eq + 1 : pair + pn;
        size_t vn = eq != NULL ? pn - kn - 1 : 0;
        if (!key_is(pair, kn, key)) {
            continue;
        }
        int64_t dn = unescape(v, vn, NULL, 0);
        if (dn < 0) {
            continue;
        }
        if ((size_t)dn >= out_cap) {
            return MR_E_LIMIT;
        }
        (void)unescape(v, vn, out, out_cap);
        out[dn] = '\0';
        mr_assert(dn <= INT32_MAX);
        return (int)dn;
    }
    return MR_E_NOT_FOUND;
}

int mr_http_path_decode(const char *path, size_t len, char *out, size_t out_cap)
{
    mr_assert(path != NULL || len == 0);
    mr_assert(out != NULL);
    mr_assert(out_cap > 0);
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)path[i];
        if (c == '%') {
            if (i + 2 >= len) {
                return MR_E_PROTO_ARGS;
            }
            int hi = unhex((uint8_t)path[i + 1]);
            int lo = unhex((uint8_t)path[i + 2]);
            if (hi < 0 || lo < 0) {
                return MR_E_PROTO_ARGS;
            }
            c = (uint8_t)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= out_cap) {
            return MR_E_LIMIT;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    mr_assert(o <= INT32_MAX);
    return (int)o;
}

const char *mr_http_status_text(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Request Entity Too Large";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Unknown";
    }
}
