/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the WebSocket module (core/proto/websocket.h).
 *
 * The first input byte picks the decoder's settings (role, masking, compression and a
 * message limit of 64 bytes or 1 MiB); the rest is a frame stream. It is decoded call after
 * call from an exact-size copy, checking the contract: a result is bytes consumed (> 0,
 * at most the input), MR_AGAIN, MR_E_CLOSED or an error with a close code and a reason
 * that fits a close frame; payload views lie inside the consumed bytes; DATA chunks
 * respect the limit. A digest of the events (message bytes and boundaries, control
 * events, final result) must be the same when the stream arrives split in two at up to
 * 32 cut points, through a receive buffer as a connection would keep it. The whole input
 * is also judged as an upgrade request and as a handshake response (a prefix that fails
 * must fail the whole the same way), and every decoded close frame is encoded again and
 * decoded back.
 *
 * Canary: with MR_FUZZ_CANARY=1 in the environment, an input starting with "CANARY"
 * aborts (see tests/fuzz/README.md). Without the variable it is decoded like any other.
 *
 * Ownership: the target borrows data; it allocates copies and frees them.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/proto/http.h"
#include "core/proto/websocket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool canary_armed(void)
{
    const char *v = getenv("MR_FUZZ_CANARY");
    return v != NULL && strcmp(v, "1") == 0;
}

struct digest {
    uint64_t h;
    uint64_t data_bytes;
    uint64_t events;
};

static void mix(struct digest *g, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++) {
        g->h = (g->h ^ b[i]) * 1099511628211ULL;
    }
}

static void mix_event(struct digest *g, const struct mr_ws_event *ev)
{
    uint8_t tag[4] = {(uint8_t)ev->type, (uint8_t)ev->opcode, 0, 0};
    if (ev->type == MR_WS_EV_DATA) {
        /* Chunking differs between splits: only boundaries and bytes count. */
        if (ev->first) {
            mix(g, tag, 2);
        }
        mix(g, ev->payload, ev->len);
        if (ev->last) {
            mix(g, "|", 1);
        }
        g->data_bytes += ev->len;
        return;
    }
    g->events++;
    tag[2] = (uint8_t)(ev->close_code >> 8);
    tag[3] = (uint8_t)ev->close_code;
    mix(g, tag, 4);
    mix(g, ev->payload, ev->len);
}

struct cfg {
    enum mr_ws_role role;
    bool mask_required;
    bool compression;
    uint64_t max;
};

static void init(struct mr_ws_decoder *d, const struct cfg *c)
{
    mr_ws_decoder_init(d, c->role, c->mask_required, c->compression, c->max);
}

/* Re-encodes a decoded close frame and checks it decodes to the same code and reason. */
static void close_round_trip(const struct mr_ws_event *ev)
{
    if (ev->close_code == MR_WS_CLOSE_NO_STATUS) {
        return;
    }
    uint8_t out[MR_WS_HEADER_MAX + MR_WS_CONTROL_MAX];
    const uint8_t key[4] = {1, 2, 3, 4};
    int n = mr_ws_close_encode(out, sizeof(out), ev->close_code, ev->close_reason.ptr,
                               ev->close_reason.len, key);
    mr_assert(n > 0);
    struct mr_ws_decoder d;
    mr_ws_decoder_init(&d, MR_WS_ROLE_SERVER, true, false, 1024);
    struct mr_ws_event back;
    mr_assert(mr_ws_decode(&d, out, (size_t)n, &back) == n);
    mr_assert(back.type == MR_WS_EV_CLOSE);
    mr_assert(back.close_code == ev->close_code);
    mr_assert(back.close_reason.len == ev->close_reason.len);
    if (back.close_reason.len > 0) {
        mr_assert(memcmp(back.close_reason.ptr, ev->close_reason.ptr, back.close_reason.len) ==
                  0);
    }
}

/* Decodes s whole from an exact-size copy, checking every result. Returns the final rc. */
static int decode_whole(const struct cfg *c, const uint8_t *s, size_t n, struct digest *g)
{
    uint8_t *buf = malloc(n > 0 ? n : 1);
    mr_assert(buf != NULL);
    if (n > 0) {
        memcpy(buf, s, n);
    }
    struct mr_ws_decoder d;
    init(&d, c);
    size_t off = 0;
    int rc;
    uint64_t message = 0;
    for (;;) {
        struct mr_ws_event ev;
        rc = mr_ws_decode(&d, buf + off, n - off, &ev);
        if (rc < 0) {
            mr_assert(ev.type == MR_WS_EV_NONE);
            break;
        }
        mr_assert((size_t)rc <= n - off);
        if (ev.len > 0) {
            mr_assert(ev.payload >= buf + off);
            mr_assert(ev.payload + ev.len <= buf + off + (size_t)rc);
        }
        if (ev.type == MR_WS_EV_DATA) {
            message = ev.first ? ev.len : message + ev.len;
            mr_assert(message <= c->max);
        } else {
            mr_assert(ev.len <= MR_WS_CONTROL_MAX);
        }
        if (ev.type == MR_WS_EV_CLOSE) {
            close_round_trip(&ev);
        }
        mix_event(g, &ev);
        off += (size_t)rc;
    }
    if (rc != MR_AGAIN && rc != MR_E_CLOSED) {
        mr_assert(rc == MR_E_PROTO_ARGS || rc == MR_E_PROTO_MAX_PAYLOAD);
        mr_assert(d.close_code == 1002 || d.close_code == 1007 || d.close_code == 1009);
        mr_assert(strlen(d.reason) > 0 && strlen(d.reason) <= MR_WS_REASON_MAX);
        mix(g, &d.close_code, sizeof(d.close_code));
    }
    mix(g, &rc, sizeof(rc));
    free(buf);
    return rc;
}

