/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store interface, the in-memory index both stores share, and the memory store's
 * bodies. Every operation first changes the index (js_store_int.h has its invariants),
 * then tells the backend: the memory store frees or keeps bodies here, the file store
 * writes records (js_filestore.c). Index scans (filters, last-by-subject) never touch
 * bodies, so they never wait for the disk.
 *
 * Byte accounting follows nats-server so stream info shows the same numbers: the memory
 * store counts subject + headers + payload + 16, the file store its record as
 * nats-server lays it out (22 + subject + payload + 8, plus 4 + headers when present).
 */
#include "core/js/js_store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/js/js_filestore.h"
#include "core/js/js_record.h"
#include "core/js/js_store_int.h"
#include "core/limits.h"
#include "core/proto/subject.h"

#define ENTS_CAP_MIN 64

void mr_js_store_log(struct mr_js_store *s, enum mr_log_level level, const char *fmt, ...)
{
    char line[MR_ERRMSG_MAX * 2];
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(line, sizeof(line), fmt, ap); /* truncation is fine for a log line */
    va_end(ap);
    s->env->log(s->env->ctx, level, "js_store", line);
}

static guint skey_hash(gconstpointer p)
{
    const struct js_skey *k = p;
    guint h = 2166136261u;
    for (size_t i = 0; i < k->len; i++) {
        h = (h ^ (uint8_t)k->name[i]) * 16777619u;
    }
    return h;
}

static gboolean skey_equal(gconstpointer a, gconstpointer b)
{
    const struct js_skey *x = a;
    const struct js_skey *y = b;
    return x->len == y->len && memcmp(x->name, y->name, x->len) == 0;
}

/* A filter that matches every subject. */
static bool filter_all(const char *filter, size_t len)
{
    return filter == NULL || len == 0 || (len == 1 && filter[0] == '>');
}

static bool filter_literal(const char *filter, size_t len)
{
    return !filter_all(filter, len) && !mr_subject_has_wildcard(filter, len);
}

static bool subj_matches(const struct js_subj *subj, const char *filter, size_t len)
{
    return filter_all(filter, len) ||
           mr_subject_matches(filter, len, subj->key.name, subj->key.len);
}

static struct js_subj *subj_find(const struct mr_js_store *s, const char *name, size_t len)
{
    struct js_skey k = {.name = name, .len = len};
    return g_hash_table_lookup(s->subjects, &k);
}

/* ---- the index ring ---- */

static struct js_entry *ent_at(const struct mr_js_store *s, size_t i)
{
    mr_assert(i < s->ents_count);
    return &s->ents[(s->ents_head + i) & (s->ents_cap - 1)];
}

struct js_entry *mr_js_store_index_get(struct mr_js_store *s, uint64_t seq)
{
    if (s->ents_count == 0 || seq < s->base_seq || seq > s->last_seq) {
        return NULL;
    }
    return ent_at(s, (size_t)(seq - s->base_seq));
}

uint64_t mr_js_store_index_first(const struct mr_js_store *s)
{
    return s->ents_count > 0 ? s->base_seq : s->last_seq + 1;
}

/*
 * Grows the ring to a power of two that holds more entries. The array is resized in
 * place (for a large one the allocator remaps pages rather than copying them), then the
 * part that had wrapped to the front of the old array moves to just past its old end,
 * so the ring reads on from the same head: a stream that only appends never wraps, and
 * its growth copies nothing.
 */
static int ents_reserve(struct mr_js_store *s, size_t more)
{
    if (s->ents_count + more <= s->ents_cap) {
        return 0;
    }
    size_t cap = s->ents_cap > 0 ? s->ents_cap : ENTS_CAP_MIN;
    while (cap < s->ents_count + more) {
        if (cap > SIZE_MAX / 2 / sizeof(struct js_entry)) {
            return MR_E_NOMEM;
        }
        cap *= 2;
    }
    size_t old_cap = s->ents_cap;
    struct js_entry *n = mr_mem_realloc(s->mem, s->ents, old_cap * sizeof(*n), cap * sizeof(*n));
    if (n == NULL) {
        return MR_E_NOMEM;
    }
    size_t wrapped = s->ents_head + s->ents_count > old_cap
                         ? s->ents_head + s->ents_count - old_cap : 0;
    mr_assert(old_cap + wrapped <= cap); /* cap at least doubled, count <= old_cap */
    if (wrapped > 0) {
        memcpy(n + old_cap, n, wrapped * sizeof(*n));
    }
    s->ents = n;
    s->ents_cap = cap;
    if (s->ents_count == 0) {
        s->ents_head = 0;
    }
    return 0;
}

