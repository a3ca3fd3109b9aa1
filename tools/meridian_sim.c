/* SPDX-License-Identifier: Apache-2.0 */
/*
 * meridian-sim: runs a scenario file (docs/scenarios.md) in the deterministic
 * simulator, once for a seed or as a sweep over a range of seeds, and reports.
 *
 *   meridian-sim [options] SCENARIO.conf
 *
 * A single run prints the seed first, then the materialised fault schedule, the fault
 * timeline (one row per state change), one verdict per invariant, message counts,
 * events and virtual seconds simulated per wall second. A sweep prints a progress bar
 * on stderr and a summary with the replay command of every failing seed; with --jobs
 * it forks workers that send fixed-size result records over pipes, and the summary is
 * ordered by seed whatever order the workers finish in.
 *
 * Exit codes: 0 every run passed, 1 a violation (or a determinism mismatch), 2 a bad
 * scenario or bad usage (the error names file:line:col or the option).
 *
 * Ownership: the loaded scenario lives for the whole process; each run's result is
 * released after it is reported. This tool may read the wall clock (to report speed)
 * and the file system; the simulator itself never does.
 */
#include <errno.h>
#include <glib.h>
#include <inttypes.h>
#include <malloc.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/conf/conf.h"
#include "core/err.h"
#include "sim/sim_run.h"
#include "sim/sim_scenario.h"
#include "tools/topo/topo_frame.h"
#include "tools/topo/topo_report.h"

#define PROG "meridian-sim"
#define EXIT_PASS 0
#define EXIT_VIOLATION 1
#define EXIT_USAGE 2
#define JOBS_MAX 256
#define SWEEP_SEEDS_MAX (100ULL * 1000 * 1000)
#define RECORD_LINE_MAX 400

struct cli {
    const char *scenario;
    bool seed_set;
    uint64_t seed;
    bool sweep;
    uint64_t seed_from; /* inclusive */
    uint64_t seed_to;   /* inclusive */
    unsigned jobs;
    const char *trace;
    const char *schedule; /* --schedule FILE: the materialised schedule */
    const char *report;   /* --report DIR: an HTML page of the run */
    uint64_t until_ns;
    bool check_determinism;
    bool quiet;
    bool verbose;
    uint32_t server_check_every;
};

/* One sweep result, sent by a worker over its pipe as raw bytes. */
struct record {
    uint64_t seed;
    uint64_t trace_hash;
    uint64_t events;
    uint64_t virtual_ns;
    int32_t ok;
    int32_t rc;
    char line[RECORD_LINE_MAX]; /* the first failing verdict or error; NUL-terminated */
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: " PROG " [options] SCENARIO.conf\n"
            "\n"
            "  --seed N|0xHEX      run this seed (default: the scenario's sim.seed)\n"
            "  --seeds A..B        sweep seeds A to B inclusive; summary of failures\n"
            "  --jobs N            worker processes for a sweep (default 1)\n"
            "  --trace FILE        write JSON lines of faults, client events, verdicts\n"
            "  --schedule FILE     write the materialised fault schedule (scenario syntax)\n"
            "  --report DIR        write DIR/index.html: topology, one frame per fault,\n"
            "                      the timeline and the verdicts (self-contained)\n"
            "  --until TIME        stop at this virtual time (\"30s\"), before the duration\n"
            "  --check-determinism run the seed twice and compare trace hashes\n"
            "  --quiet             print only the verdict lines and the result\n"
            "  -v, --verbose       the servers' logs (virtual time, server) on stderr\n"
            "  --server-check-every N  check server invariants every N events per server\n"
            "                      (default 1 = every event; 0 = never)\n"
            "  -h, --help          this text\n"
            "\n"
            "exit status: 0 pass, 1 invariant violated, 2 bad scenario or usage\n");
}

