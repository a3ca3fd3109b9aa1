/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The monitoring endpoints (monitor.h): nats-server's /varz, /connz, /subsz, /accountz,
 * /healthz and the / index page, rendered from the server's state with nats-server's
 * key names, key order and value formats, and served over HTTP/1.1 (core/proto/http.h)
 * on connections of kind MR_CONN_HTTP.
 *
 * Formats follow nats-server 2.9.10: times are RFC 3339 in UTC with nanoseconds and
 * trailing zeros trimmed ("2025-01-01T00:00:01.5Z"); "rtt" is Go's Duration.String()
 * ("1.5ms", "673µs"); "uptime" and "idle" are nats-server's own "1d2h3m4s" form;
 * ping_interval and write_deadline are integer nanoseconds; auth_timeout and
 * tls_timeout float seconds. JSON is indented by two spaces like Go's MarshalIndent,
 * /healthz compact like Marshal. Go escapes '<', '>' and '&' as \u003c...; we send them
 * as they are (the same JSON value).
 *
 * Invariants:
 *  - Output is deterministic: objects are built in a fixed key order and dumped with
 *    JSON_PRESERVE_ORDER; lists walk ordered containers (accounts in creation order,
 *    connections in accept order, subscriptions in subscription order, the closed ring
 *    oldest first) and every sort has a total comparator (ties by cid).
 *  - Rendering reads the server and never changes it; only serving over HTTP counts
 *    requests (http_req_stats) and uses the connection's input buffer.
 *  - An HTTP connection's in_buf holds at most one incomplete request (less than
 *    MR_HTTP_HEAD_MAX + MR_HTTP_BODY_MAX bytes) between reads.
 *
 * Ownership: response bodies are malloc'ed here and freed by whoever called
 * mr_monitor_render; closed-connection snapshots are one mr_mem block each, owned by
 * the ring in struct mr_monitor and freed by mr_monitor_deinit or when overwritten.
 */
#include "core/server/monitor.h"

#include <glib.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/conf/conf_server.h"
#include "core/err.h"
#include "core/js/js_api.h"
#include "core/limits.h"
#include "core/mem.h"
#include "core/proto/http.h"
#include "core/proto/subject.h"
#include "core/server/server_int.h"
#include "core/server/sublist.h"

/* nats-server's default page size for /connz and /subsz. */
#define LIST_LIMIT_DEFAULT 1024
/* nats-server's TLS handshake timeout default, in seconds, shown as tls_timeout. */
#define TLS_TIMEOUT_DEFAULT_NS (2ULL * MR_NS_PER_SEC)

#define CT_JSON "application/json"
#define CT_JS "application/javascript"
#define CT_TEXT "text/plain; charset=utf-8"
#define CT_HTML "text/html; charset=utf-8"

_Static_assert(MR_MONITOR_CLOSED_MAX > 0, "the closed ring has room");
_Static_assert(MR_HTTP_QUERY_VALUE_MAX >= MR_SERVER_NAME_MAX, "account names fit a value");

/* ------------------------------------------------------------------------------------ */
/* Time and duration formats                                                             */

struct civil {
    int64_t year;
    unsigned month; /* 1..12 */
    unsigned day;   /* 1..31 */
    unsigned hour;
    unsigned min;
    unsigned sec;
    unsigned nsec;
    unsigned wday; /* 0 = Sunday */
};

static int64_t floor_div(int64_t a, int64_t b)
{
    mr_assert(b > 0);
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* Splits wall-clock nanoseconds since 1970 into a UTC date (proleptic Gregorian, by
 * counting 400-year eras from 0000-03-01) and a time of day. */
static void civil_of(int64_t wall_ns, struct civil *t)
{
    int64_t secs = floor_div(wall_ns, (int64_t)MR_NS_PER_SEC);
    t->nsec = (unsigned)(wall_ns - secs * (int64_t)MR_NS_PER_SEC);
    int64_t days = floor_div(secs, 86400);
    int64_t rem = secs - days * 86400;
    t->hour = (unsigned)(rem / 3600);
    t->min = (unsigned)(rem % 3600 / 60);
    t->sec = (unsigned)(rem % 60);
    t->wday = (unsigned)((days % 7 + 11) % 7); /* 1970-01-01 was a Thursday */
    int64_t z = days + 719468;                  /* days since 0000-03-01 */
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097; /* [0, 146096] */
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153; /* March = 0 */
    t->day = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    t->month = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    t->year = yoe + era * 400 + (t->month <= 2 ? 1 : 0);
    mr_assert(t->month >= 1 && t->month <= 12);
    mr_assert(t->day >= 1 && t->day <= 31);
}

/* Go's time.RFC3339Nano in UTC: fraction trimmed of trailing zeros, none when zero. */
static void format_rfc3339(char *out, size_t cap, int64_t wall_ns)
{
    struct civil t;
    civil_of(wall_ns, &t);
    int n = snprintf(out, cap, "%04lld-%02u-%02uT%02u:%02u:%02u", (long long)t.year, t.month,
                     t.day, t.hour, t.min, t.sec);
    mr_assert(n > 0 && (size_t)n < cap);
    size_t w = (size_t)n;
    if (t.nsec != 0) {
        char frac[16];
        mr_assert(t.nsec < MR_NS_PER_SEC);
        snprintf(frac, sizeof(frac), "%09u", t.nsec);
        size_t fl = 9;
        while (frac[fl - 1] == '0') {
            fl--;
        }
        mr_assert(w + 1 + fl + 2 <= cap);
        out[w++] = '.';
        memcpy(out + w, frac, fl);
        w += fl;
    }
    mr_assert(w + 2 <= cap);
    out[w++] = 'Z';
    out[w] = '\0';
}

/* The HTTP Date header's IMF-fixdate: "Thu, 26 Nov 2026 09:14:47 GMT". */
static void format_http_date(char *out, size_t cap, int64_t wall_ns)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct civil t;
    civil_of(wall_ns, &t);
    int n = snprintf(out, cap, "%s, %02u %s %04lld %02u:%02u:%02u GMT", days[t.wday], t.day,
                     months[t.month - 1], (long long)t.year, t.hour, t.min, t.sec);
    mr_assert(n > 0 && (size_t)n < cap);
}

/* Writes v's low prec decimal digits backwards before buf[w] as a fraction, without
 * trailing zeros and without the '.' when all are zero; returns the new w and leaves
 * v / 10^prec in *rest. Go's fmtFrac. */
static size_t put_frac(char *buf, size_t w, uint64_t v, unsigned prec, uint64_t *rest)
{
    bool print = false;
    for (unsigned i = 0; i < prec; i++) {
        unsigned digit = (unsigned)(v % 10);
        print = print || digit != 0;
        if (print) {
            mr_assert(w > 0);
            buf[--w] = (char)('0' + digit);
        }
        v /= 10;
    }
    if (print) {
        mr_assert(w > 0);
        buf[--w] = '.';
    }
    *rest = v;
    return w;
}

static size_t put_int(char *buf, size_t w, uint64_t v)
{
    do {
        mr_assert(w > 0);
        buf[--w] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    return w;
}

static size_t put_str(char *buf, size_t w, const char *s)
{
    size_t n = strlen(s);
    mr_assert(w >= n);
    memcpy(buf + w - n, s, n);
    return w - n;
}

/* Go's time.Duration.String() for a non-negative duration: "0s", "850ns", "1.5µs",
 * "4.186697ms", "2.5s", "1m0s", "1h2m3.004s". */
static void format_go_duration(char *out, size_t cap, uint64_t d)
{
    char buf[40];
    size_t w = sizeof(buf);
    buf[--w] = '\0';
    if (d < MR_NS_PER_SEC) {
        if (d == 0) {
            w = put_str(buf, w, "0s");
        } else if (d < 1000) {
            w = put_str(buf, w, "ns");
            w = put_int(buf, w, d);
        } else {
            bool micro = d < MR_NS_PER_MS;
            w = put_str(buf, w, micro ? "\xc2\xb5s" : "ms");
            w = put_frac(buf, w, d, micro ? 3 : 6, &d);
            w = put_int(buf, w, d);
        }
    } else {
        w = put_str(buf, w, "s");
        w = put_frac(buf, w, d, 9, &d);
        w = put_int(buf, w, d % 60);
        d /= 60;
        if (d > 0) {
            w = put_str(buf, w, "m");
            w = put_int(buf, w, d % 60);
            d /= 60;
            if (d > 0) {
                w = put_str(buf, w, "h");
                w = put_int(buf, w, d);
            }
        }
    }
    mr_assert(sizeof(buf) - w <= cap);
    memcpy(out, buf + w, sizeof(buf) - w);
}

/* nats-server's uptime form, whole seconds: "5s", "2m5s", "3h2m5s", "1d3h2m5s",
 * "1y1d3h2m5s". */
static void format_uptime(char *out, size_t cap, uint64_t ns)
{
    unsigned long long s = ns / MR_NS_PER_SEC;
    unsigned long long m = s / 60;
    unsigned long long h = m / 60;
    unsigned long long d = h / 24;
    unsigned long long y = d / 365;
    int n;
    if (y > 0) {
        n = snprintf(out, cap, "%lluy%llud%lluh%llum%llus", y, d % 365, h % 24, m % 60, s % 60);
    } else if (d > 0) {
        n = snprintf(out, cap, "%llud%lluh%llum%llus", d, h % 24, m % 60, s % 60);
    } else if (h > 0) {
        n = snprintf(out, cap, "%lluh%llum%llus", h, m % 60, s % 60);
    } else if (m > 0) {
        n = snprintf(out, cap, "%llum%llus", m, s % 60);
    } else {
        n = snprintf(out, cap, "%llus", s);
    }
    mr_assert(n > 0 && (size_t)n < cap);
}

/* nats-server shows an RTT between 1µs and 1ms truncated to whole microseconds. */
static void format_rtt(char *out, size_t cap, uint64_t rtt_ns)
{
    if (rtt_ns > 1000 && rtt_ns < MR_NS_PER_MS) {
        rtt_ns -= rtt_ns % 1000;
    }
    format_go_duration(out, cap, rtt_ns);
}

/* ------------------------------------------------------------------------------------ */
/* JSON helpers                                                                          */

static void put(json_t *o, const char *key, json_t *v)
{
    /* Fails only when a value could not be allocated: real OOM, which aborts. */
    int rc = json_object_set_new(o, key, v);
    mr_assert(rc == 0);
}

static void push(json_t *a, json_t *v)
{
    int rc = json_array_append_new(a, v);
    mr_assert(rc == 0);
}

static json_t *jint(uint64_t v)
{
    return json_integer(v > (uint64_t)INT64_MAX ? INT64_MAX : (json_int_t)v);
}

/* Go prints a float64 with no fraction as an integer ("cpu": 0); jansson would print
 * "0.0", so integral values go out as integers. */
static json_t *jnum(double v)
{
    if (v > -9007199254740992.0 && v < 9007199254740992.0 && (double)(json_int_t)v == v) {
        return json_integer((json_int_t)v);
    }
    return json_real(v);
}

/* A string from the wire or the config may hold bytes that are not UTF-8; Go's
 * encoder replaces them with U+FFFD, and so do we (jansson refuses them). */
static json_t *jstrn(const char *s, size_t n)
{
    json_t *v = json_stringn(s, n);
    if (v == NULL) {
        gchar *valid = g_utf8_make_valid(s, (gssize)n);
        v = json_string(valid);
        g_free(valid);
    }
    mr_assert(v != NULL);
    return v;
}

static json_t *jstr(const char *s)
{
    return jstrn(s, strlen(s));
}

static json_t *jtime(int64_t wall_ns)
{
    char buf[48];
    format_rfc3339(buf, sizeof(buf), wall_ns);
    return json_string(buf);
}

static json_t *juptime(uint64_t ns)
{
    char buf[48];
    format_uptime(buf, sizeof(buf), ns);
    return json_string(buf);
}

static int64_t wall_now(const struct mr_server *s)
{
    return s->env->wall_ns(s->env->ctx);
}

static uint64_t mono_now(const struct mr_server *s)
{
    return s->env->now_ns(s->env->ctx);
}

static uint64_t since(uint64_t later_ns, uint64_t earlier_ns)
{
    return later_ns > earlier_ns ? later_ns - earlier_ns : 0;
}

/* Copies text into a malloc'ed string, as mr_monitor_render hands bodies out. */
static char *dup_text(const char *text, size_t n)
{
    char *p = malloc(n + 1);
    mr_assert(p != NULL); /* real OOM aborts */
    memcpy(p, text, n);
    p[n] = '\0';
    return p;
}

/* ------------------------------------------------------------------------------------ */
/* Query parameters, decoded as nats-server decodes them (Go's strconv), with its
 * error messages                                                                        */

struct query {
    const char *s;
    size_t len;
    char err[2 * MR_HTTP_QUERY_VALUE_MAX]; /* the 400 body: a message and one value */
};

/* Go's %q of a string: quotes, with '"', '\' and non-printable bytes escaped. */
static void go_quote(char *out, size_t cap, const char *v)
{
    size_t w = 0;
    mr_assert(cap >= 8);
    out[w++] = '"';
    for (const char *p = v; *p != '\0' && w + 6 < cap; p++) {
        uint8_t c = (uint8_t)*p;
        if (c == '"' || c == '\\') {
            out[w++] = '\\';
            out[w++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            w += (size_t)snprintf(out + w, cap - w, "\\x%02x", c);
        } else {
            out[w++] = (char)c;
        }
    }
    out[w++] = '"';
    out[w] = '\0';
}

/* The raw value of key: its length, MR_E_NOT_FOUND, or MR_E_INVAL (too long; err set). */
static int q_text(struct query *q, const char *key, char *out, size_t cap)
{
    int n = mr_http_query_get(q->s, q->len, key, out, cap);
    if (n == MR_E_LIMIT) {
        snprintf(q->err, sizeof(q->err), "Error decoding '%s': value too long", key);
        return MR_E_INVAL;
    }
    return n;
}

/* strconv.ParseBool; absent or empty reads false. */
static int q_bool(struct query *q, const char *key, bool *out)
{
    char v[MR_HTTP_QUERY_VALUE_MAX];
    *out = false;
    int n = q_text(q, key, v, sizeof(v));
    if (n == MR_E_NOT_FOUND || n == 0) {
        return MR_OK;
    }
    if (n < 0) {
        return n;
    }
    static const char *const yes[] = {"1", "t", "T", "TRUE", "true", "True"};
    static const char *const no[] = {"0", "f", "F", "FALSE", "false", "False"};
    for (size_t i = 0; i < G_N_ELEMENTS(yes); i++) {
        if (strcmp(v, yes[i]) == 0) {
            *out = true;
            return MR_OK;
        }
        if (strcmp(v, no[i]) == 0) {
            return MR_OK;
        }
    }
    char quoted[MR_HTTP_QUERY_VALUE_MAX]; /* long values are cut, still quoted */
    go_quote(quoted, sizeof(quoted), v);
    snprintf(q->err, sizeof(q->err),
             "Error decoding boolean for '%s': strconv.ParseBool: parsing %s: invalid syntax",
             key, quoted);
    return MR_E_INVAL;
}

/* Decimal digits with an optional sign (signed only), as strconv.Atoi and ParseUint:
 * returns 0, or -1 for a syntax error, -2 when out of range. */
static int parse_decimal(const char *v, bool is_signed, bool *neg, uint64_t *mag)
{
    const char *p = v;
    *neg = false;
    if (is_signed && (*p == '+' || *p == '-')) {
        *neg = *p == '-';
        p++;
    }
    if (*p == '\0') {
        return -1;
    }
    uint64_t m = 0;
    bool range = false;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9') {
            return -1;
        }
        uint64_t d = (uint64_t)(*p - '0');
        if (m > (UINT64_MAX - d) / 10) {
            range = true;
            m = UINT64_MAX;
        } else if (!range) {
            m = m * 10 + d;
        }
    }
    *mag = m;
    if (range) {
        return -2;
    }
    if (is_signed && m > (uint64_t)INT64_MAX + (*neg ? 1 : 0)) {
        return -2;
    }
    return 0;
}