static size_t subj_alloc_size(size_t len)
{
    return sizeof(struct js_subj) + len + 1;
}

static void subj_unref(struct mr_js_store *s, struct js_subj *subj)
{
    mr_assert(subj->count > 0);
    if (--subj->count > 0) {
        return;
    }
    bool removed = g_hash_table_remove(s->subjects, &subj->key);
    mr_assert(removed);
    mr_mem_free(s->mem, subj, subj_alloc_size(subj->key.len));
}

/* Finds or creates the subject; the caller adds the reference. */
static struct js_subj *subj_get(struct mr_js_store *s, const char *name, size_t len,
                                uint64_t seq)
{
    struct js_subj *subj = subj_find(s, name, len);
    if (subj != NULL) {
        return subj;
    }
    subj = mr_mem_alloc(s->mem, subj_alloc_size(len));
    if (subj == NULL) {
        return NULL;
    }
    memcpy(subj->name, name, len);
    subj->name[len] = '\0';
    subj->key.name = subj->name;
    subj->key.len = len;
    subj->first_hint = seq;
    subj->last_hint = seq;
    g_hash_table_insert(s->subjects, &subj->key, subj);
    return subj;
}

int mr_js_store_index_add(struct mr_js_store *s, uint64_t seq, const char *subject,
                          size_t subject_len, int64_t ts_ns, uint64_t size,
                          const struct js_entry *loc)
{
    mr_assert(seq > s->last_seq);
    uint64_t gap = s->ents_count > 0 ? seq - s->last_seq - 1 : 0;
    if (gap >= SIZE_MAX / sizeof(struct js_entry) / 4) {
        return MR_E_NOMEM;
    }
    /* Reserve first, so a failure leaves the index as it was. */
    if (ents_reserve(s, (size_t)gap + 1) != 0) {
        return MR_E_NOMEM;
    }
    struct js_subj *subj = subj_get(s, subject, subject_len, seq);
    if (subj == NULL) {
        return MR_E_NOMEM;
    }
    if (s->ents_count == 0) {
        s->base_seq = seq;
        s->ents_head = 0;
    }
    for (uint64_t i = 0; i < gap; i++) {
        s->ents_count++;
        memset(ent_at(s, s->ents_count - 1), 0, sizeof(struct js_entry));
    }
    s->ents_count++;
    struct js_entry *e = ent_at(s, s->ents_count - 1);
    *e = *loc;
    e->subj = subj;
    e->ts_ns = ts_ns;
    e->size = size;
    if (subj->count == 0 || subj->first_hint > seq) {
        subj->first_hint = seq;
    }
    subj->count++;
    subj->last_hint = seq;
    s->msgs++;
    s->bytes += size;
    s->last_seq = seq;
    s->last_ts_ns = ts_ns;
    mr_assert(s->base_seq + s->ents_count - 1 == s->last_seq);
    return 0;
}

int mr_js_store_index_raise_last(struct mr_js_store *s, uint64_t seq)
{
    if (seq <= s->last_seq) {
        return 0;
    }
    if (s->ents_count == 0) {
        s->last_seq = seq;
        s->base_seq = seq + 1;
        return 0;
    }
    uint64_t gap = seq - s->last_seq;
    if (gap >= SIZE_MAX / sizeof(struct js_entry) / 4 || ents_reserve(s, (size_t)gap) != 0) {
        return MR_E_NOMEM;
    }
    for (uint64_t i = 0; i < gap; i++) {
        s->ents_count++;
        memset(ent_at(s, s->ents_count - 1), 0, sizeof(struct js_entry));
    }
    s->last_seq = seq;
    mr_assert(s->base_seq + s->ents_count - 1 == s->last_seq);
    return 0;
}

/* Drops deleted entries from the front, keeping the front entry live. */
static void trim_front(struct mr_js_store *s)
{
    while (s->ents_count > 0 && ent_at(s, 0)->subj == NULL) {
        s->ents_head = (s->ents_head + 1) & (s->ents_cap - 1);
        s->ents_count--;
        s->base_seq++;
    }
    if (s->ents_count == 0) {
        s->ents_head = 0;
        s->base_seq = s->last_seq + 1;
    }
}

bool mr_js_store_index_remove(struct mr_js_store *s, uint64_t seq, struct js_entry *gone)
{
    struct js_entry *e = mr_js_store_index_get(s, seq);
    if (e == NULL || e->subj == NULL) {
        return false;
    }
    *gone = *e;
    mr_assert(s->msgs > 0);
    mr_assert(s->bytes >= e->size);
    s->msgs--;
    s->bytes -= e->size;
    subj_unref(s, e->subj);
    e->subj = NULL;
    trim_front(s);
    return true;
}