static uint64_t wall_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    int base = 10;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        base = 16;
    }
    if (*s == '\0' || *s == '-' || *s == '+' || *s == ' ') {
        return false;
    }
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, base);
    if (errno != 0 || *end != '\0') {
        return false;
    }
    *out = (uint64_t)v;
    return true;
}

static bool parse_range(const char *s, uint64_t *from, uint64_t *to)
{
    const char *dots = strstr(s, "..");
    if (dots == NULL) {
        return false;
    }
    char *a = g_strndup(s, (size_t)(dots - s));
    bool ok = parse_u64(a, from) && parse_u64(dots + 2, to) && *from <= *to &&
              *to - *from < SWEEP_SEEDS_MAX;
    g_free(a);
    return ok;
}

static bool parse_duration(const char *s, uint64_t *out)
{
    struct mr_conf_value v;
    memset(&v, 0, sizeof(v));
    v.type = MR_CONF_STRING;
    v.u.str.s = (char *)s;
    v.u.str.len = strlen(s);
    return mr_conf_duration_ns(&v, out, NULL) == 0 && *out > 0;
}

static int bad_usage(const char *fmt, const char *arg)
{
    fprintf(stderr, PROG ": ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(try " PROG " --help)\n");
    return EXIT_USAGE;
}

/* Returns -1 to go on, else the exit code. */
static int parse_args(int argc, char **argv, struct cli *c)
{
    memset(c, 0, sizeof(*c));
    c->jobs = 1;
    c->server_check_every = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        bool takes = strcmp(a, "--seed") == 0 || strcmp(a, "--seeds") == 0 ||
                     strcmp(a, "--jobs") == 0 || strcmp(a, "--trace") == 0 ||
                     strcmp(a, "--schedule") == 0 || strcmp(a, "--report") == 0 ||
                     strcmp(a, "--until") == 0 || strcmp(a, "--server-check-every") == 0;
        if (takes && next == NULL) {
            return bad_usage("option %s needs a value", a);
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return EXIT_PASS;
        } else if (strcmp(a, "--seed") == 0) {
            if (!parse_u64(next, &c->seed)) {
                return bad_usage("--seed: expected a number or 0xHEX, got \"%s\"", next);
            }
            c->seed_set = true;
            i++;
        } else if (strcmp(a, "--seeds") == 0) {
            if (!parse_range(next, &c->seed_from, &c->seed_to)) {
                return bad_usage("--seeds: expected A..B with A <= B, got \"%s\"", next);
            }
            c->sweep = true;
            i++;
        } else if (strcmp(a, "--jobs") == 0) {
            uint64_t n = 0;
            if (!parse_u64(next, &n) || n == 0 || n > JOBS_MAX) {
                return bad_usage("--jobs: expected 1 to 256, got \"%s\"", next);
            }
            c->jobs = (unsigned)n;
            i++;
        } else if (strcmp(a, "--trace") == 0) {
            c->trace = next;
            i++;
        } else if (strcmp(a, "--schedule") == 0) {
            c->schedule = next;
            i++;
        } else if (strcmp(a, "--report") == 0) {
            c->report = next;
            i++;
        } else if (strcmp(a, "--until") == 0) {
            if (!parse_duration(next, &c->until_ns)) {
                return bad_usage("--until: expected a duration such as \"30s\", got \"%s\"",
                                 next);
            }
            i++;
        } else if (strcmp(a, "--server-check-every") == 0) {
            uint64_t n = 0;
            if (!parse_u64(next, &n) || n > UINT32_MAX) {
                return bad_usage("--server-check-every: expected a count, got \"%s\"", next);
            }
            c->server_check_every = (uint32_t)n;
            i++;
        } else if (strcmp(a, "--check-determinism") == 0) {
            c->check_determinism = true;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            c->quiet = true;
        } else if (strcmp(a, "--verbose") == 0 || strcmp(a, "-v") == 0) {
            c->verbose = true;
        } else if (a[0] == '-') {
            return bad_usage("unknown option %s", a);
        } else if (c->scenario != NULL) {
            return bad_usage("one scenario file expected; extra argument \"%s\"", a);
        } else {
            c->scenario = a;
        }
    }
    if (c->scenario == NULL) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (c->sweep &&
        (c->seed_set || c->trace != NULL || c->schedule != NULL || c->report != NULL)) {
        return bad_usage("%s", "--seeds cannot be combined with --seed, --trace, --schedule "
                               "or --report");
    }
    return -1;
}

