/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for core/proto/nkey.c: seed decoding (good, bad checksum, bad characters,
 * wrong prefixes and types), Ed25519 signatures checked against vectors made with the
 * nkeys/jwt JavaScript libraries and verified with the derived public key, base64url,
 * .creds parsing and its error messages, every truncation of a creds file, and the
 * config loader reading a remote's credentials file through its file reader.
 */
#include <check.h>
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/conf/conf.h"
#include "core/conf/conf_server.h"
#include "core/err.h"
#include "core/proto/nkey.h"

/* A user key pair made with nkeys.js, and its signature of "nonce-abc". */
static const char user_seed[] = "SUAJBQ6D4IUWL43Q4AKB6NVFNRWYIGHST5VWZPN6EKNJ52SDZD3U6FEWU4";
static const char user_pub[] = "UDD4KCUMQPTTMCNTURA4H3RPILH3HNPAC25ONHTBH4J4NKFQ6SZMAHSB";
static const char user_sig[] = "Y8iyLlx51iJ7OCqJppI-BCdmoAHC0LUP-_zPbDC-xOUBpUhtwIcmrAOh-Vxzfd"
                               "cEC4wsk4XWoIASL1O1-PjIDw";
static const char account_seed[] = "SAAJGXPTONFZHWMDJDX236TBOSBPSIGRKIGBULUKKDFAW5D2OKHHEFL7P4";

/* The user JWT of that key (issued by an account key, type user). */
#define USER_JWT                                                                             \
    "eyJ0eXAiOiJKV1QiLCJhbGciOiJlZDI1NTE5LW5rZXkifQ.eyJhdWQiOiJOQVRTIiwibmFtZSI6InUiLCJzdW" \
    "IiOiJVREQ0S0NVTVFQVFRNQ05UVVJBNEgzUlBJTEgzSE5QQUMyNU9OSFRCSDRKNE5LRlE2U1pNQUhTQiIsIm5" \
    "hdHMiOnsiZGF0YSI6LTEsInBheWxvYWQiOi0xLCJzdWJzIjotMSwidHlwZSI6InVzZXIiLCJ2ZXJzaW9uIjoy" \
    "fSwiaXNzIjoiQUNXWTRURFkyVUhYR0hHWkFXMlU2NlRTRklFNkxNWTNSU1JKRkxMWklHT1VNNUIzTjVKRTdC" \
    "SlkiLCJpYXQiOjE3OTU3MDIxNjgsImp0aSI6IkIyVTVBcFlYZGcycGNvTEJwZnE5U1FmOTR0S2xvSmhzTXRP" \
    "VWJDRjB1ajNyOEdTR1kvb0UvdnlKOGxrK1E4VjhyeWVidy9jZklMNGdDRnlqWmViUkdRPT0ifQ.AZ8Cuz120c" \
    "vaWBvL_1Az4tt63XiE3WexOvGDj5oRkiAg0L6D6RvaP27M1q2ZHEtGFKWX5-KaJABevxgRsd8YBQ"

#define CREDS_HEAD "-----BEGIN NATS USER JWT-----\n" USER_JWT "\n------END NATS USER JWT------\n\n"
#define CREDS_NOTE                                                                           \
    "************************* IMPORTANT *************************\n"                       \
    "NKEY Seed printed below can be used sign and prove identity.\n"                         \
    "NKEYs are sensitive and should be treated as secrets.\n\n"
#define CREDS_SEED(seed)                                                                     \
    "-----BEGIN USER NKEY SEED-----\n" seed "\n------END USER NKEY SEED------\n\n"

static const char good_creds[] = CREDS_HEAD CREDS_NOTE CREDS_SEED(
    "SUAJBQ6D4IUWL43Q4AKB6NVFNRWYIGHST5VWZPN6EKNJ52SDZD3U6FEWU4")
    "*************************************************************\n";

static int decode(const char *text, enum mr_nkey_type *type, uint8_t seed[MR_NKEY_SEED_LEN],
                  char *err, size_t err_len)
{
    return mr_nkey_decode_seed(text, strlen(text), type, seed, err, err_len);
}