/* ---- memory bodies ---- */

static void mem_body_free(struct mr_js_store *s, const struct js_entry *gone, bool erase)
{
    size_t n = (size_t)gone->loc.mem.hdr_len + gone->loc.mem.data_len;
    if (gone->loc.mem.buf == NULL) {
        return;
    }
    if (erase) {
        /* Secure erase: the bytes are zeroed before the memory goes back. */
        memset(gone->loc.mem.buf, 0, n);
    }
    mr_mem_free(s->mem, gone->loc.mem.buf, n);
}

/* The backend's part of deleting one message already out of the index. */
static int body_deleted(struct mr_js_store *s, uint64_t seq, const struct js_entry *gone,
                        bool erase)
{
    if (s->storage == MR_JS_STORAGE_MEMORY) {
        mem_body_free(s, gone, erase);
        return 0;
    }
    return mr_js_filestore_deleted(s, seq, gone, erase);
}

uint64_t mr_js_store_index_remove_below(struct mr_js_store *s, uint64_t seq)
{
    uint64_t n = 0;
    while (s->ents_count > 0 && s->base_seq < seq) {
        struct js_entry gone;
        bool removed = mr_js_store_index_remove(s, s->base_seq, &gone);
        mr_assert(removed); /* the front entry is always live */
        if (s->storage == MR_JS_STORAGE_MEMORY) {
            mem_body_free(s, &gone, false);
        }
        n++;
    }
    if (s->last_seq + 1 < seq) {
        s->last_seq = seq - 1;
        s->base_seq = seq;
    }
    mr_assert(mr_js_store_index_first(s) >= seq);
    return n;
}

/* ---- lifecycle ---- */

int mr_js_store_create(struct mr_mem *mem, const struct mr_env *env,
                       const struct mr_js_store_cfg *cfg, const struct mr_js_store_cbs *cbs,
                       struct mr_js_store **out, char *errmsg, size_t errmsg_len)
{
    mr_assert(mem != NULL && env != NULL && cfg != NULL && out != NULL);
    *out = NULL;
    if (cfg->storage != MR_JS_STORAGE_MEMORY && cfg->storage != MR_JS_STORAGE_FILE) {
        (void)snprintf(errmsg, errmsg_len, "js store: unknown storage kind %d",
                       (int)cfg->storage);
        return MR_E_INVAL;
    }
    struct mr_js_store *s = mr_mem_alloc(mem, sizeof(*s));
    if (s == NULL) {
        return MR_E_NOMEM;
    }
    s->mem = mem;
    s->env = env;
    s->storage = cfg->storage;
    if (cbs != NULL) {
        s->cbs = *cbs;
    }
    s->base_seq = 1;
    s->subjects = g_hash_table_new(skey_hash, skey_equal);
    s->phase = JS_OPEN;
    if (cfg->storage == MR_JS_STORAGE_FILE) {
        s->phase = JS_OPENING;
        int rc = mr_js_filestore_create(s, cfg, errmsg, errmsg_len);
        if (rc != 0) {
            g_hash_table_destroy(s->subjects);
            mr_mem_free(mem, s, sizeof(*s));
            return rc;
        }
    }
    *out = s;
    return 0;
}

void mr_js_store_destroy(struct mr_js_store *s)
{
    if (s == NULL) {
        return;
    }
    if (s->fs != NULL) {
        mr_js_filestore_destroy(s);
    }
    for (size_t i = 0; i < s->ents_count; i++) {
        struct js_entry *e = ent_at(s, i);
        if (e->subj == NULL) {
            continue;
        }
        if (s->storage == MR_JS_STORAGE_MEMORY) {
            mem_body_free(s, e, false);
        }
        subj_unref(s, e->subj);
    }
    mr_assert(g_hash_table_size(s->subjects) == 0);
    g_hash_table_destroy(s->subjects);
    mr_mem_free(s->mem, s->ents, s->ents_cap * sizeof(*s->ents));
    mr_mem_free(s->mem, s, sizeof(*s));
}

int mr_js_store_close(struct mr_js_store *s)
{
    if (s->phase == JS_CLOSING || s->phase == JS_CLOSED) {
        return MR_E_CLOSED;
    }
    if (s->storage == MR_JS_STORAGE_MEMORY) {
        s->phase = JS_CLOSED;
        return 0;
    }
    return mr_js_filestore_close(s);
}

const char *mr_js_store_errmsg(const struct mr_js_store *s)
{
    return s->errmsg;
}

enum mr_js_storage mr_js_store_storage(const struct mr_js_store *s)
{
    return s->storage;
}

