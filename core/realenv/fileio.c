/* SPDX-License-Identifier: Apache-2.0 */
/*
 * File calls on one I/O worker thread (see fileio.h for the contract).
 *
 * Invariants:
 *  - A request is in exactly one place: the request queue (submitted, not started),
 *    the worker's hands, or the completion queue (finished, not collected). Both
 *    queues are FIFO lists threaded through the requests, under lock.
 *  - The worker runs one request at a time, in submission order; completions enter
 *    their queue in that order, so the loop delivers them in request order.
 *  - files, dirfd and file_handle_next belong to the worker while it runs and to the
 *    loop thread only before it starts and after it is joined.
 *  - Every allocation is counted in mem, under lock (both threads allocate and free).
 */
#include "core/realenv/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/env.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/mem.h"
#include "core/realenv/oserr.h"
#include "core/realenv/realenv.h"

/* Longest relative path a file call accepts (Linux PATH_MAX). */
#define PATH_BYTES_MAX 4096

enum req_kind {
    REQ_OPEN,
    REQ_WRITE,
    REQ_READ,
    REQ_SYNC,
    REQ_CLOSE,
    REQ_RENAME,
    REQ_REMOVE,
    REQ_LIST,
    REQ_SET_DIR, /* no completion: it only changes what later paths are relative to */
};

struct req {
    struct req *next; /* in whichever queue holds it */
    enum req_kind kind;
    uint64_t id;
    int64_t file;     /* handle; for REQ_SET_DIR the directory descriptor */
    uint64_t offset;
    size_t len;       /* write: bytes in buf; read: bytes asked */
    int flags;
    bool refused;     /* past MR_REALENV_FILE_QUEUE_MAX: completes with MR_E_LIMIT, unrun */
    const char *path; /* into bytes; NULL when the caller passed NULL */
    const char *path2;
    const uint8_t *buf; /* write data, into bytes */
    int64_t result;
    uint8_t *data; /* result bytes (counted in mem), handed to the collector */
    size_t data_len;
    size_t alloc_bytes; /* sizeof(struct req) plus bytes */
    uint8_t bytes[];
};

struct file {
    int64_t handle; /* hash key; never reused */
    int fd;
};

struct fifo {
    struct req *head;
    struct req *tail;
};

struct mr_fileio {
    pthread_mutex_t lock;
    pthread_cond_t wake; /* the worker waits here for requests or stop */
    struct fifo todo;    /* under lock */
    struct fifo done;    /* under lock */
    struct mr_mem mem;   /* under lock */
    bool stopping;       /* under lock */
    bool started;        /* loop thread only */
    pthread_t worker;
    int efd;
    uint64_t in_flight; /* loop thread only: queued for the worker, not collected */
    mr_fileio_done_fn done_fn; /* where completions go, on the loop thread */
    void *done_arg;

    GHashTable *files; /* int64 handle -> struct file (g_new); the worker's */
    int64_t file_handle_next;
    int dirfd; /* -1 = not set; the worker's */
};

/* ----------------------------------------------------------------------------------
 * Shared state, under lock
 * ---------------------------------------------------------------------------------- */

static void fifo_push(struct fifo *q, struct req *r)
{
    r->next = NULL;
    if (q->tail != NULL) {
        q->tail->next = r;
    } else {
        q->head = r;
    }
    q->tail = r;
}

static struct req *fifo_pop(struct fifo *q)
{
    struct req *r = q->head;
    if (r != NULL) {
        q->head = r->next;
        if (q->head == NULL) {
            q->tail = NULL;
        }
        r->next = NULL;
    }
    return r;
}

static void *mem_alloc(struct mr_fileio *io, size_t n)
{
    pthread_mutex_lock(&io->lock);
    void *p = mr_mem_alloc(&io->mem, n);
    pthread_mutex_unlock(&io->lock);
    mr_assert(p != NULL); /* unlimited budget: NULL means real OOM */
    return p;
}

static void *mem_shrink(struct mr_fileio *io, void *p, size_t old_n, size_t new_n)
{
    pthread_mutex_lock(&io->lock);
    void *q = mr_mem_realloc(&io->mem, p, old_n, new_n);
    pthread_mutex_unlock(&io->lock);
    mr_assert(q != NULL);
    return q;
}

