/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What simulated JetStream clients (sim_workload.h's JS kinds) need of the JetStream API
 * (reference/jetstream.md): reading a PubAck, a STREAM.INFO and a STREAM.MSG.GET
 * response, and telling a workload payload from corrupt bytes. Pure functions over
 * bytes: no allocation survives a call but the decoded data the caller frees.
 *
 * Payloads: a publisher's payload is "<actor>:<counter>", then, when padded to its
 * size, one space and 'x' bytes (sim_workload.h). Anything else read back from a
 * stream is bytes no publisher sent.
 *
 * Errors: replies that are not the JSON expected give MR_E_INVAL, never a crash; an
 * API error ({"error":{...}}) is a parsed reply with error set.
 */
#ifndef SIM_JSAPI_H
#define SIM_JSAPI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIM_JS_TEXT_MAX 160 /* an error description or a stream name, with the NUL */

struct sim_js_reply {
    bool error;                      /* {"error":{...}}: code and description below */
    int64_t code;                    /* HTTP-like status of an error (404, 503, ...) */
    char description[SIM_JS_TEXT_MAX];
    char stream[SIM_JS_TEXT_MAX];    /* PubAck: the stream */
    uint64_t seq;                    /* PubAck: the sequence; MSG.GET: the message's */
    bool duplicate;                  /* PubAck */
    uint64_t last_seq;               /* STREAM.INFO: state.last_seq */
    uint8_t *data;                   /* MSG.GET: the decoded payload (g_free); or NULL */
    size_t data_len;
};

/* Parses a PubAck ({"stream":S,"seq":N[,"duplicate":true]}) or an API error. */
int sim_js_parse_puback(const uint8_t *buf, size_t len, struct sim_js_reply *out);
/* Parses a STREAM.INFO response (state.last_seq) or an API error. */
int sim_js_parse_info(const uint8_t *buf, size_t len, struct sim_js_reply *out);
/* Parses a STREAM.MSG.GET response (message.seq, message.data in base64) or an API
 * error. The caller frees out->data with g_free. */
int sim_js_parse_msg_get(const uint8_t *buf, size_t len, struct sim_js_reply *out);
void sim_js_reply_clear(struct sim_js_reply *r);

/* Splits a workload payload into its publisher name (copied into pub, pub_len bytes
 * with the NUL) and counter. False when the bytes are not exactly what a publisher
 * sends (a flipped bit, a torn tail, a foreign message). */
bool sim_js_payload_id(const uint8_t *p, size_t len, char *pub, size_t pub_len, uint64_t *seq);

#endif
