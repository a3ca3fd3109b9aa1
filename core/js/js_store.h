/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JetStream message stores: one interface, two implementations (memory and file),
 * chosen by mr_js_store_cfg.storage. A stream keeps its messages in one store. The
 * store enforces no policy: limits (max_msgs, max_bytes, max_age, max_msgs_per_subject,
 * discard) belong to the stream layer, which calls delete and purge; the store makes
 * those calls cheap (the oldest message is state.first_seq, the oldest of a subject is
 * mr_js_store_first_of).
 *
 * Sequences start at 1 and only grow: a purge or delete never makes a sequence reusable.
 * Every message's subject, timestamp and size are indexed in memory, so filtering,
 * counting and state never touch the disk. Bodies live in memory (memory store) or in
 * block files (file store, js_filestore.c), of which the block being written and a
 * bounded number of recent blocks are cached.
 *
 * Asynchrony (file store only; the memory store never defers):
 *  - Open: the file store recovers from its block files first; on_open reports the
 *    outcome. Until then every operation returns MR_AGAIN.
 *  - Append: the sequence is assigned and the message is readable at once;
 *    mr_js_store_acked_seq() says up to which sequence appends are acknowledged (written
 *    to the OS, and with MR_JS_SYNC_ALWAYS fsynced too); on_acked reports each advance.
 *  - Loads: a message whose block is not cached returns MR_AGAIN and a read starts;
 *    on_ready says the read finished, and the load should be tried again.
 *  - Inputs: the owner forwards file completions whose req_id the store owns
 *    (mr_js_store_owns_req) and the firing of cfg.timer_id.
 *
 * Ownership: the store borrows mem and env for its life; views in a struct mr_js_msg
 * point into the store and stay valid until the next call into the store or input to it.
 * Callbacks are never called from inside a call into the store, only from inputs.
 */
#ifndef MR_JS_STORE_H
#define MR_JS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/env.h"
#include "core/mem.h"

enum mr_js_storage {
    MR_JS_STORAGE_MEMORY = 1,
    MR_JS_STORAGE_FILE = 2,
};

enum mr_js_sync {
    MR_JS_SYNC_INTERVAL = 0, /* fsync every sync_interval_ns; acks once written */
    MR_JS_SYNC_ALWAYS = 1,   /* fsync before acknowledging ("sync_interval: always") */
};

struct mr_js_store_cfg {
    enum mr_js_storage storage;
    /* File store: */
    const char *dir;           /* block directory, relative to the env's store root */
    uint64_t block_bytes;      /* 0 = MR_JS_BLOCK_BYTES_DEFAULT; MIN..MAX */
    enum mr_js_sync sync;      /* default MR_JS_SYNC_INTERVAL */
    uint64_t sync_interval_ns; /* 0 = MR_JS_SYNC_INTERVAL_DEFAULT_NS */
    uint32_t cache_blocks;     /* sealed blocks kept in memory; 0 = default, up to MAX */
    /* The store's file requests use ids req_id_base .. req_id_base + MR_JS_STORE_REQ_IDS
     * - 1, and its sync timer uses timer_id: the owner routes those inputs back. */
    uint64_t req_id_base;
    uint64_t timer_id;
};

struct mr_js_store_cbs {
    void *ctx;
    /* The file store finished recovering (status 0) or cannot open (negative mr_err,
     * detail in mr_js_store_errmsg); then it only accepts destroy. */
    void (*on_open)(void *ctx, int status);
    /* Appends up to seq are acknowledged (status 0), or the store failed to write or
     * sync them (negative mr_err): then the store is failed and appends return MR_E_IO. */
    void (*on_acked)(void *ctx, uint64_t seq, int status);
    /* A block read finished: loads that returned MR_AGAIN may be retried. */
    void (*on_ready)(void *ctx);
    /* mr_js_store_close finished: every handle is closed; destroy may follow. */
    void (*on_closed)(void *ctx);
};

