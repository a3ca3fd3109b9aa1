/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Tests for the simulated disk (sim/sim_disk.h): append, read, sync, rename, remove,
 * list; crashes with and without sync (process keeps unsynced data, power loses it);
 * the faults (torn writes, fsync errors, read corruption caught by a checksum); and
 * the same operations through a host's env, where completions arrive as later events.
 */
#include <check.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "sim/sim_disk.h"
#include "sim/sim_env.h"

#define RW (MR_FILE_READ | MR_FILE_WRITE)
#define RWC (MR_FILE_READ | MR_FILE_WRITE | MR_FILE_CREATE)

static struct sim_disk *disk_new(void)
{
    return sim_disk_create(42, 7);
}

static void append_str(struct sim_disk *d, int64_t fh, const char *s)
{
    uint64_t size = 0;
    /* The handle's file size: read until the end. */
    uint8_t *buf = NULL;
    int64_t n;
    while ((n = sim_disk_read(d, fh, size, 4096, &buf)) > 0) {
        size += (uint64_t)n;
        g_free(buf);
    }
    ck_assert_int_eq(sim_disk_write(d, fh, size, (const uint8_t *)s, strlen(s)),
                     (int64_t)strlen(s));
}

static char *contents(struct sim_disk *d, const char *path, bool durable)
{
    size_t len;
    uint8_t *p = sim_disk_contents(d, path, durable, &len);
    char *s = p != NULL ? g_strndup((const char *)p, len) : g_strdup("");
    g_free(p);
    return s;
}

/* Reads the whole file through a fresh handle. */
static char *read_all(struct sim_disk *d, const char *path)
{
    int64_t fh = sim_disk_open(d, path, MR_FILE_READ);
    ck_assert_int_ge(fh, 1);
    uint8_t *buf = NULL;
    int64_t n = sim_disk_read(d, fh, 0, 1 << 20, &buf);
    ck_assert_int_ge(n, 0);
    char *s = g_strndup((const char *)buf, (gsize)n);
    g_free(buf);
    ck_assert_int_eq(sim_disk_close(d, fh), 0);
    return s;
}

START_TEST(append_read_and_sync)
{
    struct sim_disk *d = disk_new();
    ck_assert_int_eq(sim_disk_open(d, "log", RW), MR_E_NOT_FOUND);
    int64_t fh = sim_disk_open(d, "log", RWC);
    ck_assert_int_eq(fh, 1);
    append_str(d, fh, "hello ");
    append_str(d, fh, "world");
    g_autofree char *all = read_all(d, "log");
    ck_assert_str_eq(all, "hello world");
    ck_assert_uint_eq(sim_disk_unsynced_bytes(d), 11);
    g_autofree char *dur0 = contents(d, "log", true);
    ck_assert_str_eq(dur0, "");
    ck_assert_int_eq(sim_disk_sync(d, fh), 0);
    ck_assert_uint_eq(sim_disk_unsynced_bytes(d), 0);
    g_autofree char *dur1 = contents(d, "log", true);
    ck_assert_str_eq(dur1, "hello world");
    /* A write past the end leaves a zero gap. */
    ck_assert_int_eq(sim_disk_write(d, fh, 13, (const uint8_t *)"x", 1), 1);
    ck_assert_uint_eq(sim_disk_size(d, "log"), 14);
    uint8_t *buf = NULL;
    ck_assert_int_eq(sim_disk_read(d, fh, 11, 10, &buf), 3);
    ck_assert_int_eq(buf[0], 0);
    ck_assert_int_eq(buf[2], 'x');
    g_free(buf);
    ck_assert_int_eq(sim_disk_read(d, fh, 100, 10, &buf), 0);
    ck_assert_ptr_null(buf);
    ck_assert_int_eq(sim_disk_close(d, fh), 0);
    ck_assert_int_eq(sim_disk_close(d, fh), MR_E_INVAL);
    ck_assert_int_eq(sim_disk_write(d, fh, 0, (const uint8_t *)"x", 1), MR_E_INVAL);
    sim_disk_check(d);
    sim_disk_destroy(d);
}
END_TEST

