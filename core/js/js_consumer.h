/* SPDX-License-Identifier: Apache-2.0 */
/*
 * JetStream consumers on one server: the consumer configuration (nats-server 2.9's
 * ConsumerConfig: decoding, defaults, validation with its error codes, JSON), and a
 * consumer's delivery state over its stream's store: where it is (next stream and
 * delivery sequences), the ack floor, the messages delivered and not yet acknowledged
 * with their redelivery deadlines, the pull requests waiting (pull consumers) or the
 * deliver subject's interest, heartbeats and flow control (push consumers).
 *
 * Deliveries carry nats-server's ack reply subject
 * $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ts>.<pending>;
 * the message is routed on the deliver subject (push) or the request's reply (pull)
 * with reply "<ack reply>@<stored subject>", which the server splits again when it hands
 * the message to a client (as nats-server does), so the client sees the stored subject.
 *
 * No I/O of its own: the owner (js_api.c) feeds it requests, acks and timer firings and
 * gives it a struct mr_js_consumer_io to send messages, check interest and arm the
 * consumer's one timer. Time is the env's monotonic clock for deadlines and its wall
 * clock for the timestamps shown.
 *
 * Ownership: a consumer owns its configuration copy and its state; it borrows the
 * stream (which must outlive it), mem and env.
 */
#ifndef MR_JS_CONSUMER_H
#define MR_JS_CONSUMER_H

#include <glib.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/env.h"
#include "core/js/js_stream.h"

/* nats-server's defaults: ack_wait 30 s, max_ack_pending 1000, max_waiting 512, an
 * ephemeral's inactive_threshold 5 s. */
#define MR_JS_ACK_WAIT_DEFAULT_NS (30ULL * 1000000000ULL)
#define MR_JS_MAX_ACK_PENDING_DEFAULT 1000
#define MR_JS_MAX_WAITING_DEFAULT 512
#define MR_JS_INACTIVE_DEFAULT_NS (5ULL * 1000000000ULL)
/* Backoff steps kept per consumer (nats-server has no limit; more is refused). */
#define MR_JS_BACKOFF_MAX 256
/* Messages one consumer delivers per input; the rest follows on its timer, so one busy
 * consumer cannot starve the server's other work. */
#define MR_JS_DELIVER_BATCH_MAX 256
/* Flow control: the most bytes in flight without a flow control reply (nats-server's
 * JsFlowControlMaxPending); the window starts at 1/16 of it and doubles per reply. */
#define MR_JS_FC_MAX_PENDING (32LL * 1024 * 1024)
/* rate_limit_bps lets one message of the stream's max_msg_size through at once, or of
 * this size when the stream has none (nats-server's default max_payload). */
#define MR_JS_RATE_BURST_DEFAULT (1024 * 1024)
/* How often a push consumer without interest on its deliver subject looks again. */
#define MR_JS_INTEREST_POLL_NS (100ULL * 1000000ULL)

enum mr_js_deliver_policy {
    MR_JS_DELIVER_ALL = 0,
    MR_JS_DELIVER_LAST = 1,
    MR_JS_DELIVER_NEW = 2,
    MR_JS_DELIVER_BY_START_SEQ = 3,
    MR_JS_DELIVER_BY_START_TIME = 4,
    MR_JS_DELIVER_LAST_PER_SUBJECT = 5,
};

enum mr_js_ack_policy {
    MR_JS_ACK_NONE = 0,
    MR_JS_ACK_ALL = 1,
    MR_JS_ACK_EXPLICIT = 2,
};

struct mr_js_consumer_cfg {
    char *durable_name; /* owned, like every string here; NULL = ephemeral */
    char *name;
    char *description;
    enum mr_js_deliver_policy deliver_policy;
    uint64_t opt_start_seq;
    int64_t opt_start_time_ns; /* wall; 0 = not set */
    enum mr_js_ack_policy ack_policy;
    int64_t ack_wait_ns;
    int64_t max_deliver;
    int64_t *backoff_ns;
    size_t backoff_count;
    char *filter_subject;
    int replay_policy; /* 0 instant, 1 original (the stored spacing while catching up) */
    int64_t rate_limit_bps;
    char *sample_freq;
    int64_t max_waiting;
    int64_t max_ack_pending;
    int64_t idle_heartbeat_ns;
    bool flow_control;
    bool headers_only;
    int64_t max_batch;
    int64_t max_expires_ns;
    int64_t max_bytes;
    char *deliver_subject;
    char *deliver_group;
    int64_t inactive_threshold_ns;
    int64_t num_replicas;
    bool mem_storage;
    bool direct;
};

/* Decodes a ConsumerConfig object (borrowed) into cfg (zeroed first). A field of the
 * wrong type is "invalid JSON" (10025). */
bool mr_js_consumer_cfg_from_json(json_t *o, struct mr_js_consumer_cfg *cfg,
                                  struct mr_js_err *err);
/* Fills nats-server's defaults (setConsumerConfigDefaults) and checks cfg against its
 * stream (checkConsumerCfg), single server. */
bool mr_js_consumer_cfg_check(struct mr_js_consumer_cfg *cfg, const struct mr_js_stream_cfg *sc,
                              struct mr_js_err *err);
/* What an update of old to cfg may not change (checkNewConsumerConfig); 10012. */
bool mr_js_consumer_cfg_update_check(const struct mr_js_consumer_cfg *old,
                                     const struct mr_js_consumer_cfg *cfg,
                                     struct mr_js_err *err);
