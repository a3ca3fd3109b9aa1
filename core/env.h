/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The environment: everything the core needs from the world. The core never calls the
 * OS; it acts through these functions and learns about the world through the
 * mr_server_on_* inputs (server.h). Two drivers implement it: the real env
 * (core/realenv/, epoll and POSIX) and the sim env (sim/, virtual time).
 *
 * Rules every env keeps:
 *  - No completion is delivered inside the call that requested it; it arrives as a
 *    later input, so the core never re-enters itself.
 *  - Output is pulled, not pushed: the core keeps each connection's pending bytes and
 *    calls stream_want_write(); at the end of its turn the env asks the core for those
 *    bytes (mr_server_out_peek) and reports how many it wrote (mr_server_out_consume).
 *    One copy per message per subscriber, and one write syscall per connection per
 *    loop turn however many messages were queued.
 *  - Ids are chosen by their owner: connection ids by the env (accepted or
 *    connected), timer ids by the core. Ids are never reused within a run.
 */
#ifndef MR_ENV_H
#define MR_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mr_log_level {
    MR_LOG_ERROR = 0, /* data at risk */
    MR_LOG_WARN = 1,  /* peer misbehaviour, limit hit */
    MR_LOG_INFO = 2,  /* lifecycle */
    MR_LOG_DEBUG = 3,
    MR_LOG_TRACE = 4, /* protocol traffic */
};

/* Flags for file_open. */
enum mr_file_flags {
    MR_FILE_READ = 1,
    MR_FILE_WRITE = 2,
    MR_FILE_CREATE = 4,
    MR_FILE_TRUNCATE = 8,
};

/* TLS settings for a listener or an outbound connection (config.md section 8). The
 * real env loads the files; the sim env passes bytes through unencrypted. */
struct mr_tls_opts {
    bool enabled;
    char cert_file[1024];
    char key_file[1024];
    char ca_file[1024];
    bool verify;         /* require and verify client certificates */
    bool verify_and_map; /* also map the certificate to a user (not supported yet) */
    bool insecure;       /* outbound: skip verification */
    bool handshake_first;
    uint64_t timeout_ns; /* handshake bound; 0 = 2 s */
};

struct mr_env {
    void *ctx; /* the driver's; passed back as the first argument of every call */

    /* Monotonic nanoseconds; the only clock the core reads for timing. */
    uint64_t (*now_ns)(void *ctx);
    /* Wall-clock nanoseconds since the Unix epoch; only for stored or shown
     * timestamps (message times, /varz "now"), never for timing. */
    int64_t (*wall_ns)(void *ctx);
    /* Fills out with random bytes (seeded in the simulator). */
    void (*random)(void *ctx, uint8_t *out, size_t len);
    /* Logs one line. The env stamps time and node. */
    void (*log)(void *ctx, enum mr_log_level level, const char *module, const char *msg);
    /* Facts about the process, for /varz: resident memory in bytes, CPU use in tenths
     * of a percent of one core (since the previous call, 1000 = one core busy), and
     * the cores it may run on. Synchronous; may be NULL (reads as zeros). */
    void (*process_usage)(void *ctx, uint64_t *rss_bytes, uint32_t *cpu_permille,
                          uint32_t *cores);

    /* Arms timer_id to fire once at deadline_ns (monotonic); re-arming replaces the
     * previous deadline. Fires as mr_server_on_timer(). Timers with equal deadlines
     * fire in arming order. Returns 0 or MR_E_NOMEM. */
    int (*timer_arm)(void *ctx, uint64_t timer_id, uint64_t deadline_ns);
    /* Disarms; unknown or already-fired ids are ignored. */
    void (*timer_cancel)(void *ctx, uint64_t timer_id);

    /* Starts listening on host:port (port 0 = any; the chosen port is written to
     * *bound_port). Accepted connections arrive as mr_server_on_accept() tagged with
     * listener_id. Returns 0, MR_E_ADDR_IN_USE or MR_E_ADDR. */
    int (*listen)(void *ctx, uint64_t listener_id, const char *host, uint16_t port,
                  uint16_t *bound_port);
    /* Stops listening; already accepted connections stay. */
    void (*unlisten)(void *ctx, uint64_t listener_id);
    /* Opens an outbound stream to host:port; the env picks and returns the connection
     * id in *conn_id. The result arrives as mr_server_on_connected(). Returns 0 or an
     * error if the request could not even be queued. */
    int (*connect)(void *ctx, const char *host, uint16_t port, uint64_t *conn_id);
    /* The connection has pending output (see the pull rule above). Idempotent. */
    void (*stream_want_write)(void *ctx, uint64_t conn_id);
    /* Flushes what the connection still has pending (bounded, best effort) and closes
     * it. mr_server_on_closed() follows as a later input; after it the id is dead. */
    void (*stream_close)(void *ctx, uint64_t conn_id);
    /* Stops (0) or resumes (1) reading from a connection: back-pressure. */
    void (*stream_read_enable)(void *ctx, uint64_t conn_id, int enable);

