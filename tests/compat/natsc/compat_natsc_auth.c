/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compat_natsc_auth: checks a NATS-compatible server's authentication, authorization,
 * accounts and TLS with the nats.c client (Debian libnats). Usage:
 *
 *   compat_natsc_auth auth      nats://127.0.0.1:PORT [check ...]
 *   compat_natsc_auth token     nats://127.0.0.1:PORT [check ...]
 *   compat_natsc_auth tls       nats://127.0.0.1:PORT CA [check ...]
 *   compat_natsc_auth tlsverify nats://127.0.0.1:PORT CA CERT KEY ROGUE_CERT ROGUE_KEY [check ...]
 *   compat_natsc_auth --list [MODE]
 *
 * Each mode expects the server to run with the matching configuration, which
 * tests/compat/js/natsc_auth.test.mjs writes (AUTH_CONF, TOKEN_CONF, TLS_CONF,
 * TLS_VERIFY_CONF there):
 *   auth       authorization users alice/s3cret, bob (bcrypt of "b0b-pw"), admin/admin,
 *              pd/pd (publish deny "secret.>"), sd/sd (subscribe deny "private.>"), and
 *              accounts A (user a/a, exports stream "news.>" and service "calc.>") and
 *              B (user b/b, imports the stream with prefix "froma" and service
 *              "calc.add" as "add");
 *   token      authorization token "tok-3f9a";
 *   tls        tls { cert_file, key_file } with a server certificate signed by CA;
 *   tlsverify  the same plus ca_file CA and verify: true; CERT/KEY are a client
 *              certificate from CA, ROGUE_CERT/ROGUE_KEY one from another CA.
 *
 * Prints one line per check ("ok - name" or "FAIL - name: why"), diagnostic lines
 * starting with "# " (the exact errors the client saw, for comparing servers), and a
 * closing "N passed, N failed" line; exits 1 if any check failed, 2 on usage errors.
 *
 * Every wait is bounded: each client call has a timeout, and an alarm ends the
 * process if the whole run takes longer than RUN_TIMEOUT_S, so it cannot hang.
 * Each check owns the connections and subscriptions it creates and releases them on
 * every path (goto out).
 */
#include <nats/nats.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
    RUN_TIMEOUT_S = 100,
    WHY_MAX = 512,
    CONNECT_TIMEOUT_MS = 3000,
    WAIT_MS = 3000,              /* a message or an error that must arrive */
    QUIET_MS = 200,              /* proof that no further message arrives */
    ERR_TEXT_MAX = 256,
    MAX_ASYNC_ERRS = 8,
};

/* bcrypt of "b0b-pw" (cost 10), the hash AUTH_CONF gives user bob. */
static const char BOB_HASH[] = "$2a$10$jEd1dHwbSDAG5ICdCwVyRuj1NXgA8wqXc58m1mOg9Nku3daXtdfyi";

struct run {
    const char *url;
    const char *ca;
    const char *cert;
    const char *key;
    const char *rogue_cert;
    const char *rogue_key;
    const char *check;           /* name of the current check, for diagnostics */
    char why[WHY_MAX];           /* detail of the current check's failure */
};

/* Async errors reported to the error handler of one connection. */
struct async_errs {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int n;
    natsStatus status[MAX_ASYNC_ERRS];
    bool with_sub[MAX_ASYNC_ERRS];
    char text[MAX_ASYNC_ERRS][ERR_TEXT_MAX];
};

/* How a connection is made. */
struct conn_cfg {
    const char *user;
    const char *pass;
    const char *token;
    bool secure;
    const char *ca;
    const char *cert;
    const char *key;
    struct async_errs *errs;     /* error handler target, or NULL */
};

/* Record why a check failed (first reason wins) and jump to its cleanup. */
#define FAIL_IF(cond, ...)                                                                    \
    do {                                                                                      \
        if (cond) {                                                                           \
            set_why(r, __VA_ARGS__);                                                          \
            goto out;                                                                         \
        }                                                                                     \
    } while (0)

