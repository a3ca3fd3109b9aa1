/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reference-counted interest tables; see interest.h.
 *
 * Invariants: every entry has count > 0 and is both in the map and in the list, once.
 */
#include "core/server/interest.h"

#include <string.h>

#include "core/assert.h"

/* "subject" or "subject queue" into buf, or into a new allocation when it does not fit
 * (*heap is set then). */
static char *make_key(char *buf, size_t cap, const char *subject, size_t slen, const char *queue,
                      size_t qlen, bool *heap)
{
    size_t n = slen + (qlen > 0 ? 1 + qlen : 0);
    *heap = n + 1 > cap;
    char *k = *heap ? g_malloc(n + 1) : buf;
    memcpy(k, subject, slen);
    if (qlen > 0) {
        k[slen] = ' ';
        memcpy(k + slen + 1, queue, qlen);
    }
    k[n] = '\0';
    return k;
}

static void unlink_entry(struct mr_interest_table *t, struct mr_interest *e)
{
    if (e->prev != NULL) {
        e->prev->next = e->next;
    } else {
        t->head = e->next;
    }
    if (e->next != NULL) {
        e->next->prev = e->prev;
    } else {
        t->tail = e->prev;
    }
}

uint32_t mr_interest_change(struct mr_interest_table *t, const char *subject, size_t subject_len,
                            const char *queue, size_t queue_len, int delta, bool *absent)
{
    mr_assert(delta == 1 || delta == -1);
    if (absent != NULL) {
        *absent = false;
    }
    if (t->map == NULL) {
        t->map = g_hash_table_new(g_str_hash, g_str_equal);
    }
    char buf[256];
    bool heap;
    size_t qlen = queue != NULL ? queue_len : 0;
    char *key = make_key(buf, sizeof(buf), subject, subject_len, queue, qlen, &heap);
    struct mr_interest *e = g_hash_table_lookup(t->map, key);
    if (e == NULL) {
        if (delta < 0) {
            if (heap) {
                g_free(key);
            }
            if (absent != NULL) {
                *absent = true;
            }
            return 0;
        }
        e = g_new0(struct mr_interest, 1);
        e->key = heap ? key : g_strdup(key);
        heap = false;
        e->subject_len = (uint32_t)subject_len;
        e->prev = t->tail;
        if (t->tail != NULL) {
            t->tail->next = e;
        } else {
            t->head = e;
        }
        t->tail = e;
        g_hash_table_insert(t->map, e->key, e);
    }
    if (heap) {
        g_free(key);
    }
    e->count = (uint32_t)((int64_t)e->count + delta);
    t->changes++;
    uint32_t count = e->count;
    if (count == 0) {
        g_hash_table_remove(t->map, e->key);
        unlink_entry(t, e);
        g_free(e->key);
        g_free(e);
    }
    return count;
}

const char *mr_interest_queue(const struct mr_interest *e, size_t *len)
{
    size_t klen = strlen(e->key);
    if (e->subject_len >= klen) {
        *len = 0;
        return NULL;
    }
    *len = klen - e->subject_len - 1;
    return e->key + e->subject_len + 1;
}

void mr_interest_clear(struct mr_interest_table *t)
{
    while (t->head != NULL) {
        struct mr_interest *e = t->head;
        t->head = e->next;
        g_free(e->key);
        g_free(e);
    }
    t->tail = NULL;
    if (t->map != NULL) {
        g_hash_table_destroy(t->map);
        t->map = NULL;
    }
}

void mr_interest_check(const struct mr_interest_table *t)
{
    /* The simulator checks after every event: walk the table only after a change (a
     * zeroed table starts with changes == checked_at == 0, and is empty). */
    if (t->changes == t->checked_at) {
        mr_assert(t->changes != 0 || t->head == NULL);
        return;
    }
    ((struct mr_interest_table *)t)->checked_at = t->changes;
    uint32_t n = 0;
    const struct mr_interest *prev = NULL;
    for (const struct mr_interest *e = t->head; e != NULL; e = e->next) {
        mr_assert(e->count > 0);
        mr_assert(e->prev == prev);
        mr_assert(g_hash_table_lookup(t->map, e->key) == e);
        prev = e;
        n++;
    }
    mr_assert(prev == t->tail);
    mr_assert(t->map == NULL ? n == 0 : g_hash_table_size(t->map) == n);
}
