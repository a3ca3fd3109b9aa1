/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File store records: encode, decode with checksum, and the recovery scan (see
 * js_record.h for the layout). Every length read from disk is checked against the
 * bytes at hand and MR_JS_RECORD_BYTES_MAX before it is used: block contents are
 * untrusted input here, as a torn write or bit rot can put anything in them.
 */
#include "core/js/js_record.h"

#include <stdbool.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/limits.h"

_Static_assert(MR_JS_RECORD_BYTES_MAX <= UINT32_MAX, "a record length fits its u32 field");

/* One unaligned load (the checksum reads every word of every record through this); the
 * bytes are little-endian on disk whatever the machine. */
static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof(v));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

/* Stores as single unaligned writes, little-endian on disk whatever the machine. */
static void put_u64(uint8_t *p, uint64_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, sizeof(v));
}

static void put_u32(uint8_t *p, uint32_t v)
{
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    memcpy(p, &v, sizeof(v));
}

static uint64_t rotl(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

uint64_t mr_js_record_hash(const uint8_t *p, size_t len)
{
    /* Word-at-a-time multiply-rotate mixing with a final avalanche (the splitmix64
     * finaliser), so a flipped bit anywhere changes about half the output bits. */
    const uint64_t k1 = 0x9e3779b97f4a7c15ULL;
    const uint64_t k2 = 0xc2b2ae3d27d4eb4fULL;
    uint64_t h = 0x6a09e667f3bcc909ULL ^ ((uint64_t)len * k1);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        h ^= rotl(get_u64(p + i) * k2, 31) * k1;
        h = rotl(h, 27) * 5 + 0x52dce729;
    }
    uint64_t tail = 0;
    for (size_t j = 0; i + j < len; j++) {
        tail |= (uint64_t)p[i + j] << (8 * j);
    }
    h ^= rotl(tail * k2, 31) * k1;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h;
}

size_t mr_js_record_size(size_t subject_len, size_t hdr_len, size_t data_len)
{
    return MR_JS_RECORD_OVERHEAD + subject_len + hdr_len + data_len;
}

size_t mr_js_record_encode(const struct mr_js_record *r, uint8_t *out, size_t cap)
{
    size_t len = mr_js_record_size(r->subject_len, r->hdr_len, r->data_len);
    mr_assert(len <= cap);
    mr_assert(len <= MR_JS_RECORD_BYTES_MAX);
    mr_assert(r->subject_len <= UINT16_MAX);
    mr_assert(r->kind >= MR_JS_REC_MSG && r->kind <= MR_JS_REC_CLEAN);
    put_u32(out, MR_JS_RECORD_MAGIC);
    out[4] = (uint8_t)r->kind;
    out[5] = 0;
    out[6] = (uint8_t)r->subject_len;
    out[7] = (uint8_t)(r->subject_len >> 8);
    put_u32(out + 8, (uint32_t)r->hdr_len);
    put_u32(out + 12, (uint32_t)r->data_len);
    put_u64(out + 16, r->seq);
    put_u64(out + 24, (uint64_t)r->ts_ns);
    put_u32(out + 32, (uint32_t)len);
    uint8_t *p = out + MR_JS_RECORD_HEAD_BYTES;
    if (r->subject_len > 0) {
        memcpy(p, r->subject, r->subject_len);
    }
    p += r->subject_len;
    if (r->hdr_len > 0) {
        memcpy(p, r->hdr, r->hdr_len);
    }
    p += r->hdr_len;
    if (r->kind == MR_JS_REC_ERASED) {
        memset(p, 0, r->data_len);
    } else if (r->data_len > 0) {
        memcpy(p, r->data, r->data_len);
    }
    p += r->data_len;
    put_u64(p, mr_js_record_hash(out, len - MR_JS_RECORD_SUM_BYTES));
    mr_assert((size_t)(p + MR_JS_RECORD_SUM_BYTES - out) == len);
    return len;
}

/* The header's own consistency: kind, reserved byte, lengths that add up, and bodies
 * only where the kind has one. */
