// Recording a meeting from the Meet app, as Jitsi users do: two people in Chromium (fake cameras,
// each microphone playing its own tone); the moderator starts the recording from the menu, both
// see the indicator, they talk for 20 s, the moderator stops it. The MP4 lands in an
// S3-compatible server (moto) and is checked as a person would: it has H.264 video and AAC audio
// lasting the recorded span; its frames show two moving, non-black tiles side by side; its audio
// carries both tones. The moderator's "Start live stream" dialog shows the server's refusal of a
// destination this server does not allow.

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { EgressClient, EgressStatus } from 'livekit-server-sdk';
import { ARTIFACTS, TEST_CONFIG, freeTcpPort, launchBrowser, openParticipant, screenshotAll, sleep, startServer, state, waitFor, writeWav } from './lib.mjs';
import { audioSamples, decodeErrors, greyFrames, probe, regionMean, tonePower } from './media.mjs';
import { BUCKET, downloadS3, s3Config, startS3 } from './s3.mjs';

const ROOM = 'board-meeting';
const TONES = { mod: 660, guest: 880 };
const SPAN_MS = 20_000;
const OUT = path.join(ARTIFACTS, 'recording');

test('a moderator records the meeting from the Meet app: both see it, the MP4 shows both and carries both voices', { timeout: 180_000 }, async (t) => {
  mkdirSync(OUT, { recursive: true });
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-recordings-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const s3 = await startS3(t, await freeTcpPort(), 's3-meeting');
  const server = await startServer({ label: 'server-recording-meeting', config: `${TEST_CONFIG}[recording]\ndir = ${JSON.stringify(dir)}\n${s3Config(s3)}` });
  t.after(() => server.stop());

  // Tones in 220 ms bursts every 300 ms, like syllables (a steady tone looks like noise to
  // Chromium's noise suppression).
  const browsers = {};
  for (const [who, hz] of Object.entries(TONES)) {
    const wav = writeWav(path.join(OUT, `tone-${hz}.wav`), 3, (s) => (s % 0.3 < 0.22 ? (8000 / 32767) * Math.sin(2 * Math.PI * hz * s) : 0));
    browsers[who] = await launchBrowser({ label: `rec-${who}`, args: [`--use-file-for-fake-audio-capture=${wav}`] });
    t.after(() => browsers[who].close());
  }
  const mod = await openParticipant(browsers.mod, server, { room: ROOM, identity: 'mod', name: 'Mona Moderator', grants: { roomAdmin: true, roomRecord: true } });
  const guest = await openParticipant(browsers.guest, server, { room: ROOM, identity: 'guest', name: 'Gus Guest' });
  const pages = { mod, guest };
  try {
    await waitFor(async () => (await state(mod)).remotes?.includes('guest'), { timeout: 15_000, message: 'the moderator should see the guest' });
    // The guest has no recording controls; the moderator does.
    await guest.click('#tb-more');
    assert.equal(await guest.$('#menu-recording'), null, 'a guest has no "Start recording"');
    await guest.keyboard.press('Escape');

    const menu = async (page, id) => {
      await page.click('#tb-more');
      await page.waitForSelector(id, { visible: true, timeout: 5000 });
      return page.$eval(id, (el) => el.textContent);
    };
    assert.match(await menu(mod, '#menu-recording'), /Start recording/);
    await mod.click('#menu-recording');
    for (const [who, page] of Object.entries(pages)) {
      await waitFor(async () => (await state(page)).recording === true, { timeout: 20_000, message: `${who} should see the meeting is being recorded` });
      assert.ok(await page.$eval('#recording-indicator', (el) => el.checkVisibility()), `${who} sees the indicator`);
    }
    const startedAt = Date.now();
    await sleep(SPAN_MS);
    await screenshotAll(pages, 'recording');
    assert.match(await menu(mod, '#menu-recording'), /Stop recording/);
    await mod.click('#menu-recording');
    const spanS = (Date.now() - startedAt) / 1000;
    for (const [who, page] of Object.entries(pages)) {
      await waitFor(async () => (await state(page)).recording === false, { timeout: 30_000, message: `${who} should see the recording stop` });
    }

    // "Start live stream" asks for the stream URL; this server allows no destinations, and the
    // dialog says so in the server's words, without the key.
    await menu(mod, '#menu-livestream');
    await mod.click('#menu-livestream');
    await mod.waitForSelector('#livestream-dialog #livestream-url', { visible: true, timeout: 5000 });
    await mod.type('#livestream-url', 'rtmp://a.rtmp.youtube.com/live2/sk-MEETING-7q2');
    await mod.click('#livestream-start');
    const said = await waitFor(
      () => mod.$eval('#livestream-dialog', (d) => (/not allowed/.test(d.textContent) ? d.textContent : false)),
      { timeout: 10_000, message: 'the live stream dialog should show the refusal' },
    );
    assert.match(said, /rtmp:\/\/a\.rtmp\.youtube\.com\/live2\/\{key\}/, 'the refusal names the destination with its key hidden');
    await mod.keyboard.press('Escape');

    const egress = new EgressClient(server.url, server.apiKey, server.apiSecret);
    const info = await waitFor(async () => {
      const [i] = await egress.listEgress({ roomName: ROOM });
      return i?.status === EgressStatus.EGRESS_COMPLETE && i;
    }, { timeout: 30_000, message: 'the recording should complete and upload' });
    const [f] = info.fileResults;
    assert.ok(f.location.startsWith(`${s3.url}/${BUCKET}/${ROOM}/`), `uploaded to the store: ${f.location}`);
    const file = downloadS3(s3, f.location, path.join(dir, 'meeting.mp4'));

    const p = probe(file);
    const codecs = Object.fromEntries(p.streams.map((s) => [s.codec_type, s.codec_name]));
    assert.deepEqual(codecs, { video: 'h264', audio: 'aac' });
    const v = p.streams.find((s) => s.codec_type === 'video');
    assert.deepEqual([v.width, v.height], [1280, 720]);
    const seconds = Number(p.format.duration);
    assert.ok(Math.abs(seconds - spanS) <= 1 + 0.5, `the file lasts ${seconds} s; ${spanS} s were recorded (plus the start's own delay)`);
    assert.equal(decodeErrors(file), '', 'the file decodes without errors');

    // Frames for people to look at (kept whether or not the checks below pass).
    for (const at of [5, 10, 15]) {
      execFileSync('ffmpeg', ['-v', 'error', '-y', '-ss', String(at), '-i', file, '-frames:v', '1', path.join(OUT, `meeting-frame-${at}s.png`)]);
    }
    // Two tiles side by side (grid of two: 640x360 each, centred vertically): in the 64x36
    // picture, x 0..31 and 32..63, y 9..27.
    const W = 64;
    const frames = greyFrames(file, W, 36);
    const tiles = { left: [2, 11, 30, 25], right: [34, 11, 62, 25] };
    const late = frames.slice(Math.floor(frames.length / 4)); // once both pictures are up
    const figures = { spanS, seconds, frames: frames.length, bytes: Number(f.size), tiles: {}, tones: {} };
    for (const [side, rect] of Object.entries(tiles)) {
      const means = late.map((fr) => regionMean(fr, W, rect));
      const lit = means.filter((m) => m > 20).length;
      let changes = 0;
      for (let i = 1; i < late.length; i++) {
        let d = 0;
        const [x0, y0, x1, y1] = rect;
        for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) d += Math.abs(late[i][y * W + x] - late[i - 1][y * W + x]);
        if (d / ((x1 - x0) * (y1 - y0)) > 0.3) changes++;
      }
      figures.tiles[side] = { lit, changes, of: late.length };
      assert.ok(lit >= late.length * 0.9, `the ${side} tile shows a picture (${lit} of ${late.length} frames not black)`);
      assert.ok(changes >= late.length * 0.3, `the ${side} tile moves (${changes} of ${late.length} frames change)`);
    }
    const samples = audioSamples(file);
    for (const [who, hz] of Object.entries(TONES)) {
      // Summed over the middle of the recording, against a frequency nobody plays.
      let tone = 0;
      let off = 0;
      for (let s = 4; s < seconds - 2; s += 2) {
        tone += tonePower(samples, hz, s * 48_000);
        off += tonePower(samples, 500, s * 48_000);
      }
      figures.tones[who] = { hz, ratio: tone / Math.max(off, 1e-12) };
      assert.ok(tone > off * 20, `${who}'s ${hz} Hz tone is in the recording (power ${tone.toExponential(2)} vs ${off.toExponential(2)} at 500 Hz)`);
    }
    writeFileSync(path.join(OUT, 'meeting.json'), `${JSON.stringify(figures, null, 2)}\n`);
  } catch (e) {
    await screenshotAll(pages, 'recording-failure').catch(() => {});
    throw e;
  }
});