START_TEST(read_only_handle_cannot_write_and_truncate_empties)
{
    struct sim_disk *d = disk_new();
    int64_t fh = sim_disk_open(d, "a", RWC);
    append_str(d, fh, "abc");
    ck_assert_int_eq(sim_disk_sync(d, fh), 0);
    int64_t ro = sim_disk_open(d, "a", MR_FILE_READ);
    ck_assert_int_gt(ro, fh);
    ck_assert_int_eq(sim_disk_write(d, ro, 0, (const uint8_t *)"z", 1), MR_E_INVAL);
    int64_t tr = sim_disk_open(d, "a", MR_FILE_WRITE | MR_FILE_TRUNCATE);
    ck_assert_int_ge(tr, 1);
    ck_assert_uint_eq(sim_disk_size(d, "a"), 0);
    ck_assert_int_eq(sim_disk_open(d, "", RWC), MR_E_INVAL);
    ck_assert_int_eq(sim_disk_open(d, "a", MR_FILE_CREATE), MR_E_INVAL);
    sim_disk_destroy(d);
}
END_TEST

START_TEST(rename_replaces_and_remove_keeps_open_handles)
{
    struct sim_disk *d = disk_new();
    int64_t a = sim_disk_open(d, "dir/a.tmp", RWC);
    append_str(d, a, "new");
    int64_t b = sim_disk_open(d, "dir/a", RWC);
    append_str(d, b, "old");
    ck_assert_int_eq(sim_disk_rename(d, "dir/a.tmp", "dir/a"), 0);
    ck_assert(!sim_disk_exists(d, "dir/a.tmp"));
    g_autofree char *s = read_all(d, "dir/a");
    ck_assert_str_eq(s, "new");
    /* The replaced file lives on through its handle. */
    uint8_t *buf = NULL;
    ck_assert_int_eq(sim_disk_read(d, b, 0, 10, &buf), 3);
    ck_assert_int_eq(memcmp(buf, "old", 3), 0);
    g_free(buf);
    ck_assert_int_eq(sim_disk_remove(d, "dir/a"), 0);
    ck_assert_int_eq(sim_disk_remove(d, "dir/a"), MR_E_NOT_FOUND);
    ck_assert_int_eq(sim_disk_rename(d, "nope", "x"), MR_E_NOT_FOUND);
    ck_assert_int_eq(sim_disk_write(d, a, 3, (const uint8_t *)"!", 1), 1);
    ck_assert_int_eq(sim_disk_read(d, a, 0, 10, &buf), 4);
    g_free(buf);
    sim_disk_check(d);
    sim_disk_destroy(d);
}
END_TEST

START_TEST(list_gives_sorted_direct_entries)
{
    struct sim_disk *d = disk_new();
    const char *paths[] = {"s/b/x", "s/b-1", "s/a", "s/b/y", "top", "s/c/d/e"};
    for (size_t i = 0; i < G_N_ELEMENTS(paths); i++) {
        ck_assert_int_ge(sim_disk_open(d, paths[i], RWC), 1);
    }
    uint8_t *out = NULL;
    size_t len = 0;
    ck_assert_int_eq(sim_disk_list(d, "s", &out, &len), 4);
    const char want[] = "a\0b\0b-1\0c";
    ck_assert_uint_eq(len, sizeof(want));
    ck_assert_int_eq(memcmp(out, want, len), 0);
    g_free(out);
    ck_assert_int_eq(sim_disk_list(d, "", &out, &len), 2);
    ck_assert_int_eq(memcmp(out, "s\0top", len), 0);
    g_free(out);
    ck_assert_int_eq(sim_disk_list(d, "missing", &out, &len), MR_E_NOT_FOUND);
    sim_disk_destroy(d);
}
END_TEST

