// SPDX-License-Identifier: Apache-2.0
//
// Raw NATS client protocol over net.Socket, for byte-exact tests: connect, read
// the INFO line, send bytes (optionally cut into small chunks to exercise the
// server's split-buffer parsing), collect what comes back and whether the
// server closed the connection. Every wait is bounded.
//
// Server-initiated PINGs (the server may probe RTT at any time) are removed from
// the collected output by frame-aware filtering (MSG/HMSG payloads are skipped
// by their sizes, so a payload that contains "PING" is not touched).

import net from 'node:net';

import { HOST, sleep } from './server.mjs';

export const CRLF = '\r\n';

export class RawClient {
    constructor(sock) {
        this.sock = sock;
        this.buf = Buffer.alloc(0); // everything received after the INFO line
        this.infoLine = null;       // the INFO line as received, with its line end
        this.info = null;           // parsed INFO JSON
        this.closed = false;
        this.error = null;
        this.waiters = new Set();
        sock.on('data', (d) => {
            this.buf = Buffer.concat([this.buf, d]);
            this.wake();
        });
        sock.on('close', () => {
            this.closed = true;
            this.wake();
        });
        sock.on('error', (e) => {
            // ECONNRESET counts as closed: the server closed with unread input.
            this.error = e;
        });
    }

    wake() {
        for (const w of [...this.waiters]) {
            w();
        }
    }

    /** Resolve when pred() holds or after ms; returns pred()'s final value. */
    waitUntil(pred, ms) {
        if (pred()) {
            return Promise.resolve(true);
        }
        return new Promise((resolve) => {
            const done = () => {
                if (pred() || Date.now() >= deadline) {
                    clearTimeout(timer);
                    this.waiters.delete(done);
                    resolve(pred());
                }
            };
            const deadline = Date.now() + ms;
            const timer = setTimeout(done, ms);
            this.waiters.add(done);
        });
    }

    /** Connect and read the INFO line (bounded). */
    static async open(port, { infoWaitMs = 3000 } = {}) {
        const sock = net.connect({ host: HOST, port });
        sock.setNoDelay(true);
        const c = new RawClient(sock);
        const ok = await c.waitUntil(() => c.buf.indexOf('\n') >= 0 || c.closed, infoWaitMs);
        const nl = c.buf.indexOf('\n');
        if (!ok || nl < 0) {
            c.destroy();
            throw new Error(`no INFO line within ${infoWaitMs} ms (closed=${c.closed}, ` +
                `error=${c.error?.code}, got ${JSON.stringify(c.buf.toString('latin1'))})`);
        }
        c.infoLine = c.buf.subarray(0, nl + 1).toString('latin1');
        c.buf = c.buf.subarray(nl + 1);
        const m = /^INFO\s+(\{.*\})\s*$/s.exec(c.infoLine);
        if (!m) {
            c.destroy();
            throw new Error(`first line is not INFO: ${JSON.stringify(c.infoLine)}`);
        }
        c.info = JSON.parse(m[1]);
        return c;
    }

    /**
     * Send bytes (string as latin1, or Buffer). chunk > 0 cuts them into pieces of
     * that size, each its own write with a short pause, so the server sees them in
     * separate reads.
     */
    async send(data, { chunk = 0, pauseMs = 2 } = {}) {
        const b = Buffer.isBuffer(data) ? data : Buffer.from(data, 'latin1');
        if (this.closed) {
            return;
        }
        if (!chunk) {
            this.sock.write(b);
            return;
        }
        for (let i = 0; i < b.length && !this.closed; i += chunk) {
            this.sock.write(b.subarray(i, i + chunk));
            await sleep(pauseMs);
        }
    }

    /** Output so far with server PINGs removed, as a latin1 string. */
    output() {
        return filterServerPings(this.buf).toString('latin1');
    }

    /** Wait until the (filtered) output is at least n bytes long, or closed, bounded. */
    waitForBytes(n, ms) {
        return this.waitUntil(() => this.closed || filterServerPings(this.buf).length >= n, ms);
    }

    /** Wait until the output contains `s`, bounded. */
    waitForText(s, ms) {
        return this.waitUntil(() => this.output().includes(s), ms);
    }

    /** Wait for the server to close the connection, bounded; returns whether it did. */
    waitClose(ms) {
        return this.waitUntil(() => this.closed, ms);
    }

    destroy() {
        this.sock.destroy();
    }
}

/**
 * Split server output into frames: control lines (through '\n') and, for
 * MSG/HMSG, the control line plus its payload and CRLF. An incomplete tail is
 * one last frame. Returns Buffers.
 */
export function splitFrames(buf) {
    const frames = [];
    let i = 0;
    while (i < buf.length) {
        const nl = buf.indexOf('\n', i);
        if (nl < 0) {
            frames.push(buf.subarray(i));
            break;
        }
        const line = buf.subarray(i, nl + 1).toString('latin1');
        let end = nl + 1;
        const parts = line.trim().split(/[ \t]+/);
        const op = parts[0].toUpperCase();
        if (op === 'MSG' || op === 'HMSG') {
            const size = Number.parseInt(parts[parts.length - 1], 10);
            if (Number.isInteger(size) && size >= 0) {
                end = Math.min(buf.length, nl + 1 + size + 2);
            }
        }
        frames.push(buf.subarray(i, end));
        i = end;
    }
    return frames;
}

export function filterServerPings(buf) {
    return Buffer.concat(splitFrames(buf).filter((f) => f.toString('latin1') !== 'PING\r\n'));
}

/**
 * One raw exchange: connect, send `send`, and collect the reply.
 * close: whether the server is expected to close. If so, wait (bounded) for the
 * close; otherwise wait for expectLen bytes and then settleMs more, to catch
 * extra output or a late close.
 */
export async function exchange(port, send, { close, expectLen = 0, chunk = 0, closeWaitMs = 3000,
    settleMs = 150, replyWaitMs = 3000 } = {}) {
    const c = await RawClient.open(port);
    try {
        await c.send(send, { chunk });
        if (close) {
            await c.waitClose(closeWaitMs);
        } else {
            await c.waitForBytes(expectLen, replyWaitMs);
            await sleep(settleMs);
        }
        return { out: c.output(), closed: c.closed, info: c.info, infoLine: c.infoLine };
    } finally {
        c.destroy();
    }
}
