// The Meet app as an installable app (PWA): Chromium finds it installable (manifest and service
// worker valid) and offers "Install app"; the service worker caches the app shell and never the
// API or signalling; with the server stopped, the app shell still opens from the service worker
// and says the server cannot be reached, instead of Chromium's network error page.
//
// Screenshots go to artifacts/e2e/pwa/.
// Run: node --test tests/e2e/pwa.test.mjs   (CONFAB_WEB_DIST=web/dist for a web build newer than the binary's)

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, launchBrowser, logPage, screenshotAll, startServer, waitFor } from './lib.mjs';

const OUT = path.join(ARTIFACTS, 'pwa');

const onPage = (page, name) => page.$(`[data-page="${name}"]`).then(Boolean);
const showing = (page) => page.evaluate(() => document.querySelector('[data-page]')?.dataset.page ?? null);

async function waitPage(page, name, timeout = 15_000) {
  try {
    await waitFor(() => onPage(page, name), { timeout, message: `should show the ${name} page` });
  } catch (err) {
    throw new Error(`${err.message}; showing the ${await showing(page).catch(() => '?')} page`);
  }
}

test('installable app: manifest, service worker, install button, app shell without the server', { timeout: 60_000 }, async (t) => {
  const server = await startServer({ label: 'server-pwa' });
  t.after(() => server.stop());
  // Without site engagement Chromium waits before it offers to install; the test has none.
  const tb = await launchBrowser({ label: 'pwa', args: ['--bypass-app-banner-engagement-checks'] });
  t.after(() => tb.close());
  const page = (await tb.browser.pages())[0];
  logPage(page, tb.log, 'pwa');
  const responses = [];
  page.on('response', (r) => responses.push({ path: new URL(r.url()).pathname, status: r.status(), fromSW: r.fromServiceWorker() }));
  try {
    // The server must serve the worker as JavaScript (not the app's index.html, as a binary built
    // before the worker existed does).
    const sw = await fetch(`${server.url}/sw.js`);
    assert.match(
      sw.headers.get('content-type') ?? '',
      /javascript/,
      'GET /sw.js should be JavaScript: build web/ and rebuild the server, or set CONFAB_WEB_DIST=web/dist',
    );

    await page.goto(`${server.url}/`, { waitUntil: 'load' });
    await waitPage(page, 'home');
    const worker = await page.evaluate(async () => {
      const reg = await navigator.serviceWorker.ready;
      // clients.claim() in activate: the page that registered it is controlled without a reload.
      for (let i = 0; i < 100 && !navigator.serviceWorker.controller; i++) await new Promise((r) => setTimeout(r, 50));
      return { scope: reg.scope, script: reg.active?.scriptURL, state: reg.active?.state, controlled: !!navigator.serviceWorker.controller };
    });
    assert.deepEqual(worker, { scope: `${server.url}/`, script: `${server.url}/sw.js`, state: 'activated', controlled: true });

    // Chromium's own verdict, as DevTools' Application panel shows it.
    const cdp = await page.createCDPSession();
    const manifest = await cdp.send('Page.getAppManifest');
    assert.deepEqual(manifest.errors, [], `manifest errors: ${JSON.stringify(manifest.errors)}`);
    const parsed = JSON.parse(manifest.data);
    assert.equal(parsed.name, 'Confab');
    assert.equal(parsed.display, 'standalone');
    const { installabilityErrors } = await cdp.send('Page.getInstallabilityErrors');
    assert.deepEqual(installabilityErrors, [], `installability errors: ${JSON.stringify(installabilityErrors)}`);

    // "Install app" shows once Chromium offers to install, and asks through the browser's prompt.
    await waitFor(() => page.$eval('#install-app', (b) => !b.hidden), { timeout: 10_000, message: 'the Install app button should show' });
    mkdirSync(OUT, { recursive: true });
    await page.screenshot({ path: path.join(OUT, 'home-install.png') });
    const prompted = await page.evaluate(async () => {
      // A stand-in for Chromium's event (whose dialog headless Chromium cannot answer).
      let asked = false;
      const ev = Object.assign(new Event('beforeinstallprompt', { cancelable: true }), {
        prompt: async () => void (asked = true),
        userChoice: Promise.resolve({ outcome: 'accepted' }),
      });
      window.dispatchEvent(ev);
      document.querySelector('#install-app').click();
      await new Promise((r) => setTimeout(r, 50));
      return { asked, defaultPrevented: ev.defaultPrevented, hiddenAfter: document.querySelector('#install-app').hidden };
    });
    assert.deepEqual(prompted, { asked: true, defaultPrevented: true, hiddenAfter: true });

    // Join a meeting under the worker: the API and signalling pass it by.
    await page.goto(`${server.url}/pwa-room?skipPrejoin=1&name=Pat`, { waitUntil: 'load' });
    await waitFor(() => page.evaluate(() => window.confab.state().connected), { timeout: 15_000, message: 'Pat should join the meeting' });
    await waitPage(page, 'meeting');
    const seen = (p) => responses.filter((r) => r.path === p || r.path.startsWith(p));
    assert.ok(seen('/api/settings').length > 0, 'the page should have asked for /api/settings');
    assert.ok(
      seen('/api/').every((r) => !r.fromSW),
      `API answers must come from the server: ${JSON.stringify(seen('/api/'))}`,
    );
    assert.ok(
      seen('/assets/').some((r) => r.fromSW),
      `the bundle should come from the worker's cache: ${JSON.stringify(seen('/assets/'))}`,
    );
    await page.evaluate(() => window.confab.leave());

    // The cache holds the app shell, and nothing of the API or signalling.
    const cached = await page.evaluate(async () => {
      const out = {};
      for (const name of await caches.keys()) {
        out[name] = (await (await caches.open(name)).keys()).map((r) => new URL(r.url).pathname).sort();
      }
      return out;
    });
    const names = Object.keys(cached);
    assert.equal(names.length, 1, `one cache: ${names}`);
    assert.match(names[0], /^confab-shell-[0-9a-f]{16}$/);
    const keys = cached[names[0]];
    for (const p of ['/index.html', '/manifest.webmanifest', '/icons/icon-192.png', '/icons/icon-512.png']) assert.ok(keys.includes(p), `${p} cached: ${keys}`);
    assert.ok(keys.some((p) => /^\/assets\/.+\.js$/.test(p)), `the bundle cached: ${keys}`);
    const forbidden = keys.filter((p) => /^\/(api|rtc|twirp)\b|external_api|healthz/.test(p));
    assert.deepEqual(forbidden, [], 'the API and signalling are never cached');

    // The server goes away: a room link and the start page still open, from the worker, and say so.
    await server.stop();
    for (const p of ['/pwa-room', '/']) {
      const res = await page.goto(`${server.url}${p}`, { waitUntil: 'load' });
      assert.ok(res?.fromServiceWorker(), `${p} should come from the service worker`);
      await waitPage(page, 'unreachable', 10_000);
      const text = await page.$eval('[data-page="unreachable"]', (e) => e.innerText);
      assert.match(text, /Cannot reach the Confab server/);
      assert.ok(text.includes(new URL(server.url).host), `the page names the server's address: ${text}`);
      const buttons = await page.$$eval('[data-page="unreachable"] button', (bs) => bs.map((b) => b.textContent));
      assert.deepEqual(buttons, ['Try again']);
    }
    await page.screenshot({ path: path.join(OUT, 'offline.png') });
    // The API is not answered from anywhere but the server.
    const api = await page.evaluate(() => fetch('/api/settings?room=pwa-room').then((r) => `HTTP ${r.status}`, () => 'network error'));
    assert.equal(api, 'network error');
    // Try again reloads, and still finds the server away.
    await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), page.click('[data-page="unreachable"] button')]);
    await waitPage(page, 'unreachable', 10_000);
  } catch (err) {
    await screenshotAll({ pwa: page }, 'pwa');
    throw err;
  }
});
