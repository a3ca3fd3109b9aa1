/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for the file store's recovery (core/js/js_filestore.c, js_record.c):
 * block files with any contents must never crash recovery.
 *
 * The first input byte picks the mode. Raw mode (bit 0 clear): the rest is cut into
 * up to four block files (each but the last prefixed by a 2-byte length) written as they
 * are. Record mode (bit 0 set): the rest is a program of 8-byte steps, each encoding one
 * valid record (any kind, any sequence, a subject from a table with invalid ones, a
 * flipped bit or a cut on request) and maybe starting a new block, so the checks behind
 * the checksum are reached too. Bit 1 adds a leftover ".tmp" file; bit 2 picks sync
 * always.
 *
 * Then a file store opens the directory on a simulated host. It checks: open succeeds
 * or fails with an error (the budget is bounded, so huge claims are MR_E_NOMEM, never an
 * abort); after open the store's invariants hold (mr_js_store_check); every message in
 * the index loads intact or reports MR_E_IO, never garbage; an append gets last_seq + 1;
 * and after a clean close a second open reports no torn tail, nor an unclean stop, and
 * (when the first found no damage) the same sequences and count.
 * ASan and LeakSanitizer catch the rest; the memory counter must end at zero.
 *
 * Canary: with MR_FUZZ_CANARY=1 in the environment, an input starting with "CANARY"
 * aborts (tests/fuzz/README.md).
 *
 * Ownership: the target borrows data; the world, store and copies are freed before it
 * returns.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/js/js_record.h"
#include "core/js/js_store.h"
#include "core/limits.h"
#include "sim/sim_disk.h"
#include "sim/sim_env.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DIR "js"
#define TIMER_ID 5
#define SEC 1000000000ULL
#define BLOCKS_MAX 4
#define BUDGET_BYTES (64u * 1024 * 1024)

static bool canary_armed(void)
{
    const char *v = getenv("MR_FUZZ_CANARY");
    return v != NULL && strcmp(v, "1") == 0;
}

struct fz {
    struct sim_world *w;
    struct sim_host *h;
    struct mr_mem mem;
    struct mr_js_store *st;
    struct mr_js_store_cfg cfg;
    struct mr_env_sink sink;
    bool opened;
    int open_status;
    bool closed;
    uint64_t ready;
};

static void cb_open(void *ctx, int status)
{
    struct fz *f = ctx;
    f->opened = true;
    f->open_status = status;
}

static void cb_acked(void *ctx, uint64_t seq, int status)
{
    (void)ctx, (void)seq, (void)status;
}

static void cb_ready(void *ctx)
{
    ((struct fz *)ctx)->ready++;
}

static void cb_closed(void *ctx)
{
    ((struct fz *)ctx)->closed = true;
}

static void on_file_done(void *ctx, uint64_t req_id, int64_t result, const uint8_t *d,
                         size_t len)
{
    struct fz *f = ctx;
    if (f->st != NULL && mr_js_store_owns_req(f->st, req_id)) {
        mr_js_store_on_file_done(f->st, req_id, result, d, len);
        mr_js_store_check(f->st);
    }
}

static void on_timer(void *ctx, uint64_t id)
{
    struct fz *f = ctx;
    if (f->st != NULL && id == TIMER_ID) {
        mr_js_store_on_timer(f->st);
    }
}

static void on_accept(void *c, uint64_t l, uint64_t i, const char *h, uint16_t p)
{
    (void)c, (void)l, (void)i, (void)h, (void)p;
}
static void on_connected(void *c, uint64_t i, int s)
{
    (void)c, (void)i, (void)s;
}
static void on_bytes(void *c, uint64_t i, const uint8_t *b, size_t n)
{
    (void)c, (void)i, (void)b, (void)n;
}
static void on_closed(void *c, uint64_t i)
{
    (void)c, (void)i;
}
static void on_tls(void *c, uint64_t i, int s, const char *p)
{
    (void)c, (void)i, (void)s, (void)p;
}
static size_t out_peek(void *c, uint64_t i, struct mr_iov *v, size_t n)
{
    (void)c, (void)i, (void)v, (void)n;
    return 0;
}
static void out_consume(void *c, uint64_t i, size_t n)
{
    (void)c, (void)i, (void)n;
}

static bool pred_opened(void *ctx)
{
    return ((struct fz *)ctx)->opened;
}

static bool pred_closed(void *ctx)
{
    return ((struct fz *)ctx)->closed;
}

