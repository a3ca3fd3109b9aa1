/* SPDX-License-Identifier: Apache-2.0 */
/*
 * harness.h: the small check harness of the nats.c compat programs, for programs that
 * want it instead of a copy (compat_natsc_cluster.c; compat_natsc.c and
 * compat_natsc_auth.c keep their own copies).
 *
 * A program defines `struct run` with at least `char why[WHY_MAX]` before including
 * this file. A check is `static bool check_x(struct run *r)` that owns what it creates,
 * releases it on every path through its `out:` label, and records why it failed with
 * FAIL_IF or TRY (the first reason wins). run_checks() runs the table and prints one
 * line per check ("ok - name" or "FAIL - name: why") and "N passed, N failed".
 */
#ifndef MR_COMPAT_NATSC_HARNESS_H
#define MR_COMPAT_NATSC_HARNESS_H

#include <nats/nats.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Record why a check failed (first reason wins) and jump to its cleanup. */
#define FAIL_IF(cond, ...)                                                                    \
    do {                                                                                      \
        if (cond) {                                                                           \
            set_why(r, __VA_ARGS__);                                                          \
            goto out;                                                                         \
        }                                                                                     \
    } while (0)

#define TRY(call)                                                                             \
    do {                                                                                      \
        natsStatus try_s = (call);                                                            \
        FAIL_IF(try_s != NATS_OK, "%s: %s (%s)", #call, natsStatus_GetText(try_s),           \
                last_error_text());                                                           \
    } while (0)

struct check {
    const char *name;
    bool (*fn)(struct run *r);
};

static void set_why(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_why(struct run *r, const char *fmt, ...)
{
    if (r->why[0] != '\0') {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(r->why, sizeof(r->why), fmt, ap); /* truncation is fine for a message */
    va_end(ap);
}

/* This thread's last nats.c error text ("" when none). */
static const char *last_error_text(void)
{
    natsStatus st = NATS_OK;
    const char *t = nats_GetLastError(&st);
    return t != NULL ? t : "";
}

static void conn_close(natsConnection *nc)
{
    if (nc != NULL) {
        natsConnection_Close(nc);
        natsConnection_Destroy(nc);
    }
}

/* Receive one message; NATS_TIMEOUT if none within ms. */
static natsStatus next_msg(natsSubscription *sub, natsMsg **msg, int64_t ms)
{
    *msg = NULL;
    return natsSubscription_NextMsg(msg, sub, ms);
}

static bool data_is(const natsMsg *m, const char *want)
{
    size_t n = strlen(want);
    return natsMsg_GetDataLength(m) == (int)n && memcmp(natsMsg_GetData(m), want, n) == 0;
}

/* Whether name is selected by argv[first..argc) (all when that is empty). */
static bool selected(const char *name, int first, int argc, char **argv)
{
    if (argc <= first) {
        return true;
    }
    for (int i = first; i < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return true;
        }
    }
    return false;
}

/* Runs the selected checks, prints a line each and the summary; returns the exit code. */
static int run_checks(struct run *r, const struct check *checks, size_t count, int first,
                      int argc, char **argv)
{
    int passed = 0;
    int failed = 0;
    for (size_t i = 0; i < count; i++) {
        if (!selected(checks[i].name, first, argc, argv)) {
            continue;
        }
        r->why[0] = '\0';
        if (checks[i].fn(r)) {
            printf("ok - %s\n", checks[i].name);
            passed++;
        } else {
            printf("FAIL - %s: %s\n", checks[i].name, r->why);
            failed++;
        }
    }
    printf("%d passed, %d failed\n", passed, failed);
    return (failed > 0 || passed == 0) ? 1 : 0;
}

#endif /* MR_COMPAT_NATSC_HARNESS_H */
