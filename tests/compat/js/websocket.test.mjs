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
import { GUID, WsClient } from '../lib/wsclient.mjs';

const T = { timeout: 15000 };
const sc = StringCodec();

// The websocket port is reserved like the client port, and released when the run ends.
const wsPort = await reservePort();
process.on('exit', () => wsPort.release());

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
