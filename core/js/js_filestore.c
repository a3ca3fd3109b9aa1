/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The file store: a stream's messages in segmented block files, through the env's
 * async file calls (core/env.h); js_store.c keeps the index in memory.
 *
 * On disk (docs/jetstream-storage.md): a directory of block files named by a 10-digit
 * block number, "0000000001.blk", "0000000002.blk", ... (bytewise order = numeric
 * order). A block is a run of records (js_record.h), each with its own checksum:
 * messages, tombstones of deleted messages, marks ("nothing below seq exists"), erased
 * messages (overwritten in place) and clean-close marks. Records are only appended,
 * except a secure erase, which overwrites a message's record with an ERASED record of
 * the same length. A block is sealed once the next record would pass block_bytes; the
 * last block is the write block.
 *
 * The index is never stored: recovery rebuilds it by scanning every block in order, so
 * it can always be rebuilt from the blocks. The scan skips damaged stretches (counted in
 * corrupt_records and corrupt_bytes, logged, never served) and drops a damaged tail (a
 * torn write: truncated_bytes) by writing the valid prefix to "<n>.tmp", syncing it and
 * renaming it over the block. A block that scans as damaged is read once more first
 * (MR_JS_REREAD_MAX), so a bad read does not cost good data.
 *
 * Blocks are deleted only from the front, and only when none of their messages is live:
 * first a mark naming the first live sequence is written and synced to the write block,
 * then the files are removed; so tombstones and marks that still matter are never lost,
 * and last_seq survives even when every message is gone. The write block is never
 * removed.
 *
 * Durability: every queued byte has a position in one byte stream across blocks (wpos).
 * Writes are issued in wpos order, one per operation; a write's completion advances
 * written_wpos (and written_seq, the last message inside it), a sync round (file_sync
 * of every block written since the last round) advances synced_*. Appends are
 * acknowledged at written_seq, or at synced_seq with MR_JS_SYNC_ALWAYS. With
 * MR_JS_SYNC_INTERVAL a timer starts a round every sync_interval_ns.
 *
 * Memory: the write block's bytes, the blocks read at recovery or on demand, up to
 * cache_blocks sealed blocks (least recently used dropped first), and the request table.
 * The env reads a write's buffer during the file_write call (both envs copy or write
 * at once), so a block's buffer may grow or go once the call returns.
 */
#include "core/js/js_filestore.h"

#include <stdio.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/proto/subject.h"

#define BLOCK_NAME_LEN 14 /* "0000000001.blk" */

enum req_kind {
    REQ_LIST = 1,
    REQ_OPEN,        /* a block for recovery */
    REQ_READ,        /* recovery reading a block */
    REQ_TMP_OPEN,    /* tail rewrite: the .tmp file */
    REQ_TMP_WRITE,
    REQ_TMP_SYNC,
    REQ_TMP_RENAME,
    REQ_NEW_OPEN,    /* a new write block */
    REQ_WRITE,       /* appended bytes or an in-place erase */
    REQ_SYNC,
    REQ_LOAD,        /* a sealed block read on demand */
    REQ_CLOSE,
    REQ_REMOVE,
    REQ_BARRIER, /* a no-op whose completion lets a close finish as an input */
};

struct js_req {
    uint64_t id;
    enum req_kind kind;
    uint32_t blk;        /* block number */
    uint64_t off;        /* reads */
    size_t len;          /* reads and writes: bytes asked */
    uint64_t wpos_end;   /* writes: the stream position this write completes */
    uint64_t covers_seq; /* writes: the last message seq inside it */
    bool done;           /* writes: completed (they retire in issue order) */
    bool retired;        /* writes: out of the write queue, free to go */
};

struct js_blk {
    uint32_t num;
    int64_t fh;      /* env handle; -1 until open */
    uint8_t *buf;    /* cached bytes (size of them valid), NULL when not cached */
    size_t buf_cap;
    size_t size;     /* bytes in the block, queued ones included */
    size_t issued;   /* bytes handed to file_write */
    size_t loaded;   /* on-demand load progress */
    uint64_t wpos_base;    /* stream position of byte 0 */
    uint64_t last_msg_seq; /* highest message seq inside, 0 if none */
    uint64_t lru;
    bool loading;
    bool load_failed; /* the last on-demand read failed: the next load says MR_E_IO */
    bool dirty;       /* a write completed since the last sync */
    bool no_append;   /* its tail could not be cleaned at recovery: appends go elsewhere */
};

struct js_recover {
    uint32_t *nums; /* block numbers found, ascending */
    size_t nums_cap;
    size_t count;
    size_t next;          /* index into nums of the block being recovered */
    struct js_blk *cur;   /* that block */
    uint8_t *buf;         /* its bytes read so far */
    size_t len;
    size_t cap;
    uint8_t *prev;        /* the previous read of a block that scanned as damaged */
    size_t prev_len;
    size_t prev_cap;
    uint32_t rereads;
    int64_t tmp_fh;
    bool clean;       /* the last record seen was a clean-close mark */
    bool any_records;
};

struct js_fs {
    char dir[MR_JS_DIR_MAX];
    uint64_t block_bytes;
    enum mr_js_sync sync;
    uint64_t sync_interval_ns;
    uint32_t cache_blocks;
    uint64_t req_base;
    uint64_t req_next; /* offset of the next id from req_base */
    uint64_t timer_id;
    bool timer_armed;
    GHashTable *reqs;  /* id -> struct js_req * (lookup only) */
    GPtrArray *blocks; /* struct js_blk *, ascending num; the last is the write block */
    GPtrArray *dying;  /* blocks waiting for their mark to be synced, then removal */
    GQueue writes;     /* struct js_req * of REQ_WRITE in issue order */
    uint8_t *spare;    /* one block_bytes buffer a dropped block left, for the next roll */
    uint64_t lru_tick;
    /* Stream positions (see the file comment). */
    uint64_t wpos;          /* queued */
    uint64_t issued_wpos;   /* handed to the env */
    uint64_t issued_seq;
    uint64_t written_wpos;
    uint64_t written_seq;
    uint64_t synced_wpos;
    uint64_t gc_wpos;    /* dying blocks go once synced_wpos reaches it */
    uint64_t close_wpos; /* close proceeds once synced_wpos reaches it */
    /* Sync rounds. */
    bool sync_wanted;
    uint32_t sync_inflight;
    uint64_t round_wpos;
    uint64_t round_seq;
    bool closes_issued;
    /* A failure found inside a call into the store is reported at the next input, as
     * callbacks only run from inputs. */
    bool in_input;
    int fail_pending;
    struct js_recover rec;
};

/* ---- small helpers ---- */

static struct js_fs *fs_of(const struct mr_js_store *s)
{
    mr_assert(s->fs != NULL);
    return s->fs;
}

static void block_path(const struct js_fs *fs, uint32_t num, const char *ext, char *out,
                       size_t cap)
{
    int n = snprintf(out, cap, "%s/%010u.%s", fs->dir, num, ext);
    mr_assert(n > 0 && (size_t)n < cap);
}

static struct js_blk *wblk(const struct js_fs *fs)
{
    return fs->blocks->len > 0 ? g_ptr_array_index(fs->blocks, fs->blocks->len - 1) : NULL;
}

