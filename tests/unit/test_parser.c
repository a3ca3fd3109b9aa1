/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Check suite "parser": the NATS client-protocol parser (core/proto/parser.h).
 *
 * Table-driven. Every valid sample is parsed whole, cut at every length (MR_AGAIN, and
 * need_bytes exact once the control line is complete) and split at every byte across two
 * calls on one parser; all samples are also run in the other mode, streamed as one buffer
 * and streamed in chunks of every size up to 64. Every error sample checks the error and
 * that each prefix gives MR_AGAIN or the same error. Inputs sit right before a PROT_NONE
 * page, so any read past len crashes the test. Nothing here owns memory beyond the one
 * guarded arena, which lives as long as the (forked) test process.
 *
 * ---------------------------------------------------------------------------------------------
 * nats-server 2.9.10 behaviour, observed on 127.0.0.1 with raw sockets after
 * CONNECT {"verbose":false} (headers:true for the HPUB rows; max_payload 100 from a config
 * file for the rows that say so). "-ERR+close" = the server sends the -ERR and closes;
 * "close" = it closes without sending anything; "waits" = nothing happens, the connection
 * stays open waiting for more bytes. This is the spec the server module follows:
 *
 *   parser error             nats-server reaction
 *   MR_E_PROTO_UNKNOWN_OP    -ERR 'Unknown Protocol Operation' + close
 *   MR_E_PROTO_CONTROL_LINE  -ERR 'maximum control line exceeded' + close
 *   MR_E_PROTO_MAX_PAYLOAD   -ERR 'Maximum Payload Violation' + close
 *   MR_E_PROTO_ARGS          close, no -ERR
 *   MR_E_PROTO_TRAILER       -ERR 'Unknown Protocol Operation' + close
 *
 *   input                                  nats-server 2.9.10          parser
 *   FOO bar\r\n | FOO | F (no line end)    -ERR+close at the 1st byte  UNKNOWN_OP
 *   PUBX\r\n | PUBX | HPUBX | SUBX         -ERR+close at the 'X'       UNKNOWN_OP
 *   PUB\r\n | HPUB\r\n | UNSUB\r\n         -ERR+close (verb needs a    UNKNOWN_OP
 *   -ERR\r\n                                 blank after it)
 *   " PING\r\n" | "\r\nPING\r\n" | \0      -ERR+close                  UNKNOWN_OP
 *   P\r\n | PI\r\n | PIN\r\n | +X | -X     -ERR+close                  UNKNOWN_OP
 *   +O | -E | PINGX (no line end)          waits                       AGAIN
 *   pub, PuB, ping, PiNg, sub, SuB, unsub, accepted: verbs are         the op
 *     UnSuB, hpub, connect, info, +ok, -err  case-insensitive
 *   PUB\tfoo  \t 1 | SUB  foo\t\t1 |       accepted: runs of spaces    the op
 *     PUB foo 2 \t \r\n (trailing blanks)    and tabs split arguments
 *   PUB foo 1\nx\r\n (bare \n line end)    accepted                    PUB
 *   PUB foo 2\r\nhi\n | hi\rX | hiXY       -ERR+close at the bad byte  TRAILER
 *   PUB foo 2\r\nhi\r                      waits                       AGAIN
 *   PUB foo 0\r\n\r\n                      accepted (empty payload)    PUB size 0
 *   PUB foo\r\n (size missing) | PUB \r\n  close                       ARGS
 *   PUB foo -1 | abc | 1x | +1             close                       ARGS
 *   PUB foo 0000000001 | 9999999999        close (a size is 1..9       ARGS
 *                                            digits)
 *   PUB foo 000000001\r\nx\r\n             accepted, size 1            PUB
 *   PUB foo 999999999\r\n (default limit)  -ERR+close                  MAX_PAYLOAD
 *   PUB foo bar baz 1 | PUB foo 101 x      close                       ARGS
 *   max_payload 100: PUB foo 101\r\n,      -ERR+close as soon as the   MAX_PAYLOAD
 *     PUB foo bar 101, HPUB foo 12 101       line ends, no payload sent
 *   max_payload 100: PUB foo 100\r\n       waits for the payload       AGAIN
 *   max_payload 100: PUB foo 1010          waits (no line end yet)     AGAIN
 *   max_payload 100: HPUB foo 200 101      close (hdr > total is       ARGS
 *                                            checked before the limit)
 *   HPUB foo 5 2 | HPUB foo 2 |            close                       ARGS
 *     HPUB foo a b c d | HPUB foo -1 2 |
 *     HPUB foo 1 x
 *   HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi   delivered as HMSG           HPUB
 *   HPUB foo 0 2\r\nhi                     accepted, delivered as a    HPUB hdr_len 0
 *                                            plain MSG
 *   HPUB foo 3 5\r\nabchi                  accepted, delivered as HMSG HPUB hdr_len 3
 *                                            with a 3-byte "header"
 *   HPUB ... when CONNECT had no           close                       HPUB (the server
 *     headers:true                                                       module closes)
 *   SUB foo\r\n (1 arg) | SUB foo q 1 x    close                       ARGS
 *   SUB foo q 1                            queue subscription          SUB
 *   SUB foo\r 1                            subscribes to foo (SUB and  SUB subject foo
 *                                            UNSUB also split on \r)
 *   UNSUB \r\n | UNSUB 1 2 3               close                       ARGS
 *   UNSUB 1 abc | UNSUB 1 -5 | UNSUB 1 0   accepted, unsubscribed at   UNSUB max_msgs
 *                                            once (a bad max reads -1)   -1 | -1 | 0
 *   UNSUB 1 2                              auto-unsubscribe after 2    UNSUB max_msgs 2
 *   PING junk\r\n | PINGjunk\r\n           PONG (rest of line ignored) PING
 *   PONG\r\n                               accepted                    PONG
 *   MSG foo 1 2\r\nhi\r\n | M              -ERR+close at the 'M'       UNKNOWN_OP
 *   HMSG foo 1 2 2\r\nhi\r\n               -ERR+close after the line   UNKNOWN_OP (at "HM")
 *   HM (no line end)                       waits                       UNKNOWN_OP
 *   +OK\r\n | +OKjunk\r\n                  ignored                     OK
 *   -ERR 'boom' | -err 'x' | -ERR\t'x'     close, no -ERR              ERR json boom / x
 *   INFO {}\r\n | INFO{}\r\n | info {}     ignored                     INFO json {}
 *   INFO xx\r\n                            close (bad JSON)            INFO json xx
 *   CONNECT\r\n | CONNECT \r\n             close (bad JSON)            CONNECT, no json
 *   CONNECT{}\r\n                          accepted                    CONNECT json {}
 *   PUB <5000 bytes> 1\r\n..., in one or   -ERR+close                  CONTROL_LINE
 *     two writes or without a line end
 *   CONNECT {"name":"<5000 bytes>"}        -ERR+close                  CONTROL_LINE
 *   PUB with 4096 argument bytes (after    accepted                    CONTROL_LINE (1)
 *     "PUB ", before CRLF: a 4102-byte line)
 *   PUB or SUB with 4097 argument bytes    -ERR+close, one write too   CONTROL_LINE
 *   PING + 8000 bytes + CRLF               PONG (no limit after PING)  CONTROL_LINE (1)
 *   PING + 10000 bytes, no line end        waits                       CONTROL_LINE (1)
 *   SUB foo 1\rX\n                         subscribes foo, sid 1       SUB queue 1 sid X (3)
 *   PUB foo\r 12\n                         PUB to "foo\r", size 1      PUB size 12 (3)
 *
 * Where we differ, on purpose:
 *  (1) nats-server compares only the argument bytes (after the verb and its blanks, before
 *      the line end) with max_control_line, so a PUB line of 4102 bytes passes and one of
 *      4103 fails; after PING, PONG and +OK it checks nothing at all. The parser counts
 *      the whole line including its end, as parser.h defines max_control_line, so it
 *      rejects lines 6 to 10 bytes shorter than nats-server does, and bounds every line.
 *  (2) "HM" is rejected at once in server mode; nats-server waits for the line end and
 *      then sends the same -ERR and closes. Same reaction, earlier.
 *  (3) Once nats-server has seen a '\r' anywhere in the arguments it cuts the last byte
 *      before '\n', whatever it is. We drop only a '\r' right before '\n', so lines with
 *      a stray '\r' inside parse differently (rows above). No client sends them.
 * ---------------------------------------------------------------------------------------------
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
#include "core/proto/parser.h"

