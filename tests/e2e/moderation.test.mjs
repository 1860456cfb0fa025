// Who may do what, in real browsers: a moderator with a Jitsi-format token from "the company's
// site", guests who wait for the host, mute all, kick with a reason, roles that survive a reload,
// and the room API driven by livekit-server-sdk as a company backend would.
//
// Run: node --test --test-concurrency=1 tests/e2e/moderation.test.mjs   (see scripts/test)

import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { test } from 'node:test';
import { DataPacket_Kind, Room as RoomProto, RoomServiceClient } from 'livekit-server-sdk';
import {
  TEST_CONFIG,
  launchBrowser,
  logPage,
  openParticipant,
  screenshotAll,
  sleep,
  startServer,
  state,
  stats,
  token,
  waitFor,
} from './lib.mjs';

const TEST_TIMEOUT = 240_000;
const APP_SECRET = randomBytes(24).toString('hex');

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A Jitsi-format token as a company's site issues it (HS256 with the shared app secret). */
function jitsiToken({ room, id, name, moderator }) {
  const header = b64url({ alg: 'HS256', typ: 'JWT' });
  const payload = b64url({
    iss: 'company-site',
    aud: 'confab',
    sub: 'meet.example.com',
    room,
    exp: Math.floor(Date.now() / 1000) + 3600,
    context: { user: { id, name, email: `${id}@example.com`, moderator } },
  });
  const sig = createHmac('sha256', APP_SECRET).update(`${header}.${payload}`).digest('base64url');
  return `${header}.${payload}.${sig}`;
}

async function openUrl(tb, url) {
  const [existing] = await tb.browser.pages();
  const page = existing ?? (await tb.browser.newPage());
  logPage(page, tb.log, tb.label);
  // "End the meeting for everyone?" and the like.
  page.on('dialog', (d) => void d.accept());
  await page.goto(url, { waitUntil: 'load' });
  return page;
}

const connected = (page) => page.evaluate(() => window.confab?.state().connected === true).catch(() => false);
const pageKind = (page) => page.evaluate(() => document.querySelector('[data-page]')?.dataset.page).catch(() => undefined);

async function openPeople(page) {
  const shown = await page.$eval('#participants-panel', (el) => el.offsetParent !== null).catch(() => false);
  if (!shown) await page.click('#tb-participants');
  await page.waitForSelector('#participants-panel', { visible: true, timeout: 5000 });
}

/** The participants pane row of `name`, as the page shows it. */
function row(page, name) {
  return page.evaluate((n) => {
    const li = document.querySelector(`#participants-panel .person[data-name="${CSS.escape(n)}"]`);
    if (!li) return undefined;
    return {
      moderator: !!li.querySelector('[data-role="moderator"]'),
      actions: [...li.querySelectorAll('[data-action]')].map((b) => b.dataset.action),
    };
  }, name);
}

/** Audio bytes `page` has received from `identity` (0 if none yet). */
const audioBytes = async (page, identity) => (await stats(page))[identity]?.audio?.bytesReceived ?? 0;

async function rises(read, ms = 3000) {
  const a = await read();
  await sleep(ms);
  return (await read()) - a;
}