/* strconv.Atoi (signed) or strconv.ParseUint (unsigned); absent or empty reads 0. */
static int q_number(struct query *q, const char *key, bool is_signed, int64_t *s_out,
                    uint64_t *u_out)
{
    char v[MR_HTTP_QUERY_VALUE_MAX];
    int n = q_text(q, key, v, sizeof(v));
    if (n == MR_E_NOT_FOUND || n == 0) {
        return MR_OK;
    }
    if (n < 0) {
        return n;
    }
    bool neg = false;
    uint64_t mag = 0;
    int rc = parse_decimal(v, is_signed, &neg, &mag);
    if (rc == 0) {
        if (is_signed) {
            *s_out = neg ? (int64_t)(0 - mag) : (int64_t)mag;
        } else {
            *u_out = mag;
        }
        return MR_OK;
    }
    char quoted[MR_HTTP_QUERY_VALUE_MAX]; /* long values are cut, still quoted */
    go_quote(quoted, sizeof(quoted), v);
    snprintf(q->err, sizeof(q->err), "Error decoding %s for '%s': strconv.%s: parsing %s: %s",
             is_signed ? "int" : "uint64", key, is_signed ? "Atoi" : "ParseUint", quoted,
             rc == -1 ? "invalid syntax" : "value out of range");
    return MR_E_INVAL;
}

static int q_int(struct query *q, const char *key, int64_t *out)
{
    *out = 0;
    return q_number(q, key, true, out, NULL);
}

static int q_uint(struct query *q, const char *key, uint64_t *out)
{
    *out = 0;
    return q_number(q, key, false, NULL, out);
}

/* ------------------------------------------------------------------------------------ */
/* Sublist statistics                                                                    */

struct sl_totals {
    uint64_t subs;
    uint64_t cache;
    uint64_t inserts;
    uint64_t removes;
    uint64_t matches;
    uint64_t hits;
    uint64_t fanout_total;
    uint32_t fanout_max;
};

static void sl_add(struct sl_totals *t, const struct mr_sublist *sl)
{
    struct mr_sublist_stats st;
    mr_sublist_stats(sl, &st);
    t->subs += st.subs;
    t->cache += st.cache_entries;
    t->inserts += st.inserts;
    t->removes += st.removes;
    t->matches += st.matches;
    t->hits += st.cache_hits;
    t->fanout_total += st.fanout_total;
    if (st.fanout_max > t->fanout_max) {
        t->fanout_max = st.fanout_max;
    }
}

/* nats-server's SublistStats keys; the fan-outs are over the cached results. */
static void put_sl_stats(json_t *o, const struct sl_totals *t)
{
    put(o, "num_subscriptions", jint(t->subs));
    put(o, "num_cache", jint(t->cache));
    put(o, "num_inserts", jint(t->inserts));
    put(o, "num_removes", jint(t->removes));
    put(o, "num_matches", jint(t->matches));
    put(o, "cache_hit_rate", jnum(t->matches > 0 ? (double)t->hits / (double)t->matches : 0.0));
    put(o, "max_fanout", jint(t->fanout_max));
    put(o, "avg_fanout",
        jnum(t->cache > 0 ? (double)t->fanout_total / (double)t->cache : 0.0));
}

