// LiveKit's native SDKs in a Confab meeting, beside a browser: one participant on the Python SDK
// (`livekit`), one on the Node SDK (`@livekit/rtc-node`), both on LiveKit's Rust core, and one
// Chromium running the Meet app. The SDK participants are tests/e2e/sdk/peer.py and peer.mjs: each
// publishes a moving picture and a sine tone of its own frequency, and reports on request what it
// received (see their headers).
//
// The Python SDK comes from a virtualenv that scripts/test makes (tests/e2e/sdk/.venv);
// CONFAB_SDK_PYTHON names another interpreter that has `livekit` and numpy.
// Figures go to artifacts/e2e/sdk/figures.json.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { PYTHON, interfaceForSdks, startPeer, within } from './sdk/peers.mjs';
import {
  ARTIFACTS,
  REPO,
  launchBrowser,
  messages,
  openParticipant,
  screenshotAll,
  sleep,
  startServer,
  state,
  stats,
  waitFor,
  writeWav,
} from './lib.mjs';

const OUT = path.join(ARTIFACTS, 'sdk');
const ROOM = 'sdk';
const TONES = { py: 440, node: 660, web: 880 };
/**
 * The SDK cameras' size. From 960x540 the native SDKs publish three simulcast layers, q = 320x180,
 * h = 640x360 and f = 960x540. (At 640x360 they publish two, but q is then also 640x360, only at a
 * lower bitrate: no size a receiver could tell the layers apart by.)
 */
const CAMERA = { width: 960, height: 540 };
const LOW_WIDTH = 320;
/** "high" means the best layer the server's bandwidth allocation lets through: h or f. */
const HIGH_MIN_WIDTH = 640;

/** Frame count, width and tone a peer reports for `from`. */
const seen = (report, from) => report.remotes[from] ?? { video: { frames: 0, width: 0 }, audio: { freq: null, rms: 0 } };
/** Waits until `peer` has decoded `n` more frames of `from`'s video than in `since` (a report). */
async function keepsDecoding(peer, from, since, { n = 5, timeout = 5000, what = '' } = {}) {
  const base = seen(since, from).video.frames;
  let more = 0;
  try {
    await waitFor(async () => (more = seen(await peer.report(), from).video.frames - base) >= n, { timeout });
  } catch {
    assert.fail(`${peer.label} should keep decoding ${from}'s video${what}: ${more} frames in ${timeout} ms`);
  }
}
const hearsTone = (audio, hz) => audio.freq !== null && Math.abs(audio.freq - hz) <= 25 && audio.rms > 0.01;

