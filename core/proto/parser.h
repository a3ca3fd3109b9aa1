/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The NATS client-protocol parser (see shared reference protocol.md, section 3).
 *
 * Zero-copy and allocation-free: given (buf, len) it parses exactly one operation from
 * the front of buf and returns the bytes it consumed (control line, payload and the
 * CRLF after the payload), MR_AGAIN when buf holds only part of an operation, or a
 * negative mr_err. Views in struct mr_proto_op point into buf and live until the
 * caller reuses buf. The parser keeps no bytes: after MR_AGAIN the caller keeps the
 * unconsumed bytes and calls again with more appended; need_bytes then says how long
 * the whole operation will be once the control line is known, so a large payload is
 * not rescanned byte by byte.
 *
 * It reports events; the connection module acts on them. It never closes, replies or
 * validates subjects (subject.h does that): each error code maps to nats-server's
 * reaction in the server module.
 *
 * Errors:
 *  MR_E_PROTO_UNKNOWN_OP   the verb is not an operation of this mode, as soon as the
 *                          bytes seen cannot start one   (-ERR 'Unknown Protocol Operation')
 *  MR_E_PROTO_CONTROL_LINE no line end within max_control_line bytes
 *                          (-ERR 'maximum control line exceeded')
 *  MR_E_PROTO_MAX_PAYLOAD  a size above max_payload      (-ERR 'Maximum Payload Violation')
 *  MR_E_PROTO_ARGS         wrong argument count, bad or negative size, header size above
 *                          total size, ...               (closed without -ERR)
 *  MR_E_PROTO_TRAILER      the payload is not followed by CRLF
 *                          (-ERR 'Unknown Protocol Operation')
 */
#ifndef MR_PARSER_H
#define MR_PARSER_H

#include <stddef.h>
#include <stdint.h>

/* A view of bytes inside a caller's buffer; len 0 means absent. Not NUL-terminated. */
struct mr_view {
    const char *ptr;
    uint32_t len;
};

enum mr_op {
    MR_OP_NONE = 0,
    MR_OP_INFO,    /* INFO <json>            json */
    MR_OP_CONNECT, /* CONNECT <json>         json */
    MR_OP_PUB,     /* PUB subj [reply] size  subject, reply, size, payload */
    MR_OP_HPUB,    /* HPUB subj [reply] hdr total */
    MR_OP_SUB,     /* SUB subj [queue] sid   subject, queue, sid */
    MR_OP_UNSUB,   /* UNSUB sid [max]        sid, max_msgs */
    MR_OP_MSG,     /* MSG subj sid [reply] size */
    MR_OP_HMSG,    /* HMSG subj sid [reply] hdr total */
    MR_OP_PING,
    MR_OP_PONG,
    MR_OP_OK,  /* +OK */
    MR_OP_ERR, /* -ERR '<text>'          json = text without the quotes */
    /* Route mode (server to server, protocol.md section 5). */
    MR_OP_RS_PLUS,  /* RS+ acc subj [queue weight]        account, subject, queue, weight */
    MR_OP_RS_MINUS, /* RS- acc subj [queue]               account, subject, queue */
    MR_OP_LS_PLUS,  /* LS+ origin acc subj [queue weight] origin too */
    MR_OP_LS_MINUS, /* LS- acc subj [queue] */
    MR_OP_RMSG,     /* RMSG acc subj [reply | + reply queues.. | '|' queues..] size */
    MR_OP_RHMSG,    /* HMSG acc subj [same forms] hdr total */
    MR_OP_LMSG,     /* LMSG origin acc subj [same forms] hdr total */
    MR_OP_A_PLUS,   /* A+ acc   (gateways: interest in the account again) */
    MR_OP_A_MINUS,  /* A- acc   (gateways: no interest in the account) */
};

/* Which side of the connection we are: a server parses what clients send (CONNECT,
 * PUB, HPUB, SUB, UNSUB, PING, PONG, INFO, +OK, -ERR); a client parses what servers
 * send (INFO, MSG, HMSG, PING, PONG, +OK, -ERR). Anything else is an unknown op. */
enum mr_parser_mode {
    MR_PARSER_SERVER = 1,
    MR_PARSER_CLIENT = 2,
    /* A route or gateway peer: INFO, CONNECT, PING, PONG, +OK, -ERR and the RS+/RS-/
     * LS+/LS-, RMSG/HMSG/LMSG, A+/A- ops above. */
    MR_PARSER_ROUTE = 3,
    /* A leaf node peer: INFO, CONNECT, PING, PONG, +OK, -ERR and LS+ subj [q w],
     * LS- subj [q], LMSG subj [forms] size, HMSG subj [forms] hdr total (no account: the
     * connection is bound to one; no origin). */
    MR_PARSER_LEAF = 4,
};

struct mr_proto_op {
    enum mr_op op;
    struct mr_view subject;
    struct mr_view reply;
    struct mr_view queue;
    struct mr_view sid;
    struct mr_view json;
    /* Route ops: the account, the origin cluster of LS+/LMSG, and for RMSG/HMSG/LMSG
     * the queue names as one view ("q1 q2", split on blanks), in queue. */
    struct mr_view account;
    struct mr_view origin;
    int64_t max_msgs;       /* UNSUB; -1 when absent */
    int32_t weight;         /* RS+/LS+ with a queue: members behind it (>= 1) */
    uint32_t hdr_len;       /* HPUB/HMSG: header bytes at the front of payload */
    uint32_t size;          /* payload bytes including headers */
    const uint8_t *payload; /* size bytes inside buf */
};

struct mr_parser {
    enum mr_parser_mode mode;
    uint32_t max_control_line; /* bytes up to and including the line end */
    uint32_t max_payload;      /* bytes of headers + body */
    /* After MR_AGAIN: the full length of the pending operation when known, else 0. */
    size_t need_bytes;
};

void mr_parser_init(struct mr_parser *p, enum mr_parser_mode mode, uint32_t max_control_line,
                    uint32_t max_payload);

/* Parses one operation from the front of buf. Returns bytes consumed (> 0),
 * MR_AGAIN, or a negative MR_E_PROTO_* error. On success *op is filled. */
int mr_parser_parse(struct mr_parser *p, const uint8_t *buf, size_t len, struct mr_proto_op *op);

/* The op's verb as text ("PUB"), for logs. */
const char *mr_parser_op_name(enum mr_op op);

#endif