static void mem_free(struct mr_fileio *io, void *p, size_t n)
{
    pthread_mutex_lock(&io->lock);
    mr_mem_free(&io->mem, p, n);
    pthread_mutex_unlock(&io->lock);
}

/* ----------------------------------------------------------------------------------
 * The worker's side: each request as the loop used to run it inside the call
 * ---------------------------------------------------------------------------------- */

/* Paths stay inside the store directory: relative, and no ".." component. */
static bool path_ok(const char *path, bool empty_ok)
{
    if (path == NULL || path[0] == '/' || strlen(path) >= PATH_BYTES_MAX) {
        return false;
    }
    if (path[0] == '\0') {
        return empty_ok;
    }
    const char *p = path;
    while (*p != '\0') {
        const char *end = strchr(p, '/');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            return false;
        }
        p += n;
        if (*p == '/') {
            p++;
        }
    }
    return true;
}

/* Why a path request cannot run at all, or 0. */
static int path_check(const struct mr_fileio *io, const char *path, bool empty_ok)
{
    if (io->dirfd < 0) {
        return MR_E_UNSUPPORTED;
    }
    return path_ok(path, empty_ok) ? 0 : MR_E_INVAL;
}

static struct file *file_lookup(struct mr_fileio *io, int64_t handle)
{
    return g_hash_table_lookup(io->files, &handle);
}

/* Creates the missing parent directories of path (mkdir -p of its dirname): the env
 * has no mkdir call, so creating a file creates where it lives. */
static int make_parents(struct mr_fileio *io, const char *path)
{
    char buf[PATH_BYTES_MAX];
    size_t len = strlen(path);
    mr_assert(len < sizeof(buf)); /* path_ok checked */
    memcpy(buf, path, len + 1);
    for (char *p = strchr(buf, '/'); p != NULL; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (buf[0] != '\0' && mkdirat(io->dirfd, buf, MR_FILEIO_DIR_MODE) != 0 &&
            errno != EEXIST) {
            return mr_oserr_from_errno(errno);
        }
        *p = '/';
    }
    return 0;
}

static int open_flags(int flags)
{
    int oflags = O_CLOEXEC;
    if ((flags & MR_FILE_READ) && (flags & MR_FILE_WRITE)) {
        oflags |= O_RDWR;
    } else if (flags & MR_FILE_WRITE) {
        oflags |= O_WRONLY;
    } else {
        oflags |= O_RDONLY;
    }
    if (flags & MR_FILE_CREATE) {
        oflags |= O_CREAT;
    }
    if (flags & MR_FILE_TRUNCATE) {
        oflags |= O_TRUNC;
    }
    return oflags;
}

static int64_t do_open(struct mr_fileio *io, const struct req *r)
{
    int rc = path_check(io, r->path, false);
    if (rc == 0 && (r->flags & MR_FILE_CREATE)) {
        rc = make_parents(io, r->path);
    }
    if (rc != 0) {
        return rc;
    }
    int fd = openat(io->dirfd, r->path, open_flags(r->flags), MR_FILEIO_FILE_MODE);
    if (fd < 0) {
        return mr_oserr_from_errno(errno);
    }
    struct file *f = g_new0(struct file, 1);
    f->handle = io->file_handle_next++;
    f->fd = fd;
    g_hash_table_insert(io->files, &f->handle, f);
    return f->handle;
}

static int64_t do_write(struct mr_fileio *io, const struct req *r)
{
    struct file *f = file_lookup(io, r->file);
    if (f == NULL) {
        return MR_E_INVAL;
    }
    size_t done = 0;
    while (done < r->len) {
        ssize_t n = pwrite(f->fd, r->buf + done, r->len - done, (off_t)(r->offset + done));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? mr_oserr_from_errno(errno) : MR_E_IO;
        }
        done += (size_t)n;
    }
    return (int64_t)done;
}

