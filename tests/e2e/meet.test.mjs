// Browser end-to-end tests of the Meet app through its real UI: people open a room URL, pass the
// prejoin screen, and use the meeting the way a person would (click, type, press keys). The
// assertions read what is on screen, not the SDK's state.
//
// Screenshots and figures go to artifacts/e2e/meet/.
// Run: node --test --test-concurrency=1 tests/e2e/meet.test.mjs   (see scripts/test)

import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import {
  ARTIFACTS,
  REPO,
  launchBrowser,
  logPage,
  screenshotAll,
  serveStatic,
  sleep,
  startServer,
  token,
  waitFor,
  writeWav,
} from './lib.mjs';

const TEST_TIMEOUT = 300_000;
const OUT = path.join(ARTIFACTS, 'meet');

async function shot(page, name) {
  mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Opens `/<room><query>` in the browser's first tab. */
async function open(tb, server, room, query = '') {
  const [existing] = await tb.browser.pages();
  const page = existing ?? (await tb.browser.newPage());
  logPage(page, tb.log, tb.label);
  await page.goto(`${server.url}/${encodeURIComponent(room)}${query}`, { waitUntil: 'load' });
  return page;
}

const onPage = (page, name) => page.$(`[data-page="${name}"]`).then(Boolean);

async function waitPage(page, name, timeout = 15_000) {
  try {
    await waitFor(() => onPage(page, name), { timeout, message: `should show the ${name} page` });
  } catch (err) {
    const showing = await page.evaluate(() => document.querySelector('[data-page]')?.dataset.page).catch(() => '?');
    throw new Error(`${err.message}; showing the ${showing} page`);
  }
}

/** Opens the chat panel unless it is open already (the C key or the button toggle it). */
async function openChat(page) {
  if (!(await isOpen(page, '#chat-panel'))) await page.click('#tb-chat');
  await waitFor(() => isOpen(page, '#chat-input'), { timeout: 2000, message: 'the chat should open' });
}

/** Passes the prejoin screen as a person does: waits for the own preview, types a name, clicks Join. */
async function passPrejoin(page, name, { screenshot } = {}) {
  await waitPage(page, 'prejoin');
  await waitFor(() => page.evaluate(() => document.querySelector('.preview-video')?.videoWidth > 0), {
    timeout: 10_000,
    message: 'the camera preview should show video',
  });
  const input = await page.$('#display-name');
  await input.click({ clickCount: 3 });
  await input.type(name);
  if (screenshot) {
    // Let the level meter catch the (fake) microphone's beep.
    await waitFor(() => page.evaluate(() => parseFloat(document.querySelector('.meter-fill')?.style.width) > 5), {
      timeout: 5000,
      message: 'the microphone level meter should move',
    });
    await shot(page, screenshot);
  }
  await page.click('#join');
  await waitPage(page, 'meeting');
}

/** What a tile of `name` shows: video playing (frame counter), muted icon, hand badge. */
function tileInfo(page, name, source = 'camera') {
  return page.evaluate(
    (name, source) => {
      const tile = [...document.querySelectorAll(`.tile[data-source="${source}"]`)].find((t) => t.dataset.name === name);
      if (!tile) return null;
      const visible = (el) => !!el && el.getClientRects().length > 0 && getComputedStyle(el).visibility !== 'hidden';
      const video = tile.querySelector('video');
      const hand = tile.querySelector('.hand-badge');
      return {
        place: tile.parentElement?.className,
        videoVisible: visible(video),
        width: video.videoWidth,
        frames: video.getVideoPlaybackQuality().totalVideoFrames,
        micMutedIcon: visible(tile.querySelector('.mic-state')),
        hand: visible(hand) ? hand.textContent : '',
        quality: tile.querySelector('.quality')?.dataset.quality,
      };
    },
    name,
    source,
  );
}

/** Waits until `page` shows `name`'s tile with video that keeps moving. */
async function seesLiveVideo(page, who, name, source = 'camera', timeout = 15_000) {
  const first = await waitFor(
    async () => {
      const t = await tileInfo(page, name, source);
      return t?.videoVisible && t.width > 0 && t.frames > 0 && t;
    },
    { timeout, message: `${who} should see ${name}'s ${source} video` },
  );
  await waitFor(async () => (await tileInfo(page, name, source)).frames > first.frames + 3, {
    timeout: 5000,
    message: `${who}: ${name}'s ${source} video should keep playing`,
  });
}

/** The chat as read on screen: [{name, text}], with follow-up lines credited to the name above. */
function chatLines(page) {
  return page.evaluate(() => {
    let name = '';
    return [...document.querySelectorAll('.chat-line')].map((li) => {
      name = li.querySelector('.chat-name')?.textContent ?? name;
      return { name, text: li.querySelector('.chat-text').textContent };
    });
  });
}

const isOpen = (page, sel) => page.evaluate((sel) => !!document.querySelector(sel)?.getClientRects().length, sel);

test('people meet through the UI: prejoin, video, mute, chat, hand, screen share, views, interop, leave', { timeout: TEST_TIMEOUT }, async (t) => {
  const server = await startServer({ label: 'server-meet' });
  t.after(() => server.stop());
  const room = 'Design Review';
  const figures = {};
  const deferred = [];
  const browsers = {};
  const pages = {};
  const launch = async (id, opts) => {
    browsers[id] = await launchBrowser({ label: id, ...opts });
    t.after(() => browsers[id].close());
    return browsers[id];
  };

  await launch('A');
  await launch('B');
  try {
    // Two people open the same room URL and pass the prejoin screen.
    pages.A = await open(browsers.A, server, room);
    pages.B = await open(browsers.B, server, room);
    await passPrejoin(pages.A, 'Alice', { screenshot: 'prejoin' });
    await passPrejoin(pages.B, 'Bob');
    const { A, B } = pages;
    assert.equal(await A.evaluate(() => document.querySelector('.room-name').textContent), room);

    // Each sees the other's tile with live video.
    await seesLiveVideo(A, 'Alice', 'Bob');
    await seesLiveVideo(B, 'Bob', 'Alice');
    assert.equal((await tileInfo(B, 'Alice')).quality !== undefined, true, 'a connection indicator on the tile');

    // Alice mutes: Bob sees the muted icon on her tile within 2 s.
    assert.equal((await tileInfo(B, 'Alice')).micMutedIcon, false, 'Alice starts unmuted');
    const muteAt = Date.now();
    await A.click('#tb-mic');
    await waitFor(async () => (await tileInfo(B, 'Alice')).micMutedIcon, { timeout: 2000, interval: 50, message: "Bob should see Alice's muted icon within 2 s" });
    figures.muteVisibleToOthersMs = Date.now() - muteAt;
    assert.equal(await A.$eval('#tb-mic', (b) => b.getAttribute('aria-pressed')), 'true', "Alice's own mic button shows muted");

    // Alice chats: Bob gets an unread badge, opens the chat and reads it under her name.
    await openChat(A);
    await A.type('#chat-input', 'Hello Bob, can you see my slides?');
    await A.keyboard.press('Enter');
    await waitFor(() => B.evaluate(() => document.querySelector('#tb-chat .badge:not([hidden])')?.textContent === '1'), {
      timeout: 5000,
      message: 'Bob should see one unread message on the chat button',
    });
    await B.keyboard.press('c');
    await waitFor(async () => (await chatLines(B)).some((l) => l.name === 'Alice' && l.text === 'Hello Bob, can you see my slides?'), {
      timeout: 3000,
      message: "Bob should read Alice's message under her name",
    });
    assert.equal(await isOpen(B, '#tb-chat .badge:not([hidden])'), false, 'the badge clears once the chat is open');
    await B.type('#chat-input', 'Yes, loud and clear.');
    await B.keyboard.press('Enter');
    await waitFor(async () => (await chatLines(A)).some((l) => l.name === 'Bob' && l.text === 'Yes, loud and clear.'), {
      timeout: 5000,
      message: "Alice should read Bob's reply",
    });

    // Bob raises his hand (R, after stepping out of the chat box): Alice sees it on his tile and
    // first in the participants pane.
    await B.evaluate(() => document.activeElement?.blur());
    await B.keyboard.press('r');
    await waitFor(async () => (await tileInfo(A, 'Bob')).hand.includes('1'), { timeout: 5000, message: "Alice should see Bob's raised hand" });
    await A.click('#tb-participants');
    const firstInPane = await A.$eval('.people-list .person', (li) => ({ name: li.dataset.name, hand: li.dataset.hand }));
    assert.deepEqual(firstInPane, { name: 'Bob', hand: '1' }, 'Bob heads the participants pane with hand 1');
    await A.click('#tb-participants');

    // Alice sends a reaction: it floats over her tile on Bob's screen.
    await A.click('#tb-reactions');
    await A.click('.reactions-popup [data-emoji="👍"]');
    await waitFor(
      () => B.evaluate(() => [...document.querySelectorAll('.tile[data-source="camera"]')].find((t) => t.dataset.name === 'Alice')?.querySelector('.floating-reaction')?.textContent === '👍'),
      { timeout: 3000, interval: 100, message: "Bob should see Alice's 👍 float over her tile" },
    );

    // Alice shares her screen: Bob's stage shows it.
    await A.click('#tb-screen');
    await waitFor(async () => (await tileInfo(B, 'Alice', 'screen'))?.place === 'stage', { timeout: 10_000, message: "Bob's stage should show Alice's screen" });
    await seesLiveVideo(B, 'Bob', 'Alice', 'screen');
    await shot(B, 'stage-screen-share');

    // Tile view and back, with the keyboard (W) and with the toolbar button.
    await B.keyboard.press('w');
    await waitFor(() => B.$eval('.conference', (c) => c.dataset.view === 'tile'), { timeout: 2000, message: 'W should switch Bob to tile view' });
    assert.equal(await B.$$eval('.grid .tile', (t) => t.length), 3, 'tile view shows both cameras and the screen');
    await B.click('#tb-view');
    await waitFor(async () => (await tileInfo(B, 'Alice', 'screen'))?.place === 'stage', { timeout: 2000, message: 'back in stage view the screen is on stage' });

    // The shortcuts help opens with ? and closes with Escape.
    await B.keyboard.press('?');
    assert.equal(await isOpen(B, '#shortcuts-dialog[open]'), true, '? opens the shortcuts');
    await B.keyboard.press('Escape');
    assert.equal(await isOpen(B, '#shortcuts-dialog[open]'), false, 'Escape closes them');

    // Interop: a plain livekit-client page (not our UI) chats with the meeting both ways.
    await interop(t, server, room, { A, B });
    await B.bringToFront();
    await shot(B, 'chat-open');

    // Alice stops sharing: it ends for Bob too. (Checked at the end if it fails, so that one
    // missing server feature does not hide the rest of the meeting.)
    await A.click('#tb-screen');
    await waitFor(async () => !(await A.$('.tile[data-source="screen"]')), { timeout: 5000, message: "Alice's own screen tile should go" });
    await waitFor(async () => !(await tileInfo(B, 'Alice', 'screen')), { timeout: 10_000, message: "Alice's screen should leave Bob's view when she stops sharing" }).catch(
      (err) => deferred.push(err.message),
    );

    // Two more people come in straight from a link (?skipPrejoin=1&name=...).
    // Carol's fake microphone plays a steady tone instead of Chromium's 20 ms beeps, so that she
    // counts as speaking.
    const tone = path.join(OUT, 'tone.wav');
    writeToneWav(tone);
    await launch('C', { args: [`--use-file-for-fake-audio-capture=${tone}`] });
    await launch('D', { viewport: { width: 390, height: 844, deviceScaleFactor: 2, isMobile: true, hasTouch: true } });
    figures.skipPrejoinJoin = [];
    for (const [id, name] of [['C', 'Carol'], ['D', 'Dan']]) {
      const started = Date.now();
      pages[id] = await open(browsers[id], server, room, `?skipPrejoin=1&name=${name}`);
      await waitFor(() => pages[id].evaluate(() => window.confab.state().connected && !!document.querySelector('[data-page="meeting"]')), {
        timeout: 15_000,
        interval: 50,
        message: `${name} should be in the meeting`,
      });
      const wallMs = Date.now() - started;
      const pageMs = await pages[id].evaluate(() => window.confab.joinedMs);
      figures.skipPrejoinJoin.push({ who: name, openToInMeetingMs: wallMs, navigationToMeetingMs: pageMs });
      console.log(`${name}: room URL to in the meeting with ?skipPrejoin=1: ${wallMs} ms (page: navigation start to meeting ${pageMs} ms)`);
    }
    const { C, D } = pages;

    // Four people: automatic layout is tile view with everyone's video. (A tile scrolled out of
    // the filmstrip gets no video at all with adaptive stream, so Dan's phone must be in tile view
    // to see everyone; the view switch lives in its More menu.)
    if ((await D.$eval('.conference', (c) => c.dataset.view)) !== 'tile') {
      await D.click('#tb-more');
      await D.click('#menu-view');
      await waitFor(() => D.$eval('.conference', (c) => c.dataset.view === 'tile'), { timeout: 2000, message: 'the More menu should switch Dan to tile view' });
    }
    for (const [page, who] of [[A, 'Alice'], [D, 'Dan']]) {
      for (const name of ['Alice', 'Bob', 'Carol', 'Dan'].filter((n) => n !== who)) await seesLiveVideo(page, who, name, 'camera', 20_000);
    }
    assert.equal(await A.$eval('.conference', (c) => c.dataset.view), 'tile');
    assert.equal(await A.$$eval('.grid .tile', (t) => t.length), 4);
    // Carol talks (her tone): Alice sees the active-speaker outline on Carol's tile.
    await waitFor(() => A.$$eval('.tile.speaking', (ts) => ts.map((t) => t.dataset.name).join() === 'Carol'), {
      timeout: 10_000,
      message: "Alice should see Carol's tile highlighted as the active speaker (server speaker updates)",
    }).catch((err) => deferred.push(err.message));
    // Connection quality shows "unknown" until the server reports one.
    await waitFor(async () => ['excellent', 'good', 'poor'].includes((await tileInfo(A, 'Bob')).quality), {
      timeout: 10_000,
      message: "Alice should see a connection quality for Bob's tile (server connection_quality updates)",
    }).catch((err) => deferred.push(err.message));
    await sleep(500);
    await shot(A, 'tile-view-4');
    // Phone: everything fits on a 390×844 screen, the toolbar included.
    const phone = await D.evaluate(() => {
      const bar = document.querySelector('.toolbar').getBoundingClientRect();
      const tiles = [...document.querySelectorAll('.tile')].map((t) => t.getBoundingClientRect());
      return {
        scrollWidth: document.documentElement.scrollWidth,
        toolbarRight: bar.right,
        toolbarBottom: bar.bottom,
        tilesInside: tiles.every((r) => r.left >= 0 && r.right <= innerWidth + 1 && r.bottom <= bar.top + 1),
        buttons: [...document.querySelectorAll('.toolbar button')].filter((b) => b.getClientRects().length).map((b) => b.getBoundingClientRect().width),
      };
    });
    await shot(D, 'phone-390x844');
    assert.ok(phone.scrollWidth <= 390 && phone.toolbarRight <= 390 && phone.toolbarBottom <= 844, `phone layout fits: ${JSON.stringify(phone)}`);
    assert.ok(phone.tilesInside, 'tiles stay inside the screen, above the toolbar');
    assert.ok(phone.buttons.every((w) => w >= 40), 'toolbar buttons stay finger-sized');
    // On the phone, the screen-share control lives in the More menu.
    await D.click('#tb-more');
    assert.equal(await isOpen(D, '#menu-screen'), true, 'More menu offers screen sharing on a phone');
    await D.keyboard.press('Escape');

    // Alice leaves: she sees the goodbye page with a way back; the others see her go.
    await A.click('#tb-leave');
    await waitPage(A, 'left');
    assert.equal(await A.$$eval('button', (bs) => bs.some((b) => b.textContent === 'Rejoin')), true, 'a Rejoin button');
    for (const [page, who] of [[B, 'Bob'], [C, 'Carol'], [D, 'Dan']]) {
      await waitFor(async () => !(await tileInfo(page, 'Alice')), { timeout: 10_000, message: `${who} should see Alice gone` });
      await waitFor(() => page.$eval('.meeting-bar .count', (c) => c.textContent === '3'), { timeout: 5000, message: `${who}'s count should drop to 3` });
    }

    figures.bundle = await bundleSize(server);
    writeFigures(figures);
    console.log(`meet figures: ${JSON.stringify(figures)}`);
    assert.deepEqual(deferred, [], 'checks that failed along the way');
  } catch (err) {
    await screenshotAll(pages, 'meet-failure');
    throw err;
  }
});

/**
 * A plain livekit-client participant, loaded from a static page of our own (no CDN): its chat
 * (sendText on lk.chat) shows in our UI under its name, and our UI's message reaches it.
 */
async function interop(t, server, room, { A, B }) {
  const fixtures = await serveStatic(path.join(REPO, 'tests/e2e/fixtures'), {
    files: { '/livekit-client.umd.js': path.join(REPO, 'web/node_modules/livekit-client/dist/livekit-client.umd.js') },
  });
  t.after(() => fixtures.close());
  const tb = await launchBrowser({ label: 'plain' });
  try {
    const page = (await tb.browser.pages())[0];
    logPage(page, tb.log, 'plain');
    const jwt = await token(server, { room, identity: 'plain-client', name: 'Plain Client' });
    // v0 signalling (two peer connections) from the start: see the fixture for why.
    const q = new URLSearchParams({ url: server.wsUrl, token: jwt, singlePeerConnection: '0' });
    await page.goto(`${fixtures.url}/plain-client.html?${q}`, { waitUntil: 'load' });
    assert.equal(await page.evaluate(() => window.joined), true, 'the plain client should connect');
    await waitFor(async () => (await tileInfo(A, 'Plain Client')) !== null, { timeout: 10_000, message: 'Alice should see the plain client join' });

    await page.evaluate(() => window.sendChat('Hi from a plain livekit-client page'));
    for (const [p, who] of [[A, 'Alice'], [B, 'Bob']]) {
      await waitFor(async () => (await chatLines(p)).some((l) => l.name === 'Plain Client' && l.text === 'Hi from a plain livekit-client page'), {
        timeout: 5000,
        message: `${who} should read the plain client's chat message under its name`,
      });
    }
    await openChat(A);
    await A.type('#chat-input', 'Welcome, plain client!');
    await A.keyboard.press('Enter');
    const aliceId = await A.evaluate(() => window.confab.state().identity);
    const got = await waitFor(() => page.evaluate(() => window.received.find((m) => m.text === 'Welcome, plain client!')), {
      timeout: 5000,
      message: "the plain client should receive Alice's chat message",
    });
    assert.equal(got.from, aliceId, 'attributed to Alice');
  } finally {
    await tb.close();
  }
  await waitFor(async () => (await tileInfo(A, 'Plain Client')) === null, { timeout: 15_000, message: 'the plain client should be gone' });
}

/** A 3 s, 440 Hz tone at about -12 dBFS (16-bit mono 48 kHz WAV), for a microphone that talks. */
function writeToneWav(file) {
  writeWav(file, 3, (t) => (8000 / 32767) * Math.sin(2 * Math.PI * 440 * t));
}

/** Merges `figures` into artifacts/e2e/meet/figures.json (each test adds its own). */
function writeFigures(figures) {
  mkdirSync(OUT, { recursive: true });
  const file = path.join(OUT, 'figures.json');
  let old = {};
  try {
    old = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    // first writer
  }
  writeFileSync(file, JSON.stringify({ ...old, ...figures }, null, 2));
}

/** Size of the JavaScript and CSS the server sends for the app, raw and gzipped. */
async function bundleSize(server) {
  const html = await (await fetch(`${server.url}/`)).text();
  const out = { files: {}, totalBytes: 0, totalGzipBytes: 0 };
  for (const [, src] of html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)) {
    const body = Buffer.from(await (await fetch(`${server.url}${src}`)).arrayBuffer());
    const gz = gzipSync(body, { level: 9 }).length;
    out.files[src] = { bytes: body.length, gzipBytes: gz };
    out.totalBytes += body.length;
    out.totalGzipBytes += gz;
  }
  return out;
}

