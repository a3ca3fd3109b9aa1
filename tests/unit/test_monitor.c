/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Check suite "monitor": the monitoring endpoints (core/server/monitor.h) of a server
 * driven on the sim env by scripted clients. Endpoints are rendered directly
 * (mr_monitor_render) and fetched over HTTP on the monitoring listener (port 8222 of host
 * "srv"), and compared with nats-server 2.9.10's keys, key order, value formats and
 * error messages: /varz, /connz (sorts, paging, filters, subscription lists, closed
 * connections), /subsz, /accountz (with a hand-built account config), /healthz, / and
 * 404s; HTTP keep-alive, HTTP/1.0, HEAD, pipelining and its bound, byte-by-byte
 * requests, malformed requests; and that the same seed renders the same bytes.
 *
 * Virtual time makes the formats exact: the sim's wall clock starts at
 * 2025-01-01T00:00:00Z (a Wednesday) and links have a 100 us one-way delay.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/server/monitor.h"
#include "tests/unit/fixture_server.h"

#define HTTP_PORT 8222

static void with_http(struct mr_server_opts *o)
{
    o->http_port = HTTP_PORT;
}

/* ------------------------------------------------------------------------------------
 * Rendering helpers
 */

struct page {
    int status;
    const char *ctype;
    char *body; /* malloc'ed by the monitor */
    json_t *json; /* NULL unless the body is JSON */
};

static void render(struct fx *f, const char *path, const char *query, struct page *p)
{
    p->status = mr_monitor_render(f->srv, path, query, &p->body, &p->ctype);
    ck_assert_ptr_nonnull(p->body);
    p->json = NULL;
    if (strcmp(p->ctype, "application/json") == 0) {
        json_error_t err;
        p->json = json_loads(p->body, 0, &err);
        ck_assert_msg(p->json != NULL, "%s?%s: bad JSON (%s): %s", path, query, err.text,
                      p->body);
    }
}

static void page_free(struct page *p)
{
    free(p->body);
    json_decref(p->json);
}

/* Renders and expects a 200 JSON object. */
static json_t *get_json(struct fx *f, const char *path, const char *query, struct page *p)
{
    render(f, path, query, p);
    ck_assert_msg(p->status == 200, "%s?%s: status %d: %s", path, query, p->status, p->body);
    ck_assert_ptr_nonnull(p->json);
    return p->json;
}

/* Renders and expects a 400 with exactly this text body. */
static void expect_400(struct fx *f, const char *path, const char *query, const char *msg)
{
    struct page p;
    render(f, path, query, &p);
    ck_assert_msg(p.status == 400, "%s?%s: status %d", path, query, p.status);
    ck_assert_str_eq(p.ctype, "text/plain; charset=utf-8");
    ck_assert_str_eq(p.body, msg);
    page_free(&p);
}

/* The object's keys in order, comma-separated (g_free it). */
static char *keys_of(json_t *o)
{
    ck_assert(json_is_object(o));
    GString *g = g_string_new(NULL);
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        (void)v;
        g_string_append_printf(g, "%s%s", g->len > 0 ? "," : "", k);
    }
    return g_string_free(g, FALSE);
}

static void assert_keys(json_t *o, const char *want)
{
    char *got = keys_of(o);
    ck_assert_str_eq(got, want);
    g_free(got);
}

static const char *sval(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_string(v), "%s is not a string", key);
    return json_string_value(v);
}

static json_int_t ival(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    ck_assert_msg(json_is_integer(v), "%s is not an integer", key);
    return json_integer_value(v);
}

/* Compares a value with JSON text, for lists whose exact content matters. */
static void assert_json(json_t *got, const char *want_text)
{
    json_error_t err;
    json_t *want = json_loads(want_text, JSON_DECODE_ANY, &err);
    ck_assert_msg(want != NULL, "bad expected JSON: %s", err.text);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        ck_assert_msg(false, "got %s\nwant %s", g, want_text);
        free(g);
    }
    json_decref(want);
}

/* The cids of a /connz page, comma-separated (g_free it). */
static char *cids_of(json_t *connz)
{
    GString *g = g_string_new(NULL);
    json_t *list = json_object_get(connz, "connections");
    size_t i;
    json_t *c;
    json_array_foreach(list, i, c)
    {
        g_string_append_printf(g, "%s%lld", i > 0 ? "," : "", (long long)ival(c, "cid"));
    }
    return g_string_free(g, FALSE);
}

static void assert_cids(struct fx *f, const char *query, const char *want)
{
    struct page p;
    json_t *j = get_json(f, "/connz", query, &p);
    char *got = cids_of(j);
    ck_assert_msg(strcmp(got, want) == 0, "connz?%s: cids %s, want %s", query, got, want);
    g_free(got);
    page_free(&p);
}

static struct sim_client *named_client(struct fx *f, const char *host, const char *name)
{
    char *json = g_strdup_printf("{\"verbose\":false,\"pedantic\":false,\"name\":\"%s\","
                                 "\"lang\":\"c\",\"version\":\"1.2.3\"}",
                                 name);
    struct sim_client *c = client(f, host, json);
    g_free(json);
    return c;
}

static void run_to(struct fx *f, uint64_t t_ns)
{
    sim_world_run_until(f->w, t_ns);
}

/* ------------------------------------------------------------------------------------
 * /varz
 */

static const char varz_keys[] =
    "server_id,server_name,version,proto,go,host,port,max_connections,ping_interval,"
    "ping_max,http_host,http_port,http_base_path,https_port,auth_timeout,max_control_line,"
    "max_payload,max_pending,cluster,gateway,leaf,mqtt,websocket,jetstream,tls_timeout,"
    "write_deadline,start,now,uptime,mem,cores,gomaxprocs,cpu,connections,total_connections,"
    "routes,remotes,leafnodes,in_msgs,out_msgs,in_bytes,out_bytes,slow_consumers,"
    "subscriptions,http_req_stats,config_load_time,system_account,meridian_version";

