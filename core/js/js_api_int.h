/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What js_api.c (streams, the FIFO, file jobs) and js_consumer_api.c (the consumer
 * requests, acks, deliveries) share: the server-side structures of JetStream and a few
 * helpers. Not a public interface: only these two files include it.
 */
#ifndef MR_JS_API_INT_H
#define MR_JS_API_INT_H

#include <glib.h>
#include <jansson.h>

#include "core/js/js_consumer.h"
#include "core/js/js_stream.h"
#include "core/server/account.h"
#include "core/server/server_int.h"

/* Work items waiting on the FIFO, and their bytes; past either a publish or request
 * is dropped (logged once per episode), as a slow internal consumer would be in
 * nats-server: the publisher's request then times out. */
#define JS_WORK_MAX 65536
#define JS_WORK_BYTES_MAX (64ULL * 1024 * 1024)
/* File requests of this module in flight (one job runs at a time). */
#define JS_OWN_REQ_LIMIT (UINT64_C(1) << 32)
#define JS_API_PREFIX "$JS.API."

struct js_account;

struct js_ack {
    uint64_t seq;
    char *reply; /* owned */
};

struct js_stream {
    struct mr_js *js;
    struct js_account *ja;
    uint64_t id; /* timers and file request ids */
    struct mr_js_stream *st;
    GPtrArray *isubs; /* one per subject */
    bool opening;     /* file store recovering */
    bool open_failed;
    GQueue acks;      /* struct js_ack waiting for the store's acknowledgement */
    int64_t expiry_due; /* wall time of the armed expiry timer, 0 if none */
    GTree *consumers;   /* name -> struct js_consumer, bytewise order */
    char *qname;        /* the name as a JSON string, for PubAcks; names never change */
};

/* A consumer on the server: the state machine (js_consumer.h) and what ties it to the
 * server (its timer id, its saved state). */
struct js_consumer {
    struct js_stream *js_st;
    uint64_t id; /* timer id (with JS_CONSUMER_TIMER) and lookup key */
    struct mr_js_consumer *c;
    bool write_queued; /* a JOB_WRITE_CONSUMER for it waits: later changes ride along */
    bool flush_armed;  /* its state changed: written when the flush timer fires */
    bool written;      /* consumer.json was written once (with an fsync) */
    bool saved;        /* a durable of a file stream: its state goes to disk */
};

struct js_account {
    struct mr_js *js;
    struct mr_account *acc;
    bool enabled;
    const struct mr_account_jetstream_opts *limits; /* NULL = unlimited */
    GTree *streams; /* name -> struct js_stream, bytewise order */
    struct mr_isub *api_sub;
    struct mr_isub *domain_sub; /* $JS.<domain>.API.>, NULL without a domain */
    struct mr_isub *ack_sub; /* $JS.ACK.> */
    struct mr_isub *fc_sub;  /* $JS.FC.> */
    uint64_t api_total;
    uint64_t api_errors;
};

enum work_kind {
    WORK_API = 1,
    WORK_PUB = 2,
    WORK_ACK = 3, /* an ack on $JS.ACK.> */
    WORK_FC = 4,  /* a flow control reply on $JS.FC.> */
};

struct work {
    enum work_kind kind;
    struct js_account *ja;
    /* These point into the item's own allocation (enqueue), freed with it. */
    char *subject;
    char *reply;      /* NULL = none */
    uint8_t *payload; /* headers then body */
    size_t hdr_len;
    size_t len;
};

/* A file job: a short sequence of file requests (write a configuration, remove a
 * stream's files, recover an account's streams), one job at a time. */
enum job_kind {
    JOB_WRITE = 1,
    JOB_REMOVE = 2,
    JOB_RECOVER = 3,
    JOB_WRITE_CONSUMER = 4, /* a durable's consumer.json, written from its live state */
    JOB_REMOVE_FILES = 5,   /* names: paths removed in order, failures ignored */
};

struct job {
    enum job_kind kind;
    struct js_account *ja;
    char *dir;     /* the stream's directory, or the account's streams directory */
    char *content; /* JOB_WRITE: meta.json bytes */
    int step;
    int64_t fh;
    GPtrArray *names; /* listed names still to visit */
    GString *read;    /* JOB_RECOVER: meta.json bytes read so far */
    uint64_t consumer_id; /* JOB_WRITE_CONSUMER */
    bool sync;            /* JOB_WRITE, JOB_WRITE_CONSUMER: fsync before the rename */
    char *stream;         /* JOB_RECOVER: the stream whose consumers are being read */
    GPtrArray *obs;       /* JOB_RECOVER: its consumer names still to read */
};

