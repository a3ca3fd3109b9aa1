/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reference-counted interest per (subject, queue): what a server tells its routes (its
 * local interest) and its inbound gateways (its cluster's interest). Entries are kept
 * in creation order for a deterministic full resend; the hash table is for lookup only.
 */
#ifndef MR_INTEREST_H
#define MR_INTEREST_H

#include <glib.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mr_interest {
    char *key; /* "subject" or "subject queue" */
    uint32_t subject_len;
    uint32_t count;
    struct mr_interest *prev;
    struct mr_interest *next;
};

struct mr_interest_table {
    GHashTable *map; /* key -> entry; NULL until the first entry */
    struct mr_interest *head;
    struct mr_interest *tail;
    uint64_t changes;    /* every change counts one */
    uint64_t checked_at; /* mr_interest_check memo: changes at the last full check */
};

/* Adds delta (+1 or -1) to the count of (subject, queue); queue may be NULL. Returns the
 * count after the change; an entry that reaches 0 is removed. A -1 for an absent entry
 * is ignored and returns 0 with *absent set (absent may be NULL). */
uint32_t mr_interest_change(struct mr_interest_table *t, const char *subject, size_t subject_len,
                            const char *queue, size_t queue_len, int delta, bool *absent);

/* The queue of an entry (NULL for a plain subject) and its length. */
const char *mr_interest_queue(const struct mr_interest *e, size_t *len);

void mr_interest_clear(struct mr_interest_table *t);
/* Asserts the table's invariants. */
void mr_interest_check(const struct mr_interest_table *t);

#endif
