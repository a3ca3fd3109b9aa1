// SPDX-License-Identifier: Apache-2.0
//
// Test certificates for the TLS compat tests, made with the openssl CLI at test
// time in a fresh temporary directory; nothing is committed. They are:
//   ca.pem                  a CA ("Meridian Compat CA")
//   server.pem/-key.pem     signed by the CA, for IP 127.0.0.1 and DNS localhost
//   client.pem/-key.pem     signed by the CA, subject O=Meridian, CN=client
//   rogue.pem/-key.pem      a client certificate signed by another CA
// EC P-256 keys, valid for two days. makeCerts() is synchronous, so a describe()
// body can make them before its server fixture starts; remove() deletes them.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-days', '2'];
const CA_EXT = ['-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign'];

function openssl(dir, args) {
    try {
        execFileSync('openssl', args,
            { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20000 });
    } catch (e) {
        const why = e.stderr ? e.stderr.toString() : e.message;
        throw new Error(`openssl ${args.join(' ')} failed (is the openssl CLI installed?): ${why}`);
    }
}

/** `openssl req -x509` for one certificate, self-signed or signed by a CA (OpenSSL 3). */
function req(dir, name, subject, ext, signer) {
    const args = ['req', '-x509', ...KEY_ARGS, '-keyout', `${name}-key.pem`, '-out', `${name}.pem`,
        '-subj', subject, ...ext];
    if (signer) {
        args.push('-CA', `${signer}.pem`, '-CAkey', `${signer}-key.pem`);
    }
    openssl(dir, args);
}

/**
 * Make the certificates. Returns absolute paths: { dir, ca, serverCert, serverKey,
 * clientCert, clientKey, rogueCert, rogueKey, remove() }.
 */
export function makeCerts() {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meridian-certs-'));
    try {
        req(dir, 'ca', '/CN=Meridian Compat CA', CA_EXT);
        req(dir, 'other-ca', '/CN=Other CA', CA_EXT);
        req(dir, 'server', '/CN=localhost', ['-addext', 'basicConstraints=CA:FALSE',
            '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
            '-addext', 'extendedKeyUsage=serverAuth'], 'ca');
        const client = ['-addext', 'basicConstraints=CA:FALSE',
            '-addext', 'extendedKeyUsage=clientAuth'];
        req(dir, 'client', '/O=Meridian/CN=client', client, 'ca');
        req(dir, 'rogue', '/CN=rogue', client, 'other-ca');
        // Routes present one certificate as server and as client.
        const route = ['-addext', 'basicConstraints=CA:FALSE',
            '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
            '-addext', 'extendedKeyUsage=serverAuth,clientAuth'];
        req(dir, 'route', '/O=Meridian/CN=route', route, 'ca');
        req(dir, 'rogue-route', '/CN=rogue-route', route, 'other-ca');
    } catch (e) {
        fs.rmSync(dir, { recursive: true, force: true });
        throw e;
    }
    const p = (f) => path.join(dir, f);
    return {
        dir,
        ca: p('ca.pem'),
        serverCert: p('server.pem'),
        serverKey: p('server-key.pem'),
        clientCert: p('client.pem'),
        clientKey: p('client-key.pem'),
        rogueCert: p('rogue.pem'),
        routeCert: p('route.pem'),
        routeKey: p('route-key.pem'),
        rogueRouteCert: p('rogue-route.pem'),
        rogueRouteKey: p('rogue-route-key.pem'),
        rogueKey: p('rogue-key.pem'),
        remove() {
            fs.rmSync(dir, { recursive: true, force: true });
        },
    };
}
