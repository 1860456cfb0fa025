// Confab behind a reverse proxy terminating TLS, configured with the files docs/reverse-proxy.md
// shows (only their ports, certificate and log paths changed for loopback and a temporary folder):
// nginx's site file, then Caddy's Caddyfile. Through each: the Meet app comes over https, two
// Chromium participants meet through it (signalling as wss through the proxy, media straight to
// Confab's media port), the access log keeps no access tokens, and Confab, configured with the
// doc's `trusted_proxies`, counts sign-in guesses and logs them under the address the proxy
// forwards (X-Forwarded-For), while the same header from any other peer is ignored. The
// certificate is self-signed for 127.0.0.1; Chromium trusts exactly that key
// (--ignore-certificate-errors-spki-list), Node trusts it as its only CA.
//
// Run: node --test tests/e2e/reverse-proxy.test.mjs   (needs Debian's nginx, caddy and openssl)

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { REPO, TEST_CONFIG, assertDecodes, freeTcpPort, launchBrowser, nominatedPairs, openParticipant, screenshotAll, startServer, waitFor } from './lib.mjs';
import { startCaddy } from './caddy.mjs';
import { httpPaths, startNginx } from './nginx.mjs';

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

/** The fenced block of `lang` in docs/reverse-proxy.md whose first line is `# <file>` (or `# <file>: …`). */
function docBlock(lang, file) {
  const doc = readFileSync(DOC, 'utf8');
  const escaped = file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const block = new RegExp(`\`\`\`${lang}\\n(# ${escaped}(?::[^\\n]*)?\\n[\\s\\S]*?)\`\`\``).exec(doc)?.[1];
  assert.ok(block, `${DOC} should have the ${lang} block for ${file}`);
  return block;
}

/**
 * `block` with each [from, to] replaced. Every replacement must find its text exactly once, so a
 * changed doc fails here, saying what it misses.
 */
function replaceAll(block, replacements, what) {
  let text = block;
  for (const [from, to] of replacements) {
    assert.equal(text.split(from).length, 2, `the ${what} in ${DOC} should have \`${from}\` once`);
    text = text.replace(from, to);
  }
  return text;
}

/** The nginx site file of docs/reverse-proxy.md, moved to loopback ports and `dir`. */
function nginxSiteFromDoc({ dir, httpsPort, plainPort, upstreamPort, cert, key }) {
  return replaceAll(
    docBlock('nginx', '/etc/nginx/sites-available/confab'),
    [
      ['listen 80;', `listen 127.0.0.1:${plainPort};`],
      ['listen 443 ssl;', `listen 127.0.0.1:${httpsPort} ssl;`],
      ['listen [::]:80;', ''],
      ['listen [::]:443 ssl;', ''],
      ['/etc/letsencrypt/live/meet.example.com/fullchain.pem', cert],
      ['/etc/letsencrypt/live/meet.example.com/privkey.pem', key],
      ['/var/log/nginx/confab.access.log', path.join(dir, 'confab.access.log')],
      ['server 127.0.0.1:7880;', `server 127.0.0.1:${upstreamPort};`],
    ],
    'nginx block',
  );
}

/**
 * The Caddyfile of docs/reverse-proxy.md, moved to loopback ports and `dir`: the site serves
 * https://127.0.0.1:<port> on loopback only, with the test's certificate files instead of one
 * from an ACME CA (which is what `tls <cert> <key>` does). Global options come from startCaddy.
 */
function caddySiteFromDoc({ dir, httpsPort, upstreamPort, cert, key }) {
  return replaceAll(
    docBlock('caddyfile', '/etc/caddy/Caddyfile'),
    [
      ['meet.example.com {', `https://127.0.0.1:${httpsPort} {\n    bind 127.0.0.1\n    tls ${cert} ${key}`],
      ['/var/log/caddy/confab.access.log', path.join(dir, 'confab.access.log')],
      ['reverse_proxy 127.0.0.1:7880', `reverse_proxy 127.0.0.1:${upstreamPort}`],
    ],
    'Caddyfile',
  );
}

/** The test servers' configuration with the `trusted_proxies` line of the doc's confab.toml. */
function serverConfigFromDoc() {
  const toml = docBlock('toml', '/etc/confab/confab.toml');
  const lines = toml.split('\n').filter((l) => /^trusted_proxies\s*=/.test(l));
  assert.equal(lines.length, 1, `the confab.toml in ${DOC} should set trusted_proxies once`);
  assert.match(toml, /^\[http\]\n(#.*\n)*trusted_proxies\s*=/m, 'trusted_proxies is in [http]');
  return `${TEST_CONFIG}\n[http]\n${lines[0]}\n`;
}

/**
 * An http(s) request, trusting only `ca`, from the local address `from` (any 127.x address is
 * this machine's loopback). Resolves to {status, headers, body}.
 */
function request(url, { ca, from, method = 'GET', headers = {}, body } = {}) {
  const client = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = client
      .request(url, { method, headers, timeout: 10_000, localAddress: from, ...(ca && { ca: readFileSync(ca) }) }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
      })
      .on('timeout', function () {
        this.destroy(new Error(`no answer from ${url} within 10 s`));
      })
      .on('error', reject);
    req.end(body);
  });
}

