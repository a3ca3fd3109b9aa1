// SPDX-License-Identifier: Apache-2.0
//
// Leaf remotes authenticating with a .creds file (user JWT + nkey seed) on a nats-server
// hub in operator mode (NATS_SERVER, default /usr/sbin/nats-server): operator, account
// and user keys and JWTs are made here with @nats-io/jwt, the hub runs with
// `operator: <jwt>`, `resolver: MEMORY` and the account JWT in `resolver_preload`. Each
// case runs once with a nats-server spoke (which validates the setup) and once with the
// spoke under test (MERIDIAN_SERVER):
//   - messages cross both ways, once each and in order, between a spoke client and a
//     hub client authenticated with the same creds, and the hub binds the link to the
//     user's account (/leafz);
//   - a user of an account the hub does not know, and a creds file whose seed does not
//     match its JWT, are refused by the hub: the spoke logs 'Authorization Violation'
//     on every attempt and keeps running;
//   - a remote with `nkey` (or `seed`) is refused at config load, naming the field.
// The spoke under test must also refuse a missing or malformed creds file at start and
// with -t (exit status non-zero, the config position and the file named); nats-server
// 2.9.10 only logs those when it connects, so that case runs for the spoke under test
// alone. Skipped, saying so, when nats-server is not installed.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { after, afterEach, before, describe } from 'node:test';

import {
    createAccount, createOperator, createUser, encodeAccount, encodeOperator, encodeUser,
    fmtCreds,
} from '@nats-io/jwt';
import { credsAuthenticator } from 'nats';

import { connectTo } from '../lib/client.mjs';
import { awaitInterest, getJson } from '../lib/cluster.mjs';
import {
    HOST, isNatsServer, reservePort, serverBin, sleep, startServer, withTimeout,
} from '../lib/server.mjs';

const T = { timeout: 30000 };
const NATS = process.env.NATS_SERVER || '/usr/sbin/nats-server';
const UNDER = serverBin();
const skip = fs.existsSync(NATS) ? false
    : `nats-server not found at ${NATS} (apt-get install nats-server, or set NATS_SERVER)`;
const SPOKES = [
    { title: 'nats-server spoke', bin: NATS },
    { title: 'spoke under test', bin: UNDER },
];
const REFUSED_WAIT_MS = 10000;
const N = 20;
// An account JWT without limits allows no connections: every limit off, as nsc does.
const ACCOUNT_LIMITS = {
    subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1,
    leaf: -1,
};

/** An operator, an account it signs, and a user of that account, with its creds text. */
async function makeIdentity(operator = createOperator()) {
    const akp = createAccount();
    const ukp = createUser();
    return {
        okp: operator,
        akp,
        ukp,
        accountId: akp.getPublicKey(),
        operatorJwt: await encodeOperator('O', operator),
        accountJwt: await encodeAccount('A', akp, { limits: ACCOUNT_LIMITS }, { signer: operator }),
        userJwt: await encodeUser('u', ukp, akp),
    };
}

function credsText(userJwt, ukp) {
    return new TextDecoder().decode(fmtCreds(userJwt, ukp));
}

function hubConfig(id, leafPort) {
    return [
        'server_name: "hub"',
        `operator: "${id.operatorJwt}"`,
        'resolver: MEMORY',
        `resolver_preload: { ${id.accountId}: "${id.accountJwt}" }`,
        `leafnodes { listen: "${HOST}:${leafPort}" }`,
    ].join('\n') + '\n';
}

function spokeConfig(leafPort, remoteLines) {
    return [
        'server_name: "spoke"',
        'leafnodes {',
        '  remotes: [',
        `    { url: "nats://${HOST}:${leafPort}"`,
        ...remoteLines.map((l) => `      ${l}`),
        '    }',
        '  ]',
        '}',
    ].join('\n') + '\n';
}

/** Occurrences of needle in a server's output. */
function countIn(srv, needle) {
    return srv.output.split(needle).length - 1;
}