test('moderator with a Jitsi token: waiting for the host, lobby, password, lock, mute all, kick, roles across reloads', { timeout: TEST_TIMEOUT }, async (t) => {
  const server = await startServer({
    label: 'moderation',
    config: `${TEST_CONFIG}[auth]\nmode = "secure"\n[auth.jwt]\naccepted_issuers = ["company-site"]\naccepted_audiences = ["confab"]\n`,
    env: { CONFAB_JWT_APP_SECRET: APP_SECRET },
  });
  const room = 'board-meeting';
  const jwt = jitsiToken({ room, id: 'alice', name: 'Alice Host', moderator: true });
  const browsers = await Promise.all(['host', 'guest-a', 'guest-b', 'guest-c'].map((label) => launchBrowser({ label })));
  const [hostB, aB, bB, cB] = browsers;
  const pages = {};
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const secrets = [jwt, APP_SECRET, server.apiSecret, password];
  try {
    // A guest before the host: secure mode keeps them waiting, and the page keeps asking.
    pages.a = await openUrl(aB, `${server.url}/${room}?skipPrejoin=1&name=Guest%20A`);
    await waitFor(async () => (await pageKind(pages.a)) === 'waiting-for-host', { message: 'guest A should wait for the host' });

    // The host arrives with the company's token and is a moderator.
    pages.host = await openUrl(hostB, `${server.url}/${room}?skipPrejoin=1&jwt=${jwt}`);
    await waitFor(() => connected(pages.host), { timeout: 20_000, message: 'the host should connect' });
    assert.equal((await state(pages.host)).identity, 'alice', 'the identity comes from the token');

    // Guest A gets in by itself once the host is there.
    await waitFor(() => connected(pages.a), { timeout: 20_000, message: 'guest A should join once the host is in' });

    // The host turns the lobby on; guests B and C knock; B is admitted and C denied.
    await openPeople(pages.host);
    await pages.host.waitForSelector('#lobby-toggle', { visible: true, timeout: 10_000 });
    await pages.host.click('#lobby-toggle');
    await waitFor(() => pages.host.$eval('#lobby-toggle', (el) => el.checked), { message: 'the lobby should be on' });
    pages.b = await openUrl(bB, `${server.url}/${room}?skipPrejoin=1&name=Guest%20B`);
    pages.c = await openUrl(cB, `${server.url}/${room}?skipPrejoin=1&name=Guest%20C`);
    for (const g of ['b', 'c']) await waitFor(async () => (await pageKind(pages[g])) === 'lobby', { message: `guest ${g} should wait in the lobby` });
    const knock = (name, action) =>
      pages.host.evaluate(
        (n, a) => {
          const button = document.querySelector(`.knock[data-name="${CSS.escape(n)}"] [data-action="${a}"]`);
          button?.click();
          return !!button;
        },
        name,
        action,
      );
    await waitFor(() => knock('Guest B', 'admit'), { message: 'the host should see guest B knock' });
    const admittedAt = Date.now();
    await waitFor(() => knock('Guest C', 'deny'), { message: 'the host should see guest C knock' });
    await waitFor(() => connected(pages.b), { timeout: 20_000, interval: 50, message: 'guest B should be let in' });
    t.diagnostic(`admit click to guest B connected: ${Date.now() - admittedAt} ms`);
    await waitFor(async () => (await pageKind(pages.c)) === 'denied', { message: 'guest C should be told no' });
    const [aId, bId] = [(await state(pages.a)).identity, (await state(pages.b)).identity];
    secrets.push(await pages.a.evaluate(() => window.confab.token), await pages.b.evaluate(() => window.confab.token));

    // A password instead of the lobby: a wrong one is refused, the right one lets guest C in.
    await pages.host.type('#password-input', password);
    await pages.host.click('#password-set');
    await waitFor(() => pages.host.$eval('.password-note', (el) => el.textContent === 'A password is set.'), { message: 'the password should be set' });
    await pages.host.click('#lobby-toggle');
    await waitFor(() => pages.host.$eval('#lobby-toggle', (el) => !el.checked), { message: 'the lobby should be off' });
    await pages.c.goto(`${server.url}/${room}?skipPrejoin=1&name=Guest%20C`, { waitUntil: 'load' });
    await waitFor(async () => (await pageKind(pages.c)) === 'password', { message: 'guest C should be asked for the password' });
    await pages.c.type('#room-password', 'not-it');
    await pages.c.click('#password-submit');
    await waitFor(() => pages.c.evaluate(() => document.querySelector('[data-page="password"] .detail')?.textContent === 'wrong password'), { message: 'a wrong password should be refused' });
    await pages.c.type('#room-password', password);
    await pages.c.click('#password-submit');
    await waitFor(() => connected(pages.c), { timeout: 20_000, message: 'the right password should let guest C in' });

    // Locked: nobody new gets in, not even with the password.
    await pages.host.click('#lock-toggle');
    await waitFor(() => pages.host.$eval('#lock-toggle', (el) => el.checked), { message: 'the meeting should be locked' });
    await pages.c.goto(`${server.url}/${room}?skipPrejoin=1&name=Guest%20C`, { waitUntil: 'load' });
    await waitFor(async () => (await pageKind(pages.c)) === 'locked', { message: 'a newcomer should find the meeting locked' });
    for (const g of ['a', 'b', 'c']) {
      const seen = JSON.stringify(await pages[g].evaluate(() => window.confab.messages));
      assert.ok(!seen.includes(password), `guest ${g} must never receive the room password`);
    }

    // The host sees moderator controls; a guest sees none.
    await openPeople(pages.host);
    await waitFor(async () => (await row(pages.host, 'Guest A'))?.actions.includes('remove'), { message: 'the host should have controls for guest A' });
    assert.equal((await row(pages.host, 'Alice Host'))?.moderator, true, 'the host is marked moderator');
    assert.equal(await pages.host.$eval('.moderator-bar', (el) => el.hidden), false);
    await openPeople(pages.a);
    await waitFor(async () => (await row(pages.a, 'Guest B')) !== undefined, { message: 'guest A should list guest B' });
    assert.deepEqual((await row(pages.a, 'Guest B')).actions, [], 'a guest gets no moderator controls');
    assert.equal(await pages.a.$eval('.moderator-bar', (el) => el.hidden), true);

    // Nor may a guest use the API with its own token: neither kick nor mute.
    const guestTry = (method, body) =>
      pages.a.evaluate(
        async (m, b) => {
          const res = await fetch(`/twirp/livekit.RoomService/${m}`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${window.confab.token}` },
            body: JSON.stringify(b),
          });
          return { status: res.status, code: (await res.json()).code };
        },
        method,
        body,
      );
    const bMic = await pages.a.evaluate((id) => window.confab.room.remoteParticipants.get(id)?.getTrackPublication('microphone')?.trackSid, bId);
    assert.ok(bMic, "guest A should see guest B's microphone");
    assert.deepEqual(await guestTry('RemoveParticipant', { room, identity: bId }), { status: 403, code: 'permission_denied' });
    assert.deepEqual(await guestTry('MutePublishedTrack', { room, identity: bId, trackSid: bMic, muted: true }), { status: 403, code: 'permission_denied' });
    const guestUnlock = await pages.a.evaluate(async (r) => {
      const res = await fetch('/api/moderation', {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${window.confab.token}` },
        body: JSON.stringify({ room: r, action: 'lock', on: false }),
      });
      return res.status;
    }, room);
    assert.equal(guestUnlock, 403, 'a guest cannot unlock the meeting');
    assert.ok((await state(pages.b)).connected, 'guest B is still in');

    // The host reloads and is still the moderator.
    await pages.host.reload({ waitUntil: 'load' });
    await waitFor(() => connected(pages.host), { timeout: 20_000, message: 'the host should reconnect after a reload' });
    await openPeople(pages.host);
    await waitFor(async () => (await row(pages.host, 'Alice Host'))?.moderator, { message: 'still moderator after the reload' });
    await waitFor(async () => (await row(pages.host, 'Guest B'))?.actions.includes('mute'), { timeout: 15_000, message: 'controls back after the reload' });

    // Mute all: the guests' microphones are muted, and no audio from them reaches the others.
    await waitFor(async () => (await rises(() => audioBytes(pages.b, aId), 1500)) > 0, { timeout: 15_000, message: 'guest B should hear guest A first' });
    const mutedAt = Date.now();
    await pages.host.click('#mute-all');
    await waitFor(
      async () => {
        const [ra, rb] = await Promise.all([row(pages.host, 'Guest A'), row(pages.host, 'Guest B')]);
        return ra && rb && !ra.actions.includes('mute') && !rb.actions.includes('mute');
      },
      { message: 'both guests should show as muted' },
    );
    await waitFor(() => pages.a.evaluate(() => !window.confab.room.localParticipant.isMicrophoneEnabled), {
      interval: 50,
      message: "guest A's own app should have muted its microphone",
    });
    t.diagnostic(`mute all click to guest A's microphone muted in its app: ${Date.now() - mutedAt} ms`);
    await sleep(1000);
    const heard = {
      bFromA: await rises(() => audioBytes(pages.b, aId)),
      hostFromB: await rises(() => audioBytes(pages.host, bId)),
    };
    assert.deepEqual(heard, { bFromA: 0, hostFromB: 0 }, 'no audio bytes from muted guests');

    // Kick guest B with a reason; guest B is told why, and the others see B go.
    await pages.host.evaluate((id) => document.querySelector(`.person[data-identity="${CSS.escape(id)}"] [data-action="remove"]`).click(), bId);
    await pages.host.waitForSelector('#remove-dialog[open]', { timeout: 5000 });
    await pages.host.type('#remove-reason', 'Please join from a quieter place');
    await pages.host.click('#remove-confirm');
    await waitFor(async () => (await pageKind(pages.b)) === 'disconnected', { message: 'guest B should be shown the removal' });
    const told = await pages.b.evaluate(() => document.querySelector('[data-page]').textContent);
    assert.match(told, /A moderator removed you from the meeting: Please join from a quieter place/);
    await waitFor(async () => !(await state(pages.a)).remotes.includes(bId), { message: 'guest A should see guest B leave' });

    // The host makes guest A a moderator; guest A's app shows the controls.
    await pages.host.evaluate((id) => document.querySelector(`.person[data-identity="${CSS.escape(id)}"] [data-action="make-moderator"]`).click(), aId);
    await waitFor(() => pages.a.$eval('.moderator-bar', (el) => !el.hidden), { message: 'guest A should get the moderator controls' });

    // End the meeting for everyone.
    await pages.host.click('#end-meeting');
    await waitFor(async () => (await pageKind(pages.a)) === 'disconnected', { message: 'guest A should be told the meeting ended' });
    assert.match(await pages.a.evaluate(() => document.querySelector('[data-page]').textContent), /The meeting was ended/);
  } catch (err) {
    await screenshotAll(pages, 'moderation');
    throw err;
  } finally {
    await Promise.all(browsers.map((b) => b.close()));
    await server.stop();
  }
  const log = readFileSync(server.logPath, 'utf8');
  for (const s of secrets) assert.ok(!log.includes(s), `the server log must not contain a token or secret (${s.slice(0, 12)}…)`);
});