#define TRY(call)                                                                             \
    do {                                                                                      \
        natsStatus try_s = (call);                                                            \
        FAIL_IF(try_s != NATS_OK, "%s: %s (%s)", #call, natsStatus_GetText(try_s),           \
                last_error_text());                                                           \
    } while (0)

static void set_why(struct run *r, const char *fmt, ...)
{
    if (r->why[0] != '\0') {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(r->why, sizeof(r->why), fmt, ap); /* truncation is fine for a message */
    va_end(ap);
}

/* This thread's last nats.c error text ("" when none). */
static const char *last_error_text(void)
{
    natsStatus st = NATS_OK;
    const char *t = nats_GetLastError(&st);
    return t != NULL ? t : "";
}

/* ---------------------------------------------------------------------------------------- */
/* Async error collection */

static void errs_init(struct async_errs *e)
{
    memset(e, 0, sizeof(*e));
    (void)pthread_mutex_init(&e->mu, NULL);
    (void)pthread_cond_init(&e->cv, NULL);
}

static void errs_destroy(struct async_errs *e)
{
    (void)pthread_cond_destroy(&e->cv);
    (void)pthread_mutex_destroy(&e->mu);
}

static void on_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure)
{
    struct async_errs *e = closure;
    const char *text = NULL;
    (void)natsConnection_GetLastError(nc, &text); /* returns the connection's last status */
    if (text == NULL) {
        text = "";
    }
    (void)pthread_mutex_lock(&e->mu);
    if (e->n < MAX_ASYNC_ERRS) {
        e->status[e->n] = err;
        e->with_sub[e->n] = sub != NULL;
        (void)snprintf(e->text[e->n], ERR_TEXT_MAX, "%s", text);
        e->n++;
    }
    (void)pthread_cond_broadcast(&e->cv);
    (void)pthread_mutex_unlock(&e->mu);
}

/*
 * Wait (at most ms) for an async NATS_NOT_PERMITTED error whose text contains `want`.
 * Returns its index, or -1. Diagnostics list every error seen.
 */
static int errs_wait_for(struct run *r, struct async_errs *e, const char *want, int ms)
{
    struct timespec deadline;
    (void)clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    int found = -1;
    int seen = 0;
    (void)pthread_mutex_lock(&e->mu);
    for (;;) {
        for (; seen < e->n; seen++) {
            printf("# %s: async error %s%s: %s\n", r->check, natsStatus_GetText(e->status[seen]),
                   e->with_sub[seen] ? " (with subscription)" : "", e->text[seen]);
            if (found < 0 && e->status[seen] == NATS_NOT_PERMITTED &&
                strstr(e->text[seen], want) != NULL) {
                found = seen;
            }
        }
        if (found >= 0) {
            break;
        }
        int rc = pthread_cond_timedwait(&e->cv, &e->mu, &deadline);
        if (rc == ETIMEDOUT && seen == e->n) {
            break;
        }
    }
    (void)pthread_mutex_unlock(&e->mu);
    return found;
}

/* ---------------------------------------------------------------------------------------- */
/* Connections */

/* Connect without reconnects, so a dropped connection fails the check. */
static natsStatus conn_open(struct run *r, natsConnection **nc, const struct conn_cfg *c)
{
    natsOptions *opts = NULL;
    *nc = NULL;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK) {
        s = natsOptions_SetURL(opts, r->url);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetTimeout(opts, CONNECT_TIMEOUT_MS);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetAllowReconnect(opts, false);
    }
    if (s == NATS_OK && c->user != NULL) {
        s = natsOptions_SetUserInfo(opts, c->user, c->pass);
    }
    if (s == NATS_OK && c->token != NULL) {
        s = natsOptions_SetToken(opts, c->token);
    }
    if (s == NATS_OK && c->secure) {
        s = natsOptions_SetSecure(opts, true);
    }
    if (s == NATS_OK && c->ca != NULL) {
        s = natsOptions_LoadCATrustedCertificates(opts, c->ca);
    }
    if (s == NATS_OK && c->cert != NULL) {
        s = natsOptions_LoadCertificatesChain(opts, c->cert, c->key);
    }
    if (s == NATS_OK && c->errs != NULL) {
        s = natsOptions_SetErrorHandler(opts, on_error, c->errs);
    }
    if (s == NATS_OK) {
        s = natsConnection_Connect(nc, opts);
    }
    natsOptions_Destroy(opts);
    return s;
}

