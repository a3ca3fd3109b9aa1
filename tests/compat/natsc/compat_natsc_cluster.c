/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compat_natsc_cluster: checks a 3-server cluster of a NATS-compatible server with the
 * nats.c client (Debian libnats). Usage:
 *
 *   compat_natsc_cluster nats://A nats://B nats://C [check ...]
 *   compat_natsc_cluster --list
 *
 * A, B and C are the client URLs of three servers joined in one cluster (full mesh).
 * The failover checks need a controller on stdin/stdout, which
 * tests/compat/js/natsc_cluster.test.mjs provides: the program prints "CTL STOP i" or
 * "CTL START i" (i = 0 for A) and waits, bounded, for a line "OK" (the server is stopped,
 * or restarted and back in the full mesh) or "ERR why" on stdin.
 *
 * Prints one line per check ("ok - name" or "FAIL - name: why"), diagnostic lines
 * starting with "# ", and a closing "N passed, N failed" line; exits 1 if any check
 * failed, 2 on usage errors.
 *
 * Cross-server delivery first waits for the subscribers' interest to reach the
 * publisher's server (await_interest): the subscriber connections subscribe to probe
 * subjects after their real subscriptions and the publisher publishes on them until
 * every probe has arrived; a server forwards one connection's subscriptions in order.
 *
 * Every wait is bounded: each client call has a timeout, and an alarm ends the process
 * if the whole run takes longer than RUN_TIMEOUT_S, so it cannot hang. Each check owns
 * the connections and subscriptions it creates and releases them on every path.
 */
#include <nats/nats.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
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
    WAIT_MS = 3000,              /* a message that must arrive */
    QUIET_MS = 200,              /* proof that no further message arrives */
    INTEREST_WAIT_MS = 10000,    /* subscriptions crossing the routes */
    PROBE_MS = 20,               /* between probe rounds */
    CTL_WAIT_MS = 30000,         /* the controller stops or restarts a server */
    RECONNECT_WAIT_MS = 15000,
    SERVERS = 3,
    PUBSUB_MSGS = 20,
    QUEUE_MSGS = 300,
    SUBS_MAX = 8,
    URL_MAX = 256,
    LINE_MAX_BYTES = 256,
};

struct run {
    const char *urls[SERVERS];
    unsigned probe_seq;          /* makes probe subjects unique within the run */
    char why[WHY_MAX];           /* detail of the current check's failure */
};

#include "harness.h"

/* Reconnect events of one connection, from nats.c's callback threads. */
struct recon {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int disconnects;
    int reconnects;
};

static const char *const server_names[SERVERS] = {"A", "B", "C"};

/* ---------------------------------------------------------------------------------------- */
/* Connections */

/* Connect to one server without reconnects, so a dropped connection fails the check. */
static natsStatus conn_open(struct run *r, natsConnection **nc, int server)
{
    natsOptions *opts = NULL;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK) {
        s = natsOptions_SetURL(opts, r->urls[server]);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetTimeout(opts, CONNECT_TIMEOUT_MS);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetAllowReconnect(opts, false);
    }
    if (s == NATS_OK) {
        s = natsConnection_Connect(nc, opts);
    }
    natsOptions_Destroy(opts);
    return s;
}

static void recon_init(struct recon *rc)
{
    memset(rc, 0, sizeof(*rc));
    (void)pthread_mutex_init(&rc->mu, NULL);
    (void)pthread_cond_init(&rc->cv, NULL);
}

static void recon_destroy(struct recon *rc)
{
    (void)pthread_cond_destroy(&rc->cv);
    (void)pthread_mutex_destroy(&rc->mu);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
    struct recon *rc = closure;
    (void)nc;
    (void)pthread_mutex_lock(&rc->mu);
    rc->disconnects++;
    (void)pthread_cond_broadcast(&rc->cv);
    (void)pthread_mutex_unlock(&rc->mu);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    struct recon *rc = closure;
    (void)nc;
    (void)pthread_mutex_lock(&rc->mu);
    rc->reconnects++;
    (void)pthread_cond_broadcast(&rc->cv);
    (void)pthread_mutex_unlock(&rc->mu);
}

