/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NATS client-protocol parser; the contract is in parser.h, the nats-server
 * behaviour it follows is the table at the top of tests/unit/test_parser.c.
 *
 * One call parses one operation from the front of buf: the verb (switch on the first
 * byte, then a case-insensitive compare of the rest), the line end (memchr), the
 * arguments (runs of spaces and tabs) and, for PUB/HPUB/MSG/HMSG, the payload and
 * the CRLF after it.
 *
 * Invariants:
 *  - Every decision depends only on bytes at lower offsets than the decision point,
 *    and nothing past the first max_control_line bytes is read before the line end is
 *    found. So a prefix of an input either returns MR_AGAIN or the same result as the
 *    whole input, whatever the read boundaries were (the split tests and the fuzzer
 *    check this).
 *  - On success 0 < consumed <= len and every view lies inside buf[0, consumed).
 *  - After MR_AGAIN or an error *op is cleared (op NONE, views absent, max_msgs -1).
 *  - No allocation and no state between calls except the need_bytes hint.
 *
 * In client mode max_payload bounds MSG and HMSG the same way: a client passes the
 * server's advertised max_payload, or MR_PAYLOAD_MAX to take whatever a server sends.
 *
 * Ownership: buf is borrowed for the call; the views in *op point into it and are
 * valid as long as the caller keeps those bytes.
 */
#include "core/proto/parser.h"

#include <stdbool.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/limits.h"

/* nats-server reads a size as 1 to 9 decimal digits; a tenth digit makes it a bad
 * size (closed without -ERR), not a payload violation. Nine digits cannot overflow
 * the uint32_t accumulator, and every payload limit fits in them. */
#define SIZE_DIGITS_MAX 9
_Static_assert(999999999u <= UINT32_MAX, "nine decimal digits fit a uint32_t");
_Static_assert(MR_PAYLOAD_MAX <= 999999999, "any max_payload is expressible in a size");
_Static_assert(MR_CONTROL_LINE_MAX <= UINT32_MAX, "view lengths inside a line fit uint32_t");
_Static_assert(MR_CONTROL_LINE_MAX + MR_PAYLOAD_MAX + 2 <= INT32_MAX,
               "a whole operation's length fits the int return value");

/* The most arguments an operation takes (HMSG subject sid reply hdr total). */
#define ARGS_MAX 5

/* What may follow a verb. nats-server insists on a space or tab after the verbs with
 * arguments ("PUBX" and "PUB\r\n" are unknown operations), lets the JSON of CONNECT
 * and INFO start right after the verb ("CONNECT{}" works), and ignores whatever
 * follows PING, PONG and +OK up to the line end ("PINGjunk" is a PING). */
enum after_verb {
    AFTER_BLANK,
    AFTER_ANY_OR_BLANKS,
    AFTER_ANYTHING,
};

struct verb {
    const char *lower; /* the verb in lower case; bytes after the first are letters */
    uint32_t len;
    enum after_verb after;
    enum mr_op op;
};

enum verb_id {
    V_INFO,
    V_CONNECT,
    V_PUB,
    V_HPUB,
    V_SUB,
    V_UNSUB,
    V_MSG,
    V_HMSG,
    V_PING,
    V_PONG,
    V_OK,
    V_ERR,
    V_RS_PLUS,
    V_RS_MINUS,
    V_LS_PLUS,
    V_LS_MINUS,
    V_RMSG,
    V_RHMSG,
    V_LMSG,
    V_A_PLUS,
    V_A_MINUS,
    V_COUNT,
    /* Results of match_verb that are not verbs. */
    V_PARTIAL,
    V_UNKNOWN,
};