/* Base32 (no padding) for building seeds with chosen prefix bytes. */
static void b32(const uint8_t *in, size_t len, char *out)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            bits -= 5;
            out[n++] = alphabet[(acc >> bits) & 31];
        }
    }
    if (bits > 0) {
        out[n++] = alphabet[(acc << (5 - bits)) & 31];
    }
    out[n] = '\0';
}

/* A 58-char seed-shaped string with the given first two bytes and a valid checksum. */
static void make_seed_text(uint8_t b0, uint8_t b1, char out[MR_NKEY_SEED_CHARS + 1])
{
    uint8_t raw[36];
    raw[0] = b0;
    raw[1] = b1;
    for (int i = 0; i < 32; i++) {
        raw[2 + i] = (uint8_t)(i * 7 + 1);
    }
    uint16_t crc = mr_nkey_crc16(raw, 34);
    raw[34] = (uint8_t)(crc & 0xFF);
    raw[35] = (uint8_t)(crc >> 8);
    b32(raw, sizeof(raw), out);
}

START_TEST(crc16_is_xmodem)
{
    ck_assert_uint_eq(mr_nkey_crc16((const uint8_t *)"123456789", 9), 0x31C3);
    ck_assert_uint_eq(mr_nkey_crc16(NULL, 0), 0);
}
END_TEST

START_TEST(decode_user_seed_gives_its_public_key)
{
    enum mr_nkey_type type = MR_NKEY_ACCOUNT;
    uint8_t seed[MR_NKEY_SEED_LEN];
    char err[MR_NKEY_ERR_MAX] = "";
    ck_assert_int_eq(decode(user_seed, &type, seed, err, sizeof(err)), 0);
    ck_assert_int_eq(type, MR_NKEY_USER);
    uint8_t pub[MR_NKEY_PUBLIC_LEN];
    ck_assert_int_eq(mr_nkey_public(seed, pub), 0);
    char text[MR_NKEY_PUBLIC_CHARS + 1];
    mr_nkey_encode_public(MR_NKEY_USER, pub, text);
    ck_assert_str_eq(text, user_pub);
}
END_TEST

START_TEST(decode_account_seed_reports_account_type)
{
    enum mr_nkey_type type = MR_NKEY_USER;
    uint8_t seed[MR_NKEY_SEED_LEN];
    char err[MR_NKEY_ERR_MAX] = "";
    ck_assert_int_eq(decode(account_seed, &type, seed, err, sizeof(err)), 0);
    ck_assert_int_eq(type, MR_NKEY_ACCOUNT);
}
END_TEST

START_TEST(decode_refuses_bad_checksum)
{
    char text[sizeof(user_seed)];
    memcpy(text, user_seed, sizeof(user_seed));
    text[20] = text[20] == 'A' ? 'B' : 'A';
    uint8_t seed[MR_NKEY_SEED_LEN];
    char err[MR_NKEY_ERR_MAX] = "";
    ck_assert_int_eq(decode(text, NULL, seed, err, sizeof(err)), MR_E_INVAL);
    ck_assert_str_eq(err, "checksum mismatch");
}
END_TEST

START_TEST(decode_refuses_bad_character_and_length)
{
    char text[sizeof(user_seed)];
    memcpy(text, user_seed, sizeof(user_seed));
    text[5] = 'a';
    uint8_t seed[MR_NKEY_SEED_LEN];
    char err[MR_NKEY_ERR_MAX] = "";
    ck_assert_int_eq(decode(text, NULL, seed, err, sizeof(err)), MR_E_INVAL);
    ck_assert_str_eq(err, "invalid base32 character at offset 5");
    ck_assert_int_eq(decode(user_pub, NULL, seed, err, sizeof(err)), MR_E_INVAL);
    ck_assert_str_eq(err, "a seed has 58 characters, not 56");
    ck_assert_int_eq(decode("", NULL, seed, err, sizeof(err)), MR_E_INVAL);
}
END_TEST

