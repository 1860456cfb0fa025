// Confab serving HTTPS itself with a certificate from an ACME CA: Debian's pebble (tests/e2e/pebble.mjs)
// issues for `confab.test`, which its stand-in DNS resolves to 127.0.0.1. Confab gets its first
// certificate by tls-alpn-01 on its HTTPS port, redirects plain http (the port-80 stand-in) to
// https, serves a meeting to two Chromium participants that trust pebble's root (an NSS database
// under a temporary HOME, no blanket ignore flag), and after a restart serves the stored
// certificate at once, then renews it by http-01 through the redirect listener without a restart.
//
// Run: node --test tests/e2e/https.test.mjs   (needs Debian's pebble, libnss3-tools and openssl)

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { TEST_CONFIG, assertDecodes, canConnect, freeTcpPort, launchBrowser, openParticipant, screenshotAll, startServer, waitFor } from './lib.mjs';
import { PEBBLE_DOMAIN, startPebble } from './pebble.mjs';

const ROOM = 'over-https';

/** Confab's config: HTTPS on `tlsPort` with an ACME certificate, plain http on `httpPort` redirecting. */
const tlsConfig = ({ tlsPort, httpPort, directory, directoryRoot, dir, challenge, renewBeforeDays }) => `bind = "127.0.0.1:${tlsPort}"
${TEST_CONFIG}
[tls]
redirect_from = "127.0.0.1:${httpPort}"
hsts_max_age = 600
[tls.acme]
domains = ["${PEBBLE_DOMAIN}"]
directory = "${directory}"
directory_root = "${directoryRoot}"
dir = "${dir}"
challenge = "${challenge}"
renew_before_days = ${renewBeforeDays}
check_every = 2
`;

/**
 * GET https://127.0.0.1:<port><path> as `confab.test` (SNI), trusting only `ca`, on a connection of
 * its own (so every call sees the certificate served now). Resolves to {status, headers, leaf}.
 */
function httpsGet(port, urlPath, ca) {
  return new Promise((resolve, reject) => {
    https
      .get({ host: '127.0.0.1', port, path: urlPath, servername: PEBBLE_DOMAIN, ca, agent: false, timeout: 5000 }, (res) => {
        const leaf = new X509Certificate(res.socket.getPeerCertificate().raw);
        res.resume().on('end', () => resolve({ status: res.statusCode, headers: res.headers, leaf }));
      })
      .on('timeout', function () {
        this.destroy(new Error(`no answer on ${port} within 5 s`));
      })
      .on('error', reject);
  });
}

const mode = (file) => (statSync(file).mode & 0o777).toString(8).padStart(4, '0');