/** Where `page` receives `other`'s media from: the remote candidates of its connected pairs. */
const mediaPeers = async (page, other) => [...new Set((await nominatedPairs(page, other)).map(({ remote }) => `${remote.address}:${remote.port}`))];

/** (a) The Meet app's page through the proxy at `base`: `proxy` answers, with Confab's page and headers. */
async function assertHomePage(base, cert, proxy) {
  const home = await request(`${base}/`, { ca: cert });
  assert.equal(home.status, 200);
  assert.match(home.headers.server ?? '', proxy, 'the answer came through the proxy');
  assert.equal(home.headers['x-content-type-options'], 'nosniff', "Confab's own headers pass through");
  assert.match(home.headers['content-type'] ?? '', /^text\/html/);
  assert.match(home.body, /<title>Confab<\/title>/);
  assert.match(home.body, /<div id="app">/);
}

/**
 * (b) The client address Confab uses, behind the proxy at `base`. Sign-in guesses count per
 * client address and username (ten at once, then one every six seconds) and are logged with the
 * address, so they show which address Confab took:
 * - a client on 127.0.0.2 guesses through the proxy, with an X-Forwarded-For of its own making,
 *   until refused: Confab counts the address the proxy forwards, not the made-up one;
 * - a client on 127.0.0.3 then guesses the same username through the same proxy (same TCP peer,
 *   127.0.0.1) and is not refused: the limit is 127.0.0.2's, not the proxy's;
 * - 127.0.0.2 straight to Confab is refused (its own count), and 127.0.0.4 straight to Confab with
 *   `X-Forwarded-For: 127.0.0.2` is not (the header of an untrusted peer is ignored);
 * - Confab's log names 127.0.0.2, .3 and .4, never the proxy's 127.0.0.1 or the made-up address.
 */
async function assertForwardedClient(t, { base, cert, server, room }) {
  const direct = `http://127.0.0.1:${server.httpPort}`;
  const guess = (origin, from, forwardedFor) =>
    request(`${origin}/api/login`, {
      ca: cert,
      from,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(forwardedFor && { 'x-forwarded-for': forwardedFor }) },
      body: JSON.stringify({ room, username: 'mallory', password: 'guess', otp: '' }),
    });
  const MADE_UP = '203.0.113.50';
  const statuses = [];
  while (statuses.at(-1) !== 429 && statuses.length < 15) statuses.push((await guess(base, '127.0.0.2', MADE_UP)).status);
  assert.deepEqual(statuses, [...Array(10).fill(401), 429], 'ten guesses from 127.0.0.2 through the proxy, then refused');
  assert.equal((await guess(base, '127.0.0.3', MADE_UP)).status, 401, 'another client through the same proxy has guesses of its own');
  assert.equal((await guess(direct, '127.0.0.2')).status, 429, 'the guesses through the proxy counted for 127.0.0.2 itself');
  assert.equal((await guess(direct, '127.0.0.4', '127.0.0.2')).status, 401, 'X-Forwarded-For from an untrusted peer is ignored');

  const clients = await waitFor(
    () => {
      const found = [...readFileSync(server.logPath, 'utf8').matchAll(/sign-in refused.* client=(\S+)/g)].map((m) => m[1]);
      return found.length === statuses.length + 3 && found;
    },
    { timeout: 5000, message: `Confab's log (${server.logPath}) should have one "sign-in refused" line per guess` },
  );
  assert.deepEqual([...new Set(clients)], ['127.0.0.2', '127.0.0.3', '127.0.0.4'], 'the log names each client, not the proxy');
  const count = (a) => clients.filter((c) => c === a).length;
  t.diagnostic(`sign-ins refused in Confab's log: ${[...new Set(clients)].map((a) => `${count(a)} from ${a}`).join(', ')}`);
}

/**
 * (c) Two participants on <base>/<room>: the page connects its signalling to wss:// on the same
 * address, so through the proxy. Chromium trusts the one key `spki`, nothing else. Both decode
 * each other's video with media straight from Confab's media port; then the browsers leave.
 */
async function assertMeetingThrough(t, { base, spki, server, room, where }) {
  const proxied = { ...server, url: base, wsUrl: base.replace(/^https/, 'wss') };
  const browsers = {};
  for (const id of ['ada', 'bob']) {
    browsers[id] = await launchBrowser({ label: `${room}-${id}`, args: [`--ignore-certificate-errors-spki-list=${spki}`] });
    t.after(() => browsers[id].close());
  }
  const pages = {};
  try {
    await Promise.all(
      Object.keys(browsers).map(async (id) => {
        pages[id] = await openParticipant(browsers[id], proxied, { room, identity: id });
      }),
    );
    for (const [me, other] of [['ada', 'bob'], ['bob', 'ada']]) {
      const page = pages[me];
      assert.deepEqual(
        await page.evaluate(() => ({ origin: location.origin, secure: isSecureContext })),
        { origin: base, secure: true },
        `${me}'s page is the https one, a secure context (camera allowed)`,
      );
      await assertDecodes(page, me, other, { where });
      assert.deepEqual(await mediaPeers(page, other), [`127.0.0.1:${server.udpPort}`], `${me} gets media from Confab's media port, not through the proxy`);
    }
  } catch (err) {
    await screenshotAll(pages, `${room}-failure`);
    throw err;
  }
  // The proxies log a WebSocket when it closes.
  await Promise.all(Object.values(browsers).map((b) => b.close()));
}