START_TEST(decode_refuses_wrong_prefix)
{
    char text[MR_NKEY_SEED_CHARS + 1];
    uint8_t seed[MR_NKEY_SEED_LEN];
    char err[MR_NKEY_ERR_MAX] = "";
    /* A user public prefix byte where the seed prefix belongs. */
    make_seed_text(MR_NKEY_USER, 0, text);
    ck_assert_int_eq(decode(text, NULL, seed, err, sizeof(err)), MR_E_INVAL);
    ck_assert_str_eq(err, "not a seed (prefix 'U')");
    /* The seed prefix with a key type that does not exist (0x79). */
    make_seed_text(MR_NKEY_PREFIX_SEED | 3, 0xC8, text);
    ck_assert_int_eq(decode(text, NULL, seed, err, sizeof(err)), MR_E_INVAL);
    ck_assert_ptr_nonnull(strstr(err, "unknown key type"));
    /* The same construction with the user type decodes. */
    make_seed_text(MR_NKEY_PREFIX_SEED | (MR_NKEY_USER >> 5), (MR_NKEY_USER & 31) << 3, text);
    enum mr_nkey_type type = MR_NKEY_ACCOUNT;
    ck_assert_int_eq(decode(text, &type, seed, err, sizeof(err)), 0);
    ck_assert_int_eq(type, MR_NKEY_USER);
    ck_assert_int_eq(text[0], 'S');
    ck_assert_int_eq(text[1], 'U');
}
END_TEST

START_TEST(signature_matches_reference_and_verifies)
{
    uint8_t seed[MR_NKEY_SEED_LEN];
    char err[MR_NKEY_ERR_MAX] = "";
    ck_assert_int_eq(decode(user_seed, NULL, seed, err, sizeof(err)), 0);
    uint8_t sig[MR_NKEY_SIG_LEN];
    const char *nonce = "nonce-abc";
    ck_assert_int_eq(mr_nkey_sign(seed, (const uint8_t *)nonce, strlen(nonce), sig), 0);
    char text[MR_NKEY_SIG_B64_MAX];
    ck_assert_uint_eq(mr_nkey_b64url(sig, sizeof(sig), text, sizeof(text)), 86);
    ck_assert_str_eq(text, user_sig);
    uint8_t pub[MR_NKEY_PUBLIC_LEN];
    ck_assert_int_eq(mr_nkey_public(seed, pub), 0);
    ck_assert(mr_nkey_verify(pub, (const uint8_t *)nonce, strlen(nonce), sig));
    ck_assert(!mr_nkey_verify(pub, (const uint8_t *)"nonce-abd", 9, sig));
    sig[10] ^= 1;
    ck_assert(!mr_nkey_verify(pub, (const uint8_t *)nonce, strlen(nonce), sig));
    /* An empty nonce is signed too (a hub INFO without one). */
    ck_assert_int_eq(mr_nkey_sign(seed, NULL, 0, sig), 0);
    ck_assert(mr_nkey_verify(pub, (const uint8_t *)"", 0, sig));
}
END_TEST

START_TEST(b64url_has_no_padding)
{
    char out[16];
    ck_assert_uint_eq(mr_nkey_b64url((const uint8_t *)"", 0, out, sizeof(out)), 0);
    ck_assert_str_eq(out, "");
    mr_nkey_b64url((const uint8_t *)"f", 1, out, sizeof(out));
    ck_assert_str_eq(out, "Zg");
    mr_nkey_b64url((const uint8_t *)"fo", 2, out, sizeof(out));
    ck_assert_str_eq(out, "Zm8");
    mr_nkey_b64url((const uint8_t *)"foo", 3, out, sizeof(out));
    ck_assert_str_eq(out, "Zm9v");
    const uint8_t urlish[] = {0xFB, 0xFF};
    mr_nkey_b64url(urlish, 2, out, sizeof(out));
    ck_assert_str_eq(out, "-_8");
}
END_TEST

/* Parses text in an exact-size heap copy, so ASan sees any read past its end. */
static int parse(const char *text, size_t len, struct mr_creds *c, char *err, size_t err_len)
{
    char *copy = g_malloc(len > 0 ? len : 1);
    memcpy(copy, text, len);
    int rc = mr_creds_parse(copy, len, c, err, err_len);
    g_free(copy);
    return rc;
}