START_TEST(process_crash_keeps_unsynced_power_crash_loses_it)
{
    struct sim_disk *d = disk_new();
    int64_t fh = sim_disk_open(d, "wal", RWC);
    append_str(d, fh, "synced;");
    ck_assert_int_eq(sim_disk_sync(d, fh), 0);
    append_str(d, fh, "unsynced;");
    sim_disk_crash(d, SIM_CRASH_PROCESS);
    /* Handles die with the process. */
    ck_assert_int_eq(sim_disk_sync(d, fh), MR_E_INVAL);
    g_autofree char *after_kill = read_all(d, "wal");
    ck_assert_str_eq(after_kill, "synced;unsynced;");
    /* The page cache was never flushed: a power loss now still loses it. */
    sim_disk_crash(d, SIM_CRASH_POWER);
    g_autofree char *after_power = read_all(d, "wal");
    ck_assert_str_eq(after_power, "synced;");
    ck_assert_uint_eq(sim_disk_unsynced_bytes(d), 0);
    sim_disk_check(d);
    sim_disk_destroy(d);
}
END_TEST

START_TEST(power_crash_without_sync_loses_everything_written)
{
    struct sim_disk *d = disk_new();
    int64_t fh = sim_disk_open(d, "f", RWC);
    append_str(d, fh, "lost");
    sim_disk_crash(d, SIM_CRASH_POWER);
    /* The create is durable (namespace changes are), the bytes are not. */
    ck_assert(sim_disk_exists(d, "f"));
    ck_assert_uint_eq(sim_disk_size(d, "f"), 0);
    sim_disk_destroy(d);
}
END_TEST

START_TEST(torn_write_keeps_a_strict_prefix)
{
    bool saw_partial = false;
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct sim_disk *d = sim_disk_create(seed, 3);
        struct sim_disk_faults f = {.torn_write = {1, 1}};
        sim_disk_set_faults(d, &f);
        int64_t fh = sim_disk_open(d, "f", RWC);
        append_str(d, fh, "base|");
        ck_assert_int_eq(sim_disk_sync(d, fh), 0);
        const char *rec = "0123456789abcdef";
        append_str(d, fh, rec);
        sim_disk_crash(d, SIM_CRASH_POWER);
        g_autofree char *s = read_all(d, "f");
        size_t kept = strlen(s) - 5;
        ck_assert_int_eq(strncmp(s, "base|", 5), 0);
        ck_assert_uint_lt(kept, strlen(rec));
        ck_assert_int_eq(strncmp(s + 5, rec, kept), 0);
        if (kept > 0) {
            saw_partial = true;
        }
        sim_disk_destroy(d);
    }
    ck_assert(saw_partial);
}
END_TEST

START_TEST(fsync_error_reports_io_and_drops_unsynced)
{
    struct sim_disk *d = disk_new();
    int64_t fh = sim_disk_open(d, "f", RWC);
    append_str(d, fh, "kept;");
    ck_assert_int_eq(sim_disk_sync(d, fh), 0);
    struct sim_disk_faults f = {.fsync_error = {1, 1}};
    sim_disk_set_faults(d, &f);
    append_str(d, fh, "dropped");
    ck_assert_int_eq(sim_disk_sync(d, fh), MR_E_IO);
    g_autofree char *s = read_all(d, "f");
    ck_assert_str_eq(s, "kept;");
    struct sim_disk_faults none = {0};
    sim_disk_set_faults(d, &none);
    ck_assert_int_eq(sim_disk_sync(d, fh), 0);
    sim_disk_destroy(d);
}
END_TEST

/* FNV-1a, the test's record checksum. */
static uint32_t checksum(const uint8_t *p, size_t len)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < len; i++) {
        h = (h ^ p[i]) * 16777619u;
    }
    return h;
}

