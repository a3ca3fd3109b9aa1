/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Every queue, buffer, table and loop has a named maximum here; configuration can only
 * lower them. Each says what happens when it is hit.
 */
#ifndef MR_LIMITS_H
#define MR_LIMITS_H

/* Control line (verb + arguments, INFO/CONNECT JSON). Over it: -ERR 'maximum control
 * line exceeded' and close. nats-server's default is 4096. */
#define MR_CONTROL_LINE_DEFAULT 4096
#define MR_CONTROL_LINE_MAX (64 * 1024)

/* Payload (headers + body). Over it: -ERR 'Maximum Payload Violation' and close. */
#define MR_PAYLOAD_DEFAULT (1024 * 1024)
#define MR_PAYLOAD_MAX (64 * 1024 * 1024)

/* Pending outbound bytes per client connection. Over it: closed as a slow consumer. */
#define MR_PENDING_DEFAULT (64 * 1024 * 1024)
#define MR_PENDING_MAX (1024LL * 1024 * 1024)

/* Subject tokens. Deeper subjects are rejected as invalid. The sublist walks the trie
 * with an explicit stack of this many entries. */
#define MR_SUBJECT_TOKENS_MAX 256
/* Subject length in bytes; bounded by the control line anyway. */
#define MR_SUBJECT_LEN_MAX MR_CONTROL_LINE_MAX

/* Match cache entries in the sublist. When full, an entry is evicted. */
#define MR_SUBLIST_CACHE_MAX 1024

/* Operations processed per on_bytes call before the rest waits for the next turn,
 * so one client cannot starve the others. */
#define MR_OPS_PER_READ_MAX 4096

/* Connections per server. Over it: -ERR 'maximum connections exceeded' and close. */
#define MR_CONNECTIONS_DEFAULT (64 * 1024)
#define MR_CONNECTIONS_MAX (1024 * 1024)

/* Subscriptions per connection (0 = unlimited up to this). Over it: -ERR 'maximum
 * subscriptions exceeded', the connection stays. */
#define MR_SUBS_PER_CONN_MAX (1024 * 1024)

/* Outstanding server PINGs before 'Stale Connection'. */
#define MR_PING_MAX_DEFAULT 2

/* Keepalive and deadlines, in nanoseconds. */
#define MR_NS_PER_MS 1000000ULL
#define MR_NS_PER_SEC 1000000000ULL
#define MR_PING_INTERVAL_DEFAULT_NS (120ULL * MR_NS_PER_SEC)
#define MR_WRITE_DEADLINE_DEFAULT_NS (10ULL * MR_NS_PER_SEC)
#define MR_AUTH_TIMEOUT_DEFAULT_NS (2ULL * MR_NS_PER_SEC)
/* The first PING after CONNECT measures RTT, as nats-server does. */
#define MR_FIRST_PING_DELAY_NS (2ULL * MR_NS_PER_SEC)
/* Routes and gateways give up a connect after this (nats-server's DEFAULT_ROUTE_DIAL),
 * rather than wait out the system's SYN retries while a peer is down. */
#define MR_DIAL_TIMEOUT_NS (1ULL * MR_NS_PER_SEC)

/* One outbound buffer chunk; a connection's pending output is a chain of them. */
#define MR_OUTBUF_CHUNK_BYTES (64 * 1024)
/* iovecs handed to the env per peek. */
#define MR_OUT_IOV_MAX 64

/* Server id: 56 characters, as nats-server's public NKEY. */
#define MR_SERVER_ID_LEN 56
#define MR_SERVER_NAME_MAX 256

/* Monitoring HTTP (core/proto/http.h, core/server/monitor.c). A request head (request
 * line, headers, blank line) over MR_HTTP_HEAD_MAX bytes or with more than
 * MR_HTTP_HEADERS_MAX header lines: 431 and close. A body (skipped, never read) over
 * MR_HTTP_BODY_MAX: 413 and close. More than MR_HTTP_PIPELINE_MAX requests in one read
 * (pipelined): the first ones are answered, then the connection is closed. */
#define MR_HTTP_HEAD_MAX (8 * 1024)
#define MR_HTTP_HEADERS_MAX 64
#define MR_HTTP_BODY_MAX (64 * 1024)
#define MR_HTTP_PIPELINE_MAX 16
/* Query parameter values (account names, subjects, sort keys) longer than this: 400. */
#define MR_HTTP_QUERY_VALUE_MAX 1024
/* Recently closed client connections kept for /connz?state=closed (oldest dropped
 * first), and subscriptions remembered per closed connection (the rest are counted
 * but not listed). nats-server keeps 10000 and every subscription. */