#define ARENA_BYTES (1024 * 1024)
#define STREAM_BYTES (64 * 1024)
#define OPS_MAX 256

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

static int parse_at_guard(struct mr_parser *p, const void *src, size_t len, struct mr_proto_op *op,
                          const uint8_t **where)
{
    const uint8_t *buf = at_guard(src, len);
    if (where != NULL) {
        *where = buf;
    }
    return mr_parser_parse(p, buf, len, op);
}

/* ---- samples ------------------------------------------------------------------ */

struct sample {
    const char *name;
    enum mr_parser_mode mode;
    const char *in;
    size_t in_len;
    enum mr_op op;
    const char *subject; /* NULL: the view must be absent */
    const char *reply;
    const char *queue;
    const char *sid;
    const char *json;
    int64_t max_msgs; /* checked for UNSUB only; others must be -1 */
    uint32_t hdr_len;
    const char *payload; /* NULL: no payload; size is its length */
    size_t payload_len;
    const char *account; /* route ops */
    const char *origin;
    int32_t weight;
};

#define IN(s) .in = (s), .in_len = sizeof(s) - 1
#define PAYLOAD(s) .payload = (s), .payload_len = sizeof(s) - 1
#define SRV MR_PARSER_SERVER
#define CLI MR_PARSER_CLIENT
#define RTE MR_PARSER_ROUTE
#define LEF MR_PARSER_LEAF

