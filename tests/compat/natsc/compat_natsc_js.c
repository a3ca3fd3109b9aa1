/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compat_natsc_js: checks single-server JetStream with the nats.c client (Debian
 * libnats). Usage: compat_natsc_js nats://127.0.0.1:PORT [check ...]
 *                  compat_natsc_js --list   (prints the check names)
 *
 * The server must run with JetStream enabled on a fresh store (-js -sd DIR). The checks
 * build on each other in table order (stream, then its messages, consumers, deletion),
 * so naming a later check alone fails at its first expectation; the KV check stands
 * alone.
 *
 * Prints one line per check ("ok - name" or "FAIL - name: why") and a closing
 * "N passed, N failed" line; exits 1 if any check failed, 2 on usage errors. Every wait
 * is bounded: each client call has a timeout, and an alarm ends the process if the whole
 * run takes longer than RUN_TIMEOUT_S.
 */
#include <nats/nats.h>

#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
    RUN_TIMEOUT_S = 20,
    WHY_MAX = 512,
    CONNECT_TIMEOUT_MS = 3000,
    WAIT_MS = 3000,              /* a message or API reply that must arrive */
    QUIET_MS = 300,              /* proof that no further message arrives */
    SYNC_MSGS = 3,               /* published with js_Publish on SUBJ_SYNC */
    ASYNC_MSGS = 20,             /* published with js_PublishAsync on SUBJ_ASYNC */
    NAK_INDEX = 2,               /* which fetched message is NAKed and must come back */
    KV_HISTORY = 5,
};

#define STREAM "NCJS"
#define SUBJ_SYNC "ncjs.sync"
#define SUBJ_ASYNC "ncjs.async"
#define PULL_DURABLE "pull"
#define BUCKET "ncjskv"

struct run {
    const char *url;
    char why[WHY_MAX];           /* detail of the current check's failure */
};

#include "harness.h"

/* What the async PubAck handler saw; it runs on a library thread. */
struct async_acks {
    atomic_int acks;
    atomic_int errors;
    atomic_uint_fast64_t seq_sum;    /* the sequences are distinct, so their sum pins them */
    atomic_uint_fast64_t seq_max;
};

/* One connection and its JetStream context, released together. */
struct jsconn {
    natsConnection *nc;
    jsCtx *js;
};

/* ---------------------------------------------------------------------------------------- */
/* Helpers */

static natsStatus js_open_opts(struct run *r, struct jsconn *c, jsOptions *jo)
{
    natsOptions *opts = NULL;
    memset(c, 0, sizeof(*c));
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
    if (s == NATS_OK) {
        s = natsConnection_Connect(&c->nc, opts);
    }
    natsOptions_Destroy(opts);
    if (s == NATS_OK) {
        s = natsConnection_JetStream(&c->js, c->nc, jo);
    }
    return s;
}

static natsStatus js_open(struct run *r, struct jsconn *c)
{
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.Wait = WAIT_MS;
    return js_open_opts(r, c, &jo);
}

static void js_close(struct jsconn *c)
{
    jsCtx_Destroy(c->js);
    conn_close(c->nc);
}

/* The stream's message count and last sequence, through js_GetStreamInfo. */
static natsStatus stream_counts(jsCtx *js, uint64_t *msgs, uint64_t *last, jsErrCode *jerr)
{
    jsStreamInfo *si = NULL;
    natsStatus s = js_GetStreamInfo(&si, js, STREAM, NULL, jerr);
    if (s == NATS_OK) {
        *msgs = si->State.Msgs;
        *last = si->State.LastSeq;
    }
    jsStreamInfo_Destroy(si);
    return s;
}

/* Whether m carries payload want at stream sequence seq, delivered the n-th time. */
static bool js_msg_is(struct run *r, natsMsg *m, const char *want, uint64_t seq, uint64_t n)
{
    jsMsgMetaData *meta = NULL;
    bool ok = false;
    FAIL_IF(!data_is(m, want), "payload '%.*s', want '%s'", natsMsg_GetDataLength(m),
            natsMsg_GetData(m), want);
    TRY(natsMsg_GetMetaData(&meta, m));
    FAIL_IF(meta->Sequence.Stream != seq, "'%s' at stream seq %" PRIu64 ", want %" PRIu64,
            want, meta->Sequence.Stream, seq);
    FAIL_IF(meta->NumDelivered != n, "'%s' delivered %" PRIu64 " times, want %" PRIu64, want,
            meta->NumDelivered, n);
    FAIL_IF(strcmp(meta->Stream, STREAM) != 0, "'%s' from stream '%s'", want, meta->Stream);
    ok = true;
out:
    jsMsgMetaData_Destroy(meta);
    return ok;
}

