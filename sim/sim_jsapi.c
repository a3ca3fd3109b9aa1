/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JetStream API replies as simulated clients read them (sim_jsapi.h), with jansson.
 * Each parser fills a zeroed reply; a reply missing the fields it needs is MR_E_INVAL.
 */
#include "sim/sim_jsapi.h"

#include <glib.h>
#include <jansson.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"

void sim_js_reply_clear(struct sim_js_reply *r)
{
    g_free(r->data);
    memset(r, 0, sizeof(*r));
}

/* Loads buf as a JSON object and fills error fields when it is an API error. */
static json_t *load(const uint8_t *buf, size_t len, struct sim_js_reply *out)
{
    memset(out, 0, sizeof(*out));
    json_t *root = json_loadb((const char *)buf, len, 0, NULL);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return NULL;
    }
    json_t *err = json_object_get(root, "error");
    if (json_is_object(err)) {
        out->error = true;
        out->code = json_integer_value(json_object_get(err, "code"));
        const char *d = json_string_value(json_object_get(err, "description"));
        g_strlcpy(out->description, d != NULL ? d : "", sizeof(out->description));
    }
    return root;
}

static bool get_u64(json_t *o, const char *key, uint64_t *out)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        return false;
    }
    *out = (uint64_t)json_integer_value(v);
    return true;
}

int sim_js_parse_puback(const uint8_t *buf, size_t len, struct sim_js_reply *out)
{
    json_t *root = load(buf, len, out);
    if (root == NULL) {
        return MR_E_INVAL;
    }
    int rc = 0;
    const char *stream = json_string_value(json_object_get(root, "stream"));
    if (!out->error && (stream == NULL || !get_u64(root, "seq", &out->seq))) {
        rc = MR_E_INVAL;
    } else if (!out->error) {
        g_strlcpy(out->stream, stream, sizeof(out->stream));
        out->duplicate = json_is_true(json_object_get(root, "duplicate"));
    }
    json_decref(root);
    return rc;
}

int sim_js_parse_info(const uint8_t *buf, size_t len, struct sim_js_reply *out)
{
    json_t *root = load(buf, len, out);
    if (root == NULL) {
        return MR_E_INVAL;
    }
    int rc = 0;
    json_t *state = json_object_get(root, "state");
    if (!out->error && (!json_is_object(state) || !get_u64(state, "last_seq", &out->last_seq))) {
        rc = MR_E_INVAL;
    }
    json_decref(root);
    return rc;
}

int sim_js_parse_msg_get(const uint8_t *buf, size_t len, struct sim_js_reply *out)
{
    json_t *root = load(buf, len, out);
    if (root == NULL) {
        return MR_E_INVAL;
    }
    int rc = 0;
    json_t *msg = json_object_get(root, "message");
    if (!out->error) {
        const char *data = json_string_value(json_object_get(msg, "data"));
        if (!json_is_object(msg) || !get_u64(msg, "seq", &out->seq)) {
            rc = MR_E_INVAL;
        } else if (data != NULL && data[0] != '\0') {
            gsize n = 0;
            out->data = g_base64_decode(data, &n);
            out->data_len = n;
        }
    }
    json_decref(root);
    if (rc != 0) {
        sim_js_reply_clear(out);
    }
    return rc;
}

bool sim_js_payload_id(const uint8_t *p, size_t len, char *pub, size_t pub_len, uint64_t *seq)
{
    mr_assert(pub_len > 0);
    size_t end = 0;
    while (end < len && p[end] != ' ') {
        end++;
    }
    for (size_t i = end + 1; i < len; i++) {
        if (p[i] != 'x') {
            return false; /* padding is one space, then 'x' bytes only */
        }
    }
    size_t colon = end;
    while (colon > 0 && p[colon - 1] != ':') {
        colon--;
    }
    if (colon <= 1 || colon == end || colon - 1 >= pub_len || end - colon > 19) {
        return false;
    }
    uint64_t v = 0;
    for (size_t i = colon; i < end; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return false;
        }
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    for (size_t i = 0; i + 1 < colon; i++) {
        if (p[i] < 0x21 || p[i] > 0x7e) {
            return false;
        }
    }
    memcpy(pub, p, colon - 1);
    pub[colon - 1] = '\0';
    *seq = v;
    return v > 0;
}
