/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Authentication and permissions; see auth.h.
 *
 * Permission semantics follow nats-server: deny wins over allow; an empty allow list
 * allows everything; a subscribe entry "subject queue" allows only queue subscriptions
 * in that group; a wildcard SUB is allowed when it is inside an allowed subject and
 * not inside a denied one, and deliveries it would get on denied subjects are dropped.
 * Results are cached per connection (bounded: the cache is cleared when full, so its
 * contents never depend on hash order).
 */
#include "core/server/auth.h"

#include <crypt.h>
#include <glib.h>
#include <string.h>

#include "core/assert.h"
#include "core/proto/subject.h"
#include "core/server/server_int.h"

/* Publish results cached per connection; cleared when full. */
#define PUB_CACHE_MAX 256
/* Reply subjects a responder may answer at once (allow_responses). */
#define REPLIES_ALLOWED_MAX 4096

struct reply_grant {
    uint32_t remaining;
    uint64_t expires_ns; /* 0 = never */
};

bool mr_auth_required(const struct mr_server *s)
{
    const struct mr_auth_opts *a = s->opts.auth;
    if (a != NULL) {
        return a->users_count > 0 || a->token != NULL;
    }
    return s->opts.user[0] != '\0' || s->opts.token[0] != '\0';
}

static bool is_bcrypt(const char *p)
{
    return strncmp(p, "$2a$", 4) == 0 || strncmp(p, "$2b$", 4) == 0 ||
           strncmp(p, "$2x$", 4) == 0 || strncmp(p, "$2y$", 4) == 0;
}

/* Compares a CONNECT password with the configured one, plain or bcrypt. A bcrypt check
 * costs tens of milliseconds of the loop, as it costs nats-server a goroutine. */
bool mr_auth_password_ok(const char *given, const char *configured)
{
    if (given == NULL || configured == NULL) {
        return false;
    }
    if (!is_bcrypt(configured)) {
        return strcmp(given, configured) == 0;
    }
    /* crypt_rn, not crypt_r: sanitizer runtimes intercept crypt_r and can call a NULL
     * "real" function when libcrypt was bound lazily. */
    struct crypt_data *data = g_new0(struct crypt_data, 1);
    const char *out = crypt_rn(given, configured, data, (int)sizeof(*data));
    bool ok = out != NULL && out[0] != '*' && strcmp(out, configured) == 0;
    g_free(data);
    return ok;
}

static void bind_user(struct mr_server *s, struct mr_conn *c, const struct mr_user_opts *u)
{
    const struct mr_auth_opts *a = s->opts.auth;
    struct mr_account *acc = s->global;
    if (u != NULL && u->account != NULL) {
        acc = g_hash_table_lookup(s->accounts_by_name, u->account);
        /* The loader and mr_server_create reject users of unknown accounts. */
        mr_assert(acc != NULL);
    }
    c->account = acc;
    c->user = u;
    c->permissions = NULL;
    if (u != NULL && u->permissions != NULL) {
        c->permissions = u->permissions;
    } else if (a != NULL && a->default_permissions != NULL) {
        c->permissions = a->default_permissions;
    }
}

static const struct mr_user_opts *find_user(const struct mr_auth_opts *a, const char *name)
{
    if (name == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < a->users_count; i++) {
        if (a->users[i].user != NULL && strcmp(a->users[i].user, name) == 0) {
            return &a->users[i];
        }
    }
    return NULL;
}

bool mr_auth_connect(struct mr_server *s, struct mr_conn *c, const char *user, const char *pass,
                     const char *token)
{
    const struct mr_auth_opts *a = s->opts.auth;
    if (a == NULL) {
        /* Flag authorization (--user/--pass or --auth), or none. */
        if (s->opts.token[0] != '\0') {
            if (token == NULL || strcmp(token, s->opts.token) != 0) {
                return false;
            }
        } else if (s->opts.user[0] != '\0') {
            if (user == NULL || strcmp(user, s->opts.user) != 0 ||
                !mr_auth_password_ok(pass, s->opts.pass)) {
                return false;
            }
        }
        bind_user(s, c, NULL);
        return true;
    }
    if (!mr_auth_required(s)) {
        bind_user(s, c, NULL);
        return true;
    }
    bool no_credentials = user == NULL && pass == NULL && token == NULL;
    if (no_credentials && a->no_auth_user != NULL) {
        const struct mr_user_opts *u = find_user(a, a->no_auth_user);
        if (u == NULL) {
            return false;
        }
        bind_user(s, c, u);
        return true;
    }
    if (a->token != NULL) {
        if (token == NULL || strcmp(token, a->token) != 0) {
            return false;
        }
        bind_user(s, c, NULL);
        return true;
    }
    const struct mr_user_opts *u = find_user(a, user);
    if (u == NULL || !mr_auth_password_ok(pass, u->password)) {
        return false;
    }
    bind_user(s, c, u);
    return true;
}

static bool list_matches(const struct mr_subject_list *l, const char *subject, size_t len)
{
    for (size_t i = 0; i < l->count; i++) {
        const char *p = l->subjects[i];
        if (strchr(p, ' ') != NULL) {
            continue; /* queue entries only apply to subscriptions */
        }
        if (mr_subject_matches(p, strlen(p), subject, len)) {
            return true;
        }
    }
    return false;
}

