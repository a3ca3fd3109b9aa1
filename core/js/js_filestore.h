/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The file store's backend: block files through the env's async file calls, recovery,
 * the block cache, and the sync policy. Called only by js_store.c, which keeps the
 * index; see js_filestore.c for the on-disk format and docs/jetstream-storage.md.
 */
#ifndef MR_JS_FILESTORE_H
#define MR_JS_FILESTORE_H

#include "core/js/js_record.h"
#include "core/js/js_store_int.h"

/* Validates the file settings of cfg, allocates s->fs and starts recovery. Returns 0,
 * MR_E_INVAL (detail in errmsg) or MR_E_NOMEM. */
int mr_js_filestore_create(struct mr_js_store *s, const struct mr_js_store_cfg *cfg,
                           char *errmsg, size_t errmsg_len);
/* Frees s->fs; asks the env to close open handles without waiting. */
void mr_js_filestore_destroy(struct mr_js_store *s);
int mr_js_filestore_close(struct mr_js_store *s);
bool mr_js_filestore_owns_req(const struct mr_js_store *s, uint64_t req_id);
void mr_js_filestore_on_file_done(struct mr_js_store *s, uint64_t req_id, int64_t result,
                                  const uint8_t *data, size_t len);
void mr_js_filestore_on_timer(struct mr_js_store *s);

/* 0 if `records` more records totalling `bytes` can be queued now, else MR_E_LIMIT. */
int mr_js_filestore_room(struct mr_js_store *s, uint64_t records, uint64_t bytes);
/* Appends message record r (kind MSG) to the write block; *loc gets its place. Returns
 * 0 or MR_E_NOMEM / MR_E_LIMIT (nothing changed then). */
int mr_js_filestore_append(struct mr_js_store *s, const struct mr_js_record *r,
                           struct js_entry *loc);
/* Reads the message at gone's place (see mr_js_store_load for the results). */
int mr_js_filestore_load(struct mr_js_store *s, const struct js_entry *e, uint64_t seq,
                         struct mr_js_msg *out);
/* Records that message seq (now out of the index, at gone's place) was deleted: a
 * tombstone, or with erase an in-place overwrite. Returns 0 or MR_E_NOMEM (the delete
 * stands in memory; the store is failed, as the disk can no longer follow it). */
int mr_js_filestore_deleted(struct mr_js_store *s, uint64_t seq, const struct js_entry *gone,
                            bool erase);
/* Records that nothing below first_seq exists any more (purge, compact). */
int mr_js_filestore_mark(struct mr_js_store *s, uint64_t first_seq);
/* Ends an operation: writes what it queued and drops blocks that hold no message any
 * more. Called once per operation. */
void mr_js_filestore_flush(struct mr_js_store *s);
void mr_js_filestore_check(const struct mr_js_store *s);

#endif
