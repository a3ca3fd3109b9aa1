// SPDX-License-Identifier: Apache-2.0
//
// A raw WebSocket client for the compat tests: the HTTP upgrade (over TLS for wss://),
// masked frames out, frames in, the NATS bytes of the data frames as text. It offers no
// extension unless the caller adds the header; permessage-deflate messages (RSV1) are
// inflated in text(), and sendDeflated() writes one.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';
import zlib from 'node:zlib';

import { HOST, sleep } from './server.mjs';

export const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
// RFC 7692 7.2.1: the sync-flush tail a sender drops and a receiver appends.
const DEFLATE_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

/** A raw WebSocket client: the upgrade, masked frames out, frames in. */
export class WsClient {
    constructor(sock, rest) {
        this.sock = sock;
        this.buf = rest;
        this.frames = [];
        this.closed = false;
        sock.on('data', (d) => {
            this.buf = Buffer.concat([this.buf, d]);
            this.parse();
        });
        sock.on('close', () => {
            this.closed = true;
        });
        this.parse();
    }

    /**
     * Connect to port, send the upgrade with extra headers, read the answer's head.
     * opts: tls (tls.connect options: the upgrade goes inside TLS, wss://), path
     * (default "/"). Returns { head, key, client }.
     */
    static async open(port, headers = {}, opts = {}) {
        const sock = opts.tls
            ? tls.connect({ host: HOST, port, ...opts.tls })
            : net.createConnection({ host: HOST, port });
        await new Promise((resolve, reject) => {
            sock.once(opts.tls ? 'secureConnect' : 'connect', resolve);
            sock.once('error', reject);
        });
        const key = crypto.randomBytes(16).toString('base64');
        const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
        sock.write(`GET ${opts.path || '/'} HTTP/1.1\r\nHost: ${HOST}:${port}\r\n` +
            'Upgrade: websocket\r\n' +
            `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\n` +
            `Sec-WebSocket-Version: 13\r\n${extra}\r\n`);
        let data = Buffer.alloc(0);
        const deadline = Date.now() + 3000;
        while (!data.includes('\r\n\r\n')) {
            if (Date.now() > deadline) {
                throw new Error(`no upgrade answer within 3 s: ${data}`);
            }
            const chunk = await new Promise((resolve) => {
                sock.once('data', resolve);
                setTimeout(() => resolve(null), 200);
            });
            if (chunk) {
                data = Buffer.concat([data, chunk]);
            }
        }
        const end = data.indexOf('\r\n\r\n') + 4;
        const head = data.subarray(0, end).toString();
        return { head, key, client: new WsClient(sock, data.subarray(end)) };
    }

    parse() {
        for (;;) {
            const b = this.buf;
            if (b.length < 2) {
                return;
            }
            let len = b[1] & 0x7f;
            let i = 2;
            if (len === 126) {
                if (b.length < 4) {
                    return;
                }
                len = b.readUInt16BE(2);
                i = 4;
            } else if (len === 127) {
                if (b.length < 10) {
                    return;
                }
                len = Number(b.readBigUInt64BE(2));
                i = 10;
            }
            assert.equal(b[1] & 0x80, 0, 'server frames are not masked');
            if (b.length < i + len) {
                return;
            }
            this.frames.push({ op: b[0] & 0x0f, fin: (b[0] & 0x80) !== 0,
                rsv1: (b[0] & 0x40) !== 0, payload: b.subarray(i, i + len) });
            this.buf = b.subarray(i + len);
        }
    }

    send(op, payload) {
        const p = Buffer.from(payload);
        const mask = crypto.randomBytes(4);
        const masked = Buffer.from(p.map((c, i) => c ^ mask[i % 4]));
        let hdr;
        if (p.length < 126) {
            hdr = Buffer.from([0x80 | op, 0x80 | p.length]);
        } else {
            hdr = Buffer.alloc(4);
            hdr[0] = 0x80 | op;
            hdr[1] = 0x80 | 126;
            hdr.writeUInt16BE(p.length, 2);
        }
        this.sock.write(Buffer.concat([hdr, mask, masked]));
    }

    /** The NATS bytes carried by the data frames so far. */
    text() {
        const out = [];
        let msg = null; // the frames of a compressed message not yet complete
        for (const f of this.frames) {
            if (f.op !== 0 && f.op !== 1 && f.op !== 2) {
                continue;
            }
            if (f.op !== 0) {
                msg = f.rsv1 ? [] : null;
            }
            if (msg === null) {
                out.push(f.payload);
            } else {
                msg.push(f.payload);
                if (f.fin) {
                    out.push(zlib.inflateRawSync(Buffer.concat([...msg, DEFLATE_TAIL]),
                        { finishFlush: zlib.constants.Z_SYNC_FLUSH }));
                    msg = null;
                }
            }
        }
        return Buffer.concat(out).toString();
    }

    /** Whether any data frame came compressed. */
    sawCompressed() {
        return this.frames.some((f) => f.rsv1);
    }

    /** Sends payload as one masked binary frame, deflated (RSV1 set). */
    sendDeflated(payload) {
        const z = zlib.deflateRawSync(Buffer.from(payload),
            { finishFlush: zlib.constants.Z_SYNC_FLUSH });
        const p = z.subarray(z.length - 4).equals(DEFLATE_TAIL) ? z.subarray(0, z.length - 4) : z;
        const mask = crypto.randomBytes(4);
        const masked = Buffer.from(p.map((c, i) => c ^ mask[i % 4]));
        let hdr;
        if (p.length < 126) {
            hdr = Buffer.from([0xC2, 0x80 | p.length]);
        } else {
            hdr = Buffer.alloc(4);
            hdr[0] = 0xC2;
            hdr[1] = 0x80 | 126;
            hdr.writeUInt16BE(p.length, 2);
        }
        this.sock.write(Buffer.concat([hdr, mask, masked]));
    }

    async waitText(needle, ms = 3000) {
        const deadline = Date.now() + ms;
        while (!this.text().includes(needle)) {
            if (Date.now() > deadline) {
                throw new Error(`"${needle.trim()}" not received within ${ms} ms; got: ` +
                    JSON.stringify(this.text()));
            }
            await sleep(20);
        }
    }

    async waitFrame(op, ms = 3000) {
        const deadline = Date.now() + ms;
        for (;;) {
            const f = this.frames.find((x) => x.op === op);
            if (f) {
                return f;
            }
            if (Date.now() > deadline) {
                throw new Error(`no frame with opcode ${op} within ${ms} ms`);
            }
            await sleep(20);
        }
    }

    close() {
        this.sock.destroy();
    }
}