static const struct sample valid[] = {
    /* PUB */
    {"pub", SRV, IN("PUB foo 5\r\nhello\r\n"), MR_OP_PUB, .subject = "foo", PAYLOAD("hello")},
    {"pub_reply", SRV, IN("PUB foo bar 5\r\nhello\r\n"), MR_OP_PUB, .subject = "foo",
     .reply = "bar", PAYLOAD("hello")},
    {"pub_lower", SRV, IN("pub foo 1\r\nx\r\n"), MR_OP_PUB, .subject = "foo", PAYLOAD("x")},
    {"pub_mixed_case", SRV, IN("PuB foo 1\r\nx\r\n"), MR_OP_PUB, .subject = "foo", PAYLOAD("x")},
    {"pub_tabs_and_runs", SRV, IN("PUB\tfoo  \t bar\t 2 \t \r\nhi\r\n"), MR_OP_PUB,
     .subject = "foo", .reply = "bar", PAYLOAD("hi")},
    {"pub_bare_lf", SRV, IN("PUB foo 2\nhi\r\n"), MR_OP_PUB, .subject = "foo", PAYLOAD("hi")},
    {"pub_empty_payload", SRV, IN("PUB foo 0\r\n\r\n"), MR_OP_PUB, .subject = "foo", PAYLOAD("")},
    {"pub_payload_with_crlf", SRV, IN("PUB a.b 6\r\na\r\nb\r\n\r\n"), MR_OP_PUB, .subject = "a.b",
     PAYLOAD("a\r\nb\r\n")},
    {"pub_nine_digit_size", SRV, IN("PUB foo 000000003\r\nabc\r\n"), MR_OP_PUB, .subject = "foo",
     PAYLOAD("abc")},
    {"pub_utf8_subject", SRV, IN("PUB f\xc3\xb6o 1\r\nx\r\n"), MR_OP_PUB, .subject = "f\xc3\xb6o",
     PAYLOAD("x")},
    {"pub_cr_inside_subject", SRV, IN("PUB foo\rbar 1\r\nx\r\n"), MR_OP_PUB, .subject = "foo\rbar",
     PAYLOAD("x")},
    /* HPUB */
    {"hpub", SRV, IN("HPUB foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"), MR_OP_HPUB, .subject = "foo",
     .hdr_len = 12, PAYLOAD("NATS/1.0\r\n\r\nhi")},
    {"hpub_reply", SRV, IN("hpub foo bar 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"), MR_OP_HPUB,
     .subject = "foo", .reply = "bar", .hdr_len = 12, PAYLOAD("NATS/1.0\r\n\r\nhi")},
    {"hpub_zero_header", SRV, IN("HPUB foo 0 2\r\nhi\r\n"), MR_OP_HPUB, .subject = "foo",
     PAYLOAD("hi")},
    {"hpub_short_header_passes", SRV, IN("HPUB foo 3 5\r\nabchi\r\n"), MR_OP_HPUB, .subject = "foo",
     .hdr_len = 3, PAYLOAD("abchi")},
    {"hpub_all_header", SRV, IN("HPUB foo 12 12\r\nNATS/1.0\r\n\r\n\r\n"), MR_OP_HPUB,
     .subject = "foo", .hdr_len = 12, PAYLOAD("NATS/1.0\r\n\r\n")},
    /* SUB */
    {"sub", SRV, IN("SUB foo 1\r\n"), MR_OP_SUB, .subject = "foo", .sid = "1"},
    {"sub_queue", SRV, IN("SUB foo.* q 17\r\n"), MR_OP_SUB, .subject = "foo.*", .queue = "q",
     .sid = "17"},
    {"sub_lower_bare_lf", SRV, IN("sub foo 1\n"), MR_OP_SUB, .subject = "foo", .sid = "1"},
    {"sub_tabs", SRV, IN("SuB\tfoo.>\t\tq\t1 \r\n"), MR_OP_SUB, .subject = "foo.>", .queue = "q",
     .sid = "1"},
    {"sub_splits_on_cr", SRV, IN("SUB foo\r 1\r\n"), MR_OP_SUB, .subject = "foo", .sid = "1"},
    {"sub_stray_cr_splits", SRV, IN("SUB foo 1\rX\n"), MR_OP_SUB, .subject = "foo", .queue = "1",
     .sid = "X"},
    /* UNSUB */
    {"unsub", SRV, IN("UNSUB 1\r\n"), MR_OP_UNSUB, .sid = "1", .max_msgs = -1},
    {"unsub_max", SRV, IN("UNSUB 1 10\r\n"), MR_OP_UNSUB, .sid = "1", .max_msgs = 10},
    {"unsub_max_zero", SRV, IN("unsub 1 0\r\n"), MR_OP_UNSUB, .sid = "1", .max_msgs = 0},
    {"unsub_max_largest", SRV, IN("UnSuB ab 999999999\r\n"), MR_OP_UNSUB, .sid = "ab",
     .max_msgs = 999999999},
    {"unsub_bad_max_reads_minus_one", SRV, IN("UNSUB 1 abc\r\n"), MR_OP_UNSUB, .sid = "1",
     .max_msgs = -1},
    {"unsub_negative_max_reads_minus_one", SRV, IN("UNSUB 1 -5\r\n"), MR_OP_UNSUB, .sid = "1",
     .max_msgs = -1},
    {"unsub_ten_digit_max_reads_minus_one", SRV, IN("UNSUB 1 1234567890\r\n"), MR_OP_UNSUB,
     .sid = "1", .max_msgs = -1},
    /* CONNECT, INFO */
    {"connect", SRV, IN("CONNECT {\"verbose\":false}\r\n"), MR_OP_CONNECT,
     .json = "{\"verbose\":false}"},
    {"connect_lower", SRV, IN("connect {}\r\n"), MR_OP_CONNECT, .json = "{}"},
    {"connect_no_blank", SRV, IN("CONNECT{}\r\n"), MR_OP_CONNECT, .json = "{}"},
    {"connect_blanks_trimmed", SRV, IN("CONNECT  \t{\"a\": 1} \t\r\n"), MR_OP_CONNECT,
     .json = "{\"a\": 1}"},
    {"connect_empty", SRV, IN("CONNECT\r\n"), MR_OP_CONNECT},
    {"connect_blank_only", SRV, IN("CONNECT \r\n"), MR_OP_CONNECT},
    {"info_from_client", SRV, IN("INFO {}\r\n"), MR_OP_INFO, .json = "{}"},
    {"info_bad_json_is_callers_problem", SRV, IN("info xx\n"), MR_OP_INFO, .json = "xx"},
    /* PING, PONG, +OK, -ERR */
    {"ping", SRV, IN("PING\r\n"), MR_OP_PING},
    {"ping_lower_bare_lf", SRV, IN("ping\n"), MR_OP_PING},
    {"ping_mixed", SRV, IN("PiNg\r\n"), MR_OP_PING},
    {"ping_junk_ignored", SRV, IN("PING junk\r\n"), MR_OP_PING},
    {"ping_glued_junk_ignored", SRV, IN("PINGjunk\r\n"), MR_OP_PING},
    {"pong", SRV, IN("PONG\r\n"), MR_OP_PONG},
    {"ok", SRV, IN("+OK\r\n"), MR_OP_OK},
    {"ok_junk_ignored", SRV, IN("+okjunk\r\n"), MR_OP_OK},
    {"err", SRV, IN("-ERR 'boom'\r\n"), MR_OP_ERR, .json = "boom"},
    {"err_lower_tab", SRV, IN("-err\t'x y'\r\n"), MR_OP_ERR, .json = "x y"},
    {"err_unquoted", SRV, IN("-ERR plain\r\n"), MR_OP_ERR, .json = "plain"},
    {"err_lone_quote_kept", SRV, IN("-ERR '\r\n"), MR_OP_ERR, .json = "'"},
    {"err_empty_quotes", SRV, IN("-ERR ''\r\n"), MR_OP_ERR},
    /* Client mode: what a server sends. */
    {"cli_info_29_trailing_space", CLI,
     IN("INFO {\"server_id\":\"N1\",\"max_payload\":1048576} \r\n"), MR_OP_INFO,
     .json = "{\"server_id\":\"N1\",\"max_payload\":1048576}"},
    {"cli_msg", CLI, IN("MSG foo 1 5\r\nhello\r\n"), MR_OP_MSG, .subject = "foo", .sid = "1",
     PAYLOAD("hello")},
    {"cli_msg_reply", CLI, IN("MSG foo 1 _INBOX.a 5\r\nhello\r\n"), MR_OP_MSG, .subject = "foo",
     .sid = "1", .reply = "_INBOX.a", PAYLOAD("hello")},
    {"cli_msg_double_space", CLI, IN("MSG _R.8 99  3\r\nabc\r\n"), MR_OP_MSG, .subject = "_R.8",
     .sid = "99", PAYLOAD("abc")},
    {"cli_msg_lower_empty", CLI, IN("msg foo 1 0\r\n\r\n"), MR_OP_MSG, .subject = "foo", .sid = "1",
     PAYLOAD("")},
    {"cli_hmsg", CLI, IN("HMSG foo 1 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"), MR_OP_HMSG,
     .subject = "foo", .sid = "1", .hdr_len = 12, PAYLOAD("NATS/1.0\r\n\r\nhi")},
    {"cli_hmsg_reply", CLI, IN("HMSG foo 1 r 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"), MR_OP_HMSG,
     .subject = "foo", .sid = "1", .reply = "r", .hdr_len = 12, PAYLOAD("NATS/1.0\r\n\r\nhi")},
    {"cli_hmsg_no_responders", CLI, IN("HMSG _INBOX.x 1 16 16\r\nNATS/1.0 503\r\n\r\n\r\n"),
     MR_OP_HMSG, .subject = "_INBOX.x", .sid = "1", .hdr_len = 16, PAYLOAD("NATS/1.0 503\r\n\r\n")},
    {"cli_ping", CLI, IN("PING\r\n"), MR_OP_PING},
    {"cli_pong", CLI, IN("PONG\r\n"), MR_OP_PONG},
    {"cli_ok", CLI, IN("+OK\r\n"), MR_OP_OK},
    {"cli_err", CLI, IN("-ERR 'Maximum Payload Violation'\r\n"), MR_OP_ERR,
     .json = "Maximum Payload Violation"},
    /* Route mode: what a route peer sends (nats-server 2.9's forms). */
    {"rte_rs_plus", RTE, IN("RS+ $G foo.>\r\n"), MR_OP_RS_PLUS, .account = "$G",
     .subject = "foo.>"},
    {"rte_rs_plus_queue", RTE, IN("RS+ APP q.* grp 3\r\n"), MR_OP_RS_PLUS, .account = "APP",
     .subject = "q.*", .queue = "grp", .weight = 3},
    {"rte_rs_plus_queue_no_weight", RTE, IN("rs+ A s g\n"), MR_OP_RS_PLUS, .account = "A",
     .subject = "s", .queue = "g", .weight = 1},
    {"rte_rs_minus", RTE, IN("RS- $G foo\r\n"), MR_OP_RS_MINUS, .account = "$G",
     .subject = "foo"},
    {"rte_rs_minus_queue", RTE, IN("RS- $G foo grp\r\n"), MR_OP_RS_MINUS, .account = "$G",
     .subject = "foo", .queue = "grp"},
    {"rte_ls_plus", RTE, IN("LS+ L1 APP q.> grp 1\r\n"), MR_OP_LS_PLUS, .origin = "L1",
     .account = "APP", .subject = "q.>", .queue = "grp", .weight = 1},
    {"rte_ls_minus", RTE, IN("LS- APP foo\r\n"), MR_OP_LS_MINUS, .account = "APP",
     .subject = "foo"},
    {"rte_rmsg", RTE, IN("RMSG $G foo 5\r\nhello\r\n"), MR_OP_RMSG, .account = "$G",
     .subject = "foo", PAYLOAD("hello")},
    {"rte_rmsg_reply", RTE, IN("RMSG $G foo _INBOX.x 2\r\nhi\r\n"), MR_OP_RMSG,
     .account = "$G", .subject = "foo", .reply = "_INBOX.x", PAYLOAD("hi")},
    {"rte_rmsg_queues", RTE, IN("RMSG APP q.0 | grp 1\r\nx\r\n"), MR_OP_RMSG,
     .account = "APP", .subject = "q.0", .queue = "grp", PAYLOAD("x")},
    {"rte_rmsg_reply_queues", RTE, IN("RMSG A s + r g1  g2 1\r\nx\r\n"), MR_OP_RMSG,
     .account = "A", .subject = "s", .reply = "r", .queue = "g1  g2", PAYLOAD("x")},
    {"rte_hmsg", RTE, IN("HMSG $G foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"), MR_OP_RHMSG,
     .account = "$G", .subject = "foo", .hdr_len = 12, PAYLOAD("NATS/1.0\r\n\r\nhi")},
    {"rte_hmsg_queues", RTE, IN("HMSG $G foo | a b 0 1\r\nx\r\n"), MR_OP_RHMSG,
     .account = "$G", .subject = "foo", .queue = "a b", PAYLOAD("x")},
    {"rte_lmsg", RTE, IN("LMSG L1 APP foo 0 3\r\nabc\r\n"), MR_OP_LMSG, .origin = "L1",
     .account = "APP", .subject = "foo", PAYLOAD("abc")},
    {"rte_a_plus", RTE, IN("A+ APP\r\n"), MR_OP_A_PLUS, .account = "APP"},
    {"rte_a_minus", RTE, IN("a- $G\n"), MR_OP_A_MINUS, .account = "$G"},
    {"rte_ping", RTE, IN("PING\r\n"), MR_OP_PING},
    /* Leaf mode: no account, no origin (nats-server 2.9's observed frames). */
    {"lef_ls_plus", LEF, IN("LS+ foo.>\r\n"), MR_OP_LS_PLUS, .subject = "foo.>"},
    {"lef_ls_plus_queue", LEF, IN("LS+ q.> grp 2\r\n"), MR_OP_LS_PLUS, .subject = "q.>",
     .queue = "grp", .weight = 2},
    {"lef_ls_minus_queue", LEF, IN("LS- q.> grp\r\n"), MR_OP_LS_MINUS, .subject = "q.>",
     .queue = "grp"},
    {"lef_lmsg", LEF, IN("LMSG foo 2\r\nhi\r\n"), MR_OP_LMSG, .subject = "foo", PAYLOAD("hi")},
    {"lef_lmsg_reply_queues", LEF, IN("LMSG foo + r g 1\r\nx\r\n"), MR_OP_LMSG,
     .subject = "foo", .reply = "r", .queue = "g", PAYLOAD("x")},
    {"lef_hmsg", LEF, IN("HMSG foo 12 14\r\nNATS/1.0\r\n\r\nhi\r\n"), MR_OP_RHMSG,
     .subject = "foo", .hdr_len = 12, PAYLOAD("NATS/1.0\r\n\r\nhi")},
    {"lef_ping", LEF, IN("PING\r\n"), MR_OP_PING},
    {"rte_pong", RTE, IN("PONG\r\n"), MR_OP_PONG},
    {"rte_info", RTE, IN("INFO {\"server_id\":\"N\"}\r\n"), MR_OP_INFO,
     .json = "{\"server_id\":\"N\"}"},
};

