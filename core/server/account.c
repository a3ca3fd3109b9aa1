/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Accounts, exports and imports; see account.h.
 *
 * Invariants:
 *  - Every account is in the creation-ordered list and in the name table.
 *  - Every internal subscription is inserted in exactly one account's sublist and is on
 *    the server's list; both go together in mr_accounts_deinit.
 *  - Every reply mapping is in the lookup table and in the FIFO, once.
 */
#include "core/server/account.h"

#include <glib.h>
#include <stdio.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/limits.h"
#include "core/proto/subject.h"
#include "core/server/sublist.h"

enum isub_kind {
    ISUB_STREAM_IMPORT = 1,  /* in the exporter: forwards to the importer */
    ISUB_SERVICE_IMPORT = 2, /* in the importer: forwards requests to the exporter */
    ISUB_SERVICE_REPLY = 3,  /* in the exporter: carries responses back to the importer */
    ISUB_HANDLER = 4,        /* a module's handler (JetStream): fn(ctx, from, msg) */
};

struct mr_isub {
    struct mr_sub sub; /* first: the sublist hands back &isub->sub */
    enum isub_kind kind;
    struct mr_account *from; /* whose sublist holds it */
    struct mr_account *to;   /* where what it matches goes */
    const struct mr_import_opts *imp;
    const struct mr_export_opts *exp;
    char *subject; /* owned */
    mr_isub_fn fn; /* ISUB_HANDLER only */
    void *fn_ctx;
    struct mr_isub *next;
};

struct response {
    char *mapped; /* "_R_.XXXXXX.id", the key */
    struct mr_account *to;
    char *reply; /* the requester's own reply subject */
    uint32_t remaining; /* 0 = until expiry */
    uint64_t expires_ns;
};

static struct mr_account *account_new(struct mr_server *s, const char *name,
                                      const struct mr_account_opts *opts)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    struct mr_account *a = g_new0(struct mr_account, 1);
    a->name = g_strdup(name);
    a->opts = opts;
    if (mr_sublist_create(&s->mem, &a->sublist) != MR_OK) {
        g_free(a->name);
        g_free(a);
        return NULL;
    }
    uint64_t seed;
    s->env->random(s->env->ctx, (uint8_t *)&seed, sizeof(seed));
    mr_sublist_seed(a->sublist, seed);
    uint8_t rnd[6];
    s->env->random(s->env->ctx, rnd, sizeof(rnd));
    memcpy(a->reply_prefix, "_R_.", 4);
    for (size_t i = 0; i < sizeof(rnd); i++) {
        a->reply_prefix[4 + i] = alphabet[rnd[i] % (sizeof(alphabet) - 1)];
    }
    a->reply_prefix[10] = '.';
    a->reply_prefix[11] = '\0';
    if (s->accounts_tail != NULL) {
        s->accounts_tail->next = a;
    } else {
        s->accounts_head = a;
    }
    s->accounts_tail = a;
    g_hash_table_insert(s->accounts_by_name, a->name, a);
    return a;
}

static struct mr_isub *isub_add(struct mr_server *s, enum isub_kind kind, struct mr_account *from,
                                struct mr_account *to, const char *subject)
{
    struct mr_isub *is = g_new0(struct mr_isub, 1);
    is->kind = kind;
    is->from = from;
    is->to = to;
    is->subject = g_strdup(subject);
    is->sub.owner = is;
    is->sub.subject = is->subject;
    is->sub.subject_len = (uint32_t)strlen(subject);
    is->sub.flags = MR_SUB_INTERNAL;
    if (mr_sublist_insert(from->sublist, &is->sub) != MR_OK) {
        g_free(is->subject);
        g_free(is);
        return NULL;
    }
    is->next = s->isubs_head;
    s->isubs_head = is;
    return is;
}

struct mr_isub *mr_account_isub_add(struct mr_server *s, struct mr_account *acc,
                                    const char *subject, mr_isub_fn fn, void *ctx)
{
    mr_assert(fn != NULL);
    struct mr_isub *is = isub_add(s, ISUB_HANDLER, acc, acc, subject);
    if (is != NULL) {
        is->fn = fn;
        is->fn_ctx = ctx;
    }
    return is;
}

void mr_account_isub_remove(struct mr_server *s, struct mr_isub *is)
{
    mr_assert(is->kind == ISUB_HANDLER);
    struct mr_isub **pp = &s->isubs_head;
    while (*pp != is) {
        mr_assert(*pp != NULL);
        pp = &(*pp)->next;
    }
    *pp = is->next;
    int rc = mr_sublist_remove(is->from->sublist, &is->sub);
    mr_assert(rc == MR_OK);
    g_free(is->subject);
    g_free(is);
}