/* A loaded message. Views point into the store (see ownership above). */
struct mr_js_msg {
    uint64_t seq;
    int64_t ts_ns;
    const char *subject;
    size_t subject_len;
    const uint8_t *hdr; /* NULL when the message has no headers */
    size_t hdr_len;
    const uint8_t *data;
    size_t data_len;
};

/* What a stream reports (nats-server's StreamState fields) plus what recovery found. */
struct mr_js_store_state {
    uint64_t msgs;
    uint64_t bytes; /* counted as nats-server does, per storage kind */
    uint64_t first_seq;
    uint64_t last_seq;
    int64_t first_ts_ns; /* 0 when empty */
    int64_t last_ts_ns;  /* the last appended message's, even if deleted since */
    uint64_t num_deleted; /* holes between first_seq and last_seq */
    uint64_t num_subjects;
    /* File store: durability and damage. */
    uint64_t acked_seq;        /* appends up to here are acknowledged */
    uint64_t synced_seq;       /* appends up to here are fsynced */
    bool recovered_unclean;    /* the last open found no clean-close mark */
    uint64_t corrupt_records;  /* damaged stretches skipped, or loads that failed checksums */
    uint64_t corrupt_bytes;    /* bytes in damaged stretches at recovery */
    uint64_t truncated_bytes;  /* torn tails dropped at recovery */
};

/* A subject filter's summary (nats-server's SimpleState). */
struct mr_js_filtered {
    uint64_t msgs;
    uint64_t first_seq; /* 0 when msgs == 0 */
    uint64_t last_seq;
};

struct mr_js_store;

/* Creates a store. The memory store is ready at once; the file store starts recovery
 * and reports through cbs.on_open. Returns 0, MR_E_NOMEM, or MR_E_INVAL for a bad
 * configuration (detail in errmsg). */
int mr_js_store_create(struct mr_mem *mem, const struct mr_env *env,
                       const struct mr_js_store_cfg *cfg, const struct mr_js_store_cbs *cbs,
                       struct mr_js_store **out, char *errmsg, size_t errmsg_len);
/* Frees the store and everything it holds at once, in any state. File handles still
 * open are closed without waiting (as a crash would leave them: unsynced writes stay
 * unsynced). Requests in flight complete later into nothing: the owner must drop them. */
void mr_js_store_destroy(struct mr_js_store *s);
/* File store: writes the clean-close mark, fsyncs, closes every block; on_closed
 * follows. Memory store: on_closed is not called; destroy directly. Afterwards every
 * operation returns MR_E_CLOSED. */
int mr_js_store_close(struct mr_js_store *s);
/* The detail of the last failure (open, write, sync), "" when none. */
const char *mr_js_store_errmsg(const struct mr_js_store *s);
enum mr_js_storage mr_js_store_storage(const struct mr_js_store *s);

/* Inputs, forwarded by the owner. */
bool mr_js_store_owns_req(const struct mr_js_store *s, uint64_t req_id);
void mr_js_store_on_file_done(struct mr_js_store *s, uint64_t req_id, int64_t result,
                              const uint8_t *data, size_t len);
void mr_js_store_on_timer(struct mr_js_store *s);

/* Appends a message; ts_ns is the caller's (stored, not interpreted). The subject must
 * be a valid literal subject of at most 65535 bytes (MR_E_SUBJECT), hdr_len + data_len
 * at most MR_PAYLOAD_MAX (MR_E_PROTO_MAX_PAYLOAD). *seq gets the new sequence.
 * Returns 0, MR_AGAIN (still opening), MR_E_NOMEM, MR_E_LIMIT (too many requests in
 * flight or blocks), MR_E_IO (store failed) or MR_E_CLOSED. */
int mr_js_store_append(struct mr_js_store *s, const char *subject, size_t subject_len,
                       const uint8_t *hdr, size_t hdr_len, const uint8_t *data, size_t data_len,
                       int64_t ts_ns, uint64_t *seq);
/* The highest sequence whose append is acknowledged. */
uint64_t mr_js_store_acked_seq(const struct mr_js_store *s);