static bool publish_allowed(const struct mr_permissions *p, const char *subject, size_t len)
{
    if (p->pub_allow.count > 0 && !list_matches(&p->pub_allow, subject, len)) {
        return false;
    }
    return !list_matches(&p->pub_deny, subject, len);
}

static bool reply_granted(struct mr_conn *c, const char *subject, size_t len)
{
    if (c->replies_allowed == NULL) {
        return false;
    }
    char *key = g_strndup(subject, len);
    struct reply_grant *g = g_hash_table_lookup(c->replies_allowed, key);
    bool ok = false;
    if (g != NULL) {
        uint64_t t = c->srv->env->now_ns(c->srv->env->ctx);
        ok = g->expires_ns == 0 || t < g->expires_ns;
        if (!ok || --g->remaining == 0) {
            g_hash_table_remove(c->replies_allowed, key);
        }
    }
    g_free(key);
    return ok;
}

bool mr_auth_can_publish(struct mr_conn *c, const char *subject, size_t len)
{
    const struct mr_permissions *p = c->permissions;
    if (p == NULL) {
        return true;
    }
    if (c->pub_cache == NULL) {
        c->pub_cache = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    }
    /* Look up with a stack copy: a cache hit, the common case, allocates nothing. */
    char small[128];
    char *key = len < sizeof(small) ? small : g_malloc(len + 1);
    memcpy(key, subject, len);
    key[len] = '\0';
    gpointer hit = g_hash_table_lookup(c->pub_cache, key);
    bool allowed;
    if (hit != NULL) {
        allowed = GPOINTER_TO_INT(hit) == 2;
    } else {
        allowed = publish_allowed(p, subject, len);
        if (g_hash_table_size(c->pub_cache) >= PUB_CACHE_MAX) {
            g_hash_table_remove_all(c->pub_cache);
        }
        g_hash_table_insert(c->pub_cache, g_strndup(subject, len),
                            GINT_TO_POINTER(allowed ? 2 : 1));
    }
    if (key != small) {
        g_free(key);
    }
    if (!allowed && p->allow_responses) {
        allowed = reply_granted(c, subject, len);
    }
    return allowed;
}

/* Splits "subject queue" entries. */
static void split_entry(const char *e, size_t *subj_len, const char **queue)
{
    const char *sp = strchr(e, ' ');
    if (sp == NULL) {
        *subj_len = strlen(e);
        *queue = NULL;
        return;
    }
    *subj_len = (size_t)(sp - e);
    while (*sp == ' ') {
        sp++;
    }
    *queue = sp;
}

/* True if some entry's subject contains the whole subscription subject (and, for a
 * queue entry, the group matches). Used for both lists: a SUB inside a denied subject is
 * refused; one that only overlaps it is allowed and filtered at delivery. */
static bool sub_list_covers(const struct mr_subject_list *l, const char *subject, size_t len,
                            const char *queue, size_t queue_len)
{
    for (size_t i = 0; i < l->count; i++) {
        size_t elen;
        const char *eq;
        split_entry(l->subjects[i], &elen, &eq);
        if (eq != NULL) {
            /* A queue entry only speaks about queue subscriptions in matching groups. */
            if (queue_len == 0 || !mr_subject_matches(eq, strlen(eq), queue, queue_len)) {
                continue;
            }
        }
        if (mr_subject_is_subset(subject, len, l->subjects[i], elen)) {
            return true;
        }
    }
    return false;
}

bool mr_auth_can_subscribe(const struct mr_conn *c, const char *subject, size_t len,
                           const char *queue, size_t queue_len)
{
    const struct mr_permissions *p = c->permissions;
    if (p == NULL) {
        return true;
    }
    if (p->sub_allow.count > 0 &&
        !sub_list_covers(&p->sub_allow, subject, len, queue, queue_len)) {
        return false;
    }
    return !sub_list_covers(&p->sub_deny, subject, len, queue, queue_len);
}

bool mr_auth_delivery_denied(const struct mr_conn *c, const char *subject, size_t len)
{
    const struct mr_permissions *p = c->permissions;
    return p != NULL && p->sub_deny.count > 0 && list_matches(&p->sub_deny, subject, len);
}

void mr_auth_note_reply(struct mr_conn *c, const char *reply, size_t len)
{
    const struct mr_permissions *p = c->permissions;
    if (p == NULL || !p->allow_responses || len == 0) {
        return;
    }
    if (c->replies_allowed == NULL) {
        c->replies_allowed = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    }
    if (g_hash_table_size(c->replies_allowed) >= REPLIES_ALLOWED_MAX) {
        /* A responder that never answers must not grow this without bound. */
        g_hash_table_remove_all(c->replies_allowed);
    }
    struct reply_grant *g = g_new0(struct reply_grant, 1);
    g->remaining = p->responses_max == 0 ? 1 : p->responses_max;
    if (p->responses_expires_ns != 0) {
        g->expires_ns = c->srv->env->now_ns(c->srv->env->ctx) + p->responses_expires_ns;
    }
    g_hash_table_replace(c->replies_allowed, g_strndup(reply, len), g);
}

void mr_auth_conn_deinit(struct mr_conn *c)
{
    if (c->pub_cache != NULL) {
        g_hash_table_destroy(c->pub_cache);
        c->pub_cache = NULL;
    }
    if (c->replies_allowed != NULL) {
        g_hash_table_destroy(c->replies_allowed);
        c->replies_allowed = NULL;
    }
}