/* The configuration as nats-server 2.9 echoes it, in its field order (new reference). */
json_t *mr_js_consumer_cfg_json(const struct mr_js_consumer_cfg *cfg);
bool mr_js_consumer_cfg_equal(const struct mr_js_consumer_cfg *a,
                              const struct mr_js_consumer_cfg *b);
void mr_js_consumer_cfg_copy(struct mr_js_consumer_cfg *dst, const struct mr_js_consumer_cfg *src);
void mr_js_consumer_cfg_free(struct mr_js_consumer_cfg *cfg);

/* What a consumer asks of its owner. */
struct mr_js_consumer_io {
    void *ctx;
    /* Publishes one message in the stream's account (reply may be NULL). */
    void (*send)(void *ctx, const char *subject, const char *reply, const uint8_t *hdr,
                 size_t hdr_len, const uint8_t *data, size_t data_len);
    /* Whether anyone is subscribed to the literal subject. */
    bool (*interest)(void *ctx, const char *subject);
    /* Arms the consumer's timer for monotonic time deadline_ns (replacing the previous
     * one); 0 cancels it. */
    void (*arm)(void *ctx, uint64_t deadline_ns);
    /* Stream sequence seq is acknowledged, or was delivered without ack policy (interest
     * and workqueue retention act on it). */
    void (*acked)(void *ctx, uint64_t seq);
    /* The persistent state changed (durable consumers of file streams save it). */
    void (*dirty)(void *ctx);
    /* An advisory on $JS.EVENT.ADVISORY.CONSUMER.<kind>.<stream>.<consumer> of type
     * io.nats.jetstream.advisory.v1.<type> with fields (taken). */
    void (*advise)(void *ctx, const char *kind, const char *type, json_t *fields);
    /* A sampled ack metric on $JS.EVENT.METRIC.CONSUMER.ACK.<stream>.<consumer> of type
     * io.nats.jetstream.metric.v1.consumer_ack with fields (taken). */
    void (*metric)(void *ctx, json_t *fields);
};

struct mr_js_consumer;

/* Creates a consumer named name on stream st (stream_name its name) with a checked cfg
 * (copied), starting where the deliver policy says. created_ns is the wall time shown. */
struct mr_js_consumer *mr_js_consumer_create(const struct mr_env *env, struct mr_js_stream *st,
                                             const char *stream_name, const char *name,
                                             const struct mr_js_consumer_cfg *cfg,
                                             int64_t created_ns,
                                             const struct mr_js_consumer_io *io);
void mr_js_consumer_destroy(struct mr_js_consumer *c);
const char *mr_js_consumer_name(const struct mr_js_consumer *c);
const struct mr_js_consumer_cfg *mr_js_consumer_cfg(const struct mr_js_consumer *c);
bool mr_js_consumer_is_durable(const struct mr_js_consumer *c);
/* Applies an update checked with mr_js_consumer_cfg_update_check. */
void mr_js_consumer_update(struct mr_js_consumer *c, const struct mr_js_consumer_cfg *cfg);

/* Inputs. */
/* Messages may be available (a publish, a store read finished): deliver what can go. */
void mr_js_consumer_pump(struct mr_js_consumer *c);
/* The consumer's timer fired. Returns true when the consumer has been inactive past its
 * inactive_threshold: the owner deletes it. */
bool mr_js_consumer_on_timer(struct mr_js_consumer *c);
/* A message published to one of its ack subjects ($JS.ACK.<stream>.<consumer>.…);
 * body is the payload without headers. */
void mr_js_consumer_on_ack(struct mr_js_consumer *c, const char *subject, const char *reply,
                           const uint8_t *body, size_t len);
/* CONSUMER.MSG.NEXT: a pull request answered on reply. */
void mr_js_consumer_on_next(struct mr_js_consumer *c, const char *reply, const uint8_t *body,
                            size_t len);
/* A flow control reply on $JS.FC.<stream>.<consumer>.<id>. */
void mr_js_consumer_on_fc(struct mr_js_consumer *c, const char *subject);
/* The stream is about to delete the consumer: pull requests get 409 Consumer Deleted. */
void mr_js_consumer_on_delete(struct mr_js_consumer *c);
/* The stream was purged, or its store (re)opened: drops pending state below the
 * stream's first sequence, and above its last one when the stream lost its tail. */
void mr_js_consumer_on_purge(struct mr_js_consumer *c);

/* Interest retention: whether this consumer still has to acknowledge seq (on subject). */
bool mr_js_consumer_needs_ack(const struct mr_js_consumer *c, uint64_t seq, const char *subject);
/* Whether the consumer's filter takes subject (no filter takes all). */
bool mr_js_consumer_takes(const struct mr_js_consumer *c, const char *subject, size_t len);

/* ConsumerInfo (new reference). */
json_t *mr_js_consumer_info_json(struct mr_js_consumer *c);
/* Persistence: {"config","created","state"} and back. restore replaces the state of a
 * consumer just created from the same configuration; false on a malformed state. */
json_t *mr_js_consumer_save_json(const struct mr_js_consumer *c);
bool mr_js_consumer_restore(struct mr_js_consumer *c, json_t *state);
int64_t mr_js_consumer_created(const struct mr_js_consumer *c);

/* Asserts the invariants. O(pending). */
void mr_js_consumer_check(const struct mr_js_consumer *c);

#endif
