// Dial-in by PIN through the SIP gateway, with a real SIP peer: sipp calls Confab's [sip] listener
// and the phone's media (tests/e2e/sip.mjs) sends and keeps RTP on loopback, from another port
// than its SDP names, as a phone behind NAT does. The phone hears the spoken PIN prompt, keys the
// meeting's PIN (from Jitsi's conference mapper) as RFC 4733 digits without the marker bit and
// with the end packets repeated, and joins the meeting; a Chromium participant there hears the
// phone's 1000 Hz tone, and the phone hears the browser's 440 Hz one.
//
// Run: node --test tests/e2e/sip.test.mjs   (needs Debian's sip-tester for sipp)

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, TEST_CONFIG, figureRecorder, freeUdpPort, launchBrowser, openParticipant, screenshotAll, startServer, waitFor, writeWav } from './lib.mjs';
import { RoomServiceClient } from 'livekit-server-sdk';
import { dominantTone, tonePower } from './media.mjs';
import { phoneMedia, sippCall } from './sip.mjs';

const ROOM = 'phone-call';

/** One second of what `page` hears from the participant whose identity starts with `prefix`. */
const listen = (page, prefix) =>
  page.evaluate(async (prefix) => {
    const remote = [...window.confab.room.remoteParticipants.values()].find((p) => p.identity.startsWith(prefix));
    const track = [...remote.audioTrackPublications.values()][0].track.mediaStreamTrack;
    const ctx = new AudioContext();
    await ctx.resume();
    const source = ctx.createMediaStreamSource(new MediaStream([track]));
    const tap = ctx.createScriptProcessor(4096, 1, 1);
    const samples = [];
    await new Promise((resolve) => {
      tap.onaudioprocess = (e) => {
        samples.push(...e.inputBuffer.getChannelData(0));
        if (samples.length >= ctx.sampleRate) resolve();
      };
      source.connect(tap);
      tap.connect(ctx.destination);
    });
    await ctx.close();
    return { rate: ctx.sampleRate, samples: samples.slice(0, ctx.sampleRate) };
  }, prefix);