static void conn_close(natsConnection *nc)
{
    if (nc != NULL) {
        natsConnection_Close(nc);
        natsConnection_Destroy(nc);
    }
}

/*
 * Try a connection that must be refused. Returns true when it was; records the status
 * and the client's error text in *st and text (and prints them as a diagnostic).
 */
static bool refused(struct run *r, const struct conn_cfg *c, const char *what, natsStatus *st,
                    char *text, size_t text_len)
{
    natsConnection *nc = NULL;
    natsStatus s = conn_open(r, &nc, c);
    (void)snprintf(text, text_len, "%s", s == NATS_OK ? "" : last_error_text());
    *st = s;
    printf("# %s: %s: %s: %s\n", r->check, what, natsStatus_GetText(s), text);
    conn_close(nc);
    return s != NATS_OK;
}

/* An authorization failure, as nats.c reports the server's -ERR 'Authorization Violation'. */
static bool is_auth_error(natsStatus s, const char *text)
{
    return s == NATS_NOT_PERMITTED || strstr(text, "Authorization Violation") != NULL;
}

/* Expect an authorization failure for the credentials in c. */
static bool auth_refused(struct run *r, const struct conn_cfg *c, const char *what)
{
    natsStatus s = NATS_OK;
    char text[ERR_TEXT_MAX];
    if (!refused(r, c, what, &s, text, sizeof(text))) {
        set_why(r, "%s: connected", what);
        return false;
    }
    if (!is_auth_error(s, text)) {
        set_why(r, "%s: refused with %s '%s', not an authorization error", what,
                natsStatus_GetText(s), text);
        return false;
    }
    return true;
}

/* Receive one message; NATS_TIMEOUT if none within ms. */
static natsStatus next_msg(natsSubscription *sub, natsMsg **msg, int64_t ms)
{
    *msg = NULL;
    return natsSubscription_NextMsg(msg, sub, ms);
}

/* True when no message is pending or arrives within QUIET_MS. */
static bool quiet(natsSubscription *sub, char *subject, size_t len)
{
    natsMsg *m = NULL;
    natsStatus s = next_msg(sub, &m, QUIET_MS);
    if (s == NATS_OK) {
        (void)snprintf(subject, len, "%s", natsMsg_GetSubject(m));
    }
    natsMsg_Destroy(m);
    return s == NATS_TIMEOUT;
}

static bool data_is(const natsMsg *m, const char *want)
{
    size_t n = strlen(want);
    return natsMsg_GetDataLength(m) == (int)n && memcmp(natsMsg_GetData(m), want, n) == 0;
}

/* Subscribe, publish and receive one message on the same connection. */
static natsStatus round_trip(natsConnection *nc, const char *subject, char *why, size_t len)
{
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    natsStatus s = natsConnection_SubscribeSync(&sub, nc, subject);
    if (s == NATS_OK) {
        s = natsConnection_PublishString(nc, subject, "hello");
    }
    if (s == NATS_OK) {
        s = natsConnection_FlushTimeout(nc, WAIT_MS);
    }
    if (s == NATS_OK) {
        s = next_msg(sub, &m, WAIT_MS);
    }
    if (s == NATS_OK && !data_is(m, "hello")) {
        s = NATS_ERR;
        (void)snprintf(why, len, "round trip on %s: wrong payload", subject);
    } else if (s != NATS_OK) {
        (void)snprintf(why, len, "round trip on %s: %s (%s)", subject, natsStatus_GetText(s),
                       last_error_text());
    }
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    return s;
}

#define ROUND_TRIP(nc, subject)                                                               \
    do {                                                                                      \
        char rt_why[WHY_MAX] = "";                                                            \
        FAIL_IF(round_trip((nc), (subject), rt_why, sizeof(rt_why)) != NATS_OK, "%s", rt_why); \
    } while (0)

