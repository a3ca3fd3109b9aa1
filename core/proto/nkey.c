/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nkeys and .creds files (the format is in nkey.h). Decoding is byte-level and strict
 * about checksums and prefixes; the creds block scanner follows nats-server's reading
 * (first block the JWT, second the seed) and names what is missing.
 */
#include "core/proto/nkey.h"

#include <glib.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"

_Static_assert(MR_NKEY_SIG_B64_MAX >= (MR_NKEY_SIG_LEN * 4 + 2) / 3 + 1,
               "a base64url signature fits its buffer");

static const char b32_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

uint16_t mr_nkey_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (int bit = 0; bit < 8; bit++) {
            crc = (crc & 0x8000) != 0 ? (uint16_t)((crc << 1) ^ 0x1021) : (uint16_t)(crc << 1);
        }
    }
    return crc;
}

static void set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
    if (err == NULL || err_len == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
}

static int b32_value(char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= '2' && c <= '7') {
        return c - '2' + 26;
    }
    return -1;
}

/* Decodes base32 without padding into out (cap bytes); returns the byte count, or -1 at
 * a bad character (its index in *bad) or when out is too small. */
static int b32_decode(const char *text, size_t len, uint8_t *out, size_t cap, size_t *bad)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b32_value(text[i]);
        if (v < 0) {
            *bad = i;
            return -1;
        }
        acc = (acc << 5) | (uint32_t)v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (n == cap) {
                *bad = i;
                return -1;
            }
            out[n++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return (int)n;
}

static void b32_encode(const uint8_t *in, size_t len, char *out)
{
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[n++] = b32_alphabet[(acc >> bits) & 31];
        }
        acc &= (1u << bits) - 1;
    }
    if (bits > 0) {
        out[n++] = b32_alphabet[(acc << (5 - bits)) & 31];
    }
    out[n] = '\0';
}

static bool known_type(unsigned t)
{
    return t == MR_NKEY_ACCOUNT || t == MR_NKEY_CLUSTER || t == MR_NKEY_SERVER ||
           t == MR_NKEY_OPERATOR || t == MR_NKEY_USER;
}

int mr_nkey_decode_seed(const char *text, size_t len, enum mr_nkey_type *type,
                        uint8_t seed[MR_NKEY_SEED_LEN], char *err, size_t err_len)
{
    mr_assert(text != NULL || len == 0);
    mr_assert(seed != NULL);
    enum { RAW = 2 + MR_NKEY_SEED_LEN + 2 };
    uint8_t raw[RAW];
    if (len != MR_NKEY_SEED_CHARS) {
        set_err(err, err_len, "a seed has %d characters, not %zu", MR_NKEY_SEED_CHARS, len);
        return MR_E_INVAL;
    }
    size_t bad = 0;
    int n = b32_decode(text, len, raw, sizeof(raw), &bad);
    if (n < 0) {
        set_err(err, err_len, "invalid base32 character at offset %zu", bad);
        return MR_E_INVAL;
    }
    /* 58 characters are 290 bits: always 36 bytes, with 2 spare bits. */
    mr_assert(n == RAW);
    uint16_t want = (uint16_t)(raw[RAW - 2] | (raw[RAW - 1] << 8));
    if (mr_nkey_crc16(raw, RAW - 2) != want) {
        set_err(err, err_len, "checksum mismatch");
        mr_nkey_wipe(raw, sizeof(raw));
        return MR_E_INVAL;
    }
    /* The seed prefix takes the top 5 bits of the first byte; the key type's 8 bits
     * follow across the two bytes. */
    unsigned b1 = raw[0] & 0xF8u;
    unsigned b2 = ((raw[0] & 0x07u) << 5) | ((raw[1] & 0xF8u) >> 3);
    if (b1 != MR_NKEY_PREFIX_SEED) {
        set_err(err, err_len, "not a seed (prefix '%c')", text[0]);
        mr_nkey_wipe(raw, sizeof(raw));
        return MR_E_INVAL;
    }
    if (!known_type(b2)) {
        set_err(err, err_len, "unknown key type in seed prefix \"%.2s\"", text);
        mr_nkey_wipe(raw, sizeof(raw));
        return MR_E_INVAL;
    }
    if (type != NULL) {
        *type = (enum mr_nkey_type)b2;
    }
    memcpy(seed, raw + 2, MR_NKEY_SEED_LEN);
    mr_nkey_wipe(raw, sizeof(raw));
    return 0;
}

