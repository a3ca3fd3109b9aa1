/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulated disk (see sim_disk.h): an in-memory file system with a durable image
 * and a page-cache image per file.
 *
 * Layout: files live in a GTree keyed by path (bytewise order, so listings are sorted
 * without depending on hash order); an unlinked file lives on while handles refer to
 * it. Each file keeps its unsynced writes as a queue, oldest first, so a power loss
 * can replay a torn prefix of each in order.
 *
 * Invariants: a file's refs = open handles + 1 while it has a path; a file is freed
 * when refs reaches 0. pending_bytes is the sum of the queued writes' lengths.
 *
 * Ownership: the disk owns its files and handles; sim_disk_destroy frees everything,
 * open handles included.
 */
#include "sim/sim_disk.h"

#include <glib.h>
#include <string.h>

#include "core/assert.h"
#include "core/env.h"
#include "core/err.h"
#include "sim/sim_env.h"

struct sim_pwrite {
    uint64_t offset;
    size_t len;
    uint8_t data[];
};

struct sim_file {
    char *path;          /* owned; NULL once unlinked */
    GByteArray *current; /* what reads see */
    GByteArray *durable; /* what survives a power loss */
    GQueue pending;      /* struct sim_pwrite *, oldest first */
    uint64_t pending_bytes;
    uint32_t refs;
};

struct sim_handle {
    int64_t id;
    struct sim_file *file;
    int flags;
};

struct sim_disk {
    struct sim_rng rng;
    struct sim_disk_faults faults;
    GTree *files;       /* path -> struct sim_file * (key owned by the file) */
    GHashTable *handles; /* int64 id -> struct sim_handle *; lookup only */
    int64_t handle_next;
    uint64_t unsynced_bytes;
    uint64_t bit_rots;
};

static bool ratio_hit(struct sim_disk *d, struct sim_ratio r)
{
    if (r.num == 0 || r.den == 0) {
        return false;
    }
    return sim_rng_below(&d->rng, r.den) < r.num;
}

static int path_cmp(gconstpointer a, gconstpointer b, gpointer ctx)
{
    (void)ctx;
    return strcmp(a, b);
}

static void pending_clear(struct sim_disk *d, struct sim_file *f)
{
    struct sim_pwrite *pw;
    while ((pw = g_queue_pop_head(&f->pending)) != NULL) {
        g_free(pw);
    }
    mr_assert(d->unsynced_bytes >= f->pending_bytes);
    d->unsynced_bytes -= f->pending_bytes;
    f->pending_bytes = 0;
}

static void image_copy(GByteArray *to, const GByteArray *from)
{
    g_byte_array_set_size(to, from->len);
    if (from->len > 0) {
        memcpy(to->data, from->data, from->len);
    }
}

/* Writes buf at offset into img, zero-filling any gap past its end. */
static void image_write(GByteArray *img, uint64_t offset, const uint8_t *buf, size_t len)
{
    if (len == 0) {
        return;
    }
    uint64_t end = offset + len;
    mr_assert(end <= G_MAXUINT);
    if (end > img->len) {
        size_t old = img->len;
        g_byte_array_set_size(img, (guint)end);
        memset(img->data + old, 0, end - old);
    }
    memcpy(img->data + offset, buf, len);
}

static struct sim_file *file_new(void)
{
    struct sim_file *f = g_new0(struct sim_file, 1);
    f->current = g_byte_array_new();
    f->durable = g_byte_array_new();
    g_queue_init(&f->pending);
    return f;
}

static void file_unref(struct sim_disk *d, struct sim_file *f)
{
    mr_assert(f->refs > 0);
    f->refs--;
    if (f->refs > 0) {
        return;
    }
    mr_assert(f->path == NULL);
    pending_clear(d, f);
    g_byte_array_unref(f->current);
    g_byte_array_unref(f->durable);
    g_free(f);
}

/* Takes the file out of the namespace; handles keep it alive. */
static void file_unlink(struct sim_disk *d, struct sim_file *f)
{
    mr_assert(f->path != NULL);
    g_tree_remove(d->files, f->path);
    g_free(f->path);
    f->path = NULL;
    file_unref(d, f);
}

static void handle_free(gpointer p)
{
    g_free(p);
}

struct sim_disk *sim_disk_create(uint64_t seed, uint64_t stream_id)
{
    struct sim_disk *d = g_new0(struct sim_disk, 1);
    sim_rng_init(&d->rng, seed, stream_id);
    d->files = g_tree_new_full(path_cmp, NULL, NULL, NULL);
    d->handles = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL, handle_free);
    d->handle_next = 1;
    return d;
}

