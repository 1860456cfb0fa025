// Phones in the Meet app. With a SIP gateway the invite tells how to dial in (the numbers, and the
// meeting's PIN as the conference mapper has it) and the copied invitation says so too; a phone
// that calls in (sipp and the phone media of tests/e2e/sip.mjs) shows as a phone tile with the
// caller's name and number in stage, filmstrip and tile view, and in the participants pane, where
// a moderator can mute and remove it; removing it hangs up the call. Without a gateway the invite
// says nothing about phones.
//
// Screenshots go to artifacts/e2e/phone/.
// Run: node --test --test-concurrency=1 tests/e2e/phone.test.mjs   (needs Debian's sip-tester for sipp)

import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, TEST_CONFIG, freeUdpPort, launchBrowser, openParticipant, screenshotAll, startServer, waitFor } from './lib.mjs';
import { phoneMedia, sippCall } from './sip.mjs';

const OUT = path.join(ARTIFACTS, 'phone');
const ROOM = 'phone-tiles';
const NUMBER = '+15551234';

/** Lets the page write and read the clipboard, as a person's click on "Copy" may. */
async function allowClipboard(tb, server) {
  await tb.browser.setPermission(
    new URL(server.url).origin,
    { permission: { name: 'clipboard-read' }, state: 'granted' },
    { permission: { name: 'clipboard-write' }, state: 'granted' },
  );
}

/**
 * Opens the invite, waits for `ready()` (the dial-in is asked for when the dialog opens), clicks
 * Copy, and returns what the dialog shows and what went to the clipboard.
 */
async function copyInvite(page, ready) {
  await page.click('#invite');
  await page.waitForSelector('#invite-dialog[open]', { timeout: 5000 });
  await ready();
  await page.click('#invite-copy');
  await waitFor(() => page.$eval('#invite-dialog [role="status"]', (el) => el.textContent), { timeout: 5000, message: 'Copy should say what it did' });
  return page.evaluate(async () => {
    const d = document.querySelector('#invite-dialog');
    const section = d.querySelector('#dial-in');
    return {
      status: d.querySelector('[role="status"]').textContent,
      link: d.querySelector('#invite-link').value,
      text: d.innerText,
      dialIn: section && !section.hidden && section.checkVisibility()
        ? {
            regions: [...section.querySelectorAll('dt')].map((dt) => dt.textContent),
            numbers: [...section.querySelectorAll('.dial-in-number')].map((a) => ({ text: a.textContent, href: a.getAttribute('href') })),
            pin: section.querySelector('.dial-in-pin').textContent,
          }
        : null,
      clipboard: await navigator.clipboard.readText(),
    };
  });
}

/** What `page` shows of the phone caller's tile. */
const phoneTile = (page) =>
  page.evaluate(() => {
    const tile = document.querySelector('.tile[data-source="camera"][data-phone]');
    if (!tile) return null;
    const avatar = tile.querySelector('.avatar');
    const number = tile.querySelector('.tile-bottom .number');
    return {
      place: tile.parentElement.className,
      phone: tile.dataset.phone,
      name: tile.querySelector('.tile-bottom .name').textContent,
      number: number.hidden ? '' : number.textContent,
      phoneAvatar: avatar.classList.contains('phone') && !!avatar.querySelector('svg') && avatar.checkVisibility(),
      initials: avatar.textContent,
      label: tile.getAttribute('aria-label'),
      micMuted: 'micMuted' in tile.dataset,
    };
  });

/** The caller's row in the participants pane. */
const phoneRow = (page) =>
  page.evaluate(() => {
    const li = document.querySelector('#participants-panel .person[data-phone]');
    if (!li) return null;
    return {
      name: li.dataset.name,
      phone: li.dataset.phone,
      marker: li.querySelector('.avatar.phone svg') ? li.querySelector('.avatar.phone').title : null,
      text: li.querySelector('.person-name').textContent,
      actions: [...li.querySelectorAll('[data-action]')].map((b) => b.dataset.action),
    };
  });

