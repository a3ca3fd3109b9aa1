/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small HTTP/1.1 request parser for the monitoring port (RFC 9112), in the style of
 * the client-protocol parser (parser.h) and picohttpparser: zero-copy and
 * allocation-free. Given (buf, len) it parses one request from the front of buf and
 * returns the bytes it spans (head and body), MR_AGAIN when buf holds only part of
 * one, or a negative mr_err with the HTTP status to answer in p->status. Views in
 * struct mr_http_request point into buf and live as long as the caller keeps those
 * bytes. The parser keeps no bytes and no state between calls except the need_bytes
 * hint and the status of the last error.
 *
 * What it takes: GET and HEAD (any other valid method parses as MR_HTTP_OTHER, for a
 * 405), origin-form ("/connz?limit=2") and absolute-form ("http://host/connz")
 * targets, HTTP/1.0 and HTTP/1.1, CRLF or bare LF line ends, empty lines before the
 * request line. Of the headers it reads Connection (close, keep-alive), Content-Length
 * (the body is skipped, never looked at), Transfer-Encoding (refused) and Host (HTTP/1.1
 * requires it, as Go's server does); the others are validated and ignored.
 *
 * Errors and the status a server answers with (then it closes):
 *  MR_E_PROTO_ARGS          400  malformed request line or header, missing or repeated
 *                                Host in HTTP/1.1, bad or conflicting Content-Length
 *  MR_E_PROTO_CONTROL_LINE  431  no end of head within head_max bytes
 *  MR_E_LIMIT               431  more than headers_max header lines
 *  MR_E_PROTO_MAX_PAYLOAD   413  Content-Length above body_max
 *  MR_E_UNSUPPORTED         501  Transfer-Encoding (chunked bodies are not read)
 *                           505  an HTTP major version other than 1
 *
 * Invariant (as parser.h): every decision depends only on bytes before the decision
 * point and nothing past head_max is read before the head ends, so a prefix of an input
 * gives MR_AGAIN or the same result as the whole input, whatever the read boundaries.
 */
#ifndef MR_HTTP_H
#define MR_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/proto/parser.h"

enum mr_http_method {
    MR_HTTP_OTHER = 0, /* a well-formed method we do not serve (405) */
    MR_HTTP_GET = 1,
    MR_HTTP_HEAD = 2,
};

struct mr_http_request {
    enum mr_http_method method;
    struct mr_view method_name; /* as sent, e.g. "POST" */
    struct mr_view target;      /* the request-target as sent */
    struct mr_view path;        /* "/connz"; for absolute-form, the part after the host */
    struct mr_view query;       /* after '?' (without it), up to '#'; absent if none */
    uint8_t minor_version;      /* HTTP/1.<minor_version> */
    bool keep_alive; /* HTTP/1.1 unless "Connection: close"; HTTP/1.0 only if asked */
    uint32_t head_len;      /* request line, headers and the blank line */
    uint32_t body_len;      /* Content-Length; 0 when absent */
    uint32_t headers_count; /* header lines */
};

struct mr_http_parser {
    uint32_t head_max;    /* bytes of the whole head, including the blank line */
    uint32_t headers_max; /* header lines */
    uint32_t body_max;    /* largest Content-Length taken */
    /* After MR_AGAIN: the whole request's length once the head is complete, else 0. */
    size_t need_bytes;
    /* After an error: the HTTP status to answer with (table above); else 0. */
    uint16_t status;
};

void mr_http_parser_init(struct mr_http_parser *p, uint32_t head_max, uint32_t headers_max,
                         uint32_t body_max);

/* Parses one request from the front of buf. Returns the bytes it spans (> 0: head and
 * body), MR_AGAIN, or a negative error (table above). On success *req is filled; after
 * MR_AGAIN or an error it is cleared. */
int mr_http_parse(struct mr_http_parser *p, const uint8_t *buf, size_t len,
                  struct mr_http_request *req);

/* Looks key up in a query string (the part after '?', "a=1&b=x%20y"): the first pair
 * whose decoded name is key. Its value, percent-decoded with '+' read as a space, goes to
 * out, NUL-terminated. Returns the value's length, MR_E_NOT_FOUND when no pair has that
 * name, or MR_E_LIMIT when the value needs more than out_cap - 1 bytes. Pairs that do not
 * decode (a bad %-escape, a ';' anywhere) are skipped, as Go's url.Query() does, so
 * behaviour matches nats-server. */
int mr_http_query_get(const char *query, size_t len, const char *key, char *out, size_t out_cap);

/* Percent-decodes a path ("/heal%74hz" -> "/healthz"; '+' stays '+') into out,
 * NUL-terminated, as Go's server matches routes on the decoded path. Returns the decoded
 * length, MR_E_PROTO_ARGS for a bad escape (Go answers 400), or MR_E_LIMIT when out is
 * too small (it never is with out_cap > len). */
int mr_http_path_decode(const char *path, size_t len, char *out, size_t out_cap);

/* The reason phrase of a status we send ("Not Found"); "Unknown" for others. */
const char *mr_http_status_text(int status);

#endif
