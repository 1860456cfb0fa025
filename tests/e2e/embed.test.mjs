// The embedding API (/external_api.js, ConfabMeetExternalAPI; docs/embedding.md): a page on
// another origin puts a meeting into an iframe, hears its events, and drives it with commands,
// while frames of other origins (and of the page's own origin) cannot.
//
// Run: node --test tests/e2e/embed.test.mjs   (with CONFAB_WEB_DIST=web/dist to test a web build
// without rebuilding the server)

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { FAILURE_PAGES, launchBrowser, logPage, openParticipant, screenshotAll, serveStatic, sleep, startServer, TEST_CONFIG, token, waitFor } from './lib.mjs';

const EVENTS = [
  'videoConferenceJoined',
  'videoConferenceLeft',
  'participantJoined',
  'participantLeft',
  'audioMuteStatusChanged',
  'videoMuteStatusChanged',
  'incomingMessage',
  'displayNameChange',
  'readyToClose',
  'recordingStatusChanged',
  'error',
];

/** The embedding page, as a site would write it; `start()` is called by the test with the options. */
const hostPage = (confabUrl) => `<!doctype html>
<meta charset="utf-8">
<title>Embedding host</title>
<div id="meet" style="width: 960px; height: 560px"></div>
<script src="${confabUrl}/external_api.js"></script>
<script>
  window.events = [];
  window.start = (domain, options) => {
    window.api = new ConfabMeetExternalAPI(domain, { ...options, parentNode: document.getElementById('meet') });
    for (const name of ${JSON.stringify(EVENTS)}) api.on(name, (data) => events.push({ name, data }));
  };
  // The intruder frames say when they have posted their commands.
  window.intruderReports = [];
  addEventListener('message', (ev) => ev.data && ev.data.intruder && intruderReports.push(ev.data.intruder));
  window.addFrame = (src) => document.body.append(Object.assign(document.createElement('iframe'), { src }));
</script>
`;

/** A frame on the same page that tries to drive the meeting (the page's first frame). */
const intruderPage = `<!doctype html>
<meta charset="utf-8">
<script>
  const meeting = parent.frames[0];
  for (const name of ['toggleAudio', 'hangup']) meeting.postMessage({ confab: 1, type: 'command', name, data: [] }, '*');
  parent.postMessage({ intruder: location.origin }, '*');
</script>
`;