static const struct mr_export_opts *find_export(const struct mr_account *exporter,
                                                const struct mr_account *importer,
                                                const struct mr_import_opts *imp)
{
    if (exporter->opts == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < exporter->opts->exports_count; i++) {
        const struct mr_export_opts *e = &exporter->opts->exports[i];
        if (e->service != imp->service ||
            !mr_subject_is_subset(imp->subject, strlen(imp->subject), e->subject,
                                  strlen(e->subject))) {
            continue;
        }
        if (e->accounts_count == 0) {
            return e;
        }
        for (size_t j = 0; j < e->accounts_count; j++) {
            if (strcmp(e->accounts[j], importer->name) == 0) {
                return e;
            }
        }
    }
    return NULL;
}

static bool has_reply_sub(const struct mr_server *s, const struct mr_account *exporter,
                          const struct mr_account *importer)
{
    for (const struct mr_isub *is = s->isubs_head; is != NULL; is = is->next) {
        if (is->kind == ISUB_SERVICE_REPLY && is->from == exporter && is->to == importer) {
            return true;
        }
    }
    return false;
}

static int add_import(struct mr_server *s, struct mr_account *importer,
                      const struct mr_import_opts *imp, char *err, size_t err_len)
{
    struct mr_account *exporter = g_hash_table_lookup(s->accounts_by_name, imp->account);
    if (exporter == NULL) {
        snprintf(err, err_len, "account %s imports from unknown account %s", importer->name,
                 imp->account);
        return MR_E_INVAL;
    }
    const struct mr_export_opts *exp = find_export(exporter, importer, imp);
    if (exp == NULL) {
        snprintf(err, err_len,
                 "account %s imports %s \"%s\" from %s, which does not export it to %s",
                 importer->name, imp->service ? "service" : "stream", imp->subject,
                 exporter->name, importer->name);
        return MR_E_INVAL;
    }
    struct mr_isub *is;
    if (!imp->service) {
        is = isub_add(s, ISUB_STREAM_IMPORT, exporter, importer, imp->subject);
    } else {
        const char *local = imp->to != NULL ? imp->to : imp->subject;
        is = isub_add(s, ISUB_SERVICE_IMPORT, importer, exporter, local);
        if (is != NULL && !has_reply_sub(s, exporter, importer)) {
            char reply_sub[32];
            snprintf(reply_sub, sizeof(reply_sub), "%s>", importer->reply_prefix);
            struct mr_isub *reply = isub_add(s, ISUB_SERVICE_REPLY, exporter, importer, reply_sub);
            if (reply == NULL) {
                is = NULL;
            } else {
                /* Responses may come back over a route: peers must know this prefix. */
                reply->sub.flags |= MR_SUB_ROUTABLE;
                mr_route_interest(s, exporter, &reply->sub, 1);
                mr_gateway_interest(s, exporter, &reply->sub, 1);
                mr_leaf_interest(s, exporter, &reply->sub, NULL, 1);
            }
        }
    }
    if (is == NULL) {
        snprintf(err, err_len, "%s", mr_err_text(MR_E_NOMEM));
        return MR_E_NOMEM;
    }
    is->imp = imp;
    is->exp = exp;
    return MR_OK;
}

static void response_free(gpointer p)
{
    struct response *r = p;
    g_free(r->mapped);
    g_free(r->reply);
    g_free(r);
}