static void put_file(struct sim_disk *d, const char *name, const uint8_t *p, size_t n)
{
    char path[64];
    (void)snprintf(path, sizeof(path), "%s/%s", DIR, name);
    int64_t fh = sim_disk_open(d, path, MR_FILE_READ | MR_FILE_WRITE | MR_FILE_CREATE);
    mr_assert(fh >= 1);
    if (n > 0) {
        mr_assert(sim_disk_write(d, fh, 0, p, n) == (int64_t)n);
    }
    mr_assert(sim_disk_sync(d, fh) == 0);
    mr_assert(sim_disk_close(d, fh) == 0);
}

static void block_name(char *out, size_t cap, unsigned num)
{
    (void)snprintf(out, cap, "%010u.blk", num);
}

static void raw_blocks(struct sim_disk *d, const uint8_t *p, size_t n)
{
    char name[32];
    for (unsigned b = 1; b <= BLOCKS_MAX; b++) {
        size_t take = n;
        if (b < BLOCKS_MAX && n >= 2) {
            take = (size_t)p[0] | ((size_t)p[1] << 8);
            p += 2;
            n -= 2;
            take = take < n ? take : n;
        }
        block_name(name, sizeof(name), b);
        put_file(d, name, p, take);
        p += take;
        n -= take;
        if (n == 0) {
            return;
        }
    }
}

static const char *const subjects[] = {"a", "a.b", "orders.eu.1", "a b", "a.*", "x..y", ">"};

/* One 8-byte step: kind, seq low, seq high, seq mode, payload length, subject, bit to
 * flip, flags (bit 0: start a new block after; bit 1: cut the record short). */
static void record_blocks(struct sim_disk *d, const uint8_t *p, size_t n)
{
    uint8_t *buf = malloc(64 * 1024);
    mr_assert(buf != NULL);
    size_t len = 0;
    unsigned num = 1;
    char name[32];
    uint8_t payload[256];
    for (size_t i = 0; i < sizeof(payload); i++) {
        payload[i] = (uint8_t)(i * 7);
    }
    for (; n >= 8 && len + 2048 < 64 * 1024; p += 8, n -= 8) {
        struct mr_js_record r = {.kind = (enum mr_js_record_kind)(1 + p[0] % 5)};
        r.seq = (uint64_t)p[1] | ((uint64_t)p[2] << 8);
        if (p[3] & 1) {
            r.seq |= (uint64_t)p[3] << 56; /* far away, maybe past MR_JS_SEQ_MAX */
        }
        r.ts_ns = (int64_t)p[2] * 1000;
        if (r.seq == 0) {
            r.seq = 1;
        }
        if (r.kind == MR_JS_REC_MSG) {
            const char *subj = subjects[p[5] % (sizeof(subjects) / sizeof(subjects[0]))];
            r.subject = subj;
            r.subject_len = strlen(subj);
            r.data = payload;
            r.data_len = p[4];
            if (p[5] & 0x80) {
                r.hdr = payload;
                r.hdr_len = 12;
            }
        } else if (r.kind == MR_JS_REC_ERASED) {
            r.data_len = p[4];
        }
        size_t rl = mr_js_record_encode(&r, buf + len, 64 * 1024 - len);
        if (p[6] != 0) {
            buf[len + p[6] % rl] ^= (uint8_t)(1u << (p[6] % 8));
        }
        if (p[7] & 2) {
            rl = rl / 2;
        }
        len += rl;
        if ((p[7] & 1) && num < BLOCKS_MAX) {
            block_name(name, sizeof(name), num++);
            put_file(d, name, buf, len);
            len = 0;
        }
    }
    block_name(name, sizeof(name), num);
    put_file(d, name, buf, len);
    free(buf);
}

static int store_open(struct fz *f)
{
    struct mr_js_store_cbs cbs = {.ctx = f, .on_open = cb_open, .on_acked = cb_acked,
                                  .on_ready = cb_ready, .on_closed = cb_closed};
    char err[MR_ERRMSG_MAX];
    f->opened = false;
    f->closed = false;
    int rc = mr_js_store_create(&f->mem, sim_host_env(f->h), &f->cfg, &cbs, &f->st, err,
                                sizeof(err));
    mr_assert(rc == 0);
    bool done = sim_world_run_until_pred(f->w, pred_opened, f, sim_world_now_ns(f->w) + SEC);
    mr_assert(done);
    return f->open_status;
}

