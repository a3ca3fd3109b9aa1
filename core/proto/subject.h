/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Subjects: '.'-separated tokens, none empty, no whitespace; '*' (one token) and '>'
 * (one or more, last only) are wildcards when they are a whole token (protocol.md
 * section 2). Byte-based, case-sensitive, UTF-8 allowed. No allocation.
 */
#ifndef MR_SUBJECT_H
#define MR_SUBJECT_H

#include <stdbool.h>
#include <stddef.h>

#include "core/proto/parser.h"

/* A valid subscription subject: wildcards allowed, at most MR_SUBJECT_TOKENS_MAX tokens. */
bool mr_subject_valid(const char *s, size_t len);
/* A valid subject with no wildcard tokens (a publish subject in pedantic mode). */
bool mr_subject_valid_literal(const char *s, size_t len);
/* A valid queue group name: non-empty, no whitespace. */
bool mr_subject_valid_queue(const char *s, size_t len);
/* True if s has a '*' or '>' token. s must be valid. */
bool mr_subject_has_wildcard(const char *s, size_t len);
/* Splits s into tokens; returns the count, or -1 if s has more than max tokens. */
int mr_subject_tokenize(const char *s, size_t len, struct mr_view *tokens, size_t max);
/* True if pattern (wildcards allowed) matches subject. A literal '*' or '>' token in
 * subject is matched like any other token. */
bool mr_subject_matches(const char *pattern, size_t plen, const char *subject, size_t slen);
/* True if some subject could match both patterns (used for cache invalidation,
 * permissions and stream subject overlap). */
bool mr_subject_intersects(const char *a, size_t alen, const char *b, size_t blen);
/* True if every subject matched by a is also matched by b. */
bool mr_subject_is_subset(const char *a, size_t alen, const char *b, size_t blen);

#endif
