/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The store's internal state, shared by js_store.c (interface, index, memory bodies)
 * and js_filestore.c (file bodies) and by nothing else.
 *
 * The index: one entry per sequence from base_seq to last_seq, in a ring (ents), so the
 * oldest message is removed in O(1) and sequence lookups are O(1). A deleted sequence
 * keeps its entry (subj == NULL) until it reaches the front. Invariants:
 *  - ents_count == 0, or base_seq + ents_count - 1 == last_seq and the front entry is a
 *    live message (so state.first_seq == base_seq);
 *  - msgs and bytes are the sums over live entries; subj->count is the number of live
 *    entries pointing at subj, and a subject with count 0 is not in the table;
 *  - subj->first_hint <= its oldest live sequence, subj->last_hint >= its newest.
 */
#ifndef MR_JS_STORE_INT_H
#define MR_JS_STORE_INT_H

#include <glib.h>

#include "core/js/js_store.h"
#include "core/limits.h"

/* Key of the subject table: bytes and length, so any bytes compare exactly. */
struct js_skey {
    const char *name;
    size_t len;
};

struct js_subj {
    struct js_skey key; /* first member: the table hashes and compares it */
    uint64_t count;
    uint64_t first_hint;
    uint64_t last_hint;
    char name[]; /* len bytes and a NUL */
};

struct js_entry {
    struct js_subj *subj; /* NULL: deleted */
    int64_t ts_ns;
    uint64_t size; /* bytes counted in state.bytes */
    union {
        struct {
            uint8_t *buf; /* headers then payload; owned, NULL when both are empty */
            uint32_t hdr_len;
            uint32_t data_len;
        } mem;
        struct {
            uint32_t blk; /* block number */
            uint32_t off; /* record offset in the block */
            uint32_t len; /* record length */
        } file;
    } loc;
};

enum js_phase {
    JS_OPENING = 0, /* file store recovering */
    JS_OPEN = 1,
    JS_FAILED = 2,  /* a write or sync failed: reads still work, writes do not */
    JS_CLOSING = 3, /* close requested */
    JS_CLOSED = 4,
};

struct js_fs;

struct mr_js_store {
    struct mr_mem *mem;       /* borrowed */
    const struct mr_env *env; /* borrowed */
    enum mr_js_storage storage;
    struct mr_js_store_cbs cbs;
    enum js_phase phase;
    /* The index (see above). */
    struct js_entry *ents;
    size_t ents_cap; /* a power of two, or 0 */
    size_t ents_head;
    size_t ents_count;
    uint64_t base_seq;
    GHashTable *subjects; /* struct js_skey * -> struct js_subj *; lookup only */
    uint64_t msgs;
    uint64_t bytes;
    uint64_t last_seq;
    int64_t last_ts_ns;
    /* Durability and damage (the memory store acks at once). */
    uint64_t acked_seq;
    uint64_t synced_seq;
    bool recovered_unclean;
    uint64_t corrupt_records;
    uint64_t corrupt_bytes;
    uint64_t truncated_bytes;
    struct js_fs *fs; /* file store only */
    char errmsg[MR_ERRMSG_MAX];
};

/* Index operations for the file store's recovery (js_store.c). */
struct js_entry *mr_js_store_index_get(struct mr_js_store *s, uint64_t seq);
/* Adds a message at seq > last_seq (sequences between become deleted entries). The
 * subject is copied. Returns 0 or MR_E_NOMEM. */
int mr_js_store_index_add(struct mr_js_store *s, uint64_t seq, const char *subject,
                          size_t subject_len, int64_t ts_ns, uint64_t size,
                          const struct js_entry *loc);
/* Removes live message seq from the index without telling the backend; *gone gets the
 * entry as it was. Returns false if seq is not a live message. */
bool mr_js_store_index_remove(struct mr_js_store *s, uint64_t seq, struct js_entry *gone);
/* Removes every message below seq from the index (no backend); raises last_seq to
 * seq - 1 if lower. Returns the count removed. */
uint64_t mr_js_store_index_remove_below(struct mr_js_store *s, uint64_t seq);
/* Records that seq was used (a tombstone or erased record found at recovery whose
 * message is gone): last_seq becomes at least seq. Returns 0 or MR_E_NOMEM. */
int mr_js_store_index_raise_last(struct mr_js_store *s, uint64_t seq);
/* The oldest live sequence, or last_seq + 1 when empty. */
uint64_t mr_js_store_index_first(const struct mr_js_store *s);
/* Logs through the env with the module tag "js_store". */
void mr_js_store_log(struct mr_js_store *s, enum mr_log_level level, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

#endif