bool mr_js_store_owns_req(const struct mr_js_store *s, uint64_t req_id)
{
    return s->fs != NULL && mr_js_filestore_owns_req(s, req_id);
}

void mr_js_store_on_file_done(struct mr_js_store *s, uint64_t req_id, int64_t result,
                              const uint8_t *data, size_t len)
{
    mr_assert(mr_js_store_owns_req(s, req_id));
    mr_js_filestore_on_file_done(s, req_id, result, data, len);
}

void mr_js_store_on_timer(struct mr_js_store *s)
{
    if (s->fs != NULL) {
        mr_js_filestore_on_timer(s);
    }
}

/* The phase check every operation starts with; reads are allowed when failed. */
static int usable(const struct mr_js_store *s, bool writes)
{
    switch (s->phase) {
    case JS_OPENING:
        return MR_AGAIN;
    case JS_OPEN:
        return 0;
    case JS_FAILED:
        return writes ? MR_E_IO : 0;
    case JS_CLOSING:
    case JS_CLOSED:
        return MR_E_CLOSED;
    }
    mr_assert(!"unknown phase");
    return MR_E_INVAL;
}

/* ---- append ---- */

static uint64_t msg_size(enum mr_js_storage storage, size_t subject_len, size_t hdr_len,
                         size_t data_len)
{
    if (storage == MR_JS_STORAGE_MEMORY) {
        return subject_len + hdr_len + data_len + 16;
    }
    return 22 + subject_len + data_len + 8 + (hdr_len > 0 ? 4 + hdr_len : 0);
}

static int mem_body(struct mr_js_store *s, const uint8_t *hdr, size_t hdr_len,
                    const uint8_t *data, size_t data_len, struct js_entry *loc)
{
    memset(loc, 0, sizeof(*loc));
    loc->loc.mem.hdr_len = (uint32_t)hdr_len;
    loc->loc.mem.data_len = (uint32_t)data_len;
    if (hdr_len + data_len == 0) {
        return 0;
    }
    uint8_t *buf = mr_mem_alloc(s->mem, hdr_len + data_len);
    if (buf == NULL) {
        return MR_E_NOMEM;
    }
    if (hdr_len > 0) {
        memcpy(buf, hdr, hdr_len);
    }
    if (data_len > 0) {
        memcpy(buf + hdr_len, data, data_len);
    }
    loc->loc.mem.buf = buf;
    return 0;
}

int mr_js_store_append(struct mr_js_store *s, const char *subject, size_t subject_len,
                       const uint8_t *hdr, size_t hdr_len, const uint8_t *data, size_t data_len,
                       int64_t ts_ns, uint64_t *seq)
{
    int rc = usable(s, true);
    if (rc != 0) {
        return rc;
    }
    if (subject_len == 0 || subject_len > UINT16_MAX ||
        !mr_subject_valid_literal(subject, subject_len)) {
        return MR_E_SUBJECT;
    }
    if (hdr_len > MR_PAYLOAD_MAX || data_len > MR_PAYLOAD_MAX - hdr_len) {
        return MR_E_PROTO_MAX_PAYLOAD;
    }
    if (s->last_seq >= MR_JS_SEQ_MAX) {
        return MR_E_LIMIT;
    }
    uint64_t next = s->last_seq + 1;
    struct js_entry loc;
    if (s->storage == MR_JS_STORAGE_MEMORY) {
        rc = mem_body(s, hdr, hdr_len, data, data_len, &loc);
    } else {
        struct mr_js_record r = {
            .kind = MR_JS_REC_MSG, .seq = next, .ts_ns = ts_ns, .subject = subject,
            .subject_len = subject_len, .hdr = hdr, .hdr_len = hdr_len, .data = data,
            .data_len = data_len,
        };
        rc = mr_js_filestore_append(s, &r, &loc);
    }
    if (rc != 0) {
        return rc;
    }
    rc = mr_js_store_index_add(s, next, subject, subject_len, ts_ns,
                      msg_size(s->storage, subject_len, hdr_len, data_len), &loc);
    if (rc != 0) {
        if (s->storage == MR_JS_STORAGE_MEMORY) {
            mem_body_free(s, &loc, false);
            return rc;
        }
        /* The record is already queued for the disk: the index can no longer follow
         * it, so the store stops taking writes rather than diverge. */
        s->phase = JS_FAILED;
        (void)snprintf(s->errmsg, sizeof(s->errmsg), "js store: index full at seq %llu",
                       (unsigned long long)next);
        mr_js_store_log(s, MR_LOG_ERROR, "%s", s->errmsg);
        return rc;
    }
    if (s->storage == MR_JS_STORAGE_MEMORY) {
        s->acked_seq = next;
        s->synced_seq = next;
    } else {
        mr_js_filestore_flush(s);
    }
    *seq = next;
    mr_assert(s->last_seq == next);
    return 0;
}