#define MR_MONITOR_CLOSED_MAX 1024
#define MR_MONITOR_CLOSED_SUBS_MAX 256

/* JetStream stores (core/js/). A block file is sealed and a new one started once the
 * next record would pass its size (a record bigger than a block gets a block of its
 * own); nats-server's largest block is 8 MiB, its smallest 32 KB; tests go lower. */
#define MR_JS_BLOCK_BYTES_DEFAULT (8 * 1024 * 1024)
#define MR_JS_BLOCK_BYTES_MIN 256
#define MR_JS_BLOCK_BYTES_MAX (8 * 1024 * 1024)
/* Block files per store. Over it: appends fail with MR_E_LIMIT until purges free some. */
#define MR_JS_BLOCKS_MAX (1024 * 1024)
/* Sealed blocks whose bytes stay in memory (the block being written always does); the
 * least recently used is dropped to load another. */
#define MR_JS_BLOCK_CACHE_DEFAULT 4
#define MR_JS_BLOCK_CACHE_MAX 64
/* One file read request; a block is read in chunks of this size. */
#define MR_JS_READ_CHUNK_BYTES (1024 * 1024)
/* One record on disk: header, subject (u16 length), headers and payload, checksum. A
 * length field past it marks the record as damage. */
#define MR_JS_RECORD_BYTES_MAX (MR_PAYLOAD_MAX + 64 * 1024 + 64)
/* File requests one store may have in flight. Over it: appends and deletes fail with
 * MR_E_LIMIT (push back) until completions drain. */
#define MR_JS_STORE_REQS_MAX 8192
/* Request ids a store may use from its base (see mr_js_store_cfg.req_id_base); they
 * wrap within the range, which is far larger than the requests in flight. */
#define MR_JS_STORE_REQ_IDS (1ULL << 32)
/* The real env's file requests handed to its I/O worker and not yet collected by the
 * loop (core/realenv/fileio.c). Over it a request is not run: it completes, in order,
 * with MR_E_LIMIT (a store then fails, logging it), so a disk slower than the writers
 * cannot grow the queue's copied data without end. Eight stores at MR_JS_STORE_REQS_MAX. */
#define MR_REALENV_FILE_QUEUE_MAX (8 * MR_JS_STORE_REQS_MAX)
/* Store directory names (relative to the server's store root). */
#define MR_JS_DIR_MAX 512
/* Background fsync period with sync_interval (nats-server 2.10+ defaults to 2 min;
 * 2.9 used a fixed 60 s). */
#define MR_JS_SYNC_INTERVAL_DEFAULT_NS (120ULL * MR_NS_PER_SEC)
/* Times recovery reads a block again when its bytes scan as damaged: damage counts as
 * real once two reads agree, so a bad read does not cost good data. When no two reads
 * agree, the damaged records are skipped and the block is left as it is. */
#define MR_JS_REREAD_MAX 3

/* Highest stream sequence: appends past it fail with MR_E_LIMIT (far beyond any real
 * stream, it keeps sequence arithmetic clear of overflow). A record beyond it, or one
 * that would leave more than MR_JS_RECOVERY_GAP_MAX missing sequences behind the last
 * known message, is damage to recovery (real gaps only come from lost records, a few
 * per damaged stretch). */
#define MR_JS_SEQ_MAX 0x7fffffffffffffffULL
#define MR_JS_RECOVERY_GAP_MAX (1024 * 1024)

/* Error detail buffers owned by objects. */
#define MR_ERRMSG_MAX 256

_Static_assert(MR_CONTROL_LINE_DEFAULT <= MR_CONTROL_LINE_MAX, "default within max");
_Static_assert(MR_PAYLOAD_DEFAULT <= MR_PAYLOAD_MAX, "default within max");
_Static_assert(MR_PAYLOAD_MAX <= MR_PENDING_DEFAULT, "one maximal message fits pending");
_Static_assert(MR_JS_BLOCK_BYTES_MIN <= MR_JS_BLOCK_BYTES_DEFAULT, "default within range");
_Static_assert(MR_JS_BLOCK_BYTES_DEFAULT <= MR_JS_BLOCK_BYTES_MAX, "default within max");
_Static_assert(MR_JS_BLOCK_CACHE_DEFAULT <= MR_JS_BLOCK_CACHE_MAX, "default within max");
_Static_assert(MR_JS_STORE_REQS_MAX < MR_JS_STORE_REQ_IDS, "ids outnumber requests");
_Static_assert(MR_JS_STORE_REQS_MAX < MR_REALENV_FILE_QUEUE_MAX, "one store never fills it");

#endif
