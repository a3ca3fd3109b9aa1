/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The on-disk record of the JetStream file store (js_filestore.c) and the scan that
 * recovery runs over a block file's bytes. Pure functions over buffers: no allocation,
 * no env; views in a decoded record point into the caller's buffer.
 *
 * A record, all integers little-endian (docs/jetstream-storage.md has the full format):
 *
 *   0  u32 magic "MRJ1"          16 u64 seq
 *   4  u8  kind, u8 0            24 i64 timestamp (ns since the Unix epoch)
 *   6  u16 subject length        32 u32 total record length
 *   8  u32 header length         36 subject, headers, payload
 *  12  u32 payload length        end-8: u64 checksum of every byte before it
 *
 * A record is valid only when its magic, kind, lengths and checksum all agree; any
 * other bytes are damage. The scan reports damage in the middle of a block (skipped,
 * never served) apart from a damaged tail (nothing valid after it: a torn write).
 */
#ifndef MR_JS_RECORD_H
#define MR_JS_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define MR_JS_RECORD_MAGIC 0x314a524dU /* "MRJ1" read as a little-endian u32 */
#define MR_JS_RECORD_HEAD_BYTES 36
#define MR_JS_RECORD_SUM_BYTES 8
#define MR_JS_RECORD_OVERHEAD (MR_JS_RECORD_HEAD_BYTES + MR_JS_RECORD_SUM_BYTES)

enum mr_js_record_kind {
    MR_JS_REC_MSG = 1,    /* a stored message */
    MR_JS_REC_TOMB = 2,   /* message seq was deleted */
    MR_JS_REC_MARK = 3,   /* every message below seq is gone; the stream's next seq >= seq */
    MR_JS_REC_ERASED = 4, /* a message overwritten in place by a secure erase */
    MR_JS_REC_CLEAN = 5,  /* the store was closed cleanly after this point */
};

/* A decoded (or to-be-encoded) record. Non-message kinds have no subject, headers or
 * payload, except ERASED, whose payload is the zeroed bytes of the erased message. */
struct mr_js_record {
    enum mr_js_record_kind kind;
    uint64_t seq;
    int64_t ts_ns;
    const char *subject;
    size_t subject_len;
    const uint8_t *hdr;
    size_t hdr_len;
    const uint8_t *data;
    size_t data_len;
    size_t len; /* bytes on disk, overhead included (set by decode and size) */
};

/* What a scan found in a block. */
struct mr_js_scan {
    uint64_t records;     /* valid records */
    uint64_t bad_regions; /* damaged stretches followed by a valid record */
    uint64_t bad_bytes;   /* bytes in those stretches */
    size_t first_bad_off; /* offset of the first damage (stretch or tail), 0 if none */
    size_t valid_end;     /* offset just past the last valid record */
    size_t tail_bytes;    /* bytes after valid_end with no valid record: a torn tail */
};

/* A 64-bit checksum (not cryptographic: it catches torn writes and bit rot). */
uint64_t mr_js_record_hash(const uint8_t *p, size_t len);

/* Bytes a record with these lengths takes on disk. */
size_t mr_js_record_size(size_t subject_len, size_t hdr_len, size_t data_len);

/* Encodes r into out, which must hold mr_js_record_size() bytes (asserted). Returns the
 * length written. An ERASED record's payload is written as zeros. */
size_t mr_js_record_encode(const struct mr_js_record *r, uint8_t *out, size_t cap);

/* Decodes the record at the start of buf. Returns its length; MR_AGAIN when buf holds
 * only part of it; MR_E_INVAL when the header is not a record header; MR_E_IO when the
 * header is plausible but the checksum does not match. */
int64_t mr_js_record_decode(const uint8_t *buf, size_t len, struct mr_js_record *out);

/* Calls on_record for each valid record of a block's bytes, in order, with its offset,
 * and fills *scan. A damaged stretch is skipped up to the next valid record; on_record
 * returning non-zero stops the scan with that value. Returns 0 or on_record's value. */
int mr_js_record_scan(const uint8_t *buf, size_t len, struct mr_js_scan *scan,
                      int (*on_record)(void *ctx, const struct mr_js_record *r, size_t off),
                      void *ctx);

#endif