/* Wait at most ms for the first reconnect; returns whether it happened. */
static bool recon_wait(struct recon *rc, int ms)
{
    struct timespec deadline;
    (void)clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    (void)pthread_mutex_lock(&rc->mu);
    while (rc->reconnects == 0) {
        if (pthread_cond_timedwait(&rc->cv, &rc->mu, &deadline) == ETIMEDOUT) {
            break;
        }
    }
    bool ok = rc->reconnects > 0;
    (void)pthread_mutex_unlock(&rc->mu);
    return ok;
}

/*
 * Connect with reconnects to the given URLs, tried in order (no randomizing), so the
 * connection lands on the first one. Reconnect events go to rc.
 */
static natsStatus conn_open_failover(natsConnection **nc, const char **urls, int count,
                                     struct recon *rc)
{
    natsOptions *opts = NULL;
    natsStatus s = natsOptions_Create(&opts);
    if (s == NATS_OK) {
        s = natsOptions_SetServers(opts, urls, count);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetNoRandomize(opts, true);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetTimeout(opts, CONNECT_TIMEOUT_MS);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetMaxReconnect(opts, 60);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetReconnectWait(opts, 200);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetDisconnectedCB(opts, on_disconnected, rc);
    }
    if (s == NATS_OK) {
        s = natsOptions_SetReconnectedCB(opts, on_reconnected, rc);
    }
    if (s == NATS_OK) {
        s = natsConnection_Connect(nc, opts);
    }
    natsOptions_Destroy(opts);
    return s;
}

/* Count messages pending on sub until it stays quiet; -1 on an error other than timeout. */
static int drain_count(natsSubscription *sub)
{
    int n = 0;
    for (;;) {
        natsMsg *m = NULL;
        natsStatus s = next_msg(sub, &m, QUIET_MS);
        natsMsg_Destroy(m);
        if (s == NATS_TIMEOUT) {
            return n;
        }
        if (s != NATS_OK) {
            return -1;
        }
        n++;
    }
}

/*
 * Wait (bounded) until the subscriptions already made on subs[0..n) are known on the
 * server pub is connected to. See the file comment.
 */
static bool await_interest(struct run *r, natsConnection *pub, natsConnection **subs, int n)
{
    natsSubscription *probe[SUBS_MAX] = {0};
    char subject[SUBS_MAX][64];
    bool got[SUBS_MAX] = {0};
    bool ok = false;
    unsigned seq = r->probe_seq++;

    FAIL_IF(n > SUBS_MAX, "await_interest: %d connections, at most %d", n, SUBS_MAX);
    for (int k = 0; k < n; k++) {
        (void)snprintf(subject[k], sizeof(subject[k]), "_PROBE.%ld.%u.%d", (long)getpid(), seq,
                       k); /* fits */
        TRY(natsConnection_SubscribeSync(&probe[k], subs[k], subject[k]));
        TRY(natsConnection_FlushTimeout(subs[k], WAIT_MS));
    }
    struct timespec t0;
    (void)clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int left = n; left > 0;) {
        struct timespec t;
        (void)clock_gettime(CLOCK_MONOTONIC, &t);
        long elapsed_ms = (t.tv_sec - t0.tv_sec) * 1000L + (t.tv_nsec - t0.tv_nsec) / 1000000L;
        FAIL_IF(elapsed_ms > INTEREST_WAIT_MS,
                "subscriptions did not reach the publisher's server within %d ms",
                INTEREST_WAIT_MS);
        for (int k = 0; k < n; k++) {
            if (!got[k]) {
                TRY(natsConnection_PublishString(pub, subject[k], "probe"));
            }
        }
        TRY(natsConnection_FlushTimeout(pub, WAIT_MS));
        for (int k = 0; k < n; k++) {
            natsMsg *m = NULL;
            if (!got[k] && next_msg(probe[k], &m, PROBE_MS) == NATS_OK) {
                got[k] = true;
                left--;
            }
            natsMsg_Destroy(m);
        }
    }
    ok = true;