uint64_t mr_js_store_acked_seq(const struct mr_js_store *s)
{
    return s->acked_seq;
}

/* ---- loads ---- */

static int load_entry(struct mr_js_store *s, uint64_t seq, const struct js_entry *e,
                      struct mr_js_msg *out)
{
    mr_assert(e->subj != NULL);
    if (s->storage == MR_JS_STORAGE_FILE) {
        return mr_js_filestore_load(s, e, seq, out);
    }
    memset(out, 0, sizeof(*out));
    out->seq = seq;
    out->ts_ns = e->ts_ns;
    out->subject = e->subj->key.name;
    out->subject_len = e->subj->key.len;
    out->hdr_len = e->loc.mem.hdr_len;
    out->hdr = out->hdr_len > 0 ? e->loc.mem.buf : NULL;
    out->data_len = e->loc.mem.data_len;
    out->data = e->loc.mem.buf != NULL ? e->loc.mem.buf + out->hdr_len : NULL;
    return 0;
}

int mr_js_store_load(struct mr_js_store *s, uint64_t seq, struct mr_js_msg *out)
{
    int rc = usable(s, false);
    if (rc != 0) {
        return rc;
    }
    memset(out, 0, sizeof(*out));
    out->seq = seq;
    struct js_entry *e = mr_js_store_index_get(s, seq);
    if (e == NULL || e->subj == NULL) {
        return MR_E_NOT_FOUND;
    }
    return load_entry(s, seq, e, out);
}

/* The first live sequence >= start matching filter, 0 if none. A literal filter only
 * walks its subject's hint range, and tightens first_hint when it walked from it. */
static uint64_t next_match(struct mr_js_store *s, const char *filter, size_t flen,
                           uint64_t start)
{
    uint64_t lo = start > s->base_seq ? start : s->base_seq;
    uint64_t hi = s->last_seq;
    struct js_subj *want = NULL;
    if (s->ents_count == 0 || lo > hi) {
        return 0;
    }
    if (filter_literal(filter, flen)) {
        want = subj_find(s, filter, flen);
        if (want == NULL) {
            return 0;
        }
        if (lo < want->first_hint) {
            lo = want->first_hint;
        }
        hi = want->last_hint < hi ? want->last_hint : hi;
    }
    bool from_hint = want != NULL && lo == want->first_hint;
    for (uint64_t q = lo; q <= hi; q++) {
        struct js_entry *e = ent_at(s, (size_t)(q - s->base_seq));
        if (e->subj == NULL) {
            continue;
        }
        if (want != NULL ? e->subj == want : subj_matches(e->subj, filter, flen)) {
            if (from_hint) {
                want->first_hint = q;
            }
            return q;
        }
    }
    return 0;
}

/* The last live sequence matching filter, 0 if none. */
static uint64_t last_match(struct mr_js_store *s, const char *filter, size_t flen)
{
    if (s->ents_count == 0) {
        return 0;
    }
    uint64_t hi = s->last_seq;
    struct js_subj *want = NULL;
    if (filter_literal(filter, flen)) {
        want = subj_find(s, filter, flen);
        if (want == NULL) {
            return 0;
        }
        hi = want->last_hint < hi ? want->last_hint : hi;
    }
    for (uint64_t q = hi; q >= s->base_seq && q > 0; q--) {
        struct js_entry *e = ent_at(s, (size_t)(q - s->base_seq));
        if (e->subj == NULL) {
            continue;
        }
        if (want != NULL ? e->subj == want : subj_matches(e->subj, filter, flen)) {
            if (want != NULL) {
                want->last_hint = q;
            }
            return q;
        }
    }
    mr_assert(want == NULL); /* a subject in the table has a live message */
    return 0;
}

int mr_js_store_load_next(struct mr_js_store *s, const char *filter, size_t filter_len,
                          uint64_t start_seq, struct mr_js_msg *out)
{
    int rc = usable(s, false);
    if (rc != 0) {
        return rc;
    }
    memset(out, 0, sizeof(*out));
    uint64_t q = next_match(s, filter, filter_len, start_seq);
    if (q == 0) {
        return MR_E_NOT_FOUND;
    }
    out->seq = q;
    return load_entry(s, q, mr_js_store_index_get(s, q), out);
}