/* Reads into a fresh buffer; a short read at the end of the file shrinks it. */
static int64_t do_read(struct mr_fileio *io, struct req *r)
{
    struct file *f = file_lookup(io, r->file);
    if (f == NULL) {
        return MR_E_INVAL;
    }
    if (r->len > MR_REALENV_FILE_READ_MAX) {
        return MR_E_LIMIT;
    }
    if (r->len == 0) {
        return 0;
    }
    uint8_t *data = mem_alloc(io, r->len);
    size_t got = 0;
    while (got < r->len) {
        ssize_t n = pread(f->fd, data + got, r->len - got, (off_t)(r->offset + got));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            int e = errno;
            mem_free(io, data, r->len);
            return mr_oserr_from_errno(e);
        }
        if (n == 0) {
            break; /* end of file: a short read */
        }
        got += (size_t)n;
    }
    if (got == 0) {
        mem_free(io, data, r->len);
        return 0;
    }
    r->data = got < r->len ? mem_shrink(io, data, r->len, got) : data;
    r->data_len = got;
    return (int64_t)got;
}

static int64_t do_sync(struct mr_fileio *io, const struct req *r)
{
    struct file *f = file_lookup(io, r->file);
    if (f == NULL) {
        return MR_E_INVAL;
    }
    return fsync(f->fd) == 0 ? 0 : mr_oserr_from_errno(errno);
}

static int64_t do_close(struct mr_fileio *io, const struct req *r)
{
    struct file *f = file_lookup(io, r->file);
    if (f == NULL) {
        return MR_E_INVAL;
    }
    int rc = close(f->fd) == 0 ? 0 : mr_oserr_from_errno(errno);
    g_hash_table_remove(io->files, &f->handle);
    g_free(f);
    return rc;
}

/* Makes a rename durable: the directory entry lives in the parent directory. */
static int sync_parent(struct mr_fileio *io, const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_BYTES_MAX];
    if (slash == NULL) {
        snprintf(dir, sizeof(dir), ".");
    } else {
        snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path), path);
    }
    int fd = openat(io->dirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        return mr_oserr_from_errno(errno);
    }
    int rc = fsync(fd) == 0 ? 0 : mr_oserr_from_errno(errno);
    close(fd);
    return rc;
}

static int64_t do_rename(struct mr_fileio *io, const struct req *r)
{
    int rc = path_check(io, r->path, false);
    if (rc == 0 && !path_ok(r->path2, false)) {
        rc = MR_E_INVAL;
    }
    if (rc != 0) {
        return rc;
    }
    if (renameat(io->dirfd, r->path, io->dirfd, r->path2) != 0) {
        return mr_oserr_from_errno(errno);
    }
    return sync_parent(io, r->path2);
}

static int64_t do_remove(struct mr_fileio *io, const struct req *r)
{
    int rc = path_check(io, r->path, false);
    if (rc != 0) {
        return rc;
    }
    rc = unlinkat(io->dirfd, r->path, 0);
    if (rc != 0 && errno == EISDIR) {
        /* Directories go too (only when empty), so a store can clean up what
         * file_open's parent creation made. */
        rc = unlinkat(io->dirfd, r->path, AT_REMOVEDIR);
    }
    return rc == 0 ? 0 : mr_oserr_from_errno(errno);
}

static gint compare_names(gconstpointer a, gconstpointer b)
{
    /* strcmp compares as unsigned char: bytewise order. */
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The names in dir, except "." and "..", unsorted; NULL with *err set on failure. */
static GPtrArray *read_names(struct mr_fileio *io, const char *dir, int *err)
{
    int fd = openat(io->dirfd, dir[0] != '\0' ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        *err = mr_oserr_from_errno(errno);
        return NULL;
    }
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        *err = mr_oserr_from_errno(errno);
        close(fd);
        return NULL;
    }
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            g_ptr_array_add(names, g_strdup(e->d_name));
        }
    }
    closedir(d);
    return names;
}