test('dial-in by PIN: the prompt, RFC 4733 digits, and audio both ways with a browser', { timeout: 90_000 }, async (t) => {
  const record = figureRecorder('sip');
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-sip-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [sipPort, sippPort] = [await freeUdpPort(), await freeUdpPort()];
  const server = await startServer({
    label: 'server-sip',
    config: `${TEST_CONFIG}[sip]\nlisten = "127.0.0.1:${sipPort}"\n[sip.numbers]\nUS = ["+1 555 0100"]\n`,
  });
  t.after(() => server.stop());
  const numbers = await (await fetch(`${server.url}/dialInNumbers`)).json();
  assert.deepEqual(numbers, { message: 'Phone numbers available.', numbers: { US: ['+1 555 0100'] }, numbersEnabled: true });

  // The meeting's PIN, as the Meet app's invite shows it.
  const mapping = await (await fetch(`${server.url}/conferenceMapper?conference=${ROOM}`)).json();
  assert.match(String(mapping.id), /^[1-9]\d{8}$/, `a nine-digit PIN: ${JSON.stringify(mapping)}`);
  const again = await (await fetch(`${server.url}/conferenceMapper?conference=${ROOM}`)).json();
  assert.equal(again.id, mapping.id, 'the same PIN every time');

  const tone = writeWav(path.join(ARTIFACTS, 'sip', 'a440.wav'), 3, (s) => 0.3 * Math.sin(2 * Math.PI * 440 * s));
  const browser = await launchBrowser({ label: 'sip-ada', args: [`--use-file-for-fake-audio-capture=${tone}`] });
  t.after(() => browser.close());
  const pages = {};
  const phone = await phoneMedia();
  t.after(() => phone.close());
  try {
    pages.ada = await openParticipant(browser, server, { room: ROOM, identity: 'ada', camera: false });
    const called = Date.now();
    const call = sippCall({ sipPort, localPort: sippPort, mediaPort: phone.signalledPort, holdMs: 25_000, dir });

    // The prompt arrives where the SDP said, before any RTP came from the phone.
    await Promise.race([phone.firstPacket(), call.then((r) => assert.fail(`sipp ended first: ${JSON.stringify(r)}`))]);
    record('answer_to_prompt_ms', Date.now() - called);
    await new Promise((r) => setTimeout(r, 1500));
    const prompt = phone.heard.filter((p) => p.on === 'signalled').flatMap((p) => p.samples);
    const promptRms = Math.sqrt(prompt.reduce((a, x) => a + x * x, 0) / Math.max(1, prompt.length));
    record('prompt', { seconds: prompt.length / 8000, rms: Math.round(promptRms * 1e4) / 1e4 });
    assert.ok(promptRms > 0.01, `the phone hears the spoken prompt (RMS ${promptRms} over ${prompt.length} samples)`);

    // The PIN, then a tone, from the other port: the gateway latches on to it.
    const keyed = Date.now();
    await phone.keyDigits(`${mapping.id}#`);
    phone.playTone(1000);
    await waitFor(async () => (await pages.ada.evaluate(() => window.confab.state().remotes)).some((id) => id.startsWith('sip_')), {
      timeout: 15_000,
      message: `the caller should join ${ROOM} (server log: ${server.logPath})`,
    });
    record('pin_to_joined_ms', Date.now() - keyed);
    const caller = await pages.ada.evaluate(() => {
      const p = [...window.confab.room.remoteParticipants.values()].find((p) => p.identity.startsWith('sip_'));
      return { name: p.name, kind: p.kind, attributes: p.attributes };
    });
    // Kind 3 is SIP in LiveKit's ParticipantInfo; the attributes are LiveKit SIP's names.
    assert.deepEqual(caller, { name: 'Ada Phone', kind: 3, attributes: { 'sip.phoneNumber': '+15551234', 'sip.callStatus': 'active' } });

    // The browser hears the phone's tone.
    const joinedAt = Date.now();
    const heardInBrowser = await waitFor(async () => {
      const { rate, samples } = await listen(pages.ada, 'sip_');
      const found = dominantTone(Float32Array.from(samples), 0, rate);
      return found.rms > 0.01 && Math.abs(found.freq - 1000) <= 10 ? found : null;
    }, { timeout: 15_000, interval: 500, message: "the browser should hear the phone's 1000 Hz tone" });
    record('browser_hears', heardInBrowser);
    // The gateway marks its packets' loudness, so the server counts the caller among the speakers.
    await waitFor(
      () => pages.ada.evaluate(() => window.confab.room.activeSpeakers.some((p) => p.identity.startsWith('sip_'))),
      { timeout: 10_000, message: 'the caller, sending a tone, should be among the active speakers' },
    );

    // The phone hears the browser's tone, on the port it sends from (latched), not the signalled one.
    const fromMeeting = await waitFor(() => {
      const samples = phone.heard.filter((p) => p.on === 'sender' && p.at > joinedAt).flatMap((p) => p.samples);
      if (samples.length < 8000) return null;
      const found = dominantTone(Float32Array.from(samples.slice(-8000)), 0, 8000);
      return found.rms > 0.01 && Math.abs(found.freq - 440) <= 10 ? found : null;
    }, { timeout: 15_000, interval: 500, message: "the phone should hear the browser's 440 Hz tone on its sending port" });
    record('phone_hears', fromMeeting);
    const lateToSignalled = phone.heard.filter((p) => p.on === 'signalled' && p.at > joinedAt).length;
    assert.equal(lateToSignalled, 0, 'once latched, nothing goes to the address the SDP named');

    // A moderator mutes the caller (the room API, as the Meet app's mute does): the phone hears the
    // falling beeps and the meeting stops hearing it; *6 on the keypad unmutes, with rising beeps.
    const api = new RoomServiceClient(server.url, server.apiKey, server.apiSecret);
    const callerInfo = (await api.listParticipants(ROOM)).find((p) => p.identity.startsWith('sip_'));
    const mutedAt = Date.now();
    await api.mutePublishedTrack(ROOM, callerInfo.identity, callerInfo.tracks[0].sid, true);
    const beeps = await waitFor(() => {
      const samples = phone.heard.filter((p) => p.on === 'sender' && p.at > mutedAt).flatMap((p) => p.samples);
      return samples.length >= 4000 ? tonePower(Float32Array.from(samples), 600, 0, 4000, 8000) : null;
    }, { timeout: 5000, message: 'the phone should hear the mute beeps' });
    const before = phone.heard.filter((p) => p.on === 'sender' && p.at > joinedAt && p.at < mutedAt).flatMap((p) => p.samples).slice(-4000);
    const calm = tonePower(Float32Array.from(before), 600, 0, 4000, 8000);
    record('mute_beep_power', { before: calm, after: beeps });
    assert.ok(beeps > 20 * calm, `the 600 Hz beep stands out after the mute (${beeps} against ${calm})`);
    await waitFor(async () => {
      const { samples } = await listen(pages.ada, 'sip_');
      return Math.sqrt(samples.reduce((a, x) => a + x * x, 0) / samples.length) < 0.005;
    }, { timeout: 10_000, interval: 500, message: 'the browser should hear nothing from the muted caller' });
    await phone.keyDigits('*6');
    await waitFor(async () => {
      const { rate, samples } = await listen(pages.ada, 'sip_');
      const found = dominantTone(Float32Array.from(samples), 0, rate);
      return found.rms > 0.01 && Math.abs(found.freq - 1000) <= 10;
    }, { timeout: 10_000, interval: 500, message: 'after *6 the browser should hear the caller again' });

    phone.stopTone();
    const result = await call;
    assert.equal(result.code, 0, `sipp's call went as scripted (log: ${result.log})`);
    await waitFor(async () => !(await pages.ada.evaluate(() => window.confab.state().remotes)).some((id) => id.startsWith('sip_')), {
      timeout: 10_000,
      message: 'the caller leaves the meeting when the phone hangs up',
    });
    const log = readFileSync(server.logPath, 'utf8');
    assert.match(log, /call ended by the caller/);
  } catch (err) {
    await screenshotAll(pages, 'sip-failure');
    throw err;
  }
});

