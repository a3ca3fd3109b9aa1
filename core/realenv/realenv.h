/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The real env: struct mr_env (core/env.h) over epoll, non-blocking TCP sockets,
 * POSIX files, OpenSSL's TLS and the system clocks. It is the only code in core/ that
 * calls the OS.
 *
 * One loop turn (mr_realenv_run_once) is, in order: wait in epoll_wait (not at all
 * when work is queued; otherwise until the earliest timer, TLS handshake deadline or
 * the caller's bound), accept and read what is ready (on_accept, on_connected,
 * on_bytes), step TLS handshakes, take the file worker's finished requests, read TLS
 * connections whose decrypted bytes OpenSSL still holds, close handshakes past their
 * deadline, fire the timers that are due (on_timer), deliver the completions queued
 * earlier (on_closed, on_connected failures, on_tls, on_file_done), then flush every
 * connection marked by stream_want_write with one sendmsg over the sink's out_peek
 * views (SSL_write for TLS), and finish the stream_close requests. Nothing is ever
 * delivered inside the env call that caused it: an input always comes from the loop.
 *
 * Invariants: connection ids come from a counter and are never reused in a run; each
 * connection gets exactly one on_closed (or, for a failed connect, one on_connected
 * with an error instead); timers with equal deadlines fire in arming order.
 *
 * Stream details beyond env.h: a peer's EOF is handled like stream_close (pending
 * output is still flushed, best effort, as nats-server does for a client that
 * half-closes), a reset or error closes at once; stream_close before an outbound
 * connect completes yields on_closed and no on_connected; calls naming a dead id are
 * ignored. Host names are resolved with a blocking getaddrinfo.
 *
 * TLS (OpenSSL 3): tls_configure builds one SSL_CTX per tls id that serves both roles
 * (TLS 1.2 or later; a CA file; verify requires a client certificate that chains to it).
 * cert_file and key_file go together; with neither the context has no certificate and
 * serves client handshakes only. After stream_start_tls (server) or
 * stream_start_tls_client (client) the connection stops reading; the bytes pending at
 * the end of that turn (the INFO line) go out in plaintext, then a non-blocking
 * handshake runs on the epoll loop, bounded by the context's timeout (default 2 s).
 * Output queued meanwhile waits for the handshake. on_tls(0, subject) is delivered from
 * the completion queue before any decrypted on_bytes; the subject is the verified peer
 * certificate's, in RFC 2253 form ("CN=client,O=Acme"), or NULL when none was asked for
 * or (insecure client) none was verified. A failed or timed-out handshake gives
 * on_tls(MR_E_IO, MR_E_CLOSED or MR_E_TIMEOUT) and then on_closed, and logs an error
 * line "host:port - TLS handshake error: reason" ("TLS client handshake error" for the
 * client side) with OpenSSL's reason, and for a refused certificate the verifier's
 * ("certificate verify failed: hostname mismatch"). stream_close before on_tls was
 * delivered gives on_closed only. Afterwards reads are SSL_read and flushes SSL_write
 * (coalesced into records of up to MR_REALENV_TLS_WRITE_BYTES); close sends
 * close_notify, best effort. tls_configure again under the same id replaces the context
 * for later handshakes; with enabled false it drops it; beyond MR_REALENV_TLS_CTX_MAX ids
 * it returns MR_E_LIMIT. Starting TLS with an unconfigured id, or a server handshake with
 * a context without certificate, fails like a handshake (on_tls(MR_E_INVAL), on_closed);
 * on a closing stream, or an outbound one before its on_connected, the call is ignored.
 * Starting TLS inside on_bytes stops that read: later bytes are the handshake's.
 *
 * The client side presents the context's certificate when it has one and the server
 * asks; verifies the server's chain against ca_file (or the system's roots without one)
 * unless insecure; and, given a server_name, checks it: an IP literal against the
 * certificate's IP SANs, a host name against its DNS SANs (as Go: wildcards only as a
 * whole leftmost label, never the CN) and sent as SNI. insecure skips chain and name
 * checks (SNI is still sent). In TLS 1.3 a server that refuses the client's certificate
 * does so after the client has finished: the client then sees on_tls(0) and, at its
 * next read, the alert closes the stream (on_closed, no bytes), as Go's client does.
 *
 * fsyncs run off the loop: file_sync and file_rename (and calls queued behind them) go
 * to one I/O worker thread (fileio.h), started with the first of them, so an fsync
 * stalls only the file requests behind it, not the clients. The worker's completions
 * wake epoll through an eventfd and join the completion queue in request order; they
 * are delivered on the loop's thread like every other input.
 *
 * Ownership: the realenv owns its sockets, files, timers, the file worker and queued
 * completions, and frees them all in mr_realenv_destroy. It borrows the sink, which
 * must outlive it or be replaced. Every function must be called from the loop's thread
 * (the worker is internal).
 */