test('a page on another origin embeds a meeting: events, commands, and no commands from other frames', { timeout: 120_000 }, async (t) => {
  const started = Date.now();
  const dir = await mkdtemp(path.join(tmpdir(), 'confab-embed-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  // Different ports are different origins: the site that embeds, and a third party.
  const site = await serveStatic(dir);
  t.after(() => site.close());
  const other = await serveStatic(dir);
  t.after(() => other.close());
  // Only the operator's allowed origins may frame the app (its Content-Security-Policy).
  const config = `${TEST_CONFIG}[embed]\nallowed_origins = [${JSON.stringify(site.url)}]\n`;
  const server = await startServer({ label: 'server-embed', config });
  t.after(() => server.stop());
  await writeFile(path.join(dir, 'host.html'), hostPage(server.url));
  await writeFile(path.join(dir, 'intruder.html'), intruderPage);

  const room = 'Embedded Standup';
  const [hostBrowser, bobBrowser] = await Promise.all([launchBrowser({ label: 'embed-host' }), launchBrowser({ label: 'embed-bob' })]);
  t.after(() => hostBrowser.close());
  t.after(() => bobBrowser.close());
  const pages = {};
  try {
    const host = (pages.host = (await hostBrowser.browser.pages())[0] ?? (await hostBrowser.browser.newPage()));
    logPage(host, hostBrowser.log, 'host');
    await host.goto(`${site.url}/host.html`, { waitUntil: 'load' });

    const events = (name) => host.evaluate((n) => window.events.filter((e) => e.name === n).map((e) => e.data), name);
    const waitEvent = (name, pred = () => true, timeout = 10_000) =>
      waitFor(async () => (await events(name)).find(pred), { timeout, message: `the host page should get ${name}` });

    // Alice joins through the embedding page: a LiveKit-format token given as `jwt`, no prejoin.
    const jwt = await token(server, { room, identity: 'alice', name: 'Alice', grants: { canUpdateOwnMetadata: true } });
    const domain = new URL(server.url).host; // "127.0.0.1:port": http because the script came over http
    await host.evaluate((domain, room, jwt) => window.start(domain, { roomName: room, jwt, width: 960, height: 560, userInfo: { displayName: 'Alice' } }), domain, room, jwt);
    const frame = await host.evaluate(() => {
      const f = window.api.getIFrame();
      return { src: f.src, allow: f.getAttribute('allow'), inPage: document.getElementById('meet').contains(f) };
    });
    assert.ok(frame.inPage, 'the iframe goes into parentNode');
    assert.ok(frame.src.startsWith(`${server.url}/${encodeURIComponent(room)}?`), `iframe URL ${frame.src}`);
    const q = new URL(frame.src).searchParams;
    assert.equal(q.get('parentOrigin'), site.url);
    assert.equal(q.get('embed'), '1');
    assert.equal(q.get('token'), jwt, 'a LiveKit-format token is passed as ?token=');
    assert.match(frame.allow, /camera/);
    assert.match(frame.allow, /microphone/);

    const joined = await waitEvent('videoConferenceJoined', () => true, 20_000).catch(async (err) => {
      const meeting = host.frames().find((f) => f.url().startsWith(server.url));
      const failure = await meeting?.evaluate((sel) => document.querySelector(sel)?.textContent, FAILURE_PAGES).catch(() => undefined);
      throw new Error(`${err.message}${failure ? `; the meeting shows: ${failure}` : ''}`);
    });
    assert.deepEqual(joined, { roomName: room, id: 'alice', displayName: 'Alice' });
    const joinedMs = Date.now() - started;
    // The state she joined with: microphone on.
    await waitEvent('audioMuteStatusChanged', (d) => d.muted === false);

    // Bob joins the plain Meet app, without devices: the host page hears of him.
    const bob = (pages.bob = await openParticipant(bobBrowser, server, { room, identity: 'bob', name: 'Bob', camera: false, mic: false }));
    assert.deepEqual(await waitEvent('participantJoined', (d) => d.id === 'bob'), { id: 'bob', displayName: 'Bob' });
    assert.equal(await host.evaluate(() => window.api.getNumberOfParticipants()), 2);

    /** Alice as Bob's page sees her: present, and whether her microphone is muted. */
    const aliceSeenByBob = () =>
      bob.evaluate(() => {
        const p = window.confab.room.remoteParticipants.get('alice');
        if (!p) return { present: false };
        const mic = p.getTrackPublication('microphone');
        return { present: true, name: p.name, micPublished: !!mic, micMuted: !!mic?.isMuted };
      });
    await waitFor(async () => {
      const a = await aliceSeenByBob();
      return a.micPublished && !a.micMuted;
    }, { message: "Bob should see Alice's microphone on" });

    // Frames that are not the embedding page post commands to the meeting: one from a third
    // origin, one from the page's own origin. Neither may do anything.
    await host.evaluate((a, b) => {
      window.addFrame(`${a}/intruder.html`);
      window.addFrame(`${b}/intruder.html`);
    }, other.url, site.url);
    const reports = await waitFor(async () => {
      const r = await host.evaluate(() => window.intruderReports);
      return r.length === 2 && r;
    }, { message: 'both intruder frames should have posted' });
    assert.deepEqual([...reports].sort(), [other.url, site.url].sort());
    await sleep(2000);
    const afterIntruders = await aliceSeenByBob();
    assert.ok(afterIntruders.present && afterIntruders.micPublished && !afterIntruders.micMuted, `intruders changed nothing: ${JSON.stringify(afterIntruders)}`);
    assert.equal((await events('audioMuteStatusChanged')).length, 1, 'no mute change from the intruders');
    assert.equal((await events('videoConferenceLeft')).length, 0, 'no hang-up from the intruders');

    // The page's own commands work: mute...
    await host.evaluate(() => window.api.executeCommand('toggleAudio'));
    await waitEvent('audioMuteStatusChanged', (d) => d.muted === true);
    await waitFor(async () => (await aliceSeenByBob()).micMuted, { message: "Bob should see Alice's microphone muted" });
    assert.equal(await host.evaluate(() => window.api.isAudioMuted()), true);

    // ...chat both ways...
    await host.evaluate(() => window.api.executeCommand('sendChatMessage', 'hello from the embedding page'));
    await waitFor(
      () => bob.evaluate(() => [...document.querySelectorAll('.chat-line .chat-text')].some((e) => e.textContent === 'hello from the embedding page')),
      { message: "Bob's chat should show the message sent by command" },
    );
    await bob.evaluate(() => window.confab.room.localParticipant.sendText('hi Alice', { topic: 'lk.chat' }));
    const incoming = await waitEvent('incomingMessage');
    assert.deepEqual({ from: incoming.from, nick: incoming.nick, message: incoming.message }, { from: 'bob', nick: 'Bob', message: 'hi Alice' });

    // ...the display name...
    await host.evaluate(() => window.api.executeCommand('displayName', 'Alice (embedded)'));
    await waitFor(async () => (await aliceSeenByBob()).name === 'Alice (embedded)', { message: "Bob should see Alice's new name" });

    // ...recording, which her token does not allow: the server's refusal, both ways Jitsi tells it.
    const refused = 'the token lacks the roomRecord grant';
    await host.evaluate(() => window.api.executeCommand('startRecording', { mode: 'file' }));
    assert.deepEqual(await waitEvent('error', (d) => d.command === 'startRecording'), { command: 'startRecording', message: refused });
    assert.deepEqual(await events('recordingStatusChanged'), [{ on: false, mode: 'file', error: refused }]);

    // Someone leaving: Bob leaves.
    await bob.evaluate(() => window.confab.leave());
    await waitEvent('participantLeft', (d) => d.id === 'bob');
    assert.equal(await host.evaluate(() => window.api.getNumberOfParticipants()), 1);
    // He comes back (to watch Alice hang up).
    await openParticipant(bobBrowser, server, { room, identity: 'bob', name: 'Bob', camera: false, mic: false });
    await waitFor(async () => (await events('participantJoined')).filter((d) => d.id === 'bob').length === 2, {
      message: 'the host page should get participantJoined for Bob again',
    });
    await waitFor(async () => (await aliceSeenByBob()).present, { message: 'Bob should see Alice again' });

    // Hang up: the page is told, and Bob sees Alice go.
    await host.evaluate(() => window.api.executeCommand('hangup'));
    await waitEvent('videoConferenceLeft', (d) => d.roomName === room);
    await waitEvent('readyToClose');
    await waitFor(async () => !(await aliceSeenByBob()).present, { message: 'Bob should see Alice leave' });

    await host.evaluate(() => window.api.dispose());
    assert.equal(await host.evaluate(() => document.querySelectorAll('#meet iframe').length), 0, 'dispose removes the iframe');
    t.diagnostic(`joined in ${joinedMs} ms from the test's start; whole test ${Date.now() - started} ms`);
  } catch (err) {
    await screenshotAll(pages, 'embed-failure');
    throw err;
  }
});