static const struct verb verbs[V_COUNT] = {
    [V_INFO] = {"info", 4, AFTER_ANY_OR_BLANKS, MR_OP_INFO},
    [V_CONNECT] = {"connect", 7, AFTER_ANY_OR_BLANKS, MR_OP_CONNECT},
    [V_PUB] = {"pub", 3, AFTER_BLANK, MR_OP_PUB},
    [V_HPUB] = {"hpub", 4, AFTER_BLANK, MR_OP_HPUB},
    [V_SUB] = {"sub", 3, AFTER_BLANK, MR_OP_SUB},
    [V_UNSUB] = {"unsub", 5, AFTER_BLANK, MR_OP_UNSUB},
    [V_MSG] = {"msg", 3, AFTER_BLANK, MR_OP_MSG},
    [V_HMSG] = {"hmsg", 4, AFTER_BLANK, MR_OP_HMSG},
    [V_PING] = {"ping", 4, AFTER_ANYTHING, MR_OP_PING},
    [V_PONG] = {"pong", 4, AFTER_ANYTHING, MR_OP_PONG},
    [V_OK] = {"+ok", 3, AFTER_ANYTHING, MR_OP_OK},
    [V_ERR] = {"-err", 4, AFTER_BLANK, MR_OP_ERR},
    [V_RS_PLUS] = {"rs+", 3, AFTER_BLANK, MR_OP_RS_PLUS},
    [V_RS_MINUS] = {"rs-", 3, AFTER_BLANK, MR_OP_RS_MINUS},
    [V_LS_PLUS] = {"ls+", 3, AFTER_BLANK, MR_OP_LS_PLUS},
    [V_LS_MINUS] = {"ls-", 3, AFTER_BLANK, MR_OP_LS_MINUS},
    [V_RMSG] = {"rmsg", 4, AFTER_BLANK, MR_OP_RMSG},
    [V_RHMSG] = {"hmsg", 4, AFTER_BLANK, MR_OP_RHMSG},
    [V_LMSG] = {"lmsg", 4, AFTER_BLANK, MR_OP_LMSG},
    [V_A_PLUS] = {"a+", 2, AFTER_BLANK, MR_OP_A_PLUS},
    [V_A_MINUS] = {"a-", 2, AFTER_BLANK, MR_OP_A_MINUS},
};

static bool is_blank(uint8_t c)
{
    return c == ' ' || c == '\t';
}

/* RS+/RS-/LS+/LS- after their first letter: 's', then the sign. */
static enum verb_id pick_sign_verb(const uint8_t *buf, size_t avail, enum verb_id plus,
                                   enum verb_id minus)
{
    if (avail < 3) {
        return V_PARTIAL;
    }
    if (buf[2] == '+') {
        return plus;
    }
    return buf[2] == '-' ? minus : V_UNKNOWN;
}

/* Route-only verbs starting with 'r' or 'l': RS+, RS-, RMSG, LS+, LS-, LMSG. */
static enum verb_id pick_route_verb(const uint8_t *buf, size_t avail)
{
    bool r = (buf[0] | 0x20) == 'r';
    if (avail < 2) {
        return V_PARTIAL;
    }
    switch (buf[1] | 0x20) {
    case 's':
        return r ? pick_sign_verb(buf, avail, V_RS_PLUS, V_RS_MINUS)
                 : pick_sign_verb(buf, avail, V_LS_PLUS, V_LS_MINUS);
    case 'm':
        return r ? V_RMSG : V_LMSG;
    default:
        return V_UNKNOWN;
    }
}

/* Picks the verb from its first bytes, in the given mode. Letters compare with
 * c | 0x20, which maps only 'X' and 'x' onto 'x'; '+' and '-' are compared exactly
 * because '\v' | 0x20 == '+' and '\r' | 0x20 == '-'. */
static enum verb_id pick_verb(enum mr_parser_mode mode, const uint8_t *buf, size_t avail)
{
    bool server = mode == MR_PARSER_SERVER;
    bool route = mode == MR_PARSER_ROUTE;
    bool leaf = mode == MR_PARSER_LEAF;

