// Debian's pebble (a small ACME CA for tests; apt package `pebble`) for the ACME certificate tests,
// with its `pebble-challtestsrv` as the DNS server pebble resolves names with: the tests run in a
// network namespace with only loopback and no DNS, and the stand-in answers every A query with
// 127.0.0.1 (and no AAAA), so any name, e.g. `confab.test`, validates against Confab on loopback.
// Challenges are really validated: pebble connects to <name>:httpPort for http-01 and to
// <name>:tlsPort with ALPN `acme-tls/1` for tls-alpn-01.

import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { artifactLog, freeTcpPort, freeUdpPort, waitFor } from './lib.mjs';

/** A name for orders: the stand-in DNS resolves every name to 127.0.0.1; `.test` is reserved for testing. */
export const PEBBLE_DOMAIN = 'confab.test';

const live = new Set();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * Starts pebble on loopback, validating http-01 on `httpPort` and tls-alpn-01 on `tlsPort`, with its
 * files in `dir`. Returns {directoryUrl, caPem, rootPem(), stop()}: `caPem` signs pebble's own HTTPS
 * listener (for the ACME client); `rootPem()` is the root that issued certificates chain to (pebble
 * makes a new one on every start).
 */
export async function startPebble({ httpPort, tlsPort, dir, label = 'pebble', env = {} }) {
  // Debian repacks pebble without upstream's test/certs (pebble.minica.pem and the localhost
  // certificate the example config names), so pebble's listener gets a CA and certificate made
  // here, laid out like upstream's minica: a CA, and a leaf for 127.0.0.1 that is not itself a CA
  // (rustls/webpki rejects a CA certificate presented as the server's own).
  const file = (name) => path.join(dir, name);
  const openssl = (...args) => execFileSync('openssl', args, { stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2'];
  openssl('req', '-x509', ...ec, '-keyout', file('ca.key'), '-out', file('ca.pem'), '-subj', '/CN=pebble listener test CA');
  openssl('req', '-x509', '-CA', file('ca.pem'), '-CAkey', file('ca.key'), ...ec, '-keyout', file('key.pem'), '-out', file('cert.pem'),
    '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1', '-addext', 'basicConstraints=critical,CA:FALSE');
  const caPem = readFileSync(file('ca.pem'), 'utf8');

  const [acmePort, managementPort, dnsPort, dnsManagementPort] = [await freeTcpPort(), await freeTcpPort(), await freeUdpPort(), await freeTcpPort()];
  writeFileSync(file('pebble-config.json'), JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`,
      managementListenAddress: `127.0.0.1:${managementPort}`,
      certificate: file('cert.pem'),
      privateKey: file('key.pem'),
      httpPort,
      tlsPort,
      ocspResponderURL: '',
      externalAccountBindingRequired: false,
    },
  }, null, 2));

  const log = artifactLog(label);
  const children = [];
  const run = (cmd, args, extraEnv = {}) => {
    const child = spawn(cmd, args, { stdio: ['ignore', log.fd, log.fd], env: { ...process.env, ...extraEnv } });
    const exited = new Promise((resolve) => {
      child.once('exit', resolve);
      child.once('error', (err) => resolve(log(`${cmd}: ${err.message} (Debian's package pebble has it)`)));
    });
    live.add(child);
    children.push({ child, exited });
  };
  // Only its DNS server is wanted: the challenge responders (which would take 5001-5003) are off,
  // and no AAAA answer, because pebble dials the first address it gets, AAAA before A.
  run('pebble-challtestsrv', ['-dns01', `127.0.0.1:${dnsPort}`, '-management', `127.0.0.1:${dnsManagementPort}`,
    '-http01', '', '-https01', '', '-tlsalpn01', '', '-defaultIPv4', '127.0.0.1', '-defaultIPv6', '']);
  run('pebble', ['-config', file('pebble-config.json'), '-dnsserver', `127.0.0.1:${dnsPort}`, '-strict=false'], {
    PEBBLE_VA_NOSLEEP: '1', // else it waits up to 5 s at random before each validation
    PEBBLE_WFE_NONCEREJECT: '0', // else 5% of good nonces come back badNonce (set 5+ to test retries)
    PEBBLE_AUTHZREUSE: '0', // else half the orders for a name already validated skip the challenge
    ...env,
  });

  const pebble = {
    directoryUrl: `https://127.0.0.1:${acmePort}/dir`,
    managementUrl: `https://127.0.0.1:${managementPort}`,
    caPem,
    rootPem: async () => (await get(`${pebble.managementUrl}/roots/0`, caPem, 200)).body,
    intermediatePem: async () => (await get(`${pebble.managementUrl}/intermediates/0`, caPem, 200)).body,
    async stop() {
      for (const { child } of children) child.kill('SIGKILL');
      await Promise.all(children.map(({ exited }) => exited));
      for (const { child } of children) live.delete(child);
      log.close();
    },
  };
  try {
    await waitFor(() => get(pebble.directoryUrl, caPem, 200), { timeout: 10_000, message: `pebble should serve ${pebble.directoryUrl} (log: ${log.path})` });
    await waitFor(() => get(`http://127.0.0.1:${dnsManagementPort}/`), { timeout: 10_000, message: `pebble-challtestsrv should start (log: ${log.path})` });
  } catch (err) {
    await pebble.stop();
    throw err;
  }
  return pebble;
}

// node:https rather than fetch, whose TLS options take no extra CA.
function get(url, ca, want) {
  return new Promise((resolve, reject) => {
    (url.startsWith('https:') ? https : http)
      .get(url, { ca }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c) => (body += c)).on('end', () => {
          if (want && res.statusCode !== want) reject(new Error(`${url}: ${res.statusCode} ${body}`));
          else resolve({ status: res.statusCode, body });
        });
      })
      .on('error', reject);
  });
}