int mr_accounts_init(struct mr_server *s, char *err, size_t err_len)
{
    const struct mr_auth_opts *a = s->opts.auth;
    s->accounts_by_name = g_hash_table_new(g_str_hash, g_str_equal);
    s->responses = g_hash_table_new(g_str_hash, g_str_equal);
    g_queue_init(&s->responses_fifo);
    s->global = account_new(s, "$G", NULL);
    if (s->global == NULL) {
        snprintf(err, err_len, "%s", mr_err_text(MR_E_NOMEM));
        return MR_E_NOMEM;
    }
    size_t count = a != NULL ? a->accounts_count : 0;
    for (size_t i = 0; i < count; i++) {
        const struct mr_account_opts *ao = &a->accounts[i];
        if (g_hash_table_contains(s->accounts_by_name, ao->name)) {
            snprintf(err, err_len, "duplicate account %s", ao->name);
            return MR_E_INVAL;
        }
        if (account_new(s, ao->name, ao) == NULL) {
            snprintf(err, err_len, "%s", mr_err_text(MR_E_NOMEM));
            return MR_E_NOMEM;
        }
    }
    const char *sys = a != NULL && a->system_account != NULL ? a->system_account : "$SYS";
    if (a == NULL || !a->no_system_account) {
        s->system = g_hash_table_lookup(s->accounts_by_name, sys);
        if (s->system == NULL && strcmp(sys, "$SYS") != 0) {
            snprintf(err, err_len, "system account %s is not defined", sys);
            return MR_E_INVAL;
        }
        if (s->system == NULL) {
            s->system = account_new(s, sys, NULL);
            if (s->system == NULL) {
                snprintf(err, err_len, "%s", mr_err_text(MR_E_NOMEM));
                return MR_E_NOMEM;
            }
        }
    }
    for (size_t i = 0; a != NULL && i < a->users_count; i++) {
        const char *acc = a->users[i].account;
        if (acc != NULL && !g_hash_table_contains(s->accounts_by_name, acc)) {
            snprintf(err, err_len, "user %s is bound to unknown account %s",
                     a->users[i].user != NULL ? a->users[i].user : "(nkey)", acc);
            return MR_E_INVAL;
        }
    }
    for (struct mr_account *acc = s->accounts_head; acc != NULL; acc = acc->next) {
        for (size_t i = 0; acc->opts != NULL && i < acc->opts->imports_count; i++) {
            int rc = add_import(s, acc, &acc->opts->imports[i], err, err_len);
            if (rc != MR_OK) {
                return rc;
            }
        }
    }
    return MR_OK;
}

void mr_accounts_deinit(struct mr_server *s)
{
    while (s->isubs_head != NULL) {
        struct mr_isub *is = s->isubs_head;
        s->isubs_head = is->next;
        int rc = mr_sublist_remove(is->from->sublist, &is->sub);
        mr_assert(rc == MR_OK);
        g_free(is->subject);
        g_free(is);
    }
    if (s->responses != NULL) {
        g_hash_table_destroy(s->responses);
        s->responses = NULL;
    }
    g_queue_clear_full(&s->responses_fifo, response_free);
    while (s->accounts_head != NULL) {
        struct mr_account *a = s->accounts_head;
        s->accounts_head = a->next;
        mr_assert(a->conns == 0);
        mr_sublist_destroy(a->sublist);
        g_free(a->name);
        g_free(a);
    }
    s->accounts_tail = NULL;
    if (s->accounts_by_name != NULL) {
        g_hash_table_destroy(s->accounts_by_name);
        s->accounts_by_name = NULL;
    }
}

/* Splits a subject into token views; returns the count or -1. */
static int tokens(const char *s, size_t len, struct mr_view *out, size_t max)
{
    return mr_subject_tokenize(s, len, out, max);
}

/* "$3" or "{{wildcard(3)}}" -> 3; 0 when the token is not a placeholder. */
static int placeholder(const struct mr_view *t)
{
    const char *p = t->ptr;
    size_t n = t->len;
    if (n >= 2 && p[0] == '$') {
        p++;
        n--;
    } else if (n > 15 && strncmp(p, "{{wildcard(", 11) == 0 && strncmp(p + n - 3, ")}}", 3) == 0) {
        p += 11;
        n -= 14;
    } else {
        return 0;
    }
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9' || v > 1000) {
            return 0;
        }
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

int mr_account_map_subject(const char *from, const char *to, const char *subject, size_t len,
                           char *out, size_t out_len)
{
    struct mr_view ft[MR_SUBJECT_TOKENS_MAX];
    struct mr_view tt[MR_SUBJECT_TOKENS_MAX];
    struct mr_view st[MR_SUBJECT_TOKENS_MAX];
    int fn = tokens(from, strlen(from), ft, MR_SUBJECT_TOKENS_MAX);
    int tn = tokens(to, strlen(to), tt, MR_SUBJECT_TOKENS_MAX);
    int sn = tokens(subject, len, st, MR_SUBJECT_TOKENS_MAX);
    if (fn <= 0 || tn <= 0 || sn <= 0) {
        return -1;
    }
    /* The subject's tokens captured by each wildcard of `from`, in order; '>' captures
     * the rest as one span. */
    struct mr_view wild[MR_SUBJECT_TOKENS_MAX];
    int wn = 0;
    for (int i = 0; i < fn && i < sn; i++) {
        if (ft[i].len == 1 && ft[i].ptr[0] == '*') {
            wild[wn++] = st[i];
        } else if (ft[i].len == 1 && ft[i].ptr[0] == '>') {
            const char *end = subject + len;
            wild[wn].ptr = st[i].ptr;
            wild[wn].len = (uint32_t)(end - st[i].ptr);
            wn++;
            break;
        }
    }
    size_t w = 0;
    int next_wild = 0;
    for (int i = 0; i < tn; i++) {
        struct mr_view piece = tt[i];
        int ph = placeholder(&tt[i]);
        bool is_wild = tt[i].len == 1 && (tt[i].ptr[0] == '*' || tt[i].ptr[0] == '>');
        if (ph > 0) {
            if (ph > wn) {
                return -1;
            }
            piece = wild[ph - 1];
        } else if (is_wild) {
            if (next_wild >= wn) {
                return -1;
            }
            piece = wild[next_wild++];
        }
        if (w + piece.len + 1 > out_len) {
            return -1;
        }
        if (i > 0) {
            out[w++] = '.';
        }
        memcpy(out + w, piece.ptr, piece.len);
        w += piece.len;
    }
    return (int)w;
}