test('dial-in with wrong PINs: a second try, then goodbye, and the gateway hangs up', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-sip-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [sipPort, sippPort] = [await freeUdpPort(), await freeUdpPort()];
  const server = await startServer({ label: 'server-sip-wrong', config: `${TEST_CONFIG}[sip]\nlisten = "127.0.0.1:${sipPort}"\n` });
  t.after(() => server.stop());
  const { id } = await (await fetch(`${server.url}/conferenceMapper?conference=${ROOM}`)).json();
  const wrong = String((id % 900_000_000) + 100_000_001).slice(0, 9);
  assert.notEqual(wrong, String(id));
  const phone = await phoneMedia();
  t.after(() => phone.close());
  const call = sippCall({ sipPort, localPort: sippPort, mediaPort: phone.signalledPort, holdMs: 30_000, dir, expectBye: true, label: 'sipp-wrong' });
  await phone.firstPacket();
  const started = Date.now();
  for (let i = 0; i < 3; i++) await phone.keyDigits(`${wrong}#`);
  const result = await call;
  assert.equal(result.code, 0, `the gateway hung up with a BYE after three wrong PINs (sipp log: ${result.log})`);
  const log = readFileSync(server.logPath, 'utf8');
  assert.match(log, /call ended by the gateway.*no right PIN/);
  assert.doesNotMatch(log, /caller joined the meeting/);
  // Wrong, wrong, then goodbye: the phone heard speech to the end.
  const tail = phone.heard.filter((p) => p.at > started).flatMap((p) => p.samples).slice(-8000);
  const rms = Math.sqrt(tail.reduce((a, x) => a + x * x, 0) / Math.max(1, tail.length));
  assert.ok(rms > 0.01, `the phone heard the goodbye before the BYE (RMS ${rms})`);
});

test('a number of its own leads straight to a room, without the PIN', { timeout: 60_000 }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-sip-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [sipPort, sippPort] = [await freeUdpPort(), await freeUdpPort()];
  const server = await startServer({
    label: 'server-sip-direct',
    config: `${TEST_CONFIG}[sip]\nlisten = "127.0.0.1:${sipPort}"\n[sip.direct]\n"+15550101" = "board"\n`,
  });
  t.after(() => server.stop());
  const phone = await phoneMedia();
  t.after(() => phone.close());
  const call = sippCall({ sipPort, localPort: sippPort, mediaPort: phone.signalledPort, holdMs: 4000, dir, dialled: '+15550101', label: 'sipp-direct' });
  await waitFor(() => /caller joined the meeting.*room=board/.test(readFileSync(server.logPath, 'utf8')), {
    timeout: 15_000,
    message: `the caller should be in "board" without keying anything (log: ${server.logPath})`,
  });
  const result = await call;
  assert.equal(result.code, 0, `sipp's call went as scripted (log: ${result.log})`);
  const heard = phone.heard.flatMap((p) => p.samples);
  const rms = Math.sqrt(heard.reduce((a, x) => a + x * x, 0) / Math.max(1, heard.length));
  assert.ok(rms < 0.005, `no prompt was played: the phone heard the empty meeting (RMS ${rms})`);
});

