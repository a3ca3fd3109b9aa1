/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The simulated disk of one host: an in-memory file system behind the env's file_*
 * calls (core/env.h). The sim env calls these functions synchronously when the core
 * issues a request and delivers the result as a later FILE_DONE event; tests may call
 * them directly to set up or inspect a disk.
 *
 * Model: each file has a durable image (what survives a power loss) and a current
 * image (what reads see: the durable image plus the unsynced writes, like the OS page
 * cache); the unsynced writes are also kept as a list, oldest first. sim_disk_sync
 * makes the current image durable. A crash closes every handle; SIM_CRASH_PROCESS
 * keeps the unsynced writes (the OS survives and flushes its page cache), SIM_CRASH_POWER
 * loses them, except that with the torn_write fault a random prefix of an unsynced
 * write may survive (applied onto the durable image in write order).
 *
 * Namespace operations (create, truncate on open, rename, remove) take effect at once
 * and are durable at once: the need to fsync the directory after a rename or create
 * is NOT modelled. Directories are implicit: a directory exists while a file lives
 * under it, and paths are compared as plain strings ("a/b", never "./a//b").
 *
 * Invariants:
 *  - Handles are numbered from 1 and never reused within a disk's life (not even
 *    across crashes); a handle dies with sim_disk_close or a crash.
 *  - After sim_disk_sync of a file, its durable and current images are equal.
 *  - Every random draw (faults) comes from the disk's own seeded stream, so the same
 *    seed and the same calls give the same bytes.
 *
 * Ownership: the sim env creates one disk per host and frees it with the world
 * (sim_host_disk returns it, borrowed). Buffers passed in are borrowed and copied;
 * buffers returned are owned by the caller (g_free).
 */
#ifndef SIM_DISK_H
#define SIM_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How a host goes down (sim_host_crash, sim_disk_crash). */
enum sim_crash_kind {
    SIM_CRASH_PROCESS = 1, /* kill -9: memory lost, the page cache (unsynced data) kept */
    SIM_CRASH_POWER = 2,   /* power or OS loss: unsynced data lost, maybe torn */
};

/* A probability num/den in integer math; den == 0 or num == 0 means never. */
struct sim_ratio {
    uint32_t num;
    uint32_t den;
};

/* Optional faults of one disk; all zero (never) by default. */
struct sim_disk_faults {
    /* Per unsynced write at a power loss: a random prefix (0 to len - 1 bytes) of the
     * write survives instead of nothing. */
    struct sim_ratio torn_write;
    /* Per sim_disk_sync: fails with MR_E_IO and the file's unsynced writes are dropped
     * (the "fsyncgate" behaviour: reads then see the durable image). */
    struct sim_ratio fsync_error;
    /* Per sim_disk_read returning at least one byte: one random bit of the returned
     * copy is flipped (the stored bytes stay intact). */
    struct sim_ratio read_corrupt;
    /* Per crash (either kind), after its losses: one random bit of one random non-empty
     * file whose path ends with bit_rot_suffix ("" = any file) is flipped in both
     * images: stored corruption that the next reader must detect. */
    struct sim_ratio bit_rot;
    char bit_rot_suffix[16];
};

struct sim_disk;

/* Creates an empty disk whose fault draws come from stream stream_id of seed. */
struct sim_disk *sim_disk_create(uint64_t seed, uint64_t stream_id);
void sim_disk_destroy(struct sim_disk *d);
void sim_disk_set_faults(struct sim_disk *d, const struct sim_disk_faults *faults);

/* Opens path with enum mr_file_flags. Returns a handle (>= 1); MR_E_NOT_FOUND if the
 * file does not exist and MR_FILE_CREATE is not set; MR_E_INVAL for an empty path or
 * no READ/WRITE flag. MR_FILE_TRUNCATE empties the file (durably, see above). */
int64_t sim_disk_open(struct sim_disk *d, const char *path, int flags);
/* Writes len bytes at offset (a gap past the end reads as zeros). Returns len, or
 * MR_E_INVAL for a dead handle or one opened without MR_FILE_WRITE. */
int64_t sim_disk_write(struct sim_disk *d, int64_t file, uint64_t offset, const uint8_t *buf,
                       size_t len);
/* Reads up to len bytes at offset into a new buffer *out (g_free; NULL when 0 bytes).
 * Returns the count (0 at or past the end) or MR_E_INVAL for a bad handle. */
int64_t sim_disk_read(struct sim_disk *d, int64_t file, uint64_t offset, size_t len,
                      uint8_t **out);
/* Makes the file's unsynced writes durable. Returns 0, MR_E_IO (fsync_error fault;
 * the unsynced writes are dropped) or MR_E_INVAL for a bad handle. */
int sim_disk_sync(struct sim_disk *d, int64_t file);
/* Closes a handle (unsynced data stays unsynced). Returns 0 or MR_E_INVAL. */
int sim_disk_close(struct sim_disk *d, int64_t file);
/* POSIX rename: replaces `to` if it exists; open handles follow the file. Returns 0 or
 * MR_E_NOT_FOUND. */
int sim_disk_rename(struct sim_disk *d, const char *from, const char *to);
/* POSIX unlink: open handles keep working on the unlinked file. Returns 0 or
 * MR_E_NOT_FOUND. */
int sim_disk_remove(struct sim_disk *d, const char *path);
/* Lists the entries directly under dir ("" or "." = the root): file names and
 * implicit subdirectory names, each once, each ended by '\0', sorted bytewise, into a
 * new buffer *out (g_free) of *out_len bytes. Returns the number of names, or
 * MR_E_NOT_FOUND for a directory with nothing under it (other than the root). */
int64_t sim_disk_list(struct sim_disk *d, const char *dir, uint8_t **out, size_t *out_len);

/* The crash of the disk's host: closes every handle; SIM_CRASH_POWER drops (or tears)
 * the unsynced writes of every file; SIM_CRASH_PROCESS keeps them, still unsynced (a
 * later power loss before a sync can still lose them). Either may then rot a bit
 * (bit_rot fault). */
void sim_disk_crash(struct sim_disk *d, enum sim_crash_kind kind);

/* Inspection for tests and checkers (no faults applied): true if path exists; its
 * current size; a copy of its current or durable image (g_free). */
bool sim_disk_exists(const struct sim_disk *d, const char *path);
uint64_t sim_disk_size(const struct sim_disk *d, const char *path);
uint8_t *sim_disk_contents(const struct sim_disk *d, const char *path, bool durable,
                           size_t *len);
/* Flips bit `bit` (counted from the file's first byte) of both images of path: stored
 * corruption (bit rot). Returns 0 or MR_E_NOT_FOUND / MR_E_INVAL (past the end). */
int sim_disk_flip_bit(struct sim_disk *d, const char *path, uint64_t bit);
/* Bits flipped by the bit_rot fault so far. */
uint64_t sim_disk_bit_rots(const struct sim_disk *d);
/* Bytes written but not yet durable, over all files. */
uint64_t sim_disk_unsynced_bytes(const struct sim_disk *d);
/* Asserts the disk's invariants. O(files). */
void sim_disk_check(const struct sim_disk *d);

#endif
