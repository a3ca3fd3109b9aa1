// SPDX-License-Identifier: Apache-2.0
//
// Runs the nats.c leaf node program (tests/compat/natsc/compat_natsc_leaf.c, built by
// meson) against a hub and one leaf of the server under test (lib/leaf.mjs) and reports
// each of its checks as a subtest; its "# " lines are passed on as diagnostics. The
// program gets the hub's and the leaf's client URLs with the credentials of account LEAF
// (leaf:leaf). It asks for the hub to be stopped and restarted with "CTL STOP 0" /
// "CTL START 0" lines on its stdout; this file does it (by PID) and answers "OK" (or
// "ERR why") on the program's stdin. After START it does not wait for the leaf to
// reconnect: the program measures that itself, bounded.
// Binary: env NATSC_LEAF_BIN, default <root>/build/tests/compat/compat_natsc_leaf.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import test, { describe } from 'node:test';

import { USERS, leafFixture } from '../lib/leaf.mjs';
import { HOST, ROOT } from '../lib/server.mjs';

const BIN = process.env.NATSC_LEAF_BIN ||
    path.join(ROOT, 'build', 'tests', 'compat', 'compat_natsc_leaf');
// The program ends itself after 50 s (alarm); this is the outer bound.
const RUN_TIMEOUT_MS = 60000;

/** Run the program, bounded, serving its CTL requests; kill it by PID when it overruns. */
function runProgram(topo) {
    const u = USERS.LEAF;
    const args = [topo.hub, topo.leafs[0]].map((m) =>
        `nats://${u.user}:${u.pass}@${HOST}:${m.clientPort}`);
    return new Promise((resolve, reject) => {
        const child = spawn(BIN, args, { stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        let pending = '';
        let ctl = Promise.resolve();
        child.stdout.on('data', (d) => {
            stdout += d;
            pending += d;
            let nl;
            while ((nl = pending.indexOf('\n')) >= 0) {
                const line = pending.slice(0, nl);
                pending = pending.slice(nl + 1);
                const m = /^CTL (STOP|START) (\d+)$/.exec(line);
                if (m) {
                    // One request at a time, in order.
                    ctl = ctl.then(() => serve(topo, m[1], Number(m[2])))
                        .then((answer) => {
                            if (!child.stdin.destroyed) {
                                child.stdin.write(`${answer}\n`);
                            }
                        });
                }
            }
        });
        child.stderr.on('data', (d) => {
            stderr += d;
        });
        child.stdin.on('error', () => {
            // The program exited before reading the answer; its exit is reported below.
        });
        const timer = setTimeout(() => {
            try {
                process.kill(child.pid, 'SIGKILL');
            } catch {
                // Already gone.
            }
        }, RUN_TIMEOUT_MS);
        child.once('error', (e) => {
            clearTimeout(timer);
            reject(e);
        });
        child.once('exit', (code, signal) => {
            clearTimeout(timer);
            resolve({ code, signal, stdout, stderr });
        });
    });
}

async function serve(topo, verb, i) {
    try {
        if (i !== 0) {
            return `ERR only the hub (0) can be stopped, not ${i}`;
        }
        if (verb === 'STOP') {
            await topo.stopHub();
        } else {
            await topo.startHub();
        }
        return 'OK';
    } catch (e) {
        return `ERR ${e.message.split('\n')[0]}`;
    }
}

describe('nats.c (libnats) client against a hub and a leaf', () => {
    if (!fs.existsSync(BIN)) {
        test('compat_natsc_leaf binary is built', () => {
            assert.fail(`${BIN} not found: build it with meson (tests/compat/meson.build, needs ` +
                'libnats-dev) or set NATSC_LEAF_BIN');
        });
        return;
    }
    const hold = leafFixture({ leafs: 1 });

    test('compat_natsc_leaf checks', { timeout: RUN_TIMEOUT_MS + 10000 }, async (t) => {
        const r = await runProgram(hold.current);
        for (const line of r.stdout.split('\n')) {
            if (line.startsWith('# ')) {
                t.diagnostic(line.slice(2));
                continue;
            }
            const m = /^(ok|FAIL) - ([a-z_]+)(?:: (.*))?$/.exec(line);
            if (!m) {
                continue;
            }
            await t.test(m[2], () => {
                assert.equal(m[1], 'ok', m[3]);
            });
        }
        const tail = `${r.stdout}\n${r.stderr}\n${hold.current.logs()}`;
        assert.equal(r.signal, null, `compat_natsc_leaf killed by ${r.signal}\n${tail}`);
        assert.match(r.stdout, /^\d+ passed, 0 failed$/m, `summary missing or failures:\n${tail}`);
        assert.equal(r.code, 0, `exit code ${r.code}\n${tail}`);
        hold.current.checkAlive();
    });
});