int mr_js_store_load_last(struct mr_js_store *s, const char *filter, size_t filter_len,
                          struct mr_js_msg *out)
{
    int rc = usable(s, false);
    if (rc != 0) {
        return rc;
    }
    memset(out, 0, sizeof(*out));
    uint64_t q = last_match(s, filter, filter_len);
    if (q == 0) {
        return MR_E_NOT_FOUND;
    }
    out->seq = q;
    return load_entry(s, q, mr_js_store_index_get(s, q), out);
}

/* The first live sequence at or after seq, last_seq + 1 if none. */
static uint64_t live_from(struct mr_js_store *s, uint64_t seq)
{
    seq = seq > s->base_seq ? seq : s->base_seq;
    while (seq <= s->last_seq && mr_js_store_index_get(s, seq)->subj == NULL) {
        seq++;
    }
    return seq;
}

/*
 * A binary search over the index, which keeps every message's time in memory, so no
 * block is read. It assumes times grow with the sequence, as nats-server does. A probe
 * that lands on deleted sequences moves on to the next live one below hi; when there is
 * none, the answer (if any) is below the probe, or is hi itself.
 */
uint64_t mr_js_store_seq_from_time(struct mr_js_store *s, int64_t t_ns)
{
    uint64_t lo = mr_js_store_index_first(s);
    uint64_t hi = s->last_seq + 1;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        uint64_t p = live_from(s, mid);
        if (p >= hi) {
            hi = mid;
        } else if (mr_js_store_index_get(s, p)->ts_ns >= t_ns) {
            hi = p;
        } else {
            lo = p + 1;
        }
    }
    uint64_t seq = live_from(s, lo);
    mr_assert(seq >= mr_js_store_index_first(s));
    mr_assert(seq <= s->last_seq + 1);
    return seq;
}

uint64_t mr_js_store_first_of(struct mr_js_store *s, const char *subject, size_t subject_len)
{
    if (usable(s, false) != 0 || !filter_literal(subject, subject_len)) {
        return 0;
    }
    return next_match(s, subject, subject_len, 0);
}

uint64_t mr_js_store_last_of(struct mr_js_store *s, const char *subject, size_t subject_len)
{
    if (usable(s, false) != 0 || !filter_literal(subject, subject_len)) {
        return 0;
    }
    return last_match(s, subject, subject_len);
}

/* ---- deletes ---- */

int mr_js_store_delete(struct mr_js_store *s, uint64_t seq, bool erase)
{
    int rc = usable(s, true);
    if (rc != 0) {
        return rc;
    }
    struct js_entry *e = mr_js_store_index_get(s, seq);
    if (e == NULL || e->subj == NULL) {
        return MR_E_NOT_FOUND;
    }
    if (s->fs != NULL && mr_js_filestore_room(s, 1, MR_JS_RECORD_OVERHEAD) != 0) {
        return MR_E_LIMIT;
    }
    struct js_entry gone;
    bool removed = mr_js_store_index_remove(s, seq, &gone);
    mr_assert(removed);
    rc = body_deleted(s, seq, &gone, erase);
    if (s->fs != NULL) {
        mr_js_filestore_flush(s);
    }
    return rc;
}

int mr_js_store_compact(struct mr_js_store *s, uint64_t seq, uint64_t *purged)
{
    int rc = usable(s, true);
    if (rc != 0) {
        return rc;
    }
    if (seq == 0 || seq > MR_JS_SEQ_MAX) {
        return MR_E_INVAL;
    }
    if (s->fs != NULL && mr_js_filestore_room(s, 1, MR_JS_RECORD_OVERHEAD) != 0) {
        return MR_E_LIMIT;
    }
    uint64_t n = mr_js_store_index_remove_below(s, seq);
    if (s->fs != NULL) {
        rc = mr_js_filestore_mark(s, mr_js_store_index_first(s));
        mr_js_filestore_flush(s);
    }
    if (purged != NULL) {
        *purged = n;
    }
    return rc;
}

/* The sequence of the keep-th newest live message matching filter (0 if fewer). */
static uint64_t keep_floor(struct mr_js_store *s, const char *filter, size_t flen,
                           uint64_t keep)
{
    uint64_t seen = 0;
    for (uint64_t q = s->last_seq; s->ents_count > 0 && q >= s->base_seq; q--) {
        struct js_entry *e = ent_at(s, (size_t)(q - s->base_seq));
        if (e->subj != NULL && subj_matches(e->subj, filter, flen) && ++seen == keep) {
            return q;
        }
    }
    return 0;
}