/* Feeds s in two pieces through a receive buffer; returns the final rc. */
static int decode_split(const struct cfg *c, const uint8_t *s, size_t n, size_t cut,
                        struct digest *g)
{
    uint8_t *buf = malloc(n > 0 ? n : 1);
    mr_assert(buf != NULL);
    struct mr_ws_decoder d;
    init(&d, c);
    size_t held = 0;
    int rc = MR_AGAIN;
    size_t pieces[2] = {cut, n - cut};
    size_t from = 0;
    for (int p = 0; p < 2 && rc == MR_AGAIN; p++) {
        memcpy(buf + held, s + from, pieces[p]);
        held += pieces[p];
        from += pieces[p];
        for (;;) {
            struct mr_ws_event ev;
            rc = mr_ws_decode(&d, buf, held, &ev);
            if (rc < 0) {
                break;
            }
            mix_event(g, &ev);
            memmove(buf, buf + rc, held - (size_t)rc);
            held -= (size_t)rc;
        }
    }
    if (rc != MR_AGAIN && rc != MR_E_CLOSED) {
        mix(g, &d.close_code, sizeof(d.close_code));
    }
    mix(g, &rc, sizeof(rc));
    free(buf);
    return rc;
}

static void handshakes(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size > 0 ? size : 1);
    mr_assert(buf != NULL);
    if (size > 0) {
        memcpy(buf, data, size);
    }
    struct mr_http_parser p;
    mr_http_parser_init(&p, 4096, 64, 1024);
    struct mr_ws_upgrade up;
    int rc = mr_ws_upgrade_parse(&p, buf, size, &up);
    if (rc > 0) {
        mr_assert((size_t)rc <= size);
        mr_assert(up.key.len == MR_WS_KEY_LEN);
        char out[512];
        mr_assert(mr_ws_upgrade_accept_encode(&up, up.deflate_offered, out, sizeof(out)) > 0);
    } else if (rc != MR_AGAIN) {
        mr_assert(up.status >= 400);
        mr_assert(up.reason[0] != '\0');
    }
    struct mr_ws_client_handshake hs;
    static const uint8_t nonce[MR_WS_NONCE_BYTES] = {0};
    char req[512];
    mr_assert(mr_ws_client_request_encode(&hs, "hub", NULL, nonce, true, true, req,
                                          sizeof(req)) > 0);
    rc = mr_ws_client_response_parse(&hs, buf, size);
    if (rc > 0) {
        mr_assert((size_t)rc <= size);
        mr_assert(hs.status == 101);
    } else if (rc != MR_AGAIN) {
        mr_assert(hs.reason[0] != '\0');
    }
    /* A prefix that already fails fails the whole the same way: a spoke refuses a bad
     * answer on the bytes it has, whatever the read boundaries. */
    char whole_reason[sizeof(hs.reason)];
    memcpy(whole_reason, hs.reason, sizeof(whole_reason));
    size_t step = size / 32 + 1;
    for (size_t cut = 0; cut < size; cut += step) {
        int prc = mr_ws_client_response_parse(&hs, buf, cut);
        if (prc < 0 && prc != MR_AGAIN) {
            mr_assert(prc == rc);
            mr_assert(strcmp(hs.reason, whole_reason) == 0);
        }
    }
    free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 6 && memcmp(data, "CANARY", 6) == 0 && canary_armed()) {
        abort();
    }
    handshakes(data, size);
    if (size == 0) {
        return 0;
    }
    struct cfg c;
    c.role = (data[0] & 1) ? MR_WS_ROLE_CLIENT : MR_WS_ROLE_SERVER;
    c.mask_required = (data[0] & 2) != 0;
    c.compression = (data[0] & 4) != 0;
    c.max = (data[0] & 8) ? 64 : 1024 * 1024;
    const uint8_t *s = data + 1;
    size_t n = size - 1;
    struct digest whole = {14695981039346656037ULL, 0, 0};
    int rc = decode_whole(&c, s, n, &whole);
    size_t step = n / 32 + 1;
    for (size_t cut = 0; cut <= n; cut += step) {
        struct digest part = {14695981039346656037ULL, 0, 0};
        int rc2 = decode_split(&c, s, n, cut, &part);
        mr_assert(rc2 == rc);
        mr_assert(part.h == whole.h);
        mr_assert(part.data_bytes == whole.data_bytes);
        mr_assert(part.events == whole.events);
    }
    return 0;
}
