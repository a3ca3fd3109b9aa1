/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Check suite "http": the monitoring port's HTTP/1.1 request parser and query decoding
 * (core/proto/http.h).
 *
 * Table-driven, like test_parser.c. Every valid sample is parsed whole with exact views,
 * cut at every length (MR_AGAIN, need_bytes exact once the head is complete and a body
 * is due), and split at every byte across two calls; all samples are streamed as one
 * buffer (pipelined) and in chunks of every size up to 64 through a receive buffer. Every
 * error sample checks the error and the status, and that each prefix gives MR_AGAIN or
 * the same error. Inputs sit right before a PROT_NONE page, so any read past len crashes
 * the test. Limits (head, header count, body) are checked at their exact boundaries.
 *
 * ------------------------------------------------------------------------------------------
 * nats-server 2.9.10's monitoring port (Go's net/http), observed with raw sockets on
 * 127.0.0.1; this is what the parser and monitor.c follow, and where they differ:
 *
 *   input                                   nats-server 2.9.10         meridian
 *   GET /healthz HTTP/1.1, no Host          400 "missing required      400 (ARGS), close
 *                                             Host header", close
 *   GET /healthz HTTP/1.0, no Host          200, HTTP/1.0, close       same
 *   HTTP/1.0 + Connection: keep-alive       200, kept open             same
 *   HTTP/1.2                                200, treated as 1.1        same
 *   HTTP/2.0                                505, close                 505 (UNSUPPORTED)
 *   GET  /x (two spaces) | no colon |       400, close                 400 (ARGS)
 *     "Host : x" | two Host headers |
 *     Content-Length 1 and 2 | "abc"
 *   CONNECT {"verbose":false} (a NATS       400, close                 400 at the '{'
 *     client on the wrong port)
 *   bare LF line ends | absolute-form       200                        same
 *     target | %-escaped path
 *   pipelined requests, last one close      answered in order, close   same (at most
 *                                                                       MR_HTTP_PIPELINE_MAX)
 *   "get" (lower case) | POST | OPTIONS *   200 (any method)           405, Allow: GET, HEAD (1)
 *   obs-fold header line (" b")             200 (folded)               400 (2)
 *   CRLF before the request line            400                        ignored (3)
 *   Transfer-Encoding: chunked              200 (body read)            501 (4)
 *   /connz?limit=1#frag                     400: parsing "1#frag"      fragment dropped (5)
 *
 *  (1) The monitoring endpoints are read-only; other methods are refused.
 *  (2) RFC 9112 5.2 lets a server reject obs-fold with a 400.
 *  (3) RFC 9112 2.2: a server SHOULD ignore empty lines before the request line.
 *  (4) No monitoring request has a body; chunked bodies are not parsed.
 *  (5) Clients never send fragments; the target ends at '#'.
 * ------------------------------------------------------------------------------------------
 */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/proto/http.h"

#define ARENA_BYTES (256 * 1024)
#define STREAM_BYTES (64 * 1024)

/* ---- guarded input -------------------------------------------------------------- */

static uint8_t *arena_end;

/* Copies src to the very end of a mapping followed by a PROT_NONE page, so reading
 * buf[len] faults. */
static const uint8_t *at_guard(const void *src, size_t len)
{
    if (arena_end == NULL) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        size_t data = (ARENA_BYTES + page - 1) / page * page;
        uint8_t *map =
            mmap(NULL, data + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        ck_assert(map != MAP_FAILED);
        ck_assert_int_eq(mprotect(map + data, page, PROT_NONE), 0);
        arena_end = map + data;
    }
    ck_assert_uint_le(len, ARENA_BYTES);
    uint8_t *dst = arena_end - len;
    if (len > 0) {
        memmove(dst, src, len);
    }
    return dst;
}

static struct mr_http_parser default_parser(void)
{
    struct mr_http_parser p;
    mr_http_parser_init(&p, MR_HTTP_HEAD_MAX, MR_HTTP_HEADERS_MAX, MR_HTTP_BODY_MAX);
    return p;
}

static int parse_at_guard(struct mr_http_parser *p, const void *src, size_t len,
                          struct mr_http_request *req, const uint8_t **where)
{
    const uint8_t *buf = at_guard(src, len);
    if (where != NULL) {
        *where = buf;
    }
    return mr_http_parse(p, buf, len, req);
}

/* ---- samples ------------------------------------------------------------------ */

struct sample {
    const char *name;
    const char *in;
    size_t in_len;
    enum mr_http_method method;
    const char *method_name;
    const char *path;
    const char *query; /* NULL: absent; "" present and empty */
    uint8_t minor;
    bool keep_alive;
    uint32_t headers;
    uint32_t body; /* Content-Length */
};

