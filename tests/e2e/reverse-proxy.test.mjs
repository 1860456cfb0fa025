// Confab behind nginx terminating TLS, configured with the site file from docs/reverse-proxy.md
// (only its ports, certificate and log paths changed for loopback and a temporary folder): the
// Meet app comes over https through nginx, two Chromium participants meet through it (signalling
// as wss through the proxy, media straight to Confab's media port), and the access log keeps no
// access tokens. The certificate is self-signed for 127.0.0.1; Chromium trusts exactly that key
// (--ignore-certificate-errors-spki-list), Node trusts it as its only CA.
//
// Run: node --test tests/e2e/reverse-proxy.test.mjs   (needs Debian's nginx and openssl)

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { REPO, assertDecodes, freeTcpPort, launchBrowser, nominatedPairs, openParticipant, screenshotAll, startServer, waitFor } from './lib.mjs';
import { httpPaths, startNginx } from './nginx.mjs';

const ROOM = 'behind-nginx';
const DOC = path.join(REPO, 'docs', 'reverse-proxy.md');

/**
 * A self-signed certificate and key for 127.0.0.1 in `dir`, and the base64 SHA-256 of its public
 * key (SPKI), the form Chromium's --ignore-certificate-errors-spki-list takes.
 */
function selfSignedCert(dir) {
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const openssl = (args, input) => execFileSync('openssl', args, { input, stdio: ['pipe', 'pipe', 'pipe'] });
  openssl([
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
  ]);
  const publicKey = openssl(['x509', '-in', cert, '-noout', '-pubkey']);
  const der = openssl(['pkey', '-pubin', '-outform', 'DER'], publicKey);
  const spki = openssl(['dgst', '-sha256', '-binary'], der).toString('base64');
  assert.match(spki, /^[A-Za-z0-9+/]{43}=$/, 'the SPKI hash is 32 bytes');
  return { cert, key, spki };
}

/**
 * The nginx site file of docs/reverse-proxy.md, moved to loopback ports and `dir`. Every
 * replacement must find its text, so a changed doc fails here, saying what it misses.
 */
function siteFromDoc({ dir, httpsPort, plainPort, upstreamPort, cert, key }) {
  const doc = readFileSync(DOC, 'utf8');
  const block = /```nginx\n(# \/etc\/nginx\/sites-available\/confab\n[\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(block, `${DOC} should have the nginx block for /etc/nginx/sites-available/confab`);
  const replacements = [
    ['listen 80;', `listen 127.0.0.1:${plainPort};`],
    ['listen 443 ssl;', `listen 127.0.0.1:${httpsPort} ssl;`],
    ['listen [::]:80;', ''],
    ['listen [::]:443 ssl;', ''],
    ['/etc/letsencrypt/live/meet.example.com/fullchain.pem', cert],
    ['/etc/letsencrypt/live/meet.example.com/privkey.pem', key],
    ['/var/log/nginx/confab.access.log', path.join(dir, 'confab.access.log')],
    ['server 127.0.0.1:7880;', `server 127.0.0.1:${upstreamPort};`],
  ];
  let site = block;
  for (const [from, to] of replacements) {
    assert.equal(site.split(from).length, 2, `the nginx block in ${DOC} should have \`${from}\` once`);
    site = site.replace(from, to);
  }
  return site;
}

/** GET over https, trusting only `ca`. Resolves to {status, headers, body}. */
function httpsGet(url, ca) {
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca: readFileSync(ca), timeout: 10_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      })
      .on('timeout', function () {
        this.destroy(new Error(`no answer from ${url} within 10 s`));
      })
      .on('error', reject);
  });
}

/** Where `page` receives `other`'s media from: the remote candidates of its connected pairs. */
const mediaPeers = async (page, other) => [...new Set((await nominatedPairs(page, other)).map(({ remote }) => `${remote.address}:${remote.port}`))];

