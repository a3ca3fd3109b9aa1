/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the NATS client-protocol parser (core/proto/parser.h).
 *
 * The input is a byte stream, parsed operation after operation in both modes and under
 * default and tiny limits (so the control-line and payload limits are reachable with
 * short inputs). For every result it checks the contract: consumed <= len, every view
 * and the payload inside the consumed bytes, an error leaves op cleared, need_bytes is
 * either 0 or beyond what is there. For every result it also re-parses cut prefixes,
 * each copied into a buffer of exactly that size so ASan catches a read past its end: a
 * prefix must give MR_AGAIN or the same result, and a successful op parsed from
 * exactly its consumed bytes must come out the same.
 *
 * Canary: with MR_FUZZ_CANARY=1 in the environment, an input starting with "CANARY"
 * aborts. It proves the harness (libFuzzer or the replay driver) reports a crash; see
 * tests/fuzz/README.md. Without the variable such an input is parsed like any other.
 *
 * Ownership: the target borrows data; each prefix copy is freed before the next.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/proto/parser.h"

/* Operations parsed per input and configuration, and prefixes tried per result: both
 * bound the work one input can cause so the fuzzer keeps its pace. */
#define FUZZ_OPS_MAX 64
#define FUZZ_PREFIXES_MAX 48

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_config {
    enum mr_parser_mode mode;
    uint32_t max_control_line;
    uint32_t max_payload;
};

static const struct fuzz_config configs[] = {
    {MR_PARSER_SERVER, MR_CONTROL_LINE_DEFAULT, MR_PAYLOAD_DEFAULT},
    {MR_PARSER_CLIENT, MR_CONTROL_LINE_DEFAULT, MR_PAYLOAD_DEFAULT},
    {MR_PARSER_SERVER, 24, 16},
    {MR_PARSER_CLIENT, 24, 16},
    {MR_PARSER_SERVER, 3, 0},
    {MR_PARSER_ROUTE, MR_CONTROL_LINE_DEFAULT, MR_PAYLOAD_DEFAULT},
    {MR_PARSER_ROUTE, 24, 16},
    {MR_PARSER_LEAF, MR_CONTROL_LINE_DEFAULT, MR_PAYLOAD_DEFAULT},
};

static bool canary_armed(void)
{
    const char *v = getenv("MR_FUZZ_CANARY");
    return v != NULL && strcmp(v, "1") == 0;
}

static bool is_proto_error(int rc)
{
    return rc == MR_E_PROTO_UNKNOWN_OP || rc == MR_E_PROTO_CONTROL_LINE ||
           rc == MR_E_PROTO_MAX_PAYLOAD || rc == MR_E_PROTO_ARGS || rc == MR_E_PROTO_TRAILER;
}

static bool op_allowed(enum mr_parser_mode mode, enum mr_op op)
{
    switch (op) {
    case MR_OP_INFO:
    case MR_OP_PING:
    case MR_OP_PONG:
    case MR_OP_OK:
    case MR_OP_ERR:
        return true;
    case MR_OP_CONNECT:
        return mode != MR_PARSER_CLIENT;
    case MR_OP_PUB:
    case MR_OP_HPUB:
    case MR_OP_SUB:
    case MR_OP_UNSUB:
        return mode == MR_PARSER_SERVER;
    case MR_OP_MSG:
    case MR_OP_HMSG:
        return mode == MR_PARSER_CLIENT;
    case MR_OP_LS_PLUS:
    case MR_OP_LS_MINUS:
    case MR_OP_RHMSG:
    case MR_OP_LMSG:
        return mode == MR_PARSER_ROUTE || mode == MR_PARSER_LEAF;
    case MR_OP_RS_PLUS:
    case MR_OP_RS_MINUS:
    case MR_OP_RMSG:
    case MR_OP_A_PLUS:
    case MR_OP_A_MINUS:
        return mode == MR_PARSER_ROUTE;
    case MR_OP_NONE:
        return false;
    }
    return false;
}

static void check_view(struct mr_view v, const uint8_t *buf, size_t consumed)
{
    if (v.len == 0) {
        mr_assert(v.ptr == NULL);
        return;
    }
    mr_assert((const uint8_t *)v.ptr >= buf);
    mr_assert((const uint8_t *)v.ptr + v.len <= buf + consumed);
}

/* The contract for one call's result. */
static void check_result(const struct fuzz_config *c, const struct mr_parser *p, const uint8_t *buf,
                         size_t len, int rc, const struct mr_proto_op *op)
{
    if (rc <= 0) {
        mr_assert(rc == MR_AGAIN || is_proto_error(rc));
        mr_assert(op->op == MR_OP_NONE);
        mr_assert(op->subject.len == 0 && op->reply.len == 0 && op->queue.len == 0);
        mr_assert(op->sid.len == 0 && op->json.len == 0 && op->payload == NULL);
        mr_assert(op->account.len == 0 && op->origin.len == 0 && op->weight == 0);
        if (rc != MR_AGAIN) {
            mr_assert(p->need_bytes == 0);
        }
        if (p->need_bytes != 0) {
            mr_assert(p->need_bytes > len);
            mr_assert(p->need_bytes <= (size_t)c->max_control_line + c->max_payload + 2);
        }
        return;
    }
    size_t consumed = (size_t)rc;
    mr_assert(consumed <= len);
    mr_assert(op_allowed(c->mode, op->op));
    check_view(op->subject, buf, consumed);
    check_view(op->reply, buf, consumed);
    check_view(op->queue, buf, consumed);
    check_view(op->sid, buf, consumed);
    check_view(op->json, buf, consumed);
    check_view(op->account, buf, consumed);
    check_view(op->origin, buf, consumed);
    mr_assert(op->weight >= 0);
    if (op->weight > 0) {
        mr_assert(op->queue.len > 0);
    }
    mr_assert(op->hdr_len <= op->size);
    mr_assert(op->size <= c->max_payload);
    if (op->op == MR_OP_UNSUB) {
        mr_assert(op->max_msgs >= -1);
    } else {
        mr_assert(op->max_msgs == -1);
    }
    bool has_payload = op->op == MR_OP_PUB || op->op == MR_OP_HPUB || op->op == MR_OP_MSG ||
                       op->op == MR_OP_HMSG || op->op == MR_OP_RMSG || op->op == MR_OP_RHMSG ||
                       op->op == MR_OP_LMSG;
    if (!has_payload) {
        mr_assert(op->payload == NULL);
        mr_assert(op->size == 0);
        mr_assert(consumed <= c->max_control_line);
        mr_assert(buf[consumed - 1] == '\n');
        return;
    }
    mr_assert(op->payload > buf);
    mr_assert(op->payload + op->size + 2 == buf + consumed);
    mr_assert((size_t)(op->payload - buf) <= c->max_control_line);
    mr_assert(op->payload[op->size] == '\r');
    mr_assert(op->payload[op->size + 1] == '\n');
}