test('the Python and Node SDKs meet a browser: media, layers, data, speakers, mute, leave', { timeout: 180_000 }, async (t) => {
  interfaceForSdks(t);
  const server = await startServer({ label: 'server-sdk' });
  t.after(() => server.stop());
  // firstFrameMs and highLayerAfterMs count from an SDK peer's start (x->py, x->node) or from
  // room.connect() in the page (x->web); tones are as heard when media first flowed.
  const figures = { firstFrameMs: {}, highLayerAfterMs: {}, tones: {}, layerSwitchMs: {}, layerWidth: {} };

  // The browser's fake microphone plays its tone in 220 ms bursts every 300 ms, like syllables: a
  // steady tone looks like noise to Chromium's noise suppression, which once let it through at an
  // RMS of 0.011 (-39 dBFS); the bursts arrive at 0.05 to 0.3.
  const burst = (s) => (s % 0.3 < 0.22 ? (8000 / 32767) * Math.sin(2 * Math.PI * TONES.web * s) : 0);
  const wav = writeWav(path.join(OUT, 'tone-880.wav'), 3, burst);
  const tb = await launchBrowser({ label: 'web', args: [`--use-file-for-fake-audio-capture=${wav}`] });
  t.after(() => tb.close());
  assert.ok(existsSync(PYTHON), `no Python for the SDK peer at ${PYTHON}: run scripts/test, or set CONFAB_SDK_PYTHON`);
  const [py, node, web] = await Promise.all([
    startPeer(t, server, { room: ROOM, label: 'py', tone: TONES.py, size: CAMERA, argv: [PYTHON, path.join(REPO, 'tests/e2e/sdk/peer.py')] }),
    startPeer(t, server, { room: ROOM, label: 'node', tone: TONES.node, size: CAMERA, argv: [process.execPath, path.join(REPO, 'tests/e2e/sdk/peer.mjs')] }),
    openParticipant(tb, server, { room: ROOM, identity: 'web' }),
  ]);
  const peers = { py, node };

  try {
    // Each SDK peer decodes video from the other SDK peer and from the browser, and hears each
    // one's tone.
    await Promise.all(
      Object.entries(peers).map(async ([me, peer]) => {
        const others = ['py', 'node', 'web'].filter((x) => x !== me);
        const r = await waitFor(
          async () => {
            const r = await peer.report();
            return others.every((o) => seen(r, o).video.width > 0 && hearsTone(seen(r, o).audio, TONES[o])) && r;
          },
          { timeout: 30_000, interval: 500, message: `${me} should decode video from and hear ${others.join(' and ')}` },
        );
        for (const o of others) {
          figures.firstFrameMs[`${o}->${me}`] = seen(r, o).video.firstFrameAt - peer.startedAt;
          figures.tones[`${o}->${me}`] = { freq: seen(r, o).audio.freq, rms: seen(r, o).audio.rms };
        }
        for (const o of others) await keepsDecoding(peer, o, r, { n: 10 });
      }),
    );

    // The browser decodes both SDK cameras and hears both microphones: over 2 s, frames rise and
    // the audio energy adds up to an average level above -40 dBFS (the tones are at -12).
    const readWeb = async () => {
      const s = await stats(web);
      return { at: Date.now(), py: s.py ?? {}, node: s.node ?? {} };
    };
    await waitFor(async () => {
      const s = await readWeb();
      return ['py', 'node'].every((o) => s[o].video?.framesDecoded > 0 && s[o].audio?.totalAudioEnergy > 0);
    }, { timeout: 20_000, message: 'the browser should decode and hear both SDK peers' });
    const before = await readWeb();
    await sleep(2000);
    const after = await readWeb();
    figures.atBrowser = {};
    for (const o of ['py', 'node']) {
      const frames = after[o].video.framesDecoded - before[o].video.framesDecoded;
      const level = Math.sqrt((after[o].audio.totalAudioEnergy - before[o].audio.totalAudioEnergy) / ((after.at - before.at) / 1000));
      figures.atBrowser[o] = { frameWidth: after[o].video.frameWidth, framesIn2s: frames, audioLevel: Math.round(level * 1e4) / 1e4 };
      assert.ok(frames >= 5, `the browser should keep decoding ${o}: ${frames} frames in 2 s`);
      assert.ok(level > 0.01, `the browser should hear ${o}: average level ${level}`);
    }
    for (const [o, ms] of Object.entries(await web.evaluate(() => window.confab.firstFrameMs))) figures.firstFrameMs[`${o}->web`] = ms;

    // Layers: each SDK peer asks for the other's low layer, then the high one again. Without a
    // request they get the best layer the link allows, so they start above the low one.
    for (const [me, other] of [['py', 'node'], ['node', 'py']]) {
      await waitFor(async () => seen(await peers[me].report(), other).video.width >= HIGH_MIN_WIDTH, {
        timeout: 30_000,
        message: `${me} should first receive ${other} at ${HIGH_MIN_WIDTH} wide or more`,
      });
      figures.highLayerAfterMs[`${other}->${me}`] = Date.now() - peers[me].startedAt;
      for (const [quality, ok, expect] of [
        ['low', (w) => w > 0 && w <= LOW_WIDTH, `<= ${LOW_WIDTH}`],
        ['high', (w) => w >= HIGH_MIN_WIDTH, `>= ${HIGH_MIN_WIDTH}`],
      ]) {
        const asked = Date.now();
        peers[me].command({ cmd: 'quality', identity: other, quality });
        const r = await waitFor(async () => {
          const r = await peers[me].report();
          return ok(seen(r, other).video.width) && r;
        }, {
          timeout: 15_000,
          message: `after asking for ${other}'s ${quality} layer, ${me} should receive frames ${expect} wide`,
        });
        figures.layerSwitchMs[`${me} asks ${other} ${quality}`] = Date.now() - asked;
        figures.layerWidth[`${me} asks ${other} ${quality}`] = seen(r, other).video.width;
        await keepsDecoding(peers[me], other, r, { what: ` on its ${quality} layer` });
      }
    }

    // Data: each sends one message; the other two receive it from the right sender.
    py.command({ cmd: 'send', text: 'hello from py', topic: 'sdk' });
    node.command({ cmd: 'send', text: 'hello from node', topic: 'sdk' });
    await web.evaluate(() => window.confab.sendData('hello from web', 'sdk'));
    for (const [me, peer] of Object.entries(peers)) {
      for (const from of ['py', 'node', 'web'].filter((x) => x !== me)) {
        const m = await waitFor(async () => (await peer.report()).data.find((d) => d.text === `hello from ${from}`), {
          timeout: 5000,
          message: `${me} should receive ${from}'s message`,
        });
        assert.deepEqual([m.from, m.topic], [from, 'sdk'], `${me}: sender and topic of ${from}'s message`);
      }
    }
    for (const from of ['py', 'node']) {
      const m = await waitFor(async () => (await messages(web)).find((d) => d.text === `hello from ${from}`), {
        timeout: 5000,
        message: `the browser should receive ${from}'s message`,
      });
      assert.deepEqual([m.from, m.topic], [from, 'sdk'], `browser: sender and topic of ${from}'s message`);
    }

    // Speakers: both tones are loud and steady, so each SDK peer has heard the other speak.
    for (const [me, other] of [['py', 'node'], ['node', 'py']]) {
      const r = await peers[me].report();
      const heard = r.speakers.some((s) => s.identities.includes(other));
      assert.ok(heard, `${me} should have seen ${other} as an active speaker: ${JSON.stringify(r.speakers)}`);
      figures[`speakerUpdatesPerSecond@${me}`] = Math.round((r.speakerUpdates / ((Date.now() - peers[me].startedAt) / 1000)) * 10) / 10;
    }

    // Mute: py mutes its microphone; node is told and hears silence, the browser shows it muted.
    const pyMicMuted = () =>
      web.evaluate(() => window.confab.room.remoteParticipants.get('py')?.getTrackPublication('microphone')?.isMuted);
    for (const muted of [true, false]) {
      const at = Date.now();
      py.command({ cmd: 'mute', muted });
      const told = async () => (await node.report()).mutes.find((m) => m.identity === 'py' && m.at >= at && m.muted === muted);
      const ev = await waitFor(told, {
        timeout: 10_000,
        message: `node should be told py's microphone is ${muted ? 'muted' : 'unmuted'}`,
      });
      assert.deepEqual([ev.kind, ev.source], ['audio', 'microphone']);
      await waitFor(async () => (await pyMicMuted()) === muted, {
        timeout: 10_000,
        message: `the browser should show py's microphone ${muted ? 'muted' : 'unmuted'}`,
      });
      figures[muted ? 'muteSeenMs' : 'unmuteSeenMs'] = Date.now() - at;
      // What node hears of py: silence while muted, the tone again after.
      await waitFor(async () => {
        const audio = seen(await node.report(), 'py').audio;
        return muted ? audio.rms < 0.005 : hearsTone(audio, TONES.py);
      }, { timeout: 10_000, message: `node should hear ${muted ? 'silence' : "py's tone again"} from py` });
    }

    // Leave: py leaves; node and the browser see it go.
    const leftAt = Date.now();
    py.command({ cmd: 'leave' });
    const exit = await within(py.exited, 15_000, 'still running');
    assert.deepEqual(exit, { code: 0, signal: null }, 'py should leave and exit 0');
    await waitFor(async () => (await node.report()).left.some((l) => l.identity === 'py'), {
      timeout: 15_000,
      message: 'node should see py leave',
    });
    await waitFor(async () => !(await state(web)).remotes.includes('py'), { timeout: 15_000, message: 'the browser should see py leave' });
    figures.leaveSeenMs = Date.now() - leftAt;
    assert.deepEqual((await node.report()).participants, ['web'], 'node is left with the browser');
  } catch (err) {
    await screenshotAll({ web }, 'sdk');
    throw err;
  } finally {
    t.diagnostic(`figures: ${JSON.stringify(figures)}`);
    mkdirSync(OUT, { recursive: true });
    writeFileSync(path.join(OUT, 'figures.json'), JSON.stringify(figures, null, 2));
  }

  node.command({ cmd: 'leave' });
  assert.deepEqual(await within(node.exited, 15_000, 'still running'), { code: 0, signal: null }, 'node should leave and exit 0');
});