#ifndef MR_REALENV_H
#define MR_REALENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/env.h"

/* Bytes read from a socket per read call; one shared buffer handed to on_bytes. */
#define MR_REALENV_READ_BYTES (256 * 1024)
/* Reads per connection per turn while the buffer keeps coming back full. More waits
 * for the next turn, so one fast publisher cannot starve the other connections. */
#define MR_REALENV_READS_PER_TURN 4
/* epoll events taken per epoll_wait; the rest are reported by the next wait. */
#define MR_REALENV_EVENTS_MAX 1024
/* Connections accepted per listener per turn; the rest wait in the backlog. */
#define MR_REALENV_ACCEPTS_PER_TURN 1024
/* listen(2) backlog; the kernel caps it at net.core.somaxconn. */
#define MR_REALENV_BACKLOG 4096
/* How long a listener pauses after accept fails for lack of descriptors (EMFILE). */
#define MR_REALENV_ACCEPT_PAUSE_NS (100ULL * 1000 * 1000)
/* sendmsg calls a stream_close spends flushing before it closes anyway. */
#define MR_REALENV_CLOSE_WRITES_MAX 16
/* Reads that a close spends discarding unread input, so close(2) sends FIN, not RST,
 * and the peer does not lose the last bytes we wrote (an -ERR before a close). */
#define MR_REALENV_CLOSE_DRAINS_MAX 4
/* Largest file_read; more is refused with MR_E_LIMIT. */
#define MR_REALENV_FILE_READ_MAX (256 * 1024 * 1024)
/* Log lines longer than this are written in pieces (never truncated). */
#define MR_REALENV_LOG_HEAD_MAX 128
/* Bytes one SSL_write takes: the sink's views are coalesced into one shared scratch
 * buffer of this size (four full TLS records), so small views do not become small
 * records. */
#define MR_REALENV_TLS_WRITE_BYTES (64 * 1024)
/* SSL_write calls per connection per turn; the rest waits for the next turn. */
#define MR_REALENV_TLS_WRITES_PER_TURN 16
/* TLS contexts (tls_configure ids) per realenv; more is refused with MR_E_LIMIT. */
#define MR_REALENV_TLS_CTX_MAX 16
/* Handshake bound when mr_tls_opts.timeout_ns is 0: nats-server's default tls timeout. */
#define MR_REALENV_TLS_TIMEOUT_DEFAULT_NS (2ULL * 1000 * 1000 * 1000)
/* Longest peer certificate subject handed to on_tls; a longer one is cut. */
#define MR_REALENV_TLS_SUBJECT_MAX 1024

struct mr_realenv;

/* Counters for tests and the bench; never reset. */
struct mr_realenv_stats {
    uint64_t turns;
    uint64_t accepts;
    uint64_t reads;       /* read calls that returned bytes */
    uint64_t writes;      /* sendmsg calls that wrote bytes */
    uint64_t write_waits; /* times a connection had to wait for EPOLLOUT */
    uint64_t timers_fired;
    uint64_t conns_open; /* connections with an id that is not dead yet */
    uint64_t tls_handshakes; /* TLS handshakes that completed */
    uint64_t tls_failures;   /* TLS handshakes that failed or timed out */
};

/*
 * Creates a real env: an epoll instance, SIGPIPE ignored, RLIMIT_NOFILE raised to its
 * hard limit (so 5000+ connections work). Logging starts at info level to stderr,
 * with timestamps. No sink is set: inputs are dropped until mr_realenv_set_sink.
 * Returns 0 and *out, or MR_E_IO with errmsg filled.
 */
int mr_realenv_create(struct mr_realenv **out, char *errmsg, size_t errmsg_len);
/* Closes every socket and file and frees everything, without delivering inputs. File
 * calls already made still run first (the worker drains its queue, then is joined). */