/* The first live message stored at or after wall time t_ns (times are taken to grow
 * with the sequence), last_seq + 1 if none. Never reads a block: the index has every
 * message's time. */
uint64_t mr_js_store_seq_from_time(struct mr_js_store *s, int64_t t_ns);
/* Loads message seq. Returns 0, MR_E_NOT_FOUND (never stored, deleted or purged),
 * MR_AGAIN (block being read: wait for on_ready), or MR_E_IO (its record failed its
 * checksum: not served; counted in corrupt_records; the cached copy is dropped so a
 * later load reads the disk again). */
int mr_js_store_load(struct mr_js_store *s, uint64_t seq, struct mr_js_msg *out);
/* Loads the first message with sequence >= start_seq whose subject matches filter
 * (NULL, "" or ">" = every subject; wildcards allowed). out->seq is set even when the
 * result is MR_AGAIN or MR_E_IO, so the caller knows which sequence it waits for.
 * Returns as mr_js_store_load, MR_E_NOT_FOUND when no such message. */
int mr_js_store_load_next(struct mr_js_store *s, const char *filter, size_t filter_len,
                          uint64_t start_seq, struct mr_js_msg *out);
/* Loads the newest message whose subject matches filter (literal or wildcard). */
int mr_js_store_load_last(struct mr_js_store *s, const char *filter, size_t filter_len,
                          struct mr_js_msg *out);
/* The sequence of the oldest (first_of) or newest (last_of) message on a literal
 * subject, 0 when it has none. No disk access. */
uint64_t mr_js_store_first_of(struct mr_js_store *s, const char *subject, size_t subject_len);
uint64_t mr_js_store_last_of(struct mr_js_store *s, const char *subject, size_t subject_len);

/* Deletes message seq; with erase the stored bytes are overwritten first (secure
 * erase). Returns 0, MR_E_NOT_FOUND, MR_E_LIMIT, MR_E_IO or MR_E_CLOSED. */
int mr_js_store_delete(struct mr_js_store *s, uint64_t seq, bool erase);
/* nats-server's purge (PurgeEx): deletes the messages matching filter (NULL/""/">" =
 * all) with sequence < up_to_seq (0 or 1 = no bound), keeping the newest keep of them
 * (0 = none). up_to_seq > 1 and keep together are MR_E_INVAL, as in nats-server. For
 * every subject, keep counts sequences as nats-server does (everything below
 * last_seq - keep + 1 goes, unless keep >= msgs). *purged gets the count. A purge of
 * every subject moves first_seq past the purged range. */
int mr_js_store_purge(struct mr_js_store *s, const char *filter, size_t filter_len,
                      uint64_t up_to_seq, uint64_t keep, uint64_t *purged);
/* Deletes every message below seq; afterwards first_seq = seq (last_seq too is raised
 * to seq - 1 if it was lower). *purged gets the count. */
int mr_js_store_compact(struct mr_js_store *s, uint64_t seq, uint64_t *purged);

void mr_js_store_state(const struct mr_js_store *s, struct mr_js_store_state *out);
/* Messages on a literal subject (max_msgs_per_subject). No disk access. */
uint64_t mr_js_store_subject_count(const struct mr_js_store *s, const char *subject,
                                   size_t subject_len);
/* Summary of the messages matching filter with sequence >= start_seq. */
void mr_js_store_filtered(struct mr_js_store *s, const char *filter, size_t filter_len,
                          uint64_t start_seq, struct mr_js_filtered *out);
/* Calls each for every subject matching filter that has messages, in bytewise subject
 * order, with its count (last_per_subject delivery, stream info subjects). Returns the
 * number of subjects, or MR_E_NOMEM. */
int64_t mr_js_store_subjects(struct mr_js_store *s, const char *filter, size_t filter_len,
                             void (*each)(void *ctx, const char *subject, size_t len,
                                          uint64_t count),
                             void *ctx);

/* Asserts the store's invariants: O(messages). */
void mr_js_store_check(const struct mr_js_store *s);

#endif