int mr_js_store_purge(struct mr_js_store *s, const char *filter, size_t filter_len,
                      uint64_t up_to_seq, uint64_t keep, uint64_t *purged)
{
    int rc = usable(s, true);
    if (rc != 0) {
        return rc;
    }
    if (up_to_seq == 1) {
        up_to_seq = 0; /* nats-server reads sequence 1 as "no bound" */
    }
    if (up_to_seq > 0 && keep > 0) {
        return MR_E_INVAL;
    }
    if (!filter_all(filter, filter_len) && !mr_subject_valid(filter, filter_len)) {
        return MR_E_SUBJECT;
    }
    /* Every message below `below` that matches goes. */
    uint64_t below = up_to_seq > 0 ? up_to_seq : s->last_seq + 1;
    if (keep > 0 && filter_all(filter, filter_len)) {
        /* nats-server keeps the last `keep` sequences here, not messages: with deleted
         * sequences among them fewer messages stay. */
        below = keep >= s->msgs ? 0 : s->last_seq - keep + 1;
    } else if (keep > 0) {
        below = keep_floor(s, filter, filter_len, keep);
    }
    uint64_t n = 0;
    if (filter_all(filter, filter_len)) {
        /* Everything below a sequence: one mark instead of a tombstone each. */
        if (below > mr_js_store_index_first(s)) {
            rc = mr_js_store_compact(s, below, &n);
        }
        if (purged != NULL) {
            *purged = n;
        }
        return rc;
    }
    uint64_t matching = 0;
    for (uint64_t q = mr_js_store_index_first(s); q < below && q <= s->last_seq; q++) {
        struct js_entry *e = mr_js_store_index_get(s, q);
        if (e->subj != NULL && subj_matches(e->subj, filter, filter_len)) {
            matching++;
        }
    }
    if (s->fs != NULL && mr_js_filestore_room(s, matching, matching * MR_JS_RECORD_OVERHEAD)) {
        return MR_E_LIMIT;
    }
    for (uint64_t q = mr_js_store_index_first(s); q < below && q <= s->last_seq && rc == 0; q++) {
        struct js_entry *e = mr_js_store_index_get(s, q);
        if (e == NULL || e->subj == NULL || !subj_matches(e->subj, filter, filter_len)) {
            continue;
        }
        struct js_entry gone;
        bool removed = mr_js_store_index_remove(s, q, &gone);
        mr_assert(removed);
        rc = body_deleted(s, q, &gone, false);
        n++;
    }
    if (s->fs != NULL) {
        mr_js_filestore_flush(s);
    }
    if (purged != NULL) {
        *purged = n;
    }
    return rc;
}

/* ---- state ---- */

void mr_js_store_state(const struct mr_js_store *s, struct mr_js_store_state *out)
{
    memset(out, 0, sizeof(*out));
    out->msgs = s->msgs;
    out->bytes = s->bytes;
    out->first_seq = mr_js_store_index_first(s);
    out->last_seq = s->last_seq;
    out->first_ts_ns = s->ents_count > 0 ? ent_at(s, 0)->ts_ns : 0;
    out->last_ts_ns = s->last_ts_ns;
    out->num_deleted = s->ents_count - s->msgs;
    out->num_subjects = g_hash_table_size(s->subjects);
    out->acked_seq = s->acked_seq;
    out->synced_seq = s->synced_seq;
    out->recovered_unclean = s->recovered_unclean;
    out->corrupt_records = s->corrupt_records;
    out->corrupt_bytes = s->corrupt_bytes;
    out->truncated_bytes = s->truncated_bytes;
}

uint64_t mr_js_store_subject_count(const struct mr_js_store *s, const char *subject,
                                   size_t subject_len)
{
    const struct js_subj *subj = subj_find(s, subject, subject_len);
    return subj != NULL ? subj->count : 0;
}

/* Live messages in [from, to) that match filter (or are on subject want, if set). */
static uint64_t count_matching(struct mr_js_store *s, const char *filter, size_t filter_len,
                               const struct js_subj *want, uint64_t from, uint64_t to)
{
    uint64_t n = 0;
    for (uint64_t q = from; q < to; q++) {
        struct js_entry *e = ent_at(s, (size_t)(q - s->base_seq));
        if (e->subj != NULL &&
            (want != NULL ? e->subj == want : subj_matches(e->subj, filter, filter_len))) {
            n++;
        }
    }
    return n;
}

/*
 * A consumer asks this for every message it delivers (the pending count in the ack
 * reply), so it must not walk the stream each time. Without a filter and without holes
 * (the usual case: deletes at the front leave none) the count is the distance to
 * last_seq. Otherwise, when the total is known (no filter: msgs; a literal subject: its
 * count), the shorter side of start_seq is counted and subtracted if need be.
 */