START_TEST(varz_has_nats_server_keys_in_order)
{
    struct fx f;
    fx_start(&f, 1, with_http);
    struct page p;
    json_t *v = get_json(&f, "/varz", "", &p);
    assert_keys(v, varz_keys);
    ck_assert_str_eq(sval(v, "server_id"), mr_server_id(f.srv));
    ck_assert_str_eq(sval(v, "server_name"), mr_server_id(f.srv));
    ck_assert_str_eq(sval(v, "version"), MR_SERVER_COMPAT_VERSION);
    ck_assert_str_eq(sval(v, "go"), "meridian");
    ck_assert_str_eq(sval(v, "host"), "0.0.0.0");
    ck_assert_int_eq(ival(v, "port"), 4222);
    ck_assert_int_eq(ival(v, "proto"), 1);
    ck_assert_int_eq(ival(v, "max_connections"), 65536);
    ck_assert_int_eq(ival(v, "ping_interval"), 120000000000LL);
    ck_assert_int_eq(ival(v, "ping_max"), 2);
    ck_assert_str_eq(sval(v, "http_host"), "0.0.0.0");
    ck_assert_int_eq(ival(v, "http_port"), HTTP_PORT);
    ck_assert_str_eq(sval(v, "http_base_path"), "");
    ck_assert_int_eq(ival(v, "auth_timeout"), 2); /* Go prints 2.0 as 2 */
    ck_assert_int_eq(ival(v, "tls_timeout"), 2);
    ck_assert_int_eq(ival(v, "max_control_line"), 4096);
    ck_assert_int_eq(ival(v, "max_payload"), 1048576);
    ck_assert_int_eq(ival(v, "max_pending"), 67108864);
    ck_assert_int_eq(ival(v, "write_deadline"), 10000000000LL);
    assert_json(json_object_get(v, "cluster"), "{}");
    assert_json(json_object_get(v, "jetstream"), "{}");
    ck_assert_str_eq(sval(v, "start"), "2025-01-01T00:00:00Z");
    ck_assert_str_eq(sval(v, "config_load_time"), "2025-01-01T00:00:00Z");
    ck_assert_str_eq(sval(v, "now"), "2025-01-01T00:00:00Z");
    ck_assert_str_eq(sval(v, "uptime"), "0s");
    ck_assert_int_eq(ival(v, "mem"), 16 * 1024 * 1024); /* the sim env's fixed facts */
    ck_assert_int_eq(ival(v, "cores"), 1);
    ck_assert_int_eq(ival(v, "gomaxprocs"), 1);
    ck_assert_int_eq(ival(v, "cpu"), 0);
    ck_assert_int_eq(ival(v, "connections"), 0);
    assert_json(json_object_get(v, "http_req_stats"), "{}");
    ck_assert_str_eq(sval(v, "system_account"), "$SYS");
    ck_assert_str_eq(sval(v, "meridian_version"), MR_SERVER_VERSION);
    page_free(&p);
    fx_finish(&f);
}
END_TEST