static struct js_blk *blk_find(const struct js_fs *fs, uint32_t num)
{
    guint lo = 0;
    guint hi = fs->blocks->len;
    while (lo < hi) {
        guint mid = lo + (hi - lo) / 2;
        struct js_blk *b = g_ptr_array_index(fs->blocks, mid);
        if (b->num == num) {
            return b;
        }
        if (b->num < num) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return NULL;
}

/* Drops a block's buffer. One of the common size is kept for the next write block: a
 * stream that keeps appending then reuses warm pages instead of faulting in 8 MiB of
 * fresh memory for every block. */
static void buf_drop(struct mr_js_store *s, struct js_blk *b)
{
    struct js_fs *fs = s->fs;
    if (fs->spare == NULL && b->buf != NULL && b->buf_cap == fs->block_bytes) {
        fs->spare = b->buf;
    } else {
        mr_mem_free(s->mem, b->buf, b->buf_cap);
    }
    b->buf = NULL;
    b->buf_cap = 0;
}

static void blk_free(struct mr_js_store *s, struct js_blk *b)
{
    mr_mem_free(s->mem, b->buf, b->buf_cap);
    mr_mem_free(s->mem, b, sizeof(*b));
}

static struct js_req *req_new(struct mr_js_store *s, enum req_kind kind, uint32_t blk)
{
    struct js_fs *fs = fs_of(s);
    struct js_req *r = mr_mem_alloc(s->mem, sizeof(*r));
    if (r == NULL) {
        return NULL;
    }
    r->id = fs->req_base + fs->req_next;
    fs->req_next = (fs->req_next + 1) % MR_JS_STORE_REQ_IDS;
    r->kind = kind;
    r->blk = blk;
    mr_assert(!g_hash_table_contains(fs->reqs, &r->id));
    g_hash_table_insert(fs->reqs, &r->id, r);
    return r;
}

static void req_free(struct mr_js_store *s, struct js_req *r)
{
    bool removed = g_hash_table_remove(fs_of(s)->reqs, &r->id);
    mr_assert(removed);
    mr_mem_free(s->mem, r, sizeof(*r));
}

static void report_fail(struct mr_js_store *s)
{
    struct js_fs *fs = fs_of(s);
    int err = fs->fail_pending;
    if (err == 0) {
        return;
    }
    fs->fail_pending = 0;
    if (s->cbs.on_acked != NULL) {
        s->cbs.on_acked(s->cbs.ctx, s->acked_seq, err);
    }
}

/* Fails the store once: writes stop, the owner hears it through on_acked. */
static void fail(struct mr_js_store *s, int err, const char *what, uint32_t blk)
{
    if (s->phase == JS_FAILED || s->phase == JS_CLOSED) {
        return;
    }
    (void)snprintf(s->errmsg, sizeof(s->errmsg), "js store %.160s/%010u.blk: %s: %s",
                   fs_of(s)->dir, blk, what, mr_err_text(err));
    mr_js_store_log(s, MR_LOG_ERROR, "%s", s->errmsg);
    bool opening = s->phase == JS_OPENING;
    s->phase = JS_FAILED;
    if (opening) {
        if (s->cbs.on_open != NULL) {
            s->cbs.on_open(s->cbs.ctx, err);
        }
        return;
    }
    fs_of(s)->fail_pending = err;
    if (fs_of(s)->in_input) {
        report_fail(s);
    }
}

static void ack_to(struct mr_js_store *s, uint64_t seq)
{
    if (seq <= s->acked_seq || s->phase == JS_FAILED) {
        return;
    }
    s->acked_seq = seq;
    if (s->cbs.on_acked != NULL) {
        s->cbs.on_acked(s->cbs.ctx, seq, 0);
    }
}

/* Drops the least recently used sealed blocks beyond the cache bound. */
static void evict(struct mr_js_store *s)
{
    struct js_fs *fs = fs_of(s);
    struct js_blk *w = wblk(fs);
    for (;;) {
        uint32_t cached = 0;
        struct js_blk *oldest = NULL;
        for (guint i = 0; i < fs->blocks->len; i++) {
            struct js_blk *b = g_ptr_array_index(fs->blocks, i);
            if (b == w || b->buf == NULL || b->loading || b->issued < b->size) {
                continue;
            }
            cached++;
            if (oldest == NULL || b->lru < oldest->lru) {
                oldest = b;
            }
        }
        if (cached <= fs->cache_blocks) {
            return;
        }
        buf_drop(s, oldest);
    }
}

/* ---- writing ---- */

/* Hands every queued byte to the env, oldest block first; a block still opening holds
 * back the blocks after it, so writes go out in stream order.
 *
 * Group commit: while a write is in flight, new records only queue, and the completion
 * of the last one issues everything queued since in one write per block. A burst of
 * publishes read in one turn thus costs two writes (the first record, then the rest),
 * not one system call each; a lone publish is still written at once. */
static void issue_writes(struct mr_js_store *s)
{
    struct js_fs *fs = fs_of(s);
    if (!g_queue_is_empty(&fs->writes)) {
        return;
    }
    for (guint i = 0; i < fs->blocks->len; i++) {
        struct js_blk *b = g_ptr_array_index(fs->blocks, i);
        if (b->issued == b->size) {
            continue;
        }
        if (b->fh < 0) {
            return;
        }
        mr_assert(b->buf != NULL);
        struct js_req *r = req_new(s, REQ_WRITE, b->num);
        if (r == NULL) {
            fail(s, MR_E_NOMEM, "queueing a write", b->num);
            return;
        }
        r->len = b->size - b->issued;
        r->wpos_end = b->wpos_base + b->size;
        if (b->last_msg_seq > fs->issued_seq) {
            fs->issued_seq = b->last_msg_seq;
        }
        r->covers_seq = fs->issued_seq;
        mr_assert(r->wpos_end > fs->issued_wpos);
        fs->issued_wpos = r->wpos_end;
        g_queue_push_tail(&fs->writes, r);
        size_t from = b->issued;
        b->issued = b->size;
        s->env->file_write(s->env->ctx, r->id, b->fh, from, b->buf + from, r->len);
        if (b != wblk(fs)) {
            evict(s); /* a sealed block fully handed over may now leave the cache */
        }
    }
}

/* Starts a new write block. Returns 0, MR_E_NOMEM or MR_E_LIMIT; nothing changes on
 * failure. */
static int roll(struct mr_js_store *s, size_t need)
{
    struct js_fs *fs = fs_of(s);
    struct js_blk *old = wblk(fs);
    if (fs->blocks->len >= MR_JS_BLOCKS_MAX || (old != NULL && old->num == UINT32_MAX - 1)) {
        return MR_E_LIMIT;
    }
    struct js_blk *b = mr_mem_alloc(s->mem, sizeof(*b));
    size_t cap = need > fs->block_bytes ? need : (size_t)fs->block_bytes;
    /* Only bytes below the block's size are ever written or read, so a reused buffer's
     * old contents never reach the disk. */
    bool reuse = fs->spare != NULL && cap == fs->block_bytes;
    uint8_t *buf = b == NULL ? NULL : reuse ? fs->spare : mr_mem_alloc(s->mem, cap);
    struct js_req *r = buf != NULL ? req_new(s, REQ_NEW_OPEN, 0) : NULL;
    if (r == NULL) {
        if (!reuse) {
            mr_mem_free(s->mem, buf, cap);
        }
        mr_mem_free(s->mem, b, sizeof(*b));
        return MR_E_NOMEM;
    }
    if (reuse) {
        fs->spare = NULL;
    }
    b->num = old != NULL ? old->num + 1 : 1;
    b->fh = -1;
    b->buf = buf;
    b->buf_cap = cap;
    b->wpos_base = fs->wpos;
    b->lru = ++fs->lru_tick;
    r->blk = b->num;
    g_ptr_array_add(fs->blocks, b);
    char path[MR_JS_DIR_MAX + BLOCK_NAME_LEN + 2];
    block_path(fs, b->num, "blk", path, sizeof(path));
    s->env->file_open(s->env->ctx, r->id, path,
                      MR_FILE_READ | MR_FILE_WRITE | MR_FILE_CREATE | MR_FILE_TRUNCATE);
    if (old != NULL) {
        old->lru = fs->lru_tick;
        evict(s);
    }
    return 0;
}

/* Makes room for a record of len bytes in the write block, rolling when it is full. */
static int wblk_room(struct mr_js_store *s, size_t len)
{
    struct js_fs *fs = fs_of(s);
    struct js_blk *w = wblk(fs);
    if (w == NULL || w->no_append || (w->size > 0 && w->size + len > fs->block_bytes)) {
        return roll(s, len);
    }
    if (w->size + len > w->buf_cap) {
        /* A recovered write block was read at its size: grow it to a full block. */
        size_t cap = w->size + len > fs->block_bytes ? w->size + len : (size_t)fs->block_bytes;
        uint8_t *n = mr_mem_realloc(s->mem, w->buf, w->buf_cap, cap);
        if (n == NULL) {
            return MR_E_NOMEM;
        }
        w->buf = n;
        w->buf_cap = cap;
    }
    return 0;
}

/* Queues a record in the write block. Returns 0, MR_E_NOMEM or MR_E_LIMIT. */
static int queue_record(struct mr_js_store *s, const struct mr_js_record *r, uint32_t *blk,
                        size_t *off)
{
    struct js_fs *fs = fs_of(s);
    size_t len = mr_js_record_size(r->subject_len, r->hdr_len, r->data_len);
    int rc = wblk_room(s, len);
    if (rc != 0) {
        return rc;
    }
    struct js_blk *w = wblk(fs);
    mr_assert(w->buf != NULL && w->size + len <= w->buf_cap);
    size_t n = mr_js_record_encode(r, w->buf + w->size, w->buf_cap - w->size);
    mr_assert(n == len);
    *blk = w->num;
    *off = w->size;
    w->size += len;
    fs->wpos += len;
    if (r->kind == MR_JS_REC_MSG) {
        w->last_msg_seq = r->seq;
    }
    mr_assert(w->wpos_base + w->size == fs->wpos);
    return 0;
}

int mr_js_filestore_room(struct mr_js_store *s, uint64_t records, uint64_t bytes)
{
    struct js_fs *fs = fs_of(s);
    (void)records; /* one write per operation, whatever its records */
    /* Each block the bytes may spill into costs an open and a write. */
    uint64_t rolls = bytes / fs->block_bytes + 1;
    uint64_t need = 2 + 2 * rolls;
    if (g_hash_table_size(fs->reqs) + need > MR_JS_STORE_REQS_MAX) {
        return MR_E_LIMIT;
    }
    if (fs->blocks->len + rolls > MR_JS_BLOCKS_MAX) {
        return MR_E_LIMIT;
    }
    return 0;
}

int mr_js_filestore_append(struct mr_js_store *s, const struct mr_js_record *r,
                           struct js_entry *loc)
{
    mr_assert(r->kind == MR_JS_REC_MSG);
    size_t len = mr_js_record_size(r->subject_len, r->hdr_len, r->data_len);
    if (mr_js_filestore_room(s, 1, len) != 0) {
        return MR_E_LIMIT;
    }
    uint32_t blk;
    size_t off;
    int rc = queue_record(s, r, &blk, &off);
    if (rc != 0) {
        return rc;
    }
    memset(loc, 0, sizeof(*loc));
    loc->loc.file.blk = blk;
    loc->loc.file.off = (uint32_t)off;
    loc->loc.file.len = (uint32_t)len;
    return 0;
}

/* Overwrites a message's record in place with an ERASED record of the same length. */
static int erase_in_place(struct mr_js_store *s, uint64_t seq, const struct js_entry *gone)
{
    struct js_fs *fs = fs_of(s);
    struct js_blk *b = blk_find(fs, gone->loc.file.blk);
    mr_assert(b != NULL);
    size_t len = gone->loc.file.len;
    mr_assert(len >= MR_JS_RECORD_OVERHEAD);
    struct mr_js_record r = {.kind = MR_JS_REC_ERASED, .seq = seq,
                             .data_len = len - MR_JS_RECORD_OVERHEAD};
    bool in_cache = b->buf != NULL && !b->loading;
    uint8_t *tmp = in_cache ? b->buf + gone->loc.file.off : mr_mem_alloc(s->mem, len);
    if (tmp == NULL) {
        return MR_E_NOMEM;
    }
    size_t n = mr_js_record_encode(&r, tmp, len);
    mr_assert(n == len);
    if (!(in_cache && gone->loc.file.off >= b->issued)) {
        /* Already handed to the env (or not cached): write the erased record now. */
        struct js_req *q = b->fh >= 0 ? req_new(s, REQ_WRITE, b->num) : NULL;
        if (q != NULL) {
            q->len = len;
            q->wpos_end = fs->issued_wpos;
            q->covers_seq = fs->issued_seq;
            g_queue_push_tail(&fs->writes, q);
            s->env->file_write(s->env->ctx, q->id, b->fh, gone->loc.file.off, tmp, len);
        }
        if (!in_cache) {
            mr_mem_free(s->mem, tmp, len);
        }
        if (q == NULL) {
            return MR_E_NOMEM;
        }
    }
    return 0;
}

int mr_js_filestore_deleted(struct mr_js_store *s, uint64_t seq, const struct js_entry *gone,
                            bool erase)
{
    int rc;
    if (erase) {
        rc = erase_in_place(s, seq, gone);
    } else {
        struct mr_js_record r = {.kind = MR_JS_REC_TOMB, .seq = seq};
        uint32_t blk;
        size_t off;
        rc = queue_record(s, &r, &blk, &off);
    }
    if (rc != 0) {
        fail(s, rc, "recording a delete", gone->loc.file.blk);
    }
    return rc;
}

int mr_js_filestore_mark(struct mr_js_store *s, uint64_t first_seq)
{
    /* The mark carries the last timestamp, which survives even if every message block
     * is removed. */
    struct mr_js_record r = {.kind = MR_JS_REC_MARK, .seq = first_seq, .ts_ns = s->last_ts_ns};
    uint32_t blk;
    size_t off;
    int rc = queue_record(s, &r, &blk, &off);
    if (rc != 0) {
        fail(s, rc, "recording a purge", wblk(fs_of(s)) != NULL ? wblk(fs_of(s))->num : 0);
    }
    return rc;
}

/* Moves leading sealed blocks without a live message to the dying list, behind a mark
 * that must be synced before their files go. */
static void gc(struct mr_js_store *s)
{
    struct js_fs *fs = fs_of(s);
    uint64_t first = mr_js_store_index_first(s);
    guint k = 0;
    while (k + 1 < fs->blocks->len) {
        struct js_blk *b = g_ptr_array_index(fs->blocks, k);
        if (b->last_msg_seq >= first || b->fh < 0 || b->loading || b->issued != b->size) {
            break;
        }
        k++;
    }
    if (k == 0 || s->phase != JS_OPEN) {
        return;
    }
    if (mr_js_filestore_mark(s, first) != 0) {
        return;
    }
    for (guint i = 0; i < k; i++) {
        struct js_blk *b = g_ptr_array_index(fs->blocks, i);
        buf_drop(s, b);
        g_ptr_array_add(fs->dying, b);
    }
    g_ptr_array_remove_range(fs->blocks, 0, k);
    fs->gc_wpos = fs->wpos;
}

void mr_js_filestore_flush(struct mr_js_store *s)
{
    if (s->phase == JS_OPEN) {
        gc(s);
    }
    issue_writes(s);
}

/* ---- sync rounds ---- */

static void maybe_close(struct mr_js_store *s);
static void issue_closes(struct mr_js_store *s);

static void round_done(struct mr_js_store *s)
{
    struct js_fs *fs = fs_of(s);
    fs->synced_wpos = fs->round_wpos;
    if (fs->round_seq > s->synced_seq) {
        s->synced_seq = fs->round_seq;
    }
    if (fs->sync == MR_JS_SYNC_ALWAYS) {
        ack_to(s, s->synced_seq);
    }
    if (fs->dying->len > 0 && fs->synced_wpos >= fs->gc_wpos) {
        char path[MR_JS_DIR_MAX + BLOCK_NAME_LEN + 2];
        for (guint i = 0; i < fs->dying->len; i++) {
            struct js_blk *b = g_ptr_array_index(fs->dying, i);
            struct js_req *c = req_new(s, REQ_CLOSE, b->num);
            struct js_req *r = req_new(s, REQ_REMOVE, b->num);
            if (c != NULL) {
                s->env->file_close(s->env->ctx, c->id, b->fh);
            }
            if (r != NULL) {
                block_path(fs, b->num, "blk", path, sizeof(path));
                s->env->file_remove(s->env->ctx, r->id, path);
            }
            blk_free(s, b);
        }
        g_ptr_array_set_size(fs->dying, 0);
    }
}

static void start_round(struct mr_js_store *s)
{
    struct js_fs *fs = fs_of(s);
    if (fs->sync_inflight > 0 || !fs->sync_wanted || s->phase == JS_FAILED) {
        return;
    }
    fs->sync_wanted = false;
    fs->round_wpos = fs->written_wpos;
    fs->round_seq = fs->written_seq;
    for (guint i = 0; i < fs->blocks->len; i++) {
        struct js_blk *b = g_ptr_array_index(fs->blocks, i);
        if (!b->dirty || b->fh < 0) {
            continue;
        }
        struct js_req *r = req_new(s, REQ_SYNC, b->num);
        if (r == NULL) {
            fail(s, MR_E_NOMEM, "queueing a sync", b->num);
            return;
        }
        b->dirty = false;
        fs->sync_inflight++;
        s->env->file_sync(s->env->ctx, r->id, b->fh);
    }
    if (fs->sync_inflight == 0) {
        round_done(s);
    }
}

static void want_sync_if_needed(struct mr_js_store *s)
{
    struct js_fs *fs = fs_of(s);
    if (fs->sync == MR_JS_SYNC_ALWAYS && fs->written_wpos > fs->synced_wpos) {
        fs->sync_wanted = true;
    }
    if (fs->dying->len > 0 && fs->written_wpos >= fs->gc_wpos) {
        fs->sync_wanted = true;
    }
    if (s->phase == JS_CLOSING && fs->written_wpos >= fs->close_wpos &&
        fs->synced_wpos < fs->close_wpos) {
        fs->sync_wanted = true;
    }
    start_round(s);
}

static void write_done(struct mr_js_store *s, struct js_req *r, int64_t result)
{
    struct js_fs *fs = fs_of(s);
    struct js_blk *b = blk_find(fs, r->blk);
    if (b != NULL) {
        b->dirty = true;
    }
    if (result < 0 || (size_t)result != r->len) {
        fail(s, result < 0 ? (int)result : MR_E_IO, "write", r->blk);
    }
    r->done = true;
    /* Retire completed writes in issue order. */
    struct js_req *head;
    while ((head = g_queue_peek_head(&fs->writes)) != NULL && head->done) {
        (void)g_queue_pop_head(&fs->writes);
        if (head->wpos_end > fs->written_wpos) {
            fs->written_wpos = head->wpos_end;
        }
        if (head->covers_seq > fs->written_seq) {
            fs->written_seq = head->covers_seq;
        }
        if (head != r) {
            req_free(s, head);
        } else {
            r->retired = true;
        }
    }
    if (fs->sync == MR_JS_SYNC_INTERVAL) {
        ack_to(s, fs->written_seq);
    }
    issue_writes(s); /* what queued behind the writes in flight (see issue_writes) */
    want_sync_if_needed(s);
}

void mr_js_filestore_on_timer(struct mr_js_store *s)
{
    struct js_fs *fs = fs_of(s);
    fs->timer_armed = false;
    if (s->phase != JS_OPEN) {
        return;
    }
    fs->in_input = true;
    for (guint i = 0; i < fs->blocks->len; i++) {
        struct js_blk *b = g_ptr_array_index(fs->blocks, i);
        if (b->dirty) {
            fs->sync_wanted = true;
        }
    }
    start_round(s);
    s->env->timer_arm(s->env->ctx, fs->timer_id, s->env->now_ns(s->env->ctx) +
                                                     fs->sync_interval_ns);
    fs->timer_armed = true;
    fs->in_input = false;
}

/* ---- loads ---- */

static int load_chunk(struct mr_js_store *s, struct js_blk *b)
{
    struct js_req *r = req_new(s, REQ_LOAD, b->num);
    if (r == NULL) {
        return MR_E_NOMEM;
    }
    r->off = b->loaded;
    r->len = b->size - b->loaded;
    if (r->len > MR_JS_READ_CHUNK_BYTES) {
        r->len = MR_JS_READ_CHUNK_BYTES;
    }
    s->env->file_read(s->env->ctx, r->id, b->fh, r->off, r->len);
    return 0;
}

static int start_load(struct mr_js_store *s, struct js_blk *b)
{
    mr_assert(b->buf == NULL && !b->loading);
    mr_assert(b->size > 0);
    struct js_fs *fs = fs_of(s);
    if (fs->spare != NULL && b->size <= fs->block_bytes) {
        /* A consumer reading old blocks cycles them through the cache: reuse. */
        b->buf = fs->spare;
        b->buf_cap = fs->block_bytes;
        fs->spare = NULL;
    } else {
        b->buf = mr_mem_alloc(s->mem, b->size);
        b->buf_cap = b->size;
    }
    if (b->buf == NULL) {
        b->buf_cap = 0;
        return MR_E_NOMEM;
    }
    b->loaded = 0;
    b->loading = true;
    int rc = load_chunk(s, b);
    if (rc != 0) {
        buf_drop(s, b);
        b->loading = false;
    }
    return rc;
}

static void load_done(struct mr_js_store *s, struct js_req *r, int64_t result,
                      const uint8_t *data, size_t len)
{
    struct js_fs *fs = fs_of(s);
    struct js_blk *b = blk_find(fs, r->blk);
    if (b == NULL || !b->loading) {
        return; /* the block went away meanwhile */
    }
    bool ok = result >= 0 && (size_t)result == len && len <= r->len;
    if (ok && len > 0) {
        memcpy(b->buf + r->off, data, len);
    }
    if (ok && len < r->len) {
        /* The file is shorter than the index says: the missing bytes fail their
         * checksums at load, which reports them. */
        memset(b->buf + r->off + len, 0, r->len - len);
    }
    if (!ok) {
        mr_js_store_log(s, MR_LOG_ERROR, "js store %s/%010u.blk: read at offset %llu failed: %s",
               fs->dir, b->num, (unsigned long long)r->off,
               mr_err_text(result < 0 ? (int)result : MR_E_IO));
        b->load_failed = true;
    }
    b->loaded = (size_t)r->off + r->len;
    if (ok && b->loaded < b->size && load_chunk(s, b) == 0) {
        return;
    }
    b->loading = false;
    if (!ok || b->loaded < b->size) {
        b->load_failed = true;
        buf_drop(s, b);
    }
    b->lru = ++fs->lru_tick;
    evict(s);
    if (s->cbs.on_ready != NULL) {
        s->cbs.on_ready(s->cbs.ctx);
    }
}

int mr_js_filestore_load(struct mr_js_store *s, const struct js_entry *e, uint64_t seq,
                         struct mr_js_msg *out)
{
    struct js_fs *fs = fs_of(s);
    struct js_blk *b = blk_find(fs, e->loc.file.blk);
    mr_assert(b != NULL);
    if (b->load_failed) {
        b->load_failed = false;
        return MR_E_IO;
    }
    if (b->buf == NULL || b->loading) {
        if (!b->loading) {
            int rc = start_load(s, b);
            if (rc != 0) {
                return rc;
            }
        }
        return MR_AGAIN;
    }
    b->lru = ++fs->lru_tick;
    struct mr_js_record r;
    size_t off = e->loc.file.off;
    int64_t n = off + e->loc.file.len <= b->size
                    ? mr_js_record_decode(b->buf + off, e->loc.file.len, &r)
                    : MR_E_INVAL;
    if (n != (int64_t)e->loc.file.len || r.kind != MR_JS_REC_MSG || r.seq != seq ||
        r.subject_len != e->subj->key.len) {
        s->corrupt_records++;
        mr_js_store_log(s, MR_LOG_ERROR,
               "js store %s/%010u.blk: message %llu at offset %zu fails its checksum; "
               "not served",
               fs->dir, b->num, (unsigned long long)seq, off);
        if (b != wblk(fs)) {
            /* Maybe a bad read: the next load reads the disk again. */
            buf_drop(s, b);
        }
        return MR_E_IO;
    }
    memset(out, 0, sizeof(*out));
    out->seq = seq;
    out->ts_ns = r.ts_ns;
    out->subject = e->subj->key.name;
    out->subject_len = e->subj->key.len;
    out->hdr = r.hdr;
    out->hdr_len = r.hdr_len;
    out->data = r.data;
    out->data_len = r.data_len;
    return 0;
}

/* ---- recovery ---- */

static void recover_next(struct mr_js_store *s);

static void open_fail(struct mr_js_store *s, int err, const char *what, uint32_t blk)
{
    fail(s, err, what, blk);
}

static int apply_record(void *ctx, const struct mr_js_record *r, size_t off)
{
    struct mr_js_store *s = ctx;
    struct js_fs *fs = fs_of(s);
    struct js_blk *b = fs->rec.cur;
    fs->rec.any_records = true;
    fs->rec.clean = r->kind == MR_JS_REC_CLEAN;
    bool far = r->seq > MR_JS_SEQ_MAX ||
               (s->ents_count > 0 && r->kind != MR_JS_REC_MARK &&
                r->kind != MR_JS_REC_CLEAN && r->seq > s->last_seq &&
                r->seq - s->last_seq > MR_JS_RECOVERY_GAP_MAX);
    if (far) {
        s->corrupt_records++;
        s->corrupt_bytes += r->len;
        mr_js_store_log(s, MR_LOG_ERROR,
               "js store %s/%010u.blk: record at offset %zu has an impossible seq %llu; "
               "skipped",
               fs->dir, b->num, off, (unsigned long long)r->seq);
        return 0;
    }
    switch (r->kind) {
    case MR_JS_REC_MSG: {
        if (r->seq <= s->last_seq || !mr_subject_valid_literal(r->subject, r->subject_len)) {
            /* A record that cannot be in this place: damage with a valid checksum. */
            s->corrupt_records++;
            s->corrupt_bytes += r->len;
            mr_js_store_log(s, MR_LOG_ERROR,
                   "js store %s/%010u.blk: record at offset %zu (seq %llu) out of order or "
                   "with a bad subject; skipped",
                   fs->dir, b->num, off, (unsigned long long)r->seq);
            return 0;
        }
        struct js_entry loc;
        memset(&loc, 0, sizeof(loc));
        loc.loc.file.blk = b->num;
        loc.loc.file.off = (uint32_t)off;
        loc.loc.file.len = (uint32_t)r->len;
        uint64_t size = 22 + r->subject_len + r->data_len + 8 +
                        (r->hdr_len > 0 ? 4 + r->hdr_len : 0);
        int rc = mr_js_store_index_add(s, r->seq, r->subject, r->subject_len, r->ts_ns, size, &loc);
        if (rc != 0) {
            return rc;
        }
        b->last_msg_seq = r->seq;
        return 0;
    }
    case MR_JS_REC_TOMB:
    case MR_JS_REC_ERASED: {
        struct js_entry gone;
        (void)mr_js_store_index_remove(s, r->seq, &gone); /* already gone is fine */
        return mr_js_store_index_raise_last(s, r->seq);
    }
    case MR_JS_REC_MARK:
        (void)mr_js_store_index_remove_below(s, r->seq);
        s->last_ts_ns = r->ts_ns;
        return 0;
    case MR_JS_REC_CLEAN:
        s->last_ts_ns = r->ts_ns;
        return 0;
    }
    mr_assert(!"decode returned an unknown kind");
    return MR_E_INVAL;
}

static void read_chunk(struct mr_js_store *s)
{
    struct js_fs *fs = fs_of(s);
    struct js_req *r = req_new(s, REQ_READ, fs->rec.cur->num);
    if (r == NULL) {
        open_fail(s, MR_E_NOMEM, "recovery read", fs->rec.cur->num);
        return;
    }
    r->off = fs->rec.len;
    r->len = MR_JS_READ_CHUNK_BYTES;
    s->env->file_read(s->env->ctx, r->id, fs->rec.cur->fh, r->off, r->len);
}

/* The recovered block is done: it keeps its bytes as cache and the next one starts. */
static void recover_block_done(struct mr_js_store *s)
{
    struct js_fs *fs = fs_of(s);
    struct js_blk *b = fs->rec.cur;
    b->buf = fs->rec.buf;
    b->buf_cap = fs->rec.cap;
    b->issued = b->size;
    b->dirty = true; /* after a crash its bytes may be unsynced: the next round syncs */
    b->wpos_base = fs->wpos;
    fs->wpos += b->size;
    b->lru = ++fs->lru_tick;
    fs->rec.buf = NULL;
    fs->rec.len = 0;
    fs->rec.cap = 0;
    fs->rec.cur = NULL;
    fs->rec.next++;
    evict(s);
    recover_next(s);
}

static void rewrite_step(struct mr_js_store *s, enum req_kind kind)
{
    struct js_fs *fs = fs_of(s);
    struct js_blk *b = fs->rec.cur;
    struct js_req *r = req_new(s, kind, b->num);
    if (r == NULL) {
        open_fail(s, MR_E_NOMEM, "tail rewrite", b->num);
        return;
    }
    char tmp[MR_JS_DIR_MAX + BLOCK_NAME_LEN + 2];
    char path[MR_JS_DIR_MAX + BLOCK_NAME_LEN + 2];
    block_path(fs, b->num, "tmp", tmp, sizeof(tmp));
    block_path(fs, b->num, "blk", path, sizeof(path));
    switch (kind) {
    case REQ_TMP_OPEN:
        s->env->file_open(s->env->ctx, r->id, tmp,
                          MR_FILE_READ | MR_FILE_WRITE | MR_FILE_CREATE | MR_FILE_TRUNCATE);
        break;
    case REQ_TMP_WRITE:
        r->len = b->size;
        s->env->file_write(s->env->ctx, r->id, fs->rec.tmp_fh, 0, fs->rec.buf, b->size);
        break;
    case REQ_TMP_SYNC:
        s->env->file_sync(s->env->ctx, r->id, fs->rec.tmp_fh);
        break;
    case REQ_TMP_RENAME:
        s->env->file_rename(s->env->ctx, r->id, tmp, path);
        break;
    default:
        mr_assert(!"not a rewrite step");
    }
}

static void drop_prev(struct mr_js_store *s)
{
    struct js_fs *fs = fs_of(s);
    mr_mem_free(s->mem, fs->rec.prev, fs->rec.prev_cap);
    fs->rec.prev = NULL;
    fs->rec.prev_len = 0;
    fs->rec.prev_cap = 0;
}

static void recover_scan(struct mr_js_store *s)
{
    struct js_fs *fs = fs_of(s);
    struct js_blk *b = fs->rec.cur;
    struct mr_js_scan scan;
    (void)mr_js_record_scan(fs->rec.buf, fs->rec.len, &scan, NULL, NULL);
    bool damaged = scan.bad_regions > 0 || scan.tail_bytes > 0;
    /* Damage is believed once two reads agree on it; a read can be bad, and dropping a
     * good tail for a bad read would lose data that is safe on disk. */
    bool confirmed = fs->rec.prev != NULL && fs->rec.prev_len == fs->rec.len &&
                     memcmp(fs->rec.prev, fs->rec.buf, fs->rec.len) == 0;
    if (damaged && !confirmed && fs->rec.rereads < MR_JS_REREAD_MAX) {
        fs->rec.rereads++;
        drop_prev(s);
        fs->rec.prev = fs->rec.buf;
        fs->rec.prev_len = fs->rec.len;
        fs->rec.prev_cap = fs->rec.cap;
        fs->rec.buf = NULL;
        fs->rec.len = 0;
        fs->rec.cap = 0;
        read_chunk(s);
        return;
    }
    drop_prev(s);
    int rc = mr_js_record_scan(fs->rec.buf, fs->rec.len, &scan, apply_record, s);
    if (rc != 0) {
        open_fail(s, rc, "rebuilding the index", b->num);
        return;
    }
    if (scan.bad_regions > 0) {
        s->corrupt_records += scan.bad_regions;
        s->corrupt_bytes += scan.bad_bytes;
        mr_js_store_log(s, MR_LOG_ERROR,
               "js store %s/%010u.blk: %llu damaged stretch(es), %llu bytes, first at "
               "offset %zu; skipped, never served",
               fs->dir, b->num, (unsigned long long)scan.bad_regions,
               (unsigned long long)scan.bad_bytes, scan.first_bad_off);
    }
    b->size = scan.valid_end;
    if (scan.tail_bytes == 0) {
        recover_block_done(s);
        return;
    }
    fs->rec.clean = false; /* writes were cut short after the last good record */
    s->truncated_bytes += scan.tail_bytes;
    if (damaged && !confirmed) {
        /* Reads never agreed: leave the file alone and append elsewhere. */
        mr_js_store_log(s, MR_LOG_ERROR,
               "js store %s/%010u.blk: %zu bytes at offset %zu unreadable; block left as is",
               fs->dir, b->num, scan.tail_bytes, scan.valid_end);
        b->no_append = true;
        recover_block_done(s);
        return;
    }
    mr_js_store_log(s, MR_LOG_WARN,
           "js store %s/%010u.blk: torn tail of %zu bytes at offset %zu dropped",
           fs->dir, b->num, scan.tail_bytes, scan.valid_end);
    rewrite_step(s, REQ_TMP_OPEN);
}

static void recover_next(struct mr_js_store *s)
{
    struct js_fs *fs = fs_of(s);
    if (s->phase != JS_OPENING) {
        return;
    }
    if (fs->rec.next < fs->rec.count) {
        struct js_blk *b = mr_mem_alloc(s->mem, sizeof(*b));
        struct js_req *r = b != NULL ? req_new(s, REQ_OPEN, fs->rec.nums[fs->rec.next]) : NULL;
        if (r == NULL) {
            mr_mem_free(s->mem, b, sizeof(*b));
            open_fail(s, MR_E_NOMEM, "recovery", fs->rec.nums[fs->rec.next]);
            return;
        }
        b->num = fs->rec.nums[fs->rec.next];
        b->fh = -1;
        g_ptr_array_add(fs->blocks, b);
        evict(s); /* the block before it now counts as sealed */
        fs->rec.cur = b;
        fs->rec.rereads = 0;
        /* A block with no record after a clean-close mark means writes came later. */
        fs->rec.clean = false;
        char path[MR_JS_DIR_MAX + BLOCK_NAME_LEN + 2];
        block_path(fs, b->num, "blk", path, sizeof(path));
        s->env->file_open(s->env->ctx, r->id, path, MR_FILE_READ | MR_FILE_WRITE);
        return;
    }
    /* Every block is in: the store opens. */
    /* Blocks exist only once something was appended, and a clean close ends the last
     * one with its mark; anything else is a stop that may have cut writes short. */
    s->recovered_unclean = fs->rec.count > 0 && !fs->rec.clean;
    fs->written_wpos = fs->wpos;
    fs->issued_wpos = fs->wpos;
    fs->synced_wpos = fs->wpos;
    fs->written_seq = s->last_seq;
    fs->issued_seq = s->last_seq;
    s->acked_seq = s->last_seq;
    s->synced_seq = s->last_seq;
    s->phase = JS_OPEN;
    if (s->recovered_unclean) {
        mr_js_store_log(s, MR_LOG_WARN,
               "js store %s: not closed cleanly; recovered to seq %llu (writes after the "
               "last sync may be lost)",
               fs->dir, (unsigned long long)s->last_seq);
    }
    mr_js_store_log(s, MR_LOG_INFO, "js store %s: %u block(s), %llu message(s), seq %llu..%llu",
           fs->dir, fs->blocks->len, (unsigned long long)s->msgs,
           (unsigned long long)mr_js_store_index_first(s), (unsigned long long)s->last_seq);
    if (fs->sync == MR_JS_SYNC_INTERVAL) {
        s->env->timer_arm(s->env->ctx, fs->timer_id,
                          s->env->now_ns(s->env->ctx) + fs->sync_interval_ns);
        fs->timer_armed = true;
    }
    if (s->cbs.on_open != NULL) {
        s->cbs.on_open(s->cbs.ctx, 0);
    }
}

/* "0000000042.blk" -> 42; false for any other name. */
static bool parse_block_name(const char *name, size_t len, const char *ext, uint32_t *num)
{
    if (len != BLOCK_NAME_LEN || name[10] != '.' || memcmp(name + 11, ext, 3) != 0) {
        return false;
    }
    uint64_t v = 0;
    for (int i = 0; i < 10; i++) {
        if (name[i] < '0' || name[i] > '9') {
            return false;
        }
        v = v * 10 + (uint64_t)(name[i] - '0');
    }
    if (v == 0 || v >= UINT32_MAX) {
        return false;
    }
    *num = (uint32_t)v;
    return true;
}

static void list_done(struct mr_js_store *s, int64_t result, const uint8_t *data, size_t len)
{
    struct js_fs *fs = fs_of(s);
    if (result < 0 && result != MR_E_NOT_FOUND) {
        open_fail(s, (int)result, "listing the directory", 0);
        return;
    }
    size_t n = 0;
    for (size_t i = 0; result >= 0 && i < len; i++) {
        n += data[i] == '\0';
    }
    if (n > MR_JS_BLOCKS_MAX) {
        open_fail(s, MR_E_LIMIT, "too many block files", 0);
        return;
    }
    fs->rec.nums = n > 0 ? mr_mem_alloc(s->mem, n * sizeof(uint32_t)) : NULL;
    if (n > 0 && fs->rec.nums == NULL) {
        open_fail(s, MR_E_NOMEM, "listing the directory", 0);
        return;
    }
    fs->rec.nums_cap = n;
    size_t start = 0;
    for (size_t i = 0; result >= 0 && i < len; i++) {
        if (data[i] != '\0') {
            continue;
        }
        const char *name = (const char *)data + start;
        size_t nlen = i - start;
        start = i + 1;
        uint32_t num;
        if (parse_block_name(name, nlen, "blk", &num)) {
            /* Sorted bytewise by the env, so ascending by number. */
            if (fs->rec.count == 0 || num > fs->rec.nums[fs->rec.count - 1]) {
                fs->rec.nums[fs->rec.count++] = num;
            }
        } else if (parse_block_name(name, nlen, "tmp", &num)) {
            /* A tail rewrite cut short: the block itself is still whole. */
            struct js_req *r = req_new(s, REQ_REMOVE, num);
            if (r != NULL) {
                char path[MR_JS_DIR_MAX + BLOCK_NAME_LEN + 2];
                block_path(fs, num, "tmp", path, sizeof(path));
                s->env->file_remove(s->env->ctx, r->id, path);
            }
        }
    }
    recover_next(s);
}

static void recover_done(struct mr_js_store *s, struct js_req *r, int64_t result,
                         const uint8_t *data, size_t len)
{
    struct js_fs *fs = fs_of(s);
    struct js_blk *b = fs->rec.cur;
    if (s->phase != JS_OPENING) {
        return;
    }
    if (result < 0) {
        open_fail(s, (int)result, "recovery", r->blk);
        return;
    }
    switch (r->kind) {
    case REQ_OPEN:
        b->fh = result;
        read_chunk(s);
        return;
    case REQ_READ: {
        size_t limit = MR_JS_BLOCK_BYTES_MAX + MR_JS_RECORD_BYTES_MAX;
        if (len > 0) {
            if (fs->rec.len + len > fs->rec.cap) {
                size_t cap = fs->rec.len + len;
                uint8_t *nb = mr_mem_realloc(s->mem, fs->rec.buf, fs->rec.cap, cap);
                if (nb == NULL) {
                    open_fail(s, MR_E_NOMEM, "recovery read", b->num);
                    return;
                }
                fs->rec.buf = nb;
                fs->rec.cap = cap;
            }
            memcpy(fs->rec.buf + fs->rec.len, data, len);
            fs->rec.len += len;
        }
        /* A full chunk may have more behind it; a block can be no longer than a full
         * block plus one record, and anything past that is left unread as damage. */
        if (len == r->len && fs->rec.len < limit) {
            read_chunk(s);
            return;
        }
        recover_scan(s);
        return;
    }
    case REQ_TMP_OPEN:
        fs->rec.tmp_fh = result;
        rewrite_step(s, b->size > 0 ? REQ_TMP_WRITE : REQ_TMP_SYNC);
        return;
    case REQ_TMP_WRITE:
        rewrite_step(s, REQ_TMP_SYNC);
        return;
    case REQ_TMP_SYNC:
        rewrite_step(s, REQ_TMP_RENAME);
        return;
    case REQ_TMP_RENAME: {
        struct js_req *c = req_new(s, REQ_CLOSE, b->num);
        if (c != NULL) {
            s->env->file_close(s->env->ctx, c->id, b->fh);
        }
        b->fh = fs->rec.tmp_fh; /* the handle followed the file to the block's name */
        fs->rec.tmp_fh = -1;
        recover_block_done(s);
        return;
    }
    default:
        mr_assert(!"not a recovery request");
    }
}

/* ---- inputs ---- */

bool mr_js_filestore_owns_req(const struct mr_js_store *s, uint64_t req_id)
{
    const struct js_fs *fs = fs_of(s);
    return req_id >= fs->req_base && req_id - fs->req_base < MR_JS_STORE_REQ_IDS &&
           g_hash_table_contains(fs->reqs, &req_id);
}

static void new_open_done(struct mr_js_store *s, struct js_req *r, int64_t result)
{
    struct js_blk *b = blk_find(fs_of(s), r->blk);
    if (result < 0) {
        fail(s, (int)result, "creating the block", r->blk);
        return;
    }
    if (b == NULL) {
        return;
    }
    b->fh = result;
    issue_writes(s);
}

void mr_js_filestore_on_file_done(struct mr_js_store *s, uint64_t req_id, int64_t result,
                                  const uint8_t *data, size_t len)
{
    struct js_fs *fs = fs_of(s);
    struct js_req *r = g_hash_table_lookup(fs->reqs, &req_id);
    mr_assert(r != NULL);
    fs->in_input = true;
    report_fail(s);
    switch (r->kind) {
    case REQ_LIST:
        list_done(s, result, data, len);
        break;
    case REQ_OPEN:
    case REQ_READ:
    case REQ_TMP_OPEN:
    case REQ_TMP_WRITE:
    case REQ_TMP_SYNC:
    case REQ_TMP_RENAME:
        recover_done(s, r, result, data, len);
        break;
    case REQ_NEW_OPEN:
        new_open_done(s, r, result);
        break;
    case REQ_WRITE:
        /* Freed by write_done when it retires, unless it is already retired. */
        write_done(s, r, result);
        break;
    case REQ_SYNC:
        mr_assert(fs->sync_inflight > 0);
        fs->sync_inflight--;
        if (result < 0) {
            fail(s, (int)result, "fsync", r->blk);
        } else if (fs->sync_inflight == 0) {
            round_done(s);
            start_round(s);
        }
        break;
    case REQ_LOAD:
        load_done(s, r, result, data, len);
        break;
    case REQ_BARRIER:
        break;
    case REQ_CLOSE:
    case REQ_REMOVE:
        if (result < 0) {
            mr_js_store_log(s, MR_LOG_WARN, "js store %s/%010u.blk: %s failed: %s", fs->dir, r->blk,
                   r->kind == REQ_CLOSE ? "close" : "remove", mr_err_text((int)result));
        }
        break;
    }
    if (r->kind != REQ_WRITE || r->retired) {
        req_free(s, r);
    }
    maybe_close(s);
    fs->in_input = false;
}

/* ---- lifecycle ---- */

int mr_js_filestore_create(struct mr_js_store *s, const struct mr_js_store_cfg *cfg,
                           char *errmsg, size_t errmsg_len)
{
    if (cfg->dir == NULL || cfg->dir[0] == '\0' || strlen(cfg->dir) >= MR_JS_DIR_MAX) {
        (void)snprintf(errmsg, errmsg_len, "js store: directory missing or longer than %d",
                       MR_JS_DIR_MAX - 1);
        return MR_E_INVAL;
    }
    uint64_t block_bytes = cfg->block_bytes > 0 ? cfg->block_bytes : MR_JS_BLOCK_BYTES_DEFAULT;
    if (block_bytes < MR_JS_BLOCK_BYTES_MIN || block_bytes > MR_JS_BLOCK_BYTES_MAX) {
        (void)snprintf(errmsg, errmsg_len, "js store %.160s: block size %llu outside %d..%d",
                       cfg->dir, (unsigned long long)block_bytes, MR_JS_BLOCK_BYTES_MIN,
                       MR_JS_BLOCK_BYTES_MAX);
        return MR_E_INVAL;
    }
    if (cfg->cache_blocks > MR_JS_BLOCK_CACHE_MAX ||
        (cfg->sync != MR_JS_SYNC_INTERVAL && cfg->sync != MR_JS_SYNC_ALWAYS)) {
        (void)snprintf(errmsg, errmsg_len, "js store %.160s: cache_blocks over %d or bad sync",
                       cfg->dir, MR_JS_BLOCK_CACHE_MAX);
        return MR_E_INVAL;
    }
    struct js_fs *fs = mr_mem_alloc(s->mem, sizeof(*fs));
    if (fs == NULL) {
        return MR_E_NOMEM;
    }
    memcpy(fs->dir, cfg->dir, strlen(cfg->dir) + 1);
    fs->block_bytes = block_bytes;
    fs->sync = cfg->sync;
    fs->sync_interval_ns =
        cfg->sync_interval_ns > 0 ? cfg->sync_interval_ns : MR_JS_SYNC_INTERVAL_DEFAULT_NS;
    fs->cache_blocks = cfg->cache_blocks > 0 ? cfg->cache_blocks : MR_JS_BLOCK_CACHE_DEFAULT;
    fs->req_base = cfg->req_id_base;
    fs->timer_id = cfg->timer_id;
    fs->reqs = g_hash_table_new(g_int64_hash, g_int64_equal);
    fs->blocks = g_ptr_array_new();
    fs->dying = g_ptr_array_new();
    g_queue_init(&fs->writes);
    fs->rec.tmp_fh = -1;
    s->fs = fs;
    struct js_req *r = req_new(s, REQ_LIST, 0);
    if (r == NULL) {
        mr_js_filestore_destroy(s);
        return MR_E_NOMEM;
    }
    s->env->file_list(s->env->ctx, r->id, fs->dir);
    return 0;
}

void mr_js_filestore_destroy(struct mr_js_store *s)
{
    struct js_fs *fs = fs_of(s);
    if (fs->timer_armed) {
        s->env->timer_cancel(s->env->ctx, fs->timer_id);
    }
    /* Handles are closed without waiting; those completions go to an owner that has
     * dropped this store, so the ids come from the store's range past the table. */
    GPtrArray *lists[2] = {fs->blocks, fs->dying};
    for (int l = 0; l < 2; l++) {
        for (guint i = 0; i < lists[l]->len; i++) {
            struct js_blk *b = g_ptr_array_index(lists[l], i);
            if (b->fh >= 0 && s->phase != JS_CLOSED) {
                uint64_t id = fs->req_base + fs->req_next;
                fs->req_next = (fs->req_next + 1) % MR_JS_STORE_REQ_IDS;
                s->env->file_close(s->env->ctx, id, b->fh);
            }
            blk_free(s, b);
        }
    }
    mr_mem_free(s->mem, fs->spare, fs->block_bytes);
    mr_mem_free(s->mem, fs->rec.buf, fs->rec.cap);
    mr_mem_free(s->mem, fs->rec.prev, fs->rec.prev_cap);
    mr_mem_free(s->mem, fs->rec.nums, fs->rec.nums_cap * sizeof(uint32_t));
    g_queue_clear(&fs->writes);
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, fs->reqs);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        mr_mem_free(s->mem, v, sizeof(struct js_req));
    }
    g_hash_table_destroy(fs->reqs);
    g_ptr_array_free(fs->blocks, TRUE);
    g_ptr_array_free(fs->dying, TRUE);
    mr_mem_free(s->mem, fs, sizeof(*fs));
    s->fs = NULL;
}