#define IN(s) .in = (s), .in_len = sizeof(s) - 1
#define H "Host: x\r\n"

static const struct sample valid[] = {
    {"get_root", IN("GET / HTTP/1.1\r\n" H "\r\n"), MR_HTTP_GET, "GET", "/", NULL, 1, true, 1},
    {"get_query_curl",
     IN("GET /connz?limit=2&sort=cid HTTP/1.1\r\nHost: 127.0.0.1:8222\r\n"
        "User-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"),
     MR_HTTP_GET, "GET", "/connz", "limit=2&sort=cid", 1, true, 3},
    {"head", IN("HEAD /varz HTTP/1.1\r\n" H "\r\n"), MR_HTTP_HEAD, "HEAD", "/varz", NULL, 1, true,
     1},
    {"http10_closes", IN("GET /varz HTTP/1.0\r\n\r\n"), MR_HTTP_GET, "GET", "/varz", NULL, 0,
     false, 0},
    {"http10_keep_alive", IN("GET /varz HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"), MR_HTTP_GET,
     "GET", "/varz", NULL, 0, true, 1},
    {"http10_keep_alive_then_close",
     IN("GET /varz HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"), MR_HTTP_GET,
     "GET", "/varz", NULL, 0, false, 2},
    {"http11_close", IN("GET /varz HTTP/1.1\r\n" H "Connection: close\r\n\r\n"), MR_HTTP_GET,
     "GET", "/varz", NULL, 1, false, 2},
    {"connection_token_list", IN("GET / HTTP/1.1\r\n" H "Connection: Upgrade,  CLOSE \r\n\r\n"),
     MR_HTTP_GET, "GET", "/", NULL, 1, false, 2},
    {"http12_is_http11", IN("GET / HTTP/1.2\r\n" H "\r\n"), MR_HTTP_GET, "GET", "/", NULL, 2,
     true, 1},
    {"bare_lf", IN("GET /healthz HTTP/1.1\nHost: x\n\n"), MR_HTTP_GET, "GET", "/healthz", NULL,
     1, true, 1},
    {"mixed_line_ends", IN("GET /healthz HTTP/1.1\r\nHost: x\n\r\n"), MR_HTTP_GET, "GET",
     "/healthz", NULL, 1, true, 1},
    {"leading_empty_lines", IN("\r\n\nGET / HTTP/1.1\r\n" H "\r\n"), MR_HTTP_GET, "GET", "/",
     NULL, 1, true, 1},
    {"absolute_form", IN("GET http://localhost:8222/connz?subs=1 HTTP/1.1\r\n" H "\r\n"),
     MR_HTTP_GET, "GET", "/connz", "subs=1", 1, true, 1},
    {"absolute_form_https_caps", IN("GET HTTPS://h/varz HTTP/1.1\r\n" H "\r\n"), MR_HTTP_GET,
     "GET", "/varz", NULL, 1, true, 1},
    {"absolute_form_no_path", IN("GET http://localhost HTTP/1.1\r\n" H "\r\n"), MR_HTTP_GET, "GET",
     "/", NULL, 1, true, 1},
    {"absolute_form_query_only", IN("GET http://h?x=1 HTTP/1.1\r\n" H "\r\n"), MR_HTTP_GET, "GET",
     "/", "x=1", 1, true, 1},
    {"fragment_dropped", IN("GET /connz?x=1#top HTTP/1.1\r\n" H "\r\n"), MR_HTTP_GET, "GET",
     "/connz", "x=1", 1, true, 1},
    {"empty_query", IN("GET /varz? HTTP/1.1\r\n" H "\r\n"), MR_HTTP_GET, "GET", "/varz", "", 1,
     true, 1},
    {"query_with_question_marks", IN("GET /a?b?c=d HTTP/1.1\r\n" H "\r\n"), MR_HTTP_GET, "GET",
     "/a", "b?c=d", 1, true, 1},
    {"post_body_skipped", IN("POST /healthz HTTP/1.1\r\n" H "Content-Length: 5\r\n\r\nhello"),
     MR_HTTP_OTHER, "POST", "/healthz", NULL, 1, true, 2, 5},
    {"get_with_body", IN("GET / HTTP/1.1\r\n" H "Content-Length: 3\r\n\r\nabc"), MR_HTTP_GET,
     "GET", "/", NULL, 1, true, 2, 3},
    {"zero_content_length", IN("GET / HTTP/1.1\r\n" H "Content-Length: 0\r\n\r\n"), MR_HTTP_GET,
     "GET", "/", NULL, 1, true, 2, 0},
    {"repeated_equal_length",
     IN("GET / HTTP/1.1\r\n" H "Content-Length: 2\r\nContent-Length: 2\r\n\r\nok"), MR_HTTP_GET,
     "GET", "/", NULL, 1, true, 3, 2},
    {"header_names_any_case", IN("GET / HTTP/1.1\r\nhOsT: x\r\nCONTENT-LENGTH: 1\r\n\r\nZ"),
     MR_HTTP_GET, "GET", "/", NULL, 1, true, 2, 1},
    {"header_whitespace", IN("GET / HTTP/1.1\r\nHost:x\r\nX-A: \t v \t\r\nX-B:\r\n\r\n"),
     MR_HTTP_GET, "GET", "/", NULL, 1, true, 3},
    {"header_value_utf8", IN("GET / HTTP/1.1\r\n" H "X-N: caf\xc3\xa9\r\n\r\n"), MR_HTTP_GET,
     "GET", "/", NULL, 1, true, 2},
    {"target_utf8", IN("GET /caf\xc3\xa9 HTTP/1.1\r\n" H "\r\n"), MR_HTTP_GET, "GET",
     "/caf\xc3\xa9", NULL, 1, true, 1},
    {"lowercase_get_is_other", IN("get / HTTP/1.1\r\n" H "\r\n"), MR_HTTP_OTHER, "get", "/", NULL,
     1, true, 1},
    {"asterisk_form", IN("OPTIONS * HTTP/1.1\r\n" H "\r\n"), MR_HTTP_OTHER, "OPTIONS", "*", NULL,
     1, true, 1},
    {"method_token_chars", IN("M-S.E_A~RCH! / HTTP/1.1\r\n" H "\r\n"), MR_HTTP_OTHER,
     "M-S.E_A~RCH!", "/", NULL, 1, true, 1},
};
#define VALID_COUNT (sizeof(valid) / sizeof(valid[0]))