START_TEST(creds_parse_good_file)
{
    struct mr_creds c;
    char err[MR_NKEY_ERR_MAX] = "";
    ck_assert_int_eq(parse(good_creds, strlen(good_creds), &c, err, sizeof(err)), 0);
    ck_assert_str_eq(c.jwt, USER_JWT);
    const char *jwt = NULL;
    char sig[MR_NKEY_SIG_B64_MAX];
    ck_assert_int_eq(mr_creds_sign_nonce(&c, "nonce-abc", 9, &jwt, sig), 0);
    ck_assert_ptr_eq(jwt, c.jwt);
    ck_assert_str_eq(sig, user_sig);
    mr_creds_deinit(&c);
    ck_assert_ptr_null(c.jwt);
    mr_creds_deinit(&c);
}
END_TEST

START_TEST(creds_parse_tolerates_crlf_and_no_final_newline)
{
    GString *s = g_string_new(NULL);
    for (const char *p = good_creds; *p != '\0'; p++) {
        if (*p == '\n') {
            g_string_append_c(s, '\r');
        }
        g_string_append_c(s, *p);
    }
    struct mr_creds c;
    char err[MR_NKEY_ERR_MAX] = "";
    ck_assert_int_eq(parse(s->str, s->len, &c, err, sizeof(err)), 0);
    ck_assert_str_eq(c.jwt, USER_JWT);
    mr_creds_deinit(&c);
    g_string_free(s, TRUE);
    const char *bare = CREDS_HEAD "-----BEGIN USER NKEY SEED-----\n"
                       "SUAJBQ6D4IUWL43Q4AKB6NVFNRWYIGHST5VWZPN6EKNJ52SDZD3U6FEWU4\n"
                       "------END USER NKEY SEED------";
    ck_assert_int_eq(parse(bare, strlen(bare), &c, err, sizeof(err)), 0);
    mr_creds_deinit(&c);
}
END_TEST

struct creds_error_case {
    const char *text;
    const char *err;
};

static const struct creds_error_case creds_errors[] = {
    {"", "malformed: no \"-----BEGIN NATS USER JWT-----\" block"},
    {"just some text\n", "malformed: no \"-----BEGIN NATS USER JWT-----\" block"},
    {"-----BEGIN NATS USER JWT-----\n\n------END NATS USER JWT------\n",
     "malformed: no \"-----BEGIN NATS USER JWT-----\" block"},
    {"-----BEGIN NATS USER JWT-----\n" USER_JWT "\n",
     "malformed: no \"-----BEGIN NATS USER JWT-----\" block"},
    {CREDS_HEAD, "malformed: no \"-----BEGIN USER NKEY SEED-----\" block after the JWT"},
    {CREDS_HEAD "-----BEGIN USER NKEY SEED-----\nSUAJBQ\n",
     "malformed: no \"-----BEGIN USER NKEY SEED-----\" block after the JWT"},
    {CREDS_HEAD CREDS_SEED("SUAJBQ6D4IUWL43Q4AKB6NVFNRWYIGHST5VWZPN6EKNJ52SDZD3U6FEWV4"),
     "has malformed seed: checksum mismatch"},
    {CREDS_HEAD CREDS_SEED("SUAJBQ"), "has malformed seed: a seed has 58 characters, not 6"},
    {CREDS_HEAD CREDS_SEED("SAAJGXPTONFZHWMDJDX236TBOSBPSIGRKIGBULUKKDFAW5D2OKHHEFL7P4"),
     "has malformed seed: not a user seed (\"SA...\", want \"SU...\")"},
    {"-----BEGIN NATS USER JWT-----\nnot-a-jwt\n------END NATS USER JWT------\n" CREDS_SEED(
         "SUAJBQ6D4IUWL43Q4AKB6NVFNRWYIGHST5VWZPN6EKNJ52SDZD3U6FEWU4"),
     "has malformed user jwt: expected header.claims.signature"},
    {"-----BEGIN NATS USER JWT-----\na.b!.c\n------END NATS USER JWT------\n" CREDS_SEED(
         "SUAJBQ6D4IUWL43Q4AKB6NVFNRWYIGHST5VWZPN6EKNJ52SDZD3U6FEWU4"),
     "has malformed user jwt: invalid character at offset 3"},
    {"-----BEGIN NATS USER JWT-----\naaaa.bbbb.cccc\n------END NATS USER JWT------\n" CREDS_SEED(
         "SUAJBQ6D4IUWL43Q4AKB6NVFNRWYIGHST5VWZPN6EKNJ52SDZD3U6FEWU4"),
     "has malformed user jwt: claims are not a JSON object"},
    /* {"nats":{"type":"account"}} */
    {"-----BEGIN NATS USER JWT-----\naaaa.eyJuYXRzIjp7InR5cGUiOiJhY2NvdW50In19.cccc\n"
     "------END NATS USER JWT------\n" CREDS_SEED(
         "SUAJBQ6D4IUWL43Q4AKB6NVFNRWYIGHST5VWZPN6EKNJ52SDZD3U6FEWU4"),
     "has malformed user jwt: claims of type \"account\", not \"user\""},
};

