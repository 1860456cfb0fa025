// Background effects and noise suppression in the Meet app, judged by what the other participant
// receives. Alice passes the prejoin screen with Chromium's fake camera: a green frame with a
// moving disc and a running clock in sharp edges, and no person, so all of it is background. Bob
// (no devices) draws her video into a canvas and measures its sharpness (the mean luma step
// between neighbouring pixels, over the whole frame, leaving out the codec's small steps) and the
// mean colour of its outer band. A strong blur must make the frame clearly smoother, a picture
// must turn the band's colour into the picture's, also one chosen while the camera was off. Noise
// suppression is read from Alice's published microphone track. Her choices must still hold after
// she comes back.
//
// MediaPipe runs on its GPU delegate, which in headless Chromium without a GPU is SwiftShader's
// software WebGL: a few processed frames a second on two cores, enough to measure.
//
// Screenshots and figures go to artifacts/e2e/backgrounds/.
// Run: node --test --test-concurrency=1 tests/e2e/backgrounds.test.mjs   (see scripts/test)

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, figureRecorder, launchBrowser, logPage, openParticipant, screenshotAll, sleep, startServer, waitFor } from './lib.mjs';

const TEST_TIMEOUT = 180_000;
const OUT = path.join(ARTIFACTS, 'backgrounds');
const record = figureRecorder('backgrounds');

async function shot(page, name) {
  mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, `${name}.png`) });
}

/**
 * What `page` shows in the <video> `selector`, averaged over `frames` frames: {width, height,
 * sharpness, rgb}, sharpness over the whole frame and rgb over its outer band (a tenth of the
 * shorter side). With `image`, the same of that picture scaled to the frame, as the processor
 * scales it (both are 4:3).
 */
function measure(page, selector, { frames = 4, image } = {}) {
  return page.evaluate(
    async (selector, frames, image) => {
      const video = document.querySelector(selector);
      if (!video?.videoWidth) return null;
      const w = video.videoWidth;
      const h = video.videoHeight;
      const band = Math.round(Math.min(w, h) / 10);
      // Smaller steps are the codec's noise and smooth gradients, not edges.
      const FLOOR = 6;
      const canvas = document.createElement('canvas');
      canvas.width = w;
      canvas.height = h;
      const ctx = canvas.getContext('2d', { willReadFrequently: true });
      const stats = () => {
        const { data } = ctx.getImageData(0, 0, w, h);
        const luma = (i) => 0.299 * data[i] + 0.587 * data[i + 1] + 0.114 * data[i + 2];
        let diff = 0;
        let inBand = 0;
        const rgb = [0, 0, 0];
        for (let y = 0; y < h - 1; y++) {
          for (let x = 0; x < w - 1; x++) {
            const i = (y * w + x) * 4;
            const l = luma(i);
            for (const d of [Math.abs(luma(i + 4) - l), Math.abs(luma(i + 4 * w) - l)]) if (d > FLOOR) diff += d / 2;
            if (y >= band && y < h - band && x >= band && x < w - band) continue;
            for (let c = 0; c < 3; c++) rgb[c] += data[i + c];
            inBand++;
          }
        }
        return { sharpness: diff / ((w - 1) * (h - 1)), rgb: rgb.map((v) => v / inBand) };
      };
      if (image) {
        const img = new Image();
        img.src = image;
        await img.decode();
        ctx.drawImage(img, 0, 0, w, h);
        return { width: w, height: h, ...stats() };
      }
      let sharpness = 0;
      const rgb = [0, 0, 0];
      for (let f = 0; f < frames; f++) {
        await new Promise((resolve) => video.requestVideoFrameCallback(resolve));
        ctx.drawImage(video, 0, 0, w, h);
        const m = stats();
        sharpness += m.sharpness / frames;
        for (let c = 0; c < 3; c++) rgb[c] += m.rgb[c] / frames;
      }
      return { width: w, height: h, sharpness, rgb };
    },
    selector,
    frames,
    image,
  );
}

const tileVideo = (name) => `.tile[data-source="camera"][data-name="${name}"] video`;

const distance = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
const round = (m) => ({ ...m, sharpness: +m.sharpness.toFixed(2), rgb: m.rgb.map((v) => Math.round(v)) });