/* A connection with these struct conn_cfg fields must be refused as unauthorized. */
#define EXPECT_AUTH_REFUSED(what, ...)                                                        \
    do {                                                                                      \
        if (!auth_refused(r, &(struct conn_cfg){__VA_ARGS__}, (what))) {                      \
            goto out; /* auth_refused recorded why */                                         \
        }                                                                                     \
    } while (0)

/* ---------------------------------------------------------------------------------------- */
/* Mode auth: users, bcrypt, permissions, accounts */

static bool check_user_password(struct run *r)
{
    natsConnection *nc = NULL;
    bool ok = false;

    TRY(conn_open(r, &nc, &(struct conn_cfg){.user = "alice", .pass = "s3cret"}));
    ROUND_TRIP(nc, "cfg.user");
    ok = true;
out:
    conn_close(nc);
    return ok;
}

static bool check_wrong_password(struct run *r)
{
    bool ok = false;

    EXPECT_AUTH_REFUSED("alice with a wrong password", .user = "alice", .pass = "wrong");
    EXPECT_AUTH_REFUSED("an unknown user", .user = "nobody", .pass = "s3cret");
    EXPECT_AUTH_REFUSED("no credentials", .user = NULL);
    ok = true;
out:
    return ok;
}

static bool check_bcrypt_user(struct run *r)
{
    natsConnection *nc = NULL;
    bool ok = false;

    TRY(conn_open(r, &nc, &(struct conn_cfg){.user = "bob", .pass = "b0b-pw"}));
    ROUND_TRIP(nc, "cfg.bcrypt");
    EXPECT_AUTH_REFUSED("bob with a wrong password", .user = "bob", .pass = "b0b-pwx");
    EXPECT_AUTH_REFUSED("bob with the hash as password", .user = "bob", .pass = BOB_HASH);
    ok = true;
out:
    conn_close(nc);
    return ok;
}

static bool check_pub_permission(struct run *r)
{
    natsConnection *admin = NULL;
    natsConnection *pd = NULL;
    natsSubscription *secret = NULL;
    natsSubscription *open = NULL;
    natsMsg *m = NULL;
    struct async_errs errs;
    bool ok = false;
    char extra[128] = "";

    errs_init(&errs);
    TRY(conn_open(r, &admin, &(struct conn_cfg){.user = "admin", .pass = "admin"}));
    TRY(conn_open(r, &pd, &(struct conn_cfg){.user = "pd", .pass = "pd", .errs = &errs}));
    TRY(natsConnection_SubscribeSync(&secret, admin, "secret.>"));
    TRY(natsConnection_SubscribeSync(&open, admin, "open.>"));
    TRY(natsConnection_FlushTimeout(admin, WAIT_MS));
    TRY(natsConnection_PublishString(pd, "secret.plans", "x"));
    TRY(natsConnection_PublishString(pd, "open.news", "y"));
    TRY(natsConnection_FlushTimeout(pd, WAIT_MS));
    FAIL_IF(errs_wait_for(r, &errs, "Permissions Violation for Publish to \"secret.plans\"",
                          WAIT_MS) < 0,
            "no async error containing 'Permissions Violation for Publish to \"secret.plans\"'");
    TRY(next_msg(open, &m, WAIT_MS));
    FAIL_IF(!data_is(m, "y") || strcmp(natsMsg_GetSubject(m), "open.news") != 0,
            "the allowed message differs");
    TRY(natsConnection_FlushTimeout(admin, WAIT_MS));
    FAIL_IF(!quiet(secret, extra, sizeof(extra)), "the denied message was delivered (%s)",
            extra);
    FAIL_IF(natsConnection_IsClosed(pd), "a permissions violation closed the connection");
    /* The connection goes on working after the violation. */
    TRY(natsConnection_PublishString(pd, "open.more", "z"));
    TRY(natsConnection_FlushTimeout(pd, WAIT_MS));
    natsMsg_Destroy(m);
    m = NULL;
    TRY(next_msg(open, &m, WAIT_MS));
    FAIL_IF(!data_is(m, "z"), "the message after the violation differs");
    ok = true;
out:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(open);
    natsSubscription_Destroy(secret);
    conn_close(pd);
    conn_close(admin);
    errs_destroy(&errs);
    return ok;
}