static void sync_payload(char *buf, size_t len, int i)
{
    (void)snprintf(buf, len, "s%d", i + 1);
}

static void async_payload(char *buf, size_t len, int i)
{
    (void)snprintf(buf, len, "a%d", i);
}

/* ---------------------------------------------------------------------------------------- */
/* Streams and publishing */

static bool check_add_stream(struct run *r)
{
    struct jsconn c = {0};
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    bool ok = false;
    const char *subjects[] = {"ncjs.>"};
    jsStreamConfig cfg;

    TRY(js_open(r, &c));
    jsStreamConfig_Init(&cfg);
    cfg.Name = STREAM;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    natsStatus s = js_AddStream(&si, c.js, &cfg, NULL, &jerr);
    FAIL_IF(s != NATS_OK, "js_AddStream: %s (jerr %d, %s)", natsStatus_GetText(s), (int)jerr,
            last_error_text());
    FAIL_IF(strcmp(si->Config->Name, STREAM) != 0, "created stream named '%s'",
            si->Config->Name);
    FAIL_IF(si->Config->SubjectsLen != 1 || strcmp(si->Config->Subjects[0], "ncjs.>") != 0,
            "stream subjects not echoed as [ncjs.>]");
    FAIL_IF(si->State.Msgs != 0 || si->State.LastSeq != 0,
            "new stream holds %" PRIu64 " msgs, last seq %" PRIu64, si->State.Msgs,
            si->State.LastSeq);
    ok = true;
out:
    jsStreamInfo_Destroy(si);
    js_close(&c);
    return ok;
}

static bool check_publish(struct run *r)
{
    struct jsconn c = {0};
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    bool ok = false;
    char buf[16];

    TRY(js_open(r, &c));
    for (int i = 0; i < SYNC_MSGS; i++) {
        sync_payload(buf, sizeof(buf), i);
        natsStatus s = js_Publish(&pa, c.js, SUBJ_SYNC, buf, (int)strlen(buf), NULL, &jerr);
        FAIL_IF(s != NATS_OK, "js_Publish #%d: %s (jerr %d, %s)", i + 1, natsStatus_GetText(s),
                (int)jerr, last_error_text());
        FAIL_IF(pa->Sequence != (uint64_t)i + 1, "PubAck #%d seq %" PRIu64 ", want %d", i + 1,
                pa->Sequence, i + 1);
        FAIL_IF(strcmp(pa->Stream, STREAM) != 0 || pa->Duplicate,
                "PubAck #%d stream '%s' duplicate %d", i + 1, pa->Stream, (int)pa->Duplicate);
        jsPubAck_Destroy(pa);
        pa = NULL;
    }
    ok = true;
out:
    jsPubAck_Destroy(pa);
    js_close(&c);
    return ok;
}

static void on_async_ack(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure)
{
    (void)js;
    struct async_acks *a = closure;
    if (pae != NULL || pa == NULL) {
        atomic_fetch_add(&a->errors, 1);
    } else {
        atomic_fetch_add(&a->acks, 1);
        atomic_fetch_add(&a->seq_sum, pa->Sequence);
        uint_fast64_t max = atomic_load(&a->seq_max);
        while (pa->Sequence > max &&
               !atomic_compare_exchange_weak(&a->seq_max, &max, pa->Sequence)) {
            /* max now holds the value another ack stored: compare again */
        }
    }
    natsMsg_Destroy(msg); /* the handler owns the published message */
}