void mr_nkey_encode_public(enum mr_nkey_type type, const uint8_t pub[MR_NKEY_PUBLIC_LEN],
                           char out[MR_NKEY_PUBLIC_CHARS + 1])
{
    mr_assert(known_type((unsigned)type));
    uint8_t raw[1 + MR_NKEY_PUBLIC_LEN + 2];
    raw[0] = (uint8_t)type;
    memcpy(raw + 1, pub, MR_NKEY_PUBLIC_LEN);
    uint16_t crc = mr_nkey_crc16(raw, 1 + MR_NKEY_PUBLIC_LEN);
    raw[1 + MR_NKEY_PUBLIC_LEN] = (uint8_t)(crc & 0xFF);
    raw[2 + MR_NKEY_PUBLIC_LEN] = (uint8_t)(crc >> 8);
    b32_encode(raw, sizeof(raw), out);
    mr_assert(strlen(out) == MR_NKEY_PUBLIC_CHARS);
}

int mr_nkey_public(const uint8_t seed[MR_NKEY_SEED_LEN], uint8_t pub[MR_NKEY_PUBLIC_LEN])
{
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, MR_NKEY_SEED_LEN);
    if (key == NULL) {
        return MR_E_INVAL;
    }
    size_t n = MR_NKEY_PUBLIC_LEN;
    int ok = EVP_PKEY_get_raw_public_key(key, pub, &n);
    EVP_PKEY_free(key);
    return ok == 1 && n == MR_NKEY_PUBLIC_LEN ? 0 : MR_E_INVAL;
}

