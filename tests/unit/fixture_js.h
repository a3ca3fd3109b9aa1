/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JetStream on a simulated server, shared by the js_api and js_consumer suites: server
 * options with JetStream in memory or with a store directory, a request helper that
 * returns the answer's payload, and a restart on the same host and disk. Functions are
 * static: each suite is one translation unit.
 */
#ifndef MR_TEST_FIXTURE_JS_H
#define MR_TEST_FIXTURE_JS_H

#include "core/conf/conf_server.h"
#include "fixture_server.h"

static struct mr_jetstream_opts js_mem_opts;  /* no store_dir: memory streams only */
static struct mr_jetstream_opts js_file_opts; /* store_dir set: file streams too */

static inline void init_js_opts(struct mr_jetstream_opts *o, char *store_dir)
{
    memset(o, 0, sizeof(*o));
    o->present = true;
    o->enabled = true;
    o->store_dir = store_dir;
    o->max_memory_store = -1;
    o->max_file_store = -1;
    o->sync_interval_ns = MR_JETSTREAM_SYNC_INTERVAL_DEFAULT_NS;
}

static inline void with_js_mem(struct mr_server_opts *o)
{
    static char none[] = "";
    init_js_opts(&js_mem_opts, none);
    o->jetstream = &js_mem_opts;
}

static inline void with_js_file(struct mr_server_opts *o)
{
    static char dir[] = "store";
    init_js_opts(&js_file_opts, dir);
    o->jetstream = &js_file_opts;
}

/* Sends a request on subject with body and returns the answer's payload (g_free). */
static inline char *request(struct fx *f, struct sim_client *c, const char *subject,
                            const char *body)
{
    static unsigned inbox;
    inbox++;
    sim_client_clear(c);
    char *line = g_strdup_printf("SUB _INBOX.%u %u\r\nPUB %s _INBOX.%u %zu\r\n%s\r\n", inbox,
                                 inbox, subject, inbox, strlen(body), body);
    say(c, line);
    g_free(line);
    char *want = g_strdup_printf("MSG _INBOX.%u ", inbox);
    ck_assert_msg(sim_client_wait_for(c, want, after(f, 2 * SEC)), "no answer to %s", subject);
    g_free(want);
    barrier(f, c); /* the whole answer is in */
    char *all = received_str(c);
    char *msg = strstr(all, "MSG _INBOX.");
    ck_assert_ptr_nonnull(msg);
    char *payload = strstr(msg, "\r\n") + 2;
    char *end = strstr(payload, "\r\nPONG");
    ck_assert_ptr_nonnull(end);
    char *out = g_strndup(payload, (gsize)(end - payload));
    g_free(all);
    return out;
}

static inline void assert_contains(const char *got, const char *want)
{
    ck_assert_msg(strstr(got, want) != NULL, "\"%s\" not in %s", want, got);
}

static inline bool done_pred(void *ctx)
{
    return mr_server_done(ctx);
}

/* Shuts the fixture's server down (c closed first) and starts a new one on the same
 * host and disk, as a restart of the process would. */
static inline void restart(struct fx *f, struct sim_client *c)
{
    sim_client_close(c);
    mr_server_shutdown(f->srv);
    ck_assert(sim_world_run_until_pred(f->w, done_pred, f->srv, after(f, 10 * SEC)));
    sim_host_set_sink(f->host, NULL);
    sim_host_set_check(f->host, NULL, NULL);
    mr_server_destroy(f->srv);
    char errmsg[MR_ERRMSG_MAX];
    ck_assert_int_eq(mr_server_create(&f->opts, sim_host_env(f->host), &f->srv, errmsg,
                                      sizeof(errmsg)),
                     0);
    sim_host_set_sink(f->host, mr_server_sink(f->srv));
    sim_host_set_check(f->host, check_server, f->srv);
    ck_assert_int_eq(mr_server_start(f->srv), 0);
}

#endif