static bool check_publish_async(struct run *r)
{
    struct jsconn c = {0};
    struct async_acks acks;
    jsOptions jo;
    jsPubOptions po;
    bool ok = false;
    char buf[16];

    memset(&acks, 0, sizeof(acks));
    jsOptions_Init(&jo);
    jo.Wait = WAIT_MS;
    jo.PublishAsync.AckHandler = on_async_ack;
    jo.PublishAsync.AckHandlerClosure = &acks;
    TRY(js_open_opts(r, &c, &jo));
    for (int i = 0; i < ASYNC_MSGS; i++) {
        async_payload(buf, sizeof(buf), i);
        TRY(js_PublishAsync(c.js, SUBJ_ASYNC, buf, (int)strlen(buf), NULL));
    }
    jsPubOptions_Init(&po);
    po.MaxWait = WAIT_MS;
    TRY(js_PublishAsyncComplete(c.js, &po));
    uint64_t first = SYNC_MSGS + 1;
    uint64_t last = SYNC_MSGS + ASYNC_MSGS;
    uint64_t want_sum = (first + last) * ASYNC_MSGS / 2;
    FAIL_IF(atomic_load(&acks.errors) != 0, "%d async publishes failed",
            atomic_load(&acks.errors));
    FAIL_IF(atomic_load(&acks.acks) != ASYNC_MSGS, "%d PubAcks, want %d",
            atomic_load(&acks.acks), ASYNC_MSGS);
    FAIL_IF(atomic_load(&acks.seq_sum) != want_sum || atomic_load(&acks.seq_max) != last,
            "PubAck seqs sum %" PRIuFAST64 " max %" PRIuFAST64 ", want %" PRIu64
            "..%" PRIu64, atomic_load(&acks.seq_sum), atomic_load(&acks.seq_max), first, last);
    ok = true;
out:
    js_close(&c);
    return ok;
}

static bool check_stream_info(struct run *r)
{
    struct jsconn c = {0};
    jsErrCode jerr = 0;
    uint64_t msgs = 0;
    uint64_t last = 0;
    bool ok = false;

    TRY(js_open(r, &c));
    natsStatus s = stream_counts(c.js, &msgs, &last, &jerr);
    FAIL_IF(s != NATS_OK, "js_GetStreamInfo: %s (jerr %d)", natsStatus_GetText(s), (int)jerr);
    FAIL_IF(msgs != SYNC_MSGS + ASYNC_MSGS || last != SYNC_MSGS + ASYNC_MSGS,
            "stream holds %" PRIu64 " msgs, last seq %" PRIu64 ", want %d and %d", msgs, last,
            SYNC_MSGS + ASYNC_MSGS, SYNC_MSGS + ASYNC_MSGS);
    ok = true;
out:
    js_close(&c);
    return ok;
}

/* ---------------------------------------------------------------------------------------- */
/* Consumers */

/* Fetches exactly want messages into list within WAIT_MS. */
static bool fetch_n(struct run *r, natsSubscription *sub, natsMsgList *list, int want)
{
    bool ok = false;
    natsStatus s = natsSubscription_Fetch(list, sub, want, WAIT_MS, NULL);
    FAIL_IF(s != NATS_OK, "natsSubscription_Fetch(%d): %s (%s)", want, natsStatus_GetText(s),
            last_error_text());
    FAIL_IF(list->Count != want, "fetched %d messages, want %d", list->Count, want);
    ok = true;
out:
    return ok;
}

/* The durable after all its messages were acked: nothing pending, every delivery (the
 * redelivery included) acked, the scan past the stream's end done. The stream ack floor
 * is at least the last acked sequence; nats-server lifts it to the scan position only
 * when the scan came before the last ack, which is a race, so no more is asked. */
static bool pull_state_done(struct run *r, jsCtx *js, uint64_t deliveries, uint64_t acked,
                            uint64_t last)
{
    jsConsumerInfo *ci = NULL;
    jsErrCode jerr = 0;
    bool ok = false;
    natsStatus s = js_GetConsumerInfo(&ci, js, STREAM, PULL_DURABLE, NULL, &jerr);
    FAIL_IF(s != NATS_OK, "js_GetConsumerInfo: %s (jerr %d)", natsStatus_GetText(s),
            (int)jerr);
    FAIL_IF(ci->NumAckPending != 0 || ci->NumPending != 0,
            "consumer ack pending %" PRId64 " pending %" PRIu64 ", want 0 and 0",
            ci->NumAckPending, ci->NumPending);
    FAIL_IF(ci->Delivered.Consumer != deliveries || ci->AckFloor.Consumer != deliveries,
            "consumer delivered seq %" PRIu64 " ack floor seq %" PRIu64 ", want %" PRIu64,
            ci->Delivered.Consumer, ci->AckFloor.Consumer, deliveries);
    FAIL_IF(ci->Delivered.Stream != last || ci->AckFloor.Stream < acked ||
                ci->AckFloor.Stream > last,
            "consumer delivered stream seq %" PRIu64 " ack floor stream seq %" PRIu64
            ", want %" PRIu64 " and %" PRIu64 "..%" PRIu64,
            ci->Delivered.Stream, ci->AckFloor.Stream, last, acked, last);
    ok = true;
out:
    jsConsumerInfo_Destroy(ci);
    return ok;
}