int mr_js_filestore_close(struct mr_js_store *s)
{
    struct js_fs *fs = fs_of(s);
    if (s->phase == JS_OPENING) {
        return MR_AGAIN;
    }
    bool failed = s->phase == JS_FAILED;
    if (!failed) {
        /* The clean-close mark tells the next open that nothing was cut short. */
        struct mr_js_record r = {.kind = MR_JS_REC_CLEAN, .seq = s->last_seq + 1,
                                 .ts_ns = s->last_ts_ns};
        uint32_t blk;
        size_t off;
        int rc = mr_js_filestore_room(s, 1, MR_JS_RECORD_OVERHEAD);
        if (rc == 0) {
            rc = queue_record(s, &r, &blk, &off);
        }
        if (rc != 0) {
            return rc;
        }
    }
    if (fs->timer_armed) {
        s->env->timer_cancel(s->env->ctx, fs->timer_id);
        fs->timer_armed = false;
    }
    s->phase = JS_CLOSING;
    fs->close_wpos = failed ? fs->synced_wpos : fs->wpos;
    issue_writes(s);
    if (g_hash_table_size(fs->reqs) == 0) {
        issue_closes(s);
    }
    return 0;
}

/* Closes every handle; with none, a barrier request stands in, so on_closed always
 * comes from an input. */