/** Alice's published camera and microphone as livekit-client has them. */
function published(page) {
  return page.evaluate(() => {
    const lp = window.confab.room.localParticipant;
    const cam = lp.getTrackPublication('camera')?.videoTrack;
    const mic = lp.getTrackPublication('microphone')?.audioTrack;
    return {
      processor: cam?.getProcessor()?.name ?? null,
      // What goes out: the sender's track, processed or not.
      cameraSent: cam?.sender?.track?.id ?? null,
      processed: cam?.getProcessor()?.processedTrack?.id ?? null,
      noiseSuppression: mic?.mediaStreamTrack.getSettings().noiseSuppression,
      micSent: mic?.sender?.track === mic?.mediaStreamTrack,
    };
  });
}

/** Picks `value` in the settings dialog's background list, opened from More > Select background. */
async function chooseInMeeting(page, value, screenshot) {
  await page.click('#tb-more');
  await page.click('#menu-background');
  await waitFor(() => page.evaluate(() => document.querySelector('#settings-dialog')?.open), { timeout: 3000, message: 'the settings should open' });
  await page.select('#settings-dialog #background', value);
  if (screenshot) await shot(page, screenshot);
}

/** Waits until Alice sends processed frames and the picker says nothing more (started, no error). */
async function effectRunning(page, what) {
  await waitFor(
    async () => {
      const p = await published(page);
      const status = await page.evaluate(() => document.querySelector('#background-status')?.textContent ?? '');
      if (status && !status.endsWith('…')) throw new Error(status);
      return p.processor === 'confab-background' && p.processed && p.cameraSent === p.processed && !status;
    },
    { timeout: 30_000, interval: 250, message: `alice's ${what} should start` },
  );
}