static bool check_sub_permission(struct run *r)
{
    natsConnection *sd = NULL;
    natsConnection *admin = NULL;
    natsSubscription *priv = NULL;
    natsMsg *m = NULL;
    struct async_errs errs;
    bool ok = false;

    errs_init(&errs);
    TRY(conn_open(r, &sd, &(struct conn_cfg){.user = "sd", .pass = "sd", .errs = &errs}));
    TRY(conn_open(r, &admin, &(struct conn_cfg){.user = "admin", .pass = "admin"}));
    /* The client accepts the subscription; the server refuses it with an -ERR. */
    TRY(natsConnection_SubscribeSync(&priv, sd, "private.x"));
    TRY(natsConnection_FlushTimeout(sd, WAIT_MS));
    FAIL_IF(errs_wait_for(r, &errs, "Permissions Violation for Subscription to \"private.x\"",
                          WAIT_MS) < 0,
            "no async error containing 'Permissions Violation for Subscription to "
            "\"private.x\"'");
    TRY(natsConnection_PublishString(admin, "private.x", "hidden"));
    TRY(natsConnection_FlushTimeout(admin, WAIT_MS));
    TRY(natsConnection_FlushTimeout(sd, WAIT_MS));
    natsStatus s = next_msg(priv, &m, QUIET_MS);
    FAIL_IF(s == NATS_OK, "the denied subscription received a message");
    FAIL_IF(natsConnection_IsClosed(sd), "a permissions violation closed the connection");
    /* Allowed subscriptions on the same connection keep working. */
    ROUND_TRIP(sd, "public.x");
    ok = true;
out:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(priv);
    conn_close(admin);
    conn_close(sd);
    errs_destroy(&errs);
    return ok;
}

static bool check_account_isolation(struct run *r)
{
    natsConnection *a1 = NULL;
    natsConnection *a2 = NULL;
    natsConnection *b = NULL;
    natsSubscription *in_a = NULL;
    natsSubscription *in_b = NULL;
    natsMsg *m = NULL;
    bool ok = false;
    char extra[128] = "";

    TRY(conn_open(r, &a1, &(struct conn_cfg){.user = "a", .pass = "a"}));
    TRY(conn_open(r, &a2, &(struct conn_cfg){.user = "a", .pass = "a"}));
    TRY(conn_open(r, &b, &(struct conn_cfg){.user = "b", .pass = "b"}));
    TRY(natsConnection_SubscribeSync(&in_a, a2, "iso.>"));
    TRY(natsConnection_SubscribeSync(&in_b, b, "iso.>"));
    TRY(natsConnection_FlushTimeout(a2, WAIT_MS));
    TRY(natsConnection_FlushTimeout(b, WAIT_MS));
    TRY(natsConnection_PublishString(a1, "iso.one", "from a"));
    TRY(natsConnection_FlushTimeout(a1, WAIT_MS));
    TRY(next_msg(in_a, &m, WAIT_MS));
    FAIL_IF(!data_is(m, "from a"), "account A got the wrong message");
    natsMsg_Destroy(m);
    m = NULL;
    TRY(natsConnection_FlushTimeout(b, WAIT_MS));
    FAIL_IF(!quiet(in_b, extra, sizeof(extra)), "account B saw account A's message (%s)", extra);
    TRY(natsConnection_PublishString(b, "iso.two", "from b"));
    TRY(natsConnection_FlushTimeout(b, WAIT_MS));
    TRY(next_msg(in_b, &m, WAIT_MS));
    FAIL_IF(!data_is(m, "from b"), "account B got the wrong message");
    TRY(natsConnection_FlushTimeout(a2, WAIT_MS));
    FAIL_IF(!quiet(in_a, extra, sizeof(extra)), "account A saw account B's message (%s)", extra);
    ok = true;
out:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(in_b);
    natsSubscription_Destroy(in_a);
    conn_close(b);
    conn_close(a2);
    conn_close(a1);
    return ok;
}