static void issue_closes(struct mr_js_store *s)
{
    struct js_fs *fs = fs_of(s);
    fs->closes_issued = true;
    bool any = false;
    for (guint i = 0; i < fs->blocks->len; i++) {
        struct js_blk *b = g_ptr_array_index(fs->blocks, i);
        if (b->fh < 0) {
            continue;
        }
        struct js_req *r = req_new(s, REQ_CLOSE, b->num);
        if (r != NULL) {
            s->env->file_close(s->env->ctx, r->id, b->fh);
            any = true;
        }
        b->fh = -1;
    }
    struct js_req *r = any ? NULL : req_new(s, REQ_BARRIER, 0);
    if (r != NULL) {
        s->env->file_list(s->env->ctx, r->id, fs->dir);
    } else if (!any) {
        /* Out of memory for even one request: closed at once, without on_closed. */
        mr_js_store_log(s, MR_LOG_ERROR, "js store %s: closed without completion (memory)",
                        fs->dir);
        s->phase = JS_CLOSED;
    }
}

/* Closing goes: the mark written and synced, every other request finished, then every
 * handle closed; on_closed when the last close completes. */
static void maybe_close(struct mr_js_store *s)
{
    struct js_fs *fs = fs_of(s);
    if (s->phase != JS_CLOSING || g_hash_table_size(fs->reqs) > 0) {
        return;
    }
    if (fs->closes_issued) {
        s->phase = JS_CLOSED;
        if (s->cbs.on_closed != NULL) {
            s->cbs.on_closed(s->cbs.ctx);
        }
        return;
    }
    if (fs->synced_wpos < fs->close_wpos) {
        return; /* a write or sync is still to come (want_sync_if_needed starts it) */
    }
    issue_closes(s);
}

void mr_js_filestore_check(const struct mr_js_store *s)
{
    const struct js_fs *fs = fs_of(s);
    uint32_t prev = 0;
    uint32_t cached = 0;
    for (guint i = 0; i < fs->blocks->len; i++) {
        const struct js_blk *b = g_ptr_array_index(fs->blocks, i);
        mr_assert(b->num > prev);
        prev = b->num;
        mr_assert(b->issued <= b->size);
        if (b->buf != NULL) {
            mr_assert(b->size <= b->buf_cap);
            if (b != wblk(fs) && !b->loading && b->issued == b->size) {
                cached++;
            }
        }
        if (i + 1 < fs->blocks->len && s->phase == JS_OPEN) {
            const struct js_blk *n = g_ptr_array_index(fs->blocks, i + 1);
            mr_assert(b->wpos_base + b->size <= n->wpos_base);
        }
    }
    mr_assert(cached <= fs->cache_blocks);
    mr_assert(fs->written_wpos <= fs->issued_wpos);
    mr_assert(fs->synced_wpos <= fs->written_wpos);
    mr_assert(fs->issued_wpos <= fs->wpos);
    mr_assert(s->synced_seq <= s->last_seq || s->msgs == 0);
}
