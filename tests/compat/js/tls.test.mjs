// SPDX-License-Identifier: Apache-2.0
//
// TLS on client connections, with nats-server's flags --tls --tlscert --tlskey
// [--tlscacert --tlsverify]: the INFO line goes out in plaintext and says
// tls_required (and tls_verify), then the client starts TLS; nats.js with
// `tls: { caFile, certFile, keyFile }` connects and pub/sub works over it; a client
// that does not speak TLS, does not trust the server, or (with --tlsverify) shows no
// certificate or one from another CA is refused. Certificates are made at test time
// (lib/certs.mjs).

import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import test, { after, describe } from 'node:test';
import { StringCodec } from 'nats';

import { makeCerts } from '../lib/certs.mjs';
import { collect, ConnPool, connectTo, settle } from '../lib/client.mjs';
import { RawClient } from '../lib/raw.mjs';
import { HOST, serverFixture, withTimeout } from '../lib/server.mjs';

const sc = StringCodec();
const T = { timeout: 30000 };

function tlsArgs(certs, verify) {
    const args = ['--tls', '--tlscert', certs.serverCert, '--tlskey', certs.serverKey];
    if (verify) {
        args.push('--tlscacert', certs.ca, '--tlsverify');
    }
    return args;
}

/**
 * By hand, as a client library does it: connect, read the INFO line in plaintext,
 * then start TLS on the same socket. Resolves to { info, sock } (a TLSSocket).
 */
async function upgradeByHand(port, tlsOpts) {
    const raw = net.connect({ host: HOST, port });
    let buf = Buffer.alloc(0);
    const line = await withTimeout(new Promise((resolve, reject) => {
        raw.on('data', (d) => {
            buf = Buffer.concat([buf, d]);
            const nl = buf.indexOf('\n');
            if (nl >= 0) {
                raw.removeAllListeners('data');
                raw.pause();
                resolve(buf.subarray(0, nl + 1).toString('latin1'));
            }
        });
        raw.once('error', reject);
        raw.once('close', () => reject(new Error('closed before the INFO line')));
    }), 3000, 'the plaintext INFO line');
    assert.equal(buf.length, line.length, 'nothing may follow INFO before the client starts TLS');
    const m = /^INFO\s+(\{.*\})\s*$/s.exec(line);
    assert.ok(m, `first line is not INFO: ${JSON.stringify(line)}`);
    const sock = tls.connect({ socket: raw, servername: 'localhost', ...tlsOpts });
    await withTimeout(new Promise((resolve, reject) => {
        sock.once('secureConnect', resolve);
        sock.once('error', reject);
    }), 5000, 'the TLS handshake');
    return { info: JSON.parse(m[1]), sock };
}

/** Send bytes on a socket and wait (bounded) until `want` shows up in what comes back. */
async function sendAndWait(sock, data, want) {
    let got = '';
    await withTimeout(new Promise((resolve, reject) => {
        sock.on('data', (d) => {
            got += d.toString('latin1');
            if (got.includes(want)) {
                resolve();
            }
        });
        sock.once('error', reject);
        sock.once('close', () => reject(new Error(`closed; got ${JSON.stringify(got)}`)));
        sock.write(data);
    }), 5000, JSON.stringify(want));
    return got;
}

async function pubSubWorks(nc, subject) {
    const sub = nc.subscribe(subject);
    const big = new Uint8Array(512 * 1024).map((_, i) => (i * 7) & 0xff);
    for (let i = 0; i < 200; i++) {
        nc.publish(subject, sc.encode(`m${i}`));
    }
    nc.publish(subject, big);
    await settle([nc], [nc]);
    const msgs = await collect(sub, 201, 10000);
    for (let i = 0; i < 200; i++) {
        assert.equal(sc.decode(msgs[i].data), `m${i}`);
    }
    assert.deepEqual(msgs[200].data, big);
    sub.unsubscribe();
}

async function expectRefused(srv, opts, what) {
    await assert.rejects(withTimeout(connectTo(srv, opts), 10000, `${what} to be refused`),
        (err) => {
            assert.ok(err instanceof Error, `${what}: ${err}`);
            return true;
        });
}

