/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Check suite "websocket": the WebSocket transport (core/proto/websocket.h).
 *
 * Handshakes: RFC 6455's sample key, accepted requests (client, leaf, no-masking,
 * permessage-deflate offers) with their exact 101 answer, every rejection nats-server
 * 2.9 names with its status and text, the leaf remote's request and its judgement of
 * the answer (accept key, status, compression, no-masking echo), and a full round trip.
 *
 * Frames: the RFC 6455 5.7 examples (masked and unmasked "Hello", fragments, ping and
 * pong, the 126 and 127 length forms) and more samples are decoded whole from right
 * before a PROT_NONE page, cut at every length, split at every byte across two feeds,
 * and streamed in chunks of every size up to 64 through a receive buffer; each way gives
 * the same trace (message bytes and boundaries, control events, final error). Every
 * error sample checks the error, the close code, and that prefixes and splits agree.
 * Encoder output is decoded back for every length form, masked and unmasked.
 */
#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/proto/websocket.h"

#define ARENA_BYTES (256 * 1024)
#define TRACE_MAX (200 * 1024)

/* ---- guarded input -------------------------------------------------------------- */

static uint8_t *arena_end;

/* Copies src to the very end of a writable mapping followed by a PROT_NONE page, so
 * touching buf[len] faults. */
static uint8_t *at_guard(const void *src, size_t len)
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
    uint8_t *buf = arena_end - len;
    if (len > 0) {
        memcpy(buf, src, len);
    }
    return buf;
}

/* ---- traces ------------------------------------------------------------------------ */

/* What a stream decodes to, independent of how it was cut: "<b:" + message bytes + ">"
 * per message, "[ping:..]" "[pong:..]" "[close:code:reason]" per control frame, then the
 * final result "=again", "=closed" or "=err:<code>:<reason>", and leftover bytes. */
struct trace {
    char text[TRACE_MAX];
    size_t len;
};

static void trace_put(struct trace *t, const void *p, size_t n)
{
    ck_assert_uint_le(t->len + n, TRACE_MAX);
    if (n == 0) {
        return; /* an empty payload's pointer may be NULL, which memcpy may not take */
    }
    memcpy(t->text + t->len, p, n);
    t->len += n;
}

static void trace_str(struct trace *t, const char *s)
{
    trace_put(t, s, strlen(s));
}

static void trace_event(struct trace *t, const struct mr_ws_event *ev)
{
    char tmp[64];
    switch (ev->type) {
    case MR_WS_EV_DATA:
        if (ev->first) {
            trace_str(t, ev->opcode == MR_WS_OP_TEXT ? "<t:" : "<b:");
        }
        trace_put(t, ev->payload, ev->len);
        if (ev->last) {
            trace_str(t, ">");
        }
        break;
    case MR_WS_EV_PING:
    case MR_WS_EV_PONG:
        trace_str(t, ev->type == MR_WS_EV_PING ? "[ping:" : "[pong:");
        trace_put(t, ev->payload, ev->len);
        trace_str(t, "]");
        break;
    case MR_WS_EV_CLOSE:
        snprintf(tmp, sizeof(tmp), "[close:%u:", (unsigned)ev->close_code);
        trace_str(t, tmp);
        trace_put(t, ev->close_reason.ptr, ev->close_reason.len);
        trace_str(t, "]");
        break;
    default:
        ck_abort_msg("event type %d", (int)ev->type);
    }
}

struct dec_cfg {
    enum mr_ws_role role;
    bool mask_required;
    bool compression;
    uint64_t max;
};

static const struct dec_cfg SERVER = {MR_WS_ROLE_SERVER, true, false, 1024 * 1024};
static const struct dec_cfg SERVER_NOMASK = {MR_WS_ROLE_SERVER, false, false, 1024 * 1024};
static const struct dec_cfg CLIENT = {MR_WS_ROLE_CLIENT, false, false, 1024 * 1024};

/* A receive buffer: bytes arrive in pieces, the decoder runs until MR_AGAIN or an error,
 * consumed bytes are dropped and the rest kept, as a connection would. */
struct feeder {
    struct mr_ws_decoder d;
    uint8_t *buf;
    size_t len;
    int last;
    struct trace *t;
};

static void feeder_init(struct feeder *f, const struct dec_cfg *c, struct trace *t)
{
    mr_ws_decoder_init(&f->d, c->role, c->mask_required, c->compression, c->max);
    f->buf = malloc(ARENA_BYTES);
    ck_assert(f->buf != NULL);
    f->len = 0;
    f->last = MR_AGAIN;
    f->t = t;
    t->len = 0;
}

static void feeder_feed(struct feeder *f, const uint8_t *p, size_t n)
{
    if (f->last != MR_AGAIN) {
        return;
    }
    ck_assert_uint_le(f->len + n, ARENA_BYTES);
    memcpy(f->buf + f->len, p, n);
    f->len += n;
    for (;;) {
        struct mr_ws_event ev;
        int rc = mr_ws_decode(&f->d, f->buf, f->len, &ev);
        if (rc < 0) {
            ck_assert_int_eq(ev.type, MR_WS_EV_NONE);
            f->last = rc;
            return;
        }
        ck_assert_int_gt(rc, 0);
        ck_assert_uint_le((size_t)rc, f->len);
        if (ev.len > 0) {
            ck_assert(ev.payload >= f->buf && ev.payload + ev.len <= f->buf + rc);
        }
        trace_event(f->t, &ev);
        memmove(f->buf, f->buf + rc, f->len - (size_t)rc);
        f->len -= (size_t)rc;
    }
}

/* Ends the trace with the final result; a decoder that ended on MR_AGAIN also records
 * how many bytes it left unconsumed. */
static void feeder_finish(struct feeder *f)
{
    char tmp[192];
    if (f->last == MR_AGAIN) {
        snprintf(tmp, sizeof(tmp), "=again:%zu", f->len);
    } else if (f->last == MR_E_CLOSED) {
        snprintf(tmp, sizeof(tmp), "=closed");
    } else {
        snprintf(tmp, sizeof(tmp), "=err:%d:%u:%s", f->last, (unsigned)f->d.close_code,
                 f->d.reason);
    }
    trace_str(f->t, tmp);
    free(f->buf);
}

static void decode_split(const struct dec_cfg *c, const uint8_t *s, size_t n, size_t cut,
                         struct trace *t)
{
    struct feeder f;
    feeder_init(&f, c, t);
    feeder_feed(&f, s, cut);
    feeder_feed(&f, s + cut, n - cut);
    feeder_finish(&f);
}

static void decode_chunks(const struct dec_cfg *c, const uint8_t *s, size_t n, size_t chunk,
                          struct trace *t)
{
    struct feeder f;
    feeder_init(&f, c, t);
    for (size_t off = 0; off < n; off += chunk) {
        feeder_feed(&f, s + off, off + chunk <= n ? chunk : n - off);
    }
    feeder_finish(&f);
}

