/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The real env's file calls, run off the event loop on one I/O worker thread, so an
 * fsync (a `sync: always` publish, a consumer's state file) stalls only the requests
 * queued behind it, not every client of the server.
 *
 * The loop thread submits requests (mr_fileio_open ... mr_fileio_list); each returns at
 * once. Syncs and renames (which sync the directory: the calls that wait for the disk)
 * go to the worker, and so does every request made while anything is queued there or
 * not yet collected. The worker runs them in submission order, each to its end before
 * the next, so the order callers rely on holds across files and calls (write, then
 * sync, then rename; open, then the calls on its handle). Finished requests wait in a
 * completion queue, in the same order; the worker signals the eventfd
 * (mr_fileio_wake_fd) when that queue turns non-empty, and the loop takes them with
 * mr_fileio_collect. The other calls, made while the worker has nothing of ours, run
 * inside the call on the loop thread: a write to the page cache is quicker than a
 * handoff between threads (a synchronous publisher waits for each one).
 *
 * Either way a completion goes to the done_fn given at create, on the loop thread, in
 * request order: from collect, or from inside the submitting call when it ran there.
 * done_fn must only queue it (the env delivers in a later turn). While
 * MR_REALENV_FILE_QUEUE_MAX requests are with the worker and not collected, a new one
 * (but set_dir and close) is not run: it completes in its turn with MR_E_LIMIT, and a
 * refused write copies nothing.
 *
 * Ownership: paths and write data are copied at submission (the caller's buffers are
 * borrowed only during the call). A completion's data (read bytes, listed names) is
 * handed to the collector, which gives it back with mr_fileio_data_free. The worker
 * alone touches the open files and the store directory descriptor while it runs;
 * everything shared (the two queues and the byte counter) is under one mutex.
 *
 * The worker starts with the first request, so an env without files has no thread.
 * mr_fileio_destroy drains: requests already submitted still run (a write the core
 * issued before shutdown reaches the file, as when calls ran inside the call), then the
 * worker is joined and undelivered completions are freed.
 *
 * Every function but the worker's own is for the loop thread only.
 */
#ifndef MR_FILEIO_H
#define MR_FILEIO_H

#include <stddef.h>
#include <stdint.h>

/* Permissions for files and the directories file_open creates, as nats-server's. */
#define MR_FILEIO_FILE_MODE 0640
#define MR_FILEIO_DIR_MODE 0750

struct mr_fileio;

/* A finished request, as handed to mr_fileio_collect's callback. */
struct mr_fileio_done {
    uint64_t req_id;
    int64_t result; /* count or handle, or a negative mr_err */
    uint8_t *data;  /* owned by the receiver: give back with mr_fileio_data_free */
    size_t len;
};

/* Receives a completion; owns d->data from then on. */
typedef void (*mr_fileio_done_fn)(void *arg, struct mr_fileio_done *d);

/* Creates the queues and the eventfd (no thread yet); completions go to done_fn.
 * Returns 0 or MR_E_IO. */
int mr_fileio_create(struct mr_fileio **out, mr_fileio_done_fn done_fn, void *done_arg);
/* Runs what was submitted, joins the worker, closes every file, frees everything. Data
 * handed out by collect must have been given back first. */
void mr_fileio_destroy(struct mr_fileio *io);

/* Readable (level) while completions wait; mr_fileio_collect resets it. */
int mr_fileio_wake_fd(const struct mr_fileio *io);

/* Makes dirfd the directory later requests' paths are relative to; takes ownership.
 * Queued like a request, so requests submitted before still see the old one. */
void mr_fileio_set_dir(struct mr_fileio *io, int dirfd);

/* The env.h file calls, with realenv.h's rules; see there for results. */
void mr_fileio_open(struct mr_fileio *io, uint64_t req_id, const char *path, int flags);
void mr_fileio_write(struct mr_fileio *io, uint64_t req_id, int64_t file, uint64_t offset,
                     const uint8_t *buf, size_t len);
void mr_fileio_read(struct mr_fileio *io, uint64_t req_id, int64_t file, uint64_t offset,
                    size_t len);
void mr_fileio_sync(struct mr_fileio *io, uint64_t req_id, int64_t file);
void mr_fileio_close(struct mr_fileio *io, uint64_t req_id, int64_t file);
void mr_fileio_rename(struct mr_fileio *io, uint64_t req_id, const char *from, const char *to);
void mr_fileio_remove(struct mr_fileio *io, uint64_t req_id, const char *path);
void mr_fileio_list(struct mr_fileio *io, uint64_t req_id, const char *dir);

/* Hands every request the worker finished to done_fn, in submission order. */
void mr_fileio_collect(struct mr_fileio *io);
/* Gives back a completion's data (NULL is a no-op). */
void mr_fileio_data_free(struct mr_fileio *io, uint8_t *data, size_t len);

#endif