/* Fetch the sync messages, ack all but one, NAK that one. */
static bool pull_first_round(struct run *r, natsSubscription *sub)
{
    natsMsgList list = {0};
    bool ok = false;
    char buf[16];

    if (!fetch_n(r, sub, &list, SYNC_MSGS)) {
        goto out;
    }
    for (int i = 0; i < SYNC_MSGS; i++) {
        sync_payload(buf, sizeof(buf), i);
        if (!js_msg_is(r, list.Msgs[i], buf, (uint64_t)i + 1, 1)) {
            goto out;
        }
        TRY(i == NAK_INDEX ? natsMsg_Nak(list.Msgs[i], NULL) : natsMsg_Ack(list.Msgs[i], NULL));
    }
    ok = true;
out:
    natsMsgList_Destroy(&list);
    return ok;
}

static bool check_pull_nak(struct run *r)
{
    struct jsconn c = {0};
    natsSubscription *sub = NULL;
    natsMsgList list = {0};
    bool ok = false;
    char buf[16];

    TRY(js_open(r, &c));
    TRY(js_PullSubscribe(&sub, c.js, SUBJ_SYNC, PULL_DURABLE, NULL, NULL, NULL));
    if (!pull_first_round(r, sub)) {
        goto out;
    }
    /* The NAKed message comes back at once (no ack_wait) as its second delivery. */
    if (!fetch_n(r, sub, &list, 1)) {
        goto out;
    }
    sync_payload(buf, sizeof(buf), NAK_INDEX);
    if (!js_msg_is(r, list.Msgs[0], buf, NAK_INDEX + 1, 2)) {
        goto out;
    }
    TRY(natsMsg_AckSync(list.Msgs[0], NULL, NULL));
    natsMsgList_Destroy(&list);
    natsStatus s = natsSubscription_Fetch(&list, sub, 1, QUIET_MS, NULL);
    FAIL_IF(s != NATS_TIMEOUT, "fetch after all acks: %s with %d msgs, want a timeout",
            natsStatus_GetText(s), list.Count);
    if (!pull_state_done(r, c.js, SYNC_MSGS + 1, SYNC_MSGS, SYNC_MSGS + ASYNC_MSGS)) {
        goto out;
    }
    ok = true;
out:
    natsMsgList_Destroy(&list);
    natsSubscription_Destroy(sub);
    js_close(&c);
    return ok;
}

static bool check_push_sync(struct run *r)
{
    struct jsconn c = {0};
    natsSubscription *sub = NULL;
    natsMsg *m = NULL;
    bool ok = false;
    char buf[16];

    TRY(js_open(r, &c));
    TRY(js_SubscribeSync(&sub, c.js, SUBJ_ASYNC, NULL, NULL, NULL));
    for (int i = 0; i < ASYNC_MSGS; i++) {
        natsStatus s = next_msg(sub, &m, WAIT_MS);
        FAIL_IF(s != NATS_OK, "push message %d of %d: %s", i + 1, ASYNC_MSGS,
                natsStatus_GetText(s));
        async_payload(buf, sizeof(buf), i);
        if (!js_msg_is(r, m, buf, SYNC_MSGS + (uint64_t)i + 1, 1)) {
            goto out;
        }
        TRY(natsMsg_Ack(m, NULL));
        natsMsg_Destroy(m);
        m = NULL;
    }
    natsStatus s = next_msg(sub, &m, QUIET_MS);
    FAIL_IF(s != NATS_TIMEOUT, "push consumer delivered more than %d messages (%s)",
            ASYNC_MSGS, natsStatus_GetText(s));
    ok = true;
out:
    natsMsg_Destroy(m);
    if (sub != NULL) {
        (void)natsSubscription_Unsubscribe(sub); /* deletes the ephemeral consumer */
    }
    natsSubscription_Destroy(sub);
    js_close(&c);
    return ok;
}

