/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JetStream on one server: the JSON API on $JS.API.> (account info, the stream and
 * consumer requests), streams listening on their subjects, PubAcks, stream
 * configurations and durable consumers kept under the store directory and recovered
 * at start, advisories on $JS.EVENT.ADVISORY.>, and the /jsz numbers.
 *
 * How it hangs together: every account but the system account gets an internal
 * subscription on "$JS.API.>" and each stream one per subject (account.c's handler
 * kind). A matching message is copied onto a FIFO and handled when the server's JS
 * timer fires, right after the current input: never inside a fan-out, which may not
 * change the sublist it walks nor nest. Work waits while file stores open, recover or
 * read a block, so it keeps its order.
 *
 * Accounts with JetStream: $G when no accounts are configured; otherwise the accounts
 * with `jetstream: enabled`. Others get 10039 "JetStream not enabled for account".
 *
 * Store layout (paths relative to the env's store root, which is store_dir/jetstream,
 * as in nats-server): <account>/streams/<stream>/meta.json (the configuration, file
 * streams only) and <account>/streams/<stream>/msgs/ (the file store's blocks).
 *
 * Timers: kind TIMER_JS; the ids above the kind bits: 0 = run the FIFO, 2n = stream n's
 * age and duplicate-window expiry, 2n + 1 = stream n's store, 2^56 + n = consumer n
 * (js_consumer_api.c). File requests: ids below 2^32 are this module's own
 * (configuration and consumer state files), stream n's store uses n << 32 on.
 *
 * Consumers (js_consumer_api.c): $JS.API.CONSUMER.* requests, acks on $JS.ACK.> and
 * flow control replies on $JS.FC.> (one internal subscription each per account) go
 * through the same FIFO, so an ack is handled after the publishes before it.
 *
 * Ownership: struct mr_js belongs to the server (server.c creates and destroys it); it
 * borrows the options and the server.
 */
#ifndef MR_JS_API_H
#define MR_JS_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mr_server;
struct mr_js;

/* Starts JetStream on a created server whose accounts exist: internal subscriptions,
 * then recovery of stored streams (asynchronous; API requests wait for it). Returns 0,
 * or MR_E_INVAL with err set. */
int mr_js_api_create(struct mr_server *s, struct mr_js **out, char *err, size_t err_len);
/* Closes file stores (a clean-close mark where the store can write it in time). */
void mr_js_api_shutdown(struct mr_js *js);
/* Frees every stream and store, and the internal subscriptions. */
void mr_js_api_destroy(struct mr_js *js);
/* A TIMER_JS timer fired; id is the part above the kind bits. */
void mr_js_api_on_timer(struct mr_js *js, uint64_t id);

/* /jsz: nats-server's JSInfo. accounts adds account_details; streams adds their
 * stream_detail (and implies accounts); config adds each stream's config. */
json_t *mr_js_api_jsz(struct mr_js *js, bool accounts, bool streams, bool config);
/* Whether JetStream serves the named account (monitoring). */
bool mr_js_api_account_enabled(const struct mr_js *js, const char *account);

/* Asserts the invariants. O(streams). */
void mr_js_api_check(const struct mr_js *js);

#endif