static int64_t do_list(struct mr_fileio *io, struct req *r)
{
    int rc = path_check(io, r->path, true);
    GPtrArray *names = rc == 0 ? read_names(io, r->path, &rc) : NULL;
    if (names == NULL) {
        return rc;
    }
    g_ptr_array_sort(names, compare_names);
    size_t bytes = 0;
    for (guint i = 0; i < names->len; i++) {
        bytes += strlen(g_ptr_array_index(names, i)) + 1;
    }
    if (bytes > 0) {
        r->data = mem_alloc(io, bytes);
        r->data_len = bytes;
        size_t at = 0;
        for (guint i = 0; i < names->len; i++) {
            const char *name = g_ptr_array_index(names, i);
            size_t n = strlen(name) + 1;
            memcpy(r->data + at, name, n);
            at += n;
        }
        mr_assert(at == bytes);
    }
    int64_t count = names->len;
    g_ptr_array_free(names, TRUE);
    return count;
}

static void do_set_dir(struct mr_fileio *io, const struct req *r)
{
    if (io->dirfd >= 0) {
        close(io->dirfd);
    }
    io->dirfd = (int)r->file;
}

static int64_t run_req(struct mr_fileio *io, struct req *r)
{
    if (r->refused) {
        return MR_E_LIMIT;
    }
    switch (r->kind) {
    case REQ_OPEN:
        return do_open(io, r);
    case REQ_WRITE:
        return do_write(io, r);
    case REQ_READ:
        return do_read(io, r);
    case REQ_SYNC:
        return do_sync(io, r);
    case REQ_CLOSE:
        return do_close(io, r);
    case REQ_RENAME:
        return do_rename(io, r);
    case REQ_REMOVE:
        return do_remove(io, r);
    case REQ_LIST:
        return do_list(io, r);
    case REQ_SET_DIR:
        do_set_dir(io, r);
        return 0;
    }
    mr_assert(0);
    return MR_E_INVAL;
}

/* Moves a finished request to the completion queue; the first one in an empty queue
 * wakes the loop (later ones find the eventfd still readable). Called under lock. */
static void finish_locked(struct mr_fileio *io, struct req *r)
{
    bool was_empty = io->done.head == NULL;
    fifo_push(&io->done, r);
    if (was_empty) {
        uint64_t one = 1;
        /* Cannot fail short of a bad descriptor: the counter would need 2^64 wakes. */
        ssize_t n = write(io->efd, &one, sizeof(one));
        mr_assert(n == (ssize_t)sizeof(one));
    }
}

static void *worker_main(void *arg)
{
    struct mr_fileio *io = arg;
    pthread_mutex_lock(&io->lock);
    for (;;) {
        struct req *r = fifo_pop(&io->todo);
        if (r == NULL && io->stopping) {
            break; /* drained: everything submitted has run */
        }
        if (r == NULL) {
            pthread_cond_wait(&io->wake, &io->lock);
            continue;
        }
        pthread_mutex_unlock(&io->lock);
        r->result = run_req(io, r);
        pthread_mutex_lock(&io->lock);
        finish_locked(io, r);
    }
    pthread_mutex_unlock(&io->lock);
    return NULL;
}

/* ----------------------------------------------------------------------------------
 * The loop's side
 * ---------------------------------------------------------------------------------- */

static void start_worker(struct mr_fileio *io)
{
    /* The worker needs no signals: SIGINT and SIGTERM stay with the loop's signalfd
     * (a blocked mask is inherited, but block them here too in case it was not). */
    sigset_t all;
    sigset_t old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&io->worker, NULL, worker_main, io);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    /* Like OOM: without a thread for files the server cannot keep its promises. */
    mr_assert(rc == 0);
    io->started = true;
}

/* A request with room for extra bytes after it (paths, write data). */
static struct req *req_new(struct mr_fileio *io, enum req_kind kind, uint64_t id, size_t extra)
{
    size_t n = sizeof(struct req) + extra;
    struct req *r = mem_alloc(io, n);
    r->kind = kind;
    r->id = id;
    r->refused = false;
    r->alloc_bytes = n;
    return r;
}

static size_t path_bytes(const char *path)
{
    return path != NULL ? strlen(path) + 1 : 0;
}

/* Copies path into r's bytes at *at; NULL stays NULL (path_ok refuses it later). */
static const char *copy_path(struct req *r, size_t *at, const char *path)
{
    if (path == NULL) {
        return NULL;
    }
    size_t n = strlen(path) + 1;
    char *dst = (char *)r->bytes + *at;
    memcpy(dst, path, n);
    *at += n;
    return dst;
}