async function untilCount(srv, needle, want, ms) {
    const deadline = Date.now() + ms;
    while (countIn(srv, needle) < want) {
        if (Date.now() > deadline || srv.exited) {
            throw new Error(`${needle} seen ${countIn(srv, needle)} times (want ${want}) in ` +
                `${ms} ms; spoke ${srv.exited ? 'exited' : 'running'}\n${srv.tail(20)}`);
        }
        await sleep(100);
    }
}

/** Receives every message of subject on nc, as text. */
function gather(nc, subject) {
    const got = [];
    nc.subscribe(subject, { callback: (_, m) => got.push(new TextDecoder().decode(m.data)) });
    return got;
}

async function crossOnce(from, to, subject) {
    const got = gather(to, subject);
    await awaitInterest(from, [to]);
    const want = Array.from({ length: N }, (_, i) => `${subject}:${i}`);
    for (const m of want) {
        from.publish(subject, m);
    }
    await withTimeout(from.flush(), 5000, 'publisher flush');
    const deadline = Date.now() + 5000;
    while (got.length < N && Date.now() < deadline) {
        await sleep(20);
    }
    await sleep(200); // a duplicate would arrive by now
    assert.deepEqual(got, want, `${subject}: every message once, in order`);
}

/** A hub in operator mode for id, with its leafnodes and monitoring ports. */
async function startHub(id) {
    const leaf = await reservePort();
    const http = await reservePort();
    try {
        const srv = await startServer(['-m', String(http.port)],
            { bin: NATS, config: hubConfig(id, leaf.port) });
        return { srv, leafPort: leaf.port, httpPort: http.port, ports: [leaf, http] };
    } catch (e) {
        leaf.release();
        http.release();
        throw e;
    }
}

async function stopHub(hub) {
    if (hub) {
        await hub.srv.stop();
        hub.ports.forEach((p) => p.release());
    }
}

for (const spoke of SPOKES) {
    describe(`leaf credentials: ${spoke.title} -> nats-server hub (operator mode)`, { skip },
        () => {
            const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meridian-creds-'));
            const h = { id: null, hub: null, spoke: null, conns: [] };
            const writeCreds = (name, text) => {
                const file = path.join(dir, name);
                fs.writeFileSync(file, text, { mode: 0o600 });
                return file;
            };
            const startSpoke = (remoteLines) => startServer([], {
                bin: spoke.bin, config: spokeConfig(h.hub.leafPort, remoteLines),
            });
            before(async () => {
                h.id = await makeIdentity();
                h.hub = await startHub(h.id);
            }, T);
            after(async () => {
                await stopHub(h.hub);
                fs.rmSync(dir, { recursive: true, force: true });
            }, T);
            afterEach(async () => {
                await Promise.allSettled(h.conns.splice(0).map((nc) => nc.close()));
                if (h.spoke) {
                    const exited = h.spoke.exited;
                    const tail = h.spoke.tail(10);
                    await h.spoke.stop();
                    h.spoke = null;
                    assert.equal(exited, null, `the spoke exited during the test\n${tail}`);
                }
            }, T);
            const open = async (srv, opts = {}) => {
                const nc = await connectTo(srv, opts);
                h.conns.push(nc);
                return nc;
            };

            test('messages cross both ways in the creds user\'s account', T, async () => {
                const file = writeCreds('good.creds', credsText(h.id.userJwt, h.id.ukp));
                h.spoke = await startSpoke([`credentials: "${file}"`]);
                const auth = credsAuthenticator(fs.readFileSync(file));
                const hubNc = await open(h.hub.srv, { authenticator: auth });
                const spokeNc = await open(h.spoke);
                await crossOnce(spokeNc, hubNc, 'cr.up');
                await crossOnce(hubNc, spokeNc, 'cr.down');
                const leafz = await getJson(h.hub.httpPort, '/leafz');
                assert.equal(leafz.leafnodes, 1);
                assert.equal(leafz.leafs[0].account, h.id.accountId);
            });

            test('a user of an account the hub does not know is refused; the spoke retries', T,
                async () => {
                    const stranger = await makeIdentity(h.id.okp);
                    const file = writeCreds('stranger.creds',
                        credsText(stranger.userJwt, stranger.ukp));
                    h.spoke = await startSpoke([`credentials: "${file}"`]);
                    await untilCount(h.spoke, "'Authorization Violation'", 2, REFUSED_WAIT_MS);
                    assert.equal((await getJson(h.hub.httpPort, '/leafz')).leafnodes, 0);
                });

            test('a creds file whose seed does not sign for its JWT is refused', T, async () => {
                const file = writeCreds('badsig.creds', credsText(h.id.userJwt, createUser()));
                h.spoke = await startSpoke([`credentials: "${file}"`]);
                await untilCount(h.spoke, "'Authorization Violation'", 2, REFUSED_WAIT_MS);
                assert.equal((await getJson(h.hub.httpPort, '/leafz')).leafnodes, 0);
            });

            test('a remote with nkey or seed is refused at config load, naming the field', T,
                () => {
                    const seed = new TextDecoder().decode(h.id.ukp.getSeed());
                    for (const key of ['nkey', 'seed']) {
                        const conf = path.join(dir, `${key}.conf`);
                        fs.writeFileSync(conf, spokeConfig(h.hub.leafPort, [`${key}: "${seed}"`]));
                        const r = spawnSync(spoke.bin, ['-t', '-c', conf],
                            { encoding: 'utf8', timeout: 10000 });
                        assert.notEqual(r.status, 0, `-t accepted ${key}: ${r.stdout}${r.stderr}`);
                        const where = new RegExp(`${key}\\.conf:5:\\d+: .*"${key}"`);
                        assert.match(r.stdout + r.stderr, where);
                    }
                });
        });
}