static bool check_stream_import(struct run *r)
{
    natsConnection *a = NULL;
    natsConnection *b = NULL;
    natsSubscription *prefixed = NULL;
    natsSubscription *plain = NULL;
    natsMsg *m = NULL;
    bool ok = false;
    char extra[128] = "";

    TRY(conn_open(r, &a, &(struct conn_cfg){.user = "a", .pass = "a"}));
    TRY(conn_open(r, &b, &(struct conn_cfg){.user = "b", .pass = "b"}));
    TRY(natsConnection_SubscribeSync(&prefixed, b, "froma.news.>"));
    TRY(natsConnection_SubscribeSync(&plain, b, "news.>"));
    TRY(natsConnection_FlushTimeout(b, WAIT_MS));
    TRY(natsConnection_PublishString(a, "news.today", "headline"));
    TRY(natsConnection_FlushTimeout(a, WAIT_MS));
    TRY(next_msg(prefixed, &m, WAIT_MS));
    FAIL_IF(strcmp(natsMsg_GetSubject(m), "froma.news.today") != 0, "subject %s",
            natsMsg_GetSubject(m));
    FAIL_IF(!data_is(m, "headline"), "payload differs");
    TRY(natsConnection_FlushTimeout(b, WAIT_MS));
    FAIL_IF(!quiet(plain, extra, sizeof(extra)),
            "the import delivered outside its prefix (%s)", extra);
    FAIL_IF(!quiet(prefixed, extra, sizeof(extra)), "a second message arrived (%s)", extra);
    ok = true;
out:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(plain);
    natsSubscription_Destroy(prefixed);
    conn_close(b);
    conn_close(a);
    return ok;
}

/* Service in account A: "x+y" -> the sum. */
static void on_add(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)sub;
    (void)closure;
    char in[64];
    char out[32];
    int n = natsMsg_GetDataLength(msg);
    if (n >= (int)sizeof(in)) {
        n = (int)sizeof(in) - 1;
    }
    memcpy(in, natsMsg_GetData(msg), (size_t)n);
    in[n] = '\0';
    long x = 0;
    long y = 0;
    if (sscanf(in, "%ld+%ld", &x, &y) != 2) {
        (void)snprintf(out, sizeof(out), "bad request"); /* fits */
    } else {
        (void)snprintf(out, sizeof(out), "%ld", x + y); /* fits */
    }
    if (natsMsg_GetReply(msg) != NULL) {
        /* A failed reply shows up as the requester's timeout. */
        (void)natsConnection_PublishString(nc, natsMsg_GetReply(msg), out);
    }
    natsMsg_Destroy(msg);
}

static bool check_service_import(struct run *r)
{
    natsConnection *a = NULL;
    natsConnection *b = NULL;
    natsSubscription *svc = NULL;
    natsMsg *reply = NULL;
    bool ok = false;

    TRY(conn_open(r, &a, &(struct conn_cfg){.user = "a", .pass = "a"}));
    TRY(conn_open(r, &b, &(struct conn_cfg){.user = "b", .pass = "b"}));
    TRY(natsConnection_Subscribe(&svc, a, "calc.add", on_add, NULL));
    TRY(natsConnection_FlushTimeout(a, WAIT_MS));
    TRY(natsConnection_RequestString(&reply, b, "add", "2+3", WAIT_MS));
    FAIL_IF(!data_is(reply, "5"), "reply '%.*s', want '5'", natsMsg_GetDataLength(reply),
            natsMsg_GetData(reply));
    natsMsg_Destroy(reply);
    reply = NULL;
    TRY(natsConnection_RequestString(&reply, b, "add", "40+2", WAIT_MS));
    FAIL_IF(!data_is(reply, "42"), "second reply '%.*s', want '42'",
            natsMsg_GetDataLength(reply), natsMsg_GetData(reply));
    ok = true;
out:
    natsMsg_Destroy(reply);
    natsSubscription_Destroy(svc);
    conn_close(b);
    conn_close(a);
    return ok;
}

/* ---------------------------------------------------------------------------------------- */
/* Mode token */

static bool check_token(struct run *r)
{
    natsConnection *nc = NULL;
    bool ok = false;

    TRY(conn_open(r, &nc, &(struct conn_cfg){.token = "tok-3f9a"}));
    ROUND_TRIP(nc, "cfg.token");
    ok = true;
out:
    conn_close(nc);
    return ok;
}

