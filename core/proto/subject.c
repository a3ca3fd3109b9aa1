/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Subject validation and comparison (protocol.md section 2), following nats-server's
 * rules in server/sublist.go: a subject is '.'-separated tokens, none empty; a token
 * may hold any byte except '.' and the whitespace bytes space, tab, CR, LF and FF
 * (no UTF-8 or NUL check: nats-server only does those for stream subjects); '*' and
 * '>' are wildcards only as a whole token, and '>' only as the last token.
 *
 * Every function scans its inputs left to right with explicit loops: no allocation,
 * no recursion, no token arrays, so subjects of any length are handled in O(len).
 * Inputs are borrowed and never kept.
 */
#include "core/proto/subject.h"

#include <string.h>

#include "core/assert.h"
#include "core/limits.h"

/* One token of a subject: bytes [start, end) of the input; end == len on the last. */
struct tok {
    size_t start;
    size_t end;
};

static bool is_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f';
}

/* Fills t with the token that starts at byte start. */
static void tok_at(const char *s, size_t len, size_t start, struct tok *t)
{
    mr_assert(start <= len);
    const char *dot = start < len ? memchr(s + start, '.', len - start) : NULL;
    t->start = start;
    t->end = dot != NULL ? (size_t)(dot - s) : len;
}

static bool tok_last(const struct tok *t, size_t len)
{
    return t->end == len;
}

static bool tok_is(const char *s, const struct tok *t, char wildcard)
{
    return t->end - t->start == 1 && s[t->start] == wildcard;
}

static bool tok_equal(const char *a, const struct tok *ta, const char *b, const struct tok *tb)
{
    size_t n = ta->end - ta->start;
    return n == tb->end - tb->start && memcmp(a + ta->start, b + tb->start, n) == 0;
}

/*
 * The one validation pass behind mr_subject_valid and mr_subject_valid_literal: it
 * reports whether s is a valid subscription subject and whether it has a wildcard.
 */
static bool scan_valid(const char *s, size_t len, bool *has_wildcard)
{
    *has_wildcard = false;
    if (len == 0) {
        return false;
    }
    mr_assert(s != NULL);
    size_t tokens = 0;
    size_t start = 0;
    bool seen_fwc = false;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') {
            if (is_space((unsigned char)s[i])) {
                return false;
            }
            continue;
        }
        /* A token ends at i. Nothing may follow a '>' token, and no token is empty. */
        if (i == start || seen_fwc) {
            return false;
        }
        tokens++;
        if (tokens > MR_SUBJECT_TOKENS_MAX) {
            return false;
        }
        if (i - start == 1 && (s[start] == '*' || s[start] == '>')) {
            *has_wildcard = true;
            seen_fwc = s[start] == '>';
        }
        start = i + 1;
    }
    mr_assert(tokens >= 1);
    return true;
}

bool mr_subject_valid(const char *s, size_t len)
{
    bool wildcard;
    return scan_valid(s, len, &wildcard);
}

bool mr_subject_valid_literal(const char *s, size_t len)
{
    bool wildcard;
    return scan_valid(s, len, &wildcard) && !wildcard;
}

bool mr_subject_valid_queue(const char *s, size_t len)
{
    if (len == 0) {
        return false;
    }
    mr_assert(s != NULL);
    for (size_t i = 0; i < len; i++) {
        if (is_space((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

bool mr_subject_has_wildcard(const char *s, size_t len)
{
    mr_assert(len > 0);
    mr_assert(s != NULL);
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '*' && s[i] != '>') {
            continue;
        }
        /* Only a whole token is a wildcard: 'foo>' and 'f*o' are literal. */
        if ((i == 0 || s[i - 1] == '.') && (i + 1 == len || s[i + 1] == '.')) {
            return true;
        }
    }
    return false;
}

int mr_subject_tokenize(const char *s, size_t len, struct mr_view *tokens, size_t max)
{
    if (len == 0) {
        return 0;
    }
    mr_assert(s != NULL);
    mr_assert(len <= UINT32_MAX);
    size_t count = 0;
    size_t start = 0;
    for (;;) {
        struct tok t;
        tok_at(s, len, start, &t);
        if (count == max) {
            return -1;
        }
        tokens[count].ptr = s + t.start;
        tokens[count].len = (uint32_t)(t.end - t.start);
        count++;
        if (tok_last(&t, len)) {
            break;
        }
        start = t.end + 1;
    }
    mr_assert(count <= max);
    mr_assert(count <= INT32_MAX);
    return (int)count;
}

bool mr_subject_matches(const char *pattern, size_t plen, const char *subject, size_t slen)
{
    if (plen == 0 || slen == 0) {
        return false;
    }
    mr_assert(pattern != NULL);
    mr_assert(subject != NULL);
    struct tok pt;
    struct tok st;
    size_t pi = 0;
    size_t si = 0;
    for (;;) {
        tok_at(pattern, plen, pi, &pt);
        tok_at(subject, slen, si, &st);
        /* '>' takes this token and every one after it; there is at least this one. */
        if (tok_is(pattern, &pt, '>')) {
            return true;
        }
        if (!tok_is(pattern, &pt, '*') && !tok_equal(pattern, &pt, subject, &st)) {
            return false;
        }
        bool plast = tok_last(&pt, plen);
        bool slast = tok_last(&st, slen);
        if (plast || slast) {
            return plast && slast;
        }
        pi = pt.end + 1;
        si = st.end + 1;
    }
}

bool mr_subject_intersects(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen == 0 || blen == 0) {
        return false;
    }
    mr_assert(a != NULL);
    mr_assert(b != NULL);
    struct tok at;
    struct tok bt;
    size_t ai = 0;
    size_t bi = 0;
    for (;;) {
        tok_at(a, alen, ai, &at);
        tok_at(b, blen, bi, &bt);
        /* Both have a token here, so a '>' on either side can absorb the rest of the
         * other, whatever it is. */
        if (tok_is(a, &at, '>') || tok_is(b, &bt, '>')) {
            return true;
        }
        if (!tok_is(a, &at, '*') && !tok_is(b, &bt, '*') && !tok_equal(a, &at, b, &bt)) {
            return false;
        }
        bool alast = tok_last(&at, alen);
        bool blast = tok_last(&bt, blen);
        /* Without a '>' the token counts must be equal. */
        if (alast || blast) {
            return alast && blast;
        }
        ai = at.end + 1;
        bi = bt.end + 1;
    }
}

bool mr_subject_is_subset(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen == 0 || blen == 0) {
        return false;
    }
    mr_assert(a != NULL);
    mr_assert(b != NULL);
    struct tok at;
    struct tok bt;
    size_t ai = 0;
    size_t bi = 0;
    for (;;) {
        tok_at(a, alen, ai, &at);
        tok_at(b, blen, bi, &bt);
        if (tok_is(b, &bt, '>')) {
            return true;
        }
        /* a's '>' also matches longer subjects that b, lacking a '>' here, cannot. */
        if (tok_is(a, &at, '>')) {
            return false;
        }
        /* a's '*' takes any token, so b needs a '*' too. */
        if (tok_is(a, &at, '*')) {
            if (!tok_is(b, &bt, '*')) {
                return false;
            }
        } else if (!tok_is(b, &bt, '*') && !tok_equal(a, &at, b, &bt)) {
            return false;
        }
        bool alast = tok_last(&at, alen);
        bool blast = tok_last(&bt, blen);
        if (alast || blast) {
            return alast && blast;
        }
        ai = at.end + 1;
        bi = bt.end + 1;
    }
}
