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

/* Error detail buffers owned by objects. */
#define MR_ERRMSG_MAX 256

_Static_assert(MR_CONTROL_LINE_DEFAULT <= MR_CONTROL_LINE_MAX, "default within max");
_Static_assert(MR_PAYLOAD_DEFAULT <= MR_PAYLOAD_MAX, "default within max");
_Static_assert(MR_PAYLOAD_MAX <= MR_PENDING_DEFAULT, "one maximal message fits pending");

#endif
