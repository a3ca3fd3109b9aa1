/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The history of a simulated run (sim_history.h): fixed-size events in chunks of
 * CHUNK_EVENTS, with interned strings in a GStringChunk, and actor names in a GPtrArray
 * indexed by actor number with a GHashTable for lookup by name only.
 *
 * Events live in chunks rather than one growing array: a run appends hundreds of
 * thousands, and doubling one array copied them over and over (the largest single cost
 * of a run at 1,000 msgs/s). A chunk never moves, so event pointers stay valid.
 *
 * Invariants: events are in non-decreasing time order; len <= max_events; dropped > 0
 * only when truncated; chunks holds ceil(len / CHUNK_EVENTS) chunks. Every string
 * pointer in an event points into strings.
 *
 * Ownership: the history owns its arrays, tables and strings; callers borrow
 * sim_history_at() results until sim_history_destroy.
 */
#include "sim/sim_history.h"

#include <glib.h>
#include <inttypes.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"

/* 72 bytes an event: 576 KiB a chunk. */
#define CHUNK_EVENTS 8192
/* Strings interned last, recognised by pointer (see intern). A power of two. */
#define RECENT_MAX 8
/* Strings whose FNV-1a sim_history_hash remembers, by pointer (see str_fnv_cached). */
#define FNV_MEMO_MAX 64

struct sim_history {
    GPtrArray *chunks;    /* struct sim_hist_event[CHUNK_EVENTS] each, owned */
    size_t len;           /* events kept */
    size_t max_events;
    GStringChunk *strings;
    const char *empty;    /* "" interned: most event strings are empty */
    /* Pointers intern returned last, in a ring: callers that pass interned strings back
     * (sim_history_intern) skip the lookup by content. */
    const char *recent[RECENT_MAX];
    uint32_t recent_next;
    GPtrArray *actors;    /* interned names, by index */
    GHashTable *actor_by_name; /* interned name -> index + 1; lookup only */
    bool truncated;
    uint64_t truncated_at_ns;
    uint64_t dropped;
};

struct sim_history *sim_history_create(size_t max_events)
{
    struct sim_history *h = g_new0(struct sim_history, 1);
    h->max_events = max_events == 0 ? SIM_HISTORY_EVENTS_DEFAULT : max_events;
    h->chunks = g_ptr_array_new_with_free_func(g_free);
    h->strings = g_string_chunk_new(4096);
    h->empty = g_string_chunk_insert_const(h->strings, "");
    h->actors = g_ptr_array_new();
    h->actor_by_name = g_hash_table_new(g_str_hash, g_str_equal);
    return h;
}

void sim_history_destroy(struct sim_history *h)
{
    if (h == NULL) {
        return;
    }
    g_hash_table_destroy(h->actor_by_name);
    g_ptr_array_free(h->actors, TRUE);
    g_string_chunk_free(h->strings);
    g_ptr_array_free(h->chunks, TRUE);
    g_free(h);
}

/* Event i's place, kept or about to be (its chunk exists). */
static struct sim_hist_event *event_at(const struct sim_history *h, size_t i)
{
    struct sim_hist_event *chunk = g_ptr_array_index(h->chunks, i / CHUNK_EVENTS);
    return &chunk[i % CHUNK_EVENTS];
}

static const char *intern(struct sim_history *h, const char *s)
{
    if (s == NULL || s[0] == '\0') {
        return h->empty;
    }
    /* An interned string never changes and no caller owns its memory, so the same
     * pointer is the same string. */
    for (uint32_t i = 0; i < RECENT_MAX; i++) {
        if (h->recent[i] == s) {
            return s;
        }
    }
    const char *r = g_string_chunk_insert_const(h->strings, s);
    h->recent[h->recent_next] = r;
    h->recent_next = (h->recent_next + 1) % RECENT_MAX;
    return r;
}

const char *sim_history_intern(struct sim_history *h, const char *s)
{
    return intern(h, s);
}

uint32_t sim_history_actor(struct sim_history *h, const char *name)
{
    mr_assert(name != NULL);
    gpointer v = g_hash_table_lookup(h->actor_by_name, name);
    if (v != NULL) {
        return (uint32_t)(GPOINTER_TO_SIZE(v) - 1);
    }
    const char *s = intern(h, name);
    uint32_t idx = h->actors->len;
    mr_assert(idx < UINT32_MAX - 1);
    g_ptr_array_add(h->actors, (gpointer)s);
    g_hash_table_insert(h->actor_by_name, (gpointer)s, GSIZE_TO_POINTER((gsize)idx + 1));
    return idx;
}

const char *sim_history_actor_name(const struct sim_history *h, uint32_t i)
{
    mr_assert(i < h->actors->len);
    return g_ptr_array_index(h->actors, i);
}

size_t sim_history_actors(const struct sim_history *h)
{
    return h->actors->len;
}