async function shot(page, name, selector) {
  mkdirSync(OUT, { recursive: true });
  const el = selector ? await page.$(selector) : page;
  await el.screenshot({ path: path.join(OUT, `${name}.png`) });
}

test('with dial-in: the invite shows the numbers and PIN, a phone caller gets a phone tile, a moderator removes it', { timeout: 120_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-phone-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [sipPort, sippPort] = [await freeUdpPort(), await freeUdpPort()];
  const server = await startServer({
    label: 'server-phone',
    config: `${TEST_CONFIG}[sip]\nlisten = "127.0.0.1:${sipPort}"\n[sip.numbers]\nUS = ["+1 555 0100"]\n`,
  });
  t.after(() => server.stop());
  const { id } = await (await fetch(`${server.url}/conferenceMapper?conference=${ROOM}`)).json();
  const pin = `${String(id).slice(0, 3)} ${String(id).slice(3, 6)} ${String(id).slice(6)}#`;

  const tb = await launchBrowser({ label: 'phone-ada' });
  t.after(() => tb.close());
  await allowClipboard(tb, server);
  const phone = await phoneMedia();
  t.after(() => phone.close());
  let page;
  try {
    // Ada moderates (roomAdmin in her token), without a camera: two avatars side by side.
    page = await openParticipant(tb, server, { room: ROOM, identity: 'ada', name: 'Ada Lovelace', camera: false, grants: { roomAdmin: true } });

    // (1) The invite: the number by region and the PIN, and both in the copied invitation.
    const invite = await copyInvite(page, () => page.waitForSelector('#dial-in', { visible: true, timeout: 5000 }));
    await shot(page, 'invite', '#invite-dialog');
    assert.deepEqual(invite.dialIn, {
      regions: ['United States', 'Meeting PIN'],
      numbers: [{ text: '+1 555 0100', href: `tel:+15550100,,${id}%23` }],
      pin,
    });
    assert.equal(invite.status, 'Invitation copied, with the link and how to dial in. Paste it to whoever should join.');
    assert.equal(
      invite.clipboard,
      `Join the meeting: ${invite.link}\n\nOr dial in by phone:\nUnited States: +1 555 0100\nMeeting PIN: ${pin}`,
    );
    await page.keyboard.press('Escape');

    // (2) A phone calls in and keys the PIN.
    const call = sippCall({ sipPort, localPort: sippPort, mediaPort: phone.signalledPort, holdMs: 60_000, dir, expectBye: true, label: 'sipp-phone' });
    await Promise.race([phone.firstPacket(), call.then((r) => assert.fail(`sipp ended first: ${JSON.stringify(r)}`))]);
    await phone.keyDigits(`${id}#`);
    phone.playTone(1000);

    // Two people: stage view, the caller on the stage.
    const staged = await waitFor(async () => {
      const tile = await phoneTile(page);
      return tile?.place === 'stage' && tile;
    }, { timeout: 20_000, message: `the caller's tile should appear on the stage (server log: ${server.logPath})` });
    assert.deepEqual(
      { ...staged, label: undefined },
      { place: 'stage', phone: NUMBER, name: 'Ada Phone', number: NUMBER, phoneAvatar: true, initials: '', label: undefined, micMuted: false },
    );
    assert.equal(staged.label, `Ada Phone, Joined by phone from ${NUMBER}`);
    await shot(page, 'stage');

    // Ada pins her own tile: the caller moves to the filmstrip, still a phone.
    await page.click('.tile[data-identity="ada"]');
    const filmstrip = await waitFor(async () => {
      const tile = await phoneTile(page);
      return tile?.place === 'filmstrip' && tile;
    }, { timeout: 5000, message: 'the caller should move to the filmstrip' });
    assert.ok(filmstrip.phoneAvatar && filmstrip.name === 'Ada Phone' && filmstrip.number === NUMBER, JSON.stringify(filmstrip));
    await shot(page, 'filmstrip');

    // Tile view.
    await page.keyboard.press('w');
    const grid = await waitFor(async () => {
      const tile = await phoneTile(page);
      return tile?.place === 'grid' && tile;
    }, { timeout: 5000, message: 'W should switch to tile view' });
    assert.ok(grid.phoneAvatar && grid.name === 'Ada Phone' && grid.number === NUMBER, JSON.stringify(grid));
    await shot(page, 'tile-view');

    // (3) The participants pane: the phone marker, and a moderator's controls for the caller.
    await page.keyboard.press('p');
    const row = await waitFor(async () => {
      const r = await phoneRow(page);
      return r?.actions.includes('mute') && r;
    }, { timeout: 5000, message: 'the pane should list the caller with moderator controls' });
    assert.deepEqual(row, {
      name: 'Ada Phone',
      phone: NUMBER,
      marker: `Joined by phone from ${NUMBER}`,
      text: `Ada Phone${NUMBER}`,
      actions: ['mute', 'make-moderator', 'remove'],
    });
    await shot(page, 'participants');

    // Mute: the tile shows the muted microphone, and mute is no longer offered.
    await page.click('#participants-panel .person[data-phone] [data-action="mute"]');
    await waitFor(async () => (await phoneTile(page))?.micMuted, { timeout: 5000, message: "the caller's tile should show the muted microphone" });
    assert.deepEqual((await phoneRow(page)).actions, ['make-moderator', 'remove']);
    await shot(page, 'muted');

    // Remove: the gateway hangs up the call (sipp receives the BYE) and the tile goes.
    await page.click('#participants-panel .person[data-phone] [data-action="remove"]');
    await page.waitForSelector('#remove-dialog[open]', { timeout: 5000 });
    await page.click('#remove-confirm');
    const result = await call;
    assert.equal(result.code, 0, `the gateway hung up with a BYE (sipp log: ${result.log})`);
    await waitFor(async () => !(await phoneTile(page)) && !(await phoneRow(page)), { timeout: 10_000, message: 'the caller should be gone from the page' });
    assert.match(readFileSync(server.logPath, 'utf8'), /call ended by the gateway/);
  } catch (err) {
    await screenshotAll({ ada: page }, 'phone-failed');
    throw err;
  }
});