out:
    for (int k = 0; k < n && k < SUBS_MAX; k++) {
        if (probe[k] != NULL) {
            (void)natsSubscription_Unsubscribe(probe[k]); /* the connection may be gone */
            natsSubscription_Destroy(probe[k]);
        }
    }
    return ok;
}

/*
 * Ask the controller to stop or start server i and wait (bounded) for its "OK". Without
 * a controller (stdin at end of file or silent) the check fails saying so.
 */
static bool control(struct run *r, const char *verb, int i)
{
    char line[LINE_MAX_BYTES];
    size_t len = 0;
    bool ok = false;

    printf("CTL %s %d\n", verb, i);
    (void)fflush(stdout);
    struct pollfd pfd = {.fd = STDIN_FILENO, .events = POLLIN};
    for (;;) {
        int rc = poll(&pfd, 1, CTL_WAIT_MS);
        FAIL_IF(rc == 0, "no answer to CTL %s %d within %d ms (run under "
                "tests/compat/js/natsc_cluster.test.mjs)", verb, i, CTL_WAIT_MS);
        FAIL_IF(rc < 0 && errno != EINTR, "poll(stdin): %s", strerror(errno));
        if (rc < 0) {
            continue;
        }
        char ch;
        ssize_t n = read(STDIN_FILENO, &ch, 1);
        FAIL_IF(n == 0, "stdin closed: no controller for CTL %s %d", verb, i);
        FAIL_IF(n < 0 && errno != EINTR, "read(stdin): %s", strerror(errno));
        if (n < 0) {
            continue;
        }
        if (ch == '\n') {
            break;
        }
        FAIL_IF(len + 1 >= sizeof(line), "controller line too long");
        line[len++] = ch;
    }
    line[len] = '\0';
    FAIL_IF(strcmp(line, "OK") != 0, "CTL %s %d: %s", verb, i, line);
    ok = true;
out:
    return ok;
}

/* ---------------------------------------------------------------------------------------- */
/* Checks */

/* Publish on A: subscribers on B and C (two on C) get every message once, in order. */
static bool check_cross_server_pubsub(struct run *r)
{
    natsConnection *pub = NULL;
    natsConnection *subs_nc[3] = {0};
    natsSubscription *subs[3] = {0};
    static const int where[3] = {1, 2, 2};
    natsMsg *m = NULL;
    bool ok = false;
    char buf[32];

    TRY(conn_open(r, &pub, 0));
    for (int k = 0; k < 3; k++) {
        TRY(conn_open(r, &subs_nc[k], where[k]));
        TRY(natsConnection_SubscribeSync(&subs[k], subs_nc[k], "ncl.ps"));
    }
    FAIL_IF(!await_interest(r, pub, subs_nc, 3), "interest");
    for (int i = 0; i < PUBSUB_MSGS; i++) {
        (void)snprintf(buf, sizeof(buf), "m%d", i); /* fits */
        TRY(natsConnection_PublishString(pub, "ncl.ps", buf));
    }
    TRY(natsConnection_PublishString(pub, "ncl.ps.not", "other subject"));
    TRY(natsConnection_FlushTimeout(pub, WAIT_MS));
    for (int k = 0; k < 3; k++) {
        for (int i = 0; i < PUBSUB_MSGS; i++) {
            TRY(next_msg(subs[k], &m, WAIT_MS));
            (void)snprintf(buf, sizeof(buf), "m%d", i); /* fits */
            FAIL_IF(!data_is(m, buf), "subscriber %d on %s: message %d out of order or corrupt",
                    k, server_names[where[k]], i);
            natsMsg_Destroy(m);
            m = NULL;
        }
        int extra = drain_count(subs[k]);
        FAIL_IF(extra != 0, "subscriber %d on %s got %d extra messages (duplicates?)", k,
                server_names[where[k]], extra);
    }
    ok = true;
out:
    natsMsg_Destroy(m);
    for (int k = 0; k < 3; k++) {
        natsSubscription_Destroy(subs[k]);
        conn_close(subs_nc[k]);
    }
    conn_close(pub);
    return ok;
}

