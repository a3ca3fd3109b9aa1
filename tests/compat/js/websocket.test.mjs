// SPDX-License-Identifier: Apache-2.0
//
// Clients over WebSocket (websocket { port, no_tls: true }), spoken raw: the HTTP
// upgrade, then the NATS protocol in masked binary frames from the client and unmasked
// frames from the server. Checked against nats-server 2.9.10 first: the 101 answer and
// its Sec-WebSocket-Accept, INFO as the first frame, pub/sub among WebSocket and TCP
// clients, ping and close frames, and the 400 answer to a bad upgrade.

import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import net from 'node:net';
import test, { describe } from 'node:test';
import { StringCodec } from 'nats';

import { collect, connectTo } from '../lib/client.mjs';
import { HOST, reservePort, serverFixture, sleep } from '../lib/server.mjs';

const T = { timeout: 15000 };
const sc = StringCodec();
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

// The websocket port is reserved like the client port, and released when the run ends.
const wsPort = await reservePort();
process.on('exit', () => wsPort.release());

/** A raw WebSocket client: the upgrade, masked frames out, frames in. */
class WsClient {
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

    static async open(port, headers = {}) {
        const sock = net.createConnection({ host: HOST, port });
        await new Promise((resolve, reject) => {
            sock.once('connect', resolve);
            sock.once('error', reject);
        });
        const key = crypto.randomBytes(16).toString('base64');
        const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
        sock.write(`GET / HTTP/1.1\r\nHost: ${HOST}:${port}\r\nUpgrade: websocket\r\n` +
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
                payload: b.subarray(i, i + len) });
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
        return Buffer.concat(this.frames.filter((f) => f.op === 1 || f.op === 2 || f.op === 0)
            .map((f) => f.payload)).toString();
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

describe('clients over WebSocket', () => {
    const srv = serverFixture([], {
        config: `websocket { listen: "${HOST}:${wsPort.port}", no_tls: true }\n`,
    });

    test('upgrade: 101 with the right Sec-WebSocket-Accept, then INFO in a frame', T, async () => {
        const { head, key, client } = await WsClient.open(wsPort.port);
        try {
            assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
            const accept = crypto.createHash('sha1').update(key + GUID).digest('base64');
            const line = head.split('\r\n').find((l) => /^sec-websocket-accept:/i.test(l));
            assert.equal(line?.split(':')[1].trim(), accept);
            await client.waitText('INFO {');
            const info = JSON.parse(client.text().split('\r\n')[0].slice(5));
            assert.equal(typeof info.server_id, 'string');
        } finally {
            client.close();
        }
    });

    test('pub/sub between a WebSocket client and a TCP client, both ways', T, async () => {
        const { client: ws } = await WsClient.open(wsPort.port);
        const nc = await connectTo(srv.current);
        try {
            await ws.waitText('INFO {');
            ws.send(2, 'CONNECT {"verbose":false,"pedantic":false,"protocol":1}\r\n' +
                'SUB to.ws 1\r\nPING\r\n');
            await ws.waitText('PONG\r\n');
            nc.publish('to.ws', sc.encode('hello ws'));
            await ws.waitText('MSG to.ws 1 8\r\nhello ws\r\n');
            const sub = nc.subscribe('to.tcp');
            await nc.flush();
            // A PUB split over two frames, as the WebSocket layer may cut it anywhere.
            ws.send(2, 'PUB to.tcp 9\r\nhel');
            ws.send(2, 'lo tcp\r\n');
            const got = await collect(sub, 1, 3000, 'the WebSocket client\'s message');
            assert.equal(sc.decode(got[0].data), 'hello tcp');
        } finally {
            ws.close();
            await nc.close();
        }
    });

    test('a ping frame gets a pong frame with the same payload', T, async () => {
        const { client: ws } = await WsClient.open(wsPort.port);
        try {
            await ws.waitText('INFO {');
            ws.send(9, 'abc');
            const pong = await ws.waitFrame(10);
            assert.equal(pong.payload.toString(), 'abc');
        } finally {
            ws.close();
        }
    });

    test('a close frame is answered with a close frame, then the connection ends', T, async () => {
        const { client: ws } = await WsClient.open(wsPort.port);
        await ws.waitText('INFO {');
        const code = Buffer.alloc(2);
        code.writeUInt16BE(1000);
        ws.send(8, code);
        const close = await ws.waitFrame(8);
        assert.equal(close.payload.readUInt16BE(0), 1000);
        const deadline = Date.now() + 3000;
        while (!ws.closed && Date.now() < deadline) {
            await sleep(20);
        }
        assert.ok(ws.closed, 'the server closes after the close handshake');
    });

    test('an upgrade without a key gets 400 and is closed', T, async () => {
        const sock = net.createConnection({ host: HOST, port: wsPort.port });
        let data = '';
        sock.on('data', (d) => {
            data += d;
        });
        const closed = new Promise((resolve) => sock.on('close', resolve));
        sock.write(`GET / HTTP/1.1\r\nHost: ${HOST}\r\nUpgrade: websocket\r\n` +
            'Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n');
        await Promise.race([closed, sleep(3000)]);
        sock.destroy();
        assert.match(data, /^HTTP\/1\.1 400 /);
    });
});

const wsPort2 = await reservePort();
process.on('exit', () => wsPort2.release());

describe('allowed_origins', () => {
    serverFixture([], {
        config: `websocket { listen: "${HOST}:${wsPort2.port}", no_tls: true, ` +
            'allowed_origins: ["https://app.example.com"] }\n',
    });

    test('a listed origin is accepted, another gets 403, none is a non-browser', T, async () => {
        const ok = await WsClient.open(wsPort2.port, { Origin: 'https://app.example.com' });
        ok.client.close();
        assert.match(ok.head, /^HTTP\/1\.1 101 /);
        const bad = await WsClient.open(wsPort2.port, { Origin: 'https://evil.example.com' });
        bad.client.close();
        assert.match(bad.head, /^HTTP\/1\.1 403 /);
        const none = await WsClient.open(wsPort2.port);
        none.client.close();
        assert.match(none.head, /^HTTP\/1\.1 101 /);
    });
});
