// SPDX-License-Identifier: Apache-2.0
//
// Route TLS: a cluster whose cluster {} block has tls { cert_file, key_file, ca_file }.
// Routes handshake before CONNECT/INFO and verify each other's certificates both ways
// (nats-server always verifies route peers). Checked: the mesh forms and messages cross
// it; a server whose certificate is signed by another CA never joins. Run against
// nats-server first (MERIDIAN_SERVER=/usr/sbin/nats-server), then meridian-server, and
// in a mixed cluster when nats-server is installed.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import test, { after, describe } from 'node:test';
import { StringCodec } from 'nats';

import { makeCerts } from '../lib/certs.mjs';
import { collect, connectTo } from '../lib/client.mjs';
import { awaitInterest, clusterFixture, startCluster } from '../lib/cluster.mjs';
import { serverBin, sleep } from '../lib/server.mjs';

const sc = StringCodec();
const T = { timeout: 30000 };
const NATS = process.env.NATS_SERVER || '/usr/sbin/nats-server';

const certs = makeCerts();
after(() => certs.remove());

function tlsLines(cert, key) {
    return () => ['  tls {', `    cert_file: "${cert}"`, `    key_file: "${key}"`,
        `    ca_file: "${certs.ca}"`, '    timeout: 3', '  }'];
}

const good = tlsLines(certs.routeCert, certs.routeKey);

async function crossTraffic(cl) {
    const [a, b] = cl.members;
    const pub = await connectTo({ hostport: a.hostport });
    const sub = await connectTo({ hostport: b.hostport });
    try {
        const s = sub.subscribe('tls.route.>');
        await awaitInterest(pub, [sub]);
        for (let i = 0; i < 20; i++) {
            pub.publish(`tls.route.${i}`, sc.encode(String(i)));
        }
        const got = await collect(s, 20, 5000, '20 messages over the TLS route');
        assert.deepEqual(got.map((m) => sc.decode(m.data)),
            Array.from({ length: 20 }, (_, i) => String(i)));
    } finally {
        await pub.close();
        await sub.close();
    }
}

describe('cluster with route TLS', () => {
    const cl = clusterFixture(2, { config: true, seed: 'all', clusterLines: good });

    test('the mesh forms over TLS and messages cross it', T, async () => {
        const rz = await cl.current.members[0].routez();
        assert.equal(rz.num_routes, 1);
        await crossTraffic(cl.current);
    });

    test('a server with a certificate from another CA never joins', T, async () => {
        const [a] = cl.current.members;
        const rogue = await startCluster(1, {
            config: true,
            name: cl.current.name,
            noWait: true,
            clusterLines: tlsLines(certs.rogueRouteCert, certs.rogueRouteKey),
            routesOverride: () => [a.routeUrl()],
        });
        try {
            await sleep(3000);
            assert.equal((await a.routez()).num_routes, 1, 'still only the good peer');
            assert.equal((await rogue.members[0].routez()).num_routes, 0);
        } finally {
            await rogue.stopAll();
        }
    });
});

const mixedSkip = fs.existsSync(NATS) ? false : `nats-server not found at ${NATS}`;
describe('mixed cluster with route TLS (server under test + nats-server)', { skip: mixedSkip },
    () => {
        const cl = clusterFixture(2, {
            config: true, seed: 'all', clusterLines: good, bins: [serverBin(), NATS],
        });
        test('routes handshake both ways and messages cross', T, async () => {
            await crossTraffic(cl.current);
        });
    });