START_TEST(read_corruption_is_caught_by_a_checksum)
{
    struct sim_disk *d = disk_new();
    int64_t fh = sim_disk_open(d, "blk", RWC);
    uint8_t rec[64];
    for (size_t i = 0; i < sizeof(rec); i++) {
        rec[i] = (uint8_t)(i * 7);
    }
    uint32_t sum = checksum(rec, sizeof(rec));
    ck_assert_int_eq(sim_disk_write(d, fh, 0, rec, sizeof(rec)), 64);
    struct sim_disk_faults f = {.read_corrupt = {1, 2}};
    sim_disk_set_faults(d, &f);
    int bad = 0;
    for (int i = 0; i < 200; i++) {
        uint8_t *buf = NULL;
        ck_assert_int_eq(sim_disk_read(d, fh, 0, sizeof(rec), &buf), 64);
        if (checksum(buf, 64) != sum) {
            bad++;
            /* Exactly one bit differs. */
            int bits = 0;
            for (size_t j = 0; j < 64; j++) {
                bits += __builtin_popcount((unsigned)(buf[j] ^ rec[j]));
            }
            ck_assert_int_eq(bits, 1);
        }
        g_free(buf);
    }
    ck_assert_int_gt(bad, 60);
    ck_assert_int_lt(bad, 140);
    /* The stored bytes are intact. */
    g_autofree char *cur = contents(d, "blk", false);
    ck_assert_int_eq(memcmp(cur, rec, 1), 0);
    /* Stored corruption (bit rot) is seen by every read. */
    ck_assert_int_eq(sim_disk_flip_bit(d, "blk", 9), 0);
    size_t len;
    uint8_t *img = sim_disk_contents(d, "blk", false, &len);
    ck_assert_uint_ne(checksum(img, len), sum);
    g_free(img);
    sim_disk_destroy(d);
}
END_TEST

/* ---- through the env ---- */

struct fsink {
    struct mr_env_sink sink;
    GArray *req_ids;
    GArray *results;
    GArray *times;
    GByteArray *data; /* the last completion's data */
    struct sim_world *w;
};

static void fs_on_file_done(void *ctx, uint64_t req_id, int64_t result, const uint8_t *data,
                            size_t len)
{
    struct fsink *f = ctx;
    g_array_append_val(f->req_ids, req_id);
    g_array_append_val(f->results, result);
    uint64_t now = sim_world_now_ns(f->w);
    g_array_append_val(f->times, now);
    g_byte_array_set_size(f->data, 0);
    g_byte_array_append(f->data, data, (guint)len);
}

static int64_t result_of(struct fsink *f, size_t i)
{
    return g_array_index(f->results, int64_t, i);
}

START_TEST(env_file_calls_complete_later_in_order)
{
    struct sim_world_opts o;
    sim_world_opts_default(&o);
    struct sim_world *w = sim_world_create(&o);
    struct sim_host *h = sim_host_create(w, "n1");
    struct fsink f = {.w = w};
    f.sink.ctx = &f;
    f.sink.on_file_done = fs_on_file_done;
    f.req_ids = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    f.results = g_array_new(FALSE, FALSE, sizeof(int64_t));
    f.times = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    f.data = g_byte_array_new();
    sim_host_set_sink(h, &f.sink);
    const struct mr_env *env = sim_host_env(h);
    env->file_open(env->ctx, 1, "s/x", RWC);
    ck_assert_uint_eq(f.req_ids->len, 0);
    while (sim_world_step(w)) {
    }
    ck_assert_uint_eq(f.req_ids->len, 1);
    int64_t fh = result_of(&f, 0);
    ck_assert_int_ge(fh, 1);
    ck_assert_uint_eq(g_array_index(f.times, uint64_t, 0), o.disk_latency_ns);
    env->file_write(env->ctx, 2, fh, 0, (const uint8_t *)"abc", 3);
    env->file_sync(env->ctx, 3, fh);
    env->file_read(env->ctx, 4, fh, 1, 10);
    env->file_list(env->ctx, 5, "s");
    while (sim_world_step(w)) {
    }
    ck_assert_uint_eq(f.req_ids->len, 5);
    for (guint i = 0; i < 5; i++) {
        ck_assert_uint_eq(g_array_index(f.req_ids, uint64_t, i), i + 1);
    }
    ck_assert_int_eq(result_of(&f, 1), 3);
    ck_assert_int_eq(result_of(&f, 2), 0);
    ck_assert_int_eq(result_of(&f, 3), 2);
    ck_assert_int_eq(result_of(&f, 4), 1);
    ck_assert_uint_eq(f.data->len, 2);
    ck_assert_int_eq(memcmp(f.data->data, "x", 2), 0);
    env->file_rename(env->ctx, 6, "s/x", "s/y");
    env->file_remove(env->ctx, 7, "s/x");
    env->file_close(env->ctx, 8, fh);
    while (sim_world_step(w)) {
    }
    ck_assert_int_eq(result_of(&f, 5), 0);
    ck_assert_int_eq(result_of(&f, 6), MR_E_NOT_FOUND);
    ck_assert_int_eq(result_of(&f, 7), 0);
    ck_assert(sim_disk_exists(sim_host_disk(h), "s/y"));
    sim_world_destroy(w);
    g_array_free(f.req_ids, TRUE);
    g_array_free(f.results, TRUE);
    g_array_free(f.times, TRUE);
    g_byte_array_free(f.data, TRUE);
}
END_TEST