test('behind nginx terminating TLS: the Meet app over https, a meeting through the proxy, media direct', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-proxy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { cert, key, spki } = selfSignedCert(dir);

  const server = await startServer({ label: 'server-reverse-proxy' });
  t.after(() => server.stop());
  const [httpsPort, plainPort] = [await freeTcpPort(), await freeTcpPort()];
  const nginx = await startNginx(t, {
    dir,
    port: httpsPort,
    label: 'nginx-proxy',
    // server.url, not httpPort: with CONFAB_WEB_DIST it is the front that serves that build.
    config: `http {\n${httpPaths(dir)}\n${siteFromDoc({ dir, httpsPort, plainPort, upstreamPort: new URL(server.url).port, cert, key })}\n}`,
  });
  const base = `https://127.0.0.1:${httpsPort}`;

  // (a) The Meet app's page, through nginx: nginx answers, with Confab's page and headers.
  const home = await httpsGet(`${base}/`, cert);
  assert.equal(home.status, 200);
  assert.match(home.headers.server ?? '', /^nginx/, 'the answer came through nginx');
  assert.equal(home.headers['x-content-type-options'], 'nosniff', "Confab's own headers pass through");
  assert.match(home.headers['content-type'] ?? '', /^text\/html/);
  assert.match(home.body, /<title>Confab<\/title>/);
  assert.match(home.body, /<div id="app">/);
  // Plain http is sent to https.
  const redirect = await fetch(`http://127.0.0.1:${plainPort}/${ROOM}?name=Ada`, { redirect: 'manual' });
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.get('location'), `https://127.0.0.1/${ROOM}?name=Ada`);

  // (b) Two participants on https://127.0.0.1:<port>/<room>: the page connects its signalling to
  // wss:// on the same address, so through nginx. Chromium trusts this one key, nothing else.
  const proxied = { ...server, url: base, wsUrl: base.replace(/^https/, 'wss') };
  const browsers = {};
  for (const id of ['ada', 'bob']) {
    browsers[id] = await launchBrowser({ label: `proxy-${id}`, args: [`--ignore-certificate-errors-spki-list=${spki}`] });
    t.after(() => browsers[id].close());
  }
  const pages = {};
  try {
    await Promise.all(
      Object.keys(browsers).map(async (id) => {
        pages[id] = await openParticipant(browsers[id], proxied, { room: ROOM, identity: id });
      }),
    );
    for (const [me, other] of [['ada', 'bob'], ['bob', 'ada']]) {
      const page = pages[me];
      assert.deepEqual(
        await page.evaluate(() => ({ origin: location.origin, secure: isSecureContext })),
        { origin: base, secure: true },
        `${me}'s page is the https one, a secure context (camera allowed)`,
      );
      await assertDecodes(page, me, other, { where: 'behind nginx' });
      assert.deepEqual(await mediaPeers(page, other), [`127.0.0.1:${server.udpPort}`], `${me} gets media from Confab's media port, not through nginx`);
    }
  } catch (err) {
    await screenshotAll(pages, 'reverse-proxy-failure');
    throw err;
  }

  // (c) The browsers leave (nginx logs a WebSocket when it closes), then nginx stops.
  await Promise.all(Object.values(browsers).map((b) => b.close()));
  const accessLog = path.join(dir, 'confab.access.log');
  const upgrades = await waitFor(
    () => {
      const lines = readFileSync(accessLog, 'utf8').split('\n').filter((l) => l.includes('"GET /rtc HTTP/1.1" 101 '));
      return lines.length >= 2 && lines;
    },
    { timeout: 10_000, message: 'nginx should log both signalling WebSockets (101) on /rtc' },
  );
  const logged = readFileSync(accessLog, 'utf8');
  assert.ok(!/access_token|token=|eyJ/.test(logged), `the access log keeps no tokens:\n${logged}`);
  assert.deepEqual(await nginx.stop(), { code: 0, signal: null }, 'nginx stops cleanly');
  t.diagnostic(`signalling through nginx: ${upgrades.length} WebSocket(s) upgraded on /rtc`);
});