static void replay_line(FILE *out, const struct cli *c, uint64_t seed)
{
    fprintf(out, "replay: " PROG " --seed 0x%016" PRIx64 " %s\n", seed, c->scenario);
}

/* The first failing verdict (or error) of a result, for one-line summaries. */
static void first_failure(const struct sim_run_result *r, char *buf, size_t len)
{
    buf[0] = '\0';
    if (r->err[0] != '\0') {
        g_strlcpy(buf, r->err, len);
        return;
    }
    for (int k = 0; k < SIM_CHECK_COUNT; k++) {
        if (r->verdict_run[k] && !r->verdicts[k].ok) {
            sim_verdict_format(&r->verdicts[k], buf, len);
            return;
        }
    }
}

/* ---- one seed ---------------------------------------------------------------------- */

static bool write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
        return false;
    }
    bool ok = fputs(text, f) >= 0;
    ok = fclose(f) == 0 && ok;
    if (!ok) {
        fprintf(stderr, PROG ": %s: write failed\n", path);
    }
    return ok;
}

static int run_one(const struct cli *c, const struct sim_scenario *sc, uint64_t seed)
{
    printf("seed: 0x%016" PRIx64 "\n", seed);
    fflush(stdout);
    struct sim_run_opts o;
    sim_run_opts_default(&o);
    o.seed = seed;
    o.until_ns = c->until_ns;
    o.server_check_every = c->server_check_every;
    FILE *trace = NULL;
    if (c->trace != NULL) {
        trace = fopen(c->trace, "w");
        if (trace == NULL) {
            fprintf(stderr, PROG ": --trace %s: %s\n", c->trace, strerror(errno));
            return EXIT_USAGE;
        }
        o.trace = trace;
    }
    o.verbose = c->verbose;
    GPtrArray *frames = NULL;
    if (c->report != NULL) {
        frames = topo_frames_new();
        o.on_frame = topo_frames_collect;
        o.on_frame_ctx = frames;
    }
    struct sim_run_result r;
    uint64_t t0 = wall_now_ns();
    int rc = sim_run(sc, &o, &r);
    o.on_frame = NULL; /* a determinism rerun needs no frames */
    uint64_t wall = wall_now_ns() - t0;
    if (trace != NULL && fclose(trace) != 0) {
        fprintf(stderr, PROG ": --trace %s: %s\n", c->trace, strerror(errno));
    }
    if (rc != 0) {
        fprintf(stderr, PROG ": %s\n", r.err);
        sim_run_result_deinit(&r);
        if (frames != NULL) {
            g_ptr_array_free(frames, TRUE);
        }
        return EXIT_USAGE;
    }
    if (c->schedule != NULL && !write_file(c->schedule, r.schedule)) {
        sim_run_result_deinit(&r);
        if (frames != NULL) {
            g_ptr_array_free(frames, TRUE);
        }
        return EXIT_USAGE;
    }
    if (frames != NULL) {
        char err[TOPO_ERR_MAX] = "";
        int wrc = topo_report_write(c->report, sc, &r, frames, err, sizeof(err));
        g_ptr_array_free(frames, TRUE);
        if (wrc != 0) {
            fprintf(stderr, PROG ": %s\n", err);
            sim_run_result_deinit(&r);
            return EXIT_USAGE;
        }
    }
    if (!c->quiet) {
        printf("scenario: %s (%zu servers, %zu clients)\n", sc->path, sc->servers_count,
               sc->clients_count);
        for (size_t i = 0; i < sc->warnings.count; i++) {
            printf("note: %s\n", sc->warnings.items[i]);
        }
        printf("schedule:\n%s", r.schedule);
        printf("fault timeline:\n%s", r.timeline);
        printf("verdicts:\n");
    }
    sim_run_result_print(&r, stdout);
    double vps = wall > 0 ? (double)r.virtual_ns / (double)wall : 0.0;
    double eps = wall > 0 ? (double)r.events * 1e9 / (double)wall : 0.0;
    printf("speed: %.1f virtual s per wall s, %.0f events/s, wall %.3fs\n", vps, eps,
           (double)wall / 1e9);
    int exit_code = EXIT_PASS;
    if (c->check_determinism) {
        struct sim_run_opts o2 = o;
        o2.trace = NULL;
        struct sim_run_result r2;
        rc = sim_run(sc, &o2, &r2);
        bool same = rc == 0 && r2.trace_hash == r.trace_hash && r2.events == r.events;
        printf("determinism: %s (0x%016" PRIx64 " vs 0x%016" PRIx64 ")\n",
               same ? "same trace hash" : "MISMATCH", r.trace_hash, r2.trace_hash);
        sim_run_result_deinit(&r2);
        if (!same) {
            exit_code = EXIT_VIOLATION;
        }
    }
    if (!r.ok) {
        printf("result: FAIL\n");
        replay_line(stdout, c, seed);
        exit_code = EXIT_VIOLATION;
    } else {
        printf("result: %s\n", exit_code == EXIT_PASS ? "PASS" : "FAIL");
        if (exit_code != EXIT_PASS) {
            replay_line(stdout, c, seed);
        }
    }
    sim_run_result_deinit(&r);
    return exit_code;
}