START_TEST(varz_counts_traffic_and_formats_time)
{
    struct fx f;
    fx_start(&f, 2, with_http);
    struct page p;
    json_t *v = get_json(&f, "/varz", "", &p);
    json_int_t subs0 = ival(v, "subscriptions");
    page_free(&p);
    struct sim_client *sub = plain_client(&f, "c1");
    struct sim_client *pub = plain_client(&f, "c2");
    say(sub, "SUB foo 1\r\nSUB foo 2\r\nSUB bar 3\r\n");
    barrier(&f, sub);
    say(pub, "PUB foo 5\r\nhello\r\nPUB nobody 2\r\nhi\r\n");
    barrier(&f, pub);
    barrier(&f, sub);
    run_to(&f, 65 * SEC + 500 * MS);
    v = get_json(&f, "/varz", "", &p);
    ck_assert_int_eq(ival(v, "connections"), 2);
    ck_assert_int_eq(ival(v, "total_connections"), 2);
    ck_assert_int_eq(ival(v, "in_msgs"), 2);
    ck_assert_int_eq(ival(v, "in_bytes"), 7);
    ck_assert_int_eq(ival(v, "out_msgs"), 2);
    ck_assert_int_eq(ival(v, "out_bytes"), 10);
    ck_assert_int_eq(ival(v, "subscriptions"), subs0 + 3);
    ck_assert_str_eq(sval(v, "now"), "2025-01-01T00:01:05.5Z");
    ck_assert_str_eq(sval(v, "uptime"), "1m5s");
    page_free(&p);
    fx_finish(&f);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * /connz
 */

static const char connz_keys[] = "server_id,now,num_connections,total,offset,limit,connections";
static const char conn_keys[] =
    "cid,kind,type,ip,port,start,last_activity,rtt,uptime,idle,pending_bytes,in_msgs,"
    "out_msgs,in_bytes,out_bytes,subscriptions";

START_TEST(connz_lists_clients_with_nats_server_fields)
{
    struct fx f;
    fx_start(&f, 3, with_http);
    struct sim_client *a = named_client(&f, "c1", "alpha");
    struct sim_client *b = plain_client(&f, "c2");
    say(a, "SUB foo 1\r\nSUB bar q 2\r\n");
    barrier(&f, a);
    say(b, "PUB foo 5\r\nhello\r\nPUB foo 5\r\nworld\r\n");
    barrier(&f, b);
    barrier(&f, a);
    /* Answer the server's RTT PING (sent 2 s after CONNECT): the round trip is twice the
     * link delay. */
    ck_assert(sim_client_wait_for(a, "PING\r\n", after(&f, 3 * SEC)));
    say(a, "PONG\r\n");
    run_to(&f, 10 * SEC);
    struct page p;
    json_t *j = get_json(&f, "/connz", "", &p);
    assert_keys(j, connz_keys);
    ck_assert_str_eq(sval(j, "server_id"), mr_server_id(f.srv));
    ck_assert_str_eq(sval(j, "now"), "2025-01-01T00:00:10Z");
    ck_assert_int_eq(ival(j, "num_connections"), 2);
    ck_assert_int_eq(ival(j, "total"), 2);
    ck_assert_int_eq(ival(j, "offset"), 0);
    ck_assert_int_eq(ival(j, "limit"), 1024);
    json_t *ca = json_array_get(json_object_get(j, "connections"), 0);
    json_t *cb = json_array_get(json_object_get(j, "connections"), 1);
    char *want = g_strdup_printf("%s,name,lang,version", conn_keys);
    assert_keys(ca, want);
    g_free(want);
    assert_keys(cb, conn_keys); /* no name, lang or version: left out as nats-server does */
    ck_assert_int_eq(ival(ca, "cid"), 1);
    ck_assert_str_eq(sval(ca, "kind"), "Client");
    ck_assert_str_eq(sval(ca, "type"), "nats");
    ck_assert_str_eq(sval(ca, "ip"), "c1");
    ck_assert_int_gt(ival(ca, "port"), 0);
    ck_assert(g_str_has_prefix(sval(ca, "start"), "2025-01-01T00:00:00."));
    ck_assert_str_eq(sval(ca, "rtt"), "200\xc2\xb5s");
    ck_assert_str_eq(sval(cb, "rtt"), "0s");
    ck_assert_str_eq(sval(ca, "uptime"), "9s");
    ck_assert_int_eq(ival(ca, "subscriptions"), 2);
    ck_assert_int_eq(ival(ca, "out_msgs"), 2);
    ck_assert_int_eq(ival(ca, "out_bytes"), 10);
    ck_assert_int_eq(ival(cb, "in_msgs"), 2);
    ck_assert_int_eq(ival(cb, "in_bytes"), 10);
    ck_assert_int_eq(ival(ca, "pending_bytes"), 0);
    ck_assert_str_eq(sval(ca, "name"), "alpha");
    ck_assert_str_eq(sval(ca, "lang"), "c");
    ck_assert_str_eq(sval(ca, "version"), "1.2.3");
    page_free(&p);

    j = get_json(&f, "/connz", "subs=1", &p);
    ca = json_array_get(json_object_get(j, "connections"), 0);
    assert_json(json_object_get(ca, "subscriptions_list"), "[\"foo\",\"bar\"]");
    ck_assert_ptr_null(json_object_get(json_array_get(json_object_get(j, "connections"), 1),
                                       "subscriptions_list"));
    page_free(&p);
    j = get_json(&f, "/connz", "subs=detail", &p);
    ca = json_array_get(json_object_get(j, "connections"), 0);
    assert_json(json_object_get(ca, "subscriptions_list_detail"),
                "[{\"subject\":\"foo\",\"sid\":\"1\",\"msgs\":2,\"cid\":1},"
                "{\"subject\":\"bar\",\"qgroup\":\"q\",\"sid\":\"2\",\"msgs\":0,\"cid\":1}]");
    page_free(&p);
    fx_finish(&f);
}
END_TEST

START_TEST(connz_sorts_pages_and_filters)
{
    struct fx f;
    fx_start(&f, 4, with_http);
    struct sim_client *c[4];
    static const char *const subs[4] = {"SUB a 1\r\n", "SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n",
                                        "SUB a 1\r\nSUB b 2\r\nSUB c 3\r\n", "PING\r\n"};
    for (int i = 0; i < 4; i++) {
        char host[8];
        snprintf(host, sizeof(host), "c%d", i + 1);
        c[i] = plain_client(&f, host);
        say(c[i], subs[i]);
        barrier(&f, c[i]);
        run_to(&f, sim_world_now_ns(f.w) + SEC);
    }
    say(c[3], "PUB x 3\r\nabc\r\nPUB x 1\r\na\r\n");
    barrier(&f, c[3]);
    say(c[0], "PUB x 1\r\na\r\n");
    barrier(&f, c[0]);
    assert_cids(&f, "", "1,2,3,4");
    assert_cids(&f, "sort=cid", "1,2,3,4");
    assert_cids(&f, "sort=start", "1,2,3,4");
    assert_cids(&f, "sort=subs", "2,3,1,4"); /* descending, ties by cid */
    assert_cids(&f, "sort=msgs_from", "4,1,2,3");
    assert_cids(&f, "sort=bytes_from", "4,1,2,3");
    assert_cids(&f, "sort=msgs_to", "1,2,3,4");
    assert_cids(&f, "sort=pending", "1,2,3,4");
    assert_cids(&f, "sort=last", "1,4,3,2");   /* most recent activity first */
    assert_cids(&f, "sort=idle", "2,3,4,1");   /* most idle first */
    assert_cids(&f, "sort=uptime", "4,3,2,1"); /* shortest first, as nats-server */
    assert_cids(&f, "sort=rtt", "1,2,3,4");
    assert_cids(&f, "sort=subs&offset=1&limit=2", "3,1");
    assert_cids(&f, "offset=3", "4");
    assert_cids(&f, "offset=9", "");
    assert_cids(&f, "offset=-5&limit=0", "1,2,3,4");
    assert_cids(&f, "cid=3", "3");
    assert_cids(&f, "cid=99", "");
    assert_cids(&f, "acc=$G", "1,2,3,4");
    assert_cids(&f, "acc=NOPE", "");
    assert_cids(&f, "user=nobody", "");
    struct page p;
    json_t *j = get_json(&f, "/connz", "sort=subs&offset=1&limit=2", &p);
    ck_assert_int_eq(ival(j, "num_connections"), 2);
    ck_assert_int_eq(ival(j, "total"), 4);
    ck_assert_int_eq(ival(j, "offset"), 1);
    ck_assert_int_eq(ival(j, "limit"), 2);
    page_free(&p);
    /* A cid search shows limit 1 and the unfiltered total, as nats-server does. */
    j = get_json(&f, "/connz", "cid=99", &p);
    ck_assert_int_eq(ival(j, "limit"), 1);
    ck_assert_int_eq(ival(j, "total"), 4);
    ck_assert_int_eq(ival(j, "num_connections"), 0);
    assert_json(json_object_get(j, "connections"), "[]");
    page_free(&p);
    fx_finish(&f);
}
END_TEST

START_TEST(connz_bad_query_values_get_nats_server_messages)
{
    struct fx f;
    fx_start(&f, 5, with_http);
    expect_400(&f, "/connz", "sort=foo", "invalid sorting option: foo");
    expect_400(&f, "/connz", "limit=abc",
               "Error decoding int for 'limit': strconv.Atoi: parsing \"abc\": invalid syntax");
    expect_400(&f, "/connz", "offset=99999999999999999999",
               "Error decoding int for 'offset': strconv.Atoi: parsing "
               "\"99999999999999999999\": value out of range");
    expect_400(&f, "/connz", "cid=-1",
               "Error decoding uint64 for 'cid': strconv.ParseUint: parsing \"-1\": "
               "invalid syntax");
    expect_400(&f, "/connz", "subs=maybe",
               "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"maybe\": "
               "invalid syntax");
    expect_400(&f, "/connz", "auth=2",
               "Error decoding boolean for 'auth': strconv.ParseBool: parsing \"2\": "
               "invalid syntax");
    expect_400(&f, "/connz", "state=bogus", "Error decoding state for bogus");
    expect_400(&f, "/connz", "sort=stop", "sort by stop only valid on closed connections");
    expect_400(&f, "/connz", "sort=reason&state=all",
               "sort by reason only valid on closed connections");
    /* nats-server decodes limit before it judges the sort. */
    expect_400(&f, "/connz", "sort=foo&limit=x",
               "Error decoding int for 'limit': strconv.Atoi: parsing \"x\": invalid syntax");
    /* A '+' in a query is a space, so Atoi refuses it, in Go too. */
    expect_400(&f, "/connz", "limit=+5",
               "Error decoding int for 'limit': strconv.Atoi: parsing \" 5\": invalid syntax");
    /* Go's strconv accepts these. */
    struct page p;
    get_json(&f, "/connz", "subs=T&auth=FALSE&limit=%2B5&state=OPEN&sort=", &p);
    ck_assert_int_eq(ival(p.json, "limit"), 5);
    page_free(&p);
    fx_finish(&f);
}
END_TEST

START_TEST(connz_keeps_closed_connections)
{
    struct fx f;
    fx_start(&f, 6, with_http);
    struct sim_client *a = named_client(&f, "c1", "gone");
    struct sim_client *b = plain_client(&f, "c2");
    say(a, "SUB foo 1\r\nSUB bar q 2\r\n");
    barrier(&f, a);
    run_to(&f, 5 * SEC);
    sim_client_close(a);
    ck_assert(sim_client_wait_closed(a, after(&f, SEC)));
    run_to(&f, 7 * SEC);
    assert_cids(&f, "", "2");
    assert_cids(&f, "state=closed", "1");
    assert_cids(&f, "state=all", "1,2");
    assert_cids(&f, "state=any&sort=uptime", "1,2"); /* 5 s (closed) before 7 s */
    assert_cids(&f, "state=closed&sort=reason", "1");
    assert_cids(&f, "state=closed&sort=stop", "1");
    assert_cids(&f, "state=closed&cid=1", "1");
    struct page p;
    json_t *j = get_json(&f, "/connz", "state=closed&subs=detail", &p);
    ck_assert_int_eq(ival(j, "total"), 1);
    json_t *c = json_array_get(json_object_get(j, "connections"), 0);
    assert_keys(c, "cid,kind,type,ip,port,start,last_activity,stop,reason,rtt,uptime,idle,"
                   "pending_bytes,in_msgs,out_msgs,in_bytes,out_bytes,subscriptions,name,lang,"
                   "version,subscriptions_list_detail");
    ck_assert_str_eq(sval(c, "reason"), "Client Closed");
    ck_assert(g_str_has_prefix(sval(c, "stop"), "2025-01-01T00:00:05"));
    ck_assert_str_eq(sval(c, "uptime"), "5s"); /* stopped at the close, not now (7 s) */
    ck_assert_int_eq(ival(c, "subscriptions"), 2);
    assert_json(json_object_get(c, "subscriptions_list_detail"),
                "[{\"subject\":\"foo\",\"sid\":\"1\",\"msgs\":0,\"cid\":1},"
                "{\"subject\":\"bar\",\"qgroup\":\"q\",\"sid\":\"2\",\"msgs\":0,\"cid\":1}]");
    page_free(&p);
    (void)b;
    fx_finish(&f);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * /subsz
 */

static const char sl_keys[] = "num_subscriptions,num_cache,num_inserts,num_removes,num_matches,"
                              "cache_hit_rate,max_fanout,avg_fanout";

START_TEST(subsz_reports_statistics_and_lists)
{
    struct fx f;
    fx_start(&f, 7, with_http);
    struct page p;
    json_t *j = get_json(&f, "/subsz", "", &p);
    assert_keys(j, sl_keys);
    json_int_t base = ival(j, "num_subscriptions");
    json_int_t base_matches = ival(j, "num_matches");
    page_free(&p);
    struct sim_client *a = plain_client(&f, "c1");
    say(a, "SUB foo 1\r\nSUB foo.* q 2\r\nSUB bar 3\r\nUNSUB 3\r\n");
    barrier(&f, a);
    say(a, "PUB foo 1\r\nx\r\nPUB foo 1\r\nx\r\n");
    barrier(&f, a);
    j = get_json(&f, "/subsz", "", &p);
    assert_keys(j, sl_keys);
    ck_assert_int_eq(ival(j, "num_subscriptions"), base + 2);
    /* The second PUB of the same subject reuses the publisher's last match (as
     * nats-server's per-client cache does), so the sublist counts one match. */
    ck_assert_int_eq(ival(j, "num_matches"), base_matches + 1);
    /* The cached result for "foo" holds one plain subscription. */
    ck_assert_int_eq(ival(j, "max_fanout"), 1);
    ck_assert_int_eq(ival(j, "avg_fanout"), 1);
    page_free(&p);

    j = get_json(&f, "/subsz", "subs=1", &p);
    char *want = g_strdup_printf("server_id,now,%s,total,offset,limit,subscriptions_list", sl_keys);
    assert_keys(j, want);
    g_free(want);
    ck_assert_int_eq(ival(j, "total"), 2);
    assert_json(json_object_get(j, "subscriptions_list"),
                "[{\"account\":\"$G\",\"subject\":\"foo\",\"sid\":\"1\",\"msgs\":2,\"cid\":1},"
                "{\"account\":\"$G\",\"subject\":\"foo.*\",\"qgroup\":\"q\",\"sid\":\"2\","
                "\"msgs\":0,\"cid\":1}]");
    page_free(&p);
    j = get_json(&f, "/subsz", "subs=1&test=foo.bar", &p);
    ck_assert_int_eq(ival(j, "total"), 1);
    ck_assert_str_eq(sval(json_array_get(json_object_get(j, "subscriptions_list"), 0), "subject"),
                     "foo.*");
    page_free(&p);
    j = get_json(&f, "/subsz", "subs=1&offset=1&limit=5", &p);
    ck_assert_int_eq(ival(j, "total"), 1); /* nats-server's total is the page's length */
    ck_assert_int_eq(ival(j, "offset"), 1);
    page_free(&p);
    /* An empty page gives the bare statistics, as nats-server does. */
    j = get_json(&f, "/subsz", "subs=1&offset=5", &p);
    assert_keys(j, sl_keys);
    page_free(&p);
    j = get_json(&f, "/subscriptionsz", "subs=1&acc=NOPE", &p);
    assert_keys(j, sl_keys);
    ck_assert_int_eq(ival(j, "num_subscriptions"), 0);
    page_free(&p);
    expect_400(&f, "/subsz", "test=foo.*",
               "invalid test subject, must be valid publish subject: foo.*");
    expect_400(&f, "/subsz", "subs=x",
               "Error decoding boolean for 'subs': strconv.ParseBool: parsing \"x\": "
               "invalid syntax");
    fx_finish(&f);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * /accountz, with accounts built by hand as the config loader would
 */

static char *approved_b[] = {"B"};
static struct mr_export_opts exports_a[] = {
    {.service = false, .subject = "puba.>"},
    {.service = true, .subject = "req.>", .accounts = approved_b, .accounts_count = 1},
};
static struct mr_import_opts imports_b[] = {
    {.service = false, .account = "A", .subject = "puba.>", .prefix = "from_a"},
    {.service = true, .account = "A", .subject = "req.x", .to = "svc.x"},
};
static struct mr_account_opts accounts[] = {
    {.name = "A", .exports = exports_a, .exports_count = 2, .max_connections = -1,
     .max_subscriptions = -1, .max_payload = -1},
    {.name = "B", .imports = imports_b, .imports_count = 2, .max_connections = -1,
     .max_subscriptions = -1, .max_payload = -1},
};
static struct mr_user_opts users[] = {
    {.user = "ua", .password = "pa", .account = "A"},
    {.user = "ub", .password = "pb", .account = "B"},
};
static struct mr_auth_opts auth = {
    .users = users,
    .users_count = 2,
    .accounts = accounts,
    .accounts_count = 2,
};

static void with_accounts(struct mr_server_opts *o)
{
    with_http(o);
    o->auth = &auth;
}

static struct sim_client *login(struct fx *f, const char *host, const char *user,
                                const char *pass)
{
    char *json = g_strdup_printf("{\"verbose\":false,\"pedantic\":false,\"user\":\"%s\","
                                 "\"pass\":\"%s\"}",
                                 user, pass);
    struct sim_client *c = client(f, host, json);
    g_free(json);
    return c;
}

static bool has_string(json_t *array, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(array, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0) {
            return true;
        }
    }
    return false;
}

START_TEST(accountz_lists_and_details_accounts)
{
    struct fx f;
    fx_start(&f, 8, with_accounts);
    struct sim_client *a = login(&f, "c1", "ua", "pa");
    say(a, "SUB puba.x 1\r\n");
    barrier(&f, a);
    struct page p;
    json_t *j = get_json(&f, "/accountz", "", &p);
    assert_keys(j, "server_id,now,system_account,accounts");
    json_t *list = json_object_get(j, "accounts");
    ck_assert_str_eq(json_string_value(json_array_get(list, 0)), "$G");
    ck_assert(has_string(list, "A") && has_string(list, "B") && has_string(list, "$SYS"));
    ck_assert_str_eq(sval(j, "system_account"), "$SYS");
    page_free(&p);

    j = get_json(&f, "/accountz", "acc=A", &p);
    json_t *d = json_object_get(j, "account_detail");
    assert_keys(d, "account_name,update_time,expired,complete,jetstream_enabled,"
                   "leafnode_connections,client_connections,subscriptions,exports,"
                   "sublist_stats");
    ck_assert_str_eq(sval(d, "account_name"), "A");
    ck_assert_int_eq(ival(d, "client_connections"), 1);
    assert_json(json_object_get(d, "exports"),
                "[{\"subject\":\"puba.>\",\"type\":\"stream\"},"
                "{\"subject\":\"req.>\",\"type\":\"service\",\"response_type\":\"Singleton\","
                "\"approved_accounts\":[\"B\"]}]");
    assert_keys(json_object_get(d, "sublist_stats"), sl_keys);
    page_free(&p);

    j = get_json(&f, "/accountz", "acc=B", &p);
    d = json_object_get(j, "account_detail");
    assert_json(json_object_get(d, "imports"),
                "[{\"subject\":\"puba.>\",\"account\":\"A\",\"local_subject\":\"from_a.puba.>\","
                "\"type\":\"stream\",\"invalid\":false,\"share\":false,\"tracking\":false},"
                "{\"subject\":\"svc.x\",\"account\":\"A\",\"to\":\"req.x\",\"type\":\"service\","
                "\"invalid\":false,\"share\":false,\"tracking\":false}]");
    page_free(&p);

    j = get_json(&f, "/accountz", "acc=%24SYS", &p);
    d = json_object_get(j, "account_detail");
    ck_assert(json_is_true(json_object_get(d, "is_system")));
    page_free(&p);
    expect_400(&f, "/accountz", "acc=NOPE", "Account NOPE does not exist");

    /* auth=1 shows the user and the (non-global) account. */
    j = get_json(&f, "/connz", "auth=1", &p);
    json_t *c = json_array_get(json_object_get(j, "connections"), 0);
    ck_assert_str_eq(sval(c, "authorized_user"), "ua");
    ck_assert_str_eq(sval(c, "account"), "A");
    page_free(&p);
    j = get_json(&f, "/connz", "", &p);
    c = json_array_get(json_object_get(j, "connections"), 0);
    ck_assert_ptr_null(json_object_get(c, "authorized_user"));
    page_free(&p);
    assert_cids(&f, "acc=A", "1");
    assert_cids(&f, "acc=B", "");
    assert_cids(&f, "auth=1&user=ua", "1");
    fx_finish(&f);
}
END_TEST

/* ------------------------------------------------------------------------------------
 * /healthz, /, 404, JSONP
 */

START_TEST(healthz_index_and_unknown_paths)
{
    struct fx f;
    fx_start(&f, 9, with_http);
    struct page p;
    render(&f, "/healthz", "", &p);
    ck_assert_int_eq(p.status, 200);
    ck_assert_str_eq(p.body, "{\"status\":\"ok\"}"); /* compact, as nats-server */
    page_free(&p);
    render(&f, "/healthz", NULL, &p);
    ck_assert_int_eq(p.status, 200);
    page_free(&p);
    render(&f, "/healthz", "callback=cb.fn_1", &p);
    ck_assert_int_eq(p.status, 200);
    ck_assert_str_eq(p.ctype, "application/javascript");
    ck_assert_str_eq(p.body, "cb.fn_1({\"status\":\"ok\"})");
    page_free(&p);
    expect_400(&f, "/healthz", "callback=%3Cscript%3E", "invalid callback name: <script>");
    expect_400(&f, "/healthz", "js-enabled-only=yes",
               "Error decoding boolean for 'js-enabled-only': strconv.ParseBool: parsing "
               "\"yes\": invalid syntax");
    render(&f, "/", "", &p);
    ck_assert_int_eq(p.status, 200);
    ck_assert_str_eq(p.ctype, "text/html; charset=utf-8");
    static const char *const links[] = {"./varz", "./connz", "./subsz", "./accountz",
                                        "./healthz"};
    for (size_t i = 0; i < G_N_ELEMENTS(links); i++) {
        ck_assert_msg(strstr(p.body, links[i]) != NULL, "index lacks %s", links[i]);
    }
    page_free(&p);
    static const char *const unknown[] = {"/nope", "/varz/", "//varz", "/VARZ", ""};
    for (size_t i = 0; i < G_N_ELEMENTS(unknown); i++) {
        render(&f, unknown[i], "", &p);
        ck_assert_int_eq(p.status, 404);
        ck_assert_str_eq(p.body, "404 page not found\n");
        page_free(&p);
    }
    fx_finish(&f);
}
END_TEST

START_TEST(same_seed_renders_same_bytes)
{
    char *bodies[2][3];
    for (int run = 0; run < 2; run++) {
        struct fx f;
        fx_start(&f, 42, with_http);
        struct sim_client *a = named_client(&f, "c1", "alpha");
        struct sim_client *b = named_client(&f, "c2", "beta");
        say(a, "SUB foo 1\r\nSUB > 2\r\n");
        barrier(&f, a);
        say(b, "PUB foo 2\r\nhi\r\n");
        barrier(&f, b);
        run_to(&f, 3 * SEC);
        static const char *const paths[3] = {"/varz", "/connz", "/subsz"};
        for (int i = 0; i < 3; i++) {
            const char *ct;
            ck_assert_int_eq(mr_monitor_render(f.srv, paths[i], "subs=1", &bodies[run][i], &ct),
                             200);
        }
        fx_finish(&f);
    }
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq(bodies[0][i], bodies[1][i]);
        free(bodies[0][i]);
        free(bodies[1][i]);
    }
}
END_TEST

/* ------------------------------------------------------------------------------------
 * HTTP on the monitoring listener
 */

struct response {
    int status;
    char *head; /* status line and headers, g_malloc'ed */
    char *body;
};

/* Splits the first complete response off the front of what c received: true once its
 * head and Content-Length body are there (no body for a HEAD request). */
static bool take_response(struct sim_client *c, bool head_only, struct response *r, size_t *used)
{
    size_t len;
    const uint8_t *buf = sim_client_received(c, &len);
    if (len == 0) {
        return false;
    }
    const uint8_t *end = memmem(buf, len, "\r\n\r\n", 4);
    if (end == NULL) {
        return false;
    }
    size_t head_len = (size_t)(end - buf) + 4;
    char *head = g_strndup((const char *)buf, head_len);
    const char *cl = strstr(head, "Content-Length: ");
    size_t body_len = cl != NULL ? strtoul(cl + 16, NULL, 10) : 0;
    if (head_only) {
        body_len = 0;
    }
    if (len < head_len + body_len) {
        g_free(head);
        return false;
    }
    if (r != NULL) {
        r->head = head;
        r->body = g_strndup((const char *)buf + head_len, body_len);
        r->status = atoi(head + 9);
    } else {
        g_free(head);
    }
    *used = head_len + body_len;
    return true;
}

struct response_wait {
    struct sim_client *c;
    bool head_only;
};

static bool response_ready(void *ctx)
{
    struct response_wait *w = ctx;
    size_t used;
    return take_response(w->c, w->head_only, NULL, &used);
}

/* Runs until a whole response is there and takes it; it must be all that arrived (one
 * request at a time). */
static void read_response(struct fx *f, struct sim_client *c, bool head_only, struct response *r)
{
    struct response_wait w = {c, head_only};
    ck_assert(sim_world_run_until_pred(f->w, response_ready, &w, after(f, SEC)));
    size_t used;
    ck_assert(take_response(c, head_only, r, &used));
    size_t len;
    (void)sim_client_received(c, &len);
    ck_assert_uint_eq(len, used);
    sim_client_clear(c);
}

static void response_free(struct response *r)
{
    g_free(r->head);
    g_free(r->body);
}

static struct sim_client *web(struct fx *f, const char *name)
{
    struct sim_client *c = sim_client_create(f->w, name, "srv", HTTP_PORT);
    run_to(f, sim_world_now_ns(f->w) + MS);
    ck_assert(sim_client_connected(c));
    return c;
}

START_TEST(http_get_answers_with_go_style_headers)
{
    struct fx f;
    fx_start(&f, 10, with_http);
    struct sim_client *w = web(&f, "w1");
    say(w, "GET /healthz HTTP/1.1\r\nHost: srv:8222\r\n\r\n");
    struct response r;
    read_response(&f, w, false, &r);
    ck_assert_str_eq(r.head, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             "Date: Wed, 01 Jan 2025 00:00:00 GMT\r\nContent-Length: 15\r\n\r\n");
    ck_assert_str_eq(r.body, "{\"status\":\"ok\"}");
    response_free(&r);
    /* Keep-alive: the same connection answers again. */
    say(w, "GET /varz HTTP/1.1\r\nHost: srv\r\n\r\n");
    read_response(&f, w, false, &r);
    ck_assert_int_eq(r.status, 200);
    json_t *v = json_loads(r.body, 0, NULL);
    ck_assert_ptr_nonnull(v);
    assert_json(json_object_get(v, "http_req_stats"), "{\"/healthz\":1,\"/varz\":1}");
    /* Monitoring connections are not clients. */
    ck_assert_int_eq(ival(v, "connections"), 0);
    ck_assert_int_eq(ival(v, "total_connections"), 0);
    json_decref(v);
    response_free(&r);
    ck_assert(sim_client_connected(w));
    assert_cids(&f, "", "");
    fx_finish(&f);
}
END_TEST

START_TEST(http_versions_methods_and_close)
{
    struct fx f;
    fx_start(&f, 11, with_http);
    struct response r;
    struct sim_client *w = web(&f, "w1");
    say(w, "HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    read_response(&f, w, true, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(strstr(r.head, "Content-Length: 15\r\n") != NULL);
    response_free(&r);
    say(w, "POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    read_response(&f, w, false, &r);
    ck_assert_int_eq(r.status, 405);
    ck_assert(strstr(r.head, "Allow: GET, HEAD\r\n") != NULL);
    response_free(&r);
    say(w, "GET /heal%74hz HTTP/1.1\r\nHost: x\r\n\r\n");
    read_response(&f, w, false, &r);
    ck_assert_int_eq(r.status, 200);
    response_free(&r);
    say(w, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    read_response(&f, w, false, &r);
    ck_assert_int_eq(r.status, 404);
    ck_assert(strstr(r.head, "X-Content-Type-Options: nosniff\r\n") != NULL);
    ck_assert_str_eq(r.body, "404 page not found\n");
    response_free(&r);
    say(w, "GET /connz?limit=x HTTP/1.1\r\nHost: x\r\n\r\n");
    read_response(&f, w, false, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert(strstr(r.head, "Content-Type: text/plain; charset=utf-8\r\n") != NULL);
    response_free(&r);
    say(w, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    read_response(&f, w, false, &r);
    ck_assert(strstr(r.head, "Connection: close\r\n") != NULL);
    response_free(&r);
    ck_assert(sim_client_wait_closed(w, after(&f, SEC)));

    struct sim_client *old = web(&f, "w2");
    say(old, "GET /healthz HTTP/1.0\r\n\r\n");
    read_response(&f, old, false, &r);
    ck_assert(g_str_has_prefix(r.head, "HTTP/1.0 200 OK\r\n"));
    response_free(&r);
    ck_assert(sim_client_wait_closed(old, after(&f, SEC)));
    struct sim_client *ka = web(&f, "w3");
    say(ka, "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    read_response(&f, ka, false, &r);
    ck_assert(strstr(r.head, "Connection: keep-alive\r\n") != NULL);
    response_free(&r);
    run_to(&f, sim_world_now_ns(f.w) + SEC);
    ck_assert(sim_client_connected(ka));
    fx_finish(&f);
}
END_TEST

START_TEST(http_bad_requests_are_refused_and_closed)
{
    struct fx f;
    fx_start(&f, 12, with_http);
    static const char *const reqs[] = {
        "CONNECT {\"verbose\":false}\r\n", /* a NATS client on the wrong port */
        "GET / HTTP/1.1\r\n\r\n",          /* no Host */
        "GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n",
    };
    static const int statuses[] = {400, 400, 505, 501, 400};
    for (size_t i = 0; i < G_N_ELEMENTS(reqs); i++) {
        char name[8];
        snprintf(name, sizeof(name), "w%zu", i);
        struct sim_client *w = web(&f, name);
        say(w, reqs[i]);
        struct response r;
        read_response(&f, w, false, &r);
        ck_assert_msg(r.status == statuses[i], "%zu: status %d", i, r.status);
        ck_assert(strstr(r.head, "Connection: close\r\n") != NULL);
        response_free(&r);
        ck_assert(sim_client_wait_closed(w, after(&f, SEC)));
    }
    /* A head that never ends is cut off at MR_HTTP_HEAD_MAX. */
    struct sim_client *w = web(&f, "big");
    say(w, "GET / HTTP/1.1\r\nHost: x\r\nX: ");
    char *junk = g_malloc(MR_HTTP_HEAD_MAX);
    memset(junk, 'j', MR_HTTP_HEAD_MAX);
    ck_assert_int_eq(sim_client_send(w, junk, MR_HTTP_HEAD_MAX), 0);
    g_free(junk);
    struct response r;
    read_response(&f, w, false, &r);
    ck_assert_int_eq(r.status, 431);
    response_free(&r);
    ck_assert(sim_client_wait_closed(w, after(&f, SEC)));
    fx_finish(&f);
}
END_TEST

static size_t count_status_lines(struct sim_client *c)
{
    size_t len;
    const uint8_t *buf = sim_client_received(c, &len);
    return len == 0 ? 0 : count_in(buf, len, "HTTP/1.1 200 OK\r\n");
}

START_TEST(http_byte_by_byte_and_pipelined_requests)
{
    struct fx f;
    fx_start(&f, 13, with_http);
    struct sim_client *w = web(&f, "w1");
    static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    for (size_t i = 0; i < sizeof(req) - 1; i++) {
        ck_assert_int_eq(sim_client_send(w, req + i, 1), 0);
        run_to(&f, sim_world_now_ns(f.w) + MS);
        ck_assert_uint_eq(count_status_lines(w), i + 2 == sizeof(req) ? 1 : 0);
    }
    sim_client_clear(w);
    /* Three in one write: three answers, in order. */
    GString *three = g_string_new(NULL);
    g_string_append(three, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    g_string_append(three, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    g_string_append(three, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(sim_client_send(w, three->str, three->len), 0);
    g_string_free(three, TRUE);
    run_to(&f, sim_world_now_ns(f.w) + 10 * MS);
    char *got = received_str(w);
    const char *first = strstr(got, "200 OK");
    const char *second = strstr(got, "404 Not Found");
    ck_assert(first != NULL && second != NULL && first < second);
    ck_assert(strstr(second, "200 OK") != NULL);
    g_free(got);
    sim_client_clear(w);
    /* More than MR_HTTP_PIPELINE_MAX in one read: the first ones are answered, then the
     * connection is closed. */
    GString *many = g_string_new(NULL);
    for (int i = 0; i < MR_HTTP_PIPELINE_MAX + 1; i++) {
        g_string_append(many, req);
    }
    ck_assert_uint_lt(many->len, 16 * 1024); /* one sim chunk, so one read */
    ck_assert_int_eq(sim_client_send(w, many->str, many->len), 0);
    g_string_free(many, TRUE);
    ck_assert(sim_client_wait_closed(w, after(&f, SEC)));
    ck_assert_uint_eq(count_status_lines(w), MR_HTTP_PIPELINE_MAX);
    fx_finish(&f);
}
END_TEST

static Suite *monitor_suite(void)
{
    Suite *s = suite_create("monitor");

    TCase *tc = tcase_create("varz");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, varz_has_nats_server_keys_in_order);
    tcase_add_test(tc, varz_counts_traffic_and_formats_time);
    suite_add_tcase(s, tc);

    tc = tcase_create("connz");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, connz_lists_clients_with_nats_server_fields);
    tcase_add_test(tc, connz_sorts_pages_and_filters);
    tcase_add_test(tc, connz_bad_query_values_get_nats_server_messages);
    tcase_add_test(tc, connz_keeps_closed_connections);
    suite_add_tcase(s, tc);

    tc = tcase_create("other");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, subsz_reports_statistics_and_lists);
    tcase_add_test(tc, accountz_lists_and_details_accounts);
    tcase_add_test(tc, healthz_index_and_unknown_paths);
    tcase_add_test(tc, same_seed_renders_same_bytes);
    suite_add_tcase(s, tc);

    tc = tcase_create("http");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, http_get_answers_with_go_style_headers);
    tcase_add_test(tc, http_versions_methods_and_close);
    tcase_add_test(tc, http_bad_requests_are_refused_and_closed);
    tcase_add_test(tc, http_byte_by_byte_and_pipelined_requests);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(monitor_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