static void check_view(const char *sname, const char *what, struct mr_view v, const char *want,
                       const uint8_t *buf, size_t len)
{
    if (want == NULL) {
        ck_assert_msg(v.ptr == NULL && v.len == 0, "%s: %s should be absent", sname, what);
        return;
    }
    ck_assert_msg(v.ptr != NULL, "%s: %s absent", sname, what);
    ck_assert_msg(v.len == strlen(want) && memcmp(v.ptr, want, v.len) == 0,
                  "%s: %s is '%.*s', want '%s'", sname, what, (int)v.len, v.ptr, want);
    /* Views point into the input, except the static "/" of a path-less absolute form. */
    bool inside = (const uint8_t *)v.ptr >= buf && (const uint8_t *)v.ptr + v.len <= buf + len;
    ck_assert_msg(inside || (v.len == 1 && v.ptr[0] == '/'), "%s: %s outside buf", sname, what);
}

static void check_req(const struct sample *s, int rc, const struct mr_http_request *r,
                      const uint8_t *buf)
{
    ck_assert_msg(rc == (int)s->in_len, "%s: rc %d (%s), want %zu", s->name, rc, mr_err_name(rc),
                  s->in_len);
    ck_assert_int_eq(r->method, s->method);
    check_view(s->name, "method", r->method_name, s->method_name, buf, s->in_len);
    check_view(s->name, "path", r->path, s->path, buf, s->in_len);
    check_view(s->name, "query", r->query, s->query, buf, s->in_len);
    ck_assert_uint_eq(r->minor_version, s->minor);
    ck_assert_msg(r->keep_alive == s->keep_alive, "%s: keep_alive", s->name);
    ck_assert_uint_eq(r->headers_count, s->headers);
    ck_assert_uint_eq(r->body_len, s->body);
    ck_assert_uint_eq(r->head_len + r->body_len, s->in_len);
    /* The target is the request line's second word. */
    ck_assert_ptr_nonnull(r->target.ptr);
    ck_assert_uint_gt(r->target.len, 0);
}

static void check_cleared(const struct mr_http_request *r)
{
    ck_assert_int_eq(r->method, MR_HTTP_OTHER);
    ck_assert_ptr_null(r->method_name.ptr);
    ck_assert_ptr_null(r->target.ptr);
    ck_assert_ptr_null(r->path.ptr);
    ck_assert_ptr_null(r->query.ptr);
    ck_assert_uint_eq(r->head_len, 0);
    ck_assert_uint_eq(r->body_len, 0);
}

