/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A server on the sim env with scripted clients, shared by the server-core suites.
 * Every fixture builds one world with one server host "srv" (mr_server_check runs after
 * every event delivered to it) and ends with fx_finish: shutdown, every connection
 * closed, counters at zero, and mr_server_destroy, whose mr_mem_deinit asserts that no
 * byte is still allocated. Functions are static: each suite is one translation unit.
 */
#ifndef MR_TEST_FIXTURE_SERVER_H
#define MR_TEST_FIXTURE_SERVER_H

#include <check.h>
#include <glib.h>
#include <string.h>

#include "core/err.h"
#include "core/limits.h"
#include "core/server/server.h"
#include "sim/sim_env.h"

#define MS (1000ULL * 1000)
#define SEC (1000ULL * MS)

struct fx {
    struct sim_world *w;
    struct sim_host *host;
    struct mr_server *srv;
    struct mr_server_opts opts;
};

typedef void (*opts_fn)(struct mr_server_opts *o);

static inline void check_server(void *ctx)
{
    mr_server_check(ctx);
}

static inline void fx_start(struct fx *f, uint64_t seed, opts_fn tweak)
{
    struct sim_world_opts wo;
    sim_world_opts_default(&wo);
    wo.seed = seed;
    f->w = sim_world_create(&wo);
    f->host = sim_host_create(f->w, "srv");
    mr_server_opts_default(&f->opts);
    if (tweak != NULL) {
        tweak(&f->opts);
    }
    char errmsg[MR_ERRMSG_MAX];
    int rc = mr_server_create(&f->opts, sim_host_env(f->host), &f->srv, errmsg, sizeof(errmsg));
    ck_assert_msg(rc == 0, "mr_server_create: %s", errmsg);
    sim_host_set_sink(f->host, mr_server_sink(f->srv));
    sim_host_set_check(f->host, check_server, f->srv);
    ck_assert_int_eq(mr_server_start(f->srv), 0);
    ck_assert_uint_eq(mr_server_port(f->srv), 4222);
}

static inline bool server_done_pred(void *ctx)
{
    return mr_server_done(ctx);
}

static inline void fx_finish(struct fx *f)
{
    mr_server_shutdown(f->srv);
    uint64_t deadline = sim_world_now_ns(f->w) + 10 * SEC;
    ck_assert(sim_world_run_until_pred(f->w, server_done_pred, f->srv, deadline));
    mr_server_check(f->srv);
    struct mr_server_stats st;
    mr_server_stats(f->srv, &st);
    ck_assert_uint_eq(st.connections, 0);
    ck_assert_uint_eq(st.subscriptions, 0);
    sim_host_set_sink(f->host, NULL);
    mr_server_destroy(f->srv); /* asserts every counted byte was freed */
    sim_world_check(f->w);
    sim_world_destroy(f->w);
}

static inline uint64_t after(struct fx *f, uint64_t ns)
{
    return sim_world_now_ns(f->w) + ns;
}

static inline size_t count_in(const uint8_t *buf, size_t len, const char *needle)
{
    size_t n = 0;
    size_t nl = strlen(needle);
    const uint8_t *p = buf;
    const uint8_t *end = buf + len;
    while ((p = memmem(p, (size_t)(end - p), needle, nl)) != NULL) {
        n++;
        p += nl;
    }
    return n;
}

static inline size_t count(const struct sim_client *c, const char *needle)
{
    size_t len;
    const uint8_t *buf = sim_client_received(c, &len);
    return count_in(buf, len, needle);
}

/* The received bytes as a NUL-terminated string (g_free it). */
static inline char *received_str(const struct sim_client *c)
{
    size_t len;
    const uint8_t *buf = sim_client_received(c, &len);
    return g_strndup((const char *)buf, len);
}

static inline void say(struct sim_client *c, const char *s)
{
    ck_assert_int_eq(sim_client_send_str(c, s), 0);
}

struct count_reaches {
    const struct sim_client *c;
    const char *needle;
    size_t n;
};

static inline bool count_reaches_pred(void *ctx)
{
    const struct count_reaches *cr = ctx;
    return count(cr->c, cr->needle) >= cr->n;
}

/* Sends PING and runs until its PONG is back: everything the server wrote before the
 * PONG has arrived, so what is absent now was never sent. */
static inline void barrier(struct fx *f, struct sim_client *c)
{
    struct count_reaches cr = {c, "PONG\r\n", count(c, "PONG\r\n") + 1};
    say(c, "PING\r\n");
    ck_assert(sim_world_run_until_pred(f->w, count_reaches_pred, &cr, after(f, SEC)));
}

/* A client that has its INFO and has sent CONNECT <json>; received bytes cleared. */
static inline struct sim_client *client(struct fx *f, const char *name, const char *connect_json)
{
    struct sim_client *c = sim_client_create(f->w, name, "srv", 4222);
    ck_assert(sim_client_wait_for(c, "}\r\n", after(f, SEC)));
    ck_assert_uint_eq(count(c, "INFO {"), 1);
    sim_client_clear(c);
    if (connect_json != NULL) {
        char *line = g_strdup_printf("CONNECT %s\r\n", connect_json);
        say(c, line);
        g_free(line);
        barrier(f, c);
        sim_client_clear(c);
    }
    return c;
}

static inline struct sim_client *plain_client(struct fx *f, const char *name)
{
    return client(f, name, "{\"verbose\":false,\"pedantic\":false}");
}

static inline void assert_received(const struct sim_client *c, const char *want)
{
    char *got = received_str(c);
    ck_assert_str_eq(got, want);
    g_free(got);
}

#endif