/**
 * Waits for the proxy's access log `file` to have two lines that `upgraded` picks (the signalling
 * WebSockets, logged when they close) and returns them; asserts the log keeps no token.
 */
async function assertAccessLog(file, upgraded, proxy) {
  const upgrades = await waitFor(
    () => {
      const lines = readFileSync(file, 'utf8').split('\n').filter(upgraded);
      return lines.length >= 2 && lines;
    },
    { timeout: 10_000, message: `${proxy} should log both signalling WebSockets on /rtc` },
  ).catch((err) => {
    err.message += `; the access log:\n${readFileSync(file, 'utf8')}`;
    throw err;
  });
  const logged = readFileSync(file, 'utf8');
  assert.ok(!/access_token|token=|eyJ/.test(logged), `the access log keeps no tokens:\n${logged}`);
  return upgrades;
}

test('behind nginx terminating TLS: the Meet app over https, a meeting through the proxy, media direct', { timeout: 60_000 }, async (t) => {
  const room = 'behind-nginx';
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-proxy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { cert, key, spki } = selfSignedCert(dir);

  const server = await startServer({ label: 'server-behind-nginx', config: serverConfigFromDoc() });
  t.after(() => server.stop());
  const [httpsPort, plainPort] = [await freeTcpPort(), await freeTcpPort()];
  const nginx = await startNginx(t, {
    dir,
    port: httpsPort,
    label: 'nginx-proxy',
    // server.url, not httpPort: with CONFAB_WEB_DIST it is the front that serves that build.
    config: `http {\n${httpPaths(dir)}\n${nginxSiteFromDoc({ dir, httpsPort, plainPort, upstreamPort: new URL(server.url).port, cert, key })}\n}`,
  });
  const base = `https://127.0.0.1:${httpsPort}`;

  await assertHomePage(base, cert, /^nginx/);
  // Plain http is sent to https.
  const redirect = await fetch(`http://127.0.0.1:${plainPort}/${room}?name=Ada`, { redirect: 'manual' });
  assert.equal(redirect.status, 301);
  assert.equal(redirect.headers.get('location'), `https://127.0.0.1/${room}?name=Ada`);

  await assertForwardedClient(t, { base, cert, server, room });
  await assertMeetingThrough(t, { base, spki, server, room, where: 'behind nginx' });
  const upgrades = await assertAccessLog(path.join(dir, 'confab.access.log'), (l) => l.includes('"GET /rtc HTTP/1.1" 101 '), 'nginx');
  assert.deepEqual(await nginx.stop(), { code: 0, signal: null }, 'nginx stops cleanly');
  t.diagnostic(`signalling through nginx: ${upgrades.length} WebSocket(s) upgraded on /rtc`);
});

test('behind Caddy terminating TLS: the Meet app over https, a meeting through the proxy, media direct', { timeout: 60_000 }, async (t) => {
  const room = 'behind-caddy';
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-proxy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const { cert, key, spki } = selfSignedCert(dir);

  const server = await startServer({ label: 'server-behind-caddy', config: serverConfigFromDoc() });
  t.after(() => server.stop());
  const httpsPort = await freeTcpPort();
  const caddy = await startCaddy(t, {
    dir,
    port: httpsPort,
    label: 'caddy-proxy',
    sites: caddySiteFromDoc({ dir, httpsPort, upstreamPort: new URL(server.url).port, cert, key }),
  });
  const base = `https://127.0.0.1:${httpsPort}`;

  await assertHomePage(base, cert, /^Caddy$/);
  await assertForwardedClient(t, { base, cert, server, room });
  await assertMeetingThrough(t, { base, spki, server, room, where: 'behind Caddy' });
  // Caddy's access log is JSON, one request a line, an upgraded one when it closes. Debian's Caddy
  // (2.6) writes the 101 on the hijacked connection, past what its log sees: it logs status 0.
  const upgraded = (line) => {
    try {
      const { request: r, status, resp_headers: h } = JSON.parse(line);
      return r.method === 'GET' && r.uri === '/rtc' && [0, 101].includes(status) && h.Upgrade?.[0] === 'websocket';
    } catch {
      return false;
    }
  };
  const upgrades = await assertAccessLog(path.join(dir, 'confab.access.log'), upgraded, 'Caddy');
  assert.deepEqual(await caddy.stop(), { code: 0, signal: null }, 'Caddy stops cleanly');
  t.diagnostic(`signalling through Caddy: ${upgrades.length} WebSocket(s) upgraded on /rtc`);
});
