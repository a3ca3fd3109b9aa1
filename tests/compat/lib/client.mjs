// SPDX-License-Identifier: Apache-2.0
//
// nats.js helpers shared by the compat tests: connect without reconnect (a
// lost connection must fail the test, not be papered over), close every
// connection a test opened, and wait for message counts with bounded waits.

import { connect } from 'nats';
import { withTimeout } from './server.mjs';

export const CONNECT_TIMEOUT_MS = 3000;

/** Connect to a ServerProcess with nats.js; no reconnects. */
export function connectTo(srv, opts = {}) {
    return connect({
        servers: srv.hostport,
        reconnect: false,
        timeout: CONNECT_TIMEOUT_MS,
        ...opts,
    });
}

/**
 * Keeps track of connections opened in a test so they can all be closed at the
 * end, passed or failed: `const pool = new ConnPool(srv); const nc = await pool.open();`
 * ... `await pool.closeAll()` (in finally or t.after).
 */
export class ConnPool {
    constructor(srv) {
        this.srv = srv;
        this.conns = [];
    }

    async open(opts = {}) {
        const nc = await connectTo(this.srv, opts);
        this.conns.push(nc);
        return nc;
    }

    async closeAll() {
        const all = this.conns.splice(0);
        await Promise.allSettled(
            all.map((nc) => (nc.isClosed() ? Promise.resolve() : withTimeout(nc.close(), 3000, 'close'))),
        );
    }
}

/**
 * Make sure everything published so far on the `publishers` has been delivered
 * to the `subscribers`: a PING/PONG on each publisher means the server processed
 * its PUBs; then a PING/PONG on each subscriber means every MSG the server queued
 * for it before the PONG has been read and dispatched by the client.
 */
export async function settle(publishers, subscribers) {
    for (const nc of publishers) {
        await withTimeout(nc.flush(), 5000, 'publisher flush');
    }
    for (const nc of subscribers) {
        await withTimeout(nc.flush(), 5000, 'subscriber flush');
    }
}

/** Wait (bounded) until pred() is true, polling every 10 ms. */
export async function waitFor(pred, ms, what) {
    const deadline = Date.now() + ms;
    while (!pred()) {
        if (Date.now() > deadline) {
            throw new Error(`timed out after ${ms} ms waiting for ${what}`);
        }
        await new Promise((r) => setTimeout(r, 10));
    }
}

/** Collect the first n messages of a subscription (async iterator), bounded in time. */
export async function collect(sub, n, ms, what = `${n} messages`) {
    const msgs = [];
    if (n === 0) {
        return msgs;
    }
    await withTimeout(
        (async () => {
            for await (const m of sub) {
                msgs.push(m);
                if (msgs.length >= n) {
                    break;
                }
            }
        })(),
        ms,
        `${what} (got ${msgs.length})`,
    );
    return msgs;
}