static void close_all(struct sim_disk *d)
{
    /* Collect first: unref may free files; the order of unrefs is not observable. */
    GPtrArray *files = g_ptr_array_new();
    GHashTableIter it;
    gpointer k;
    gpointer v;
    g_hash_table_iter_init(&it, d->handles);
    while (g_hash_table_iter_next(&it, &k, &v)) {
        g_ptr_array_add(files, ((struct sim_handle *)v)->file);
    }
    g_hash_table_remove_all(d->handles);
    for (guint i = 0; i < files->len; i++) {
        file_unref(d, g_ptr_array_index(files, i));
    }
    g_ptr_array_free(files, TRUE);
}

static gboolean collect_file(gpointer key, gpointer value, gpointer ctx)
{
    (void)key;
    g_ptr_array_add(ctx, value);
    return FALSE;
}

/* The linked files in path order. */
static GPtrArray *files_in_order(const struct sim_disk *d)
{
    GPtrArray *a = g_ptr_array_new();
    g_tree_foreach(d->files, collect_file, a);
    return a;
}

void sim_disk_destroy(struct sim_disk *d)
{
    if (d == NULL) {
        return;
    }
    close_all(d);
    GPtrArray *files = files_in_order(d);
    for (guint i = 0; i < files->len; i++) {
        file_unlink(d, g_ptr_array_index(files, i));
    }
    g_ptr_array_free(files, TRUE);
    mr_assert(d->unsynced_bytes == 0);
    g_tree_destroy(d->files);
    g_hash_table_destroy(d->handles);
    g_free(d);
}

void sim_disk_set_faults(struct sim_disk *d, const struct sim_disk_faults *faults)
{
    mr_assert(faults != NULL);
    mr_assert(faults->torn_write.num <= faults->torn_write.den || faults->torn_write.den == 0);
    d->faults = *faults;
}

static struct sim_handle *handle_get(struct sim_disk *d, int64_t file)
{
    return g_hash_table_lookup(d->handles, &file);
}

int64_t sim_disk_open(struct sim_disk *d, const char *path, int flags)
{
    mr_assert(path != NULL);
    if (path[0] == '\0' || (flags & (MR_FILE_READ | MR_FILE_WRITE)) == 0) {
        return MR_E_INVAL;
    }
    struct sim_file *f = g_tree_lookup(d->files, path);
    if (f == NULL) {
        if ((flags & MR_FILE_CREATE) == 0) {
            return MR_E_NOT_FOUND;
        }
        f = file_new();
        f->path = g_strdup(path);
        f->refs = 1;
        g_tree_insert(d->files, f->path, f);
    }
    /* Truncation is a namespace-like change here: durable at once (documented). */
    if ((flags & MR_FILE_TRUNCATE) != 0) {
        pending_clear(d, f);
        g_byte_array_set_size(f->current, 0);
        g_byte_array_set_size(f->durable, 0);
    }
    struct sim_handle *h = g_new0(struct sim_handle, 1);
    h->id = d->handle_next++;
    h->file = f;
    h->flags = flags;
    f->refs++;
    g_hash_table_insert(d->handles, &h->id, h);
    mr_assert(h->id >= 1);
    return h->id;
}

int64_t sim_disk_write(struct sim_disk *d, int64_t file, uint64_t offset, const uint8_t *buf,
                       size_t len)
{
    mr_assert(buf != NULL || len == 0);
    struct sim_handle *h = handle_get(d, file);
    if (h == NULL || (h->flags & MR_FILE_WRITE) == 0) {
        return MR_E_INVAL;
    }
    if (len == 0) {
        return 0;
    }
    struct sim_file *f = h->file;
    image_write(f->current, offset, buf, len);
    struct sim_pwrite *pw = g_malloc(sizeof(*pw) + len);
    pw->offset = offset;
    pw->len = len;
    memcpy(pw->data, buf, len);
    g_queue_push_tail(&f->pending, pw);
    f->pending_bytes += len;
    d->unsynced_bytes += len;
    return (int64_t)len;
}