int64_t sim_history_actor_find(const struct sim_history *h, const char *name)
{
    gpointer v = g_hash_table_lookup(h->actor_by_name, name);
    if (v == NULL) {
        return -1;
    }
    return (int64_t)GPOINTER_TO_SIZE(v) - 1;
}

int sim_history_append(struct sim_history *h, const struct sim_hist_event *ev)
{
    mr_assert(ev != NULL);
    mr_assert(ev->kind >= SIM_H_PUB && ev->kind <= SIM_H_JS_STORE);
    mr_assert(ev->actor < h->actors->len);
    mr_assert(ev->t_ns >= sim_history_last_ns(h));
    if (h->truncated || h->len >= h->max_events) {
        if (!h->truncated) {
            h->truncated = true;
            h->truncated_at_ns = ev->t_ns;
        }
        h->dropped++;
        return MR_E_LIMIT;
    }
    if (h->len % CHUNK_EVENTS == 0) {
        g_ptr_array_add(h->chunks, g_new(struct sim_hist_event, CHUNK_EVENTS));
    }
    struct sim_hist_event *e = event_at(h, h->len);
    *e = *ev;
    e->subject = intern(h, ev->subject);
    e->queue = intern(h, ev->queue);
    e->server = intern(h, ev->server);
    e->text = intern(h, ev->text);
    h->len++;
    mr_assert(h->chunks->len == (h->len + CHUNK_EVENTS - 1) / CHUNK_EVENTS);
    return 0;
}

size_t sim_history_len(const struct sim_history *h)
{
    return h->len;
}

const struct sim_hist_event *sim_history_at(const struct sim_history *h, size_t i)
{
    mr_assert(i < h->len);
    return event_at(h, i);
}

bool sim_history_truncated(const struct sim_history *h)
{
    return h->truncated;
}

uint64_t sim_history_truncated_at_ns(const struct sim_history *h)
{
    return h->truncated_at_ns;
}

uint64_t sim_history_dropped(const struct sim_history *h)
{
    mr_assert(h->dropped == 0 || h->truncated);
    return h->dropped;
}

uint64_t sim_history_last_ns(const struct sim_history *h)
{
    if (h->len == 0) {
        return 0;
    }
    return event_at(h, h->len - 1)->t_ns;
}

const char *sim_hist_kind_name(enum sim_hist_kind kind)
{
    switch (kind) {
    case SIM_H_PUB:
        return "PUB";
    case SIM_H_MSG:
        return "MSG";
    case SIM_H_REQ:
        return "REQ";
    case SIM_H_REPLY:
        return "REPLY";
    case SIM_H_TIMEOUT:
        return "TIMEOUT";
    case SIM_H_CONNECT:
        return "CONNECT";
    case SIM_H_DISCONNECT:
        return "DISCONNECT";
    case SIM_H_ERR:
        return "ERR";
    case SIM_H_SUB:
        return "SUB";
    case SIM_H_STOP:
        return "STOP";
    case SIM_H_JS_ACK:
        return "JS_ACK";
    case SIM_H_JS_NAK:
        return "JS_NAK";
    case SIM_H_JS_INFO:
        return "JS_INFO";
    case SIM_H_JS_READ:
        return "JS_READ";
    case SIM_H_JS_STORE:
        return "JS_STORE";
    }
    return "?";
}

/* Appends s as a JSON string literal: quotes, backslashes and control bytes escaped;
 * other bytes are copied as they are (subjects and error texts are ASCII). */
static void json_str(GString *out, const char *s)
{
    g_string_append_c(out, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\') {
            g_string_append_c(out, '\\');
            g_string_append_c(out, (char)*p);
        } else if (*p < 0x20) {
            g_string_append_printf(out, "\\u%04x", (unsigned)*p);
        } else {
            g_string_append_c(out, (char)*p);
        }
    }
    g_string_append_c(out, '"');
}

void sim_history_event_json(const struct sim_history *h, size_t i, void *gstring_out)
{
    GString *out = gstring_out;
    const struct sim_hist_event *e = sim_history_at(h, i);
    g_string_append_printf(out, "{\"t\":%" PRIu64 ",\"kind\":\"%s\",\"actor\":", e->t_ns,
                           sim_hist_kind_name(e->kind));
    json_str(out, sim_history_actor_name(h, e->actor));
    g_string_append_printf(out, ",\"gen\":%" PRIu32 ",\"pub\":", e->gen);
    bool has_id = e->kind == SIM_H_PUB || e->kind == SIM_H_MSG || e->kind == SIM_H_REQ ||
                  e->kind == SIM_H_REPLY || e->kind == SIM_H_TIMEOUT ||
                  e->kind == SIM_H_JS_ACK || e->kind == SIM_H_JS_NAK ||
                  e->kind == SIM_H_JS_READ;
    if (has_id && e->pub != UINT32_MAX) {
        json_str(out, sim_history_actor_name(h, e->pub));
    } else {
        json_str(out, "");
    }
    g_string_append_printf(out, ",\"seq\":%" PRIu64, e->seq);
    if (e->kind >= SIM_H_JS_ACK) {
        g_string_append_printf(out, ",\"sseq\":%" PRIu64, e->sseq);
    }
    g_string_append(out, ",\"subject\":");
    json_str(out, e->subject);
    g_string_append(out, ",\"queue\":");
    json_str(out, e->queue);
    g_string_append(out, ",\"server\":");
    json_str(out, e->server);
    g_string_append(out, ",\"text\":");
    json_str(out, e->text);
    g_string_append_c(out, '}');
}