static struct req *req_paths(struct mr_fileio *io, enum req_kind kind, uint64_t id,
                             const char *path, const char *path2)
{
    struct req *r = req_new(io, kind, id, path_bytes(path) + path_bytes(path2));
    size_t at = 0;
    r->path = copy_path(r, &at, path);
    r->path2 = copy_path(r, &at, path2);
    mr_assert(sizeof(struct req) + at == r->alloc_bytes);
    return r;
}

/* Gives a finished request's result to done_fn and frees the request (not its data,
 * which the receiver now owns). Loop thread. */
static void hand_over(struct mr_fileio *io, struct req *r)
{
    struct mr_fileio_done d = {r->id, r->result, r->data, r->data_len};
    enum req_kind kind = r->kind;
    mr_assert(d.data == NULL || d.len > 0);
    mem_free(io, r, r->alloc_bytes);
    if (kind != REQ_SET_DIR) {
        io->done_fn(io->done_arg, &d);
    }
}

/*
 * Whether r may run inside the call, on the loop thread, as all file calls once did.
 * Only when nothing is queued for the worker or waiting to be collected: then nothing
 * can overtake or be overtaken, completions stay in request order, and the worker is
 * idle, so the loop may touch the files and the directory. Writes, reads, opens and
 * the like reach the page cache and return at once; fsync is what waits for the disk,
 * so sync and rename (which syncs the directory) always go to the worker, and so does
 * everything behind them until the loop has collected them.
 */
static bool runs_inline(const struct mr_fileio *io, const struct req *r)
{
    return io->in_flight == 0 && r->kind != REQ_SYNC && r->kind != REQ_RENAME;
}

/* Whether a request of this kind made now is refused (see MR_REALENV_FILE_QUEUE_MAX).
 * set_dir and close always run: one has no completion, the other frees an open file. */
static bool refused(const struct mr_fileio *io, enum req_kind kind)
{
    return io->in_flight >= MR_REALENV_FILE_QUEUE_MAX && kind != REQ_SET_DIR &&
           kind != REQ_CLOSE;
}

static void submit(struct mr_fileio *io, struct req *r)
{
    if (runs_inline(io, r)) {
        r->result = run_req(io, r);
        hand_over(io, r);
        return;
    }
    if (!io->started) {
        start_worker(io);
    }
    r->refused = refused(io, r->kind);
    io->in_flight++;
    pthread_mutex_lock(&io->lock);
    fifo_push(&io->todo, r);
    pthread_cond_signal(&io->wake);
    pthread_mutex_unlock(&io->lock);
}

int mr_fileio_create(struct mr_fileio **out, mr_fileio_done_fn done_fn, void *done_arg)
{
    mr_assert(out != NULL);
    int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (efd < 0) {
        return MR_E_IO;
    }
    struct mr_fileio *io = g_new0(struct mr_fileio, 1);
    pthread_mutex_init(&io->lock, NULL);
    pthread_cond_init(&io->wake, NULL);
    mr_mem_init(&io->mem, 0);
    io->efd = efd;
    io->done_fn = done_fn;
    io->done_arg = done_arg;
    io->files = g_hash_table_new(g_int64_hash, g_int64_equal);
    io->file_handle_next = 1;
    io->dirfd = -1;
    *out = io;
    return 0;
}

static void free_done_locked(struct mr_fileio *io)
{
    for (struct req *r = fifo_pop(&io->done); r != NULL; r = fifo_pop(&io->done)) {
        mr_mem_free(&io->mem, r->data, r->data_len);
        mr_mem_free(&io->mem, r, r->alloc_bytes);
    }
}

