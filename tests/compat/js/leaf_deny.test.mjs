// SPDX-License-Identifier: Apache-2.0
//
// Leaf remote deny lists (lib/leaf.mjs topologies; account LEAF): the remote says
//   deny_imports: ["lp.in.>"]    the leaf never receives these from the hub
//   deny_exports: ["lp.out.>"]   the leaf never sends these to the hub
// nats-server applies them as subscribe and publish permissions of the leaf connection:
// the spoke does not tell the hub its interest in denied imports and tells the hub
// those subjects in its CONNECT (deny_pub), so a hub also filters what a wildcard
// interest would let through; the spoke ignores the hub's interest in denied exports
// and never sends messages on them. Local traffic on either side is not affected.
// Layouts: the server under test on both ends, a leaf under test on a nats-server hub,
// a nats-server leaf on a hub under test (NATS_SERVER; skipped without it). Absence is
// checked behind a marker: the denied messages are published first, on the same
// connection and through the same subscription as an allowed one, so once the allowed
// one arrived the denied ones would have too.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import test, { afterEach, beforeEach, describe } from 'node:test';

import { awaitInterest } from '../lib/cluster.mjs';
import { LeafConns, enc, flushAll, leafFixture, str, until } from '../lib/leaf.mjs';
import { serverBin, sleep } from '../lib/server.mjs';

const T = { timeout: 30000 };
const QUIET_MS = 300;
const NATS = process.env.NATS_SERVER || '/usr/sbin/nats-server';
const UNDER = serverBin();
const noNats = fs.existsSync(NATS) ? false
    : `nats-server not found at ${NATS} (apt-get install nats-server, or set NATS_SERVER)`;

const LAYOUTS = [
    { title: 'under test on both ends', hubBin: UNDER, leafBins: [UNDER], skip: false },
    { title: 'leaf under test -> nats-server hub', hubBin: NATS, leafBins: [UNDER], skip: noNats },
    { title: 'nats-server leaf -> hub under test', hubBin: UNDER, leafBins: [NATS], skip: noNats },
];

function gather(nc, subject) {
    const got = [];
    nc.subscribe(subject, { callback: (_, m) => got.push(`${m.subject}:${str(m)}`) });
    return got;
}

for (const layout of LAYOUTS) {
    describe(`deny_imports and deny_exports: ${layout.title}`, { skip: layout.skip }, () => {
        const hold = leafFixture({
            hubBin: layout.hubBin,
            leafBins: layout.leafBins,
            remoteLines: () => ['      deny_imports: ["lp.in.>"]',
                '      deny_exports: ["lp.out.>"]'],
        });
        const h = { c: null };
        beforeEach(() => {
            h.c = new LeafConns();
        });
        afterEach(async () => {
            await h.c.closeAll();
            hold.current?.checkAlive();
        });
        const hub = () => hold.current.hub;
        const leaf = () => hold.current.leafs[0];

        test('deny_imports: the hub\'s messages on them never reach the leaf', T, async () => {
            const wildNc = await h.c.open(leaf());
            const litNc = await h.c.open(leaf());
            const wild = gather(wildNc, 'lp.>');
            const litIn = gather(litNc, 'lp.in.x');
            const litOk = gather(litNc, 'lp.ok');
            const pub = await h.c.open(hub());
            await awaitInterest(pub, [wildNc, litNc]);
            pub.publish('lp.in.x', enc('denied'));
            pub.publish('lp.in.y.z', enc('denied'));
            pub.publish('lp.ok', enc('allowed'));
            await flushAll([pub], [wildNc, litNc]);
            await until(() => wild.length > 0 && litOk.length > 0, 5000,
                () => `the allowed message on the leaf (wildcard ${wild}, literal ${litOk})`);
            await sleep(QUIET_MS);
            await flushAll([pub], [wildNc, litNc]);
            assert.deepEqual(wild, ['lp.ok:allowed'], 'the wildcard subscriber');
            assert.deepEqual(litIn, [], 'the literal subscriber on a denied subject');
            assert.deepEqual(litOk, ['lp.ok:allowed']);
        });

        test('deny_exports: the leaf\'s messages on them never reach the hub', T, async () => {
            const wildNc = await h.c.open(hub());
            const litNc = await h.c.open(hub());
            const wild = gather(wildNc, 'lp.>');
            const litOut = gather(litNc, 'lp.out.x');
            const litOk = gather(litNc, 'lp.ok2');
            const pub = await h.c.open(leaf());
            await awaitInterest(pub, [wildNc, litNc]);
            pub.publish('lp.out.x', enc('denied'));
            pub.publish('lp.out.y.z', enc('denied'));
            pub.publish('lp.ok2', enc('allowed'));
            await flushAll([pub], [wildNc, litNc]);
            await until(() => wild.length > 0 && litOk.length > 0, 5000,
                () => `the allowed message on the hub (wildcard ${wild}, literal ${litOk})`);
            await sleep(QUIET_MS);
            await flushAll([pub], [wildNc, litNc]);
            assert.deepEqual(wild, ['lp.ok2:allowed'], 'the wildcard subscriber');
            assert.deepEqual(litOut, [], 'the literal subscriber on a denied subject');
            assert.deepEqual(litOk, ['lp.ok2:allowed']);
        });

        test('denied subjects still flow inside each side', T, async () => {
            for (const [side, subject] of [[leaf(), 'lp.in.local'], [hub(), 'lp.out.local'],
                [leaf(), 'lp.out.local'], [hub(), 'lp.in.local']]) {
                const subNc = await h.c.open(side);
                const got = gather(subNc, subject);
                const pub = await h.c.open(side);
                await flushAll([], [subNc]);
                pub.publish(subject, enc('here'));
                await flushAll([pub], [subNc]);
                await until(() => got.length > 0, 3000, `${subject} on ${side.name}`);
                assert.deepEqual(got, [`${subject}:here`]);
            }
        });
    });
}