static bool view_same(struct mr_view a, const uint8_t *abuf, struct mr_view b, const uint8_t *bbuf)
{
    if (a.len != b.len) {
        return false;
    }
    if (a.len == 0) {
        return true;
    }
    return (const uint8_t *)a.ptr - abuf == (const uint8_t *)b.ptr - bbuf;
}

/* Same op at the same offsets of two buffers holding the same bytes. */
static bool op_same(const struct mr_proto_op *a, const uint8_t *abuf, const struct mr_proto_op *b,
                    const uint8_t *bbuf)
{
    if (a->op != b->op || a->max_msgs != b->max_msgs || a->hdr_len != b->hdr_len ||
        a->size != b->size || a->weight != b->weight) {
        return false;
    }
    if ((a->payload == NULL) != (b->payload == NULL)) {
        return false;
    }
    if (a->payload != NULL && a->payload - abuf != b->payload - bbuf) {
        return false;
    }
    return view_same(a->subject, abuf, b->subject, bbuf) &&
           view_same(a->reply, abuf, b->reply, bbuf) && view_same(a->queue, abuf, b->queue, bbuf) &&
           view_same(a->sid, abuf, b->sid, bbuf) && view_same(a->json, abuf, b->json, bbuf) &&
           view_same(a->account, abuf, b->account, bbuf) &&
           view_same(a->origin, abuf, b->origin, bbuf);
}

/* Parses buf[0, k) from an exactly sized copy. */
static int parse_prefix(const struct fuzz_config *c, const uint8_t *buf, size_t k,
                        struct mr_parser *p, struct mr_proto_op *op, uint8_t **copy)
{
    *copy = malloc(k > 0 ? k : 1);
    mr_assert(*copy != NULL);
    if (k > 0) {
        memcpy(*copy, buf, k);
    }
    mr_parser_init(p, c->mode, c->max_control_line, c->max_payload);
    int rc = mr_parser_parse(p, *copy, k, op);
    check_result(c, p, *copy, k, rc, op);
    return rc;
}

/* A prefix gives MR_AGAIN or the same result as the whole; a success also comes out the
 * same from exactly its consumed bytes. */
static void check_prefixes(const struct fuzz_config *c, const uint8_t *buf, size_t len, int rc,
                           const struct mr_proto_op *op, size_t need_bytes)
{
    size_t limit = rc > 0 ? (size_t)rc : len;
    size_t step = limit > FUZZ_PREFIXES_MAX ? limit / FUZZ_PREFIXES_MAX : 1;
    for (size_t k = 0; k < limit; k += step) {
        struct mr_parser p;
        struct mr_proto_op pop;
        uint8_t *copy;
        int prc = parse_prefix(c, buf, k, &p, &pop, &copy);
        free(copy);
        if (rc >= 0) {
            mr_assert(prc == MR_AGAIN);
        } else {
            mr_assert(prc == MR_AGAIN || prc == rc);
        }
        if (prc == MR_AGAIN && p.need_bytes != 0) {
            if (rc > 0) {
                mr_assert(p.need_bytes == (size_t)rc);
            }
            if (rc == MR_AGAIN) {
                mr_assert(p.need_bytes == need_bytes);
            }
        }
    }
    if (rc > 0) {
        struct mr_parser p;
        struct mr_proto_op pop;
        uint8_t *copy;
        int prc = parse_prefix(c, buf, (size_t)rc, &p, &pop, &copy);
        mr_assert(prc == rc);
        mr_assert(op_same(op, buf, &pop, copy));
        free(copy);
    }
}

static void run_config(const struct fuzz_config *c, const uint8_t *data, size_t size)
{
    struct mr_parser p;
    mr_parser_init(&p, c->mode, c->max_control_line, c->max_payload);
    size_t off = 0;
    for (int n = 0; n < FUZZ_OPS_MAX; n++) {
        struct mr_proto_op op;
        const uint8_t *buf = data + off;
        size_t len = size - off;
        int rc = mr_parser_parse(&p, buf, len, &op);
        check_result(c, &p, buf, len, rc, &op);
        check_prefixes(c, buf, len, rc, &op, p.need_bytes);
        if (rc <= 0) {
            return;
        }
        off += (size_t)rc;
        mr_assert(off <= size);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 6 && memcmp(data, "CANARY", 6) == 0 && canary_armed()) {
        abort();
    }
    for (size_t i = 0; i < sizeof(configs) / sizeof(configs[0]); i++) {
        run_config(&configs[i], data, size);
    }
    return 0;
}