START_TEST(valid_sample_parses_with_exact_fields)
{
    for (size_t i = 0; i < VALID_COUNT; i++) {
        struct mr_http_parser p = default_parser();
        struct mr_http_request req;
        const uint8_t *buf;
        int rc = parse_at_guard(&p, valid[i].in, valid[i].in_len, &req, &buf);
        check_req(&valid[i], rc, &req, buf);
        ck_assert_uint_eq(p.need_bytes, 0);
        ck_assert_uint_eq(p.status, 0);
    }
}
END_TEST

START_TEST(valid_sample_cut_at_every_length_needs_more)
{
    for (size_t i = 0; i < VALID_COUNT; i++) {
        const struct sample *s = &valid[i];
        size_t head_len = s->in_len - s->body;
        for (size_t cut = 0; cut < s->in_len; cut++) {
            struct mr_http_parser p = default_parser();
            struct mr_http_request req;
            int rc = parse_at_guard(&p, s->in, cut, &req, NULL);
            ck_assert_msg(rc == MR_AGAIN, "%s cut %zu: rc %s", s->name, cut, mr_err_name(rc));
            check_cleared(&req);
            /* The whole length is known once the head is complete and a body is due. */
            size_t want = cut >= head_len ? s->in_len : 0;
            ck_assert_msg(p.need_bytes == want, "%s cut %zu: need_bytes %zu, want %zu", s->name,
                          cut, p.need_bytes, want);
        }
    }
}
END_TEST

START_TEST(valid_sample_split_at_every_byte_gives_same_request)
{
    for (size_t i = 0; i < VALID_COUNT; i++) {
        const struct sample *s = &valid[i];
        for (size_t cut = 0; cut <= s->in_len; cut++) {
            struct mr_http_parser p = default_parser();
            struct mr_http_request req;
            int rc = parse_at_guard(&p, s->in, cut, &req, NULL);
            if (cut < s->in_len) {
                ck_assert_msg(rc == MR_AGAIN, "%s cut %zu: rc %s", s->name, cut, mr_err_name(rc));
            }
            const uint8_t *buf;
            rc = parse_at_guard(&p, s->in, s->in_len, &req, &buf);
            check_req(s, rc, &req, buf);
        }
    }
}
END_TEST

START_TEST(empty_input_needs_more)
{
    struct mr_http_parser p = default_parser();
    struct mr_http_request req;
    ck_assert_int_eq(parse_at_guard(&p, "", 0, &req, NULL), MR_AGAIN);
    ck_assert_uint_eq(p.need_bytes, 0);
    check_cleared(&req);
}
END_TEST

/* ---- streams ------------------------------------------------------------------ */

static size_t build_stream(uint8_t *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < VALID_COUNT; i++) {
        /* HTTP/1.0 samples may hold no further request after them in real life, but the
         * parser does not care: it parses whatever follows. */
        ck_assert_uint_le(n + valid[i].in_len, cap);
        memcpy(out + n, valid[i].in, valid[i].in_len);
        n += valid[i].in_len;
    }
    return n;
}

START_TEST(pipelined_samples_in_one_buffer)
{
    static uint8_t stream[STREAM_BYTES];
    size_t len = build_stream(stream, sizeof(stream));
    const uint8_t *buf = at_guard(stream, len);
    struct mr_http_parser p = default_parser();
    size_t off = 0;
    for (size_t i = 0; i < VALID_COUNT; i++) {
        struct mr_http_request req;
        int rc = mr_http_parse(&p, buf + off, len - off, &req);
        check_req(&valid[i], rc, &req, buf + off);
        off += (size_t)rc;
    }
    ck_assert_uint_eq(off, len);
}
END_TEST

/* Feeds the stream through a receive buffer in chunks of every size: append a chunk,
 * parse what is complete, keep the rest, as monitor.c does. */
START_TEST(stream_in_chunks_of_every_size_gives_same_requests)
{
    static uint8_t stream[STREAM_BYTES];
    static uint8_t pending[STREAM_BYTES];
    size_t len = build_stream(stream, sizeof(stream));
    for (size_t chunk = 1; chunk <= 64; chunk++) {
        struct mr_http_parser p = default_parser();
        size_t have = 0;
        size_t seen = 0;
        for (size_t off = 0; off < len; off += chunk) {
            size_t n = len - off < chunk ? len - off : chunk;
            memcpy(pending + have, stream + off, n);
            have += n;
            size_t used = 0;
            for (;;) {
                struct mr_http_request req;
                const uint8_t *buf;
                int rc = parse_at_guard(&p, pending + used, have - used, &req, &buf);
                if (rc == MR_AGAIN) {
                    break;
                }
                ck_assert_uint_lt(seen, VALID_COUNT);
                check_req(&valid[seen], rc, &req, buf);
                seen++;
                used += (size_t)rc;
            }
            memmove(pending, pending + used, have - used);
            have -= used;
        }
        ck_assert_msg(seen == VALID_COUNT, "chunk %zu: %zu requests", chunk, seen);
        ck_assert_uint_eq(have, 0);
    }
}
END_TEST