#define VALID_COUNT (sizeof(valid) / sizeof(valid[0]))

static struct mr_parser parser_for(enum mr_parser_mode mode)
{
    struct mr_parser p;
    mr_parser_init(&p, mode, MR_CONTROL_LINE_DEFAULT, MR_PAYLOAD_DEFAULT);
    return p;
}

static size_t line_len_of(const struct sample *s)
{
    const char *nl = memchr(s->in, '\n', s->in_len);
    ck_assert(nl != NULL);
    return (size_t)(nl - s->in) + 1;
}

static void check_view(const char *sample, const char *field, struct mr_view v, const char *want,
                       const uint8_t *buf, size_t consumed)
{
    if (want == NULL) {
        ck_assert_msg(v.len == 0 && v.ptr == NULL, "%s: %s should be absent", sample, field);
        return;
    }
    ck_assert_msg(v.len == strlen(want), "%s: %s length %u, want %zu", sample, field, v.len,
                  strlen(want));
    ck_assert_msg(memcmp(v.ptr, want, v.len) == 0, "%s: %s differs", sample, field);
    ck_assert_msg((const uint8_t *)v.ptr >= buf, "%s: %s before buf", sample, field);
    ck_assert_msg((const uint8_t *)v.ptr + v.len <= buf + consumed, "%s: %s past op", sample,
                  field);
}

/* Checks rc and every field of op against the sample, exactly. */
static void check_op(const struct sample *s, int rc, const struct mr_proto_op *op,
                     const uint8_t *buf)
{
    ck_assert_msg(rc == (int)s->in_len, "%s: rc %d (%s), want %zu", s->name, rc, mr_err_name(rc),
                  s->in_len);
    ck_assert_msg(op->op == s->op, "%s: op %s, want %s", s->name, mr_parser_op_name(op->op),
                  mr_parser_op_name(s->op));
    check_view(s->name, "subject", op->subject, s->subject, buf, (size_t)rc);
    check_view(s->name, "reply", op->reply, s->reply, buf, (size_t)rc);
    check_view(s->name, "queue", op->queue, s->queue, buf, (size_t)rc);
    check_view(s->name, "sid", op->sid, s->sid, buf, (size_t)rc);
    check_view(s->name, "json", op->json, s->json, buf, (size_t)rc);
    check_view(s->name, "account", op->account, s->account, buf, (size_t)rc);
    check_view(s->name, "origin", op->origin, s->origin, buf, (size_t)rc);
    ck_assert_msg(op->weight == s->weight, "%s: weight %d, want %d", s->name, op->weight,
                  s->weight);
    int64_t max_msgs = s->op == MR_OP_UNSUB ? s->max_msgs : -1;
    ck_assert_msg(op->max_msgs == max_msgs, "%s: max_msgs %lld, want %lld", s->name,
                  (long long)op->max_msgs, (long long)max_msgs);
    ck_assert_uint_eq(op->hdr_len, s->hdr_len);
    if (s->payload == NULL) {
        ck_assert_msg(op->payload == NULL && op->size == 0, "%s: unexpected payload", s->name);
        return;
    }
    ck_assert_uint_eq(op->size, s->payload_len);
    ck_assert_msg(op->payload >= buf + line_len_of(s), "%s: payload before line end", s->name);
    ck_assert_msg(op->payload + op->size + 2 == buf + rc, "%s: payload not at end", s->name);
    ck_assert_msg(memcmp(op->payload, s->payload, s->payload_len) == 0, "%s: payload differs",
                  s->name);
}

/* ---- valid samples ---------------------------------------------------------------- */

START_TEST(valid_sample_parses_with_exact_fields)
{
    for (size_t i = 0; i < VALID_COUNT; i++) {
        const struct sample *s = &valid[i];
        struct mr_parser p = parser_for(s->mode);
        struct mr_proto_op op;
        const uint8_t *buf;
        int rc = parse_at_guard(&p, s->in, s->in_len, &op, &buf);
        check_op(s, rc, &op, buf);
    }
}
END_TEST