test('failure pages a person understands, and the way home', { timeout: TEST_TIMEOUT }, async (t) => {
  const server = await startServer({ label: 'server-meet-failures' });
  t.after(() => server.stop());
  const tb = await launchBrowser({ label: 'X' });
  t.after(() => tb.close());
  // Headless Chromium without the fake permission UI refuses camera and microphone, as "Block" does.
  // Without media permission Chromium also hides its host addresses behind mDNS names, which a
  // network namespace with nothing but `lo` cannot resolve; show them, so only the block is tested.
  const blocked = await launchBrowser({
    label: 'blocked',
    omitArgs: ['--use-fake-ui-for-media-stream'],
    args: ['--disable-features=WebRtcHideLocalIpsWithMdns'],
  });
  t.after(() => blocked.close());
  const pages = {};
  try {
    // Home: type a room name and go; the room page names it.
    const page = (await tb.browser.pages())[0];
    pages.X = page;
    logPage(page, tb.log, 'X');
    await page.goto(`${server.url}/`, { waitUntil: 'load' });
    await waitPage(page, 'home');
    await page.type('#room-name', 'Team Sync');
    await Promise.all([page.waitForNavigation(), page.click('#go')]);
    assert.equal(new URL(page.url()).pathname, '/Team%20Sync');
    await waitPage(page, 'prejoin');
    assert.equal(await page.$eval('.room-title', (e) => e.textContent), 'Team Sync');

    // An empty room name takes the suggested one.
    await page.goto(`${server.url}/`, { waitUntil: 'load' });
    const suggested = await page.$eval('#room-name', (i) => i.placeholder);
    await Promise.all([page.waitForNavigation(), page.click('#go')]);
    assert.equal(decodeURIComponent(new URL(page.url()).pathname.slice(1)), suggested);

    // Straight into a meeting from a link, on an otherwise idle machine: the time a person waits.
    const samples = [];
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      await page.goto(`${server.url}/quick-${i}?skipPrejoin=1&name=Quinn`, { waitUntil: 'load' });
      await waitFor(() => page.evaluate(() => window.confab.state().connected && !!document.querySelector('[data-page="meeting"]')), {
        timeout: 15_000,
        interval: 50,
        message: 'Quinn should be in the meeting',
      });
      samples.push({ openToInMeetingMs: Date.now() - started, navigationToMeetingMs: await page.evaluate(() => window.confab.joinedMs) });
    }
    const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const idle = {
      samples,
      medianOpenToInMeetingMs: median(samples.map((s) => s.openToInMeetingMs)),
      medianNavigationToMeetingMs: median(samples.map((s) => s.navigationToMeetingMs)),
    };
    console.log(`room URL to in the meeting with ?skipPrejoin=1, one browser alone: ${JSON.stringify(idle)}`);
    writeFigures({ skipPrejoinJoinAlone: idle });

    // Invalid room names.
    for (const bad of ['/a%2Fb', '/100%25', '/%E0%A4%A']) {
      await page.goto(`${server.url}${bad}`, { waitUntil: 'load' });
      await waitPage(page, 'invalid-room');
    }

    // A refused token (the server answers 401).
    await page.goto(`${server.url}/some-room?token=not-a-token`, { waitUntil: 'load' });
    await waitPage(page, 'refused');

    // Camera and microphone blocked: a page that says so, and joining without them works.
    const bp = (await blocked.browser.pages())[0];
    pages.blocked = bp;
    logPage(bp, blocked.log, 'blocked');
    await bp.goto(`${server.url}/quiet-room`, { waitUntil: 'load' });
    await waitPage(bp, 'permission-denied');
    await bp.$$eval('button', (bs) => bs.find((b) => b.textContent === 'Join without camera and microphone').click());
    await waitPage(bp, 'prejoin');
    await bp.type('#display-name', 'Mia');
    await bp.click('#join');
    await waitPage(bp, 'meeting');
    assert.equal(await bp.evaluate(() => window.confab.state().connected), true);
    assert.equal(await bp.$eval('#tb-mic', (b) => b.getAttribute('aria-pressed')), 'true', 'joined with the microphone off');

    // The server goes away: the person in the meeting sees the reconnecting banner, and a
    // person about to join sees that the server cannot be reached.
    await page.goto(`${server.url}/quiet-room`, { waitUntil: 'load' });
    await waitPage(page, 'prejoin');
    await page.type('#display-name', 'Xavier');
    // A crash, not a shutdown: a server shutting down politely tells clients to leave instead.
    server.child.kill('SIGKILL');
    await waitFor(() => isOpen(bp, '#reconnecting-banner'), { timeout: 15_000, message: 'the reconnecting banner should show' });
    await page.click('#join');
    await waitPage(page, 'unreachable');
  } catch (err) {
    await screenshotAll(pages, 'meet-failures');
    throw err;
  }
});