test('room API through livekit-server-sdk, JSON and protobuf, with grants enforced', { timeout: TEST_TIMEOUT }, async () => {
  const server = await startServer({ label: 'room-api' });
  const api = new RoomServiceClient(server.url, server.apiKey, server.apiSecret);
  const room = 'api-room';
  const browsers = await Promise.all(['p1', 'p2'].map((label) => launchBrowser({ label })));
  const pages = {};
  try {
    const created = await api.createRoom({ name: room, emptyTimeout: 120, maxParticipants: 5, metadata: 'agenda v1' });
    assert.equal(created.name, room);
    assert.equal(created.metadata, 'agenda v1');
    assert.equal(created.maxParticipants, 5);
    assert.ok((await api.listRooms()).some((r) => r.name === room), 'the new room is listed before anyone joins');
    assert.deepEqual((await api.listRooms([room])).map((r) => r.name), [room]);

    pages.p1 = await openParticipant(browsers[0], server, { room, identity: 'p1' });
    pages.p2 = await openParticipant(browsers[1], server, { room, identity: 'p2' });
    const mic = await waitFor(
      async () => {
        const ps = await api.listParticipants(room);
        const p1 = ps.find((p) => p.identity === 'p1');
        return ps.length === 2 && p1?.tracks.find((t) => t.type === 0 /* audio */);
      },
      { timeout: 20_000, message: 'both participants should be listed, p1 with a microphone' },
    );
    assert.equal((await api.getParticipant(room, 'p2')).identity, 'p2');

    // Mute p1's microphone from the backend: p2 sees it muted and hears nothing more.
    await waitFor(async () => (await rises(() => audioBytes(pages.p2, 'p1'), 1500)) > 0, { timeout: 15_000, message: 'p2 should hear p1 first' });
    const muted = await api.mutePublishedTrack(room, 'p1', mic.sid, true);
    assert.equal(muted.muted, true);
    await waitFor(() => pages.p2.evaluate(() => window.confab.room.remoteParticipants.get('p1')?.isMicrophoneEnabled === false), {
      message: 'p2 should see p1 muted',
    });
    await sleep(1000);
    assert.equal(await rises(() => audioBytes(pages.p2, 'p1')), 0, 'no audio bytes from a muted track');

    // Metadata, data from the server, and removal.
    const updated = await api.updateParticipant(room, 'p2', { metadata: 'seat 4' });
    assert.equal(updated.metadata, 'seat 4');
    assert.equal((await api.updateRoomMetadata(room, 'agenda v2')).metadata, 'agenda v2');
    await api.sendData(room, new TextEncoder().encode('the bus leaves at five'), DataPacket_Kind.RELIABLE, { topic: 'notice' });
    await waitFor(
      async () => (await pages.p1.evaluate(() => window.confab.messages)).some((m) => m.topic === 'notice' && m.text === 'the bus leaves at five'),
      { message: 'p1 should receive the server message' },
    );
    await api.removeParticipant(room, 'p2');
    await waitFor(async () => (await pageKind(pages.p2)) === 'disconnected', { message: 'p2 should be shown it was removed' });
    assert.deepEqual((await api.listParticipants(room)).map((p) => p.identity), ['p1']);

    // Protobuf bodies work as well as JSON.
    const adminToken = await token(server, { room, identity: '', grants: { roomJoin: false, roomCreate: true } });
    const name = Buffer.from('proto-room');
    const res = await fetch(`${server.url}/twirp/livekit.RoomService/CreateRoom`, {
      method: 'POST',
      headers: { 'content-type': 'application/protobuf', authorization: `Bearer ${adminToken}` },
      body: Buffer.concat([Buffer.from([0x0a, name.length]), name]),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/protobuf');
    assert.equal(RoomProto.fromBinary(new Uint8Array(await res.arrayBuffer())).name, 'proto-room');

    // A participant's token without roomAdmin is refused, with a Twirp error body.
    const plain = await token(server, { room, identity: 'p1' });
    const denied = await fetch(`${server.url}/twirp/livekit.RoomService/MutePublishedTrack`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${plain}` },
      body: JSON.stringify({ room, identity: 'p1', trackSid: mic.sid, muted: true }),
    });
    assert.equal(denied.status, 403);
    assert.equal((await denied.json()).code, 'permission_denied');
    const noList = await fetch(`${server.url}/twirp/livekit.RoomService/ListRooms`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${plain}` },
      body: '{}',
    });
    assert.equal(noList.status, 403);
    // An unknown method and a missing token are Twirp errors too.
    const bad = await fetch(`${server.url}/twirp/livekit.RoomService/Nope`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${plain}` },
      body: '{}',
    });
    assert.deepEqual([bad.status, (await bad.json()).code], [404, 'bad_route']);
    const anonymous = await fetch(`${server.url}/twirp/livekit.RoomService/ListRooms`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.deepEqual([anonymous.status, (await anonymous.json()).code], [401, 'unauthenticated']);

    await api.deleteRoom(room);
    await waitFor(async () => (await pageKind(pages.p1)) === 'disconnected', { message: 'p1 should be told the meeting ended' });
    assert.ok(!(await api.listRooms()).some((r) => r.name === room), 'a deleted room is gone');
  } catch (err) {
    await screenshotAll(pages, 'room-api');
    throw err;
  } finally {
    await Promise.all(browsers.map((b) => b.close()));
    await server.stop();
  }
});

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s) for the test's sign-in service. */
function totp(secret, at = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const mac = createHmac('sha1', secret).update(counter).digest();
  const off = mac[mac.length - 1] & 0x0f;
  return String((mac.readUInt32BE(off) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/**
 * A company's sign-in service (what mod_auth_custom_http talks to): POST {username, password, otp,
 * room} answers {allowed, moderator, name}, asking for the code and checking it as TOTP.
 */
async function authService(users) {
  const calls = [];
  const srv = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const { username, password, otp, room } = JSON.parse(body);
      calls.push({ username, room, withOtp: !!otp });
      const u = users[username];
      let reply;
      if (!u || u.password !== password) reply = { allowed: false, message: 'wrong username or password' };
      else if (!otp) reply = { allowed: false, otp_required: true };
      // One 30 s step either side, as authenticator services allow for clock skew.
      else if (![-30_000, 0, 30_000].some((d) => otp === totp(u.secret, Date.now() + d))) reply = { allowed: false, message: 'That code is not valid. Use the current code from your authenticator app.' };
      else reply = { allowed: true, moderator: u.moderator, name: u.name };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(reply));
    });
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${srv.address().port}/auth`, calls, close: () => new Promise((r) => srv.close(r)) };
}

test('sign-in through an external service with a one-time code', { timeout: TEST_TIMEOUT }, async () => {
  const secret = randomBytes(20);
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const auth = await authService({ grace: { password, secret, moderator: true, name: 'Grace Hopper' } });
  const server = await startServer({ label: 'external-auth', config: `${TEST_CONFIG}[auth]\nmode = "token"\n[auth.login]\nexternal_url = "${auth.url}"\n` });
  const tb = await launchBrowser({ label: 'grace' });
  const pages = {};
  const room = 'ops-review';
  let otpUsed;
  try {
    pages.grace = await openUrl(tb, `${server.url}/${room}?login=1`);
    await pages.grace.waitForSelector('#login-form', { visible: true, timeout: 10_000 });
    await pages.grace.type('#login-username', 'grace');
    await pages.grace.type('#login-password', password);
    await pages.grace.click('#login-submit');
    // The password is right: the second step asks for the code.
    await pages.grace.waitForSelector('#login-otp', { visible: true, timeout: 10_000 });
    const wrong = String((Number(totp(secret)) + 500_000) % 1_000_000).padStart(6, '0');
    await pages.grace.type('#login-otp', wrong);
    await pages.grace.click('#login-submit');
    await waitFor(() => pages.grace.$eval('#login-error', (el) => !el.hidden && el.textContent), { message: 'a wrong code should be refused with a message' });
    assert.match(await pages.grace.$eval('#login-error', (el) => el.textContent), /That code is not valid/);
    assert.equal(await connected(pages.grace), false);

    otpUsed = totp(secret);
    await pages.grace.type('#login-otp', otpUsed);
    await pages.grace.click('#login-submit');
    await waitFor(() => connected(pages.grace), { timeout: 20_000, message: 'the right code should let Grace in' });
    const me = await pages.grace.evaluate(() => ({
      identity: window.confab.room.localParticipant.identity,
      name: window.confab.room.localParticipant.name,
      role: window.confab.room.localParticipant.attributes['confab.role'],
    }));
    assert.deepEqual(me, { identity: 'grace', name: 'Grace Hopper', role: 'moderator' });
    assert.deepEqual(
      auth.calls.map((c) => [c.username, c.room, c.withOtp]),
      [
        ['grace', room, false],
        ['grace', room, true],
        ['grace', room, true],
      ],
    );

    // Token mode: nobody gets in anonymously.
    const anonymous = await fetch(`${server.url}/api/join`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ room, name: 'Anon' }) });
    assert.equal(anonymous.status, 401);
  } catch (err) {
    await screenshotAll(pages, 'external-auth');
    throw err;
  } finally {
    await tb.close();
    await server.stop();
    await auth.close();
  }
  const log = readFileSync(server.logPath, 'utf8');
  assert.ok(!log.includes(password), 'the server log must not contain the password');
  assert.ok(!log.includes(otpUsed), 'the server log must not contain the code');
});