START_TEST(host_crash_loses_unsynced_keeps_synced)
{
    for (int kind = SIM_CRASH_PROCESS; kind <= SIM_CRASH_POWER; kind++) {
        struct sim_world_opts o;
        sim_world_opts_default(&o);
        struct sim_world *w = sim_world_create(&o);
        struct sim_host *h = sim_host_create(w, "n1");
        struct sim_disk *d = sim_host_disk(h);
        int64_t fh = sim_disk_open(d, "wal", RWC);
        append_str(d, fh, "synced;");
        ck_assert_int_eq(sim_disk_sync(d, fh), 0);
        append_str(d, fh, "unsynced;");
        sim_host_crash(h, (enum sim_crash_kind)kind);
        ck_assert(!sim_host_up(h));
        sim_host_restart(h);
        g_autofree char *s = read_all(d, "wal");
        ck_assert_str_eq(s, kind == SIM_CRASH_PROCESS ? "synced;unsynced;" : "synced;");
        sim_world_destroy(w);
    }
}
END_TEST

START_TEST(power_crash_before_completion_loses_the_write)
{
    struct sim_world_opts o;
    sim_world_opts_default(&o);
    struct sim_world *w = sim_world_create(&o);
    struct sim_host *h = sim_host_create(w, "n1");
    struct fsink f = {.w = w};
    f.sink.ctx = &f;
    f.sink.on_file_done = fs_on_file_done;
    f.req_ids = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    f.results = g_array_new(FALSE, FALSE, sizeof(int64_t));
    f.times = g_array_new(FALSE, FALSE, sizeof(uint64_t));
    f.data = g_byte_array_new();
    sim_host_set_sink(h, &f.sink);
    const struct mr_env *env = sim_host_env(h);
    env->file_open(env->ctx, 1, "wal", RWC);
    sim_world_run_until(w, 1000000);
    int64_t fh = result_of(&f, 0);
    env->file_write(env->ctx, 2, fh, 0, (const uint8_t *)"acked?", 6);
    /* The host dies before the completion: the core never hears of the write, and
     * the bytes were never synced. */
    sim_host_crash(h, SIM_CRASH_POWER);
    sim_world_run_until(w, 2000000);
    ck_assert_uint_eq(f.req_ids->len, 1);
    ck_assert(sim_disk_exists(sim_host_disk(h), "wal"));
    ck_assert_uint_eq(sim_disk_size(sim_host_disk(h), "wal"), 0);
    sim_world_check(w);
    sim_world_destroy(w);
    g_array_free(f.req_ids, TRUE);
    g_array_free(f.results, TRUE);
    g_array_free(f.times, TRUE);
    g_byte_array_free(f.data, TRUE);
}
END_TEST