static bool check_wrong_token(struct run *r)
{
    bool ok = false;

    EXPECT_AUTH_REFUSED("a wrong token", .token = "tok-xxxx");
    EXPECT_AUTH_REFUSED("no token", .user = NULL);
    ok = true;
out:
    return ok;
}

/* ---------------------------------------------------------------------------------------- */
/* Modes tls and tlsverify */

/* Two connections with cfg: pub/sub within one and across both. */
static bool tls_pubsub(struct run *r, const struct conn_cfg *cfg, const char *subject)
{
    natsConnection *nc = NULL;
    natsConnection *other = NULL;
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    bool ok = false;

    TRY(conn_open(r, &nc, cfg));
    ROUND_TRIP(nc, subject);
    TRY(conn_open(r, &other, cfg));
    TRY(natsConnection_SubscribeSync(&sub, other, subject));
    TRY(natsConnection_FlushTimeout(other, WAIT_MS));
    TRY(natsConnection_PublishString(nc, subject, "across"));
    TRY(natsConnection_FlushTimeout(nc, WAIT_MS));
    TRY(next_msg(sub, &m, WAIT_MS));
    FAIL_IF(!data_is(m, "across"), "the message across connections differs");
    ok = true;
out:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    conn_close(other);
    conn_close(nc);
    return ok;
}

static bool check_tls_ca(struct run *r)
{
    return tls_pubsub(r, &(struct conn_cfg){.secure = true, .ca = r->ca}, "tls.plain");
}

static bool check_tls_untrusted(struct run *r)
{
    natsStatus s = NATS_OK;
    char text[ERR_TEXT_MAX];
    bool ok = false;

    FAIL_IF(!refused(r, &(struct conn_cfg){.secure = true}, "TLS without the CA", &s, text,
                     sizeof(text)),
            "connected without trusting the server's CA");
    FAIL_IF(s != NATS_SSL_ERROR, "refused with %s '%s', not a TLS handshake error",
            natsStatus_GetText(s), text);
    ok = true;
out:
    return ok;
}

static bool check_tls_plain_client(struct run *r)
{
    natsStatus s = NATS_OK;
    char text[ERR_TEXT_MAX];
    bool ok = false;

    /* nats.c switches to TLS itself when INFO says tls_required; without the CA the
     * handshake fails, so the connection must not be made. */
    FAIL_IF(!refused(r, &(struct conn_cfg){0}, "no TLS options", &s, text, sizeof(text)),
            "connected without TLS options");
    FAIL_IF(s != NATS_SSL_ERROR, "refused with %s '%s', not a TLS handshake error",
            natsStatus_GetText(s), text);
    ok = true;
out:
    return ok;
}

static bool check_tls_client_cert(struct run *r)
{
    return tls_pubsub(r,
                      &(struct conn_cfg){.secure = true, .ca = r->ca, .cert = r->cert,
                                         .key = r->key},
                      "tls.verified");
}

static bool check_tls_no_client_cert(struct run *r)
{
    natsStatus s = NATS_OK;
    char text[ERR_TEXT_MAX];
    bool ok = false;

    FAIL_IF(!refused(r, &(struct conn_cfg){.secure = true, .ca = r->ca},
                     "TLS without a client certificate", &s, text, sizeof(text)),
            "connected without a client certificate");
    ok = true;
out:
    return ok;
}

static bool check_tls_foreign_cert(struct run *r)
{
    natsStatus s = NATS_OK;
    char text[ERR_TEXT_MAX];
    bool ok = false;

    FAIL_IF(!refused(r,
                     &(struct conn_cfg){.secure = true, .ca = r->ca, .cert = r->rogue_cert,
                                        .key = r->rogue_key},
                     "TLS with a certificate from another CA", &s, text, sizeof(text)),
            "connected with a certificate from another CA");
    ok = true;
out:
    return ok;
}

static bool check_tls_after_refusals(struct run *r)
{
    return tls_pubsub(r,
                      &(struct conn_cfg){.secure = true, .ca = r->ca, .cert = r->cert,
                                         .key = r->key},
                      "tls.after");
}

/* ---------------------------------------------------------------------------------------- */