test('HTTPS with an ACME certificate from pebble: issuance, redirect, a meeting, renewal after a restart', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-https-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [tlsPort, httpPort] = [await freeTcpPort(), await freeTcpPort()];
  mkdirSync(path.join(dir, 'pebble'));
  const pebble = await startPebble({ httpPort, tlsPort, dir: path.join(dir, 'pebble') });
  t.after(() => pebble.stop());
  const directoryRoot = path.join(dir, 'pebble-listener-ca.pem');
  writeFileSync(directoryRoot, pebble.caPem);
  const [root, intermediate] = [await pebble.rootPem(), new X509Certificate(await pebble.intermediatePem())];
  const acme = path.join(dir, 'acme');
  const config = (challenge, renewBeforeDays) =>
    tlsConfig({ tlsPort, httpPort, directory: pebble.directoryUrl, directoryRoot, dir: acme, challenge, renewBeforeDays });
  const start = (label, cfg) => startServer({ label, config: cfg, port: tlsPort, ready: () => canConnect(tlsPort) });

  // (1) The first certificate, by tls-alpn-01: none is stored, so Confab orders one at start.
  const started = Date.now();
  let server = await start('server-https', config('tls-alpn-01', 30));
  t.after(() => server.stop());
  const first = await waitFor(() => httpsGet(tlsPort, '/healthz', root), {
    timeout: 30_000,
    interval: 100,
    message: `https://${PEBBLE_DOMAIN}:${tlsPort}/healthz should answer with a certificate from pebble (log: ${server.logPath})`,
  });
  const issuedIn = Date.now() - started;
  t.diagnostic(`first certificate (tls-alpn-01) served ${issuedIn} ms after the server was started`);
  assert.equal(first.status, 200);
  assert.equal(first.headers['strict-transport-security'], 'max-age=600');
  assert.ok(first.leaf.checkIssued(intermediate) && first.leaf.verify(intermediate.publicKey), "the leaf is signed by pebble's intermediate");
  assert.equal(first.leaf.subjectAltName, `DNS:${PEBBLE_DOMAIN}`);
  assert.match(readFileSync(server.logPath, 'utf8'), new RegExp(`https://127\\.0\\.0\\.1:${tlsPort}/`), 'the banner shows the https address');
  assert.equal(mode(acme), '0700', 'the ACME folder is private');
  assert.equal(mode(path.join(acme, 'key.pem')), '0600', 'the certificate key is private');
  t.diagnostic(`modes: acme ${mode(acme)}, key.pem ${mode(path.join(acme, 'key.pem'))}, account.json ${mode(path.join(acme, 'account.json'))}, cert.pem ${mode(path.join(acme, 'cert.pem'))}`);

  // (2) Plain http on the port-80 stand-in is sent to https on the same name, path and query.
  const redirect = await new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: httpPort, path: '/room?x=1', headers: { host: `${PEBBLE_DOMAIN}:${httpPort}` }, agent: false }, (res) => {
        res.resume();
        resolve({ status: res.statusCode, location: res.headers.location });
      })
      .on('error', reject);
  });
  assert.deepEqual(redirect, { status: 308, location: `https://${PEBBLE_DOMAIN}:${tlsPort}/room?x=1` });

  // (3) Two participants on https://confab.test:<port>/<room>. Chromium trusts pebble's root from
  // the NSS database in its HOME, and resolves confab.test to loopback.
  const home = path.join(dir, 'home');
  const nssdb = path.join(home, '.pki', 'nssdb');
  mkdirSync(nssdb, { recursive: true });
  writeFileSync(path.join(dir, 'pebble-root.pem'), root);
  execFileSync('certutil', ['-N', '-d', `sql:${nssdb}`, '--empty-password'], { stdio: 'pipe' });
  execFileSync('certutil', ['-A', '-d', `sql:${nssdb}`, '-n', 'pebble root', '-t', 'C,,', '-i', path.join(dir, 'pebble-root.pem')], { stdio: 'pipe' });
  const base = `https://${PEBBLE_DOMAIN}:${tlsPort}`;
  const site = { ...server, url: base, wsUrl: base.replace(/^https/, 'wss') };
  const browsers = {};
  const pages = {};
  try {
    await Promise.all(
      ['ada', 'bob'].map(async (id) => {
        browsers[id] = await launchBrowser({
          label: `https-${id}`,
          args: [`--host-resolver-rules=MAP ${PEBBLE_DOMAIN} 127.0.0.1`],
          env: { ...process.env, HOME: home },
        });
        pages[id] = await openParticipant(browsers[id], site, { room: ROOM, identity: id });
      }),
    );
    for (const [me, other] of [['ada', 'bob'], ['bob', 'ada']]) {
      assert.deepEqual(
        await pages[me].evaluate(() => ({ origin: location.origin, secure: isSecureContext })),
        { origin: base, secure: true },
        `${me}'s page is the https one, a secure context`,
      );
      await assertDecodes(pages[me], me, other, { where: 'over https' });
    }
  } catch (err) {
    await screenshotAll(pages, 'https-failure');
    throw err;
  } finally {
    await Promise.all(Object.values(browsers).map((b) => b.close()));
  }

  // (4) Restart with the same folder, renewing at every check and by http-01: the stored
  // certificate is served at once, then a new one, by the same process.
  await server.stop();
  const stored = new X509Certificate(readFileSync(path.join(acme, 'cert.pem')));
  assert.equal(stored.serialNumber, first.leaf.serialNumber, 'cert.pem is the certificate that was served');
  const restarted = Date.now();
  server = await start('server-https-renew', config('http-01', 36500));
  const atRestart = await httpsGet(tlsPort, '/healthz', root);
  assert.equal(atRestart.leaf.serialNumber, stored.serialNumber, 'right after the restart the stored certificate is served');
  const renewed = await waitFor(
    async () => {
      const now = await httpsGet(tlsPort, '/healthz', root);
      return now.leaf.serialNumber !== stored.serialNumber && now;
    },
    { timeout: 15_000, interval: 100, message: `a renewed certificate should be served (log: ${server.logPath})` },
  );
  const renewedIn = Date.now() - restarted;
  t.diagnostic(`renewed certificate (http-01) served ${renewedIn} ms after the restart`);
  assert.ok(server.alive(), 'the same process serves the new certificate');
  assert.equal(renewed.status, 200);
  assert.ok(renewed.leaf.checkIssued(intermediate) && renewed.leaf.verify(intermediate.publicKey));
  assert.equal(renewed.leaf.subjectAltName, `DNS:${PEBBLE_DOMAIN}`);
  assert.match(readFileSync(server.logPath, 'utf8'), /certificate issued/);
  await server.stop();
  const kept = new X509Certificate(readFileSync(path.join(acme, 'cert.pem')));
  assert.notEqual(kept.serialNumber, stored.serialNumber, 'the renewed certificate is stored in place of the old one');
  assert.equal(mode(path.join(acme, 'key.pem')), '0600', 'the renewed key is private too');
});