/* Decodes the whole stream from the guard arena, call after call, in place. */
static void decode_whole(const struct dec_cfg *c, const uint8_t *s, size_t n, struct trace *t)
{
    struct mr_ws_decoder d;
    mr_ws_decoder_init(&d, c->role, c->mask_required, c->compression, c->max);
    uint8_t *buf = at_guard(s, n);
    size_t off = 0;
    int rc;
    t->len = 0;
    for (;;) {
        struct mr_ws_event ev;
        rc = mr_ws_decode(&d, buf + off, n - off, &ev);
        if (rc < 0) {
            break;
        }
        trace_event(t, &ev);
        off += (size_t)rc;
    }
    char tmp[192];
    if (rc == MR_AGAIN) {
        snprintf(tmp, sizeof(tmp), "=again:%zu", n - off);
    } else if (rc == MR_E_CLOSED) {
        snprintf(tmp, sizeof(tmp), "=closed");
    } else {
        snprintf(tmp, sizeof(tmp), "=err:%d:%u:%s", rc, (unsigned)d.close_code, d.reason);
    }
    trace_str(t, tmp);
}

static bool trace_eq(const struct trace *a, const struct trace *b)
{
    return a->len == b->len && memcmp(a->text, b->text, a->len) == 0;
}

static struct trace t_whole;
static struct trace t_other;

/* Checks that every split (stride 1 for short samples, coarser inside long payloads)
 * and chunk size gives the whole stream's trace, which must equal want when given. */
static void check_all_splits(const struct dec_cfg *c, const uint8_t *s, size_t n,
                             const char *want, size_t want_len)
{
    decode_whole(c, s, n, &t_whole);
    if (want != NULL) {
        ck_assert_msg(t_whole.len == want_len && memcmp(t_whole.text, want, want_len) == 0,
                      "trace %.*s", (int)(t_whole.len < 200 ? t_whole.len : 200), t_whole.text);
    }
    for (size_t cut = 0; cut <= n; cut += (cut < 300 || cut + 300 > n) ? 1 : 257) {
        decode_split(c, s, n, cut, &t_other);
        ck_assert_msg(trace_eq(&t_whole, &t_other), "split at %zu differs", cut);
    }
    for (size_t chunk = 1; chunk <= 64; chunk++) {
        if (n > 4096 && chunk < 61) {
            continue; /* long samples: a few chunk sizes are enough */
        }
        decode_chunks(c, s, n, chunk, &t_other);
        ck_assert_msg(trace_eq(&t_whole, &t_other), "chunks of %zu differ", chunk);
    }
}

#define WANT(s) s, sizeof(s) - 1

/* ---- RFC 6455 5.7 and other valid samples ----------------------------------------- */

