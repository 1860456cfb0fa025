// Tiles without a picture show the person's avatar (initials on a colour of their own), never a
// black or frozen video: a camera that is off, a camera published but sending no frames (as an SDK
// publisher whose video never arrives), and one whose frames stop while it stays published (as
// when the publisher's network dies). Two browsers: Ada, who talks and turns her camera on and off,
// and Grace, who publishes a canvas as her camera and draws on it only when the test says so.
// Whether a tile shows the avatar is judged by its pixels as well as by the DOM.
//
// Screenshots and figures go to artifacts/e2e/avatars/.

import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ARTIFACTS, figureRecorder, launchBrowser, openParticipant, screenshotAll, startServer, waitFor, writeWav } from './lib.mjs';

const OUT = path.join(ARTIFACTS, 'avatars');
const ROOM = 'avatars';
const record = figureRecorder('avatars');

/** What `page` shows on `identity`'s camera tile. */
function tileOf(page, identity) {
  return page.evaluate((id) => {
    const tile = document.querySelector(`.tile[data-source="camera"][data-identity="${id}"]`);
    if (!tile) return null;
    const avatar = tile.querySelector('.avatar');
    const video = tile.querySelector('video');
    const shown = (el) => el.getClientRects().length > 0 && Number(getComputedStyle(el).opacity) > 0;
    const note = getComputedStyle(avatar, '::after').content;
    return {
      place: tile.parentElement?.className,
      avatar: shown(avatar),
      initials: avatar.textContent,
      colour: getComputedStyle(avatar).backgroundColor,
      note: note === 'none' ? '' : note.replace(/^"|"$/g, ''),
      video: shown(video),
      frames: video.getVideoPlaybackQuality().totalVideoFrames,
      speaking: tile.classList.contains('speaking'),
    };
  }, identity);
}

/**
 * Screenshots `identity`'s tile on `page` to OUT/`name`.png and measures it: the share of pixels
 * that are near black, the share in the avatar's colour against the share its circle covers, and
 * how much the brightness varies.
 */
async function pixels(page, identity, name) {
  const clip = await page.evaluate((id) => {
    const r = document.querySelector(`.tile[data-source="camera"][data-identity="${id}"]`).getBoundingClientRect();
    return { x: r.x, y: r.y, width: r.width, height: r.height };
  }, identity);
  const png = await page.screenshot({ clip, path: path.join(OUT, `${name}.png`) });
  return page.evaluate(
    async (b64, id) => {
      const tile = document.querySelector(`.tile[data-source="camera"][data-identity="${id}"]`);
      const avatar = tile.querySelector('.avatar');
      const bitmap = await createImageBitmap(new Blob([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], { type: 'image/png' }));
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = canvas.getContext('2d');
      ctx.drawImage(bitmap, 0, 0);
      const { data } = ctx.getImageData(0, 0, bitmap.width, bitmap.height);
      const [ar, ag, ab] = getComputedStyle(avatar).backgroundColor.match(/\d+/g).map(Number);
      const n = data.length / 4;
      let dark = 0;
      let like = 0;
      let sum = 0;
      let sum2 = 0;
      for (let i = 0; i < data.length; i += 4) {
        const [r, g, b] = [data[i], data[i + 1], data[i + 2]];
        if (Math.max(r, g, b) < 24) dark++;
        if (Math.abs(r - ar) <= 8 && Math.abs(g - ag) <= 8 && Math.abs(b - ab) <= 8) like++;
        const y = 0.2126 * r + 0.7152 * g + 0.0722 * b;
        sum += y;
        sum2 += y * y;
      }
      const round = (x) => Math.round(x * 1000) / 1000;
      const a = avatar.getBoundingClientRect();
      const t = tile.getBoundingClientRect();
      return {
        size: `${bitmap.width}x${bitmap.height}`,
        darkShare: round(dark / n),
        avatarColourShare: round(like / n),
        avatarCircleShare: round((Math.PI * (a.width / 2) ** 2) / (t.width * t.height)),
        lumaSd: round(Math.sqrt(sum2 / n - (sum / n) ** 2)),
      };
    },
    Buffer.from(png).toString('base64'),
    identity,
  );
}