/* ---- sweeps ------------------------------------------------------------------------ */

static void sweep_one(const struct cli *c, const struct sim_scenario *sc, uint64_t seed,
                      struct record *rec)
{
    memset(rec, 0, sizeof(*rec));
    struct sim_run_opts o;
    sim_run_opts_default(&o);
    o.seed = seed;
    o.until_ns = c->until_ns;
    o.server_check_every = c->server_check_every;
    struct sim_run_result r;
    int rc = sim_run(sc, &o, &r);
    rec->seed = seed;
    rec->rc = rc;
    rec->ok = rc == 0 && r.ok;
    rec->trace_hash = r.trace_hash;
    rec->events = r.events;
    rec->virtual_ns = r.virtual_ns;
    first_failure(&r, rec->line, sizeof(rec->line));
    if (rc == 0 && c->check_determinism) {
        struct sim_run_result r2;
        int rc2 = sim_run(sc, &o, &r2);
        if (rc2 != 0 || r2.trace_hash != r.trace_hash) {
            rec->ok = 0;
            snprintf(rec->line, sizeof(rec->line), "determinism: trace hash differs");
        }
        sim_run_result_deinit(&r2);
    }
    sim_run_result_deinit(&r);
}

/* A bar redrawn in place on a terminal; elsewhere (CI logs) only the final line. */
static void progress(uint64_t done, uint64_t total, uint64_t failed)
{
    if (done != total && !isatty(STDERR_FILENO)) {
        return;
    }
    const int width = 40;
    int fill = total > 0 ? (int)(done * (uint64_t)width / total) : width;
    char bar[64];
    for (int i = 0; i < width; i++) {
        bar[i] = i < fill ? '#' : '.';
    }
    bar[width] = '\0';
    fprintf(stderr, "\r[%s] %" PRIu64 "/%" PRIu64 " failures %" PRIu64, bar, done, total,
            failed);
    if (done == total) {
        fprintf(stderr, "\n");
    }
    fflush(stderr);
}