/* A queue group with one member on each server, publisher on A: each message once. */
static bool check_queue_across_servers(struct run *r)
{
    natsConnection *pub = NULL;
    natsConnection *members_nc[SERVERS] = {0};
    natsSubscription *members[SERVERS] = {0};
    natsMsg *m = NULL;
    int seen[QUEUE_MSGS] = {0};
    int per[SERVERS] = {0};
    bool ok = false;
    char buf[32];

    TRY(conn_open(r, &pub, 0));
    for (int k = 0; k < SERVERS; k++) {
        TRY(conn_open(r, &members_nc[k], k));
        TRY(natsConnection_QueueSubscribeSync(&members[k], members_nc[k], "ncl.q", "workers"));
    }
    FAIL_IF(!await_interest(r, pub, members_nc, SERVERS), "interest");
    for (int i = 0; i < QUEUE_MSGS; i++) {
        (void)snprintf(buf, sizeof(buf), "%d", i); /* fits */
        TRY(natsConnection_PublishString(pub, "ncl.q", buf));
    }
    TRY(natsConnection_FlushTimeout(pub, WAIT_MS));
    for (int k = 0; k < SERVERS; k++) {
        for (;;) {
            natsStatus s = next_msg(members[k], &m, QUIET_MS);
            if (s == NATS_TIMEOUT) {
                break;
            }
            TRY(s);
            char num[16];
            int len = natsMsg_GetDataLength(m);
            FAIL_IF(len <= 0 || len >= (int)sizeof(num), "bad payload length %d", len);
            memcpy(num, natsMsg_GetData(m), (size_t)len);
            num[len] = '\0';
            int i = atoi(num);
            FAIL_IF(i < 0 || i >= QUEUE_MSGS, "payload %s was never sent", num);
            seen[i]++;
            per[k]++;
            natsMsg_Destroy(m);
            m = NULL;
        }
    }
    printf("# queue_across_servers: member on A %d, B %d, C %d of %d\n", per[0], per[1],
           per[2], QUEUE_MSGS);
    for (int i = 0; i < QUEUE_MSGS; i++) {
        FAIL_IF(seen[i] != 1, "message %d delivered %d times (per member %d/%d/%d)", i, seen[i],
                per[0], per[1], per[2]);
    }
    /* nats-server 2.9.10 spreads queue messages over every member in the cluster, with no
     * preference for the member on the publisher's server. */
    for (int k = 0; k < SERVERS; k++) {
        FAIL_IF(per[k] == 0, "member on %s got none (%d/%d/%d)", server_names[k], per[0], per[1],
                per[2]);
    }
    ok = true;
out:
    natsMsg_Destroy(m);
    for (int k = 0; k < SERVERS; k++) {
        natsSubscription_Destroy(members[k]);
        conn_close(members_nc[k]);
    }
    conn_close(pub);
    return ok;
}

/*
 * Connected to A through urls[0..count), subscribed, with a publisher on C: stop A, expect
 * a reconnect to B or C and messages again, then restart A. discovered: only A's URL is
 * given, so B and C must come from INFO connect_urls.
 */