/** The avatar's circle is painted (in its colour, at least 60 % of its area) and the tile is not a black box. */
function assertAvatarPainted(px, what) {
  assert.ok(px.darkShare < 0.3, `${what}: the tile should not be black (${JSON.stringify(px)})`);
  assert.ok(px.avatarColourShare >= px.avatarCircleShare * 0.6, `${what}: the avatar's circle should be painted (${JSON.stringify(px)})`);
}

test('a tile without a picture shows the avatar: camera off, no frames yet, frames stopped', { timeout: 120_000 }, async (t) => {
  mkdirSync(OUT, { recursive: true });
  const server = await startServer({ label: 'server-avatars' });
  t.after(() => server.stop());
  // Ada's microphone talks in bursts, like syllables, so that she counts as speaking.
  const talk = writeWav(path.join(OUT, 'talk.wav'), 3, (s) => (s % 0.3 < 0.22 ? (8000 / 32767) * Math.sin(2 * Math.PI * 440 * s) : 0));
  const [ta, tg] = await Promise.all([
    launchBrowser({ label: 'avatars-ada', args: [`--use-file-for-fake-audio-capture=${talk}`] }),
    launchBrowser({ label: 'avatars-grace' }),
  ]);
  t.after(() => Promise.all([ta.close(), tg.close()]));
  // Adaptive stream as in the app: a tile that shows the avatar must still ask for the video.
  const A = await openParticipant(ta, server, { room: ROOM, identity: 'ada', name: 'Ada Lovelace', camera: false, adaptive: true });
  const G = await openParticipant(tg, server, { room: ROOM, identity: 'grace', name: 'Grace Hopper', camera: false, mic: false, adaptive: true });

  try {
    // (a) Camera off: Grace sees Ada's initials, in the colour Ada sees on her own tile, and the
    // speaking outline around them while Ada talks.
    const off = await waitFor(async () => {
      const tile = await tileOf(G, 'ada');
      return tile?.avatar && tile.speaking && tile;
    }, { timeout: 15_000, message: "Grace should see Ada's avatar, outlined while she talks" });
    assert.equal(off.initials, 'AL');
    assert.equal(off.video, false);
    const own = await tileOf(A, 'ada');
    assert.equal(own.colour, off.colour, 'Ada has the same colour in both browsers');
    assert.equal(own.initials, 'AL');
    const offPx = await pixels(G, 'ada', 'a-camera-off');
    record('cameraOff', { tile: off, pixels: offPx });
    assertAvatarPainted(offPx, 'camera off');

    // She turns her camera on: her video replaces the avatar; off again: the avatar is back.
    await A.click('#tb-cam');
    const on = await waitFor(async () => {
      const tile = await tileOf(G, 'ada');
      return tile?.video && !tile.avatar && tile.frames > 0 && tile;
    }, { timeout: 15_000, message: "Grace should see Ada's video once her camera is on" });
    const onPx = await pixels(G, 'ada', 'a-camera-on');
    record('cameraOn', { tile: on, pixels: onPx });
    assert.ok(onPx.avatarColourShare < 0.01 && onPx.darkShare < 0.5 && onPx.lumaSd > 10, `Ada's video is a picture, not the avatar (${JSON.stringify(onPx)})`);
    await A.click('#tb-cam');
    await waitFor(async () => (await tileOf(G, 'ada'))?.avatar, { timeout: 10_000, message: "Grace should see Ada's avatar again once her camera is off" });

    // (b) Grace publishes a camera that sends no frames: a canvas nobody draws on.
    await G.evaluate(async () => {
      const canvas = Object.assign(document.createElement('canvas'), { width: 640, height: 360 });
      const [track] = canvas.captureStream(0).getVideoTracks();
      let hue = 0;
      let timer;
      window.testCanvas = {
        draw(on) {
          clearInterval(timer);
          if (!on) return;
          const ctx = canvas.getContext('2d');
          timer = setInterval(() => {
            ctx.fillStyle = `hsl(${(hue += 7) % 360} 80% 50%)`;
            ctx.fillRect(0, 0, 640, 360);
            track.requestFrame();
          }, 100);
        },
      };
      await window.confab.room.localParticipant.publishTrack(track, { source: 'camera', simulcast: false });
    });
    // Ada receives the track, unmuted, and shows Grace's avatar in its place, then says that no
    // video arrives.
    await waitFor(
      () => A.evaluate(() => {
        const pub = window.confab.room.remoteParticipants.get('grace')?.getTrackPublication('camera');
        return !!pub?.track && !pub.isMuted;
      }),
      { timeout: 10_000, message: "Ada should subscribe to Grace's camera" },
    );
    const waiting = await tileOf(A, 'grace');
    assert.ok(waiting.avatar && !waiting.video, `Ada sees Grace's avatar, not her empty video (${JSON.stringify(waiting)})`);
    assert.equal(waiting.initials, 'GH');
    assert.equal(waiting.colour, (await tileOf(G, 'grace')).colour, 'Grace has the same colour in both browsers');
    const stalled = await waitFor(async () => {
      const tile = await tileOf(A, 'grace');
      return tile.note && tile;
    }, { timeout: 8000, message: 'Ada should see a note that no video arrives from Grace' });
    assert.equal(stalled.note, 'waiting for video');
    assert.ok(stalled.avatar && !stalled.video);
    const noFramesPx = await pixels(A, 'grace', 'b-no-frames-stage');
    record('noFrames', { tile: stalled, pixels: noFramesPx });
    assertAvatarPainted(noFramesPx, 'no frames, stage');
    // Grace's own tile in her filmstrip, and Grace in Ada's tile view, show the avatar too.
    const self = await tileOf(G, 'grace');
    assert.ok(self.place === 'filmstrip' && self.avatar && !self.video, `Grace's own filmstrip tile shows her avatar (${JSON.stringify(self)})`);
    assertAvatarPainted(await pixels(G, 'grace', 'b-no-frames-own-filmstrip'), 'no frames, own filmstrip tile');
    await A.keyboard.press('w');
    await waitFor(async () => (await tileOf(A, 'grace'))?.place === 'grid', { timeout: 5000, message: 'W should switch Ada to tile view' });
    assertAvatarPainted(await pixels(A, 'grace', 'b-no-frames-grid'), 'no frames, tile view');
    await A.keyboard.press('w');
    await waitFor(async () => (await tileOf(A, 'grace'))?.place === 'stage', { timeout: 5000, message: 'W should switch Ada back to stage view' });

    // (c) Frames flow: the video replaces the avatar. They stop, the track still published: the
    // avatar comes back with the note after about three seconds.
    await G.evaluate(() => window.testCanvas.draw(true));
    await waitFor(async () => {
      const tile = await tileOf(A, 'grace');
      return tile.video && !tile.avatar && tile.frames > 0;
    }, { timeout: 15_000, message: "Ada should see Grace's video once frames flow" });
    const flowingPx = await pixels(A, 'grace', 'c-frames-flowing');
    assert.ok(flowingPx.avatarColourShare < 0.01 && flowingPx.darkShare < 0.5, `Grace's video is a picture, not the avatar (${JSON.stringify(flowingPx)})`);
    const stoppedAt = Date.now();
    await G.evaluate(() => window.testCanvas.draw(false));
    const frozen = await waitFor(async () => {
      const tile = await tileOf(A, 'grace');
      return tile.avatar && tile.note && tile;
    }, { timeout: 10_000, message: "Ada should see Grace's avatar again once her frames stop" });
    const avatarAfterMs = Date.now() - stoppedAt;
    assert.equal(frozen.note, 'waiting for video');
    const stoppedPx = await pixels(A, 'grace', 'c-frames-stopped');
    record('framesStopped', { avatarAfterMs, tile: frozen, pixels: stoppedPx });
    assertAvatarPainted(stoppedPx, 'frames stopped');
    await G.evaluate(() => window.testCanvas.draw(true));
    await waitFor(async () => {
      const tile = await tileOf(A, 'grace');
      return tile.video && !tile.avatar && !tile.note;
    }, { timeout: 10_000, message: "Ada should see Grace's video again once frames flow again" });
  } catch (err) {
    await screenshotAll({ ada: A, grace: G }, 'avatars-failed');
    throw err;
  }
});