/* Every indexed message loads intact (its subject is a valid literal) or says MR_E_IO. */
static void load_all(struct fz *f)
{
    struct mr_js_store_state st;
    mr_js_store_state(f->st, &st);
    uint64_t loaded = 0;
    for (uint64_t q = st.first_seq; q <= st.last_seq && loaded < st.msgs; q++) {
        struct mr_js_msg m;
        int rc = MR_AGAIN;
        for (int tries = 0; tries < 4 && rc == MR_AGAIN; tries++) {
            uint64_t before = f->ready;
            rc = mr_js_store_load(f->st, q, &m);
            while (rc == MR_AGAIN && f->ready == before && sim_world_step(f->w)) {
            }
        }
        mr_assert(rc == 0 || rc == MR_E_NOT_FOUND || rc == MR_E_IO || rc == MR_E_NOMEM);
        if (rc == 0) {
            loaded++;
            mr_assert(m.seq == q);
            mr_assert(m.subject_len > 0);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (canary_armed() && size >= 6 && memcmp(data, "CANARY", 6) == 0) {
        abort();
    }
    if (size == 0) {
        return 0;
    }
    struct fz f;
    memset(&f, 0, sizeof(f));
    struct sim_world_opts o;
    sim_world_opts_default(&o);
    o.seed = 1;
    o.verbose = getenv("MR_FUZZ_VERBOSE") != NULL; /* prints the store's log lines */
    o.log_level = MR_LOG_DEBUG;
    f.w = sim_world_create(&o);
    f.h = sim_host_create(f.w, "n1");
    mr_mem_init(&f.mem, BUDGET_BYTES);
    f.sink = (struct mr_env_sink){
        .ctx = &f, .on_accept = on_accept, .on_connected = on_connected, .on_bytes = on_bytes,
        .on_closed = on_closed, .on_timer = on_timer, .on_tls = on_tls,
        .on_file_done = on_file_done, .out_peek = out_peek, .out_consume = out_consume,
    };
    sim_host_set_sink(f.h, &f.sink);
    f.cfg = (struct mr_js_store_cfg){
        .storage = MR_JS_STORAGE_FILE, .dir = DIR, .block_bytes = 512, .cache_blocks = 1,
        .sync = (data[0] & 4) ? MR_JS_SYNC_ALWAYS : MR_JS_SYNC_INTERVAL,
        .req_id_base = 1000, .timer_id = TIMER_ID,
    };
    struct sim_disk *d = sim_host_disk(f.h);
    if (data[0] & 1) {
        record_blocks(d, data + 1, size - 1);
    } else {
        raw_blocks(d, data + 1, size - 1);
    }
    if (data[0] & 2) {
        put_file(d, "0000000002.tmp", data, size);
    }
    if (store_open(&f) == 0) {
        mr_js_store_check(f.st);
        load_all(&f);
        struct mr_js_store_state first;
        mr_js_store_state(f.st, &first);
        uint64_t seq = 0;
        int rc = mr_js_store_append(f.st, "fuzz.after", 10, NULL, 0, (const uint8_t *)"ok", 2,
                                    1, &seq);
        mr_assert(rc == 0 || rc == MR_E_LIMIT || rc == MR_E_NOMEM);
        if (rc == 0) {
            mr_assert(seq == first.last_seq + 1);
        }
        bool appended = rc == 0;
        rc = mr_js_store_close(f.st);
        if (rc == 0) {
            bool done =
                sim_world_run_until_pred(f.w, pred_closed, &f, sim_world_now_ns(f.w) + SEC);
            mr_assert(done);
        }
        bool clean = rc == 0 && mr_js_store_errmsg(f.st)[0] == '\0';
        mr_js_store_destroy(f.st);
        f.st = NULL;
        if (clean && store_open(&f) == 0) {
            struct mr_js_store_state again;
            mr_js_store_state(f.st, &again);
            /* The first open cleaned every torn tail, and a clean close leaves none. */
            mr_assert(again.truncated_bytes == 0);
            mr_assert(!again.recovered_unclean);
            /* Records that only made sense against blocks since removed (damage with a
             * valid checksum) may read differently; without damage nothing changes. */
            if (first.corrupt_records == 0) {
                mr_assert(again.last_seq == first.last_seq + (appended ? 1 : 0));
                mr_assert(again.msgs == first.msgs + (appended ? 1 : 0));
            }
            load_all(&f);
        }
    }
    if (f.st != NULL) {
        mr_js_store_destroy(f.st);
        f.st = NULL;
    }
    sim_host_set_sink(f.h, NULL);
    sim_world_destroy(f.w);
    mr_assert(f.mem.used_bytes == 0);
    mr_mem_deinit(&f.mem);
    return 0;
}