    switch (buf[0] | 0x20) {
    case 'p':
        if (avail < 2) {
            return V_PARTIAL;
        }
        switch (buf[1] | 0x20) {
        case 'u':
            return server ? V_PUB : V_UNKNOWN;
        case 'i':
            return V_PING;
        case 'o':
            return V_PONG;
        default:
            return V_UNKNOWN;
        }
    case 'h':
        return server ? V_HPUB : route || leaf ? V_RHMSG : V_HMSG;
    case 's':
        return server ? V_SUB : V_UNKNOWN;
    case 'u':
        return server ? V_UNSUB : V_UNKNOWN;
    case 'c':
        return mode != MR_PARSER_CLIENT ? V_CONNECT : V_UNKNOWN;
    case 'm':
        return mode == MR_PARSER_CLIENT ? V_MSG : V_UNKNOWN;
    case 'r':
        return route ? pick_route_verb(buf, avail) : V_UNKNOWN;
    case 'l':
        return route || leaf ? pick_route_verb(buf, avail) : V_UNKNOWN;
    case 'a':
        if (!route) {
            return V_UNKNOWN;
        }
        if (avail < 2) {
            return V_PARTIAL;
        }
        return buf[1] == '+' ? V_A_PLUS : buf[1] == '-' ? V_A_MINUS : V_UNKNOWN;
    case 'i':
        return V_INFO;
    case '+':
        return buf[0] == '+' ? V_OK : V_UNKNOWN;
    case '-':
        return buf[0] == '-' ? V_ERR : V_UNKNOWN;
    default:
        return V_UNKNOWN;
    }
}

/* Returns the verb at the front of buf[0, avail), V_PARTIAL when the bytes seen are a
 * proper prefix of one, or V_UNKNOWN as soon as they cannot start one. */
static enum verb_id match_verb(enum mr_parser_mode mode, const uint8_t *buf, size_t avail)
{
    mr_assert(avail > 0);
    enum verb_id id = pick_verb(mode, buf, avail);
    if (id == V_PARTIAL || id == V_UNKNOWN) {
        return id;
    }
    const struct verb *v = &verbs[id];
    size_t n = avail < v->len ? avail : v->len;
    for (size_t i = 1; i < n; i++) {
        uint8_t want = (uint8_t)v->lower[i];
        uint8_t got = want >= 'a' && want <= 'z' ? (uint8_t)(buf[i] | 0x20) : buf[i];
        if (got != want) {
            return V_UNKNOWN;
        }
    }
    if (avail < v->len) {
        return V_PARTIAL;
    }
    if (v->after == AFTER_BLANK) {
        if (avail == v->len) {
            return V_PARTIAL;
        }
        if (!is_blank(buf[v->len])) {
            return V_UNKNOWN;
        }
    }
    return id;
}

/* Argument separators by byte: SPLIT_BLANK for every verb, SPLIT_CR for SUB and UNSUB only.
 * One table load per byte instead of a chain of compares. */
enum {
    SPLIT_BLANK = 1,
    SPLIT_CR = 2,
};

static const uint8_t sep_class[256] = {
    [' '] = SPLIT_BLANK,
    ['\t'] = SPLIT_BLANK,
    ['\r'] = SPLIT_CR,
};

/* Splits s[0, len) on runs of separators in mask into at most max + 1 views; returns
 * the count, which is max + 1 when there are too many. */
static uint32_t split_args(const char *s, size_t len, unsigned mask, struct mr_view *out,
                           uint32_t max)
{
    mr_assert(max <= ARGS_MAX);
    mr_assert(mask != 0);
    const uint8_t *b = (const uint8_t *)s;
    uint32_t n = 0;
    size_t i = 0;
    for (;;) {
        while (i < len && (sep_class[b[i]] & mask) != 0) {
            i++;
        }
        if (i == len) {
            return n;
        }
        if (n == max) {
            return max + 1;
        }
        size_t start = i;
        while (i < len && (sep_class[b[i]] & mask) == 0) {
            i++;
        }
        out[n].ptr = s + start;
        out[n].len = (uint32_t)(i - start);
        n++;
    }
}

/* A size is 1 to SIZE_DIGITS_MAX decimal digits, nothing else (no sign, no blanks).
 * Returns it, or -1. */
static int64_t parse_size(struct mr_view v)
{
    if (v.len == 0 || v.len > SIZE_DIGITS_MAX) {
        return -1;
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < v.len; i++) {
        uint32_t d = (uint32_t)((uint8_t)v.ptr[i] - '0');
        if (d > 9) {
            return -1;
        }
        n = n * 10 + d;
    }
    mr_assert(n <= 999999999u);
    return n;
}

/* Reads the trailing "[hdr] total" pair of PUB/HPUB/MSG/HMSG. The order of checks is
 * nats-server's: a bad header size, a bad total size, header above total (all closed
 * without -ERR), then the payload limit (-ERR 'Maximum Payload Violation'). */