void mr_js_store_filtered(struct mr_js_store *s, const char *filter, size_t filter_len,
                          uint64_t start_seq, struct mr_js_filtered *out)
{
    memset(out, 0, sizeof(*out));
    uint64_t first = mr_js_store_index_first(s);
    bool all = filter_all(filter, filter_len);
    if (all && start_seq <= first) {
        out->msgs = s->msgs;
        out->first_seq = s->msgs > 0 ? first : 0;
        out->last_seq = s->msgs > 0 ? last_match(s, NULL, 0) : 0;
        return;
    }
    uint64_t q = next_match(s, filter, filter_len, start_seq);
    if (q == 0) {
        return;
    }
    out->first_seq = q;
    out->last_seq = last_match(s, filter, filter_len);
    mr_assert(out->last_seq >= q);
    if (all && s->ents_count == s->msgs) {
        out->msgs = s->last_seq - q + 1; /* no holes: every sequence from q on is live */
        return;
    }
    const struct js_subj *want = NULL;
    uint64_t total = s->msgs;
    if (!all && filter_literal(filter, filter_len)) {
        want = subj_find(s, filter, filter_len);
        total = want->count;
        if (q == want->first_hint) {
            out->msgs = total; /* from the subject's oldest message on */
            return;
        }
    }
    bool known = all || want != NULL;
    if (known && q - first < out->last_seq - q) {
        out->msgs = total - count_matching(s, filter, filter_len, want, first, q);
    } else {
        out->msgs = count_matching(s, filter, filter_len, want, q, out->last_seq + 1);
    }
    mr_assert(out->msgs >= 1 && out->msgs <= total);
}

static gint subj_cmp(gconstpointer a, gconstpointer b)
{
    const struct js_subj *x = *(struct js_subj *const *)a;
    const struct js_subj *y = *(struct js_subj *const *)b;
    size_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
    int c = memcmp(x->key.name, y->key.name, n);
    if (c != 0) {
        return c;
    }
    return x->key.len < y->key.len ? -1 : (x->key.len > y->key.len ? 1 : 0);
}

int64_t mr_js_store_subjects(struct mr_js_store *s, const char *filter, size_t filter_len,
                             void (*each)(void *ctx, const char *subject, size_t len,
                                          uint64_t count),
                             void *ctx)
{
    /* Collected, then sorted: the table's order must not leak out. */
    GPtrArray *list = g_ptr_array_sized_new(g_hash_table_size(s->subjects));
    GHashTableIter it;
    gpointer v;
    g_hash_table_iter_init(&it, s->subjects);
    while (g_hash_table_iter_next(&it, NULL, &v)) {
        if (subj_matches(v, filter, filter_len)) {
            g_ptr_array_add(list, v);
        }
    }
    g_ptr_array_sort(list, subj_cmp);
    for (guint i = 0; i < list->len; i++) {
        const struct js_subj *subj = g_ptr_array_index(list, i);
        each(ctx, subj->key.name, subj->key.len, subj->count);
    }
    int64_t n = list->len;
    g_ptr_array_free(list, TRUE);
    return n;
}

void mr_js_store_check(const struct mr_js_store *s)
{
    uint64_t msgs = 0;
    uint64_t bytes = 0;
    mr_assert(s->ents_count <= s->ents_cap);
    if (s->ents_count > 0) {
        mr_assert(s->base_seq + s->ents_count - 1 == s->last_seq);
        mr_assert(ent_at(s, 0)->subj != NULL);
    }
    GHashTable *counts = g_hash_table_new(g_direct_hash, g_direct_equal);
    for (size_t i = 0; i < s->ents_count; i++) {
        const struct js_entry *e = ent_at(s, i);
        if (e->subj == NULL) {
            continue;
        }
        uint64_t seq = s->base_seq + i;
        msgs++;
        bytes += e->size;
        mr_assert(e->subj->first_hint <= seq);
        mr_assert(e->subj->last_hint >= seq);
        uint64_t c = GPOINTER_TO_SIZE(g_hash_table_lookup(counts, e->subj)) + 1;
        g_hash_table_insert(counts, e->subj, GSIZE_TO_POINTER(c));
    }
    mr_assert(msgs == s->msgs);
    mr_assert(bytes == s->bytes);
    mr_assert(g_hash_table_size(counts) == g_hash_table_size(s->subjects));
    GHashTableIter it;
    gpointer k;
    gpointer v;
    g_hash_table_iter_init(&it, counts);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        const struct js_subj *subj = k;
        mr_assert(subj->count == GPOINTER_TO_SIZE(v));
        mr_assert(subj_find(s, subj->key.name, subj->key.len) == subj);
    }
    g_hash_table_destroy(counts);
    mr_assert(s->acked_seq <= s->last_seq);
    if (s->fs != NULL) {
        mr_js_filestore_check(s);
    }
}
