/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Fuzz target for JetStream's JSON API requests (core/js/js_api.c, js_stream.c).
 *
 * The input is decoded as a stream configuration and as a consumer configuration
 * directly (decode, check, encode, compare, copy: a configuration that checks must
 * encode to JSON that decodes and checks to an equal configuration), then sent as the
 * body of every API request to a server in the simulator that has one memory stream
 * with messages and a durable pull consumer (create, update, info, names, list, purge,
 * message get and delete, direct get; consumer create in its subject forms, info,
 * names, list, next; an ack), and as a publish with the input as a header block when
 * it looks like one. The server's invariants are
 * checked after every event; it must answer every request and stay up.
 *
 * Ownership: the target borrows data; everything it creates is freed before it returns.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/conf/conf_server.h"
#include "core/err.h"
#include "core/js/js_consumer.h"
#include "core/js/js_stream.h"
#include "core/server/server.h"
#include "sim/sim_env.h"

#define MS (1000ULL * 1000ULL)
#define SEC (1000ULL * MS)

static void check_cfg(const uint8_t *data, size_t size)
{
    struct mr_js_stream_cfg cfg;
    struct mr_js_err err = {0};
    if (!mr_js_stream_cfg_decode(data, size, &cfg, &err)) {
        mr_assert(err.code == 400 && err.err_code == 10025);
        return;
    }
    if (!mr_js_stream_cfg_check(&cfg, 0, &err)) {
        mr_assert(err.code != 0);
        mr_js_stream_cfg_free(&cfg);
        return;
    }
    json_t *j = mr_js_stream_cfg_json(&cfg);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    mr_assert(text != NULL);
    struct mr_js_stream_cfg again;
    mr_assert(mr_js_stream_cfg_decode((const uint8_t *)text, strlen(text), &again, &err));
    mr_assert(mr_js_stream_cfg_check(&again, 0, &err));
    mr_assert(mr_js_stream_cfg_equal(&cfg, &again));
    struct mr_js_stream_cfg copy;
    mr_js_stream_cfg_copy(&copy, &again);
    mr_assert(mr_js_stream_cfg_equal(&copy, &cfg));
    free(text);
    mr_js_stream_cfg_free(&again);
    mr_js_stream_cfg_free(&copy);
    mr_js_stream_cfg_free(&cfg);
}

/* The consumer configuration round trip, against a stream on "f.>". */
static void check_consumer_cfg(const uint8_t *data, size_t size)
{
    static const char stream[] = "{\"name\":\"F\",\"subjects\":[\"f.>\"]}";
    struct mr_js_stream_cfg sc;
    struct mr_js_err err = {0};
    mr_assert(mr_js_stream_cfg_decode((const uint8_t *)stream, strlen(stream), &sc, &err));
    mr_assert(mr_js_stream_cfg_check(&sc, 0, &err));
    json_t *o = json_loadb((const char *)data, size, 0, NULL);
    struct mr_js_consumer_cfg cfg;
    if (o == NULL || !mr_js_consumer_cfg_from_json(o, &cfg, &err)) {
        json_decref(o);
        mr_js_stream_cfg_free(&sc);
        return;
    }
    json_decref(o);
    if (mr_js_consumer_cfg_check(&cfg, &sc, &err)) {
        json_t *j = mr_js_consumer_cfg_json(&cfg);
        struct mr_js_consumer_cfg again;
        mr_assert(mr_js_consumer_cfg_from_json(j, &again, &err));
        mr_assert(mr_js_consumer_cfg_check(&again, &sc, &err));
        mr_assert(mr_js_consumer_cfg_equal(&cfg, &again));
        struct mr_js_consumer_cfg copy;
        mr_js_consumer_cfg_copy(&copy, &again);
        mr_assert(mr_js_consumer_cfg_equal(&copy, &cfg));
        json_decref(j);
        mr_js_consumer_cfg_free(&again);
        mr_js_consumer_cfg_free(&copy);
    }
    mr_js_consumer_cfg_free(&cfg);
    mr_js_stream_cfg_free(&sc);
}

static void check_server(void *ctx)
{
    mr_server_check(ctx);
}

static bool done_pred(void *ctx)
{
    return mr_server_done(ctx);
}

static void send_str(struct sim_client *c, const char *s)
{
    mr_assert(sim_client_send_str(c, s) == 0);
}

static void send_request(struct sim_client *c, const char *subject, const uint8_t *body,
                         size_t len)
{
    char line[256];
    int n = snprintf(line, sizeof(line), "PUB %s _INBOX.f %zu\r\n", subject, len);
    mr_assert(n > 0 && (size_t)n < sizeof(line));
    send_str(c, line);
    mr_assert(sim_client_send(c, body, len) == 0);
    send_str(c, "\r\n");
}