static void tail_json(const struct sim_history *h, GString *out)
{
    g_string_append_printf(out, "{\"truncated\":true,\"at\":%" PRIu64 ",\"dropped\":%" PRIu64 "}",
                           h->truncated_at_ns, h->dropped);
}

int sim_history_write_jsonl(const struct sim_history *h, FILE *out)
{
    mr_assert(out != NULL);
    GString *line = g_string_sized_new(256);
    int rc = 0;
    for (size_t i = 0; i < h->len && rc == 0; i++) {
        g_string_truncate(line, 0);
        sim_history_event_json(h, i, line);
        g_string_append_c(line, '\n');
        if (fwrite(line->str, 1, line->len, out) != line->len) {
            rc = MR_E_IO;
        }
    }
    if (rc == 0 && h->truncated) {
        g_string_truncate(line, 0);
        tail_json(h, line);
        g_string_append_c(line, '\n');
        if (fwrite(line->str, 1, line->len, out) != line->len) {
            rc = MR_E_IO;
        }
    }
    g_string_free(line, TRUE);
    return rc;
}

static uint64_t fnv1a(uint64_t hash, const char *p, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        hash ^= (uint8_t)p[i];
        hash *= 1099511628211ull;
    }
    return hash;
}

static uint64_t mix(uint64_t hash, uint64_t v)
{
    hash ^= v + 0x9e3779b97f4a7c15ULL + (hash << 6) + (hash >> 2);
    return hash * 0xff51afd7ed558ccdULL;
}

/* The FNV-1a of s with its NUL: contents, never the interned pointer, so the hash does
 * not depend on addresses. */
static uint64_t str_fnv(const char *s)
{
    return fnv1a(14695981039346656037ull, s, strlen(s) + 1);
}

/* str_fnv of interned strings by pointer (equal pointers, equal strings): a run's
 * events name a few subjects many times over. Direct-mapped on the pointer. */
struct fnv_memo {
    const char *s[FNV_MEMO_MAX];
    uint64_t fnv[FNV_MEMO_MAX];
};

static uint64_t str_fnv_cached(struct fnv_memo *memo, const char *s)
{
    size_t i = ((uintptr_t)s >> 3) % FNV_MEMO_MAX;
    if (memo->s[i] != s) {
        memo->s[i] = s;
        memo->fnv[i] = str_fnv(s);
    }
    return memo->fnv[i];
}

/* Mixes s into hash; empty_fnv is str_fnv(""), kept since most strings are "". */
static uint64_t mix_str(const struct sim_history *h, struct fnv_memo *memo, uint64_t empty_fnv,
                        uint64_t hash, const char *s)
{
    return mix(s == h->empty ? empty_fnv : str_fnv_cached(memo, s), hash);
}

/* Hashes the fields of every event directly (formatting each event as JSON to hash it
 * cost more than the rest of a short run). Same events, same hash. */
uint64_t sim_history_hash(const struct sim_history *h)
{
    uint64_t hash = 14695981039346656037ull;
    uint64_t empty_fnv = str_fnv("");
    struct fnv_memo *memo = g_new0(struct fnv_memo, 1);
    for (size_t i = 0; i < h->len; i++) {
        const struct sim_hist_event *e = event_at(h, i);
        hash = mix(hash, e->t_ns);
        hash = mix(hash, (uint64_t)e->kind);
        hash = mix(hash, ((uint64_t)e->actor << 32) | e->gen);
        hash = mix(hash, e->pub);
        hash = mix(hash, e->seq);
        hash = mix(hash, e->sseq);
        hash = mix_str(h, memo, empty_fnv, hash, e->subject);
        hash = mix_str(h, memo, empty_fnv, hash, e->queue);
        hash = mix_str(h, memo, empty_fnv, hash, e->server);
        hash = mix_str(h, memo, empty_fnv, hash, e->text);
    }
    g_free(memo);
    if (h->truncated) {
        GString *line = g_string_sized_new(256);
        tail_json(h, line);
        hash = fnv1a(hash, line->str, line->len);
        g_string_free(line, TRUE);
    }
    return hash;
}