test('without dial-in: the invite says nothing about phones and copies the bare link', { timeout: 60_000 }, async (t) => {
  const server = await startServer({ label: 'server-no-phone' });
  t.after(() => server.stop());
  const tb = await launchBrowser({ label: 'no-phone-ada' });
  t.after(() => tb.close());
  await allowClipboard(tb, server);
  const page = await openParticipant(tb, server, { room: ROOM, identity: 'ada', camera: false });
  const asked = [];
  page.on('response', (r) => {
    if (/\/(dialInNumbers|conferenceMapper)/.test(r.url())) asked.push(`${new URL(r.url()).pathname} ${r.status()}`);
  });
  try {
    const invite = await copyInvite(page, () => waitFor(() => asked.length > 0, { timeout: 5000, message: 'the app should ask for the dial-in numbers' }));
    // The server without [sip] answers with the app's page, as for a room of that name.
    assert.deepEqual(asked.map((a) => a.split(' ')[0]), ['/dialInNumbers'], `no PIN is asked for where there are no numbers (${asked})`);
    assert.equal(invite.dialIn, null);
    assert.doesNotMatch(invite.text, /phone|PIN|dial/i);
    assert.equal(invite.clipboard, invite.link);
    assert.equal(invite.status, 'Link copied. Paste it to whoever should join.');
    await shot(page, 'invite-without-dial-in', '#invite-dialog');
  } catch (err) {
    await screenshotAll({ ada: page }, 'no-phone-failed');
    throw err;
  }
});