START_TEST(creds_parse_errors_say_what_is_wrong)
{
    const struct creds_error_case *tc = &creds_errors[_i];
    struct mr_creds c;
    char err[MR_NKEY_ERR_MAX] = "";
    ck_assert_int_eq(parse(tc->text, strlen(tc->text), &c, err, sizeof(err)), MR_E_INVAL);
    ck_assert_str_eq(err, tc->err);
    ck_assert_ptr_null(c.jwt);
}
END_TEST

START_TEST(creds_parse_every_truncation_and_corruption)
{
    size_t len = strlen(good_creds);
    /* The file parses when the cut leaves the seed's closing line a marker (dashes, any
     * label, dashes, as in nats-server's pattern): its first six dashes alone, or the
     * label followed by at least three dashes. Never before. */
    const char *marker = "------END USER NKEY SEED------";
    size_t at = (size_t)(strstr(good_creds, marker) - good_creds);
    for (size_t cut = 0; cut <= len; cut++) {
        struct mr_creds c;
        char err[MR_NKEY_ERR_MAX] = "";
        int rc = parse(good_creds, cut, &c, err, sizeof(err));
        if (cut == at + 6 || cut >= at + strlen(marker) - 3) {
            ck_assert_msg(rc == 0, "cut %zu: %s", cut, err);
            ck_assert_str_eq(c.jwt, USER_JWT);
        } else {
            ck_assert_msg(rc == MR_E_INVAL, "cut %zu parsed", cut);
            ck_assert_msg(err[0] != '\0', "cut %zu: no message", cut);
        }
        mr_creds_deinit(&c);
    }
    /* Any single byte replaced: a clean result either way, never a crash. */
    char *copy = g_strdup(good_creds);
    const char repl[] = {'\0', '\n', '-', 'x', '.'};
    for (size_t i = 0; i < len; i++) {
        for (size_t k = 0; k < sizeof(repl); k++) {
            char was = copy[i];
            copy[i] = repl[k];
            struct mr_creds c;
            char err[MR_NKEY_ERR_MAX] = "";
            int rc = parse(copy, len, &c, err, sizeof(err));
            ck_assert(rc == 0 || rc == MR_E_INVAL);
            if (rc == 0) {
                ck_assert_ptr_nonnull(c.jwt);
            } else {
                ck_assert(err[0] != '\0');
            }
            mr_creds_deinit(&c);
            copy[i] = was;
        }
    }
    g_free(copy);
}
END_TEST

/* A file reader over one in-memory file (creds_text, or ENOENT when NULL). */
struct fake_fs {
    const char *path;
    const char *text;
};

static int fake_read(void *ctx, const char *path, char **data, size_t *len, char *err,
                     size_t err_len)
{
    const struct fake_fs *fs = ctx;
    if (fs->text == NULL || strcmp(path, fs->path) != 0) {
        snprintf(err, err_len, "open %s: no such file or directory", path);
        return MR_E_NOT_FOUND;
    }
    *len = strlen(fs->text);
    *data = malloc(*len + 1);
    memcpy(*data, fs->text, *len + 1);
    return 0;
}

static const char leaf_conf[] =
    "leafnodes {\n"
    "  remotes: [\n"
    "    { url: \"nats://127.0.0.1:7422\", credentials: \"u.creds\" }\n"
    "  ]\n"
    "}\n";

