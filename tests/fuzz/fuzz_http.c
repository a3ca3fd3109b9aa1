/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the monitoring endpoint's HTTP request parser (core/proto/http.h).
 *
 * Parses the input repeatedly as a pipeline of requests and checks the contract: a
 * result is bytes consumed (> 0, at most the input), MR_AGAIN, or an error with an HTTP
 * status; views lie inside the consumed bytes; every prefix of a complete request
 * gives MR_AGAIN or the same result. The query helpers run on every parsed query.
 *
 * Ownership: the target borrows data and allocates only a copy it frees.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/proto/http.h"

static void view_inside(const struct mr_view *v, const uint8_t *buf, size_t len)
{
    if (v->len == 0) {
        return;
    }
    mr_assert((const uint8_t *)v->ptr >= buf);
    mr_assert((const uint8_t *)v->ptr + v->len <= buf + len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so ASan sees any read past the end. */
    uint8_t *buf = malloc(size + 1);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    size_t off = 0;
    for (int i = 0; i < 64 && off < size; i++) {
        struct mr_http_parser p;
        mr_http_parser_init(&p, 4096, 64, 1024);
        struct mr_http_request req;
        int rc = mr_http_parse(&p, buf + off, size - off, &req);
        if (rc == MR_AGAIN) {
            break;
        }
        if (rc < 0) {
            mr_assert(p.status >= 400);
            break;
        }
        mr_assert((size_t)rc <= size - off);
        /* An absolute-form target without a path gets the parser's static "/". */
        if (!(req.path.len == 1 && req.path.ptr[0] == '/')) {
            view_inside(&req.path, buf + off, (size_t)rc);
        }
        view_inside(&req.query, buf + off, (size_t)rc);
        view_inside(&req.target, buf + off, (size_t)rc);
        /* Every cut of this request is incomplete or the same request. */
        for (size_t cut = 0; cut < (size_t)rc; cut += 1 + cut / 8) {
            struct mr_http_parser q;
            mr_http_parser_init(&q, 4096, 64, 1024);
            struct mr_http_request r2;
            int rc2 = mr_http_parse(&q, buf + off, cut, &r2);
            mr_assert(rc2 == MR_AGAIN);
        }
        char out[256];
        (void)mr_http_query_get(req.query.ptr, req.query.len, "subs", out, sizeof(out));
        (void)mr_http_path_decode(req.path.ptr, req.path.len, out, sizeof(out));
        off += (size_t)rc;
    }
    free(buf);
    return 0;
}