static bool write_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* A worker: seeds from + job, from + job + jobs, ...; one record per seed. */
static _Noreturn void worker(const struct cli *c, const struct sim_scenario *sc, unsigned job,
                             int fd)
{
    for (uint64_t s = c->seed_from + job; s <= c->seed_to; s += c->jobs) {
        struct record rec;
        sweep_one(c, sc, s, &rec);
        if (!write_all(fd, &rec, sizeof(rec))) {
            _exit(3);
        }
        if (s > UINT64_MAX - c->jobs) {
            break;
        }
    }
    close(fd);
    _exit(0);
}

struct job {
    pid_t pid;
    int fd;
    size_t have; /* bytes of the current record read */
    struct record rec;
};

static int collect(const struct cli *c, struct job *jobs, struct record *results, uint64_t total)
{
    uint64_t done = 0;
    uint64_t failed = 0;
    unsigned open = c->jobs;
    struct pollfd *pfds = g_new0(struct pollfd, c->jobs);
    while (open > 0) {
        for (unsigned j = 0; j < c->jobs; j++) {
            pfds[j].fd = jobs[j].fd;
            pfds[j].events = POLLIN;
            pfds[j].revents = 0;
        }
        if (poll(pfds, c->jobs, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        for (unsigned j = 0; j < c->jobs; j++) {
            if (jobs[j].fd < 0 || pfds[j].revents == 0) {
                continue;
            }
            uint8_t *dst = (uint8_t *)&jobs[j].rec + jobs[j].have;
            ssize_t n = read(jobs[j].fd, dst, sizeof(struct record) - jobs[j].have);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n <= 0) {
                close(jobs[j].fd);
                jobs[j].fd = -1;
                open--;
                continue;
            }
            jobs[j].have += (size_t)n;
            if (jobs[j].have == sizeof(struct record)) {
                struct record *rec = &jobs[j].rec;
                if (rec->seed >= c->seed_from && rec->seed <= c->seed_to) {
                    results[rec->seed - c->seed_from] = *rec;
                    done++;
                    failed += rec->ok ? 0 : 1;
                    progress(done, total, failed);
                }
                jobs[j].have = 0;
            }
        }
    }
    g_free(pfds);
    int status_all = 0;
    for (unsigned j = 0; j < c->jobs; j++) {
        int status = 0;
        if (waitpid(jobs[j].pid, &status, 0) < 0 || !WIFEXITED(status) ||
            WEXITSTATUS(status) != 0) {
            status_all = -1;
        }
    }
    return done == total && status_all == 0 ? 0 : -1;
}

static int run_sweep(const struct cli *c, const struct sim_scenario *sc)
{
    uint64_t total = c->seed_to - c->seed_from + 1;
    struct record *results = g_new0(struct record, total);
    uint64_t t0 = wall_now_ns();
    int rc = 0;
    if (c->jobs == 1) {
        uint64_t failed = 0;
        for (uint64_t i = 0; i < total; i++) {
            sweep_one(c, sc, c->seed_from + i, &results[i]);
            failed += results[i].ok ? 0 : 1;
            progress(i + 1, total, failed);
        }
    } else {
        fflush(stdout);
        fflush(stderr);
        struct job jobs[JOBS_MAX];
        memset(jobs, 0, sizeof(jobs));
        for (unsigned j = 0; j < c->jobs; j++) {
            int p[2];
            if (pipe(p) != 0) {
                fprintf(stderr, PROG ": pipe: %s\n", strerror(errno));
                g_free(results);
                return EXIT_USAGE;
            }
            pid_t pid = fork();
            if (pid < 0) {
                fprintf(stderr, PROG ": fork: %s\n", strerror(errno));
                g_free(results);
                return EXIT_USAGE;
            }
            if (pid == 0) {
                close(p[0]);
                for (unsigned k = 0; k < j; k++) {
                    close(jobs[k].fd);
                }
                worker(c, sc, j, p[1]);
            }
            close(p[1]);
            jobs[j].pid = pid;
            jobs[j].fd = p[0];
        }
        rc = collect(c, jobs, results, total);
    }
    uint64_t wall = wall_now_ns() - t0;
    uint64_t failures = 0;
    uint64_t virt = 0;
    uint64_t events = 0;
    for (uint64_t i = 0; i < total; i++) {
        failures += results[i].ok ? 0 : 1;
        virt += results[i].virtual_ns;
        events += results[i].events;
    }
    printf("sweep: %s seeds 0x%" PRIx64 "..0x%" PRIx64 "\n", c->scenario, c->seed_from,
           c->seed_to);
    printf("runs: %" PRIu64 ", failures: %" PRIu64 ", events: %" PRIu64
           ", virtual %.1fs in wall %.3fs (%d jobs)\n",
           total, failures, events, (double)virt / 1e9, (double)wall / 1e9, (int)c->jobs);
    for (uint64_t i = 0; i < total; i++) {
        if (!results[i].ok) {
            printf("FAIL seed 0x%016" PRIx64 ": %s\n", c->seed_from + i, results[i].line);
            printf("  " PROG " --seed 0x%016" PRIx64 " %s\n", c->seed_from + i, c->scenario);
        }
    }
    g_free(results);
    if (rc != 0) {
        fprintf(stderr, PROG ": a worker failed; results are incomplete\n");
        return EXIT_VIOLATION;
    }
    return failures == 0 ? EXIT_PASS : EXIT_VIOLATION;
}

/* Allocations from this size up get their own mapping (see main). */
#define MMAP_THRESHOLD_BYTES (64 * 1024 * 1024)
/* Heap grown once at start, advised for transparent huge pages. It stays below the mmap
 * threshold, so it is carved from the heap and stays there once freed. */
#define HEAP_RESERVE_BYTES (56 * 1024 * 1024)
#define HUGE_PAGE_BYTES (2 * 1024 * 1024)
_Static_assert(HEAP_RESERVE_BYTES < MMAP_THRESHOLD_BYTES, "the reserve must come from the heap");

/* A run touches tens of megabytes of fresh heap (history chunks, checker tables), and on
 * a virtual machine a fault per 4 KiB page cost about a fifth of a run. Growing the heap
 * by one block advised MADV_HUGEPAGE and freeing it (the trim threshold keeps it mapped)
 * lets later allocations fault it in 2 MiB at a time. Nothing is touched here, and where
 * transparent huge pages are off the advice does nothing. */
static void heap_reserve(void)
{
    char *p = malloc(HEAP_RESERVE_BYTES);
    if (p == NULL) {
        return;
    }
    uintptr_t from = ((uintptr_t)p + HUGE_PAGE_BYTES - 1) & ~(uintptr_t)(HUGE_PAGE_BYTES - 1);
    uintptr_t to = ((uintptr_t)p + HEAP_RESERVE_BYTES) & ~(uintptr_t)(HUGE_PAGE_BYTES - 1);
    if (to > from) {
        (void)madvise((void *)from, to - from, MADV_HUGEPAGE); /* advice: may be refused */
    }
    free(p);
}

int main(int argc, char **argv)
{
    /* A run allocates and frees large tables (history, checker models, stream
     * segments); keeping freed memory in the process instead of unmapping it spares the
     * page faults of touching fresh pages again and again. */
    (void)mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES);
    (void)mallopt(M_TRIM_THRESHOLD, 256 * 1024 * 1024);
    heap_reserve();
    struct cli c;
    int rc = parse_args(argc, argv, &c);
    if (rc >= 0) {
        return rc;
    }
    struct sim_scenario *sc = NULL;
    char err[SIM_SC_ERR_MAX] = "";
    rc = sim_scenario_load_file(c.scenario, sim_scenario_file_io(), &sc, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, PROG ": %s\n", err);
        return EXIT_USAGE;
    }
    int exit_code;
    if (c.sweep) {
        exit_code = run_sweep(&c, sc);
    } else {
        exit_code = run_one(&c, sc, c.seed_set ? c.seed : sc->seed);
    }
    sim_scenario_destroy(sc);
    return exit_code;
}