int64_t sim_disk_read(struct sim_disk *d, int64_t file, uint64_t offset, size_t len,
                      uint8_t **out)
{
    mr_assert(out != NULL);
    *out = NULL;
    struct sim_handle *h = handle_get(d, file);
    if (h == NULL || (h->flags & MR_FILE_READ) == 0) {
        return MR_E_INVAL;
    }
    const GByteArray *img = h->file->current;
    if (offset >= img->len || len == 0) {
        return 0;
    }
    size_t n = img->len - offset < len ? (size_t)(img->len - offset) : len;
    *out = g_memdup2(img->data + offset, n);
    if (ratio_hit(d, d->faults.read_corrupt)) {
        uint64_t bit = sim_rng_below(&d->rng, (uint64_t)n * 8);
        (*out)[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    return (int64_t)n;
}

int sim_disk_sync(struct sim_disk *d, int64_t file)
{
    struct sim_handle *h = handle_get(d, file);
    if (h == NULL) {
        return MR_E_INVAL;
    }
    struct sim_file *f = h->file;
    /* fsyncgate: the failed write-back marks the pages clean, so the data is gone
     * for good; reads fall back to the durable image. */
    if (ratio_hit(d, d->faults.fsync_error)) {
        pending_clear(d, f);
        image_copy(f->current, f->durable);
        return MR_E_IO;
    }
    pending_clear(d, f);
    image_copy(f->durable, f->current);
    return 0;
}

int sim_disk_close(struct sim_disk *d, int64_t file)
{
    struct sim_handle *h = handle_get(d, file);
    if (h == NULL) {
        return MR_E_INVAL;
    }
    struct sim_file *f = h->file;
    g_hash_table_remove(d->handles, &file);
    file_unref(d, f);
    return 0;
}

int sim_disk_rename(struct sim_disk *d, const char *from, const char *to)
{
    mr_assert(from != NULL);
    mr_assert(to != NULL);
    struct sim_file *f = g_tree_lookup(d->files, from);
    if (f == NULL || to[0] == '\0') {
        return MR_E_NOT_FOUND;
    }
    if (strcmp(from, to) == 0) {
        return 0;
    }
    struct sim_file *old = g_tree_lookup(d->files, to);
    if (old != NULL) {
        file_unlink(d, old);
    }
    g_tree_remove(d->files, f->path);
    g_free(f->path);
    f->path = g_strdup(to);
    g_tree_insert(d->files, f->path, f);
    return 0;
}

int sim_disk_remove(struct sim_disk *d, const char *path)
{
    mr_assert(path != NULL);
    struct sim_file *f = g_tree_lookup(d->files, path);
    if (f == NULL) {
        return MR_E_NOT_FOUND;
    }
    file_unlink(d, f);
    return 0;
}

static int name_cmp(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int64_t sim_disk_list(struct sim_disk *d, const char *dir, uint8_t **out, size_t *out_len)
{
    mr_assert(dir != NULL);
    mr_assert(out != NULL && out_len != NULL);
    *out = NULL;
    *out_len = 0;
    bool root = dir[0] == '\0' || strcmp(dir, ".") == 0;
    size_t dlen = strlen(dir);
    GPtrArray *files = files_in_order(d);
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    for (guint i = 0; i < files->len; i++) {
        const char *p = ((struct sim_file *)g_ptr_array_index(files, i))->path;
        if (!root) {
            if (strncmp(p, dir, dlen) != 0 || p[dlen] != '/') {
                continue;
            }
            p += dlen + 1;
        }
        const char *slash = strchr(p, '/');
        g_ptr_array_add(names, slash != NULL ? g_strndup(p, (gsize)(slash - p)) : g_strdup(p));
    }
    g_ptr_array_free(files, TRUE);
    if (names->len == 0 && !root) {
        g_ptr_array_free(names, TRUE);
        return MR_E_NOT_FOUND;
    }
    /* Path order is not name order ("b-1" sorts before "b/x"): sort, then dedupe. */
    g_ptr_array_sort(names, name_cmp);
    GByteArray *buf = g_byte_array_new();
    int64_t count = 0;
    const char *prev = NULL;
    for (guint i = 0; i < names->len; i++) {
        const char *n = g_ptr_array_index(names, i);
        if (prev != NULL && strcmp(prev, n) == 0) {
            continue;
        }
        g_byte_array_append(buf, (const guint8 *)n, (guint)strlen(n) + 1);
        prev = n;
        count++;
    }
    g_ptr_array_free(names, TRUE);
    *out_len = buf->len;
    *out = g_byte_array_free(buf, FALSE);
    if (*out_len == 0) {
        g_free(*out);
        *out = NULL;
    }
    return count;
}

/* Power loss for one file: the durable image stays; each unsynced write, in order,
 * either vanishes or (torn_write) leaves a random prefix of itself on disk. */
static void file_power_loss(struct sim_disk *d, struct sim_file *f)
{
    for (GList *l = f->pending.head; l != NULL; l = l->next) {
        const struct sim_pwrite *pw = l->data;
        if (!ratio_hit(d, d->faults.torn_write)) {
            continue;
        }
        size_t keep = (size_t)sim_rng_below(&d->rng, pw->len);
        image_write(f->durable, pw->offset, pw->data, keep);
    }
    pending_clear(d, f);
    image_copy(f->current, f->durable);
}

/* The bit_rot fault: one bit of one eligible file, both images (drawn from the
 * disk's stream over the files in path order, so the same seed rots the same bit). */
static void bit_rot(struct sim_disk *d)
{
    if (!ratio_hit(d, d->faults.bit_rot)) {
        return;
    }
    const char *suffix = d->faults.bit_rot_suffix;
    size_t sl = strnlen(suffix, sizeof(d->faults.bit_rot_suffix));
    GPtrArray *files = files_in_order(d);
    GPtrArray *eligible = g_ptr_array_new();
    for (guint i = 0; i < files->len; i++) {
        struct sim_file *f = g_ptr_array_index(files, i);
        size_t pl = strlen(f->path);
        if (f->current->len > 0 && pl >= sl && memcmp(f->path + pl - sl, suffix, sl) == 0) {
            g_ptr_array_add(eligible, f);
        }
    }
    if (eligible->len > 0) {
        struct sim_file *f = g_ptr_array_index(eligible, sim_rng_below(&d->rng, eligible->len));
        uint64_t bit = sim_rng_below(&d->rng, (uint64_t)f->current->len * 8);
        int rc = sim_disk_flip_bit(d, f->path, bit);
        mr_assert(rc == 0);
        d->bit_rots++;
    }
    g_ptr_array_free(eligible, TRUE);
    g_ptr_array_free(files, TRUE);
}

void sim_disk_crash(struct sim_disk *d, enum sim_crash_kind kind)
{
    mr_assert(kind == SIM_CRASH_PROCESS || kind == SIM_CRASH_POWER);
    close_all(d);
    if (kind == SIM_CRASH_POWER) {
        GPtrArray *files = files_in_order(d);
        for (guint i = 0; i < files->len; i++) {
            file_power_loss(d, g_ptr_array_index(files, i));
        }
        g_ptr_array_free(files, TRUE);
        mr_assert(d->unsynced_bytes == 0);
    }
    bit_rot(d);
}

uint64_t sim_disk_bit_rots(const struct sim_disk *d)
{
    return d->bit_rots;
}

bool sim_disk_exists(const struct sim_disk *d, const char *path)
{
    return g_tree_lookup(d->files, path) != NULL;
}

uint64_t sim_disk_size(const struct sim_disk *d, const char *path)
{
    const struct sim_file *f = g_tree_lookup(d->files, path);
    return f != NULL ? f->current->len : 0;
}

uint8_t *sim_disk_contents(const struct sim_disk *d, const char *path, bool durable,
                           size_t *len)
{
    mr_assert(len != NULL);
    *len = 0;
    const struct sim_file *f = g_tree_lookup(d->files, path);
    if (f == NULL) {
        return NULL;
    }
    const GByteArray *img = durable ? f->durable : f->current;
    *len = img->len;
    return img->len > 0 ? g_memdup2(img->data, img->len) : NULL;
}

int sim_disk_flip_bit(struct sim_disk *d, const char *path, uint64_t bit)
{
    struct sim_file *f = g_tree_lookup(d->files, path);
    if (f == NULL) {
        return MR_E_NOT_FOUND;
    }
    uint64_t byte = bit / 8;
    uint8_t mask = (uint8_t)(1u << (bit % 8));
    if (byte >= f->current->len) {
        return MR_E_INVAL;
    }
    f->current->data[byte] ^= mask;
    if (byte < f->durable->len) {
        f->durable->data[byte] ^= mask;
    }
    return 0;
}

uint64_t sim_disk_unsynced_bytes(const struct sim_disk *d)
{
    return d->unsynced_bytes;
}

void sim_disk_check(const struct sim_disk *d)
{
    GPtrArray *files = files_in_order(d);
    uint64_t total = 0;
    for (guint i = 0; i < files->len; i++) {
        const struct sim_file *f = g_ptr_array_index(files, i);
        mr_assert(f->path != NULL);
        mr_assert(f->refs >= 1);
        uint64_t sum = 0;
        for (const GList *l = f->pending.head; l != NULL; l = l->next) {
            sum += ((const struct sim_pwrite *)l->data)->len;
        }
        mr_assert(sum == f->pending_bytes);
        if (f->pending_bytes == 0) {
            mr_assert(f->current->len == f->durable->len);
        }
        total += f->pending_bytes;
    }
    g_ptr_array_free(files, TRUE);
    mr_assert(total <= d->unsynced_bytes);
}