static const uint8_t unmasked_hello[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
static const uint8_t masked_hello[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                       0x7f, 0x9f, 0x4d, 0x51, 0x58};
static const uint8_t fragmented_hello[] = {0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f};
static const uint8_t ping_hello[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
static const uint8_t masked_pong_hello[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                            0x7f, 0x9f, 0x4d, 0x51, 0x58};

START_TEST(rfc_unmasked_hello)
{
    check_all_splits(&CLIENT, unmasked_hello, sizeof(unmasked_hello), WANT("<t:Hello>=again:0"));
    check_all_splits(&SERVER_NOMASK, unmasked_hello, sizeof(unmasked_hello),
                     WANT("<t:Hello>=again:0"));
}
END_TEST

START_TEST(rfc_masked_hello)
{
    check_all_splits(&SERVER, masked_hello, sizeof(masked_hello), WANT("<t:Hello>=again:0"));
    /* No-masking negotiated, yet a masked frame still decodes. */
    check_all_splits(&SERVER_NOMASK, masked_hello, sizeof(masked_hello),
                     WANT("<t:Hello>=again:0"));
}
END_TEST

START_TEST(rfc_fragmented_hello)
{
    check_all_splits(&CLIENT, fragmented_hello, sizeof(fragmented_hello),
                     WANT("<t:Hello>=again:0"));
}
END_TEST

START_TEST(rfc_ping_and_masked_pong)
{
    check_all_splits(&CLIENT, ping_hello, sizeof(ping_hello), WANT("[ping:Hello]=again:0"));
    check_all_splits(&SERVER, masked_pong_hello, sizeof(masked_pong_hello),
                     WANT("[pong:Hello]=again:0"));
}
END_TEST

START_TEST(control_frames_interleave_with_fragments)
{
    /* "Hel", ping "x", empty pong, "lo": RFC 6455 5.4 lets control frames in between. */
    const uint8_t s[] = {0x01, 0x03, 'H', 'e', 'l', 0x89, 0x01, 'x', 0x8a, 0x00,
                         0x80, 0x02, 'l', 'o'};
    check_all_splits(&CLIENT, s, sizeof(s), WANT("<t:Hel[ping:x][pong:]lo>=again:0"));
}
END_TEST

/* A binary frame of n bytes in the 16- or 64-bit length form (RFC 6455 5.7). */
static size_t long_frame(uint8_t *out, size_t n, bool form64)
{
    size_t h = 0;
    out[h++] = 0x82;
    if (form64) {
        out[h++] = 0x7f;
        for (int i = 0; i < 8; i++) {
            out[h++] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
        }
    } else {
        out[h++] = 0x7e;
        out[h++] = (uint8_t)(n >> 8);
        out[h++] = (uint8_t)n;
    }
    for (size_t i = 0; i < n; i++) {
        out[h + i] = (uint8_t)('a' + i % 26);
    }
    return h + n;
}

START_TEST(rfc_256_bytes_in_16_bit_form)
{
    static uint8_t s[4 + 256];
    static char want[300];
    size_t n = long_frame(s, 256, false);
    ck_assert_uint_eq(n, sizeof(s));
    ck_assert_int_eq(s[2], 0x01);
    ck_assert_int_eq(s[3], 0x00);
    int w = snprintf(want, sizeof(want), "<b:%.*s>=again:0", 256, (const char *)s + 4);
    check_all_splits(&CLIENT, s, n, want, (size_t)w);
}
END_TEST

START_TEST(rfc_64k_in_64_bit_form)
{
    static uint8_t s[10 + 65536];
    static char want[65600];
    size_t n = long_frame(s, 65536, true);
    ck_assert_uint_eq(n, sizeof(s));
    int w = snprintf(want, sizeof(want), "<b:%.*s>=again:0", 65536, (const char *)s + 10);
    check_all_splits(&CLIENT, s, n, want, (size_t)w);
}
END_TEST

START_TEST(masked_long_frame_unmasks_across_chunks)
{
    static uint8_t plain[3000];
    static uint8_t s[3000 + MR_WS_HEADER_MAX];
    for (size_t i = 0; i < sizeof(plain); i++) {
        plain[i] = (uint8_t)('A' + i % 23);
    }
    const uint8_t key[4] = {0x01, 0x80, 0x7f, 0xee};
    size_t h = mr_ws_header_encode(s, MR_WS_OP_BINARY, true, false, sizeof(plain), key);
    ck_assert_uint_eq(h, 8);
    mr_ws_mask(s + h, plain, sizeof(plain), key, 0);
    static char want[3100];
    int w = snprintf(want, sizeof(want), "<b:%.*s>=again:0", 3000, (const char *)plain);
    check_all_splits(&SERVER, s, h + sizeof(plain), want, (size_t)w);
}
END_TEST

START_TEST(close_frames_decode_code_and_reason)
{
    const uint8_t normal[] = {0x88, 0x06, 0x03, 0xe8, 'b', 'y', 'e', '!'};
    check_all_splits(&CLIENT, normal, sizeof(normal), WANT("[close:1000:bye!]=closed"));
    const uint8_t empty[] = {0x88, 0x00};
    check_all_splits(&CLIENT, empty, sizeof(empty), WANT("[close:1005:]=closed"));
    /* Bytes after a close frame are never decoded. */
    const uint8_t after[] = {0x88, 0x02, 0x0f, 0xa0, 0x81, 0x01, 'x'};
    check_all_splits(&CLIENT, after, sizeof(after), WANT("[close:4000:]=closed"));
    /* A UTF-8 reason (U+00E9) passes. */
    const uint8_t utf8[] = {0x88, 0x04, 0x03, 0xe9, 0xc3, 0xa9};
    check_all_splits(&CLIENT, utf8, sizeof(utf8), WANT("[close:1001:\xc3\xa9]=closed"));
}
END_TEST

START_TEST(empty_frames_and_messages)
{
    /* An empty binary message, then an empty first fragment completed by "ok". */
    const uint8_t s[] = {0x82, 0x00, 0x02, 0x00, 0x80, 0x02, 'o', 'k'};
    check_all_splits(&CLIENT, s, sizeof(s), WANT("<b:><b:ok>=again:0"));
}
END_TEST

START_TEST(compressed_flag_passes_through_when_negotiated)
{
    const struct dec_cfg c = {MR_WS_ROLE_CLIENT, false, true, 1024};
    const uint8_t s[] = {0xc2, 0x02, 0x01, 0x02};
    struct mr_ws_decoder d;
    mr_ws_decoder_init(&d, c.role, c.mask_required, c.compression, c.max);
    uint8_t *buf = at_guard(s, sizeof(s));
    struct mr_ws_event ev;
    ck_assert_int_eq(mr_ws_decode(&d, buf, sizeof(s), &ev), 4);
    ck_assert(ev.compressed);
    ck_assert(ev.first && ev.last);
}
END_TEST

START_TEST(need_bytes_hints_are_exact)
{
    struct mr_ws_decoder d;
    struct mr_ws_event ev;
    mr_ws_decoder_init(&d, MR_WS_ROLE_SERVER, true, false, 1024);
    uint8_t *buf = at_guard(masked_hello, 1);
    ck_assert_int_eq(mr_ws_decode(&d, buf, 1, &ev), MR_AGAIN);
    ck_assert_uint_eq(d.need_bytes, 2);
    buf = at_guard(masked_hello, 2);
    ck_assert_int_eq(mr_ws_decode(&d, buf, 2, &ev), MR_AGAIN);
    ck_assert_uint_eq(d.need_bytes, 6);
    buf = at_guard(masked_hello, 6);
    ck_assert_int_eq(mr_ws_decode(&d, buf, 6, &ev), MR_AGAIN);
    ck_assert_uint_eq(d.need_bytes, 7);
    buf = at_guard(masked_hello, 7);
    ck_assert_int_eq(mr_ws_decode(&d, buf, 7, &ev), 7);
    ck_assert_uint_eq(ev.len, 1);
    ck_assert_int_eq(ev.payload[0], 'H');
    ck_assert(ev.first && !ev.last);
    /* The rest of the payload continues the same frame, unmasked at the right place. */
    buf = at_guard(masked_hello + 7, 4);
    ck_assert_int_eq(mr_ws_decode(&d, buf, 4, &ev), 4);
    ck_assert(!ev.first && ev.last);
    ck_assert_int_eq(memcmp(ev.payload, "ello", 4), 0);
    /* A control frame waits for its whole payload. */
    mr_ws_decoder_init(&d, MR_WS_ROLE_CLIENT, false, false, 1024);
    buf = at_guard(ping_hello, 4);
    ck_assert_int_eq(mr_ws_decode(&d, buf, 4, &ev), MR_AGAIN);
    ck_assert_uint_eq(d.need_bytes, 7);
}
END_TEST

START_TEST(decoder_unmasks_in_place_only_what_it_consumes)
{
    struct mr_ws_decoder d;
    struct mr_ws_event ev;
    mr_ws_decoder_init(&d, MR_WS_ROLE_SERVER, true, false, 1024);
    uint8_t buf[sizeof(masked_hello) + sizeof(masked_hello)];
    memcpy(buf, masked_hello, sizeof(masked_hello));
    memcpy(buf + sizeof(masked_hello), masked_hello, 5); /* a second frame, incomplete */
    size_t len = sizeof(masked_hello) + 5;
    ck_assert_int_eq(mr_ws_decode(&d, buf, len, &ev), (int)sizeof(masked_hello));
    ck_assert(ev.payload == buf + 6);
    ck_assert_int_eq(memcmp(buf + 6, "Hello", 5), 0);
    ck_assert_int_eq(mr_ws_decode(&d, buf + 11, 5, &ev), MR_AGAIN);
    ck_assert_int_eq(memcmp(buf + 11, masked_hello, 5), 0);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------ */

struct bad_sample {
    const char *name;
    const struct dec_cfg *cfg;
    uint8_t bytes[32];
    size_t len;
    int err;
    uint16_t code;
    const char *reason; /* a prefix of d.reason */
};

static const struct dec_cfg SMALL = {MR_WS_ROLE_CLIENT, false, false, 100};

static const struct bad_sample bad_samples[] = {
    {"unmasked client frame", &SERVER, {0x81, 0x01, 'x'}, 3, MR_E_PROTO_ARGS, 1002,
     "mask bit missing"},
    {"masked server frame", &CLIENT, {0x81, 0x81, 1, 2, 3, 4, 'x'}, 7, MR_E_PROTO_ARGS, 1002,
     "masked frame from server"},
    {"opcode 3", &CLIENT, {0x83, 0x00}, 2, MR_E_PROTO_ARGS, 1002, "unknown opcode 3"},
    {"opcode 11", &CLIENT, {0x8b, 0x00}, 2, MR_E_PROTO_ARGS, 1002, "unknown opcode 11"},
    {"a NATS client on the ws port", &SERVER, {'C', 'O', 'N', 'N'}, 4, MR_E_PROTO_ARGS, 1002,
     "unknown opcode 3"},
    {"rsv2", &CLIENT, {0xa2, 0x00}, 2, MR_E_PROTO_ARGS, 1002, "reserved bits"},
    {"rsv1 without compression", &CLIENT, {0xc2, 0x00}, 2, MR_E_PROTO_ARGS, 1002,
     "compressed frame without"},
    {"fragmented ping", &CLIENT, {0x09, 0x00}, 2, MR_E_PROTO_ARGS, 1002,
     "control frame does not have final bit set"},
    {"compressed ping", &CLIENT, {0xc9, 0x00}, 2, MR_E_PROTO_ARGS, 1002,
     "compressed control frame"},
    {"ping over 125", &CLIENT, {0x89, 0x7e, 0x00, 0x7e}, 4, MR_E_PROTO_ARGS, 1002,
     "control frame length bigger than maximum allowed of 125 bytes"},
    {"continuation without message", &CLIENT, {0x80, 0x01, 'x'}, 3, MR_E_PROTO_ARGS, 1002,
     "invalid continuation frame"},
    {"new message inside one", &CLIENT, {0x01, 0x01, 'a', 0x81, 0x01, 'b'}, 6, MR_E_PROTO_ARGS,
     1002, "new message started before final frame"},
    {"compressed continuation", &CLIENT, {0x01, 0x01, 'a', 0xc0, 0x01, 'b'}, 6,
     MR_E_PROTO_ARGS, 1002, "invalid continuation frame"},
    {"64-bit length top bit", &CLIENT, {0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0}, 10,
     MR_E_PROTO_ARGS, 1002, "invalid frame length"},
    {"frame over the limit", &SMALL, {0x82, 0x65}, 2, MR_E_PROTO_MAX_PAYLOAD, 1009,
     "frame of 101 bytes"},
    {"16-bit frame over the limit", &SMALL, {0x82, 0x7e, 0x01, 0x00}, 4, MR_E_PROTO_MAX_PAYLOAD,
     1009, "frame of 256 bytes"},
    {"fragments over the limit", &SMALL,
     {0x02, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x5b}, 14, MR_E_PROTO_MAX_PAYLOAD, 1009,
     "frame of 91 bytes"},
    {"close of one byte", &CLIENT, {0x88, 0x01, 0x03}, 3, MR_E_PROTO_ARGS, 1002,
     "close frame payload of 1 byte"},
    {"close code 1005", &CLIENT, {0x88, 0x02, 0x03, 0xed}, 4, MR_E_PROTO_ARGS, 1002,
     "invalid close status code 1005"},
    {"close code 999", &CLIENT, {0x88, 0x02, 0x03, 0xe7}, 4, MR_E_PROTO_ARGS, 1002,
     "invalid close status code 999"},
    {"close reason not utf-8", &CLIENT, {0x88, 0x04, 0x03, 0xe8, 0xc0, 0xaf}, 6, MR_E_PROTO_ARGS,
     1007, "invalid utf8 body in close frame"},
    {"close reason surrogate", &CLIENT, {0x88, 0x05, 0x03, 0xe8, 0xed, 0xa0, 0x80}, 7,
     MR_E_PROTO_ARGS, 1007, "invalid utf8 body in close frame"},
};

START_TEST(bad_sample_gives_its_error_and_close_code)
{
    const struct bad_sample *b = &bad_samples[_i];
    struct mr_ws_decoder d;
    mr_ws_decoder_init(&d, b->cfg->role, b->cfg->mask_required, b->cfg->compression,
                       b->cfg->max);
    uint8_t *buf = at_guard(b->bytes, b->len);
    struct mr_ws_event ev;
    int rc;
    size_t off = 0;
    while ((rc = mr_ws_decode(&d, buf + off, b->len - off, &ev)) > 0) {
        off += (size_t)rc;
    }
    ck_assert_msg(rc == b->err, "%s: rc %d", b->name, rc);
    ck_assert_uint_eq(d.close_code, b->code);
    ck_assert_msg(strncmp(d.reason, b->reason, strlen(b->reason)) == 0, "%s: reason '%s'",
                  b->name, d.reason);
    ck_assert_uint_le(strlen(d.reason), MR_WS_REASON_MAX);
    /* Sticky: the next call gives the same error. */
    ck_assert_int_eq(mr_ws_decode(&d, buf + off, b->len - off, &ev), b->err);
    /* Every cut and split gives the same trace. */
    check_all_splits(b->cfg, b->bytes, b->len, NULL, 0);
}
END_TEST

START_TEST(decode_after_close_is_closed)
{
    struct mr_ws_decoder d;
    struct mr_ws_event ev;
    mr_ws_decoder_init(&d, MR_WS_ROLE_CLIENT, false, false, 1024);
    const uint8_t s[] = {0x88, 0x00, 0x89, 0x00};
    uint8_t *buf = at_guard(s, sizeof(s));
    ck_assert_int_eq(mr_ws_decode(&d, buf, sizeof(s), &ev), 2);
    ck_assert_int_eq(ev.type, MR_WS_EV_CLOSE);
    ck_assert_int_eq(mr_ws_decode(&d, buf + 2, 2, &ev), MR_E_CLOSED);
    ck_assert_int_eq(ev.type, MR_WS_EV_NONE);
}
END_TEST

START_TEST(limit_is_inclusive)
{
    static uint8_t s[4 + 100];
    size_t n = long_frame(s, 100, false);
    struct mr_ws_decoder d;
    struct mr_ws_event ev;
    mr_ws_decoder_init(&d, MR_WS_ROLE_CLIENT, false, false, 100);
    uint8_t *buf = at_guard(s, n);
    ck_assert_int_eq(mr_ws_decode(&d, buf, n, &ev), (int)n);
    ck_assert_uint_eq(ev.len, 100);
}
END_TEST

START_TEST(init_rejects_limit_above_max)
{
    struct mr_ws_decoder d;
    mr_ws_decoder_init(&d, MR_WS_ROLE_SERVER, true, false, MR_WS_MESSAGE_MAX + 1);
}
END_TEST

/* ---- encoder ----------------------------------------------------------------------- */

START_TEST(encoder_matches_rfc_samples)
{
    uint8_t out[64];
    const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    int n = mr_ws_frame_encode(out, sizeof(out), MR_WS_OP_TEXT, (const uint8_t *)"Hello", 5,
                               NULL);
    ck_assert_int_eq(n, (int)sizeof(unmasked_hello));
    ck_assert_int_eq(memcmp(out, unmasked_hello, (size_t)n), 0);
    n = mr_ws_frame_encode(out, sizeof(out), MR_WS_OP_TEXT, (const uint8_t *)"Hello", 5, key);
    ck_assert_int_eq(n, (int)sizeof(masked_hello));
    ck_assert_int_eq(memcmp(out, masked_hello, (size_t)n), 0);
    n = mr_ws_frame_encode(out, sizeof(out), MR_WS_OP_PONG, (const uint8_t *)"Hello", 5, key);
    ck_assert_int_eq(memcmp(out, masked_pong_hello, (size_t)n), 0);
    /* Fragments: a first frame without FIN and a final continuation. */
    size_t h = mr_ws_header_encode(out, MR_WS_OP_TEXT, false, false, 3, NULL);
    ck_assert_uint_eq(h, 2);
    ck_assert_int_eq(memcmp(out, fragmented_hello, 2), 0);
    h = mr_ws_header_encode(out, MR_WS_OP_CONTINUATION, true, false, 2, NULL);
    ck_assert_int_eq(memcmp(out, fragmented_hello + 5, 2), 0);
    ck_assert_int_eq(mr_ws_frame_encode(out, 6, MR_WS_OP_TEXT, (const uint8_t *)"Hello", 5,
                                        NULL),
                     MR_E_LIMIT);
}
END_TEST

START_TEST(encoder_round_trips_every_length_form)
{
    static uint8_t payload[70000];
    static uint8_t frame[70000 + MR_WS_HEADER_MAX];
    for (size_t i = 0; i < sizeof(payload); i++) {
        payload[i] = (uint8_t)(i * 7 + 3);
    }
    const size_t lens[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};
    const uint8_t key[4] = {0xde, 0xad, 0xbe, 0xef};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        for (int masked = 0; masked <= 1; masked++) {
            int n = mr_ws_frame_encode(frame, sizeof(frame), MR_WS_OP_BINARY, payload, lens[i],
                                       masked ? key : NULL);
            ck_assert_int_gt(n, 0);
            size_t want_head = (lens[i] <= 125 ? 2 : lens[i] <= 65535 ? 4 : 10) + 4 * masked;
            ck_assert_uint_eq((size_t)n, want_head + lens[i]);
            struct mr_ws_decoder d;
            mr_ws_decoder_init(&d, masked ? MR_WS_ROLE_SERVER : MR_WS_ROLE_CLIENT, true, false,
                               1024 * 1024);
            uint8_t *buf = at_guard(frame, (size_t)n);
            struct mr_ws_event ev;
            ck_assert_int_eq(mr_ws_decode(&d, buf, (size_t)n, &ev), n);
            ck_assert_int_eq(ev.type, MR_WS_EV_DATA);
            ck_assert(ev.first && ev.last);
            ck_assert_uint_eq(ev.len, lens[i]);
            ck_assert_int_eq(memcmp(ev.payload, payload, lens[i]), 0);
        }
    }
}
END_TEST

START_TEST(mask_in_pieces_equals_mask_whole)
{
    uint8_t src[100];
    uint8_t whole[100];
    uint8_t pieces[100];
    const uint8_t key[4] = {1, 2, 3, 4};
    for (size_t i = 0; i < sizeof(src); i++) {
        src[i] = (uint8_t)i;
    }
    mr_ws_mask(whole, src, sizeof(src), key, 0);
    for (size_t cut = 0; cut <= sizeof(src); cut++) {
        memcpy(pieces, src, sizeof(src));
        mr_ws_mask(pieces, pieces, cut, key, 0);
        mr_ws_mask(pieces + cut, pieces + cut, sizeof(src) - cut, key, cut);
        ck_assert_int_eq(memcmp(pieces, whole, sizeof(src)), 0);
    }
    mr_ws_mask(pieces, whole, sizeof(src), key, 0);
    ck_assert_int_eq(memcmp(pieces, src, sizeof(src)), 0);
}
END_TEST

START_TEST(close_encode_round_trips_and_truncates)
{
    uint8_t out[MR_WS_HEADER_MAX + MR_WS_CONTROL_MAX];
    const uint8_t key[4] = {9, 8, 7, 6};
    int n = mr_ws_close_encode(out, sizeof(out), 1002, "mask bit missing", 16, key);
    ck_assert_int_eq(n, 6 + 18);
    struct mr_ws_decoder d;
    struct mr_ws_event ev;
    mr_ws_decoder_init(&d, MR_WS_ROLE_SERVER, true, false, 1024);
    uint8_t *buf = at_guard(out, (size_t)n);
    ck_assert_int_eq(mr_ws_decode(&d, buf, (size_t)n, &ev), n);
    ck_assert_int_eq(ev.type, MR_WS_EV_CLOSE);
    ck_assert_uint_eq(ev.close_code, 1002);
    ck_assert_uint_eq(ev.close_reason.len, 16);
    ck_assert_int_eq(memcmp(ev.close_reason.ptr, "mask bit missing", 16), 0);

    char reason[200];
    memset(reason, 'r', sizeof(reason));
    n = mr_ws_close_encode(out, sizeof(out), 1008, reason, sizeof(reason), NULL);
    ck_assert_int_eq(n, 2 + 125);
    ck_assert_int_eq(memcmp(out + 2 + 2 + 120, "...", 3), 0);
    n = mr_ws_close_encode(out, sizeof(out), 1000, reason, MR_WS_REASON_MAX, NULL);
    ck_assert_int_eq(n, 2 + 125);
    ck_assert_int_eq(out[2 + 2 + 122], 'r');
    n = mr_ws_close_encode(out, sizeof(out), 0, NULL, 0, NULL);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(out[0], 0x88);
    ck_assert_int_eq(out[1], 0x00);
    ck_assert_int_eq(mr_ws_close_encode(out, 3, 1000, "abc", 3, NULL), MR_E_LIMIT);
}
END_TEST

/* ---- server handshake -------------------------------------------------------------- */

#define SAMPLE_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define SAMPLE_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

START_TEST(accept_key_matches_rfc_sample)
{
    char out[MR_WS_ACCEPT_LEN + 1];
    mr_ws_accept_key(SAMPLE_KEY, strlen(SAMPLE_KEY), out);
    ck_assert_str_eq(out, SAMPLE_ACCEPT);
}
END_TEST

static int upgrade(const char *req, struct mr_ws_upgrade *up)
{
    struct mr_http_parser p;
    mr_http_parser_init(&p, MR_HTTP_HEAD_MAX, MR_HTTP_HEADERS_MAX, MR_HTTP_BODY_MAX);
    size_t n = strlen(req);
    const uint8_t *buf = at_guard(req, n);
    int rc = mr_ws_upgrade_parse(&p, buf, n, up);
    /* Every cut of an accepted or rejected request is incomplete (the head ends last). */
    for (size_t cut = 0; cut < n; cut++) {
        struct mr_http_parser q;
        struct mr_ws_upgrade u2;
        mr_http_parser_init(&q, MR_HTTP_HEAD_MAX, MR_HTTP_HEADERS_MAX, MR_HTTP_BODY_MAX);
        int rc2 = mr_ws_upgrade_parse(&q, at_guard(req, cut), cut, &u2);
        ck_assert_msg(rc2 == MR_AGAIN || rc2 == rc, "cut %zu gives %d", cut, rc2);
    }
    /* The whole request again, as the views point into the guard arena. */
    mr_http_parser_init(&p, MR_HTTP_HEAD_MAX, MR_HTTP_HEADERS_MAX, MR_HTTP_BODY_MAX);
    return mr_ws_upgrade_parse(&p, at_guard(req, n), n, up);
}

static bool view_is(struct mr_view v, const char *s)
{
    return v.len == strlen(s) && memcmp(v.ptr, s, v.len) == 0;
}

START_TEST(upgrade_accepts_a_client)
{
    const char *req = "GET / HTTP/1.1\r\nHost: localhost:8080\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: " SAMPLE_KEY "\r\n"
                      "Sec-WebSocket-Version: 13\r\nOrigin: http://example.com\r\n"
                      "User-Agent: Mozilla/5.0\r\n\r\n";
    struct mr_ws_upgrade up;
    ck_assert_int_eq(upgrade(req, &up), (int)strlen(req));
    ck_assert_int_eq(up.kind, MR_WS_KIND_CLIENT);
    ck_assert(view_is(up.path, "/"));
    ck_assert(view_is(up.host, "localhost:8080"));
    ck_assert(view_is(up.key, SAMPLE_KEY));
    ck_assert(view_is(up.origin, "http://example.com"));
    ck_assert(up.browser);
    ck_assert(!up.no_masking);
    ck_assert(!up.deflate_offered);
    ck_assert_uint_eq(up.status, 0);
    char out[256];
    int n = mr_ws_upgrade_accept_encode(&up, false, out, sizeof(out));
    const char *want = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Accept: " SAMPLE_ACCEPT "\r\n\r\n";
    ck_assert_int_eq(n, (int)strlen(want));
    ck_assert_int_eq(memcmp(out, want, (size_t)n), 0);
    ck_assert_int_eq(mr_ws_upgrade_accept_encode(&up, false, out, 10), MR_E_LIMIT);
}
END_TEST

START_TEST(upgrade_accepts_a_leaf_without_masking_and_with_deflate)
{
    const char *req = "GET /leafnode HTTP/1.1\r\nHost: hub\r\nupgrade: WebSocket\r\n"
                      "connection: keep-alive, upgrade\r\nsec-websocket-key: " SAMPLE_KEY "\r\n"
                      "Sec-WebSocket-Version: 8, 13\r\nNats-No-Masking: true\r\n"
                      "Sec-WebSocket-Extensions: x-foo, permessage-deflate; "
                      "client_no_context_takeover; server_no_context_takeover\r\n"
                      "Sec-WebSocket-Origin: http://o\r\nX-Forwarded-For: 10.0.0.1\r\n\r\n";
    struct mr_ws_upgrade up;
    ck_assert_int_eq(upgrade(req, &up), (int)strlen(req));
    ck_assert_int_eq(up.kind, MR_WS_KIND_LEAF);
    ck_assert(up.no_masking);
    ck_assert(up.deflate_offered);
    ck_assert(up.deflate_no_context);
    ck_assert(view_is(up.origin, "http://o"));
    ck_assert(view_is(up.forwarded_for, "10.0.0.1"));
    ck_assert(!up.browser);
    char out[512];
    int n = mr_ws_upgrade_accept_encode(&up, true, out, sizeof(out));
    ck_assert_int_gt(n, 0);
    out[n] = '\0';
    ck_assert_ptr_nonnull(strstr(out, "Sec-WebSocket-Extensions: permessage-deflate; "
                                      "server_no_context_takeover; "
                                      "client_no_context_takeover\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "Nats-No-Masking: true\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "Sec-WebSocket-Accept: " SAMPLE_ACCEPT "\r\n"));
}
END_TEST

START_TEST(upgrade_reads_paths_and_offers_like_nats_server)
{
    struct mr_ws_upgrade up;
    /* An absolute-form target gives the host; "/mqtt" is MQTT; "true" is exact. */
    const char *req = "GET http://h:1/mqtt HTTP/1.0\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: " SAMPLE_KEY "\r\n"
                      "Sec-WebSocket-Version: 13\r\nNats-No-Masking: True\r\n"
                      "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
    ck_assert_int_gt(upgrade(req, &up), 0);
    ck_assert_int_eq(up.kind, MR_WS_KIND_MQTT);
    ck_assert(view_is(up.host, "h:1"));
    ck_assert(!up.no_masking);
    ck_assert(up.deflate_offered);
    ck_assert(!up.deflate_no_context);
    char out[512];
    int n = mr_ws_upgrade_accept_encode(&up, false, out, sizeof(out));
    ck_assert_int_gt(n, 0);
    out[n] = '\0';
    ck_assert_ptr_nonnull(strstr(out, "Sec-Websocket-Protocol: mqtt\r\n"));
}
END_TEST

struct bad_upgrade {
    const char *req;
    int err;
    uint16_t status;
    const char *reason;
};

#define GOOD_TAIL "Sec-WebSocket-Version: 13\r\n\r\n"
#define UPG "Upgrade: websocket\r\nConnection: Upgrade\r\n"
#define KEY "Sec-WebSocket-Key: " SAMPLE_KEY "\r\n"

static const struct bad_upgrade bad_upgrades[] = {
    {"POST / HTTP/1.1\r\nHost: h\r\n" UPG KEY GOOD_TAIL, MR_E_PROTO_ARGS, 405,
     "request method must be GET"},
    {"HEAD / HTTP/1.1\r\nHost: h\r\n" UPG KEY GOOD_TAIL, MR_E_PROTO_ARGS, 405,
     "request method must be GET"},
    {"GET / HTTP/1.0\r\n" UPG KEY GOOD_TAIL, MR_E_PROTO_ARGS, 400, "'Host' missing in request"},
    {"GET / HTTP/1.1\r\nHost:\r\n" UPG KEY GOOD_TAIL, MR_E_PROTO_ARGS, 400,
     "'Host' missing in request"},
    {"GET / HTTP/1.1\r\n" UPG KEY GOOD_TAIL, MR_E_PROTO_ARGS, 400, "malformed request"},
    {"GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n" KEY GOOD_TAIL, MR_E_PROTO_ARGS, 400,
     "invalid value for header 'Upgrade'"},
    {"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n" KEY GOOD_TAIL,
     MR_E_PROTO_ARGS, 400, "invalid value for header 'Upgrade'"},
    {"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n" KEY
         GOOD_TAIL,
     MR_E_PROTO_ARGS, 400, "invalid value for header 'Connection'"},
    {"GET / HTTP/1.1\r\nHost: h\r\n" UPG GOOD_TAIL, MR_E_PROTO_ARGS, 400, "key missing"},
    {"GET / HTTP/1.1\r\nHost: h\r\n" UPG "Sec-WebSocket-Key:\r\n" GOOD_TAIL, MR_E_PROTO_ARGS,
     400, "key missing"},
    {"GET / HTTP/1.1\r\nHost: h\r\n" UPG KEY "\r\n", MR_E_PROTO_ARGS, 400, "invalid version"},
    {"GET / HTTP/1.1\r\nHost: h\r\n" UPG KEY "Sec-WebSocket-Version: 8\r\n\r\n",
     MR_E_PROTO_ARGS, 400, "invalid version"},
    {"GET / HTTP/1.1\r\nHost: h\r\n" UPG "Sec-WebSocket-Key: abc\r\n" GOOD_TAIL,
     MR_E_PROTO_ARGS, 400, "invalid key"},
    {"GET / HTTP/1.1\r\nHost: h\r\n" UPG "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=a\r\n"
     GOOD_TAIL, MR_E_PROTO_ARGS, 400, "invalid key"},
    {"GET / HTTP/1.1\r\nHost: h\r\n" UPG "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZ!==\r\n"
     GOOD_TAIL, MR_E_PROTO_ARGS, 400, "invalid key"},
    {"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n" UPG KEY GOOD_TAIL "xy",
     MR_E_PROTO_ARGS, 400, "client sent data before handshake is complete"},
    {"GET / HTTP/2.0\r\nHost: h\r\n" UPG KEY GOOD_TAIL, MR_E_UNSUPPORTED, 505,
     "malformed request"},
};

START_TEST(upgrade_rejects_like_nats_server)
{
    const struct bad_upgrade *b = &bad_upgrades[_i];
    struct mr_ws_upgrade up;
    int rc = upgrade(b->req, &up);
    ck_assert_msg(rc == b->err, "%s: rc %d (%s)", b->req, rc, up.reason);
    ck_assert_uint_eq(up.status, b->status);
    ck_assert_str_eq(up.reason, b->reason);
}
END_TEST

START_TEST(reject_answer_is_go_http_error)
{
    char out[256];
    int n = mr_ws_upgrade_reject_encode(400, out, sizeof(out));
    ck_assert_int_gt(n, 0);
    out[n] = '\0';
    ck_assert_str_eq(out, "HTTP/1.1 400 Bad Request\r\n"
                          "Content-Type: text/plain; charset=utf-8\r\n"
                          "Sec-Websocket-Version: 13\r\nX-Content-Type-Options: nosniff\r\n"
                          "Content-Length: 12\r\nConnection: close\r\n\r\nBad Request\n");
    n = mr_ws_upgrade_reject_encode(403, out, sizeof(out));
    out[n] = '\0';
    ck_assert_ptr_nonnull(strstr(out, "HTTP/1.1 403 Forbidden\r\n"));
    ck_assert_int_eq(mr_ws_upgrade_reject_encode(405, out, 20), MR_E_LIMIT);
}
END_TEST

/* ---- client handshake -------------------------------------------------------------- */

static const uint8_t sample_nonce[16] = {'t', 'h', 'e', ' ', 's', 'a', 'm', 'p',
                                         'l', 'e', ' ', 'n', 'o', 'n', 'c', 'e'};

START_TEST(client_request_carries_key_and_path)
{
    struct mr_ws_client_handshake hs;
    char out[512];
    int n = mr_ws_client_request_encode(&hs, "hub:4223", NULL, sample_nonce, false, false, out,
                                        sizeof(out));
    ck_assert_int_gt(n, 0);
    out[n] = '\0';
    ck_assert_str_eq(out, "GET /leafnode HTTP/1.1\r\nHost: hub:4223\r\nUpgrade: websocket\r\n"
                          "Connection: Upgrade\r\nSec-WebSocket-Key: " SAMPLE_KEY "\r\n"
                          "Sec-WebSocket-Version: 13\r\n\r\n");
    ck_assert_str_eq(hs.accept, SAMPLE_ACCEPT);
    n = mr_ws_client_request_encode(&hs, "hub", "/", sample_nonce, true, true, out, sizeof(out));
    out[n] = '\0';
    ck_assert_ptr_nonnull(strstr(out, "GET /leafnode HTTP/1.1\r\n"));
    ck_assert_ptr_nonnull(strstr(out, "Sec-WebSocket-Extensions: permessage-deflate; "));
    ck_assert_ptr_nonnull(strstr(out, "Nats-No-Masking: true\r\n"));
    ck_assert_int_eq(mr_ws_client_request_encode(&hs, "hub", NULL, sample_nonce, false, false,
                                                 out, 40),
                     MR_E_LIMIT);
}
END_TEST

START_TEST(client_and_server_handshakes_agree)
{
    for (int flags = 0; flags < 4; flags++) {
        bool compress = (flags & 1) != 0;
        bool no_masking = (flags & 2) != 0;
        struct mr_ws_client_handshake hs;
        char req[512];
        int n = mr_ws_client_request_encode(&hs, "hub", NULL, sample_nonce, compress,
                                            no_masking, req, sizeof(req));
        ck_assert_int_gt(n, 0);
        req[n] = '\0';
        struct mr_ws_upgrade up;
        ck_assert_int_eq(upgrade(req, &up), n);
        ck_assert_int_eq(up.kind, MR_WS_KIND_LEAF);
        ck_assert(up.no_masking == no_masking);
        ck_assert(up.deflate_offered == compress);
        char resp[512];
        int rn = mr_ws_upgrade_accept_encode(&up, up.deflate_offered, resp, sizeof(resp));
        ck_assert_int_gt(rn, 0);
        /* The server's first frame (INFO) may arrive with the head. */
        memcpy(resp + rn, "\x82\x02hi", 4);
        for (int cut = 0; cut < rn; cut++) {
            ck_assert_int_eq(mr_ws_client_response_parse(&hs, at_guard(resp, (size_t)cut),
                                                         (size_t)cut),
                             MR_AGAIN);
        }
        ck_assert_int_eq(mr_ws_client_response_parse(&hs, at_guard(resp, (size_t)rn + 4),
                                                     (size_t)rn + 4),
                         rn);
        ck_assert(hs.compress == compress);
        ck_assert(hs.mask_writes == !no_masking);
        ck_assert_uint_eq(hs.status, 101);
    }
}
END_TEST

struct bad_response {
    const char *resp;
    const char *reason;
};

#define R101 "HTTP/1.1 101 Switching Protocols\r\n"
#define RUPG "Upgrade: websocket\r\nConnection: Upgrade\r\n"
#define RACC "Sec-WebSocket-Accept: " SAMPLE_ACCEPT "\r\n"

static const struct bad_response bad_responses[] = {
    {"HTTP/1.1 200 OK\r\n" RUPG RACC "\r\n", "invalid websocket connection"},
    {R101 "Connection: Upgrade\r\n" RACC "\r\n", "invalid websocket connection"},
    {R101 "Upgrade: websocket\r\nConnection: keep-alive\r\n" RACC "\r\n",
     "invalid websocket connection"},
    {R101 RUPG "\r\n", "invalid websocket connection"},
    {R101 RUPG "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOA=\r\n\r\n",
     "invalid websocket connection"},
    {R101 RUPG RACC "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
     "compression negotiation error"},
    {"HTTP/1.1 10 Switching\r\n" RUPG RACC "\r\n", "malformed HTTP response"},
    {"SSH-2.0-OpenSSH\r\n\r\n", "malformed HTTP response"},
    {R101 "no colon here\r\n\r\n", "malformed HTTP response"},
};

START_TEST(client_rejects_bad_responses)
{
    const struct bad_response *b = &bad_responses[_i];
    struct mr_ws_client_handshake hs;
    char req[512];
    ck_assert_int_gt(mr_ws_client_request_encode(&hs, "hub", NULL, sample_nonce, true, false, req,
                                                 sizeof(req)),
                     0);
    size_t n = strlen(b->resp);
    ck_assert_int_eq(mr_ws_client_response_parse(&hs, at_guard(b->resp, n), n), MR_E_PROTO_ARGS);
    ck_assert_str_eq(hs.reason, b->reason);
    ck_assert(hs.mask_writes);
    ck_assert(!hs.compress);
}
END_TEST

START_TEST(client_rejects_a_non_http_answer_at_once)
{
    /* A NATS INFO where a 101 should be: refused on its first bytes, at every cut, not
     * after a head that never ends; a cut inside "HTTP/1." still waits. */
    static const char info[] = "INFO {\"server_id\":\"N\"}\r\n";
    struct mr_ws_client_handshake hs;
    char req[512];
    ck_assert_int_gt(mr_ws_client_request_encode(&hs, "hub", NULL, sample_nonce, false, false,
                                                 req, sizeof(req)),
                     0);
    for (size_t cut = 1; cut <= strlen(info); cut++) {
        ck_assert_int_eq(mr_ws_client_response_parse(&hs, at_guard(info, cut), cut),
                         MR_E_PROTO_ARGS);
        ck_assert_str_eq(hs.reason, "malformed HTTP response");
    }
    for (size_t cut = 0; cut <= strlen(R101); cut++) {
        ck_assert_int_eq(mr_ws_client_response_parse(&hs, at_guard(R101, cut), cut), MR_AGAIN);
    }
}
END_TEST

START_TEST(client_response_head_is_bounded)
{
    static char resp[MR_HTTP_HEAD_MAX + 16];
    struct mr_ws_client_handshake hs;
    char req[512];
    ck_assert_int_gt(mr_ws_client_request_encode(&hs, "hub", NULL, sample_nonce, false, false,
                                                 req, sizeof(req)),
                     0);
    memset(resp, 'a', sizeof(resp));
    memcpy(resp, R101, strlen(R101));
    ck_assert_int_eq(mr_ws_client_response_parse(&hs, at_guard(resp, MR_HTTP_HEAD_MAX - 1),
                                                 MR_HTTP_HEAD_MAX - 1),
                     MR_AGAIN);
    ck_assert_int_eq(mr_ws_client_response_parse(&hs, at_guard(resp, sizeof(resp)),
                                                 sizeof(resp)),
                     MR_E_PROTO_CONTROL_LINE);
}
END_TEST

/* ---- suite ------------------------------------------------------------------------- */

static Suite *websocket_suite(void)
{
    Suite *s = suite_create("websocket");
    TCase *tc = tcase_create("handshake");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, accept_key_matches_rfc_sample);
    tcase_add_test(tc, upgrade_accepts_a_client);
    tcase_add_test(tc, upgrade_accepts_a_leaf_without_masking_and_with_deflate);
    tcase_add_test(tc, upgrade_reads_paths_and_offers_like_nats_server);
    tcase_add_loop_test(tc, upgrade_rejects_like_nats_server, 0,
                        (int)(sizeof(bad_upgrades) / sizeof(bad_upgrades[0])));
    tcase_add_test(tc, reject_answer_is_go_http_error);
    tcase_add_test(tc, client_request_carries_key_and_path);
    tcase_add_test(tc, client_and_server_handshakes_agree);
    tcase_add_loop_test(tc, client_rejects_bad_responses, 0,
                        (int)(sizeof(bad_responses) / sizeof(bad_responses[0])));
    tcase_add_test(tc, client_rejects_a_non_http_answer_at_once);
    tcase_add_test(tc, client_response_head_is_bounded);
    suite_add_tcase(s, tc);

    tc = tcase_create("frames");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, rfc_unmasked_hello);
    tcase_add_test(tc, rfc_masked_hello);
    tcase_add_test(tc, rfc_fragmented_hello);
    tcase_add_test(tc, rfc_ping_and_masked_pong);
    tcase_add_test(tc, control_frames_interleave_with_fragments);
    tcase_add_test(tc, rfc_256_bytes_in_16_bit_form);
    tcase_add_test(tc, rfc_64k_in_64_bit_form);
    tcase_add_test(tc, masked_long_frame_unmasks_across_chunks);
    tcase_add_test(tc, close_frames_decode_code_and_reason);
    tcase_add_test(tc, empty_frames_and_messages);
    tcase_add_test(tc, compressed_flag_passes_through_when_negotiated);
    tcase_add_test(tc, need_bytes_hints_are_exact);
    tcase_add_test(tc, decoder_unmasks_in_place_only_what_it_consumes);
    suite_add_tcase(s, tc);

    tc = tcase_create("errors");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, bad_sample_gives_its_error_and_close_code, 0,
                        (int)(sizeof(bad_samples) / sizeof(bad_samples[0])));
    tcase_add_test(tc, decode_after_close_is_closed);
    tcase_add_test(tc, limit_is_inclusive);
    tcase_add_test_raise_signal(tc, init_rejects_limit_above_max, SIGABRT);
    suite_add_tcase(s, tc);

    tc = tcase_create("encoder");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, encoder_matches_rfc_samples);
    tcase_add_test(tc, encoder_round_trips_every_length_form);
    tcase_add_test(tc, mask_in_pieces_equals_mask_whole);
    tcase_add_test(tc, close_encode_round_trips_and_truncates);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(websocket_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
