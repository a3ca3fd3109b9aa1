/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for leaf remote credentials (core/proto/nkey.h): the input as the contents
 * of a .creds file (mr_creds_parse), and as an encoded seed (mr_nkey_decode_seed), both
 * the whole input and each line of it, so seeds inside a creds-shaped input are reached.
 *
 * It checks the contract: a failure is MR_E_INVAL with a message and leaves nothing
 * allocated (out->jwt NULL); a success holds a JWT of base64url parts with two dots, no
 * longer than MR_CREDS_JWT_MAX, and a user seed; parsing again gives the same JWT and
 * seed. A decoded seed has a known type, and what it signs verifies with its public key,
 * whose encoding has the public length.
 *
 * Canary: with MR_FUZZ_CANARY=1 in the environment, an input starting with "CANARY"
 * aborts (see tests/fuzz/README.md). Without the variable it is parsed like any other.
 *
 * Ownership: the target borrows data; it allocates copies and frees them.
 */
#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/proto/nkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool canary_armed(void)
{
    const char *v = getenv("MR_FUZZ_CANARY");
    return v != NULL && strcmp(v, "1") == 0;
}

/* A signature made with seed verifies with its public key, and not for another message. */
static void sign_round_trip(const uint8_t seed[MR_NKEY_SEED_LEN])
{
    static const char nonce[] = "fuzz-nonce";
    uint8_t pub[MR_NKEY_PUBLIC_LEN];
    uint8_t sig[MR_NKEY_SIG_LEN];
    mr_assert(mr_nkey_public(seed, pub) == 0);
    mr_assert(mr_nkey_sign(seed, (const uint8_t *)nonce, strlen(nonce), sig) == 0);
    mr_assert(mr_nkey_verify(pub, (const uint8_t *)nonce, strlen(nonce), sig));
    mr_assert(!mr_nkey_verify(pub, (const uint8_t *)nonce, strlen(nonce) - 1, sig));
}

static void decode_seed(const char *text, size_t len)
{
    enum mr_nkey_type type = MR_NKEY_ACCOUNT;
    uint8_t seed[MR_NKEY_SEED_LEN];
    char err[MR_NKEY_ERR_MAX] = "";
    int rc = mr_nkey_decode_seed(text, len, &type, seed, err, sizeof(err));
    if (rc != 0) {
        mr_assert(rc == MR_E_INVAL);
        mr_assert(err[0] != '\0');
        return;
    }
    mr_assert(len == MR_NKEY_SEED_CHARS);
    mr_assert(type == MR_NKEY_ACCOUNT || type == MR_NKEY_CLUSTER || type == MR_NKEY_SERVER ||
              type == MR_NKEY_OPERATOR || type == MR_NKEY_USER);
    uint8_t pub[MR_NKEY_PUBLIC_LEN];
    mr_assert(mr_nkey_public(seed, pub) == 0);
    char pub_text[MR_NKEY_PUBLIC_CHARS + 1];
    mr_nkey_encode_public(type, pub, pub_text);
    mr_assert(strlen(pub_text) == MR_NKEY_PUBLIC_CHARS);
    sign_round_trip(seed);
    mr_nkey_wipe(seed, sizeof(seed));
}

static bool jwt_shaped(const char *jwt)
{
    size_t dots = 0;
    for (const char *p = jwt; *p != '\0'; p++) {
        if (*p == '.') {
            dots++;
        } else if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '=') {
            return false;
        }
    }
    return dots == 2;
}

static void parse_creds(const char *text, size_t len)
{
    struct mr_creds c;
    char err[MR_NKEY_ERR_MAX] = "";
    int rc = mr_creds_parse(text, len, &c, err, sizeof(err));
    if (rc != 0) {
        mr_assert(rc == MR_E_INVAL);
        mr_assert(err[0] != '\0');
        mr_assert(c.jwt == NULL);
        return;
    }
    mr_assert(c.jwt != NULL);
    mr_assert(strlen(c.jwt) <= MR_CREDS_JWT_MAX);
    mr_assert(jwt_shaped(c.jwt));
    sign_round_trip(c.seed);
    /* The same bytes parse to the same credentials. */
    struct mr_creds again;
    mr_assert(mr_creds_parse(text, len, &again, err, sizeof(err)) == 0);
    mr_assert(strcmp(again.jwt, c.jwt) == 0);
    mr_assert(memcmp(again.seed, c.seed, MR_NKEY_SEED_LEN) == 0);
    char sig[MR_NKEY_SIG_B64_MAX];
    const char *jwt = NULL;
    mr_assert(mr_creds_sign_nonce(&c, "n", 1, &jwt, sig) == 0);
    mr_assert(jwt == c.jwt);
    mr_assert(strlen(sig) == MR_NKEY_SIG_B64_MAX - 1);
    mr_creds_deinit(&again);
    mr_creds_deinit(&c);
    mr_assert(c.jwt == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 6 && memcmp(data, "CANARY", 6) == 0 && canary_armed()) {
        abort();
    }
    /* An exact-size copy, so ASan sees any read past the end. */
    char *buf = malloc(size > 0 ? size : 1);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    parse_creds(buf, size);
    decode_seed(buf, size);
    for (size_t off = 0; off < size;) {
        const char *nl = memchr(buf + off, '\n', size - off);
        size_t n = nl != NULL ? (size_t)(nl - (buf + off)) : size - off;
        decode_seed(buf + off, n);
        off += n + 1;
    }
    free(buf);
    return 0;
}