static struct mr_account *account_named(struct mr_server *s, const char *name)
{
    for (struct mr_account *a = s->accounts_head; a != NULL; a = a->next) {
        if (strcmp(a->name, name) == 0) {
            return a;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------ */
/* /varz                                                                                 */

/* varz "cluster" as nats-server's ClusterOptsVarz; {} without a cluster. */
static json_t *cluster_varz(const struct mr_server *s)
{
    json_t *j = json_object();
    const struct mr_cluster_opts *o = s->cluster.opts;
    if (o == NULL) {
        return j;
    }
    put(j, "name", jstr(s->cluster.name));
    put(j, "addr", jstr(o->host != NULL ? o->host : "0.0.0.0"));
    put(j, "cluster_port", jint(s->cluster.port));
    uint64_t auth_ns = o->auth.timeout_ns != 0 ? o->auth.timeout_ns : s->opts.auth_timeout_ns;
    put(j, "auth_timeout", jnum((double)auth_ns / (double)MR_NS_PER_SEC));
    json_t *urls = json_array();
    for (size_t i = 0; i < o->routes.count; i++) {
        push(urls, jstr(o->routes.items[i]));
    }
    put(j, "urls", urls);
    put(j, "tls_timeout", jnum((double)TLS_TIMEOUT_DEFAULT_NS / (double)MR_NS_PER_SEC));
    return j;
}

/* varz "gateway" as nats-server's GatewayOptsVarz (empty fields left out); {} without
 * a gateway. */
static json_t *gateway_varz(const struct mr_server *s)
{
    json_t *j = json_object();
    const struct mr_gateway_opts *o = s->gw.opts;
    if (o == NULL) {
        return j;
    }
    put(j, "name", jstr(o->name));
    put(j, "host", jstr(o->host != NULL ? o->host : "0.0.0.0"));
    put(j, "port", jint(s->gw.port));
    uint64_t auth_ns = o->auth.timeout_ns != 0 ? o->auth.timeout_ns : s->opts.auth_timeout_ns;
    put(j, "auth_timeout", jnum((double)auth_ns / (double)MR_NS_PER_SEC));
    put(j, "tls_timeout", jnum((double)TLS_TIMEOUT_DEFAULT_NS / (double)MR_NS_PER_SEC));
    if (o->advertise != NULL) {
        put(j, "advertise", jstr(o->advertise));
    }
    if (o->connect_retries > 0) {
        put(j, "connect_retries", jint((uint64_t)o->connect_retries));
    }
    json_t *list = json_array();
    for (size_t i = 0; i < o->gateways_count; i++) {
        const struct mr_gateway_remote_opts *r = &o->gateways[i];
        json_t *e = json_object();
        put(e, "name", jstr(r->name));
        json_t *urls = json_array();
        for (size_t k = 0; k < r->urls.count; k++) {
            /* nats-server shows host:port, without scheme or credentials. */
            struct mr_route_slot p = {0};
            char hp[300];
            if (mr_route_parse_url(r->urls.items[k], &p)) {
                snprintf(hp, sizeof(hp), "%s:%u", p.host, (unsigned)p.port);
                push(urls, jstr(hp));
            }
        }
        put(e, "urls", urls);
        push(list, e);
    }
    if (o->gateways_count > 0) {
        put(j, "gateways", list);
    } else {
        json_decref(list);
    }
    if (o->reject_unknown_cluster) {
        put(j, "reject_unknown", json_true());
    }
    return j;
}

/* /varz "jetstream": nats-server's config and stats, {} when JetStream is off. */
static json_t *jetstream_varz(struct mr_server *s)
{
    json_t *o = json_object();
    if (s->js == NULL) {
        return o;
    }
    json_t *j = mr_js_api_jsz(s->js, false, false, false);
    put(o, "config", json_incref(json_object_get(j, "config")));
    json_t *stats = json_object();
    static const char *const keys[] = {"memory",   "storage",   "reserved_memory",
                                       "reserved_storage", "accounts", "ha_assets", "api"};
    for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
        put(stats, keys[i], json_incref(json_object_get(j, keys[i])));
    }
    put(o, "stats", stats);
    json_decref(j);
    return o;
}

/* varz "leaf" as nats-server's LeafNodeOptsVarz (empty fields left out). */
static json_t *leaf_varz(const struct mr_server *s)
{
    json_t *j = json_object();
    const struct mr_leafnode_opts *o = s->leafs.opts;
    if (o == NULL) {
        return j;
    }
    if (s->leafs.listening) {
        put(j, "host", jstr(o->host != NULL ? o->host : "0.0.0.0"));
        put(j, "port", jint(s->leafs.port));
        uint64_t auth_ns = o->auth.timeout_ns != 0 ? o->auth.timeout_ns : s->opts.auth_timeout_ns;
        put(j, "auth_timeout", jnum((double)auth_ns / (double)MR_NS_PER_SEC));
        put(j, "tls_timeout", jnum((double)TLS_TIMEOUT_DEFAULT_NS / (double)MR_NS_PER_SEC));
    }
    if (o->remotes_count > 0) {
        json_t *list = json_array();
        for (size_t i = 0; i < o->remotes_count; i++) {
            const struct mr_leafnode_remote_opts *r = &o->remotes[i];
            json_t *e = json_object();
            put(e, "local_account", jstr(r->account != NULL ? r->account : "$G"));
            json_t *urls = json_array();
            for (size_t k = 0; k < r->urls.count; k++) {
                /* As nats-server: host:port, without scheme or credentials. */
                struct mr_route_slot p = {0};
                char hp[300];
                if (mr_route_parse_url(r->urls.items[k], &p)) {
                    snprintf(hp, sizeof(hp), "%s:%u", p.host, (unsigned)p.port);
                    push(urls, jstr(hp));
                }
            }
            put(e, "urls", urls);
            push(list, e);
        }
        put(j, "remotes", list);
    }
    return j;
}

static void varz_config(struct mr_server *s, json_t *o)
{
    const struct mr_server_opts *op = &s->opts;
    put(o, "server_id", json_string(s->server_id));
    put(o, "server_name", jstr(op->server_name[0] != '\0' ? op->server_name : s->server_id));
    put(o, "version", json_string(MR_SERVER_COMPAT_VERSION));
    put(o, "proto", json_integer(1));
    put(o, "go", json_string("meridian"));
    put(o, "host", jstr(op->host));
    put(o, "port", jint(s->port));
    if (s->auth_required) {
        put(o, "auth_required", json_true());
    }
    if (op->tls.enabled) {
        put(o, "tls_required", json_true());
        if (op->tls.verify) {
            put(o, "tls_verify", json_true());
        }
    }
    put(o, "max_connections", jint(op->max_connections));
    if (op->max_subs > 0) {
        put(o, "max_subscriptions", jint(op->max_subs));
    }
    put(o, "ping_interval", jint(op->ping_interval_ns));
    put(o, "ping_max", jint(op->ping_max));
    /* As nats-server, the monitoring host defaults to the client listener's. */
    put(o, "http_host", jstr(op->http_host[0] != '\0' ? op->http_host : op->host));
    put(o, "http_port", json_integer(s->http_port != 0 ? s->http_port : op->http_port));
    put(o, "http_base_path", json_string(""));
    put(o, "https_port", json_integer(0));
    uint64_t auth_ns = op->auth_timeout_ns;
    if (op->auth != NULL && op->auth->timeout_ns != 0) {
        auth_ns = op->auth->timeout_ns;
    }
    put(o, "auth_timeout", jnum((double)auth_ns / (double)MR_NS_PER_SEC));
    put(o, "max_control_line", jint(op->max_control_line));
    put(o, "max_payload", jint(op->max_payload));
    put(o, "max_pending", jint((uint64_t)op->max_pending));
    put(o, "cluster", cluster_varz(s));
    put(o, "gateway", gateway_varz(s));
    put(o, "leaf", leaf_varz(s));
    /* MQTT, websockets: not served yet. */
    static const char *const sections[] = {"mqtt", "websocket"};
    for (size_t i = 0; i < G_N_ELEMENTS(sections); i++) {
        put(o, sections[i], json_object());
    }
    put(o, "jetstream", jetstream_varz(s));
    uint64_t tls_ns = op->tls.timeout_ns != 0 ? op->tls.timeout_ns : TLS_TIMEOUT_DEFAULT_NS;
    put(o, "tls_timeout", jnum((double)tls_ns / (double)MR_NS_PER_SEC));
    put(o, "write_deadline", jint(op->write_deadline_ns));
}

/* Client connections open now (not yet closing), as nats-server's len(s.clients). */
static uint64_t open_clients(const struct mr_server *s)
{
    uint64_t n = 0;
    for (const struct mr_conn *c = s->conns_head; c != NULL; c = c->next) {
        if (c->kind == MR_CONN_CLIENT && c->counted && c->state == CONN_OPEN) {
            n++;
        }
    }
    return n;
}

static const char *const endpoint_paths[MR_MON_ENDPOINT_COUNT] = {
    [MR_MON_ROOT] = "/",           [MR_MON_ACCOUNTZ] = "/accountz", [MR_MON_CONNZ] = "/connz",
    [MR_MON_HEALTHZ] = "/healthz", [MR_MON_SUBSZ] = "/subsz",       [MR_MON_VARZ] = "/varz",
    [MR_MON_ROUTEZ] = "/routez",   [MR_MON_GATEWAYZ] = "/gatewayz", [MR_MON_LEAFZ] = "/leafz",
    [MR_MON_JSZ] = "/jsz",
};

static void varz_runtime(struct mr_server *s, json_t *o)
{
    uint64_t rss = 0;
    uint32_t cpu_permille = 0;
    uint32_t cores = 0;
    if (s->env->process_usage != NULL) {
        s->env->process_usage(s->env->ctx, &rss, &cpu_permille, &cores);
    }
    put(o, "start", jtime(s->start_wall_ns));
    put(o, "now", jtime(wall_now(s)));
    put(o, "uptime", juptime(since(mono_now(s), s->start_ns)));
    put(o, "mem", jint(rss));
    put(o, "cores", jint(cores));
    put(o, "gomaxprocs", jint(cores));
    put(o, "cpu", jnum((double)cpu_permille / 10.0));
    put(o, "connections", jint(open_clients(s)));
    put(o, "total_connections", jint(s->stats.total_connections));
    put(o, "routes", jint(s->cluster.count));
    put(o, "remotes", json_integer(0));
    put(o, "leafnodes", jint(s->leafs.count));
    put(o, "in_msgs", jint(s->stats.in_msgs));
    put(o, "out_msgs", jint(s->stats.out_msgs));
    put(o, "in_bytes", jint(s->stats.in_bytes));
    put(o, "out_bytes", jint(s->stats.out_bytes));
    put(o, "slow_consumers", jint(s->stats.slow_consumers));
    struct sl_totals t = {0};
    for (const struct mr_account *a = s->accounts_head; a != NULL; a = a->next) {
        sl_add(&t, a->sublist);
    }
    put(o, "subscriptions", jint(t.subs));
    /* A Go map: only paths asked for, keys sorted; the enum is in that order. */
    json_t *reqs = json_object();
    for (int i = 0; i < MR_MON_ENDPOINT_COUNT; i++) {
        if (s->monitor.requests[i] > 0) {
            put(reqs, endpoint_paths[i], jint(s->monitor.requests[i]));
        }
    }
    put(o, "http_req_stats", reqs);
    put(o, "config_load_time", jtime(s->start_wall_ns));
    if (s->system != NULL) {
        put(o, "system_account", jstr(s->system->name));
    }
    put(o, "meridian_version", json_string(MR_SERVER_VERSION));
}

static int render_varz(struct mr_server *s, struct query *q, json_t **out)
{
    (void)q;
    json_t *o = json_object();
    varz_config(s, o);
    varz_runtime(s, o);
    *out = o;
    return 200;
}

/* ------------------------------------------------------------------------------------ */
/* Closed connections                                                                    */

struct closed_sub {
    const char *subject;
    const char *queue; /* NULL for a plain subscription */
    const char *sid;
    uint64_t msgs;
    uint64_t max;
};

/* A snapshot of a client connection taken when it was marked closing. One mr_mem block:
 * this header, then subs[], then the strings the pointers name. */
struct mr_monitor_closed {
    size_t alloc_len;
    uint64_t cid;
    char ip[64];
    uint16_t port;
    uint64_t start_ns; /* monotonic */
    uint64_t last_ns;
    uint64_t stop_ns;
    uint64_t rtt_ns;
    uint64_t pending_bytes;
    uint64_t in_msgs;
    uint64_t out_msgs;
    uint64_t in_bytes;
    uint64_t out_bytes;
    uint32_t subs_count; /* at close */
    uint32_t subs_kept;  /* listed below, at most MR_MONITOR_CLOSED_SUBS_MAX */
    const char *name;    /* NULL when absent */
    const char *lang;
    const char *version;
    const char *user;
    const char *account;
    const char *reason;
    struct closed_sub subs[];
};

/* Last activity: the later of the last read and the last time output was queued or
 * drained (nats-server moves it on deliveries too). */
static uint64_t last_activity(const struct mr_conn *c)
{
    return c->last_progress_ns > c->last_in_ns ? c->last_progress_ns : c->last_in_ns;
}

static const char *conn_user(const struct mr_conn *c)
{
    return c->user != NULL ? c->user->user : NULL;
}

static size_t opt_len(const char *s)
{
    return s != NULL ? strlen(s) + 1 : 0;
}

/* Copies s to *w inside the snapshot block and returns the copy (NULL stays NULL). */
static const char *stash_str(char **w, const char *s)
{
    if (s == NULL) {
        return NULL;
    }
    size_t n = strlen(s) + 1;
    memcpy(*w, s, n);
    const char *copy = *w;
    *w += n;
    return copy;
}

static size_t closed_size(const struct mr_conn *c, const char *reason, uint32_t kept)
{
    size_t n = sizeof(struct mr_monitor_closed) + (size_t)kept * sizeof(struct closed_sub);
    n += opt_len(c->name) + opt_len(c->lang) + opt_len(c->version) + opt_len(conn_user(c));
    n += opt_len(c->account != NULL ? c->account->name : NULL) + opt_len(reason);
    uint32_t i = 0;
    for (const struct mr_csub *cs = c->subs_head; cs != NULL && i < kept; cs = cs->next, i++) {
        n += cs->sub.subject_len + 1 + cs->sid_len + 1;
        if (cs->sub.queue != NULL) {
            n += cs->sub.queue_len + 1;
        }
    }
    return n;
}

static void closed_fill(struct mr_monitor_closed *e, const struct mr_conn *c, const char *reason,
                        uint64_t now_ns)
{
    e->cid = c->cid;
    snprintf(e->ip, sizeof(e->ip), "%s", c->host);
    e->port = c->port;
    e->start_ns = c->start_ns;
    e->last_ns = last_activity(c);
    e->stop_ns = now_ns;
    e->rtt_ns = c->rtt_ns;
    e->pending_bytes = c->out.pending_bytes;
    e->in_msgs = c->in_msgs;
    e->out_msgs = c->out_msgs;
    e->in_bytes = c->in_bytes;
    e->out_bytes = c->out_bytes;
    e->subs_count = c->subs_count;
    char *w = (char *)&e->subs[e->subs_kept];
    e->name = stash_str(&w, c->name);
    e->lang = stash_str(&w, c->lang);
    e->version = stash_str(&w, c->version);
    e->user = stash_str(&w, conn_user(c));
    e->account = stash_str(&w, c->account != NULL ? c->account->name : NULL);
    e->reason = stash_str(&w, reason);
    uint32_t i = 0;
    for (const struct mr_csub *cs = c->subs_head; cs != NULL && i < e->subs_kept;
         cs = cs->next, i++) {
        struct closed_sub *d = &e->subs[i];
        /* Subject and queue are not NUL-terminated in the csub; the sid is. */
        d->subject = w;
        memcpy(w, cs->sub.subject, cs->sub.subject_len);
        w[cs->sub.subject_len] = '\0';
        w += cs->sub.subject_len + 1;
        if (cs->sub.queue != NULL) {
            d->queue = w;
            memcpy(w, cs->sub.queue, cs->sub.queue_len);
            w[cs->sub.queue_len] = '\0';
            w += cs->sub.queue_len + 1;
        }
        d->sid = stash_str(&w, cs->sid);
        d->msgs = cs->delivered;
        d->max = cs->max;
    }
    mr_assert((size_t)(w - (char *)e) == e->alloc_len);
}

void mr_monitor_conn_closed(struct mr_server *s, const struct mr_conn *c, const char *reason)
{
    mr_assert(reason != NULL);
    /* Only client connections are listed (a WebSocket one once upgraded, as it is
     * counted); the caller need not check. */
    if (c->kind != MR_CONN_CLIENT || !c->counted) {
        return;
    }
    struct mr_monitor *m = &s->monitor;
    if (m->closed == NULL) {
        m->closed = mr_mem_alloc(&s->mem, MR_MONITOR_CLOSED_MAX * sizeof(*m->closed));
        if (m->closed == NULL) {
            mr_server_log(s, MR_LOG_DEBUG, "cid:%llu - not kept for /connz: memory budget",
                          (unsigned long long)c->cid);
            return;
        }
    }
    uint32_t kept = c->subs_count < MR_MONITOR_CLOSED_SUBS_MAX ? c->subs_count
                                                               : MR_MONITOR_CLOSED_SUBS_MAX;
    size_t size = closed_size(c, reason, kept);
    struct mr_monitor_closed *e = mr_mem_alloc(&s->mem, size);
    if (e == NULL) {
        mr_server_log(s, MR_LOG_DEBUG, "cid:%llu - not kept for /connz: memory budget",
                      (unsigned long long)c->cid);
        return;
    }
    e->alloc_len = size;
    e->subs_kept = kept;
    closed_fill(e, c, reason, mono_now(s));
    struct mr_monitor_closed **slot = &m->closed[m->closed_next];
    if (*slot != NULL) {
        mr_assert(m->closed_count == MR_MONITOR_CLOSED_MAX);
        mr_mem_free(&s->mem, *slot, (*slot)->alloc_len);
    } else {
        m->closed_count++;
    }
    *slot = e;
    m->closed_next = (m->closed_next + 1) % MR_MONITOR_CLOSED_MAX;
    mr_assert(m->closed_count <= MR_MONITOR_CLOSED_MAX);
}

void mr_monitor_deinit(struct mr_server *s)
{
    struct mr_monitor *m = &s->monitor;
    if (m->closed == NULL) {
        return;
    }
    for (uint32_t i = 0; i < MR_MONITOR_CLOSED_MAX; i++) {
        if (m->closed[i] != NULL) {
            mr_mem_free(&s->mem, m->closed[i], m->closed[i]->alloc_len);
        }
    }
    mr_mem_free(&s->mem, m->closed, MR_MONITOR_CLOSED_MAX * sizeof(*m->closed));
    m->closed = NULL;
    m->closed_count = 0;
    m->closed_next = 0;
}

/* The i-th closed connection, oldest first. */
static const struct mr_monitor_closed *closed_at(const struct mr_monitor *m, uint32_t i)
{
    mr_assert(i < m->closed_count);
    uint32_t first = m->closed_count < MR_MONITOR_CLOSED_MAX ? 0 : m->closed_next;
    const struct mr_monitor_closed *e = m->closed[(first + i) % MR_MONITOR_CLOSED_MAX];
    mr_assert(e != NULL);
    return e;
}

/* ------------------------------------------------------------------------------------ */
/* /connz                                                                                */

enum conn_sort {
    SORT_CID,
    SORT_START,
    SORT_SUBS,
    SORT_PENDING,
    SORT_MSGS_TO,
    SORT_MSGS_FROM,
    SORT_BYTES_TO,
    SORT_BYTES_FROM,
    SORT_LAST,
    SORT_IDLE,
    SORT_UPTIME,
    SORT_STOP,
    SORT_REASON,
    SORT_RTT,
};

static const struct {
    const char *name;
    enum conn_sort sort;
} sort_names[] = {
    {"cid", SORT_CID},           {"start", SORT_START},       {"subs", SORT_SUBS},
    {"pending", SORT_PENDING},   {"msgs_to", SORT_MSGS_TO},   {"msgs_from", SORT_MSGS_FROM},
    {"bytes_to", SORT_BYTES_TO}, {"bytes_from", SORT_BYTES_FROM}, {"last", SORT_LAST},
    {"idle", SORT_IDLE},         {"uptime", SORT_UPTIME},     {"stop", SORT_STOP},
    {"reason", SORT_REASON},     {"rtt", SORT_RTT},
};

enum conn_state_filter {
    STATE_OPEN,
    STATE_CLOSED,
    STATE_ALL,
};

struct connz_opts {
    enum conn_sort sort;
    bool auth;
    bool subs;
    bool detail;
    int64_t offset;
    int64_t limit;
    uint64_t cid;
    enum conn_state_filter state;
    bool by_user;
    bool by_acc;
    char user[MR_HTTP_QUERY_VALUE_MAX];
    char acc[MR_HTTP_QUERY_VALUE_MAX];
};

/* What /connz shows of one connection, open or closed. */
struct conn_facts {
    uint64_t cid;
    const char *ip;
    uint16_t port;
    uint64_t start_ns;
    uint64_t last_ns;
    uint64_t stop_ns; /* 0 while open */
    uint64_t rtt_ns;
    uint64_t pending_bytes;
    uint64_t in_msgs;
    uint64_t out_msgs;
    uint64_t in_bytes;
    uint64_t out_bytes;
    uint64_t subs;
    const char *name;
    const char *lang;
    const char *version;
    const char *user;
    const char *account;
    const char *reason;
    const struct mr_conn *open;              /* exactly one of these */
    const struct mr_monitor_closed *closed;
};

static void facts_of_open(const struct mr_conn *c, struct conn_facts *f)
{
    memset(f, 0, sizeof(*f));
    f->cid = c->cid;
    f->ip = c->host;
    f->port = c->port;
    f->start_ns = c->start_ns;
    f->last_ns = last_activity(c);
    f->rtt_ns = c->rtt_ns;
    f->pending_bytes = c->out.pending_bytes;
    f->in_msgs = c->in_msgs;
    f->out_msgs = c->out_msgs;
    f->in_bytes = c->in_bytes;
    f->out_bytes = c->out_bytes;
    f->subs = c->subs_count;
    f->name = c->name;
    f->lang = c->lang;
    f->version = c->version;
    f->user = conn_user(c);
    f->account = c->account != NULL ? c->account->name : NULL;
    f->open = c;
}

static void facts_of_closed(const struct mr_monitor_closed *e, struct conn_facts *f)
{
    memset(f, 0, sizeof(*f));
    f->cid = e->cid;
    f->ip = e->ip;
    f->port = e->port;
    f->start_ns = e->start_ns;
    f->last_ns = e->last_ns;
    f->stop_ns = e->stop_ns;
    f->rtt_ns = e->rtt_ns;
    f->pending_bytes = e->pending_bytes;
    f->in_msgs = e->in_msgs;
    f->out_msgs = e->out_msgs;
    f->in_bytes = e->in_bytes;
    f->out_bytes = e->out_bytes;
    f->subs = e->subs_count;
    f->name = e->name;
    f->lang = e->lang;
    f->version = e->version;
    f->user = e->user;
    f->account = e->account;
    f->reason = e->reason;
    f->closed = e;
}

/* One row to sort: the key is ascending; descending orders store its complement. */
struct conn_row {
    uint64_t key;
    uint64_t cid;
    const char *reason;
    struct conn_facts f;
};

static uint64_t row_key(enum conn_sort sort, const struct conn_facts *f, uint64_t now_ns)
{
    uint64_t end = f->stop_ns != 0 ? f->stop_ns : now_ns;
    switch (sort) {
    case SORT_CID:
    case SORT_START:
    case SORT_REASON:
        return f->cid;
    case SORT_SUBS:
        return UINT64_MAX - f->subs;
    case SORT_PENDING:
        return UINT64_MAX - f->pending_bytes;
    case SORT_MSGS_TO:
        return UINT64_MAX - f->out_msgs;
    case SORT_MSGS_FROM:
        return UINT64_MAX - f->in_msgs;
    case SORT_BYTES_TO:
        return UINT64_MAX - f->out_bytes;
    case SORT_BYTES_FROM:
        return UINT64_MAX - f->in_bytes;
    case SORT_LAST:
        return UINT64_MAX - f->last_ns; /* most recent first */
    case SORT_IDLE:
        return f->last_ns; /* most idle first */
    case SORT_UPTIME:
        return since(end, f->start_ns); /* shortest first, as nats-server */
    case SORT_STOP:
        return UINT64_MAX - f->stop_ns; /* latest first */
    case SORT_RTT:
        return UINT64_MAX - f->rtt_ns;
    }
    mr_panic(__FILE__, __LINE__, "unknown sort");
}

/* Total orders: the key (or the reason), then the cid, which is unique. */
static int cmp_rows(const void *a, const void *b)
{
    const struct conn_row *x = a;
    const struct conn_row *y = b;
    if (x->key != y->key) {
        return x->key < y->key ? -1 : 1;
    }
    return x->cid < y->cid ? -1 : (x->cid > y->cid ? 1 : 0);
}

static int cmp_rows_reason(const void *a, const void *b)
{
    const struct conn_row *x = a;
    const struct conn_row *y = b;
    int r = strcmp(x->reason != NULL ? x->reason : "", y->reason != NULL ? y->reason : "");
    if (r != 0) {
        return r;
    }
    return x->cid < y->cid ? -1 : (x->cid > y->cid ? 1 : 0);
}

static bool str_eq(const char *a, const char *b)
{
    return a != NULL && strcmp(a, b) == 0;
}

static int connz_sort(struct query *q, struct connz_opts *o)
{
    char v[MR_HTTP_QUERY_VALUE_MAX];
    int n = q_text(q, "sort", v, sizeof(v));
    if (n == MR_E_INVAL) {
        return n;
    }
    o->sort = SORT_CID;
    if (n <= 0) {
        return MR_OK;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(sort_names); i++) {
        if (strcmp(v, sort_names[i].name) == 0) {
            o->sort = sort_names[i].sort;
            return MR_OK;
        }
    }
    snprintf(q->err, sizeof(q->err), "invalid sorting option: %s", v);
    return MR_E_INVAL;
}

static int connz_state(struct query *q, struct connz_opts *o)
{
    char v[MR_HTTP_QUERY_VALUE_MAX];
    int n = q_text(q, "state", v, sizeof(v));
    o->state = STATE_OPEN;
    if (n == MR_E_NOT_FOUND || n == 0) {
        return MR_OK;
    }
    if (n < 0) {
        return n;
    }
    if (g_ascii_strcasecmp(v, "open") == 0) {
        return MR_OK;
    }
    if (g_ascii_strcasecmp(v, "closed") == 0) {
        o->state = STATE_CLOSED;
        return MR_OK;
    }
    if (g_ascii_strcasecmp(v, "any") == 0 || g_ascii_strcasecmp(v, "all") == 0) {
        o->state = STATE_ALL;
        return MR_OK;
    }
    snprintf(q->err, sizeof(q->err), "Error decoding state for %s", v);
    return MR_E_INVAL;
}

static int connz_subs(struct query *q, struct connz_opts *o)
{
    char v[MR_HTTP_QUERY_VALUE_MAX];
    int n = q_text(q, "subs", v, sizeof(v));
    if (n == MR_E_INVAL) {
        return n;
    }
    o->detail = n > 0 && g_ascii_strcasecmp(v, "detail") == 0;
    return o->detail ? MR_OK : q_bool(q, "subs", &o->subs);
}

/* user= and acc= filters; an empty value filters nothing, as in nats-server. */
static int connz_filters(struct query *q, struct connz_opts *o)
{
    int n = q_text(q, "user", o->user, sizeof(o->user));
    if (n == MR_E_INVAL) {
        return n;
    }
    o->by_user = n > 0;
    n = q_text(q, "acc", o->acc, sizeof(o->acc));
    if (n == MR_E_INVAL) {
        return n;
    }
    o->by_acc = n > 0;
    return MR_OK;
}

/* Decodes the parameters in nats-server's order, so the first bad one is the one it
 * names too. */
static int connz_opts(struct query *q, struct connz_opts *o)
{
    memset(o, 0, sizeof(*o));
    int rc = q_bool(q, "auth", &o->auth);
    if (rc != MR_OK) {
        return rc;
    }
    if ((rc = connz_subs(q, o)) != MR_OK) {
        return rc;
    }
    if ((rc = q_int(q, "offset", &o->offset)) != MR_OK) {
        return rc;
    }
    if ((rc = q_int(q, "limit", &o->limit)) != MR_OK) {
        return rc;
    }
    if ((rc = q_uint(q, "cid", &o->cid)) != MR_OK) {
        return rc;
    }
    if ((rc = connz_state(q, o)) != MR_OK) {
        return rc;
    }
    if ((rc = connz_sort(q, o)) != MR_OK) {
        return rc;
    }
    if ((rc = connz_filters(q, o)) != MR_OK) {
        return rc;
    }
    if ((o->sort == SORT_STOP || o->sort == SORT_REASON) && o->state != STATE_CLOSED) {
        snprintf(q->err, sizeof(q->err), "sort by %s only valid on closed connections",
                 o->sort == SORT_STOP ? "stop" : "reason");
        return MR_E_INVAL;
    }
    o->offset = o->offset < 0 ? 0 : o->offset;
    o->limit = o->limit <= 0 ? LIST_LIMIT_DEFAULT : o->limit;
    if (o->cid > 0) {
        o->limit = 1;
    }
    return MR_OK;
}

struct conn_rows {
    struct conn_row *rows; /* mr_mem, cap entries */
    size_t cap;
    size_t count;
    uint64_t total; /* nats-server's "total": after the account filter only */
};

/* Adds f as a row if it passes the filters. nats-server's "total" counts what passes
 * the account filter, before the cid and user filters. */
static void connz_offer(const struct connz_opts *o, struct conn_rows *r, const struct conn_facts *f,
                        uint64_t now_ns)
{
    if (o->by_acc && !str_eq(f->account, o->acc)) {
        return;
    }
    r->total++;
    if (o->cid > 0 && f->cid != o->cid) {
        return;
    }
    if (o->by_user && !str_eq(f->user, o->user)) {
        return;
    }
    mr_assert(r->count < r->cap);
    struct conn_row *row = &r->rows[r->count++];
    row->f = *f;
    row->cid = f->cid;
    row->reason = f->reason;
    row->key = row_key(o->sort, f, now_ns);
}

static int connz_collect(struct mr_server *s, const struct connz_opts *o, uint64_t now_ns,
                         struct conn_rows *r)
{
    memset(r, 0, sizeof(*r));
    size_t cap = 0;
    if (o->state != STATE_CLOSED) {
        for (const struct mr_conn *c = s->conns_head; c != NULL; c = c->next) {
            cap++;
        }
    }
    if (o->state != STATE_OPEN) {
        cap += s->monitor.closed_count;
    }
    if (cap > 0) {
        r->rows = mr_mem_alloc(&s->mem, cap * sizeof(*r->rows));
        if (r->rows == NULL) {
            return MR_E_NOMEM;
        }
    }
    r->cap = cap;
    struct conn_facts f;
    if (o->state != STATE_CLOSED) {
        for (const struct mr_conn *c = s->conns_head; c != NULL; c = c->next) {
            /* Closing connections are already in the closed list, as in nats-server. */
            if (c->kind == MR_CONN_CLIENT && c->counted && c->state == CONN_OPEN) {
                facts_of_open(c, &f);
                connz_offer(o, r, &f, now_ns);
            }
        }
    }
    if (o->state != STATE_OPEN) {
        for (uint32_t i = 0; i < s->monitor.closed_count; i++) {
            facts_of_closed(closed_at(&s->monitor, i), &f);
            connz_offer(o, r, &f, now_ns);
        }
    }
    return MR_OK;
}

/* One subscription as nats-server's SubDetail; account NULL leaves the key out. */
static json_t *sub_json(const char *account, const char *subject, size_t subject_len,
                        const char *queue, size_t queue_len, const char *sid, uint64_t msgs,
                        uint64_t max, uint64_t cid)
{
    json_t *j = json_object();
    if (account != NULL) {
        put(j, "account", jstr(account));
    }
    put(j, "subject", jstrn(subject, subject_len));
    if (queue != NULL && queue_len > 0) {
        put(j, "qgroup", jstrn(queue, queue_len));
    }
    put(j, "sid", jstr(sid));
    put(j, "msgs", jint(msgs));
    if (max > 0) {
        put(j, "max", jint(max));
    }
    put(j, "cid", jint(cid));
    return j;
}

static json_t *csub_json(const struct mr_csub *cs, const char *account)
{
    return sub_json(account, cs->sub.subject, cs->sub.subject_len, cs->sub.queue,
                    cs->sub.queue != NULL ? cs->sub.queue_len : 0, cs->sid, cs->delivered,
                    cs->max, cs->conn->cid);
}

/* subscriptions_list (subjects) or subscriptions_list_detail of one connection. */
static void put_conn_subs(json_t *j, const struct conn_facts *f, bool detail)
{
    json_t *list = json_array();
    if (f->open != NULL) {
        for (const struct mr_csub *cs = f->open->subs_head; cs != NULL; cs = cs->next) {
            push(list, detail ? csub_json(cs, NULL) : jstrn(cs->sub.subject, cs->sub.subject_len));
        }
    } else {
        for (uint32_t i = 0; i < f->closed->subs_kept; i++) {
            const struct closed_sub *d = &f->closed->subs[i];
            push(list, detail ? sub_json(NULL, d->subject, strlen(d->subject), d->queue,
                                         d->queue != NULL ? strlen(d->queue) : 0, d->sid,
                                         d->msgs, d->max, f->cid)
                              : jstr(d->subject));
        }
    }
    put(j, detail ? "subscriptions_list_detail" : "subscriptions_list", list);
}

static void put_opt_str(json_t *j, const char *key, const char *v)
{
    if (v != NULL && v[0] != '\0') {
        put(j, key, jstr(v));
    }
}

/* One connection as nats-server's ConnInfo (fields we have, in its order). */
static json_t *conn_json(const struct mr_server *s, const struct conn_facts *f,
                         const struct connz_opts *o, uint64_t now_ns)
{
    json_t *j = json_object();
    put(j, "cid", jint(f->cid));
    put(j, "kind", json_string("Client"));
    put(j, "type", json_string("nats"));
    put(j, "ip", jstr(f->ip));
    put(j, "port", jint(f->port));
    put(j, "start", jtime(mr_server_wall_of(s, f->start_ns)));
    put(j, "last_activity", jtime(mr_server_wall_of(s, f->last_ns)));
    if (f->closed != NULL) {
        put(j, "stop", jtime(mr_server_wall_of(s, f->stop_ns)));
        put(j, "reason", jstr(f->reason));
    }
    char rtt[48];
    format_rtt(rtt, sizeof(rtt), f->rtt_ns);
    put(j, "rtt", json_string(rtt));
    /* A closed connection's clock stopped when it closed. */
    uint64_t end = f->closed != NULL ? f->stop_ns : now_ns;
    put(j, "uptime", juptime(since(end, f->start_ns)));
    put(j, "idle", juptime(since(end, f->last_ns)));
    put(j, "pending_bytes", jint(f->pending_bytes));
    put(j, "in_msgs", jint(f->in_msgs));
    put(j, "out_msgs", jint(f->out_msgs));
    put(j, "in_bytes", jint(f->in_bytes));
    put(j, "out_bytes", jint(f->out_bytes));
    put(j, "subscriptions", jint(f->subs));
    put_opt_str(j, "name", f->name);
    put_opt_str(j, "lang", f->lang);
    put_opt_str(j, "version", f->version);
    if (o->auth) {
        put_opt_str(j, "authorized_user", f->user);
        if (f->account != NULL && strcmp(f->account, "$G") != 0) {
            put(j, "account", jstr(f->account));
        }
    }
    bool listed = f->open != NULL ? f->open->subs_head != NULL : f->closed->subs_kept > 0;
    if (listed && (o->subs || o->detail)) {
        put_conn_subs(j, f, o->detail);
    }
    return j;
}

/* The [from, to) window of a list of n items for offset and limit (both sane). */
static void page_of(uint64_t n, int64_t offset, int64_t limit, uint64_t *from, uint64_t *to)
{
    mr_assert(offset >= 0);
    mr_assert(limit > 0);
    uint64_t lo = (uint64_t)offset < n ? (uint64_t)offset : n;
    uint64_t room = n - lo;
    *from = lo;
    *to = lo + ((uint64_t)limit < room ? (uint64_t)limit : room);
}

static int render_connz(struct mr_server *s, struct query *q, json_t **out)
{
    struct connz_opts o;
    if (connz_opts(q, &o) != MR_OK) {
        return 400;
    }
    uint64_t now_ns = mono_now(s);
    struct conn_rows r;
    if (connz_collect(s, &o, now_ns, &r) != MR_OK) {
        snprintf(q->err, sizeof(q->err), "%s", mr_err_text(MR_E_NOMEM));
        return 503;
    }
    if (r.count > 1) {
        qsort(r.rows, r.count, sizeof(*r.rows), o.sort == SORT_REASON ? cmp_rows_reason : cmp_rows);
    }
    uint64_t from;
    uint64_t to;
    page_of(r.count, o.offset, o.limit, &from, &to);
    json_t *j = json_object();
    put(j, "server_id", json_string(s->server_id));
    put(j, "now", jtime(wall_now(s)));
    put(j, "num_connections", jint(to - from));
    put(j, "total", jint(r.total));
    put(j, "offset", jint((uint64_t)o.offset));
    put(j, "limit", jint((uint64_t)o.limit));
    json_t *list = json_array();
    for (uint64_t i = from; i < to; i++) {
        push(list, conn_json(s, &r.rows[i].f, &o, now_ns));
    }
    put(j, "connections", list);
    mr_mem_free(&s->mem, r.rows, r.cap * sizeof(*r.rows));
    *out = j;
    return 200;
}

/* ------------------------------------------------------------------------------------ */
/* /subsz                                                                                */

struct subsz_opts {
    bool subs;
    int64_t offset;
    int64_t limit;
    bool by_test;
    bool by_acc;
    char test[MR_HTTP_QUERY_VALUE_MAX];
    char acc[MR_HTTP_QUERY_VALUE_MAX];
};

static int subsz_opts(struct query *q, struct subsz_opts *o)
{
    memset(o, 0, sizeof(*o));
    int rc = q_bool(q, "subs", &o->subs);
    if (rc != MR_OK) {
        return rc;
    }
    if ((rc = q_int(q, "offset", &o->offset)) != MR_OK) {
        return rc;
    }
    if ((rc = q_int(q, "limit", &o->limit)) != MR_OK) {
        return rc;
    }
    int n = q_text(q, "test", o->test, sizeof(o->test));
    if (n == MR_E_INVAL) {
        return n;
    }
    o->by_test = n > 0;
    n = q_text(q, "acc", o->acc, sizeof(o->acc));
    if (n == MR_E_INVAL) {
        return n;
    }
    o->by_acc = n > 0;
    if (o->by_test && !mr_subject_valid_literal(o->test, strlen(o->test))) {
        snprintf(q->err, sizeof(q->err),
                 "invalid test subject, must be valid publish subject: %s", o->test);
        return MR_E_INVAL;
    }
    o->offset = o->offset < 0 ? 0 : o->offset;
    o->limit = o->limit <= 0 ? LIST_LIMIT_DEFAULT : o->limit;
    return MR_OK;
}

/* The page of client subscriptions: accounts in creation order, then connections in
 * accept order, then subscriptions in subscription order. */
static json_t *subsz_list(const struct mr_server *s, const struct subsz_opts *o)
{
    json_t *list = json_array();
    uint64_t index = 0;
    uint64_t end = (uint64_t)o->offset + (uint64_t)o->limit;
    for (const struct mr_account *a = s->accounts_head; a != NULL; a = a->next) {
        if ((o->by_acc && strcmp(a->name, o->acc) != 0) || a->conns == 0) {
            continue;
        }
        for (const struct mr_conn *c = s->conns_head; c != NULL && index < end; c = c->next) {
            if (c->kind != MR_CONN_CLIENT || !c->counted || c->state != CONN_OPEN ||
                c->account != a) {
                continue;
            }
            for (const struct mr_csub *cs = c->subs_head; cs != NULL && index < end;
                 cs = cs->next) {
                if (o->by_test && !mr_subject_matches(cs->sub.subject, cs->sub.subject_len,
                                                      o->test, strlen(o->test))) {
                    continue;
                }
                if (index++ >= (uint64_t)o->offset) {
                    push(list, csub_json(cs, a->name));
                }
            }
        }
    }
    return list;
}

static int render_subsz(struct mr_server *s, struct query *q, json_t **out)
{
    struct subsz_opts o;
    if (subsz_opts(q, &o) != MR_OK) {
        return 400;
    }
    struct sl_totals t = {0};
    for (const struct mr_account *a = s->accounts_head; a != NULL; a = a->next) {
        if (!o.by_acc || strcmp(a->name, o.acc) == 0) {
            sl_add(&t, a->sublist);
        }
    }
    json_t *list = o.subs ? subsz_list(s, &o) : NULL;
    json_t *j = json_object();
    /* nats-server sends the bare statistics unless a non-empty list goes with them, and
     * its "total" is the length of the page. */
    if (list == NULL || json_array_size(list) == 0) {
        json_decref(list);
        put_sl_stats(j, &t);
        *out = j;
        return 200;
    }
    put(j, "server_id", json_string(s->server_id));
    put(j, "now", jtime(wall_now(s)));
    put_sl_stats(j, &t);
    put(j, "total", jint(json_array_size(list)));
    put(j, "offset", jint((uint64_t)o.offset));
    put(j, "limit", jint((uint64_t)o.limit));
    put(j, "subscriptions_list", list);
    *out = j;
    return 200;
}

/* ------------------------------------------------------------------------------------ */
/* /accountz                                                                             */

static const char *response_type_name(enum mr_response_type t)
{
    switch (t) {
    case MR_RESPONSE_SINGLE:
        return "Singleton";
    case MR_RESPONSE_STREAM:
        return "Streamed";
    case MR_RESPONSE_CHUNKED:
        return "Chunked";
    }
    return "Singleton";
}

static json_t *export_json(const struct mr_export_opts *e)
{
    json_t *j = json_object();
    put(j, "subject", jstr(e->subject));
    put(j, "type", json_string(e->service ? "service" : "stream"));
    if (e->service) {
        put(j, "response_type", json_string(response_type_name(e->response_type)));
    }
    if (e->accounts_count > 0) {
        json_t *approved = json_array();
        for (size_t i = 0; i < e->accounts_count; i++) {
            push(approved, jstr(e->accounts[i]));
        }
        put(j, "approved_accounts", approved);
    }
    return j;
}

/* nats-server's ExtImport: a service import's "subject" is the local subject and "to"
 * the exporter's; a stream import's "local_subject" is where messages appear. */
static json_t *import_json(const struct mr_import_opts *i)
{
    json_t *j = json_object();
    if (i->service) {
        put(j, "subject", jstr(i->to != NULL ? i->to : i->subject));
        put(j, "account", jstr(i->account));
        put(j, "to", jstr(i->subject));
    } else {
        put(j, "subject", jstr(i->subject));
        put(j, "account", jstr(i->account));
        if (i->prefix != NULL) {
            char *local = g_strdup_printf("%s.%s", i->prefix, i->subject);
            put(j, "local_subject", jstr(local));
            g_free(local);
        } else {
            put(j, "local_subject", jstr(i->to != NULL ? i->to : i->subject));
        }
    }
    put(j, "type", json_string(i->service ? "service" : "stream"));
    put(j, "invalid", json_false());
    put(j, "share", json_false());
    put(j, "tracking", json_false());
    return j;
}

static json_t *account_json(const struct mr_server *s, const struct mr_account *a)
{
    const struct mr_account_opts *ao = a->opts;
    struct sl_totals t = {0};
    sl_add(&t, a->sublist);
    json_t *j = json_object();
    put(j, "account_name", jstr(a->name));
    put(j, "update_time", jtime(s->start_wall_ns));
    if (a == s->system) {
        put(j, "is_system", json_true());
    }
    put(j, "expired", json_false());
    put(j, "complete", json_true());
    put(j, "jetstream_enabled", json_boolean(ao != NULL && ao->jetstream));
    put(j, "leafnode_connections", json_integer(0));
    put(j, "client_connections", jint(a->conns));
    put(j, "subscriptions", jint(t.subs));
    if (ao != NULL && ao->exports_count > 0) {
        json_t *list = json_array();
        for (size_t i = 0; i < ao->exports_count; i++) {
            push(list, export_json(&ao->exports[i]));
        }
        put(j, "exports", list);
    }
    if (ao != NULL && ao->imports_count > 0) {
        json_t *list = json_array();
        for (size_t i = 0; i < ao->imports_count; i++) {
            push(list, import_json(&ao->imports[i]));
        }
        put(j, "imports", list);
    }
    json_t *st = json_object();
    put_sl_stats(st, &t);
    put(j, "sublist_stats", st);
    return j;
}

static int render_accountz(struct mr_server *s, struct query *q, json_t **out)
{
    char name[MR_HTTP_QUERY_VALUE_MAX];
    int n = q_text(q, "acc", name, sizeof(name));
    if (n == MR_E_INVAL) {
        return 400;
    }
    const struct mr_account *a = NULL;
    if (n > 0) {
        a = account_named(s, name);
        if (a == NULL) {
            snprintf(q->err, sizeof(q->err), "Account %s does not exist", name);
            return 400;
        }
    }
    json_t *j = json_object();
    put(j, "server_id", json_string(s->server_id));
    put(j, "now", jtime(wall_now(s)));
    if (s->system != NULL) {
        put(j, "system_account", jstr(s->system->name));
    }
    if (a != NULL) {
        put(j, "account_detail", account_json(s, a));
    } else {
        json_t *list = json_array();
        for (const struct mr_account *x = s->accounts_head; x != NULL; x = x->next) {
            push(list, jstr(x->name));
        }
        put(j, "accounts", list);
    }
    *out = j;
    return 200;
}

/* ------------------------------------------------------------------------------------ */
/* /routez                                                                               */

/* By remote name, then by id (stable for equal names: inbound lists). */
static gint cmp_gw_names(gconstpointer a, gconstpointer b)
{
    const struct mr_gw_conn *x = *(const struct mr_gw_conn *const *)a;
    const struct mr_gw_conn *y = *(const struct mr_gw_conn *const *)b;
    int c = strcmp(x->name, y->name);
    return c != 0 ? c : (x->gid < y->gid ? -1 : x->gid > y->gid);
}

static json_t *route_json(const struct mr_server *s, const struct mr_route *r, bool subs,
                          bool detail, uint64_t now_ns)
{
    const struct mr_conn *c = r->conn;
    json_t *j = json_object();
    put(j, "rid", jint(r->rid));
    put(j, "remote_id", jstr(r->remote_id));
    put(j, "did_solicit", json_boolean(r->solicited));
    put(j, "is_configured", json_boolean(r->solicited && r->slot != NULL && r->slot->configured));
    put(j, "ip", jstr(c->host));
    put(j, "port", jint(c->port));
    put(j, "start", jtime(mr_server_wall_of(s, c->start_ns)));
    uint64_t last = last_activity(c);
    put(j, "last_activity", jtime(mr_server_wall_of(s, last)));
    char rtt[32];
    format_rtt(rtt, sizeof(rtt), c->rtt_ns);
    put(j, "rtt", jstr(rtt));
    put(j, "uptime", juptime(since(now_ns, c->start_ns)));
    put(j, "idle", juptime(since(now_ns, last)));
    put(j, "pending_size", jint(c->out.pending_bytes));
    put(j, "in_msgs", jint(c->in_msgs));
    put(j, "out_msgs", jint(c->out_msgs));
    put(j, "in_bytes", jint(c->in_bytes));
    put(j, "out_bytes", jint(c->out_bytes));
    put(j, "subscriptions", jint(r->rsubs_count));
    if ((subs || detail) && r->rsubs_count > 0) {
        json_t *list = json_array();
        for (const struct mr_rsub *rs = r->rsubs_head; rs != NULL; rs = rs->next) {
            const struct mr_sub *sub = &rs->sub;
            push(list, detail ? sub_json(rs->acc->name, sub->subject, sub->subject_len,
                                         sub->queue, sub->queue != NULL ? sub->queue_len : 0,
                                         "", 0, 0, r->rid)
                              : jstrn(sub->subject, sub->subject_len));
        }
        put(j, detail ? "subscriptions_list_detail" : "subscriptions_list", list);
    }
    return j;
}

static int render_routez(struct mr_server *s, struct query *q, json_t **out)
{
    char v[MR_HTTP_QUERY_VALUE_MAX];
    int n = q_text(q, "subs", v, sizeof(v));
    if (n == MR_E_INVAL) {
        return 400;
    }
    bool detail = n > 0 && g_ascii_strcasecmp(v, "detail") == 0;
    bool subs = false;
    if (!detail && q_bool(q, "subs", &subs) != MR_OK) {
        return 400;
    }
    uint64_t now_ns = mono_now(s);
    json_t *j = json_object();
    put(j, "server_id", json_string(s->server_id));
    put(j, "now", jtime(wall_now(s)));
    put(j, "num_routes", jint(s->cluster.count));
    json_t *list = json_array();
    for (const struct mr_route *r = mr_route_first(s); r != NULL; r = mr_route_next(r)) {
        push(list, route_json(s, r, subs, detail, now_ns));
    }
    put(j, "routes", list);
    *out = j;
    return 200;
}

/* ------------------------------------------------------------------------------------ */
/* /gatewayz                                                                             */

/* A gateway connection as nats-server's ConnInfo (the fields a gateway has). */
static json_t *gw_conn_json(const struct mr_server *s, const struct mr_gw_conn *g,
                            uint64_t now_ns)
{
    const struct mr_conn *c = g->conn;
    json_t *j = json_object();
    put(j, "cid", jint(g->gid));
    put(j, "kind", json_string("Gateway"));
    put(j, "ip", jstr(c->host));
    put(j, "port", jint(c->port));
    put(j, "start", jtime(mr_server_wall_of(s, c->start_ns)));
    uint64_t last = last_activity(c);
    put(j, "last_activity", jtime(mr_server_wall_of(s, last)));
    char rtt[32];
    format_rtt(rtt, sizeof(rtt), c->rtt_ns);
    put(j, "rtt", jstr(rtt));
    put(j, "uptime", juptime(since(now_ns, c->start_ns)));
    put(j, "idle", juptime(since(now_ns, last)));
    put(j, "pending_bytes", jint(c->out.pending_bytes));
    put(j, "in_msgs", jint(c->in_msgs));
    put(j, "out_msgs", jint(c->out_msgs));
    put(j, "in_bytes", jint(c->in_bytes));
    put(j, "out_bytes", jint(c->out_bytes));
    put(j, "subscriptions", jint(g->outbound ? g->rsubs : 0));
    put(j, "name", jstr(g->remote_id));
    return j;
}

static gint cmp_strs(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* One account's interest mode as nats-server's AccountGatewayz. */
static json_t *gw_account_json(const char *name, const char *mode, uint32_t subs, uint32_t qsubs)
{
    json_t *a = json_object();
    put(a, "name", jstr(name));
    put(a, "interest_mode", jstr(mode));
    put(a, "interest_only_threshold", jint(1000)); /* nats-server's switch threshold */
    if (subs > 0) {
        put(a, "num_subs", jint(subs));
    }
    if (qsubs > 0) {
        put(a, "num_queue_subs", jint(qsubs));
    }
    return a;
}

/* ?accs=1: per account, the interest mode of this connection. Outbound: what the
 * remote told us; inbound: every account of this server runs interest-only. */
static json_t *gw_accounts_json(const struct mr_server *s, const struct mr_gw_conn *g)
{
    json_t *list = json_array();
    if (!g->outbound) {
        GPtrArray *names = g_ptr_array_new();
        for (const struct mr_account *a = s->accounts_head; a != NULL; a = a->next) {
            g_ptr_array_add(names, a->name);
        }
        g_ptr_array_sort(names, cmp_strs);
        for (guint i = 0; i < names->len; i++) {
            push(list, gw_account_json(g_ptr_array_index(names, i), "Interest-Only", 0, 0));
        }
        g_ptr_array_free(names, TRUE);
        return list;
    }
    GPtrArray *names = mr_gateway_out_accounts(g);
    for (guint i = 0; i < names->len; i++) {
        const char *name = g_ptr_array_index(names, i);
        const char *mode;
        uint32_t subs;
        uint32_t qsubs;
        mr_gateway_out_account_info(g, name, &mode, &subs, &qsubs);
        push(list, gw_account_json(name, mode, subs, qsubs));
    }
    g_ptr_array_free(names, TRUE);
    return list;
}

static json_t *remote_gw_json(const struct mr_server *s, const struct mr_gw_conn *g,
                              uint64_t now_ns, bool accs)
{
    json_t *j = json_object();
    /* As nats-server: inbound connections are never "configured". */
    bool configured = g->outbound && !g->remote->implicit;
    put(j, "configured", json_boolean(configured));
    put(j, "connection", gw_conn_json(s, g, now_ns));
    if (accs) {
        put(j, "accounts", gw_accounts_json(s, g));
    }
    return j;
}

static int render_gatewayz(struct mr_server *s, struct query *q, json_t **out)
{
    char only[MR_HTTP_QUERY_VALUE_MAX];
    int n = q_text(q, "gw_name", only, sizeof(only));
    if (n == MR_E_INVAL) {
        return 400;
    }
    bool accs = false;
    if (q_bool(q, "accs", &accs) != MR_OK) {
        return 400;
    }
    uint64_t now_ns = mono_now(s);
    json_t *j = json_object();
    put(j, "server_id", json_string(s->server_id));
    put(j, "now", jtime(wall_now(s)));
    const struct mr_gateways *gw = &s->gw;
    if (gw->opts != NULL) {
        put(j, "name", jstr(gw->name));
        put(j, "host", jstr(gw->opts->host != NULL ? gw->opts->host : "0.0.0.0"));
        put(j, "port", jint(gw->port));
    }
    /* Go maps: keys sorted (jansson keeps insertion order, so insert sorted). */
    GPtrArray *names = g_ptr_array_new();
    for (const struct mr_gw_conn *g = gw->out_head; g != NULL; g = g->next) {
        g_ptr_array_add(names, (gpointer)g);
    }
    g_ptr_array_sort(names, cmp_gw_names);
    json_t *outs = json_object();
    for (guint i = 0; i < names->len; i++) {
        const struct mr_gw_conn *g = g_ptr_array_index(names, i);
        if (n <= 0 || strcmp(only, g->name) == 0) {
            put(outs, g->name, remote_gw_json(s, g, now_ns, accs));
        }
    }
    g_ptr_array_set_size(names, 0);
    for (const struct mr_gw_conn *g = gw->in_head; g != NULL; g = g->next) {
        g_ptr_array_add(names, (gpointer)g);
    }
    g_ptr_array_sort(names, cmp_gw_names);
    json_t *ins = json_object();
    for (guint i = 0; i < names->len; i++) {
        const struct mr_gw_conn *g = g_ptr_array_index(names, i);
        if (n > 0 && strcmp(only, g->name) != 0) {
            continue;
        }
        json_t *list = json_object_get(ins, g->name);
        if (list == NULL) {
            list = json_array();
            put(ins, g->name, list);
        }
        push(list, remote_gw_json(s, g, now_ns, accs));
    }
    g_ptr_array_free(names, TRUE);
    put(j, "outbound_gateways", outs);
    put(j, "inbound_gateways", ins);
    *out = j;
    return 200;
}

/* ------------------------------------------------------------------------------------ */
/* /leafz                                                                                */

static int render_leafz(struct mr_server *s, struct query *q, json_t **out)
{
    bool subs = false;
    if (q_bool(q, "subs", &subs) != MR_OK) {
        return 400;
    }
    char acc[MR_HTTP_QUERY_VALUE_MAX];
    int n = q_text(q, "acc", acc, sizeof(acc));
    if (n == MR_E_INVAL) {
        return 400;
    }
    json_t *j = json_object();
    put(j, "server_id", json_string(s->server_id));
    put(j, "now", jtime(wall_now(s)));
    json_t *list = json_array();
    uint64_t count = 0;
    for (const struct mr_leaf *l = mr_leaf_first(s); l != NULL; l = l->next) {
        if (n > 0 && strcmp(acc, l->acc->name) != 0) {
            continue;
        }
        const struct mr_conn *c = l->conn;
        json_t *e = json_object();
        put(e, "account", jstr(l->acc->name));
        put(e, "ip", jstr(c->host));
        put(e, "port", jint(c->port));
        if (c->rtt_ns != 0) {
            char rtt[32];
            format_rtt(rtt, sizeof(rtt), c->rtt_ns);
            put(e, "rtt", jstr(rtt));
        }
        put(e, "in_msgs", jint(c->in_msgs));
        put(e, "out_msgs", jint(c->out_msgs));
        put(e, "in_bytes", jint(c->in_bytes));
        put(e, "out_bytes", jint(c->out_bytes));
        put(e, "subscriptions", jint(l->lsubs_count));
        if (subs && l->lsubs_count > 0) {
            json_t *sl = json_array();
            for (const struct mr_lsub *x = l->lsubs_head; x != NULL; x = x->next) {
                push(sl, jstrn(x->sub.subject, x->sub.subject_len));
            }
            put(e, "subscriptions_list", sl);
        }
        push(list, e);
        count++;
    }
    put(j, "leafnodes", jint(count));
    put(j, "leafs", list);
    *out = j;
    return 200;
}

/* ------------------------------------------------------------------------------------ */
/* /jsz                                                                                  */

/* nats-server's JSInfo: ?accounts, ?streams and ?config add details (js_api.c). */
static int render_jsz(struct mr_server *s, struct query *q, json_t **out)
{
    bool accounts = false;
    bool streams = false;
    bool config = false;
    bool consumers = false;
    if (q_bool(q, "accounts", &accounts) != MR_OK || q_bool(q, "streams", &streams) != MR_OK ||
        q_bool(q, "config", &config) != MR_OK || q_bool(q, "consumers", &consumers) != MR_OK) {
        return 400;
    }
    json_t *j = json_object();
    put(j, "server_id", json_string(s->server_id));
    put(j, "now", jtime(wall_now(s)));
    if (s->js == NULL) {
        put(j, "disabled", json_true());
        json_t *cfg = json_object();
        put(cfg, "max_memory", json_integer(0));
        put(cfg, "max_storage", json_integer(0));
        put(j, "config", cfg);
        static const char *const zeros[] = {"memory",   "storage",   "reserved_memory",
                                            "reserved_storage", "accounts", "ha_assets"};
        for (size_t i = 0; i < G_N_ELEMENTS(zeros); i++) {
            put(j, zeros[i], json_integer(0));
        }
        json_t *api = json_object();
        put(api, "total", json_integer(0));
        put(api, "errors", json_integer(0));
        put(j, "api", api);
        static const char *const counts[] = {"streams", "consumers", "messages", "bytes"};
        for (size_t i = 0; i < G_N_ELEMENTS(counts); i++) {
            put(j, counts[i], json_integer(0));
        }
        *out = j;
        return 200;
    }
    json_t *info = mr_js_api_jsz(s->js, accounts, streams, config);
    const char *key;
    json_t *v;
    json_object_foreach(info, key, v) {
        put(j, key, json_incref(v));
    }
    json_decref(info);
    *out = j;
    return 200;
}

/* ------------------------------------------------------------------------------------ */
/* /healthz and /                                                                        */

static int render_healthz(struct mr_server *s, struct query *q, json_t **out)
{
    /* JetStream checks are not served yet, but the flags are validated as
     * nats-server does. */
    static const char *const flags[] = {"js-enabled", "js-enabled-only", "js-server-only"};
    for (size_t i = 0; i < G_N_ELEMENTS(flags); i++) {
        bool v = false;
        if (q_bool(q, flags[i], &v) != MR_OK) {
            return 400;
        }
    }
    json_t *j = json_object();
    if (s->shutting_down) {
        put(j, "status", json_string("unavailable"));
        put(j, "error", json_string("server is shutting down"));
        *out = j;
        return 503;
    }
    put(j, "status", json_string("ok"));
    *out = j;
    return 200;
}

static char *root_page(void)
{
    char *page = g_strdup_printf(
        "<html lang=\"en\">\n"
        "  <head>\n"
        "    <title>Meridian monitoring</title>\n"
        "  </head>\n"
        "  <body>\n"
        "    <h1>Meridian %s</h1>\n"
        "    <p>NATS server %s compatible monitoring</p>\n"
        "    <a href=./varz>General</a><br/>\n"
        "    <a href=./connz>Connections</a><br/>\n"
        "    <a href=./accountz>Accounts</a><br/>\n"
        "    <a href=./subsz>Subscriptions</a><br/>\n"
        "    <a href=./routez>Routes</a><br/>\n"
        "    <a href=./gatewayz>Gateways</a><br/>\n"
        "    <a href=./leafz>Leaf Nodes</a><br/>\n"
        "    <a href=./healthz>Health Probe</a><br/>\n"
        "    <a href=https://docs.nats.io/running-a-nats-service/nats_admin/monitoring>"
        "Help</a>\n"
        "  </body>\n"
        "</html>\n",
        MR_SERVER_VERSION, MR_SERVER_COMPAT_VERSION);
    char *body = dup_text(page, strlen(page));
    g_free(page);
    return body;
}

/* ------------------------------------------------------------------------------------ */
/* Rendering                                                                             */

/* The endpoint a path names, or -1. /subscriptionsz is nats-server's alias of /subsz. */
static int endpoint_of(const char *path)
{
    for (int i = 0; i < MR_MON_ENDPOINT_COUNT; i++) {
        if (strcmp(path, endpoint_paths[i]) == 0) {
            return i;
        }
    }
    if (strcmp(path, "/subscriptionsz") == 0) {
        return MR_MON_SUBSZ;
    }
    return -1;
}

/* JSONP as nats-server's ResponseHandler: ?callback=fn wraps the JSON in fn(...). The
 * name is limited to identifier characters and dots, so it cannot inject script. */
static int wrap_callback(struct query *q, char **text, const char **ctype)
{
    char cb[MR_HTTP_QUERY_VALUE_MAX];
    int n = q_text(q, "callback", cb, sizeof(cb));
    if (n == MR_E_INVAL) {
        return 400;
    }
    if (n <= 0) {
        return 200;
    }
    for (int i = 0; i < n; i++) {
        if (!g_ascii_isalnum(cb[i]) && cb[i] != '_' && cb[i] != '$' && cb[i] != '.') {
            snprintf(q->err, sizeof(q->err), "invalid callback name: %s", cb);
            return 400;
        }
    }
    size_t len = (size_t)n + strlen(*text) + 2;
    char *out = malloc(len + 1);
    mr_assert(out != NULL); /* real OOM aborts */
    snprintf(out, len + 1, "%s(%s)", cb, *text);
    free(*text);
    *text = out;
    *ctype = CT_JS;
    return 200;
}

static int render_json(struct mr_server *s, int ep, struct query *q, json_t **out)
{
    switch (ep) {
    case MR_MON_VARZ:
        return render_varz(s, q, out);
    case MR_MON_CONNZ:
        return render_connz(s, q, out);
    case MR_MON_SUBSZ:
        return render_subsz(s, q, out);
    case MR_MON_ACCOUNTZ:
        return render_accountz(s, q, out);
    case MR_MON_HEALTHZ:
        return render_healthz(s, q, out);
    case MR_MON_ROUTEZ:
        return render_routez(s, q, out);
    case MR_MON_GATEWAYZ:
        return render_gatewayz(s, q, out);
    case MR_MON_LEAFZ:
        return render_leafz(s, q, out);
    case MR_MON_JSZ:
        return render_jsz(s, q, out);
    default:
        mr_panic(__FILE__, __LINE__, "not a JSON endpoint");
    }
}

int mr_monitor_render(struct mr_server *s, const char *path, const char *query, char **body,
                      const char **content_type)
{
    mr_assert(s != NULL);
    mr_assert(path != NULL);
    mr_assert(body != NULL && content_type != NULL);
    static const char not_found[] = "404 page not found\n";
    int ep = endpoint_of(path);
    if (ep < 0) {
        *body = dup_text(not_found, sizeof(not_found) - 1);
        *content_type = CT_TEXT;
        return 404;
    }
    if (ep == MR_MON_ROOT) {
        *body = root_page();
        *content_type = CT_HTML;
        return 200;
    }
    struct query q = {.s = query != NULL ? query : "", .len = 0};
    q.len = strlen(q.s);
    json_t *j = NULL;
    int status = render_json(s, ep, &q, &j);
    if (j == NULL) {
        mr_assert(status != 200);
        *body = dup_text(q.err, strlen(q.err));
        *content_type = CT_TEXT;
        return status;
    }
    /* Go's MarshalIndent, except /healthz which nats-server marshals compact. */
    size_t flags = JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15);
    flags |= ep == MR_MON_HEALTHZ ? JSON_COMPACT : JSON_INDENT(2);
    char *text = json_dumps(j, flags);
    json_decref(j);
    mr_assert(text != NULL); /* real OOM aborts */
    *content_type = CT_JSON;
    if (wrap_callback(&q, &text, content_type) != 200) {
        free(text);
        *body = dup_text(q.err, strlen(q.err));
        *content_type = CT_TEXT;
        return 400;
    }
    *body = text;
    return status;
}

/* ------------------------------------------------------------------------------------ */
/* HTTP                                                                                  */

static bool in_append(struct mr_server *s, struct mr_conn *c, const uint8_t *p, size_t n)
{
    size_t need = c->in_len + n;
    if (need > c->in_cap) {
        size_t cap = c->in_cap == 0 ? 4096 : c->in_cap;
        while (cap < need) {
            cap *= 2;
        }
        uint8_t *nb = mr_mem_realloc(&s->mem, c->in_buf, c->in_cap, cap);
        if (nb == NULL) {
            mr_server_log(s, MR_LOG_WARN, "%s:%u - monitoring input: memory budget exhausted",
                          c->host, (unsigned)c->port);
            mr_conn_close(c, "Out Of Memory");
            return false;
        }
        c->in_buf = nb;
        c->in_cap = cap;
    }
    memcpy(c->in_buf + c->in_len, p, n);
    c->in_len = need;
    return true;
}

struct reply {
    int status;
    const char *content_type;
    const char *extra_headers; /* complete lines, or "" */
    const char *body;
    size_t body_len;
    bool head_only;  /* HEAD: headers as for GET, no body */
    bool keep_alive;
    bool http10;
};

/* Queues one response. Returns false if the connection was closed meanwhile. */
static bool respond(struct mr_server *s, struct mr_conn *c, const struct reply *r)
{
    char date[48];
    format_http_date(date, sizeof(date), wall_now(s));
    const char *conn = !r->keep_alive ? "Connection: close\r\n"
                                      : (r->http10 ? "Connection: keep-alive\r\n" : "");
    /* As Go's server: an HTTP/1.0 request gets an HTTP/1.0 status line. */
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.%d %d %s\r\nContent-Type: %s\r\nDate: %s\r\nContent-Length: %zu\r\n"
                     "%s%s\r\n",
                     r->http10 ? 0 : 1, r->status, mr_http_status_text(r->status),
                     r->content_type, date, r->body_len, r->extra_headers, conn);
    mr_assert(n > 0 && (size_t)n < sizeof(head));
    if (!mr_conn_queue_out(c, head, (size_t)n)) {
        return false;
    }
    if (r->head_only || r->body_len == 0) {
        return true;
    }
    return mr_conn_queue_out(c, r->body, r->body_len);
}

/* A request that does not parse: the status the parser chose, then close. */
static void refuse(struct mr_server *s, struct mr_conn *c, int err, uint16_t status)
{
    char body[64];
    int n = snprintf(body, sizeof(body), "%d %s", status, mr_http_status_text(status));
    mr_assert(n > 0 && (size_t)n < sizeof(body));
    struct reply r = {
        .status = status,
        .content_type = CT_TEXT,
        .extra_headers = "",
        .body = body,
        .body_len = (size_t)n,
    };
    mr_server_log(s, MR_LOG_DEBUG, "%s:%u - monitoring: bad request (%s): %d", c->host,
                  (unsigned)c->port, mr_err_text(err), status);
    (void)respond(s, c, &r); /* closing either way */
    mr_conn_close(c, "Bad HTTP Request");
}

/* Answers one parsed request. */
static void serve(struct mr_server *s, struct mr_conn *c, const struct mr_http_request *req)
{
    struct reply r = {
        .extra_headers = "",
        .head_only = req->method == MR_HTTP_HEAD,
        .keep_alive = req->keep_alive,
        .http10 = req->minor_version == 0,
    };
    if (req->method == MR_HTTP_OTHER) {
        static const char msg[] = "Method Not Allowed\n";
        r.status = 405;
        r.content_type = CT_TEXT;
        r.extra_headers = "Allow: GET, HEAD\r\n";
        r.body = msg;
        r.body_len = sizeof(msg) - 1;
        (void)respond(s, c, &r); /* false means closed: nothing more to do */
        return;
    }
    /* The decoded path and the raw query, NUL-terminated for mr_monitor_render; both
     * fit in the head, and decoding never lengthens. */
    char text[MR_HTTP_HEAD_MAX + 2];
    mr_assert((size_t)req->path.len + req->query.len + 2 <= sizeof(text));
    int plen = mr_http_path_decode(req->path.ptr, req->path.len, text, req->path.len + 1);
    if (plen < 0) {
        refuse(s, c, plen, 400);
        return;
    }
    char *query = text + plen + 1;
    memcpy(query, req->query.ptr != NULL ? req->query.ptr : "", req->query.len);
    query[req->query.len] = '\0';
    int ep = endpoint_of(text);
    if (ep >= 0) {
        s->monitor.requests[ep]++;
    }
    char *body = NULL;
    r.status = mr_monitor_render(s, text, query, &body, &r.content_type);
    r.body = body;
    r.body_len = strlen(body);
    if (r.status == 404) {
        r.extra_headers = "X-Content-Type-Options: nosniff\r\n";
    }
    (void)respond(s, c, &r); /* false means closed: nothing more to do */
    free(body);
}

/* Answers the complete requests at the front of data; returns the bytes they took (all
 * of them when the connection was closed). */
static size_t serve_all(struct mr_server *s, struct mr_conn *c, const uint8_t *data, size_t n)
{
    struct mr_http_parser p;
    mr_http_parser_init(&p, MR_HTTP_HEAD_MAX, MR_HTTP_HEADERS_MAX, MR_HTTP_BODY_MAX);
    size_t off = 0;
    for (uint32_t served = 0; off < n && c->state == CONN_OPEN; served++) {
        if (served == MR_HTTP_PIPELINE_MAX) {
            mr_server_log(s, MR_LOG_WARN, "%s:%u - monitoring: over %d pipelined requests",
                          c->host, (unsigned)c->port, MR_HTTP_PIPELINE_MAX);
            mr_conn_close(c, "Too Many Pipelined Requests");
            return n;
        }
        struct mr_http_request req;
        int rc = mr_http_parse(&p, data + off, n - off, &req);
        if (rc == MR_AGAIN) {
            break;
        }
        if (rc < 0) {
            refuse(s, c, rc, p.status);
            return n;
        }
        serve(s, c, &req);
        off += (size_t)rc;
        if (!req.keep_alive && c->state == CONN_OPEN) {
            mr_conn_close(c, "Client Closed");
        }
    }
    return c->state == CONN_OPEN ? off : n;
}

void mr_monitor_on_bytes(struct mr_server *s, struct mr_conn *c, const uint8_t *buf, size_t len)
{
    mr_assert(c->kind == MR_CONN_HTTP);
    mr_assert(buf != NULL || len == 0);
    if (c->state != CONN_OPEN) {
        return;
    }
    const uint8_t *data = buf;
    size_t n = len;
    if (c->in_len > 0) {
        if (!in_append(s, c, buf, len)) {
            return;
        }
        data = c->in_buf;
        n = c->in_len;
    }
    size_t off = serve_all(s, c, data, n);
    size_t rest = n - off;
    if (c->state != CONN_OPEN) {
        c->in_len = 0;
        return;
    }
    /* Whatever is left is one incomplete request, which the parser bounds. */
    mr_assert(rest < (size_t)MR_HTTP_HEAD_MAX + MR_HTTP_BODY_MAX);
    if (data == c->in_buf) {
        memmove(c->in_buf, c->in_buf + off, rest);
        c->in_len = rest;
    } else if (rest > 0) {
        (void)in_append(s, c, data + off, rest); /* false: closed, nothing to keep */
    }
}