struct mr_js {
    struct mr_server *srv;
    const struct mr_jetstream_opts *opts;
    GPtrArray *accounts;  /* struct js_account, in the server's account order */
    GHashTable *by_id;    /* stream id -> struct js_stream; lookup only */
    GHashTable *consumers_by_id; /* consumer id -> struct js_consumer; lookup only */
    uint64_t next_consumer_id;
    char *last_response; /* the JSON answer of the request being served (api_audit) */
    GQueue work;
    uint64_t work_bytes; /* payload and subject bytes on the FIFO */
    bool work_dropping;  /* the FIFO overflowed; logged, quiet until it drains */
    bool kick_armed;
    bool blocked;         /* the head item waits for a store (on_open / on_ready) */
    uint64_t next_stream_id;
    GQueue jobs;          /* struct job; the head runs */
    uint64_t job_req;     /* the head job's request in flight, 0 = none */
    uint64_t next_req;
    uint32_t recovering;  /* JOB_RECOVER jobs not done: work waits */
    uint64_t api_total;
    uint64_t api_errors;
};

/* Timer ids (above the kind bits): consumers have this bit set, their id below it;
 * with JS_CONSUMER_FLUSH too, the timer that writes a durable's state. */
#define JS_CONSUMER_TIMER (UINT64_C(1) << 56)
#define JS_CONSUMER_FLUSH (UINT64_C(1) << 55)
/* A durable's state is written at most this often (nats-server's cadence), without an
 * fsync (unless sync: always): a crash can lose its last acknowledgements, which are
 * then delivered again. Its first write, which makes it exist, is synced. */
#define JS_CONSUMER_FLUSH_NS (100ULL * 1000000ULL)

/* A request subject taken apart (js_api.c parses, both files serve). */
struct api_req {
    int op;             /* enum api_op of js_api.c */
    char type[64];      /* the response type's stem: "stream_create" */
    const char *extra;  /* fields nats-server adds to this type's errors */
    char *stream;       /* owned; NULL for account-wide requests */
    const char *direct_subject; /* DIRECT.GET.<stream>.<subject>: into the work item */
    const char *rest;   /* CONSUMER.*: the tokens after the operation (into the subject) */
};

/* js_api.c's helpers. */
uint64_t mr_js_api_timer(uint64_t id);
bool mr_js_api_file_streams(const struct mr_js *js);
/* Publishes one message in acc (reply may be NULL). */
void mr_js_api_send(struct mr_js *js, struct mr_account *acc, const char *subject,
                    const char *reply, const uint8_t *hdr, size_t hdr_len, const uint8_t *data,
                    size_t data_len);
/* Sends o (taken) as JSON to reply. */
void mr_js_api_send_json(struct mr_js *js, struct mr_account *acc, const char *reply, json_t *o);
/* {"type":"io.nats.jetstream.api.v1.<type>_response"} (new reference). */
json_t *mr_js_api_response(const char *type);
/* An error answer, counted in the API errors. */
void mr_js_api_send_error(struct mr_js *js, struct js_account *ja, const char *reply,
                          const char *type, const struct mr_js_err *e, const char *extra);
struct js_stream *mr_js_api_stream_find(struct js_account *ja, const char *name);
/* Publishes an advisory on subject when someone listens: {"type":
 * "io.nats.jetstream.advisory.v1.<type>" (or type itself when it starts with "io."),
 * "id","timestamp", fields (taken)..., "domain"}. */
void mr_js_api_advise(struct mr_js *js, struct js_account *ja, const char *subject,
                      const char *type, json_t *fields);
/* A file job (dir and content are taken), then queued: it runs when those before it
 * are done, and is freed when it ends. */
struct job *mr_js_api_job_new(enum job_kind kind, struct js_account *ja, char *dir,
                              char *content);
void mr_js_api_job_queue(struct mr_js *js, struct job *j);

/* js_consumer_api.c. */
/* A CONSUMER.* request (r->type says which). */
void mr_js_api_consumer_request(struct mr_js *js, struct js_account *ja, const struct work *w,
                                const struct api_req *r);
/* Work items of kind WORK_ACK and WORK_FC. */
void mr_js_api_consumer_ack(struct mr_js *js, struct js_account *ja, const struct work *w);
/* Messages may be available on the stream: its consumers deliver. */
void mr_js_api_consumers_pump(struct js_stream *js_st);
/* Frees a stream's consumers (the stream goes); with files, their files go too. */
void mr_js_api_consumers_free(struct js_stream *js_st, bool remove_files);
/* The stream was purged: consumers move past what went. */
void mr_js_api_consumers_purged(struct js_stream *js_st);
/* A consumer's timer fired (id without JS_CONSUMER_TIMER). */
void mr_js_api_consumer_on_timer(struct mr_js *js, uint64_t id);
/* The consumers of the account (INFO, /jsz). */
uint64_t mr_js_api_consumer_count(struct js_account *ja);
/* A stored consumer.json (bytes) of stream js_st, read at recovery. */
void mr_js_api_consumer_recover(struct js_stream *js_st, const char *name, const char *buf,
                                size_t len);
/* The content of a JOB_WRITE_CONSUMER, built when the job starts; NULL when the
 * consumer is gone. The job's dir is set to the consumer's directory. */
char *mr_js_api_consumer_snapshot(struct mr_js *js, struct job *j);
/* Retention: after a publish, an interest stream drops a message nobody wants. */
void mr_js_api_retention_on_publish(struct js_stream *js_st, uint64_t seq, const char *subject);
void mr_js_api_consumers_check(const struct mr_js *js);

#endif