static bool failover(struct run *r, const char **urls, int count, bool discovered)
{
    natsConnection *nc = NULL;
    natsConnection *pub = NULL;
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    char **found = NULL;
    int found_n = 0;
    struct recon rc;
    bool a_stopped = false;
    bool ok = false;
    char url[URL_MAX];

    recon_init(&rc);
    TRY(conn_open_failover(&nc, urls, count, &rc));
    TRY(natsConnection_GetConnectedUrl(nc, url, sizeof(url)));
    FAIL_IF(strcmp(url, r->urls[0]) != 0, "connected to %s, want A %s", url, r->urls[0]);
    if (discovered) {
        TRY(natsConnection_GetDiscoveredServers(nc, &found, &found_n));
        printf("# failover_discovered: %d discovered servers\n", found_n);
        FAIL_IF(found_n != 2, "%d servers discovered through connect_urls, want 2 (B and C)",
                found_n);
    }
    TRY(natsConnection_SubscribeSync(&sub, nc, "ncl.fo"));
    TRY(conn_open(r, &pub, 2));
    FAIL_IF(!await_interest(r, pub, &nc, 1), "interest before failover");
    TRY(natsConnection_PublishString(pub, "ncl.fo", "before"));
    TRY(natsConnection_FlushTimeout(pub, WAIT_MS));
    TRY(next_msg(sub, &m, WAIT_MS));
    FAIL_IF(!data_is(m, "before"), "wrong message before failover");
    natsMsg_Destroy(m);
    m = NULL;

    FAIL_IF(!control(r, "STOP", 0), "stopping A");
    a_stopped = true;
    FAIL_IF(!recon_wait(&rc, RECONNECT_WAIT_MS), "no reconnect within %d ms after A stopped",
            RECONNECT_WAIT_MS);
    TRY(natsConnection_GetConnectedUrl(nc, url, sizeof(url)));
    printf("# failover: reconnected to %s\n", url);
    FAIL_IF(strstr(url, strrchr(r->urls[1], ':')) == NULL &&
                strstr(url, strrchr(r->urls[2], ':')) == NULL,
            "reconnected to %s, want B or C", url);
    /* The subscription is replayed on the new server; let it cross to C again. */
    FAIL_IF(!await_interest(r, pub, &nc, 1), "interest after failover");
    TRY(natsConnection_PublishString(pub, "ncl.fo", "after"));
    TRY(natsConnection_FlushTimeout(pub, WAIT_MS));
    TRY(next_msg(sub, &m, WAIT_MS));
    FAIL_IF(!data_is(m, "after"), "wrong message after failover");
    ok = true;
out:
    natsMsg_Destroy(m);
    natsSubscription_Destroy(sub);
    conn_close(pub);
    conn_close(nc);
    if (found != NULL) {
        for (int i = 0; i < found_n; i++) {
            free(found[i]);
        }
        free(found);
    }
    recon_destroy(&rc);
    /* Bring A back for the next check, whatever happened. */
    if (a_stopped && !control(r, "START", 0)) {
        ok = false;
    }
    return ok;
}

static bool check_failover_server_list(struct run *r)
{
    return failover(r, r->urls, SERVERS, false);
}

static bool check_failover_discovered(struct run *r)
{
    return failover(r, r->urls, 1, true);
}

/* ---------------------------------------------------------------------------------------- */

static const struct check checks[] = {
    {"cross_server_pubsub", check_cross_server_pubsub},
    {"queue_across_servers", check_queue_across_servers},
    {"failover_server_list", check_failover_server_list},
    {"failover_discovered", check_failover_discovered},
};

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
            printf("%s\n", checks[i].name);
        }
        return 0;
    }
    if (argc < 1 + SERVERS) {
        fprintf(stderr, "usage: %s nats://A nats://B nats://C [check ...] | --list\n", argv[0]);
        return 2;
    }
    struct run r;
    memset(&r, 0, sizeof(r));
    for (int i = 0; i < SERVERS; i++) {
        if (strncmp(argv[1 + i], "nats://", 7) != 0) {
            fprintf(stderr, "%s: %s is not a nats:// URL\n", argv[0], argv[1 + i]);
            return 2;
        }
        r.urls[i] = argv[1 + i];
    }
    (void)alarm(RUN_TIMEOUT_S); /* default SIGALRM action ends a hung run */
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = run_checks(&r, checks, sizeof(checks) / sizeof(checks[0]), 1 + SERVERS, argc, argv);
    /* Wait for the library's threads so sanitizer builds see no leaks; a slow teardown is
     * not a compatibility failure. */
    (void)nats_CloseAndWait(5000);
    return rc;
}