struct check {
    const char *mode;
    const char *name;
    bool (*fn)(struct run *r);
};

static const struct check checks[] = {
    {"auth", "user_password", check_user_password},
    {"auth", "wrong_password_refused", check_wrong_password},
    {"auth", "bcrypt_user", check_bcrypt_user},
    {"auth", "publish_permission_violation", check_pub_permission},
    {"auth", "subscribe_permission_violation", check_sub_permission},
    {"auth", "account_isolation", check_account_isolation},
    {"auth", "stream_import_prefix", check_stream_import},
    {"auth", "service_import_request", check_service_import},
    {"token", "token", check_token},
    {"token", "wrong_token_refused", check_wrong_token},
    {"tls", "tls_with_ca", check_tls_ca},
    {"tls", "tls_untrusted_server_refused", check_tls_untrusted},
    {"tls", "tls_no_options_refused", check_tls_plain_client},
    {"tlsverify", "tls_client_certificate", check_tls_client_cert},
    {"tlsverify", "tls_no_client_certificate_refused", check_tls_no_client_cert},
    {"tlsverify", "tls_foreign_client_certificate_refused", check_tls_foreign_cert},
    {"tlsverify", "tls_serves_after_refusals", check_tls_after_refusals},
};

enum { N_CHECKS = sizeof(checks) / sizeof(checks[0]) };

/* Number of positional file arguments after the URL for a mode; -1 for an unknown mode. */
static int mode_files(const char *mode)
{
    if (strcmp(mode, "auth") == 0 || strcmp(mode, "token") == 0) {
        return 0;
    }
    if (strcmp(mode, "tls") == 0) {
        return 1;
    }
    if (strcmp(mode, "tlsverify") == 0) {
        return 5;
    }
    return -1;
}

static bool selected(const char *name, int first, int argc, char **argv)
{
    if (first >= argc) {
        return true;
    }
    for (int i = first; i < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return true;
        }
    }
    return false;
}

static int usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s auth|token nats://HOST:PORT [check ...]\n"
            "       %s tls nats://HOST:PORT CA [check ...]\n"
            "       %s tlsverify nats://HOST:PORT CA CERT KEY ROGUE_CERT ROGUE_KEY [check ...]\n"
            "       %s --list [MODE]\n",
            prog, prog, prog, prog);
    return 2;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < N_CHECKS; i++) {
            if (argc < 3 || strcmp(argv[2], checks[i].mode) == 0) {
                printf("%s %s\n", checks[i].mode, checks[i].name);
            }
        }
        return 0;
    }
    if (argc < 3) {
        return usage(argv[0]);
    }
    const char *mode = argv[1];
    int nfiles = mode_files(mode);
    if (nfiles < 0 || strncmp(argv[2], "nats://", 7) != 0 || argc < 3 + nfiles) {
        return usage(argv[0]);
    }
    (void)alarm(RUN_TIMEOUT_S); /* default SIGALRM action ends a hung run */
    setvbuf(stdout, NULL, _IOLBF, 0);

    struct run r = {.url = argv[2]};
    if (nfiles >= 1) {
        r.ca = argv[3];
    }
    if (nfiles >= 5) {
        r.cert = argv[4];
        r.key = argv[5];
        r.rogue_cert = argv[6];
        r.rogue_key = argv[7];
    }
    int first_name = 3 + nfiles;
    int passed = 0;
    int failed = 0;
    for (size_t i = 0; i < N_CHECKS; i++) {
        if (strcmp(checks[i].mode, mode) != 0 ||
            !selected(checks[i].name, first_name, argc, argv)) {
            continue;
        }
        r.why[0] = '\0';
        r.check = checks[i].name;
        if (checks[i].fn(&r)) {
            printf("ok - %s\n", checks[i].name);
            passed++;
        } else {
            printf("FAIL - %s: %s\n", checks[i].name, r.why[0] != '\0' ? r.why : "failed");
            failed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    /* Wait for the library's threads so sanitizer builds see no leaks; a slow
     * teardown is not a compatibility failure. */
    (void)nats_CloseAndWait(5000);
    return (failed > 0 || passed == 0) ? 1 : 0;
}