START_TEST(bit_rot_flips_one_bit_of_a_matching_file_per_crash)
{
    for (uint64_t seed = 1; seed <= 10; seed++) {
        struct sim_disk *d = sim_disk_create(seed, 3);
        struct sim_disk_faults f = {.bit_rot = {1, 1}};
        g_strlcpy(f.bit_rot_suffix, ".blk", sizeof(f.bit_rot_suffix));
        sim_disk_set_faults(d, &f);
        const char *text = "0123456789abcdef";
        int64_t a = sim_disk_open(d, "s/1.blk", RWC);
        int64_t b = sim_disk_open(d, "s/meta.json", RWC);
        append_str(d, a, text);
        append_str(d, b, text);
        ck_assert_int_eq(sim_disk_sync(d, a), 0);
        ck_assert_int_eq(sim_disk_sync(d, b), 0);
        sim_disk_crash(d, seed % 2 == 0 ? SIM_CRASH_POWER : SIM_CRASH_PROCESS);
        ck_assert_uint_eq(sim_disk_bit_rots(d), 1);
        g_autofree char *blk = read_all(d, "s/1.blk");
        g_autofree char *durable = contents(d, "s/1.blk", true);
        g_autofree char *meta = read_all(d, "s/meta.json");
        ck_assert_str_eq(meta, text); /* not a .blk: never rots */
        ck_assert_str_eq(blk, durable); /* both images */
        size_t diff = 0;
        for (size_t i = 0; i < strlen(text); i++) {
            diff += (size_t)__builtin_popcount((unsigned)(blk[i] ^ text[i]) & 0xffu);
        }
        ck_assert_uint_eq(diff, 1);
        sim_disk_destroy(d);
    }
}
END_TEST

START_TEST(bit_rot_never_by_default_and_not_on_empty_files)
{
    struct sim_disk *d = disk_new();
    int64_t a = sim_disk_open(d, "x.blk", RWC);
    append_str(d, a, "data");
    sim_disk_crash(d, SIM_CRASH_POWER);
    ck_assert_uint_eq(sim_disk_bit_rots(d), 0);
    struct sim_disk_faults f = {.bit_rot = {1, 1}};
    sim_disk_set_faults(d, &f);
    ck_assert_int_ge(sim_disk_open(d, "empty.blk", RWC), 1);
    sim_disk_crash(d, SIM_CRASH_PROCESS); /* x.blk lost its unsynced bytes: empty too */
    ck_assert_uint_eq(sim_disk_bit_rots(d), 0);
    sim_disk_destroy(d);
}
END_TEST

START_TEST(file_root_prefixes_every_env_path)
{
    struct sim_world_opts wo;
    sim_world_opts_default(&wo);
    struct sim_world *w = sim_world_create(&wo);
    struct sim_host *h = sim_host_create(w, "n1");
    sim_host_set_file_root(h, "/data/js/jetstream/");
    const struct mr_env *env = sim_host_env(h);
    env->file_open(env->ctx, 1, "a/b.blk", RWC);
    env->file_list(env->ctx, 2, "");
    ck_assert(sim_disk_exists(sim_host_disk(h), "/data/js/jetstream/a/b.blk"));
    ck_assert(!sim_disk_exists(sim_host_disk(h), "a/b.blk"));
    sim_world_destroy(w);
}
END_TEST

static Suite *sim_disk_suite(void)
{
    Suite *s = suite_create("sim_disk");
    TCase *tc = tcase_create("disk");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, append_read_and_sync);
    tcase_add_test(tc, read_only_handle_cannot_write_and_truncate_empties);
    tcase_add_test(tc, rename_replaces_and_remove_keeps_open_handles);
    tcase_add_test(tc, list_gives_sorted_direct_entries);
    tcase_add_test(tc, process_crash_keeps_unsynced_power_crash_loses_it);
    tcase_add_test(tc, power_crash_without_sync_loses_everything_written);
    tcase_add_test(tc, torn_write_keeps_a_strict_prefix);
    tcase_add_test(tc, fsync_error_reports_io_and_drops_unsynced);
    tcase_add_test(tc, read_corruption_is_caught_by_a_checksum);
    tcase_add_test(tc, bit_rot_flips_one_bit_of_a_matching_file_per_crash);
    tcase_add_test(tc, bit_rot_never_by_default_and_not_on_empty_files);
    suite_add_tcase(s, tc);
    TCase *env = tcase_create("env");
    tcase_set_timeout(env, 30);
    tcase_add_test(env, env_file_calls_complete_later_in_order);
    tcase_add_test(env, host_crash_loses_unsynced_keeps_synced);
    tcase_add_test(env, power_crash_before_completion_loses_the_write);
    tcase_add_test(env, file_root_prefixes_every_env_path);
    suite_add_tcase(s, env);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sim_disk_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
