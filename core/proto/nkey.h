/* SPDX-License-Identifier: Apache-2.0 */
/*
 * NATS nkeys and .creds files, the spoke side of decentralized (JWT) authentication.
 *
 * An nkey is Ed25519 key material in base32 (RFC 4648 alphabet, no padding) with a
 * type prefix and a CRC-16/XMODEM checksum (little endian) at the end:
 *  - public key: 1 prefix byte (user 'U', account 'A', operator 'O', ...) + 32 bytes;
 *  - seed: 2 bytes (the seed prefix 'S' and the key type packed into 10 bits) + the
 *    32-byte Ed25519 seed; "SU..." is a user seed.
 * A .creds file holds two dash-delimited blocks: the user JWT ("-----BEGIN NATS USER
 * JWT-----") and the user's seed ("-----BEGIN USER NKEY SEED-----"). A leaf remote
 * sends the JWT and the Ed25519 signature of the hub INFO's nonce, base64url without
 * padding, in its CONNECT (`jwt`, `sig`), as nats-server 2.9 does.
 *
 * Decoding is pure; signing uses OpenSSL's libcrypto (deterministic Ed25519, no
 * randomness, no I/O). Nothing here allocates except mr_creds_parse (the JWT copy).
 * Seeds are secrets: callers wipe them with mr_nkey_wipe when done.
 */
#ifndef MR_NKEY_H
#define MR_NKEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MR_NKEY_SEED_LEN 32
#define MR_NKEY_PUBLIC_LEN 32
#define MR_NKEY_SIG_LEN 64
/* Encoded lengths: a seed is 36 raw bytes (58 chars), a public key 35 (56 chars). */
#define MR_NKEY_SEED_CHARS 58
#define MR_NKEY_PUBLIC_CHARS 56
/* base64url of a signature, no padding (86 chars), plus the NUL. */
#define MR_NKEY_SIG_B64_MAX 87
/* A creds file's JWT, at most this long (nats-server's max control line is 4 KiB by
 * default, and a CONNECT must fit in it with room to spare; 64 KiB is generous). */
#define MR_CREDS_JWT_MAX (64 * 1024)
#define MR_NKEY_ERR_MAX 256

/* Key types (the public prefix byte). */
enum mr_nkey_type {
    MR_NKEY_ACCOUNT = 0,
    MR_NKEY_CLUSTER = 2 << 3,
    MR_NKEY_SERVER = 13 << 3,
    MR_NKEY_OPERATOR = 14 << 3,
    MR_NKEY_USER = 20 << 3,
};

/* The seed prefix byte: base32-encodes to 'S'. */
#define MR_NKEY_PREFIX_SEED (18 << 3)

/* CRC-16/XMODEM (poly 0x1021, init 0), the nkey checksum. */
uint16_t mr_nkey_crc16(const uint8_t *data, size_t len);

/*
 * Decodes an encoded seed ("SU...") of len chars. On success returns 0, the key type
 * in *type and the 32-byte Ed25519 seed in seed. On failure returns MR_E_INVAL with err
 * saying what is wrong (bad base32 character, length, checksum, not a seed, unknown key
 * type). Does not check the type: callers that want a user seed compare *type.
 */
int mr_nkey_decode_seed(const char *text, size_t len, enum mr_nkey_type *type,
                        uint8_t seed[MR_NKEY_SEED_LEN], char *err, size_t err_len);

/* Encodes a public key of type into out (MR_NKEY_PUBLIC_CHARS + 1 bytes, NUL ended). */
void mr_nkey_encode_public(enum mr_nkey_type type, const uint8_t pub[MR_NKEY_PUBLIC_LEN],
                           char out[MR_NKEY_PUBLIC_CHARS + 1]);

/* Derives the Ed25519 public key of seed. Returns 0 or MR_E_INVAL (libcrypto refused). */
int mr_nkey_public(const uint8_t seed[MR_NKEY_SEED_LEN], uint8_t pub[MR_NKEY_PUBLIC_LEN]);

/* Signs msg with the Ed25519 key of seed. Returns 0 or MR_E_INVAL. */
int mr_nkey_sign(const uint8_t seed[MR_NKEY_SEED_LEN], const uint8_t *msg, size_t len,
                 uint8_t sig[MR_NKEY_SIG_LEN]);

/* Checks an Ed25519 signature against a raw public key (tests; a hub would need it). */
bool mr_nkey_verify(const uint8_t pub[MR_NKEY_PUBLIC_LEN], const uint8_t *msg, size_t len,
                    const uint8_t sig[MR_NKEY_SIG_LEN]);

/* base64url without padding (Go's RawURLEncoding) of in into out; out_len must be at
 * least ceil(4 * len / 3) + 1. Returns the length written (NUL excluded). */
size_t mr_nkey_b64url(const uint8_t *in, size_t len, char *out, size_t out_len);

/* Zeroes secret bytes in a way the compiler does not elide. */
void mr_nkey_wipe(void *p, size_t len);

/* A parsed .creds file. */
struct mr_creds {
    char *jwt; /* NUL-terminated, owned (g_malloc); NULL before a successful parse */
    uint8_t seed[MR_NKEY_SEED_LEN];
};

/*
 * Parses the contents of a .creds file: the first dash-delimited block is the user JWT,
 * the second the user's nkey seed. On success returns 0 and fills out (free with
 * mr_creds_deinit). On failure returns MR_E_INVAL, out stays empty, and err says what is
 * wrong: "malformed: ..." (blocks missing or unterminated), "has malformed user jwt"
 * or "has malformed seed: ..." (nats-server's words, for its own log lines).
 */
int mr_creds_parse(const char *text, size_t len, struct mr_creds *out, char *err,
                   size_t err_len);

/* Frees the JWT and wipes the seed. Safe on a zeroed or already deinited struct. */
void mr_creds_deinit(struct mr_creds *c);

/*
 * The CONNECT fields of creds for a hub's nonce: copies the JWT pointer to *jwt (borrowed
 * from creds) and writes the base64url signature of nonce into sig. Returns 0 or
 * MR_E_INVAL.
 */
int mr_creds_sign_nonce(const struct mr_creds *creds, const char *nonce, size_t nonce_len,
                        const char **jwt, char sig[MR_NKEY_SIG_B64_MAX]);

#endif