static int parse_sizes(const struct mr_parser *p, const struct mr_view *hdr, struct mr_view total,
                       struct mr_proto_op *op)
{
    int64_t hdr_len = 0;
    if (hdr != NULL) {
        hdr_len = parse_size(*hdr);
        if (hdr_len < 0) {
            return MR_E_PROTO_ARGS;
        }
    }
    int64_t size = parse_size(total);
    if (size < 0) {
        return MR_E_PROTO_ARGS;
    }
    if (hdr_len > size) {
        return MR_E_PROTO_ARGS;
    }
    if (size > p->max_payload) {
        return MR_E_PROTO_MAX_PAYLOAD;
    }
    op->hdr_len = (uint32_t)hdr_len;
    op->size = (uint32_t)size;
    return MR_OK;
}

/* PUB subject [reply] size | HPUB subject [reply] hdr total. */
static int parse_pub_args(const struct mr_parser *p, bool hpub, const char *s, size_t len,
                          struct mr_proto_op *op)
{
    struct mr_view a[ARGS_MAX];
    uint32_t base = hpub ? 3 : 2;
    uint32_t n = split_args(s, len, SPLIT_BLANK, a, base + 1);
    if (n != base && n != base + 1) {
        return MR_E_PROTO_ARGS;
    }
    op->subject = a[0];
    if (n == base + 1) {
        op->reply = a[1];
    }
    return parse_sizes(p, hpub ? &a[n - 2] : NULL, a[n - 1], op);
}

/* MSG subject sid [reply] size | HMSG subject sid [reply] hdr total. */
static int parse_msg_args(const struct mr_parser *p, bool hmsg, const char *s, size_t len,
                          struct mr_proto_op *op)
{
    struct mr_view a[ARGS_MAX];
    uint32_t base = hmsg ? 4 : 3;
    uint32_t n = split_args(s, len, SPLIT_BLANK, a, base + 1);
    if (n != base && n != base + 1) {
        return MR_E_PROTO_ARGS;
    }
    op->subject = a[0];
    op->sid = a[1];
    if (n == base + 1) {
        op->reply = a[2];
    }
    return parse_sizes(p, hmsg ? &a[n - 2] : NULL, a[n - 1], op);
}

/* SUB subject [queue] sid. nats-server splits SUB and UNSUB arguments on '\r' too
 * ("SUB foo\r 1" subscribes to foo), unlike PUB. */
static int parse_sub_args(const char *s, size_t len, struct mr_proto_op *op)
{
    struct mr_view a[ARGS_MAX];
    uint32_t n = split_args(s, len, SPLIT_BLANK | SPLIT_CR, a, 3);
    if (n != 2 && n != 3) {
        return MR_E_PROTO_ARGS;
    }
    op->subject = a[0];
    if (n == 3) {
        op->queue = a[1];
    }
    op->sid = a[n - 1];
    return MR_OK;
}

/* UNSUB sid [max]. A max that is not a valid size is not an error for nats-server: it
 * reads as -1 and, like 0, removes the subscription at once. */
static int parse_unsub_args(const char *s, size_t len, struct mr_proto_op *op)
{
    struct mr_view a[ARGS_MAX];
    uint32_t n = split_args(s, len, SPLIT_BLANK | SPLIT_CR, a, 2);
    if (n != 1 && n != 2) {
        return MR_E_PROTO_ARGS;
    }
    op->sid = a[0];
    op->max_msgs = n == 2 ? parse_size(a[1]) : -1;
    return MR_OK;
}

/* The next blank-separated token of s[*i, len), or false at the end. */
static bool next_token(const char *s, size_t len, size_t *i, struct mr_view *out)
{
    const uint8_t *b = (const uint8_t *)s;
    while (*i < len && is_blank(b[*i])) {
        (*i)++;
    }
    if (*i == len) {
        return false;
    }
    size_t start = *i;
    while (*i < len && !is_blank(b[*i])) {
        (*i)++;
    }
    out->ptr = s + start;
    out->len = (uint32_t)(*i - start);
    return true;
}

/* RS+ acc subj [queue [weight]] | LS+ origin acc subj [queue [weight]] |
 * RS-/LS- acc subj [queue]; on a leaf connection LS+ subj [queue [weight]] and
 * LS- subj [queue]. A queue without a weight counts one member. */
