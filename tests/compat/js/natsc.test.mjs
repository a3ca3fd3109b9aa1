// SPDX-License-Identifier: Apache-2.0
//
// Runs the nats.c compatibility program (tests/compat/natsc/compat_natsc.c,
// built by meson) against a fresh server and reports each of its checks as a
// subtest. Binary: env NATSC_COMPAT_BIN, default <root>/build/tests/compat/compat_natsc.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import test, { describe } from 'node:test';

import { reportNatscChecks, runNatscProgram } from '../lib/natsc.mjs';
import { ROOT, serverFixture } from '../lib/server.mjs';

const BIN = process.env.NATSC_COMPAT_BIN || path.join(ROOT, 'build', 'tests', 'compat', 'compat_natsc');
const RUN_TIMEOUT_MS = 150000;

describe('nats.c (libnats) client', () => {
    if (!fs.existsSync(BIN)) {
        test('compat_natsc binary is built', () => {
            assert.fail(`${BIN} not found: build it with meson (tests/compat/meson.build, needs ` +
                'libnats-dev) or set NATSC_COMPAT_BIN');
        });
        return;
    }
    const srv = serverFixture();

    test('compat_natsc checks', { timeout: RUN_TIMEOUT_MS + 10000 }, async (t) => {
        const r = await runNatscProgram(BIN, [srv.current.url], RUN_TIMEOUT_MS);
        await reportNatscChecks(t, 'compat_natsc', r);
    });
});