static void responses_expire(struct mr_server *s, uint64_t now_ns, bool make_room)
{
    while (!g_queue_is_empty(&s->responses_fifo)) {
        struct response *r = g_queue_peek_head(&s->responses_fifo);
        bool full = make_room && g_queue_get_length(&s->responses_fifo) >= MR_RESPONSES_MAX;
        if (!full && now_ns < r->expires_ns) {
            break;
        }
        g_queue_pop_head(&s->responses_fifo);
        g_hash_table_remove(s->responses, r->mapped);
        response_free(r);
    }
}

static void responses_arm(struct mr_server *s)
{
    if (s->responses_timer_armed || g_queue_is_empty(&s->responses_fifo)) {
        return;
    }
    struct response *r = g_queue_peek_head(&s->responses_fifo);
    s->responses_timer_armed = true;
    s->env->timer_arm(s->env->ctx, MR_TIMER_SERVER(TIMER_RESPONSES), r->expires_ns);
}

void mr_accounts_on_timer(struct mr_server *s)
{
    s->responses_timer_armed = false;
    responses_expire(s, s->env->now_ns(s->env->ctx), false);
    responses_arm(s);
}

/* Records a reply mapping for a request crossing a service import; returns the mapped
 * reply subject (owned by the mapping) or NULL when there is no reply. */
static const char *map_reply(struct mr_server *s, const struct mr_isub *is, const struct mr_msg *m)
{
    if (m->reply.len == 0) {
        return NULL;
    }
    uint64_t t = s->env->now_ns(s->env->ctx);
    responses_expire(s, t, true);
    struct response *r = g_new0(struct response, 1);
    /* The importer's prefix names who gets the answer; the id makes it unique. */
    r->mapped = g_strdup_printf("%s%llu", is->from->reply_prefix,
                                (unsigned long long)++s->next_response_id);
    r->to = is->from;
    r->reply = g_strndup(m->reply.ptr, m->reply.len);
    r->remaining = is->exp->response_type == MR_RESPONSE_SINGLE ? 1 : 0;
    uint64_t threshold = is->exp->response_threshold_ns != 0 ? is->exp->response_threshold_ns
                                                             : MR_RESPONSE_THRESHOLD_DEFAULT_NS;
    r->expires_ns = t + threshold;
    g_hash_table_insert(s->responses, r->mapped, r);
    g_queue_push_tail(&s->responses_fifo, r);
    responses_arm(s);
    return r->mapped;
}

static void forward(struct mr_server *s, struct mr_account *to, const struct mr_msg *m,
                    const char *subject, size_t subject_len, const char *reply, size_t reply_len,
                    uint32_t depth)
{
    struct mr_msg fwd = *m;
    fwd.subject.ptr = subject;
    fwd.subject.len = (uint32_t)subject_len;
    fwd.reply.ptr = reply;
    fwd.reply.len = (uint32_t)reply_len;
    (void)mr_server_route(s, to, NULL, &fwd, depth + 1);
}