static int parse_route_sub_args(bool leaf, enum verb_id id, const char *s, size_t len,
                                struct mr_proto_op *op)
{
    struct mr_view a[ARGS_MAX];
    bool plus = id == V_RS_PLUS || id == V_LS_PLUS;
    uint32_t skip = id == V_LS_PLUS && !leaf ? 1 : 0;
    uint32_t acc = leaf ? 0 : 1; /* leaf frames carry no account */
    uint32_t max = skip + acc + (plus ? 3 : 2);
    uint32_t n = split_args(s, len, SPLIT_BLANK, a, max);
    if (n < skip + acc + 1 || n > max) {
        return MR_E_PROTO_ARGS;
    }
    if (skip == 1) {
        op->origin = a[0];
    }
    if (acc == 1) {
        op->account = a[skip];
    }
    uint32_t base = skip + acc;
    op->subject = a[base];
    if (n >= base + 2) {
        op->queue = a[base + 1];
        op->weight = plus ? 1 : 0;
    }
    if (n == base + 3) {
        int64_t w = parse_size(a[base + 2]);
        if (w < 1 || w > INT32_MAX) {
            return MR_E_PROTO_ARGS;
        }
        op->weight = (int32_t)w;
    }
    return MR_OK;
}

/* RMSG acc subj [reply | + reply queues.. | '|' queues..] size, HMSG the same with
 * hdr total, LMSG origin first. On a leaf connection: LMSG subj [..] size and
 * HMSG subj [..] hdr total. The queue list may be long, so tokens are walked rather
 * than split into a fixed array. */
static int parse_routed_msg_args(const struct mr_parser *p, enum verb_id id, const char *s,
                                 size_t len, struct mr_proto_op *op)
{
    size_t i = 0;
    bool leaf = p->mode == MR_PARSER_LEAF;
    if (id == V_LMSG && !leaf && !next_token(s, len, &i, &op->origin)) {
        return MR_E_PROTO_ARGS;
    }
    if ((!leaf && !next_token(s, len, &i, &op->account)) ||
        !next_token(s, len, &i, &op->subject)) {
        return MR_E_PROTO_ARGS;
    }
    bool hdr = leaf ? id == V_RHMSG : id != V_RMSG;
    /* The rest: k middle tokens, then one or two sizes. Keep the first two and the
     * last three token views. */
    struct mr_view first[2] = {{NULL, 0}, {NULL, 0}};
    struct mr_view last[3] = {{NULL, 0}, {NULL, 0}, {NULL, 0}};
    size_t n = 0;
    struct mr_view t;
    while (next_token(s, len, &i, &t)) {
        if (n < 2) {
            first[n] = t;
        }
        last[0] = last[1];
        last[1] = last[2];
        last[2] = t;
        n++;
    }
    size_t sizes = hdr ? 2 : 1;
    if (n < sizes) {
        return MR_E_PROTO_ARGS;
    }
    size_t k = n - sizes; /* reply/queue tokens */
    const struct mr_view *end_of_middle = hdr ? &last[0] : &last[1];
    if (k == 1) {
        op->reply = first[0];
    } else if (k >= 2) {
        bool with_reply = first[0].len == 1 && first[0].ptr[0] == '+';
        bool queues_only = first[0].len == 1 && first[0].ptr[0] == '|';
        if (!with_reply && !queues_only) {
            return MR_E_PROTO_ARGS;
        }
        if (with_reply) {
            op->reply = first[1];
        }
        size_t queue_tokens = with_reply ? k - 2 : k - 1;
        if (queue_tokens > 0) {
            /* From the first queue token to the end of the last middle token. */
            const char *qstart = with_reply ? first[1].ptr + first[1].len : first[0].ptr + 1;
            while (is_blank((uint8_t)*qstart)) {
                qstart++;
            }
            const char *qend = end_of_middle->ptr + end_of_middle->len;
            op->queue.ptr = qstart;
            op->queue.len = (uint32_t)(qend - qstart);
        }
    }
    return parse_sizes(p, hdr ? &last[1] : NULL, last[2], op);
}