static bool check_delete_stream(struct run *r)
{
    struct jsconn c = {0};
    jsStreamInfo *si = NULL;
    jsErrCode jerr = 0;
    bool ok = false;

    TRY(js_open(r, &c));
    natsStatus s = js_DeleteStream(c.js, STREAM, NULL, &jerr);
    FAIL_IF(s != NATS_OK, "js_DeleteStream: %s (jerr %d)", natsStatus_GetText(s), (int)jerr);
    jerr = 0;
    s = js_GetStreamInfo(&si, c.js, STREAM, NULL, &jerr);
    FAIL_IF(s != NATS_NOT_FOUND || jerr != JSStreamNotFoundErr,
            "stream info after delete: %s (jerr %d), want not found (jerr %d)",
            natsStatus_GetText(s), (int)jerr, (int)JSStreamNotFoundErr);
    jerr = 0;
    s = js_DeleteStream(c.js, STREAM, NULL, &jerr);
    FAIL_IF(s != NATS_NOT_FOUND || jerr != JSStreamNotFoundErr,
            "second js_DeleteStream: %s (jerr %d), want not found (jerr %d)",
            natsStatus_GetText(s), (int)jerr, (int)JSStreamNotFoundErr);
    ok = true;
out:
    jsStreamInfo_Destroy(si);
    js_close(&c);
    return ok;
}

/* ---------------------------------------------------------------------------------------- */
/* Key-value */

/* Whether e is key at revision rev holding want (NULL: a delete marker). */
static bool entry_is(struct run *r, kvEntry *e, const char *key, uint64_t rev, const char *want)
{
    bool ok = false;
    FAIL_IF(e == NULL, "no entry for '%s', want revision %" PRIu64, key, rev);
    FAIL_IF(strcmp(kvEntry_Key(e), key) != 0, "entry for '%s', want '%s'", kvEntry_Key(e), key);
    FAIL_IF(kvEntry_Revision(e) != rev, "'%s' at revision %" PRIu64 ", want %" PRIu64, key,
            kvEntry_Revision(e), rev);
    kvOperation op = kvEntry_Operation(e);
    FAIL_IF(op != (want != NULL ? kvOp_Put : kvOp_Delete), "'%s' rev %" PRIu64 " op %d", key,
            rev, (int)op);
    if (want != NULL) {
        size_t n = strlen(want);
        FAIL_IF(kvEntry_ValueLen(e) != (int)n || memcmp(kvEntry_Value(e), want, n) != 0,
                "'%s' rev %" PRIu64 " holds '%.*s', want '%s'", key, rev, kvEntry_ValueLen(e),
                (const char *)kvEntry_Value(e), want);
    }
    ok = true;
out:
    return ok;
}

static bool put_expect(struct run *r, kvStore *kv, const char *key, const char *val,
                       uint64_t want_rev)
{
    uint64_t rev = 0;
    bool ok = false;
    TRY(kvStore_PutString(&rev, kv, key, val));
    FAIL_IF(rev != want_rev, "put %s=%s: revision %" PRIu64 ", want %" PRIu64, key, val, rev,
            want_rev);
    ok = true;
out:
    return ok;
}

static bool get_expect(struct run *r, kvStore *kv, const char *key, uint64_t rev,
                       const char *want)
{
    kvEntry *e = NULL;
    bool ok = false;
    TRY(kvStore_Get(&e, kv, key));
    ok = entry_is(r, e, key, rev, want);
out:
    kvEntry_Destroy(e);
    return ok;
}

/* k1 at 1 then 3, k2 at 2, deleted at 4 (a delete is a revision too). */
static bool kv_fill(struct run *r, kvStore *kv)
{
    kvEntry *e = NULL;
    bool ok = false;
    if (!put_expect(r, kv, "k1", "v1", 1) || !put_expect(r, kv, "k2", "v2", 2) ||
        !put_expect(r, kv, "k1", "v1b", 3) || !get_expect(r, kv, "k1", 3, "v1b") ||
        !get_expect(r, kv, "k2", 2, "v2")) {
        goto out;
    }
    TRY(kvStore_Delete(kv, "k2"));
    natsStatus s = kvStore_Get(&e, kv, "k2");
    FAIL_IF(s != NATS_NOT_FOUND, "get of deleted k2: %s, want not found", natsStatus_GetText(s));
    ok = true;
out:
    kvEntry_Destroy(e);
    return ok;
}

