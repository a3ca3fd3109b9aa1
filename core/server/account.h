/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Accounts: each account is its own subject space; the configured exports and imports
 * connect them (config.md section 4).
 *
 * A stream import is an internal subscription in the exporting account on the imported
 * subject; what it matches is routed again in the importing account under the local
 * subject (prefix or `to` mapping). A service import is an internal subscription in the
 * importing account on the local subject; what it matches is routed in the exporting
 * account with its reply subject replaced by "_R_.<importer>.<id>", and one internal
 * subscription per (exporter, importer) pair on "_R_.<importer>.>" carries the answer
 * back to the original reply subject. Reply mappings end after the first response
 * (response_type single) or when the response threshold passes.
 *
 * Ownership: accounts, internal subscriptions and reply mappings belong to the server
 * and are freed by mr_accounts_deinit. The account options are borrowed.
 */
#ifndef MR_ACCOUNT_H
#define MR_ACCOUNT_H

#include <stddef.h>
#include <stdint.h>

#include "core/server/server_int.h"

/* Bounds: reply mappings waiting for a response (oldest dropped beyond it), and the
 * default response threshold. */
#define MR_RESPONSES_MAX 65536
#define MR_RESPONSE_THRESHOLD_DEFAULT_NS (120ULL * 1000000000ULL)

/* Creates $G, the configured accounts and the system account, and resolves imports
 * against exports. Returns 0, or MR_E_INVAL / MR_E_NOMEM with a message in err. */
int mr_accounts_init(struct mr_server *s, char *err, size_t err_len);
/* Frees accounts, internal subscriptions and reply mappings (client subscriptions must
 * be gone already). */
void mr_accounts_deinit(struct mr_server *s);

/* An internal subscription matched m (inside a fan-out of its account). */
void mr_account_on_internal(struct mr_server *s, struct mr_sub *sub, const struct mr_msg *m,
                            uint32_t depth);
/* The reply-mapping expiry timer fired. */
void mr_accounts_on_timer(struct mr_server *s);
/* Asserts the invariants of accounts and reply mappings. */
void mr_accounts_check(const struct mr_server *s);

/* A handler-kind internal subscription (JetStream's API and streams): fn is called with
 * each message it matches, inside the fan-out of its account, so fn must not change
 * subscriptions or route messages itself (it may copy the message and act later). */
typedef void (*mr_isub_fn)(void *ctx, struct mr_account *acc, const struct mr_msg *m);
/* Adds one on subject (valid, wildcards allowed) in acc. NULL on MR_E_NOMEM. */
struct mr_isub *mr_account_isub_add(struct mr_server *s, struct mr_account *acc,
                                    const char *subject, mr_isub_fn fn, void *ctx);
/* Removes and frees one added by mr_account_isub_add (not during a fan-out). */
void mr_account_isub_remove(struct mr_server *s, struct mr_isub *is);

/* Maps subject (matched by pattern `from`) onto pattern `to`: a '*' or '>' token of `to`,
 * or a "$N" / "{{wildcard(N)}}" token, takes the subject's tokens that matched the
 * wildcards of `from`, in order. Returns the length written to out (at most out_len), or
 * -1 if the result does not fit or the patterns disagree. */
int mr_account_map_subject(const char *from, const char *to, const char *subject, size_t len,
                           char *out, size_t out_len);

#endif