START_TEST(valid_sample_cut_at_every_length_needs_more)
{
    for (size_t i = 0; i < VALID_COUNT; i++) {
        const struct sample *s = &valid[i];
        size_t line_len = line_len_of(s);
        for (size_t cut = 0; cut < s->in_len; cut++) {
            struct mr_parser p = parser_for(s->mode);
            struct mr_proto_op op;
            int rc = parse_at_guard(&p, s->in, cut, &op, NULL);
            ck_assert_msg(rc == MR_AGAIN, "%s cut %zu: rc %s", s->name, cut, mr_err_name(rc));
            ck_assert_int_eq(op.op, MR_OP_NONE);
            /* The whole length is known exactly when the line is complete and a payload
             * follows; before that the parser cannot know it. */
            size_t want = (s->payload != NULL && cut >= line_len) ? s->in_len : 0;
            ck_assert_msg(p.need_bytes == want, "%s cut %zu: need_bytes %zu, want %zu", s->name,
                          cut, p.need_bytes, want);
        }
    }
}
END_TEST

START_TEST(valid_sample_split_at_every_byte_gives_same_op)
{
    for (size_t i = 0; i < VALID_COUNT; i++) {
        const struct sample *s = &valid[i];
        for (size_t cut = 0; cut <= s->in_len; cut++) {
            struct mr_parser p = parser_for(s->mode);
            struct mr_proto_op op;
            int rc = parse_at_guard(&p, s->in, cut, &op, NULL);
            if (cut < s->in_len) {
                ck_assert_msg(rc == MR_AGAIN, "%s cut %zu: rc %s", s->name, cut, mr_err_name(rc));
            }
            const uint8_t *buf;
            rc = parse_at_guard(&p, s->in, s->in_len, &op, &buf);
            check_op(s, rc, &op, buf);
            ck_assert_uint_eq(p.need_bytes, 0);
        }
    }
}
END_TEST

START_TEST(valid_sample_in_other_mode_is_unknown_unless_shared)
{
    for (size_t i = 0; i < VALID_COUNT; i++) {
        const struct sample *s = &valid[i];
        enum mr_parser_mode other = s->mode == SRV ? CLI : SRV;
        struct mr_parser p = parser_for(other);
        struct mr_proto_op op;
        const uint8_t *buf;
        int rc = parse_at_guard(&p, s->in, s->in_len, &op, &buf);
        switch (s->op) {
        case MR_OP_INFO:
        case MR_OP_PING:
        case MR_OP_PONG:
        case MR_OP_OK:
        case MR_OP_ERR:
            check_op(s, rc, &op, buf);
            break;
        default:
            ck_assert_msg(rc == MR_E_PROTO_UNKNOWN_OP, "%s: rc %s", s->name, mr_err_name(rc));
            break;
        }
    }
}
END_TEST

/* ---- streams of several operations ------------------------------------------------- */

struct stream {
    uint8_t bytes[STREAM_BYTES];
    size_t len;
    const struct sample *ops[OPS_MAX];
    size_t count;
};

static void stream_build(struct stream *st, enum mr_parser_mode mode)
{
    st->len = 0;
    st->count = 0;
    for (size_t i = 0; i < VALID_COUNT; i++) {
        if (valid[i].mode != mode) {
            continue;
        }
        ck_assert_uint_le(st->len + valid[i].in_len, sizeof(st->bytes));
        memcpy(st->bytes + st->len, valid[i].in, valid[i].in_len);
        st->len += valid[i].in_len;
        st->ops[st->count++] = &valid[i];
    }
    ck_assert_uint_gt(st->count, 3);
}

/* Feeds the stream chunk bytes at a time the way a connection does: append what arrived
 * to the unconsumed rest, parse until MR_AGAIN, keep the rest. */
static void stream_check(const struct stream *st, enum mr_parser_mode mode, size_t chunk)
{
    static uint8_t pending[STREAM_BYTES];
    size_t pending_len = 0;
    size_t fed = 0;
    size_t seen = 0;
    struct mr_parser p = parser_for(mode);
    while (fed < st->len) {
        size_t n = st->len - fed < chunk ? st->len - fed : chunk;
        memcpy(pending + pending_len, st->bytes + fed, n);
        pending_len += n;
        fed += n;
        for (;;) {
            struct mr_proto_op op;
            const uint8_t *buf;
            int rc = parse_at_guard(&p, pending, pending_len, &op, &buf);
            if (rc == MR_AGAIN) {
                break;
            }
            ck_assert_uint_lt(seen, st->count);
            check_op(st->ops[seen], rc, &op, buf);
            seen++;
            memmove(pending, pending + rc, pending_len - (size_t)rc);
            pending_len -= (size_t)rc;
        }
    }
    ck_assert_uint_eq(seen, st->count);
    ck_assert_uint_eq(pending_len, 0);
}

START_TEST(stream_of_all_server_samples_in_one_buffer)
{
    static struct stream st;
    stream_build(&st, SRV);
    stream_check(&st, SRV, st.len);
}
END_TEST

START_TEST(stream_of_all_client_samples_in_one_buffer)
{
    static struct stream st;
    stream_build(&st, CLI);
    stream_check(&st, CLI, st.len);
}
END_TEST

START_TEST(stream_of_all_route_samples_in_one_buffer)
{
    static struct stream st;
    stream_build(&st, RTE);
    stream_check(&st, RTE, st.len);
    for (size_t chunk = 1; chunk < 64; chunk++) {
        stream_check(&st, RTE, chunk);
    }
    stream_build(&st, LEF);
    for (size_t chunk = 1; chunk < 64; chunk++) {
        stream_check(&st, LEF, chunk);
    }
}
END_TEST

START_TEST(stream_in_chunks_of_every_size_gives_same_ops)
{
    static struct stream st;
    for (int m = 0; m < 2; m++) {
        enum mr_parser_mode mode = m == 0 ? SRV : CLI;
        stream_build(&st, mode);
        for (size_t chunk = 1; chunk <= 64; chunk++) {
            stream_check(&st, mode, chunk);
        }
    }
}
END_TEST

/* ---- errors --------------------------------------------------------------------- */

struct bad {
    const char *name;
    enum mr_parser_mode mode;
    const char *in;
    size_t in_len;
    int err;
    uint32_t max_payload; /* 0: default */
};

#define MP100 .max_payload = 100