describe('TLS required (--tls --tlscert --tlskey)', () => {
    const certs = makeCerts();
    after(() => certs.remove());
    const srv = serverFixture(tlsArgs(certs, false));

    test('INFO comes in plaintext and says tls_required, not tls_verify', T, async () => {
        const c = await RawClient.open(srv.current.port);
        try {
            assert.equal(c.info.tls_required, true);
            assert.notEqual(c.info.tls_verify, true);
        } finally {
            c.destroy();
        }
    });

    test('TLS starts after INFO on the same socket and carries the protocol', T, async () => {
        const ca = [fs.readFileSync(certs.ca)];
        const { info, sock } = await upgradeByHand(srv.current.port, { ca });
        try {
            assert.equal(info.tls_required, true);
            assert.equal(sock.authorized, true);
            const hello = 'CONNECT {"verbose":false}\r\nPING\r\n';
            const got = await sendAndWait(sock, hello, 'PONG\r\n');
            assert.ok(!got.includes('-ERR'), got);
        } finally {
            sock.destroy();
        }
    });

    test('nats.js with tls.caFile connects; pub/sub works', T, async () => {
        const pool = new ConnPool(srv.current);
        try {
            const nc = await pool.open({ tls: { caFile: certs.ca } });
            assert.equal(nc.info.tls_required, true);
            await pubSubWorks(nc, 'tls.plain');
            const other = await pool.open({ tls: { caFile: certs.ca } });
            const sub = other.subscribe('tls.cross');
            await other.flush();
            nc.publish('tls.cross', sc.encode('across'));
            const [m] = await collect(sub, 1, 5000);
            assert.equal(sc.decode(m.data), 'across');
        } finally {
            await pool.closeAll();
        }
    });

    test('nats.js without tls options fails: it does not trust the server', T, async () => {
        await expectRefused(srv.current, {}, 'a client without the CA');
    });

    test('a plaintext client is disconnected without an answer', T, async () => {
        const c = await RawClient.open(srv.current.port);
        try {
            await c.send('CONNECT {"verbose":false}\r\nPING\r\n');
            assert.ok(await c.waitClose(5000), 'the server kept a plaintext client');
            assert.ok(!c.output().includes('PONG'), `got ${JSON.stringify(c.output())}`);
        } finally {
            c.destroy();
        }
    });
});

describe('TLS with client verification (--tlscacert --tlsverify)', () => {
    const certs = makeCerts();
    after(() => certs.remove());
    const srv = serverFixture(tlsArgs(certs, true));

    test('INFO says tls_required and tls_verify', T, async () => {
        const c = await RawClient.open(srv.current.port);
        try {
            assert.equal(c.info.tls_required, true);
            assert.equal(c.info.tls_verify, true);
        } finally {
            c.destroy();
        }
    });

    test('a client with a certificate from the CA connects; pub/sub works', T, async () => {
        const nc = await connectTo(srv.current, {
            tls: { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey },
        });
        try {
            assert.equal(nc.info.tls_verify, true);
            await pubSubWorks(nc, 'tls.verified');
        } finally {
            await nc.close();
        }
    });

    test('a client without a certificate is refused', T, async () => {
        await expectRefused(srv.current, { tls: { caFile: certs.ca } },
            'a client without a certificate');
    });

    test('a client with a certificate from another CA is refused', T, async () => {
        await expectRefused(srv.current, {
            tls: { caFile: certs.ca, certFile: certs.rogueCert, keyFile: certs.rogueKey },
        }, 'a client with a foreign certificate');
    });

    test('the server still serves verified clients after refusing others', T, async () => {
        const nc = await connectTo(srv.current, {
            tls: { caFile: certs.ca, certFile: certs.clientCert, keyFile: certs.clientKey },
        });
        try {
            const sub = nc.subscribe('tls.after');
            nc.publish('tls.after', sc.encode('still here'));
            const [m] = await collect(sub, 1, 5000);
            assert.equal(sc.decode(m.data), 'still here');
        } finally {
            await nc.close();
        }
    });
});