static int head_check(const uint8_t *buf, struct mr_js_record *out)
{
    if (get_u32(buf) != MR_JS_RECORD_MAGIC || buf[5] != 0) {
        return MR_E_INVAL;
    }
    uint8_t kind = buf[4];
    if (kind < MR_JS_REC_MSG || kind > MR_JS_REC_CLEAN) {
        return MR_E_INVAL;
    }
    size_t subject_len = (size_t)buf[6] | ((size_t)buf[7] << 8);
    size_t hdr_len = get_u32(buf + 8);
    size_t data_len = get_u32(buf + 12);
    size_t len = get_u32(buf + 32);
    if (hdr_len > MR_PAYLOAD_MAX || data_len > MR_PAYLOAD_MAX ||
        len != mr_js_record_size(subject_len, hdr_len, data_len) ||
        len > MR_JS_RECORD_BYTES_MAX) {
        return MR_E_INVAL;
    }
    bool has_subject = kind == MR_JS_REC_MSG;
    bool has_body = kind == MR_JS_REC_MSG || kind == MR_JS_REC_ERASED;
    if ((subject_len > 0) != has_subject || (!has_body && hdr_len + data_len > 0) ||
        (kind == MR_JS_REC_ERASED && hdr_len > 0)) {
        return MR_E_INVAL;
    }
    uint64_t seq = get_u64(buf + 16);
    if (seq == 0) {
        return MR_E_INVAL;
    }
    memset(out, 0, sizeof(*out));
    out->kind = (enum mr_js_record_kind)kind;
    out->seq = seq;
    out->ts_ns = (int64_t)get_u64(buf + 24);
    out->subject_len = subject_len;
    out->hdr_len = hdr_len;
    out->data_len = data_len;
    out->len = len;
    return 0;
}

int64_t mr_js_record_decode(const uint8_t *buf, size_t len, struct mr_js_record *out)
{
    mr_assert(buf != NULL || len == 0);
    if (len < MR_JS_RECORD_HEAD_BYTES) {
        return MR_AGAIN;
    }
    struct mr_js_record r;
    int rc = head_check(buf, &r);
    if (rc != 0) {
        return rc;
    }
    if (r.len > len) {
        return MR_AGAIN;
    }
    size_t body = r.len - MR_JS_RECORD_SUM_BYTES;
    if (get_u64(buf + body) != mr_js_record_hash(buf, body)) {
        return MR_E_IO;
    }
    const uint8_t *p = buf + MR_JS_RECORD_HEAD_BYTES;
    r.subject = r.subject_len > 0 ? (const char *)p : NULL;
    r.hdr = r.hdr_len > 0 ? p + r.subject_len : NULL;
    r.data = r.data_len > 0 ? p + r.subject_len + r.hdr_len : NULL;
    *out = r;
    mr_assert(out->len >= MR_JS_RECORD_OVERHEAD);
    return (int64_t)r.len;
}

/* The offset of the next valid record at or after from, or len if there is none. Only
 * offsets holding the magic are decoded, so a stretch of garbage costs one pass. */
static size_t resync(const uint8_t *buf, size_t len, size_t from)
{
    for (size_t off = from; off + MR_JS_RECORD_HEAD_BYTES <= len; off++) {
        if (buf[off] != (uint8_t)MR_JS_RECORD_MAGIC || get_u32(buf + off) != MR_JS_RECORD_MAGIC) {
            continue;
        }
        struct mr_js_record r;
        if (mr_js_record_decode(buf + off, len - off, &r) > 0) {
            return off;
        }
    }
    return len;
}

int mr_js_record_scan(const uint8_t *buf, size_t len, struct mr_js_scan *scan,
                      int (*on_record)(void *ctx, const struct mr_js_record *r, size_t off),
                      void *ctx)
{
    memset(scan, 0, sizeof(*scan));
    size_t off = 0;
    while (off < len) {
        struct mr_js_record r;
        int64_t n = mr_js_record_decode(buf + off, len - off, &r);
        if (n > 0) {
            scan->records++;
            int rc = on_record != NULL ? on_record(ctx, &r, off) : 0;
            off += (size_t)n;
            scan->valid_end = off;
            if (rc != 0) {
                return rc;
            }
            continue;
        }
        size_t next = resync(buf, len, off + 1);
        if (scan->bad_regions == 0 && next < len) {
            scan->first_bad_off = off;
        }
        if (next >= len) {
            break;
        }
        scan->bad_regions++;
        scan->bad_bytes += next - off;
        off = next;
    }
    mr_assert(scan->valid_end <= len);
    scan->tail_bytes = len - scan->valid_end;
    if (scan->bad_regions == 0 && scan->tail_bytes > 0) {
        scan->first_bad_off = scan->valid_end;
    }
    return 0;
}