static const struct bad bad[] = {
    /* Unknown operations, reported as soon as the bytes cannot start a verb. */
    {"unknown_verb", SRV, IN("FOO bar\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"unknown_verb_no_line_end", SRV, IN("FOO"), MR_E_PROTO_UNKNOWN_OP},
    {"unknown_first_byte", SRV, IN("F"), MR_E_PROTO_UNKNOWN_OP},
    {"pubx", SRV, IN("PUBX\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"pubx_no_line_end", SRV, IN("PUBX"), MR_E_PROTO_UNKNOWN_OP},
    {"pub_without_blank", SRV, IN("PUB\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"hpubx", SRV, IN("HPUBX"), MR_E_PROTO_UNKNOWN_OP},
    {"hpub_without_blank", SRV, IN("HPUB\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"subx", SRV, IN("SUBX foo 1\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"unsub_without_blank", SRV, IN("UNSUB\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"err_without_blank", SRV, IN("-ERR\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"connex", SRV, IN("CONNEX {}\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"infx", SRV, IN("INFX"), MR_E_PROTO_UNKNOWN_OP},
    {"leading_blank", SRV, IN(" PING\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"empty_line", SRV, IN("\r\nPING\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"bare_lf", SRV, IN("\n"), MR_E_PROTO_UNKNOWN_OP},
    {"nul_byte", SRV, .in = "\0", .in_len = 1, .err = MR_E_PROTO_UNKNOWN_OP},
    {"vertical_tab_is_not_plus", SRV, IN("\vOK\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"cr_is_not_minus", SRV, IN("\rERR 'x'\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"high_byte", SRV, IN("\xd0\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"p_alone_line", SRV, IN("P\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"pi_alone_line", SRV, IN("PI\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"pin_alone_line", SRV, IN("PIN\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"plus_x", SRV, IN("+X"), MR_E_PROTO_UNKNOWN_OP},
    {"minus_x", SRV, IN("-X"), MR_E_PROTO_UNKNOWN_OP},
    {"msg_from_client", SRV, IN("MSG foo 1 2\r\nhi\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"msg_from_client_first_byte", SRV, IN("M"), MR_E_PROTO_UNKNOWN_OP},
    {"hmsg_from_client", SRV, IN("HMSG foo 1 2 2\r\nhi\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"hmsg_from_client_at_hm", SRV, IN("HM"), MR_E_PROTO_UNKNOWN_OP},
    {"route_rs_plus", SRV, IN("RS+ $G foo\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"account_a_plus", SRV, IN("A+ $G\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"leaf_ls_plus", SRV, IN("LS+ foo\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"cli_pub_from_server", CLI, IN("PUB foo 1\r\nx\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"cli_pu", CLI, IN("PU"), MR_E_PROTO_UNKNOWN_OP},
    {"cli_hpub_from_server", CLI, IN("HP"), MR_E_PROTO_UNKNOWN_OP},
    {"cli_sub_from_server", CLI, IN("S"), MR_E_PROTO_UNKNOWN_OP},
    {"cli_unsub_from_server", CLI, IN("UNSUB 1\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"cli_connect_from_server", CLI, IN("CONNECT {}\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"cli_msgx", CLI, IN("MSGX"), MR_E_PROTO_UNKNOWN_OP},
    {"cli_hmsg_without_blank", CLI, IN("HMSG\r\n"), MR_E_PROTO_UNKNOWN_OP},
    /* Bad arguments: nats-server closes without -ERR. */
    {"pub_missing_size", SRV, IN("PUB foo\r\n"), MR_E_PROTO_ARGS},
    {"pub_no_args", SRV, IN("PUB \r\n"), MR_E_PROTO_ARGS},
    {"pub_negative_size", SRV, IN("PUB foo -1\r\n"), MR_E_PROTO_ARGS},
    {"pub_non_numeric_size", SRV, IN("PUB foo abc\r\n"), MR_E_PROTO_ARGS},
    {"pub_size_with_suffix", SRV, IN("PUB foo 1x\r\n"), MR_E_PROTO_ARGS},
    {"pub_size_with_sign", SRV, IN("PUB foo +1\r\n"), MR_E_PROTO_ARGS},
    {"pub_size_ten_digits", SRV, IN("PUB foo 0000000001\r\n"), MR_E_PROTO_ARGS},
    {"pub_size_overflow", SRV, IN("PUB foo 99999999999999999999999\r\n"), MR_E_PROTO_ARGS},
    {"pub_too_many_args", SRV, IN("PUB foo bar baz 1\r\n"), MR_E_PROTO_ARGS},
    {"pub_size_not_last", SRV, IN("PUB foo 101 x\r\n"), MR_E_PROTO_ARGS, MP100},
    {"pub_size_with_extra_cr", SRV, IN("PUB foo 1\r\r\n"), MR_E_PROTO_ARGS},
    {"hpub_header_above_total", SRV, IN("HPUB foo 5 2\r\n"), MR_E_PROTO_ARGS},
    {"hpub_header_above_total_before_limit", SRV, IN("HPUB foo 200 101\r\n"), MR_E_PROTO_ARGS,
     MP100},
    {"hpub_too_few_args", SRV, IN("HPUB foo 2\r\n"), MR_E_PROTO_ARGS},
    {"hpub_too_many_args", SRV, IN("HPUB foo a b c d\r\n"), MR_E_PROTO_ARGS},
    {"hpub_negative_header", SRV, IN("HPUB foo -1 2\r\n"), MR_E_PROTO_ARGS},
    {"hpub_bad_total", SRV, IN("HPUB foo 1 x\r\n"), MR_E_PROTO_ARGS},
    {"sub_one_arg", SRV, IN("SUB foo\r\n"), MR_E_PROTO_ARGS},
    {"sub_four_args", SRV, IN("SUB foo q 1 x\r\n"), MR_E_PROTO_ARGS},
    {"sub_no_args", SRV, IN("SUB \r\n"), MR_E_PROTO_ARGS},
    {"unsub_no_args", SRV, IN("UNSUB \r\n"), MR_E_PROTO_ARGS},
    {"unsub_three_args", SRV, IN("UNSUB 1 2 3\r\n"), MR_E_PROTO_ARGS},
    {"cli_msg_too_few_args", CLI, IN("MSG foo 1\r\n"), MR_E_PROTO_ARGS},
    {"cli_msg_too_many_args", CLI, IN("MSG foo 1 a b 2\r\n"), MR_E_PROTO_ARGS},
    {"cli_msg_bad_size", CLI, IN("MSG foo 1 x\r\n"), MR_E_PROTO_ARGS},
    {"cli_hmsg_header_above_total", CLI, IN("HMSG foo 1 5 2\r\n"), MR_E_PROTO_ARGS},
    /* Payload over max_payload, reported before the payload arrives. */
    {"pub_over_max_payload", SRV, IN("PUB foo 101\r\n"), MR_E_PROTO_MAX_PAYLOAD, MP100},
    {"pub_reply_over_max_payload", SRV, IN("PUB foo bar 101\r\n"), MR_E_PROTO_MAX_PAYLOAD, MP100},
    {"pub_over_max_payload_with_payload", SRV,
     IN("PUB foo 101\r\n"
        "0123456789012345678901234567890123456789012345678901234567890123456789"
        "0123456789012345678901234567890\r\n"),
     MR_E_PROTO_MAX_PAYLOAD, MP100},
    {"hpub_total_over_max_payload", SRV, IN("HPUB foo 12 101\r\n"), MR_E_PROTO_MAX_PAYLOAD, MP100},
    {"pub_nine_nines_default_limit", SRV, IN("PUB foo 999999999\r\n"), MR_E_PROTO_MAX_PAYLOAD},
    {"hpub_nine_nines_default_limit", SRV, IN("HPUB foo 2 999999999\r\n"), MR_E_PROTO_MAX_PAYLOAD},
    {"cli_msg_over_max_payload", CLI, IN("MSG foo 1 101\r\n"), MR_E_PROTO_MAX_PAYLOAD, MP100},
    /* The payload must be followed by exactly CRLF. */
    {"trailer_wrong_bytes", SRV, IN("PUB foo 2\r\nhiXY"), MR_E_PROTO_TRAILER},
    {"trailer_wrong_first_byte_alone", SRV, IN("PUB foo 2\r\nhiX"), MR_E_PROTO_TRAILER},
    {"trailer_cr_then_wrong", SRV, IN("PUB foo 2\r\nhi\rX"), MR_E_PROTO_TRAILER},
    {"trailer_bare_lf", SRV, IN("PUB foo 2\r\nhi\n"), MR_E_PROTO_TRAILER},
    {"trailer_payload_longer_than_size", SRV, IN("PUB foo 1\r\nhi\r\n"), MR_E_PROTO_TRAILER},
    {"trailer_empty_payload", SRV, IN("PUB foo 0\r\nX"), MR_E_PROTO_TRAILER},
    {"trailer_hpub", SRV, IN("HPUB foo 0 2\r\nhi\n\n"), MR_E_PROTO_TRAILER},
    {"cli_trailer_msg", CLI, IN("MSG foo 1 2\r\nhiX"), MR_E_PROTO_TRAILER},
    /* Route mode. */
    {"rte_client_pub", RTE, IN("PUB foo 1\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"rte_client_sub", RTE, IN("SUB foo 1\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"rte_rs_bad_sign", RTE, IN("RS* $G foo\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"rte_rs_vt_is_not_plus", RTE, IN("RS\v $G foo\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"rte_rs_plus_one_arg", RTE, IN("RS+ $G\r\n"), MR_E_PROTO_ARGS},
    {"rte_rs_plus_zero_weight", RTE, IN("RS+ $G foo q 0\r\n"), MR_E_PROTO_ARGS},
    {"rte_rs_plus_bad_weight", RTE, IN("RS+ $G foo q x\r\n"), MR_E_PROTO_ARGS},
    {"rte_rs_plus_five_args", RTE, IN("RS+ $G foo q 1 x\r\n"), MR_E_PROTO_ARGS},
    {"rte_rs_minus_four_args", RTE, IN("RS- $G foo q 1\r\n"), MR_E_PROTO_ARGS},
    {"rte_rmsg_no_size", RTE, IN("RMSG $G foo\r\n"), MR_E_PROTO_ARGS},
    {"rte_rmsg_two_middle_no_marker", RTE, IN("RMSG $G foo a b 1\r\n"), MR_E_PROTO_ARGS},
    {"rte_hmsg_one_size", RTE, IN("HMSG $G foo 1\r\n"), MR_E_PROTO_ARGS},
    {"rte_rmsg_bad_size", RTE, IN("RMSG $G foo x\r\n"), MR_E_PROTO_ARGS},
    {"rte_lmsg_no_account", RTE, IN("LMSG L1\r\n"), MR_E_PROTO_ARGS},
    {"rte_trailer", RTE, IN("RMSG $G foo 1\r\nxY"), MR_E_PROTO_TRAILER},
    {"rte_a_plus_two_args", RTE, IN("A+ A B\r\n"), MR_E_PROTO_ARGS},
    {"rte_a_bad_sign", RTE, IN("A* A\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"lef_rs_plus", LEF, IN("RS+ $G foo\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"lef_rmsg", LEF, IN("RMSG $G foo 1\r\n"), MR_E_PROTO_UNKNOWN_OP},
    {"lef_ls_plus_four_args", LEF, IN("LS+ a q 1 x\r\n"), MR_E_PROTO_ARGS},
    {"lef_lmsg_no_size", LEF, IN("LMSG foo\r\n"), MR_E_PROTO_ARGS},
};

#define BAD_COUNT (sizeof(bad) / sizeof(bad[0]))

static struct mr_parser parser_for_bad(const struct bad *b)
{
    struct mr_parser p;
    mr_parser_init(&p, b->mode, MR_CONTROL_LINE_DEFAULT,
                   b->max_payload != 0 ? b->max_payload : MR_PAYLOAD_DEFAULT);
    return p;
}

/* The error for the whole input, and MR_AGAIN or that same error for every prefix:
 * the verdict never depends on where a read ended. */
static void check_error_and_prefixes(const char *name, struct mr_parser p, const void *in,
                                     size_t len, int err)
{
    struct mr_proto_op op;
    int rc = parse_at_guard(&p, in, len, &op, NULL);
    ck_assert_msg(rc == err, "%s: rc %s, want %s", name, mr_err_name(rc), mr_err_name(err));
    ck_assert_int_eq(op.op, MR_OP_NONE);
    for (size_t cut = 0; cut < len; cut++) {
        rc = parse_at_guard(&p, in, cut, &op, NULL);
        ck_assert_msg(rc == MR_AGAIN || rc == err, "%s cut %zu: rc %s, want %s or AGAIN", name, cut,
                      mr_err_name(rc), mr_err_name(err));
    }
}

START_TEST(bad_sample_gives_its_error_and_prefixes_agree)
{
    for (size_t i = 0; i < BAD_COUNT; i++) {
        const struct bad *b = &bad[i];
        check_error_and_prefixes(b->name, parser_for_bad(b), b->in, b->in_len, b->err);
    }
}
END_TEST

/* Inputs that nats-server leaves waiting must not be errors yet. */
START_TEST(incomplete_inputs_wait_with_the_right_need)
{
    static const struct {
        const char *in;
        size_t need;
    } cases[] = {
        {"+O", 0},
        {"-E", 0},
        {"PINGX", 0},
        {"PUB foo 1010", 0},
        {"PUB foo 100\r\n", 13 + 100 + 2},
        {"PUB foo 2\r\nhi\r", 11 + 2 + 2},
        {"HPUB foo 12 14\r\nNATS/1.0\r\n", 16 + 14 + 2},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct mr_parser p;
        mr_parser_init(&p, SRV, MR_CONTROL_LINE_DEFAULT, 100);
        struct mr_proto_op op;
        int rc = parse_at_guard(&p, cases[i].in, strlen(cases[i].in), &op, NULL);
        ck_assert_msg(rc == MR_AGAIN, "%s: rc %s", cases[i].in, mr_err_name(rc));
        ck_assert_uint_eq(p.need_bytes, cases[i].need);
    }
}
END_TEST

/* ---- limits --------------------------------------------------------------------- */

static size_t fill(char *dst, const char *head, char c, size_t n, const char *tail)
{
    size_t len = strlen(head);
    memcpy(dst, head, len);
    memset(dst + len, c, n);
    len += n;
    memcpy(dst + len, tail, strlen(tail));
    return len + strlen(tail);
}

START_TEST(long_control_lines_exceed_the_limit)
{
    static char in[16384];
    struct mr_parser p = parser_for(SRV);
    size_t len = fill(in, "PUB ", 'a', 5000, " 1\r\nx\r\n");
    check_error_and_prefixes("pub_long_subject", p, in, len, MR_E_PROTO_CONTROL_LINE);
    len = fill(in, "PUB ", 'a', 5000, "");
    check_error_and_prefixes("pub_long_no_line_end", p, in, len, MR_E_PROTO_CONTROL_LINE);
    len = fill(in, "CONNECT {\"name\":\"", 'a', 5000, "\"}\r\n");
    check_error_and_prefixes("connect_long_json", p, in, len, MR_E_PROTO_CONTROL_LINE);
    len = fill(in, "PING", 'x', 10000, "");
    check_error_and_prefixes("ping_junk_without_end", p, in, len, MR_E_PROTO_CONTROL_LINE);
    len = fill(in, "SUB ", 'a', 5000, " 1\r\n");
    check_error_and_prefixes("sub_long_subject", p, in, len, MR_E_PROTO_CONTROL_LINE);
    struct mr_parser c = parser_for(CLI);
    len = fill(in, "INFO {\"a\":\"", 'a', 5000, "\"}\r\n");
    check_error_and_prefixes("cli_info_long", c, in, len, MR_E_PROTO_CONTROL_LINE);
}
END_TEST

/* The limit counts the whole line including its end: 4096 bytes pass, 4097 do not. */
START_TEST(control_line_limit_is_exact)
{
    static char in[8192];
    struct mr_proto_op op;
    struct mr_parser p = parser_for(SRV);
    /* "SUB " + subject + " 1\r\n" is subject + 8 bytes. */
    size_t len = fill(in, "SUB ", 'a', 4096 - 8, " 1\r\n");
    ck_assert_uint_eq(len, 4096);
    ck_assert_int_eq(parse_at_guard(&p, in, len, &op, NULL), 4096);
    ck_assert_uint_eq(op.subject.len, 4096 - 8);
    len = fill(in, "SUB ", 'a', 4096 - 7, " 1\r\n");
    check_error_and_prefixes("sub_4097", p, in, len, MR_E_PROTO_CONTROL_LINE);

    mr_parser_init(&p, SRV, 8, MR_PAYLOAD_DEFAULT);
    ck_assert_int_eq(parse_at_guard(&p, "PUB a 1\nx\r\n", 11, &op, NULL), 11);
    check_error_and_prefixes("small_limit", p, "PUB a 1\r\nx\r\n", 12, MR_E_PROTO_CONTROL_LINE);
    ck_assert_int_eq(parse_at_guard(&p, "PING\r\n", 6, &op, NULL), 6);
    /* Only the first max_control_line bytes are looked at, even for the verb, so a
     * prefix and the whole input agree. */
    mr_parser_init(&p, SRV, 2, MR_PAYLOAD_DEFAULT);
    check_error_and_prefixes("verb_beyond_limit", p, "PIX\r\n", 5, MR_E_PROTO_CONTROL_LINE);
    ck_assert_int_eq(parse_at_guard(&p, "X", 1, &op, NULL), MR_E_PROTO_UNKNOWN_OP);
}
END_TEST

START_TEST(max_payload_boundary_is_inclusive)
{
    static char in[256];
    struct mr_parser p;
    struct mr_proto_op op;
    mr_parser_init(&p, SRV, MR_CONTROL_LINE_DEFAULT, 100);
    size_t len = fill(in, "PUB foo 100\r\n", 'z', 100, "\r\n");
    ck_assert_int_eq(parse_at_guard(&p, in, len, &op, NULL), (int)len);
    ck_assert_uint_eq(op.size, 100);
    len = fill(in, "HPUB foo 12 100\r\nNATS/1.0\r\n\r\n", 'z', 88, "\r\n");
    ck_assert_int_eq(parse_at_guard(&p, in, len, &op, NULL), (int)len);
    ck_assert_uint_eq(op.hdr_len, 12);
    mr_parser_init(&p, SRV, MR_CONTROL_LINE_DEFAULT, 0);
    ck_assert_int_eq(parse_at_guard(&p, "PUB foo 0\r\n\r\n", 13, &op, NULL), 13);
    check_error_and_prefixes("zero_limit", p, "PUB foo 1\r\nx\r\n", 14, MR_E_PROTO_MAX_PAYLOAD);
}
END_TEST

/* A payload far larger than the control line is consumed whole, and need_bytes says how
 * long the operation is as soon as the line is in. */
START_TEST(large_payload_needs_whole_length)
{
    static char in[300 * 1000];
    size_t body = 250 * 1000;
    size_t len = fill(in, "PUB big 250000\r\n", 'q', body, "\r\n");
    size_t line = strlen("PUB big 250000\r\n");
    for (size_t cut = 0; cut < len; cut += cut < line + 4 ? 1 : 997) {
        struct mr_parser p = parser_for(SRV);
        struct mr_proto_op op;
        ck_assert_int_eq(parse_at_guard(&p, in, cut, &op, NULL), MR_AGAIN);
        ck_assert_uint_eq(p.need_bytes, cut >= line ? len : 0);
    }
    struct mr_parser p = parser_for(SRV);
    struct mr_proto_op op;
    const uint8_t *buf;
    ck_assert_int_eq(parse_at_guard(&p, in, len, &op, &buf), (int)len);
    ck_assert_uint_eq(op.size, body);
    ck_assert_ptr_eq(op.payload, buf + line);
}
END_TEST

START_TEST(op_names_are_the_verbs)
{
    ck_assert_str_eq(mr_parser_op_name(MR_OP_NONE), "NONE");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_INFO), "INFO");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_CONNECT), "CONNECT");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_PUB), "PUB");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_HPUB), "HPUB");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_SUB), "SUB");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_UNSUB), "UNSUB");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_MSG), "MSG");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_HMSG), "HMSG");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_PING), "PING");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_PONG), "PONG");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_OK), "+OK");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_ERR), "-ERR");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_RS_PLUS), "RS+");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_RS_MINUS), "RS-");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_LS_PLUS), "LS+");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_LS_MINUS), "LS-");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_RMSG), "RMSG");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_RHMSG), "HMSG");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_LMSG), "LMSG");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_A_PLUS), "A+");
    ck_assert_str_eq(mr_parser_op_name(MR_OP_A_MINUS), "A-");
}
END_TEST