static bool kv_keys_are_k1(struct run *r, kvStore *kv)
{
    kvKeysList keys = {0};
    bool ok = false;
    TRY(kvStore_Keys(&keys, kv, NULL));
    FAIL_IF(keys.Count != 1 || strcmp(keys.Keys[0], "k1") != 0,
            "kvStore_Keys: %d keys (first '%s'), want [k1]", keys.Count,
            keys.Count > 0 ? keys.Keys[0] : "");
    ok = true;
out:
    kvKeysList_Destroy(&keys);
    return ok;
}

/* A watcher on all keys sees k1's value, k2's delete marker, the end of the initial values, then a
 * new put. */
static bool kv_watch(struct run *r, kvStore *kv)
{
    kvWatcher *w = NULL;
    kvEntry *e = NULL;
    bool ok = false;
    TRY(kvStore_WatchAll(&w, kv, NULL));
    TRY(kvWatcher_Next(&e, w, WAIT_MS));
    if (!entry_is(r, e, "k1", 3, "v1b")) {
        goto out;
    }
    kvEntry_Destroy(e);
    TRY(kvWatcher_Next(&e, w, WAIT_MS));
    if (!entry_is(r, e, "k2", 4, NULL)) {
        goto out;
    }
    kvEntry_Destroy(e);
    TRY(kvWatcher_Next(&e, w, WAIT_MS));
    FAIL_IF(e != NULL, "watcher: entry rev %" PRIu64 " where the end of initial values was due",
            kvEntry_Revision(e));
    if (!put_expect(r, kv, "k3", "v3", 5)) {
        goto out;
    }
    TRY(kvWatcher_Next(&e, w, WAIT_MS));
    if (!entry_is(r, e, "k3", 5, "v3")) {
        goto out;
    }
    ok = true;
out:
    kvEntry_Destroy(e);
    kvWatcher_Destroy(w);
    return ok;
}

static bool check_kv(struct run *r)
{
    struct jsconn c = {0};
    kvStore *kv = NULL;
    kvConfig cfg;
    bool ok = false;

    TRY(js_open(r, &c));
    kvConfig_Init(&cfg);
    cfg.Bucket = BUCKET;
    cfg.History = KV_HISTORY;
    TRY(js_CreateKeyValue(&kv, c.js, &cfg));
    FAIL_IF(strcmp(kvStore_Bucket(kv), BUCKET) != 0, "bucket named '%s'", kvStore_Bucket(kv));
    if (!kv_fill(r, kv) || !kv_keys_are_k1(r, kv) || !kv_watch(r, kv)) {
        goto out;
    }
    kvStore_Destroy(kv);
    kv = NULL;
    TRY(js_DeleteKeyValue(c.js, BUCKET));
    natsStatus s = js_KeyValue(&kv, c.js, BUCKET);
    FAIL_IF(s != NATS_NOT_FOUND, "js_KeyValue after delete: %s, want not found",
            natsStatus_GetText(s));
    ok = true;
out:
    kvStore_Destroy(kv);
    js_close(&c);
    return ok;
}

/* ---------------------------------------------------------------------------------------- */

static const struct check checks[] = {
    {"add_stream", check_add_stream},
    {"publish", check_publish},
    {"publish_async", check_publish_async},
    {"stream_info", check_stream_info},
    {"pull_nak", check_pull_nak},
    {"push_sync", check_push_sync},
    {"delete_stream", check_delete_stream},
    {"kv", check_kv},
};

int main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
            printf("%s\n", checks[i].name);
        }
        return 0;
    }
    if (argc < 2 || strncmp(argv[1], "nats://", 7) != 0) {
        fprintf(stderr, "usage: %s nats://HOST:PORT [check ...] | --list\n", argv[0]);
        return 2;
    }
    struct run r;
    memset(&r, 0, sizeof(r));
    r.url = argv[1];
    (void)alarm(RUN_TIMEOUT_S); /* default SIGALRM action ends a hung run */
    setvbuf(stdout, NULL, _IOLBF, 0);
    int rc = run_checks(&r, checks, sizeof(checks) / sizeof(checks[0]), 2, argc, argv);
    /* Wait for the library's threads so sanitizer builds see no leaks; a slow teardown is
     * not a compatibility failure. */
    (void)nats_CloseAndWait(5000);
    return rc;
}