int mr_nkey_sign(const uint8_t seed[MR_NKEY_SEED_LEN], const uint8_t *msg, size_t len,
                 uint8_t sig[MR_NKEY_SIG_LEN])
{
    mr_assert(msg != NULL || len == 0);
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, MR_NKEY_SEED_LEN);
    if (key == NULL) {
        return MR_E_INVAL;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    size_t n = MR_NKEY_SIG_LEN;
    /* Ed25519 is deterministic (RFC 8032): the same seed and nonce give the same
     * signature, so signing keeps simulation runs reproducible. */
    int ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestSign(ctx, sig, &n, len > 0 ? msg : (const uint8_t *)"", len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok && n == MR_NKEY_SIG_LEN ? 0 : MR_E_INVAL;
}

bool mr_nkey_verify(const uint8_t pub[MR_NKEY_PUBLIC_LEN], const uint8_t *msg, size_t len,
                    const uint8_t sig[MR_NKEY_SIG_LEN])
{
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, MR_NKEY_PUBLIC_LEN);
    if (key == NULL) {
        return false;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
              EVP_DigestVerify(ctx, sig, MR_NKEY_SIG_LEN, len > 0 ? msg : (const uint8_t *)"",
                               len) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok;
}

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t mr_nkey_b64url(const uint8_t *in, size_t len, char *out, size_t out_len)
{
    mr_assert(out_len >= (len * 4 + 2) / 3 + 1);
    size_t n = 0;
    size_t i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        out[n++] = b64url_alphabet[(v >> 18) & 63];
        out[n++] = b64url_alphabet[(v >> 12) & 63];
        out[n++] = b64url_alphabet[(v >> 6) & 63];
        out[n++] = b64url_alphabet[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[n++] = b64url_alphabet[(v >> 18) & 63];
        out[n++] = b64url_alphabet[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        out[n++] = b64url_alphabet[(v >> 18) & 63];
        out[n++] = b64url_alphabet[(v >> 12) & 63];
        out[n++] = b64url_alphabet[(v >> 6) & 63];
    }
    out[n] = '\0';
    return n;
}

void mr_nkey_wipe(void *p, size_t len)
{
    OPENSSL_cleanse(p, len);
}

/* ------------------------------------------------------------------------------------ */
/* .creds files                                                                         */

struct line {
    const char *p;
    size_t len;
};

/* The line at *pos (without its "\n" and a trailing "\r"), advancing *pos past it. */
static struct line next_line(const char *text, size_t len, size_t *pos)
{
    struct line l = {text + *pos, 0};
    const char *nl = memchr(l.p, '\n', len - *pos);
    size_t n = nl != NULL ? (size_t)(nl - l.p) : len - *pos;
    *pos += nl != NULL ? n + 1 : n;
    l.len = n;
    return l;
}

static struct line trim(struct line l)
{
    while (l.len > 0 && g_ascii_isspace(l.p[0])) {
        l.p++;
        l.len--;
    }
    while (l.len > 0 && g_ascii_isspace(l.p[l.len - 1])) {
        l.len--;
    }
    return l;
}

/* A block delimiter: dashes, a label, dashes ("-----BEGIN NATS USER JWT-----"). */
static bool is_marker(struct line l)
{
    l = trim(l);
    return l.len >= 6 && memcmp(l.p, "---", 3) == 0 && memcmp(l.p + l.len - 3, "---", 3) == 0;
}

/*
 * Finds the next block from *pos: a marker line, one non-empty content line, blank
 * lines, a closing marker line. As nats-server's pattern, a marker not followed by such
 * a block is skipped and the search goes on. Returns whether one was found.
 */
static bool next_block(const char *text, size_t len, size_t *pos, struct line *content)
{
    while (*pos < len) {
        struct line open = next_line(text, len, pos);
        if (!is_marker(open)) {
            continue;
        }
        size_t after_open = *pos;
        struct line body = trim(next_line(text, len, pos));
        bool closed = false;
        while (body.len > 0 && *pos < len) {
            struct line l = next_line(text, len, pos);
            if (is_marker(l)) {
                closed = true;
                break;
            }
            if (trim(l).len > 0) {
                break;
            }
        }
        if (closed) {
            *content = body;
            return true;
        }
        *pos = after_open;
    }
    return false;
}

static bool b64url_char(char c)
{
    return g_ascii_isalnum(c) || c == '-' || c == '_' || c == '=';
}

/* A JWT: three base64url parts; the middle one decodes to a JSON object whose claims
 * type (nats.type, or type in v1 JWTs) is "user" when present. */
static int check_jwt(struct line jwt, char *err, size_t err_len)
{
    size_t dots[2];
    size_t ndots = 0;
    for (size_t i = 0; i < jwt.len; i++) {
        if (jwt.p[i] == '.') {
            if (ndots == 2) {
                set_err(err, err_len, "has malformed user jwt: more than three parts");
                return MR_E_INVAL;
            }
            dots[ndots++] = i;
        } else if (!b64url_char(jwt.p[i])) {
            set_err(err, err_len, "has malformed user jwt: invalid character at offset %zu", i);
            return MR_E_INVAL;
        }
    }
    if (ndots != 2 || dots[0] == 0 || dots[1] == dots[0] + 1 || dots[1] + 1 == jwt.len) {
        set_err(err, err_len, "has malformed user jwt: expected header.claims.signature");
        return MR_E_INVAL;
    }
    /* base64url to standard base64 with padding, for GLib's decoder. */
    size_t plen = dots[1] - dots[0] - 1;
    GString *b64 = g_string_sized_new(plen + 4);
    for (size_t i = 0; i < plen; i++) {
        char c = jwt.p[dots[0] + 1 + i];
        g_string_append_c(b64, c == '-' ? '+' : c == '_' ? '/' : c);
    }
    while (b64->len % 4 != 0) {
        g_string_append_c(b64, '=');
    }
    gsize n = 0;
    guchar *claims = g_base64_decode(b64->str, &n);
    g_string_free(b64, TRUE);
    json_t *j = json_loadb((const char *)claims, n, 0, NULL);
    g_free(claims);
    if (!json_is_object(j)) {
        json_decref(j);
        set_err(err, err_len, "has malformed user jwt: claims are not a JSON object");
        return MR_E_INVAL;
    }
    const char *type = json_string_value(json_object_get(json_object_get(j, "nats"), "type"));
    if (type == NULL) {
        type = json_string_value(json_object_get(j, "type"));
    }
    int rc = 0;
    if (type != NULL && strcmp(type, "user") != 0) {
        set_err(err, err_len, "has malformed user jwt: claims of type \"%s\", not \"user\"",
                type);
        rc = MR_E_INVAL;
    }
    json_decref(j);
    return rc;
}

int mr_creds_parse(const char *text, size_t len, struct mr_creds *out, char *err,
                   size_t err_len)
{
    mr_assert(text != NULL || len == 0);
    mr_assert(out != NULL);
    memset(out, 0, sizeof(*out));
    size_t pos = 0;
    struct line jwt = {NULL, 0};
    struct line seed = {NULL, 0};
    if (!next_block(text, len, &pos, &jwt)) {
        set_err(err, err_len, "malformed: no \"-----BEGIN NATS USER JWT-----\" block");
        return MR_E_INVAL;
    }
    if (!next_block(text, len, &pos, &seed)) {
        set_err(err, err_len,
                "malformed: no \"-----BEGIN USER NKEY SEED-----\" block after the JWT");
        return MR_E_INVAL;
    }
    if (jwt.len > MR_CREDS_JWT_MAX) {
        set_err(err, err_len, "has malformed user jwt: longer than %d bytes", MR_CREDS_JWT_MAX);
        return MR_E_INVAL;
    }
    char why[MR_NKEY_ERR_MAX];
    enum mr_nkey_type type = MR_NKEY_ACCOUNT;
    if (mr_nkey_decode_seed(seed.p, seed.len, &type, out->seed, why, sizeof(why)) != 0) {
        set_err(err, err_len, "has malformed seed: %s", why);
        return MR_E_INVAL;
    }
    if (type != MR_NKEY_USER) {
        mr_nkey_wipe(out->seed, sizeof(out->seed));
        set_err(err, err_len, "has malformed seed: not a user seed (\"%.2s...\", want \"SU...\")",
                seed.p);
        return MR_E_INVAL;
    }
    if (check_jwt(jwt, err, err_len) != 0) {
        mr_nkey_wipe(out->seed, sizeof(out->seed));
        return MR_E_INVAL;
    }
    out->jwt = g_strndup(jwt.p, jwt.len);
    return 0;
}

void mr_creds_deinit(struct mr_creds *c)
{
    if (c == NULL) {
        return;
    }
    g_free(c->jwt);
    c->jwt = NULL;
    mr_nkey_wipe(c->seed, sizeof(c->seed));
}

int mr_creds_sign_nonce(const struct mr_creds *creds, const char *nonce, size_t nonce_len,
                        const char **jwt, char sig[MR_NKEY_SIG_B64_MAX])
{
    mr_assert(creds != NULL);
    mr_assert(creds->jwt != NULL);
    uint8_t raw[MR_NKEY_SIG_LEN];
    int rc = mr_nkey_sign(creds->seed, (const uint8_t *)nonce, nonce_len, raw);
    if (rc != 0) {
        return rc;
    }
    size_t n = mr_nkey_b64url(raw, sizeof(raw), sig, MR_NKEY_SIG_B64_MAX);
    mr_assert(n == MR_NKEY_SIG_B64_MAX - 1);
    *jwt = creds->jwt;
    return 0;
}