/* INFO/CONNECT JSON and -ERR text: the rest of the line without surrounding blanks;
 * -ERR also loses its single quotes. Parsing the JSON is the caller's job. */
static void parse_text_arg(bool unquote, const char *s, size_t len, struct mr_proto_op *op)
{
    while (len > 0 && is_blank((uint8_t)s[0])) {
        s++;
        len--;
    }
    while (len > 0 && is_blank((uint8_t)s[len - 1])) {
        len--;
    }
    if (unquote && len >= 2 && s[0] == '\'' && s[len - 1] == '\'') {
        s++;
        len -= 2;
    }
    op->json.ptr = len > 0 ? s : NULL;
    op->json.len = (uint32_t)len;
}

/* Parses the arguments of a complete control line. args is the text after the verb
 * (and, for AFTER_BLANK verbs, after the first blank), without the line end. */
static int parse_args(const struct mr_parser *p, enum verb_id id, const char *args, size_t args_len,
                      struct mr_proto_op *op)
{
    switch (id) {
    case V_PUB:
        return parse_pub_args(p, false, args, args_len, op);
    case V_HPUB:
        return parse_pub_args(p, true, args, args_len, op);
    case V_MSG:
        return parse_msg_args(p, false, args, args_len, op);
    case V_HMSG:
        return parse_msg_args(p, true, args, args_len, op);
    case V_SUB:
        return parse_sub_args(args, args_len, op);
    case V_UNSUB:
        return parse_unsub_args(args, args_len, op);
    case V_RS_PLUS:
    case V_RS_MINUS:
    case V_LS_PLUS:
    case V_LS_MINUS:
        return parse_route_sub_args(p->mode == MR_PARSER_LEAF, id, args, args_len, op);
    case V_RMSG:
    case V_RHMSG:
    case V_LMSG:
        return parse_routed_msg_args(p, id, args, args_len, op);
    case V_A_PLUS:
    case V_A_MINUS: {
        struct mr_view a[ARGS_MAX];
        if (split_args(args, args_len, SPLIT_BLANK, a, 1) != 1) {
            return MR_E_PROTO_ARGS;
        }
        op->account = a[0];
        return MR_OK;
    }
    case V_INFO:
    case V_CONNECT:
        parse_text_arg(false, args, args_len, op);
        return MR_OK;
    case V_ERR:
        parse_text_arg(true, args, args_len, op);
        return MR_OK;
    case V_PING:
    case V_PONG:
    case V_OK:
        return MR_OK;
    default:
        mr_panic(__FILE__, __LINE__, "parse_args called without a verb");
    }
}

/* The payload of size bytes starts at line_len and must be followed by exactly "\r\n";
 * nats-server rejects a bare '\n' there. Each trailer byte is judged as soon as it is
 * present, so "PUB foo 2\r\nhiX" fails without waiting for a fourth byte. */
static int take_payload(struct mr_parser *p, const uint8_t *buf, size_t len, size_t line_len,
                        struct mr_proto_op *op)
{
    size_t end = line_len + op->size;
    size_t total = end + 2;
    if (len > end && buf[end] != '\r') {
        return MR_E_PROTO_TRAILER;
    }
    if (len > end + 1 && buf[end + 1] != '\n') {
        return MR_E_PROTO_TRAILER;
    }
    if (len < total) {
        p->need_bytes = total;
        return MR_AGAIN;
    }
    op->payload = buf + line_len;
    mr_assert(total <= len);
    return (int)total;
}

/* Field by field: a struct assignment compiles to `rep stos`, which alone cost about a
 * third of a small PUB's parse time. */
static void op_clear(struct mr_proto_op *op)
{
    static const struct mr_view none = {NULL, 0};
    op->op = MR_OP_NONE;
    op->subject = none;
    op->reply = none;
    op->queue = none;
    op->sid = none;
    op->json = none;
    op->account = none;
    op->origin = none;
    op->max_msgs = -1;
    op->weight = 0;
    op->hdr_len = 0;
    op->size = 0;
    op->payload = NULL;
}