// nats-server 2.9.10 reads the creds file only when it connects (it logs "Error reading
// LeafNode Remote Credentials file" and retries); Meridian refuses the config up front.
describe('leaf credentials file errors (spoke under test)', {
    skip: isNatsServer(UNDER) ? 'nats-server reads the creds file only when it connects' : false,
}, () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meridian-creds-'));
    let port = null;
    before(async () => {
        port = await reservePort();
    });
    after(() => {
        port?.release();
        fs.rmSync(dir, { recursive: true, force: true });
    });

    const run = (args, conf) => spawnSync(UNDER, [...args, '-c', conf],
        { encoding: 'utf8', timeout: 10000 });
    const check = (conf, text) => {
        for (const args of [['-t'], ['-a', HOST, '-p', String(port.port)]]) {
            const r = run(args, conf);
            assert.notEqual(r.status, 0, `${args.join(' ')} -c ${conf} succeeded`);
            assert.equal(r.signal, null, `${args.join(' ')}: killed by ${r.signal}`);
            assert.ok(r.stderr.includes(text), `${args.join(' ')}: stderr ${r.stderr}`);
        }
    };

    test('a missing creds file fails the start naming the position and the file', T, () => {
        const creds = path.join(dir, 'missing.creds');
        const conf = path.join(dir, 'missing.conf');
        fs.writeFileSync(conf, spokeConfig(7422, [`credentials: "${creds}"`]));
        check(conf, `${conf}:5:20: Error reading LeafNode Remote Credentials file "${creds}": ` +
            `open ${creds}: no such file or directory`);
    });

    test('a malformed creds file fails the start naming the position, file and fault', T,
        async () => {
            const id = await makeIdentity();
            const good = credsText(id.userJwt, id.ukp);
            const cases = [
                ['nojwt.creds', 'not a creds file\n', 'malformed'],
                ['noseed.creds', good.slice(0, good.indexOf('*')), 'malformed'],
                ['badseed.creds', good.replace(/SU[A-Z2-7]{56}/, 'SUAAAA'),
                    'has malformed seed'],
                ['badjwt.creds', good.replace(/eyJ[^\n]*/, 'not-a-jwt'),
                    'has malformed user jwt'],
            ];
            for (const [name, text, fault] of cases) {
                const creds = path.join(dir, name);
                fs.writeFileSync(creds, text);
                const conf = path.join(dir, `${name}.conf`);
                fs.writeFileSync(conf, spokeConfig(7422, [`creds: "${creds}"`]));
                check(conf, `${conf}:5:14: LeafNode Remote Credentials file "${creds}" ${fault}`);
            }
        });
});