static void on_stream_import(struct mr_server *s, struct mr_isub *is, const struct mr_msg *m,
                             uint32_t depth)
{
    const struct mr_import_opts *imp = is->imp;
    char subject[MR_CONTROL_LINE_MAX];
    int n;
    if (imp->prefix != NULL) {
        n = snprintf(subject, sizeof(subject), "%s.%.*s", imp->prefix, (int)m->subject.len,
                     m->subject.ptr);
        if (n < 0 || (size_t)n >= sizeof(subject)) {
            return;
        }
    } else if (imp->to != NULL) {
        n = mr_account_map_subject(imp->subject, imp->to, m->subject.ptr, m->subject.len, subject,
                                   sizeof(subject));
        if (n < 0) {
            return;
        }
    } else {
        forward(s, is->to, m, m->subject.ptr, m->subject.len, m->reply.ptr, m->reply.len, depth);
        return;
    }
    forward(s, is->to, m, subject, (size_t)n, m->reply.ptr, m->reply.len, depth);
}

static void on_service_import(struct mr_server *s, struct mr_isub *is, const struct mr_msg *m,
                              uint32_t depth)
{
    const struct mr_import_opts *imp = is->imp;
    char subject[MR_CONTROL_LINE_MAX];
    const char *subj = m->subject.ptr;
    size_t subj_len = m->subject.len;
    if (imp->to != NULL && strcmp(imp->to, imp->subject) != 0) {
        int n = mr_account_map_subject(imp->to, imp->subject, m->subject.ptr, m->subject.len,
                                       subject, sizeof(subject));
        if (n < 0) {
            return;
        }
        subj = subject;
        subj_len = (size_t)n;
    }
    const char *reply = map_reply(s, is, m);
    forward(s, is->to, m, subj, subj_len, reply, reply != NULL ? strlen(reply) : 0, depth);
}

static void on_service_reply(struct mr_server *s, struct mr_isub *is, const struct mr_msg *m,
                             uint32_t depth)
{
    char key[MR_CONTROL_LINE_MAX];
    if (m->subject.len >= sizeof(key)) {
        return;
    }
    memcpy(key, m->subject.ptr, m->subject.len);
    key[m->subject.len] = '\0';
    struct response *r = g_hash_table_lookup(s->responses, key);
    if (r == NULL || r->to != is->to) {
        return; /* expired, or answered already (single response) */
    }
    /* Copy before a single-response mapping is dropped. */
    char *reply = g_strdup(r->reply);
    if (r->remaining == 1) {
        g_hash_table_remove(s->responses, r->mapped);
        g_queue_remove(&s->responses_fifo, r);
        response_free(r);
    }
    forward(s, is->to, m, reply, strlen(reply), m->reply.ptr, m->reply.len, depth);
    g_free(reply);
}

void mr_account_on_internal(struct mr_server *s, struct mr_sub *sub, const struct mr_msg *m,
                            uint32_t depth)
{
    mr_assert(sub->flags & MR_SUB_INTERNAL);
    struct mr_isub *is = sub->owner;
    mr_assert(&is->sub == sub);
    if (depth >= MR_IMPORT_DEPTH_MAX) {
        mr_server_log(s, MR_LOG_WARN, "import chain deeper than %d at \"%.*s\": dropped",
                      MR_IMPORT_DEPTH_MAX, (int)m->subject.len, m->subject.ptr);
        return;
    }
    switch (is->kind) {
    case ISUB_STREAM_IMPORT:
        on_stream_import(s, is, m, depth);
        break;
    case ISUB_SERVICE_IMPORT:
        on_service_import(s, is, m, depth);
        break;
    case ISUB_SERVICE_REPLY:
        on_service_reply(s, is, m, depth);
        break;
    case ISUB_HANDLER:
        is->fn(is->fn_ctx, is->from, m);
        break;
    default:
        mr_assert(!"unknown internal subscription kind");
    }
}

void mr_accounts_check(const struct mr_server *s)
{
    size_t n = 0;
    const struct mr_account *last = NULL;
    /* Accounts are made at start only: their name table is checked once. */
    bool lookups = !s->accounts_checked;
    ((struct mr_server *)s)->accounts_checked = true;
    for (const struct mr_account *a = s->accounts_head; a != NULL; a = a->next) {
        mr_assert(!lookups || g_hash_table_lookup(s->accounts_by_name, a->name) == a);
        mr_sublist_check(a->sublist);
        last = a;
        n++;
    }
    mr_assert(last == s->accounts_tail);
    mr_assert(g_hash_table_size(s->accounts_by_name) == n);
    mr_assert(g_hash_table_size(s->responses) == g_queue_get_length(
                                                     (GQueue *)&s->responses_fifo));
    for (const struct mr_isub *is = s->isubs_head; is != NULL; is = is->next) {
        mr_assert(is->sub.owner == is);
        mr_assert(is->from != NULL);
        mr_assert(is->to != NULL);
    }
}