/* ---- errors ------------------------------------------------------------------- */

struct bad {
    const char *name;
    const char *in;
    size_t in_len;
    int err;
    uint16_t status;
};

static const struct bad bad[] = {
    {"nats_client_connect", IN("CONNECT {\"verbose\":false}\r\n"), MR_E_PROTO_ARGS, 400},
    {"nats_client_connect_partial", IN("CONNECT {"), MR_E_PROTO_ARGS, 400},
    {"empty_method", IN(" / HTTP/1.1\r\n" H "\r\n"), MR_E_PROTO_ARGS, 400},
    {"double_space", IN("GET  / HTTP/1.1\r\n" H "\r\n"), MR_E_PROTO_ARGS, 400},
    {"tab_separator", IN("GET\t/ HTTP/1.1\r\n" H "\r\n"), MR_E_PROTO_ARGS, 400},
    {"no_version", IN("GET /\r\n" H "\r\n"), MR_E_PROTO_ARGS, 400},
    {"target_not_a_path", IN("GET {x} HTTP/1.1\r\n" H "\r\n"), MR_E_PROTO_ARGS, 400},
    {"target_scheme_unknown", IN("GET ftp://h/ HTTP/1.1\r\n" H "\r\n"), MR_E_PROTO_ARGS, 400},
    {"target_absolute_no_host", IN("GET http:///varz HTTP/1.1\r\n" H "\r\n"), MR_E_PROTO_ARGS,
     400},
    {"target_asterisk_and_more", IN("OPTIONS *x HTTP/1.1\r\n" H "\r\n"), MR_E_PROTO_ARGS, 400},
    {"target_control_byte", IN("GET /a\x01z HTTP/1.1\r\n" H "\r\n"), MR_E_PROTO_ARGS, 400},
    {"target_del", IN("GET /a\x7fz HTTP/1.1\r\n" H "\r\n"), MR_E_PROTO_ARGS, 400},
    {"proto_name", IN("GET / HTTX/1.1\r\n" H "\r\n"), MR_E_PROTO_ARGS, 400},
    {"proto_lower_case", IN("GET / http/1.1\r\n" H "\r\n"), MR_E_PROTO_ARGS, 400},
    {"version_two_digits", IN("GET / HTTP/11\r\n" H "\r\n"), MR_E_PROTO_ARGS, 400},
    {"version_junk_after", IN("GET / HTTP/1.1 x\r\n" H "\r\n"), MR_E_PROTO_ARGS, 400},
    {"version_cr_not_lf", IN("GET / HTTP/1.1\rX"), MR_E_PROTO_ARGS, 400},
    {"http2", IN("GET / HTTP/2.0\r\n" H "\r\n"), MR_E_UNSUPPORTED, 505},
    {"http0", IN("GET / HTTP/0.9\r\n" H "\r\n"), MR_E_UNSUPPORTED, 505},
    {"leading_cr_junk", IN("\rGET / HTTP/1.1\r\n" H "\r\n"), MR_E_PROTO_ARGS, 400},
    {"http11_without_host", IN("GET / HTTP/1.1\r\n\r\n"), MR_E_PROTO_ARGS, 400},
    {"two_hosts", IN("GET / HTTP/1.1\r\n" H "Host: y\r\n\r\n"), MR_E_PROTO_ARGS, 400},
    {"header_without_colon", IN("GET / HTTP/1.1\r\n" H "Foo\r\n\r\n"), MR_E_PROTO_ARGS, 400},
    {"header_space_before_colon", IN("GET / HTTP/1.1\r\nHost : x\r\n\r\n"), MR_E_PROTO_ARGS, 400},
    {"header_empty_name", IN("GET / HTTP/1.1\r\n" H ": x\r\n\r\n"), MR_E_PROTO_ARGS, 400},
    {"header_obs_fold", IN("GET / HTTP/1.1\r\n" H "Foo: a\r\n b\r\n\r\n"), MR_E_PROTO_ARGS, 400},
    {"header_control_byte", IN("GET / HTTP/1.1\r\n" H "Foo: a\x01z\r\n\r\n"), MR_E_PROTO_ARGS,
     400},
    {"header_stray_cr", IN("GET / HTTP/1.1\r\n" H "Foo: a\rz\r\n\r\n"), MR_E_PROTO_ARGS, 400},
    {"length_not_digits", IN("GET / HTTP/1.1\r\n" H "Content-Length: 1x\r\n\r\n"),
     MR_E_PROTO_ARGS, 400},
    {"length_negative", IN("GET / HTTP/1.1\r\n" H "Content-Length: -1\r\n\r\n"), MR_E_PROTO_ARGS,
     400},
    {"length_empty", IN("GET / HTTP/1.1\r\n" H "Content-Length: \r\n\r\n"), MR_E_PROTO_ARGS, 400},
    {"length_conflict",
     IN("GET / HTTP/1.1\r\n" H "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
     MR_E_PROTO_ARGS, 400},
    {"length_twenty_digits",
     IN("GET / HTTP/1.1\r\n" H "Content-Length: 99999999999999999999\r\n\r\n"), MR_E_PROTO_ARGS,
     400},
    {"length_over_body_max", IN("GET / HTTP/1.1\r\n" H "Content-Length: 65537\r\n\r\n"),
     MR_E_PROTO_MAX_PAYLOAD, 413},
    {"transfer_encoding", IN("POST / HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n0\r\n"),
     MR_E_UNSUPPORTED, 501},
};
#define BAD_COUNT (sizeof(bad) / sizeof(bad[0]))

START_TEST(bad_sample_gives_its_error_and_prefixes_agree)
{
    for (size_t i = 0; i < BAD_COUNT; i++) {
        const struct bad *b = &bad[i];
        struct mr_http_parser p = default_parser();
        struct mr_http_request req;
        int rc = parse_at_guard(&p, b->in, b->in_len, &req, NULL);
        ck_assert_msg(rc == b->err, "%s: rc %s, want %s", b->name, mr_err_name(rc),
                      mr_err_name(b->err));
        ck_assert_msg(p.status == b->status, "%s: status %u, want %u", b->name, p.status,
                      b->status);
        check_cleared(&req);
        for (size_t cut = 0; cut < b->in_len; cut++) {
            rc = parse_at_guard(&p, b->in, cut, &req, NULL);
            ck_assert_msg(rc == MR_AGAIN || rc == b->err, "%s cut %zu: rc %s", b->name, cut,
                          mr_err_name(rc));
            ck_assert_uint_eq(p.status, rc == MR_AGAIN ? 0 : b->status);
        }
    }
}
END_TEST

/* ---- limits ------------------------------------------------------------------- */

/* "GET / HTTP/1.1\r\nHost: x\r\nX: vvv...\r\n\r\n" of exactly total bytes. */
static size_t head_of_size(char *out, size_t total)
{
    static const char pre[] = "GET / HTTP/1.1\r\n" H "X: ";
    static const char post[] = "\r\n\r\n";
    size_t fixed = sizeof(pre) - 1 + sizeof(post) - 1;
    ck_assert_uint_gt(total, fixed);
    memcpy(out, pre, sizeof(pre) - 1);
    memset(out + sizeof(pre) - 1, 'v', total - fixed);
    memcpy(out + total - (sizeof(post) - 1), post, sizeof(post) - 1);
    return total;
}

START_TEST(head_limit_is_inclusive)
{
    static char in[MR_HTTP_HEAD_MAX + 64];
    struct mr_http_parser p = default_parser();
    struct mr_http_request req;
    size_t n = head_of_size(in, MR_HTTP_HEAD_MAX);
    ck_assert_int_eq(parse_at_guard(&p, in, n, &req, NULL), (int)n);
    n = head_of_size(in, MR_HTTP_HEAD_MAX + 1);
    ck_assert_int_eq(parse_at_guard(&p, in, n, &req, NULL), MR_E_PROTO_CONTROL_LINE);
    ck_assert_uint_eq(p.status, 431);
    /* Short of the limit it waits; at the limit without an end of head it refuses. */
    ck_assert_int_eq(parse_at_guard(&p, in, MR_HTTP_HEAD_MAX - 1, &req, NULL), MR_AGAIN);
    ck_assert_int_eq(parse_at_guard(&p, in, MR_HTTP_HEAD_MAX, &req, NULL),
                     MR_E_PROTO_CONTROL_LINE);
}
END_TEST

START_TEST(request_line_and_empty_lines_are_bounded)
{
    static char in[MR_HTTP_HEAD_MAX + 16];
    struct mr_http_parser p;
    mr_http_parser_init(&p, 64, 8, 16);
    struct mr_http_request req;
    memcpy(in, "GET /", 5);
    memset(in + 5, 'a', sizeof(in) - 5);
    ck_assert_int_eq(parse_at_guard(&p, in, 63, &req, NULL), MR_AGAIN);
    ck_assert_int_eq(parse_at_guard(&p, in, 64, &req, NULL), MR_E_PROTO_CONTROL_LINE);
    ck_assert_int_eq(parse_at_guard(&p, in, sizeof(in), &req, NULL), MR_E_PROTO_CONTROL_LINE);
    memset(in, '\n', sizeof(in));
    ck_assert_int_eq(parse_at_guard(&p, in, 63, &req, NULL), MR_AGAIN);
    ck_assert_int_eq(parse_at_guard(&p, in, 64, &req, NULL), MR_E_PROTO_CONTROL_LINE);
    ck_assert_uint_eq(p.status, 431);
}
END_TEST

START_TEST(header_count_limit_is_inclusive)
{
    struct mr_http_parser p;
    mr_http_parser_init(&p, MR_HTTP_HEAD_MAX, 4, MR_HTTP_BODY_MAX);
    struct mr_http_request req;
    static const char four[] = "GET / HTTP/1.1\r\n" H "A: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    static const char five[] = "GET / HTTP/1.1\r\n" H "A: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
    ck_assert_int_eq(parse_at_guard(&p, four, sizeof(four) - 1, &req, NULL), sizeof(four) - 1);
    ck_assert_uint_eq(req.headers_count, 4);
    ck_assert_int_eq(parse_at_guard(&p, five, sizeof(five) - 1, &req, NULL), MR_E_LIMIT);
    ck_assert_uint_eq(p.status, 431);
}
END_TEST

START_TEST(body_limit_is_inclusive_and_body_is_awaited)
{
    struct mr_http_parser p;
    mr_http_parser_init(&p, MR_HTTP_HEAD_MAX, MR_HTTP_HEADERS_MAX, 10);
    struct mr_http_request req;
    static const char ten[] = "GET / HTTP/1.1\r\n" H "Content-Length: 10\r\n\r\n0123456789";
    static const char eleven[] = "GET / HTTP/1.1\r\n" H "Content-Length: 11\r\n\r\n";
    size_t head = sizeof(ten) - 1 - 10;
    ck_assert_int_eq(parse_at_guard(&p, ten, sizeof(ten) - 1, &req, NULL), sizeof(ten) - 1);
    ck_assert_uint_eq(req.body_len, 10);
    ck_assert_int_eq(parse_at_guard(&p, ten, head, &req, NULL), MR_AGAIN);
    ck_assert_uint_eq(p.need_bytes, sizeof(ten) - 1);
    ck_assert_int_eq(parse_at_guard(&p, eleven, sizeof(eleven) - 1, &req, NULL),
                     MR_E_PROTO_MAX_PAYLOAD);
    ck_assert_uint_eq(p.status, 413);
}
END_TEST

/* A programmer error, not bad input: the parser asserts. */
START_TEST(init_rejects_head_limit_above_max)
{
    struct mr_http_parser p;
    mr_http_parser_init(&p, MR_HTTP_HEAD_MAX + 1, MR_HTTP_HEADERS_MAX, MR_HTTP_BODY_MAX);
}
END_TEST

/* ---- query strings and paths ---------------------------------------------------- */

struct qcase {
    const char *query;
    const char *key;
    int want;          /* length, MR_E_NOT_FOUND or MR_E_LIMIT */
    const char *value; /* when want >= 0 */
};

static const struct qcase qcases[] = {
    {"limit=2&sort=cid", "sort", 3, "cid"},
    {"limit=2&sort=cid", "limit", 1, "2"},
    {"limit=2&limit=3", "limit", 1, "2"},
    {"a=x%20y+z", "a", 5, "x y z"},
    {"acc=%24G", "acc", 2, "$G"},
    {"a", "a", 0, ""},
    {"a=", "a", 0, ""},
    {"a=b=c", "a", 3, "b=c"},
    {"&&a=1&", "a", 1, "1"},
    {"a=%zz&a=2", "a", 1, "2"},
    {"a=%&a=3", "a", 1, "3"},
    {"a=%4", "a", MR_E_NOT_FOUND, NULL},
    {"a=%41", "a", 1, "A"},
    {"a=1;b=2", "a", MR_E_NOT_FOUND, NULL},
    {"a=1;b=2&a=3", "a", 1, "3"},
    {"%61=1", "a", 1, "1"},
    {"%6=1&a=2", "a", 1, "2"},
    {"a+b=1", "a b", 1, "1"},
    {"ab=1", "a", MR_E_NOT_FOUND, NULL},
    {"b=1", "ab", MR_E_NOT_FOUND, NULL},
    {"", "a", MR_E_NOT_FOUND, NULL},
    {"subs=detail&auth=true", "auth", 4, "true"},
    {"test=foo.bar", "test", 7, "foo.bar"},
    {"x=0123456789", "x", MR_E_LIMIT, NULL},
};

START_TEST(query_values_decode_like_go)
{
    for (size_t i = 0; i < sizeof(qcases) / sizeof(qcases[0]); i++) {
        const struct qcase *c = &qcases[i];
        char out[8];
        memset(out, 'Z', sizeof(out));
        const uint8_t *q = at_guard(c->query, strlen(c->query));
        int rc = mr_http_query_get((const char *)q, strlen(c->query), c->key, out, sizeof(out));
        ck_assert_msg(rc == c->want, "'%s' [%s]: rc %d, want %d", c->query, c->key, rc, c->want);
        if (c->want >= 0) {
            ck_assert_str_eq(out, c->value);
        }
    }
}
END_TEST

START_TEST(query_value_may_hold_nul)
{
    char out[8];
    ck_assert_int_eq(mr_http_query_get("a=x%00y", 7, "a", out, sizeof(out)), 3);
    ck_assert_int_eq(memcmp(out, "x\0y", 4), 0);
}
END_TEST

START_TEST(paths_decode_percent_escapes_only)
{
    char out[32];
    ck_assert_int_eq(mr_http_path_decode("/heal%74hz", 10, out, sizeof(out)), 8);
    ck_assert_str_eq(out, "/healthz");
    ck_assert_int_eq(mr_http_path_decode("/a+b", 4, out, sizeof(out)), 4);
    ck_assert_str_eq(out, "/a+b");
    ck_assert_int_eq(mr_http_path_decode("/%", 2, out, sizeof(out)), MR_E_PROTO_ARGS);
    ck_assert_int_eq(mr_http_path_decode("/%4", 3, out, sizeof(out)), MR_E_PROTO_ARGS);
    ck_assert_int_eq(mr_http_path_decode("/%zz", 4, out, sizeof(out)), MR_E_PROTO_ARGS);
    ck_assert_int_eq(mr_http_path_decode("/varz", 5, out, 5), MR_E_LIMIT);
    ck_assert_int_eq(mr_http_path_decode("/varz", 5, out, 6), 5);
}
END_TEST

START_TEST(status_texts_are_the_standard_phrases)
{
    ck_assert_str_eq(mr_http_status_text(200), "OK");
    ck_assert_str_eq(mr_http_status_text(400), "Bad Request");
    ck_assert_str_eq(mr_http_status_text(404), "Not Found");
    ck_assert_str_eq(mr_http_status_text(405), "Method Not Allowed");
    ck_assert_str_eq(mr_http_status_text(413), "Request Entity Too Large");
    ck_assert_str_eq(mr_http_status_text(431), "Request Header Fields Too Large");
    ck_assert_str_eq(mr_http_status_text(501), "Not Implemented");
    ck_assert_str_eq(mr_http_status_text(503), "Service Unavailable");
    ck_assert_str_eq(mr_http_status_text(505), "HTTP Version Not Supported");
    ck_assert_str_eq(mr_http_status_text(299), "Unknown");
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");

    TCase *tc = tcase_create("valid");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, valid_sample_parses_with_exact_fields);
    tcase_add_test(tc, valid_sample_cut_at_every_length_needs_more);
    tcase_add_test(tc, valid_sample_split_at_every_byte_gives_same_request);
    tcase_add_test(tc, empty_input_needs_more);
    suite_add_tcase(s, tc);

    tc = tcase_create("stream");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, pipelined_samples_in_one_buffer);
    tcase_add_test(tc, stream_in_chunks_of_every_size_gives_same_requests);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bad_sample_gives_its_error_and_prefixes_agree);
    tcase_add_test_raise_signal(tc, init_rejects_head_limit_above_max, SIGABRT);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, head_limit_is_inclusive);
    tcase_add_test(tc, request_line_and_empty_lines_are_bounded);
    tcase_add_test(tc, header_count_limit_is_inclusive);
    tcase_add_test(tc, body_limit_is_inclusive_and_body_is_awaited);
    suite_add_tcase(s, tc);

    tc = tcase_create("query");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, query_values_decode_like_go);
    tcase_add_test(tc, query_value_may_hold_nul);
    tcase_add_test(tc, paths_decode_percent_escapes_only);
    tcase_add_test(tc, status_texts_are_the_standard_phrases);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(http_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