    /* Prepares a TLS context under tls_id from opts (loads certificate, key, CA).
     * Synchronous, at configuration time. Returns 0, or MR_E_INVAL with a message
     * naming the file and the reason in errmsg. */
    int (*tls_configure)(void *ctx, uint64_t tls_id, const struct mr_tls_opts *opts,
                         char *errmsg, size_t errmsg_len);
    /* Once the bytes already pending on conn_id have gone out in plaintext (the INFO
     * line, in nats-server's order), starts a server-side TLS handshake with context
     * tls_id. From then on on_bytes carries decrypted bytes and output is encrypted.
     * The outcome arrives as on_tls(); on failure the env closes the stream
     * (on_closed follows). */
    void (*stream_start_tls)(void *ctx, uint64_t conn_id, uint64_t tls_id);
    /* The client side, for outbound streams (routes): once the bytes pending on conn_id
     * have gone out, starts a TLS handshake as a client with context tls_id, presenting
     * its certificate when it has one, verifying the server's certificate against its CA
     * (unless insecure) and, when server_name is not NULL, that the certificate names it
     * (also sent as SNI). Outcome as for stream_start_tls: on_tls, then on failure the
     * env closes the stream. A context from tls_configure serves both sides. */
    void (*stream_start_tls_client)(void *ctx, uint64_t conn_id, uint64_t tls_id,
                                    const char *server_name);

    /* Files, named by paths relative to the server's store directory. Every call
     * completes later with mr_server_on_file_done(req_id, result, data, len): result
     * is a count (bytes read or written, a file handle) or a negative mr_err. Paths and
     * file_write's buf are only borrowed during the call (the env writes or copies
     * them before returning), so the caller may reuse or free them at once. */
    void (*file_open)(void *ctx, uint64_t req_id, const char *path, int flags);
    void (*file_write)(void *ctx, uint64_t req_id, int64_t file, uint64_t offset,
                       const uint8_t *buf, size_t len);
    void (*file_read)(void *ctx, uint64_t req_id, int64_t file, uint64_t offset, size_t len);
    void (*file_sync)(void *ctx, uint64_t req_id, int64_t file);
    void (*file_close)(void *ctx, uint64_t req_id, int64_t file);
    void (*file_rename)(void *ctx, uint64_t req_id, const char *from, const char *to);
    void (*file_remove)(void *ctx, uint64_t req_id, const char *path);
    /* Lists a directory; data is the names, each ended by '\0', sorted bytewise. */
    void (*file_list)(void *ctx, uint64_t req_id, const char *dir);
};

/* An iovec that does not need <sys/uio.h> in the core. */
struct mr_iov {
    const uint8_t *base;
    size_t len;
};

/*
 * The inputs an env delivers, and the pull side of output. The server provides one
 * (mr_server_sink()); tests and simulated clients may provide their own. conn ids and
 * host strings are only valid during the call.
 */
struct mr_env_sink {
    void *ctx;
    void (*on_accept)(void *ctx, uint64_t listener_id, uint64_t conn_id, const char *peer_host,
                      uint16_t peer_port);
    /* status 0: the stream is up; negative mr_err: it failed and the id is dead. */
    void (*on_connected)(void *ctx, uint64_t conn_id, int status);
    void (*on_bytes)(void *ctx, uint64_t conn_id, const uint8_t *buf, size_t len);
    /* The peer closed, the stream broke, or a requested close finished. */
    void (*on_closed)(void *ctx, uint64_t conn_id);
    void (*on_timer)(void *ctx, uint64_t timer_id);
    /* The TLS handshake started by stream_start_tls finished: status 0 or a negative
     * mr_err; peer_subject is the verified client certificate's subject or NULL. */
    void (*on_tls)(void *ctx, uint64_t conn_id, int status, const char *peer_subject);
    void (*on_file_done)(void *ctx, uint64_t req_id, int64_t result, const uint8_t *data,
                         size_t len);
    /* Fills up to iov_max views of the connection's pending output, oldest first, and
     * returns how many; the views stay valid until out_consume or the next input. */
    size_t (*out_peek)(void *ctx, uint64_t conn_id, struct mr_iov *iov, size_t iov_max);
    /* n bytes from the front of the pending output were written. */
    void (*out_consume)(void *ctx, uint64_t conn_id, size_t n);
};

#endif