void mr_fileio_destroy(struct mr_fileio *io)
{
    if (io == NULL) {
        return;
    }
    if (io->started) {
        pthread_mutex_lock(&io->lock);
        io->stopping = true;
        pthread_cond_signal(&io->wake);
        pthread_mutex_unlock(&io->lock);
        pthread_join(io->worker, NULL);
    }
    mr_assert(io->todo.head == NULL); /* the worker drained it */
    free_done_locked(io); /* the worker is gone: no lock needed */
    GList *files = g_hash_table_get_values(io->files);
    for (GList *it = files; it != NULL; it = it->next) {
        struct file *f = it->data;
        close(f->fd);
        g_free(f);
    }
    g_list_free(files);
    g_hash_table_destroy(io->files);
    if (io->dirfd >= 0) {
        close(io->dirfd);
    }
    close(io->efd);
    mr_mem_deinit(&io->mem); /* asserts every request and data block came back */
    pthread_cond_destroy(&io->wake);
    pthread_mutex_destroy(&io->lock);
    g_free(io);
}

int mr_fileio_wake_fd(const struct mr_fileio *io)
{
    return io->efd;
}

void mr_fileio_set_dir(struct mr_fileio *io, int dirfd)
{
    mr_assert(dirfd >= 0);
    struct req *r = req_new(io, REQ_SET_DIR, 0, 0);
    r->file = dirfd;
    submit(io, r);
}

void mr_fileio_open(struct mr_fileio *io, uint64_t req_id, const char *path, int flags)
{
    struct req *r = req_paths(io, REQ_OPEN, req_id, path, NULL);
    r->flags = flags;
    submit(io, r);
}

void mr_fileio_write(struct mr_fileio *io, uint64_t req_id, int64_t file, uint64_t offset,
                     const uint8_t *buf, size_t len)
{
    /* The caller's buffer is borrowed only during the call (js_filestore passes
     * scratch space it reuses): a write queued for the worker writes a copy. */
    bool copy = io->in_flight > 0 && !refused(io, REQ_WRITE);
    struct req *r = req_new(io, REQ_WRITE, req_id, copy ? len : 0);
    if (copy && len > 0) {
        memcpy(r->bytes, buf, len);
    }
    r->buf = copy ? r->bytes : buf;
    r->file = file;
    r->offset = offset;
    r->len = len;
    submit(io, r);
}

void mr_fileio_read(struct mr_fileio *io, uint64_t req_id, int64_t file, uint64_t offset,
                    size_t len)
{
    struct req *r = req_new(io, REQ_READ, req_id, 0);
    r->file = file;
    r->offset = offset;
    r->len = len;
    submit(io, r);
}

void mr_fileio_sync(struct mr_fileio *io, uint64_t req_id, int64_t file)
{
    struct req *r = req_new(io, REQ_SYNC, req_id, 0);
    r->file = file;
    submit(io, r);
}

void mr_fileio_close(struct mr_fileio *io, uint64_t req_id, int64_t file)
{
    struct req *r = req_new(io, REQ_CLOSE, req_id, 0);
    r->file = file;
    submit(io, r);
}

void mr_fileio_rename(struct mr_fileio *io, uint64_t req_id, const char *from, const char *to)
{
    submit(io, req_paths(io, REQ_RENAME, req_id, from, to));
}

void mr_fileio_remove(struct mr_fileio *io, uint64_t req_id, const char *path)
{
    submit(io, req_paths(io, REQ_REMOVE, req_id, path, NULL));
}

void mr_fileio_list(struct mr_fileio *io, uint64_t req_id, const char *dir)
{
    submit(io, req_paths(io, REQ_LIST, req_id, dir, NULL));
}

void mr_fileio_collect(struct mr_fileio *io)
{
    /* Reset the eventfd before taking the queue: a completion pushed after the take
     * finds the queue empty and signals again, so none is left without a wake. */
    uint64_t count;
    if (read(io->efd, &count, sizeof(count)) < 0) {
        /* EAGAIN: no wake pending (an earlier collect took it); the queue decides. */
    }
    pthread_mutex_lock(&io->lock);
    struct req *r = io->done.head;
    io->done.head = NULL;
    io->done.tail = NULL;
    pthread_mutex_unlock(&io->lock);
    while (r != NULL) {
        struct req *next = r->next;
        mr_assert(io->in_flight > 0);
        io->in_flight--;
        hand_over(io, r);
        r = next;
    }
}

void mr_fileio_data_free(struct mr_fileio *io, uint8_t *data, size_t len)
{
    if (data != NULL) {
        mem_free(io, data, len);
    }
}
