/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Authentication (CONNECT credentials against the configured users, token and
 * no_auth_user) and authorization (publish/subscribe permissions with allow and deny
 * lists, queue-only subscribe entries, allow_responses), as nats-server applies them
 * (config.md section 3, protocol.md section 3.6).
 *
 * Ownership: the permissions checked here belong to the server's (borrowed) auth
 * options; per-connection caches belong to the connection and are freed by
 * mr_auth_conn_deinit.
 */
#ifndef MR_AUTH_H
#define MR_AUTH_H

#include <stdbool.h>
#include <stddef.h>

struct mr_server;
struct mr_conn;
struct mr_user_opts;
struct mr_permissions;

/* True if the server requires credentials (any user, token, or flag auth). */
bool mr_auth_required(const struct mr_server *s);

/* Checks CONNECT credentials. On success binds c->account, c->user, c->permissions and
 * returns true. Strings may be NULL when absent. */
bool mr_auth_connect(struct mr_server *s, struct mr_conn *c, const char *user, const char *pass,
                     const char *token);

/* May c publish to subject? Uses a bounded per-connection cache, and the reply
 * subjects c was allowed to answer (allow_responses). */
bool mr_auth_can_publish(struct mr_conn *c, const char *subject, size_t len);
/* May c subscribe to subject (with queue, queue_len 0 for none)? */
bool mr_auth_can_subscribe(const struct mr_conn *c, const char *subject, size_t len,
                           const char *queue, size_t queue_len);
/* For a wildcard subscription: is this delivered subject denied by c's subscribe deny
 * list? (nats-server filters such deliveries rather than refusing the SUB.) */
bool mr_auth_delivery_denied(const struct mr_conn *c, const char *subject, size_t len);
/* A request with this reply subject is being delivered to c: remember it if c's
 * permissions allow responses. */
void mr_auth_note_reply(struct mr_conn *c, const char *reply, size_t len);
/* Frees the connection's caches. */
void mr_auth_conn_deinit(struct mr_conn *c);

/* Compares a given password with a configured one, plain or bcrypt. */
bool mr_auth_password_ok(const char *given, const char *configured);

#endif