void mr_realenv_destroy(struct mr_realenv *re);

/* The env to hand to the core; owned by re, valid until mr_realenv_destroy. */
const struct mr_env *mr_realenv_env(struct mr_realenv *re);
/* Sets where inputs go (borrowed; NULL drops them). Usually mr_server_sink(). */
void mr_realenv_set_sink(struct mr_realenv *re, const struct mr_env_sink *sink);

/*
 * Logging, in nats-server's line format: "[pid] 2026/11/26 08:00:00.000000 [INF] msg"
 * in local time. Error, warn and info lines always print; debug lines print when
 * debug is set (-D) and trace lines when trace is set (-V), independently, as in
 * nats-server. The module tag is not printed (nats-server has none).
 */
void mr_realenv_set_log_levels(struct mr_realenv *re, bool debug, bool trace);
/* Timestamps on (default) or off (-T=false: "[pid] [INF] msg"). */
void mr_realenv_set_log_time(struct mr_realenv *re, bool on);
/* Appends log lines to path instead of stderr (created 0640 if missing). Returns 0 or
 * MR_E_IO with errmsg saying why. NULL goes back to stderr. */
int mr_realenv_set_log_file(struct mr_realenv *re, const char *path, char *errmsg,
                            size_t errmsg_len);
/* A fatal line ("[FTL]"), always printed: for the executable's last words. */
void mr_realenv_log_fatal(struct mr_realenv *re, const char *msg);

/*
 * Sets the directory file_* paths are relative to (the store directory). It must
 * exist. Until it is set, every file call completes with MR_E_UNSUPPORTED. Returns 0,
 * MR_E_NOT_FOUND or MR_E_IO (errmsg says why).
 *
 * File calls run one at a time in the order they were made (so a sync covers the writes
 * before it, a rename follows them) and complete in a later turn in that same order.
 * file_sync and file_rename run on the I/O worker, and so does every call made while
 * the worker still has one of ours (not yet delivered); the others run inside the call,
 * as a write to the page cache costs less than a handoff. buf is only borrowed: a
 * queued file_write copies it. Setting the directory is ordered the same way.
 * mr_realenv_destroy lets calls already made finish (their completions are dropped)
 * and joins the worker. Paths must be relative without ".." (else MR_E_INVAL).
 * Beyond env.h: file_open with MR_FILE_CREATE also creates missing parent directories
 * (0750; files 0640); file_remove also removes an empty directory; file_rename syncs
 * the target's directory; file_list's result is the number of names ("" lists the
 * store directory); an unknown file handle completes with MR_E_INVAL; a call made while
 * MR_REALENV_FILE_QUEUE_MAX (core/limits.h) are with the worker and not delivered is
 * not run and completes, in order, with MR_E_LIMIT (file_close always runs).
 */
int mr_realenv_set_file_dir(struct mr_realenv *re, const char *dir, char *errmsg,
                            size_t errmsg_len);

/*
 * Blocks SIGINT and SIGTERM for the process and watches them with a signalfd: when one
 * arrives the running loop stops as if mr_realenv_stop had been called, and
 * mr_realenv_signal reports it. Returns 0 or MR_E_IO.
 */
int mr_realenv_stop_on_signals(struct mr_realenv *re);
/* The last signal caught by the signalfd, 0 if none. */
int mr_realenv_signal(const struct mr_realenv *re);

/*
 * Runs one loop turn (see the file comment), waiting at most max_wait_ns for
 * something to happen. Returns 0, or MR_E_IO if epoll itself failed.
 */
int mr_realenv_run_once(struct mr_realenv *re, uint64_t max_wait_ns);
/* Runs turns until mr_realenv_stop (or a watched signal); clears the stop request on
 * return. Returns 0 or MR_E_IO. */
int mr_realenv_run(struct mr_realenv *re);
/* Asks mr_realenv_run to return after the current turn. Callable from callbacks. */
void mr_realenv_stop(struct mr_realenv *re);

void mr_realenv_stats(const struct mr_realenv *re, struct mr_realenv_stats *out);

/* Asserts the realenv's invariants (timer heap order and index, connection table).
 * O(timers + connections); for tests. */
void mr_realenv_check(const struct mr_realenv *re);

#endif