static void run_server(const uint8_t *data, size_t size)
{
    static char dir[] = "";
    struct mr_jetstream_opts js;
    memset(&js, 0, sizeof(js));
    js.present = true;
    js.enabled = true;
    js.store_dir = dir;
    js.max_memory_store = -1;
    js.max_file_store = -1;
    struct sim_world_opts wo;
    sim_world_opts_default(&wo);
    wo.seed = 1;
    struct sim_world *w = sim_world_create(&wo);
    struct sim_host *h = sim_host_create(w, "srv");
    struct mr_server_opts o;
    mr_server_opts_default(&o);
    o.jetstream = &js;
    struct mr_server *s = NULL;
    char errmsg[MR_ERRMSG_MAX];
    mr_assert(mr_server_create(&o, sim_host_env(h), &s, errmsg, sizeof(errmsg)) == 0);
    sim_host_set_sink(h, mr_server_sink(s));
    sim_host_set_check(h, check_server, s);
    mr_assert(mr_server_start(s) == 0);
    struct sim_client *c = sim_client_create(w, "c", "srv", 4222);
    mr_assert(sim_client_wait_for(c, "}\r\n", sim_world_now_ns(w) + SEC));
    send_str(c, "CONNECT {\"verbose\":false,\"headers\":true}\r\nSUB _INBOX.f 1\r\n");
    const char *create = "{\"name\":\"F\",\"subjects\":[\"f.>\"],\"storage\":\"memory\","
                         "\"allow_direct\":true,\"allow_rollup_hdrs\":true}";
    send_request(c, "$JS.API.STREAM.CREATE.F", (const uint8_t *)create, strlen(create));
    for (int i = 0; i < 3; i++) {
        send_request(c, "f.x", (const uint8_t *)"m", 1);
    }
    const char *durable = "{\"stream_name\":\"F\",\"config\":{\"durable_name\":\"d\","
                          "\"ack_policy\":\"explicit\"}}";
    send_request(c, "$JS.API.CONSUMER.DURABLE.CREATE.F.d", (const uint8_t *)durable,
                 strlen(durable));
    static const char *const subjects[] = {
        "$JS.API.STREAM.CREATE.F",     "$JS.API.STREAM.UPDATE.F", "$JS.API.STREAM.INFO.F",
        "$JS.API.STREAM.NAMES",        "$JS.API.STREAM.LIST",     "$JS.API.STREAM.MSG.GET.F",
        "$JS.API.STREAM.MSG.DELETE.F", "$JS.API.DIRECT.GET.F",    "$JS.API.STREAM.PURGE.F",
        "$JS.API.CONSUMER.CREATE.F",   "$JS.API.CONSUMER.CREATE.F.e",
        "$JS.API.CONSUMER.CREATE.F.g.f.x.y", "$JS.API.CONSUMER.DURABLE.CREATE.F.d",
        "$JS.API.CONSUMER.INFO.F.d",   "$JS.API.CONSUMER.NAMES.F", "$JS.API.CONSUMER.LIST.F",
        "$JS.API.CONSUMER.MSG.NEXT.F.d", "$JS.ACK.F.d.1.1.1.0.2",
        "$JS.API.CONSUMER.DELETE.F.e", "$JS.API.STREAM.CREATE.G", "$JS.API.INFO",
        "$JS.API.STREAM.DELETE.F",
    };
    size_t body = size > 60000 ? 60000 : size;
    for (size_t i = 0; i < sizeof(subjects) / sizeof(subjects[0]); i++) {
        send_request(c, subjects[i], data, body);
    }
    /* The input as a header block of a publish into a fresh stream. */
    if (body >= 12 && memcmp(data, "NATS/1.0\r\n", 10) == 0 &&
        memcmp(data + body - 4, "\r\n\r\n", 4) == 0) {
        const char *h = "{\"name\":\"H\",\"storage\":\"memory\"}";
        send_request(c, "$JS.API.STREAM.CREATE.H", (const uint8_t *)h, strlen(h));
        char line[128];
        int n = snprintf(line, sizeof(line), "HPUB H _INBOX.f %zu %zu\r\n", body, body + 1);
        mr_assert(n > 0 && (size_t)n < sizeof(line));
        send_str(c, line);
        mr_assert(sim_client_send(c, data, body) == 0);
        send_str(c, "x\r\n");
    }
    send_str(c, "PING\r\n");
    mr_assert(sim_client_wait_for(c, "PONG\r\n", sim_world_now_ns(w) + 5 * SEC));
    sim_world_run_until(w, sim_world_now_ns(w) + 100 * MS);
    sim_client_close(c);
    mr_server_shutdown(s);
    mr_assert(sim_world_run_until_pred(w, done_pred, s, sim_world_now_ns(w) + 10 * SEC));
    sim_host_set_sink(h, NULL);
    mr_server_destroy(s);
    sim_world_destroy(w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy, so ASan sees any read past the end. */
    uint8_t *buf = malloc(size + 1);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    check_cfg(buf, size);
    check_consumer_cfg(buf, size);
    run_server(buf, size);
    free(buf);
    return 0;
}