START_TEST(empty_input_needs_more)
{
    struct mr_parser p = parser_for(SRV);
    struct mr_proto_op op;
    ck_assert_int_eq(parse_at_guard(&p, "", 0, &op, NULL), MR_AGAIN);
    ck_assert_uint_eq(p.need_bytes, 0);
}
END_TEST

/* A programmer error, not bad input: the parser asserts. */
START_TEST(init_rejects_limit_above_max)
{
    struct mr_parser p;
    mr_parser_init(&p, SRV, MR_CONTROL_LINE_MAX + 1, MR_PAYLOAD_DEFAULT);
}
END_TEST

static Suite *parser_suite(void)
{
    Suite *s = suite_create("parser");

    TCase *tc = tcase_create("valid");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, valid_sample_parses_with_exact_fields);
    tcase_add_test(tc, valid_sample_cut_at_every_length_needs_more);
    tcase_add_test(tc, valid_sample_split_at_every_byte_gives_same_op);
    tcase_add_test(tc, valid_sample_in_other_mode_is_unknown_unless_shared);
    tcase_add_test(tc, empty_input_needs_more);
    tcase_add_test(tc, op_names_are_the_verbs);
    suite_add_tcase(s, tc);

    tc = tcase_create("stream");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, stream_of_all_server_samples_in_one_buffer);
    tcase_add_test(tc, stream_of_all_client_samples_in_one_buffer);
    tcase_add_test(tc, stream_of_all_route_samples_in_one_buffer);
    tcase_add_test(tc, stream_in_chunks_of_every_size_gives_same_ops);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, bad_sample_gives_its_error_and_prefixes_agree);
    tcase_add_test(tc, incomplete_inputs_wait_with_the_right_need);
    tcase_add_test_raise_signal(tc, init_rejects_limit_above_max, SIGABRT);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, long_control_lines_exceed_the_limit);
    tcase_add_test(tc, control_line_limit_is_exact);
    tcase_add_test(tc, max_payload_boundary_is_inclusive);
    tcase_add_test(tc, large_payload_needs_whole_length);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(parser_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
