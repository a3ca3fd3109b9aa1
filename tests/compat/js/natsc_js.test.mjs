// SPDX-License-Identifier: Apache-2.0
//
// Runs the nats.c JetStream program (tests/compat/natsc/compat_natsc_js.c, built by
// meson) against a server started with -js on a fresh store directory, and reports each
// of its checks as a subtest. Binary: env NATSC_JS_BIN, default
// <root>/build/tests/compat/compat_natsc_js.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import test, { after, describe } from 'node:test';

import { reportNatscChecks, runNatscProgram } from '../lib/natsc.mjs';
import { ROOT, serverFixture } from '../lib/server.mjs';

const BIN = process.env.NATSC_JS_BIN ||
    path.join(ROOT, 'build', 'tests', 'compat', 'compat_natsc_js');
// The program's own alarm ends it after 20 s; this only catches a program that ignores it.
const RUN_TIMEOUT_MS = 25000;

describe('nats.c (libnats) JetStream', () => {
    if (!fs.existsSync(BIN)) {
        test('compat_natsc_js binary is built', () => {
            assert.fail(`${BIN} not found: build it with meson (tests/compat/meson.build, needs ` +
                'libnats-dev) or set NATSC_JS_BIN');
        });
        return;
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meridian-natsc-js-'));
    const srv = serverFixture(['-js', '-sd', dir]);
    // Registered after the fixture's hook, so it runs once the server has stopped (after
    // hooks run in registration order).
    after(() => {
        fs.rmSync(dir, { recursive: true, force: true });
    });

    test('compat_natsc_js checks', { timeout: RUN_TIMEOUT_MS + 10000 }, async (t) => {
        const r = await runNatscProgram(BIN, [srv.current.url], RUN_TIMEOUT_MS);
        await reportNatscChecks(t, 'compat_natsc_js', r);
    });
});