/* Loads leaf_conf and then its files through fs (io NULL when fs is). */
static int load_with(const struct fake_fs *fs, struct mr_config *c, char *err, size_t err_len)
{
    struct mr_conf_value *root = NULL;
    ck_assert_int_eq(mr_conf_parse("leaf.conf", leaf_conf, strlen(leaf_conf), NULL, &root, err,
                                   err_len),
                     0);
    int rc = mr_conf_server_load(root, c, NULL, NULL, err, err_len);
    mr_conf_free(root);
    ck_assert_int_eq(rc, 0);
    const struct mr_conf_io io = {(void *)fs, fake_read, NULL};
    return mr_conf_server_load_files(c, fs != NULL ? &io : NULL, err, err_len);
}

START_TEST(config_reads_remote_credentials)
{
    struct fake_fs fs = {"u.creds", good_creds};
    struct mr_config c;
    char err[MR_CONF_MSG_MAX] = "";
    ck_assert_int_eq(load_with(&fs, &c, err, sizeof(err)), 0);
    ck_assert_uint_eq(c.leafnodes.remotes_count, 1);
    ck_assert_str_eq(c.leafnodes.remotes[0].credentials, "u.creds");
    ck_assert_str_eq(c.leafnodes.remotes[0].creds.jwt, USER_JWT);
    mr_conf_server_deinit(&c);
}
END_TEST

START_TEST(config_credentials_errors_name_file_and_place)
{
    struct mr_config c;
    char err[MR_CONF_MSG_MAX] = "";
    struct fake_fs missing = {"u.creds", NULL};
    ck_assert_int_eq(load_with(&missing, &c, err, sizeof(err)), MR_E_NOT_FOUND);
    ck_assert_str_eq(err, "leaf.conf:3:50: Error reading LeafNode Remote Credentials file "
                          "\"u.creds\": open u.creds: no such file or directory");
    ck_assert_ptr_null(c.leafnodes.remotes[0].creds.jwt);
    mr_conf_server_deinit(&c);

    struct fake_fs bad = {"u.creds", CREDS_HEAD};
    ck_assert_int_eq(load_with(&bad, &c, err, sizeof(err)), MR_E_INVAL);
    ck_assert_str_eq(err, "leaf.conf:3:50: LeafNode Remote Credentials file \"u.creds\" "
                          "malformed: no \"-----BEGIN USER NKEY SEED-----\" block after the JWT");
    mr_conf_server_deinit(&c);

    ck_assert_int_eq(load_with(NULL, &c, err, sizeof(err)), MR_E_INVAL);
    ck_assert_ptr_nonnull(strstr(err, "\"u.creds\": no file reader"));
    mr_conf_server_deinit(&c);
}
END_TEST

static Suite *nkey_suite(void)
{
    Suite *s = suite_create("nkey");
    TCase *tk = tcase_create("keys");
    tcase_set_timeout(tk, 10);
    tcase_add_test(tk, crc16_is_xmodem);
    tcase_add_test(tk, decode_user_seed_gives_its_public_key);
    tcase_add_test(tk, decode_account_seed_reports_account_type);
    tcase_add_test(tk, decode_refuses_bad_checksum);
    tcase_add_test(tk, decode_refuses_bad_character_and_length);
    tcase_add_test(tk, decode_refuses_wrong_prefix);
    tcase_add_test(tk, signature_matches_reference_and_verifies);
    tcase_add_test(tk, b64url_has_no_padding);
    suite_add_tcase(s, tk);

    TCase *tc = tcase_create("creds");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, creds_parse_good_file);
    tcase_add_test(tc, creds_parse_tolerates_crlf_and_no_final_newline);
    tcase_add_loop_test(tc, creds_parse_errors_say_what_is_wrong, 0,
                        (int)(sizeof(creds_errors) / sizeof(creds_errors[0])));
    tcase_add_test(tc, creds_parse_every_truncation_and_corruption);
    tcase_add_test(tc, config_reads_remote_credentials);
    tcase_add_test(tc, config_credentials_errors_name_file_and_place);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(nkey_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
