/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The WebSocket transport of NATS (RFC 6455; shared reference protocol.md and config.md
 * "websocket {}"), sans-I/O, in the style of parser.h and http.h. Four pieces:
 *
 *  - Server opening handshake: mr_ws_upgrade_parse() reads an HTTP/1.1 upgrade request
 *    (through http.h) and judges it as nats-server 2.9's wsUpgrade does, with its status
 *    and reason texts; mr_ws_upgrade_accept_encode() writes the 101 answer,
 *    mr_ws_upgrade_reject_encode() the error answer.
 *  - Client opening handshake (a leaf remote over ws://): mr_ws_client_request_encode()
 *    writes the GET to /leafnode, mr_ws_client_response_parse() judges the 101.
 *  - Frame decoder: mr_ws_decode() takes the bytes of a connection, any split, and
 *    reports one event per call: a chunk of message payload, a ping, a pong or a close.
 *  - Frame encoder: headers for unmasked (server) and masked (client) frames, whole
 *    control frames, close frames with a status code and reason.
 *
 * Zero-copy and allocation-free on the frame paths. THE DECODER UNMASKS IN PLACE: the
 * buffer passed to mr_ws_decode() is writable, and the payload bytes it consumes are
 * rewritten to their unmasked values before the event points at them. Bytes it has not
 * consumed are never written, so after MR_AGAIN the caller keeps the unconsumed tail
 * and calls again with more appended, as with the NATS parser. Views live as long as
 * the caller keeps those bytes. The handshake functions use GLib's GChecksum (SHA-1),
 * which allocates briefly; they run once per connection.
 *
 * Decoder invariant (as parser.h): every decision depends only on bytes before the
 * decision point, and the state kept between calls changes only with consumed bytes. So
 * for any split of a stream into feeds, the concatenated DATA chunks, the message
 * boundaries, the control events and the final error are the same as for the whole
 * stream; a prefix gives MR_AGAIN where the whole would give more.
 *
 * Decoder errors (sticky: every later call returns the same error), with the close code
 * the connection sends before closing (mr_ws_close_encode) and d->reason as its text:
 *  MR_E_PROTO_ARGS         1002  bad opcode, reserved bit, missing or unexpected mask,
 *                                control frame over 125 bytes or fragmented, continuation
 *                                without a message, new message inside one, 64-bit length
 *                                with the top bit set, bad close payload or close code
 *                          1007  a close reason that is not UTF-8
 *  MR_E_PROTO_MAX_PAYLOAD  1009  a frame that takes its message over message_max bytes
 *  MR_E_CLOSED                   a close frame was already decoded (no close code)
 */
#ifndef MR_WEBSOCKET_H
#define MR_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/proto/http.h"
#include "core/proto/parser.h"

/* A frame header: 2 bytes, 2 or 8 of extended length, 4 of masking key. */
#define MR_WS_HEADER_MAX 14
/* Control frames (close, ping, pong) carry at most this many payload bytes (RFC 6455
 * 5.5); a longer one is a protocol error. */
#define MR_WS_CONTROL_MAX 125
/* A close reason fits a control frame after the 2-byte code. Longer reasons are cut to
 * 120 bytes and "..." appended, as nats-server does. */
#define MR_WS_REASON_MAX (MR_WS_CONTROL_MAX - 2)
/* Upper bound of a decoder's message_max: a WebSocket message carries a piece of the
 * NATS byte stream, never more than one maximal payload plus its control line needs;
 * nats.go caps frames at 64 MiB too. Over the configured limit: close 1009. */
#define MR_WS_MESSAGE_MAX (64ULL * 1024 * 1024)
/* Sec-WebSocket-Accept: base64 of a 20-byte SHA-1, 28 characters. */
#define MR_WS_ACCEPT_LEN 28
/* Sec-WebSocket-Key: base64 of 16 bytes, 24 characters. */
#define MR_WS_KEY_LEN 24
#define MR_WS_NONCE_BYTES 16
/* The request path a leaf remote asks for; nats-server makes a LEAF connection of any
 * path that starts with it, a CLIENT of others (MQTT of "/mqtt"). */
#define MR_WS_LEAF_PATH "/leafnode"

_Static_assert(MR_WS_MESSAGE_MAX <= INT64_MAX, "message sizes fit a 63-bit frame length");

enum mr_ws_opcode {
    MR_WS_OP_CONTINUATION = 0x0,
    MR_WS_OP_TEXT = 0x1,
    MR_WS_OP_BINARY = 0x2,
    MR_WS_OP_CLOSE = 0x8,
    MR_WS_OP_PING = 0x9,
    MR_WS_OP_PONG = 0xA,
};

/* Close status codes (RFC 6455 7.4.1) that nats-server sends. */
enum mr_ws_close_code {
    MR_WS_CLOSE_NORMAL = 1000,          /* client closed */
    MR_WS_CLOSE_GOING_AWAY = 1001,      /* server shutdown */
    MR_WS_CLOSE_PROTOCOL = 1002,        /* parse error, protocol violation */
    MR_WS_CLOSE_NO_STATUS = 1005,       /* a close frame without a code (never sent) */
    MR_WS_CLOSE_ABNORMAL = 1006,        /* read/write error, stale connection */
    MR_WS_CLOSE_INVALID_DATA = 1007,    /* close reason not UTF-8 */
    MR_WS_CLOSE_POLICY = 1008,          /* auth, slow consumer, connection limits */
    MR_WS_CLOSE_TOO_BIG = 1009,         /* max payload exceeded */
    MR_WS_CLOSE_INTERNAL = 1011,        /* anything else */
    MR_WS_CLOSE_TLS_HANDSHAKE = 1015,   /* TLS handshake error (never sent on the wire) */
};

/* ---- server opening handshake ------------------------------------------------------ */

/* What kind of connection the request path asks for (nats-server: path prefix). */
enum mr_ws_kind {
    MR_WS_KIND_CLIENT = 1, /* any other path, usually "/" */
    MR_WS_KIND_LEAF = 2,   /* "/leafnode..." */
    MR_WS_KIND_MQTT = 3,   /* "/mqtt..." (Meridian has no MQTT: the caller refuses it) */
};

struct mr_ws_upgrade {
    enum mr_ws_kind kind;
    struct mr_view path;          /* as sent, not decoded */
    struct mr_view host;          /* Host header, or the host of an absolute-form target */
    struct mr_view key;           /* Sec-WebSocket-Key, MR_WS_KEY_LEN characters */
    struct mr_view origin;        /* Origin, else Sec-WebSocket-Origin; absent if neither */
    struct mr_view user_agent;    /* User-Agent; absent if none */
    struct mr_view forwarded_for; /* first X-Forwarded-For value, as sent (not checked) */
    bool no_masking;              /* "Nats-No-Masking: true": the peer sends unmasked */
    bool deflate_offered;         /* permessage-deflate in Sec-WebSocket-Extensions */
    bool deflate_no_context;      /* ... with both *_no_context_takeover parameters */
    bool browser;                 /* User-Agent starts with "Mozilla/" (nats-server) */
    uint32_t head_len;            /* bytes of the request head */
    /* After an error: the HTTP status and nats-server's reason text (for the log; the
     * answer body is the status text). Else 0 and "". */
    uint16_t status;
    char reason[MR_WS_REASON_MAX + 1];
};

/* Parses and judges one upgrade request at the front of buf with the HTTP parser p
 * (mr_http_parser_init'ed by the caller, MR_HTTP_* limits). Returns the head length (the
 * bytes it spans; the caller then answers with mr_ws_upgrade_accept_encode), MR_AGAIN,
 * or a negative error with up->status and up->reason:
 *   the HTTP parser's error and status (400, 413, 431, 501, 505), reason "malformed
 *   request"; and, as MR_E_PROTO_ARGS, nats-server's checks in its order:
 *   405 "request method must be GET", 400 "'Host' missing in request",
 *   400 "invalid value for header 'Upgrade'", 400 "invalid value for header 'Connection'",
 *   400 "key missing", 400 "invalid version", then Meridian's own (RFC 6455 4.2.1 item 5;
 *   nats-server does not check) 400 "invalid key" for a key that is not base64 of 16
 *   bytes, and 400 "client sent data before handshake is complete" for a body.
 * Bytes after the head: a client must wait for the 101, so nats-server answers 400 "client
 * sent data before handshake is complete" when any are already buffered. This function
 * does not look past the head (that would depend on read boundaries); the caller applies
 * that rule to what it holds. Origin checks (allowed_origins, same_origin) are the
 * caller's: up->origin and up->host are what it needs. On success *up is filled; views
 * point into buf. */
int mr_ws_upgrade_parse(struct mr_http_parser *p, const uint8_t *buf, size_t len,
                        struct mr_ws_upgrade *up);

/* Writes the 101 Switching Protocols answer to an accepted request: Upgrade, Connection,
 * Sec-WebSocket-Accept, then the permessage-deflate answer when compress (only if
 * offered), "Nats-No-Masking: true" when up->no_masking (nats-server always grants it),
 * and "Sec-WebSocket-Protocol: mqtt" for MQTT. Returns the length written to out (no
 * NUL), or MR_E_LIMIT when cap is too small (256 bytes always suffice). */
int mr_ws_upgrade_accept_encode(const struct mr_ws_upgrade *up, bool compress, char *out,
                                size_t cap);

/* Writes the error answer nats-server's wsReturnHTTPError gives (Go's http.Error): the
 * status line, "Sec-Websocket-Version: 13", a text/plain body holding the status text and
 * a newline, and "Connection: close" (the caller closes after it). Returns the length or
 * MR_E_LIMIT (256 bytes always suffice). */
int mr_ws_upgrade_reject_encode(uint16_t status, char *out, size_t cap);

/* Sec-WebSocket-Accept for a key: base64(SHA-1(key + RFC 6455 GUID)), NUL-terminated. */
void mr_ws_accept_key(const char *key, size_t key_len, char out[MR_WS_ACCEPT_LEN + 1]);

/* ---- client opening handshake (leaf remotes) --------------------------------------- */

struct mr_ws_client_handshake {
    char accept[MR_WS_ACCEPT_LEN + 1]; /* the Sec-WebSocket-Accept we expect */
    bool compress_requested;
    bool no_masking_requested;
    /* After mr_ws_client_response_parse() succeeds: */
    bool compress;    /* the server agreed to permessage-deflate without context takeover */
    bool mask_writes; /* false only if no-masking was asked for and the server echoed it */
    uint16_t status;  /* the response's status code, 0 until a status line was read */
    char reason[MR_WS_REASON_MAX + 1]; /* after an error: why, as nats-server says it */
};

/* Writes the upgrade request of a leaf remote to host (as in the remote URL: "hub:7422")
 * and fills hs for the response check. The path is "/leafnode" followed by url_path
 * without its leading '/' (NULL or "" for none), as nats-server 2.9 builds it. nonce is
 * the 16 bytes of the key, drawn by the caller from env->random. compress asks for
 * permessage-deflate with no context takeover; no_masking sends "Nats-No-Masking: true".
 * Returns the length written to out (no NUL) or MR_E_LIMIT. */
int mr_ws_client_request_encode(struct mr_ws_client_handshake *hs, const char *host,
                                const char *url_path, const uint8_t nonce[MR_WS_NONCE_BYTES],
                                bool compress, bool no_masking, char *out, size_t cap);

/* Parses the server's response head at the front of buf (at most MR_HTTP_HEAD_MAX bytes)
 * and judges it as nats-server's leaf remote does: status 101, "Upgrade: websocket",
 * "Connection: Upgrade" (first values, any case) and the expected Sec-WebSocket-Accept,
 * else "invalid websocket connection"; permessage-deflate without both no_context
 * parameters when we asked for it: "compression negotiation error". Returns the head
 * length (bytes after it are already frames: feed them to the decoder), MR_AGAIN, or
 * MR_E_PROTO_ARGS with hs->reason (MR_E_PROTO_CONTROL_LINE for a head over the limit).
 * Bytes that cannot begin "HTTP/1." fail as soon as they arrive ("malformed HTTP
 * response"), so any split of the same bytes gives the same result. */
int mr_ws_client_response_parse(struct mr_ws_client_handshake *hs, const uint8_t *buf,
                                size_t len);

/* ---- frame decoder ----------------------------------------------------------------- */

/* Which side we are: a server reads client frames (masked unless no-masking was
 * negotiated), a client reads server frames (never masked). */
enum mr_ws_role {
    MR_WS_ROLE_SERVER = 1,
    MR_WS_ROLE_CLIENT = 2,
};

enum mr_ws_event_type {
    MR_WS_EV_NONE = 0,
    MR_WS_EV_DATA = 1,  /* a chunk of a text or binary message's payload */
    MR_WS_EV_PING = 2,  /* answer with a pong carrying the same payload */
    MR_WS_EV_PONG = 3,  /* nothing to do */
    MR_WS_EV_CLOSE = 4, /* answer with a close (nats-server echoes the code), then close */
};

struct mr_ws_event {
    enum mr_ws_event_type type;
    /* DATA: the message's opcode (MR_WS_OP_TEXT or MR_WS_OP_BINARY); nats-server treats
     * both alike and does not check text for UTF-8, nor does the decoder. */
    enum mr_ws_opcode opcode;
    bool first;      /* DATA: the message's first chunk */
    bool last;       /* DATA: the message's last chunk (its FIN frame is complete) */
    bool compressed; /* DATA: RSV1 on the message (only with compression negotiated) */
    /* DATA: unmasked payload bytes inside buf (len may be 0 for an empty frame). PING,
     * PONG: the whole control payload. CLOSE: the whole payload (code + reason). */
    uint8_t *payload;
    size_t len;
    uint16_t close_code;       /* CLOSE: the status, MR_WS_CLOSE_NO_STATUS if absent */
    struct mr_view close_reason; /* CLOSE: valid UTF-8 after the code; absent if none */
};

struct mr_ws_decoder {
    enum mr_ws_role role;
    bool mask_required; /* server role: client frames must be masked */
    bool compression;   /* permessage-deflate negotiated: RSV1 allowed on a first frame */
    uint64_t message_max; /* payload bytes of one message, over all its frames */

    /* Between calls (changed only with consumed bytes). */
    bool in_message;         /* a text/binary frame without FIN was seen, FIN not yet */
    bool in_frame;           /* a data frame's header is consumed, payload remains */
    bool first_pending;      /* the next DATA event is its message's first */
    bool frame_fin;          /* the current data frame has FIN */
    bool frame_masked;
    bool message_compressed;
    enum mr_ws_opcode message_opcode;
    uint8_t mask_key[4];
    uint64_t mask_pos;        /* payload bytes of the current frame already unmasked */
    uint64_t frame_remaining; /* payload bytes of the current data frame still to come */
    uint64_t message_bytes;   /* declared payload bytes of the current message so far */
    uint64_t offset;          /* stream bytes consumed so far */
    bool closed;              /* a close frame was decoded */

    /* After MR_AGAIN: the bytes (from the front of the next buf) the next call needs to
     * make progress, when known; else 0. */
    size_t need_bytes;
    /* After an error (sticky): the error, the close code to send, the reason text (for
     * the close frame and the log) and the stream offset of the offending frame. */
    int error;
    uint16_t close_code;
    uint64_t error_offset;
    char reason[MR_WS_REASON_MAX + 1];
};

/* Initialises a decoder on caller memory. mask_required is ignored for the client role
 * (server frames must not be masked: one that is is a protocol error). A server with
 * no-masking negotiated (leaf connections) still unmasks a frame that is masked.
 * 0 < message_max <= MR_WS_MESSAGE_MAX. */
void mr_ws_decoder_init(struct mr_ws_decoder *d, enum mr_ws_role role, bool mask_required,
                        bool compression, uint64_t message_max);

/* Decodes from the front of buf, which the caller owns and lets the decoder write (it
 * unmasks in place). Returns the bytes consumed (> 0, at most len and INT32_MAX) and one
 * event in *ev, MR_AGAIN (ev cleared, need_bytes set when known), or a negative error
 * (table above; ev cleared). A data frame's header is consumed with the first of its
 * payload bytes that are present (or alone if its payload is empty); the rest of its
 * payload comes as further DATA events, as much as buf holds each time. A control frame
 * is delivered whole, so the caller must be able to hold MR_WS_HEADER_MAX +
 * MR_WS_CONTROL_MAX bytes. */
int mr_ws_decode(struct mr_ws_decoder *d, uint8_t *buf, size_t len, struct mr_ws_event *ev);

/* ---- frame encoder ----------------------------------------------------------------- */

/* Writes a frame header for a payload of len bytes to out and returns its length (2 to
 * 14). mask_key NULL writes a server (unmasked) frame; else the client frame carries
 * the 4-byte key, and the caller masks the payload with mr_ws_mask(). fin false and
 * MR_WS_OP_CONTINUATION make fragments. Control frames must have fin, len <= 125 and
 * no compression (asserted). */
size_t mr_ws_header_encode(uint8_t out[MR_WS_HEADER_MAX], enum mr_ws_opcode op, bool fin,
                           bool compressed, uint64_t len, const uint8_t *mask_key);

/* XORs len bytes from src into dst with key, as bytes pos, pos + 1, ... of a frame's
 * payload (so a payload can be masked in pieces). dst == src masks in place; otherwise
 * the ranges must not overlap. Masking twice unmasks. */
void mr_ws_mask(uint8_t *dst, const uint8_t *src, size_t len, const uint8_t key[4],
                uint64_t pos);

/* Writes one whole unfragmented frame (header and payload, masked into out when mask_key
 * is not NULL) to out. Returns its length, or MR_E_LIMIT when cap is too small. */
int mr_ws_frame_encode(uint8_t *out, size_t cap, enum mr_ws_opcode op, const uint8_t *payload,
                       size_t len, const uint8_t *mask_key);

/* Writes a close frame with code and reason (cut to 120 bytes plus "..." when longer
 * than MR_WS_REASON_MAX, as nats-server does). code 0 writes a close without a status
 * (reason must then be empty). Returns the length (at most MR_WS_HEADER_MAX + 125) or
 * MR_E_LIMIT. */
int mr_ws_close_encode(uint8_t *out, size_t cap, uint16_t code, const char *reason,
                       size_t reason_len, const uint8_t *mask_key);

#endif