void mr_parser_init(struct mr_parser *p, enum mr_parser_mode mode, uint32_t max_control_line,
                    uint32_t max_payload)
{
    mr_assert(p != NULL);
    mr_assert(mode == MR_PARSER_SERVER || mode == MR_PARSER_CLIENT || mode == MR_PARSER_ROUTE ||
              mode == MR_PARSER_LEAF);
    mr_assert(max_control_line > 0);
    mr_assert(max_control_line <= MR_CONTROL_LINE_MAX);
    mr_assert(max_payload <= MR_PAYLOAD_MAX);
    p->mode = mode;
    p->max_control_line = max_control_line;
    p->max_payload = max_payload;
    p->need_bytes = 0;
}

int mr_parser_parse(struct mr_parser *p, const uint8_t *buf, size_t len, struct mr_proto_op *op)
{
    mr_assert(p != NULL);
    mr_assert(op != NULL);
    mr_assert(buf != NULL || len == 0);
    mr_assert(p->mode == MR_PARSER_SERVER || p->mode == MR_PARSER_CLIENT ||
              p->mode == MR_PARSER_ROUTE || p->mode == MR_PARSER_LEAF);

    op_clear(op);
    p->need_bytes = 0;
    if (len == 0) {
        return MR_AGAIN;
    }

    /* Only the first max_control_line bytes may hold the line end; looking no further
     * keeps the result independent of how much more the caller happens to hold. */
    size_t avail = len < p->max_control_line ? len : p->max_control_line;
    enum verb_id id = match_verb(p->mode, buf, avail);
    if (id == V_UNKNOWN) {
        return MR_E_PROTO_UNKNOWN_OP;
    }
    if (id == V_PARTIAL) {
        return avail == p->max_control_line ? MR_E_PROTO_CONTROL_LINE : MR_AGAIN;
    }
    const struct verb *v = &verbs[id];
    size_t args_start = v->after == AFTER_BLANK ? v->len + 1 : v->len;
    mr_assert(args_start <= avail);

    const uint8_t *nl = memchr(buf + args_start, '\n', avail - args_start);
    if (nl == NULL) {
        return avail == p->max_control_line ? MR_E_PROTO_CONTROL_LINE : MR_AGAIN;
    }
    size_t line_end = (size_t)(nl - buf);
    size_t line_len = line_end + 1;
    size_t content_end = line_end;
    if (content_end > args_start && buf[content_end - 1] == '\r') {
        content_end--;
    }
    mr_assert(line_len <= p->max_control_line);

    op->op = v->op;
    int rc = parse_args(p, id, (const char *)buf + args_start, content_end - args_start, op);
    if (rc < 0) {
        op_clear(op);
        return rc;
    }
    switch (id) {
    case V_PUB:
    case V_HPUB:
    case V_MSG:
    case V_HMSG:
    case V_RMSG:
    case V_RHMSG:
    case V_LMSG:
        rc = take_payload(p, buf, len, line_len, op);
        if (rc < 0) {
            op_clear(op);
        }
        return rc;
    default:
        return (int)line_len;
    }
}

const char *mr_parser_op_name(enum mr_op op)
{
    switch (op) {
    case MR_OP_NONE:
        return "NONE";
    case MR_OP_INFO:
        return "INFO";
    case MR_OP_CONNECT:
        return "CONNECT";
    case MR_OP_PUB:
        return "PUB";
    case MR_OP_HPUB:
        return "HPUB";
    case MR_OP_SUB:
        return "SUB";
    case MR_OP_UNSUB:
        return "UNSUB";
    case MR_OP_MSG:
        return "MSG";
    case MR_OP_HMSG:
        return "HMSG";
    case MR_OP_PING:
        return "PING";
    case MR_OP_PONG:
        return "PONG";
    case MR_OP_OK:
        return "+OK";
    case MR_OP_ERR:
        return "-ERR";
    case MR_OP_RS_PLUS:
        return "RS+";
    case MR_OP_RS_MINUS:
        return "RS-";
    case MR_OP_LS_PLUS:
        return "LS+";
    case MR_OP_LS_MINUS:
        return "LS-";
    case MR_OP_RMSG:
        return "RMSG";
    case MR_OP_RHMSG:
        return "HMSG";
    case MR_OP_LMSG:
        return "LMSG";
    case MR_OP_A_PLUS:
        return "A+";
    case MR_OP_A_MINUS:
        return "A-";
    }
    return "?";
}