test('a blurred or pictured background reaches the others; noise suppression sets the microphone', { timeout: TEST_TIMEOUT }, async (t) => {
  const server = await startServer({ label: 'backgrounds-server' });
  // Chromium warns that its silent fallback to software WebGL is going away; this keeps it.
  const alice = await launchBrowser({ label: 'bg-alice', args: ['--enable-unsafe-swiftshader'] });
  const bob = await launchBrowser({ label: 'bg-bob' });
  let pa;
  let pb;
  t.after(async () => {
    await Promise.all([alice.close(), bob.close()]);
    await server.stop();
  });
  const since = (t0) => Date.now() - t0;
  try {
    const room = 'backdrop';
    pb = await openParticipant(bob, server, { room, identity: 'bob', camera: false, mic: false });

    const [first] = await alice.browser.pages();
    pa = first;
    logPage(pa, alice.log, 'alice');
    // One layer at 640x480, so Bob measures what Alice's processor made, and no bigger: in
    // software WebGL each frame's processing takes about as long as it has pixels.
    const prejoin = async () => {
      await pa.goto(`${server.url}/${room}?name=alice&simulcast=0&capture=640x480`, { waitUntil: 'load' });
      await waitFor(() => pa.evaluate(() => document.querySelector('.preview-video')?.videoWidth > 0), {
        timeout: 15_000,
        message: 'alice should see her camera preview',
      });
    };
    const join = async () => {
      // A click in the page: puppeteer's input events wait seconds behind the preview's processing.
      await pa.$eval('#join', (b) => b.click());
      await waitFor(() => pa.evaluate(() => window.confab?.state().connected), { timeout: 15_000, message: 'alice should join' });
    };
    const received = () => waitFor(() => measure(pb, tileVideo('alice')), { timeout: 15_000, message: "bob should receive alice's video" });

    await prejoin();
    assert.equal(await pa.$eval('#background', (s) => s.value), 'none', 'no background until one is chosen');
    await join();
    const plain = round(await received());
    record('plain', plain);
    await shot(pb, 'plain-tile');
    assert.equal((await published(pa)).processor, null, 'no processor without a background');
    const mediapipe = () => pa.evaluate(() => performance.getEntriesByType('resource').map((e) => e.name).filter((n) => n.includes('/mediapipe-')));
    assert.deepEqual(await mediapipe(), [], 'nothing of MediaPipe loads before someone turns a background on');

    assert.equal((await published(pa)).noiseSuppression, true, "the browser's noise suppression is on by default");
    let t0 = Date.now();
    await pa.click('#tb-more');
    await pa.click('#menu-settings');
    await pa.click('#noise-suppression');
    await waitFor(async () => (await published(pa)).noiseSuppression === false, {
      timeout: 10_000,
      message: "turning noise suppression off should restart alice's microphone without it",
    });
    record('noiseSuppressionOffMs', since(t0));
    assert.ok((await published(pa)).micSent, 'the restarted microphone is the one sent');
    await shot(pa, 'settings-noise');
    await pa.keyboard.press('Escape');

    t0 = Date.now();
    await chooseInMeeting(pa, 'blur-strong', 'settings-background');
    await effectRunning(pa, 'blur');
    record('blurStartMs', since(t0));
    const loaded = await mediapipe();
    assert.ok(loaded.length >= 3 && loaded.every((u) => u.startsWith(server.url)), `MediaPipe comes from Confab itself: ${loaded.join(', ')}`);
    // Frames encoded before the processor took over may still be on their way.
    await sleep(1000);
    const blurred = round(await received());
    record('blurStrong', blurred);
    await shot(pb, 'blurred-tile');
    assert.ok(blurred.sharpness < plain.sharpness * 0.5, `a strong blur should make the frame clearly smoother: ${blurred.sharpness} vs ${plain.sharpness} without`);

    const picture = async (name) => round(await measure(pb, tileVideo('alice'), { image: `/backgrounds/${name}.jpg` }));
    const near = (target) => async (page, selector) => distance((await measure(page, selector, { frames: 2 })).rgb, target.rgb) < 30;
    const lagoon = await picture('lagoon');
    record('lagoonPicture', lagoon);
    const nearLagoon = near(lagoon);
    // In the dialog still open: with the processor busy on Alice's main thread, every click is slow.
    t0 = Date.now();
    await pa.select('#settings-dialog #background', 'lagoon');
    await effectRunning(pa, 'picture');
    record('pictureLoadedMs', since(t0));
    await pa.keyboard.press('Escape');
    await waitFor(() => nearLagoon(pb, tileVideo('alice')), { timeout: 15_000, message: "the band of alice's video should take the picture's colour" });
    record('pictureSwitchMs', since(t0));
    const pictured = round(await received());
    record('lagoon', pictured);
    record('bandColourDistance', { plain: Math.round(distance(plain.rgb, lagoon.rgb)), pictured: Math.round(distance(pictured.rgb, lagoon.rgb)) });
    await shot(pb, 'picture-tile');

    // Chosen with the camera off, a background waits for the camera: no processor can start on it.
    const dusk = await picture('dusk');
    record('duskPicture', dusk);
    const nearDusk = near(dusk);
    t0 = Date.now();
    await pa.keyboard.press('v');
    await waitFor(() => pa.evaluate(() => !window.confab.room.localParticipant.isCameraEnabled), { timeout: 5000, message: "alice's camera should go off" });
    await chooseInMeeting(pa, 'dusk');
    await pa.keyboard.press('Escape');
    assert.equal(await pa.$eval('#background-status', (p) => p.textContent), '', 'no error for a choice made with the camera off');
    // The camera button rather than the V key: the key is ignored while the closing dialog or its
    // picker still holds the focus.
    await waitFor(() => pa.evaluate(() => !document.querySelector('dialog[open]')), { timeout: 3000, message: 'the settings should close' });
    await pa.click('#tb-cam');
    await waitFor(() => nearDusk(pb, tileVideo('alice')), { timeout: 15_000, message: 'the picture chosen with the camera off should go out once it is on' });
    record('cameraOffChoiceMs', since(t0));

    // Both choices are remembered: the prejoin preview shows the picture, and the camera and
    // microphone go out with them.
    t0 = Date.now();
    await prejoin();
    assert.equal(await pa.$eval('#background', (s) => s.value), 'dusk', 'the picture is remembered');
    await waitFor(() => nearDusk(pa, '.preview-video'), { timeout: 20_000, message: "alice's preview should show the remembered picture" });
    record('prejoinPictureMs', since(t0));
    await shot(pa, 'prejoin-background');
    await join();
    await effectRunning(pa, 'remembered picture');
    assert.equal((await published(pa)).noiseSuppression, false, 'noise suppression stays off');
    await waitFor(() => nearDusk(pb, tileVideo('alice')), { timeout: 15_000, message: 'the remembered picture should reach bob' });
    record('rejoinWithPictureMs', since(t0));
  } catch (err) {
    await screenshotAll({ alice: pa, bob: pb }, 'backgrounds-failure');
    throw err;
  }
});
