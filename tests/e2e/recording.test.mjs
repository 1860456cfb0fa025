// Track recording through the Egress API, as `livekit-server-sdk`'s EgressClient calls it. A
// participant on LiveKit's Python SDK publishes a moving camera picture (VP8) and a 440 Hz tone
// (Opus); the test records both tracks for a few seconds, stops, and checks the files as a person
// would: they probe as WebM/VP8 and Ogg/Opus of the recorded length, every frame decodes without
// an error, the picture moves and is not black, the audio carries the tone. Requests the API must
// refuse (unknown room or track, a path outside the recordings folder, a token without
// roomRecord) get their reason and leave no job behind.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { AccessToken, DirectFileOutput, EgressClient, EgressStatus, RoomServiceClient } from 'livekit-server-sdk';
import { ARTIFACTS, REPO, TEST_CONFIG, sleep, startServer, waitFor } from './lib.mjs';
import { audioSamples, decodeErrors, dominantTone, probe, videoFrames } from './media.mjs';
import { PYTHON, interfaceForSdks, startPeer } from './sdk/peers.mjs';

const ROOM = 'recorded';
const TONE = 440;
const CAMERA = { width: 640, height: 360 };
/** How long the test records. */
const SPAN_MS = 8000;

async function apiToken(server, grants) {
  const at = new AccessToken(server.apiKey, server.apiSecret, { identity: 'backoffice', ttl: '10m' });
  at.addGrant(grants);
  return at.toJwt();
}

/** The Twirp error an SDK call failed with: {code, message}. */
async function refusal(promise) {
  try {
    await promise;
  } catch (e) {
    return { code: e.code ?? e.status, message: e.message };
  }
  assert.fail('the request should have been refused');
}

test('track recordings through the Egress API: VP8 to WebM and Opus to Ogg, checked by decoding', { timeout: 120_000 }, async (t) => {
  interfaceForSdks(t);
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-recordings-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const server = await startServer({ label: 'server-recording', config: `${TEST_CONFIG}[recording]\ndir = ${JSON.stringify(dir)}\n` });
  t.after(() => server.stop());
  const peer = await startPeer(t, server, { room: ROOM, label: 'py', tone: TONE, size: CAMERA, argv: [PYTHON, path.join(REPO, 'tests/e2e/sdk/peer.py')] });

  const host = server.url;
  const rooms = new RoomServiceClient(host, server.apiKey, server.apiSecret);
  const egress = new EgressClient(host, server.apiKey, server.apiSecret);
  const [publisher] = await rooms.listParticipants(ROOM);
  const trackOf = (type) => publisher.tracks.find((tr) => tr.type === type)?.sid;
  const video = trackOf(1); // TrackType.VIDEO
  const audio = trackOf(0); // TrackType.AUDIO
  assert.ok(video && audio, `the SDK peer should publish a camera and a microphone: ${JSON.stringify(publisher.tracks)}`);

  // --- refusals first: none may leave a job behind ----------------------------------------------
  const file = (filepath) => new DirectFileOutput({ filepath });
  let r = await refusal(egress.startTrackEgress('no-such-room', file(''), video));
  assert.match(r.message, /no room/, 'an unknown room is named');
  r = await refusal(egress.startTrackEgress(ROOM, file(''), 'TR_nonexistent'));
  assert.match(r.message, /no track "TR_nonexistent"/, 'an unknown track is named');
  r = await refusal(egress.startTrackEgress(ROOM, file('../../etc/x'), video));
  assert.match(r.message, /relative path inside the recordings folder/, 'a path leaving the folder is refused');
  const noGrant = new EgressClient(host, server.apiKey, server.apiSecret);
  const joinOnly = await apiToken(server, { roomJoin: true, room: ROOM });
  const res = await fetch(`${host}/twirp/livekit.Egress/ListEgress`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${joinOnly}` },
    body: '{}',
  });
  assert.equal(res.status, 403, 'a token without roomRecord is refused');
  assert.match((await res.json()).msg, /roomRecord/);
  assert.deepEqual(await noGrant.listEgress({ roomName: ROOM }), [], 'refused requests leave no job');

  // --- record both tracks ---------------------------------------------------------------------
  const started = await Promise.all([
    egress.startTrackEgress(ROOM, file('tracks/{publisher_identity}-{track_type}'), video),
    egress.startTrackEgress(ROOM, file('tracks/{publisher_identity}-{track_type}.ogg'), audio),
  ]);
  for (const info of started) assert.equal(info.status, EgressStatus.EGRESS_STARTING);
  const ids = started.map((i) => i.egressId);
  await waitFor(
    async () => (await egress.listEgress({ roomName: ROOM, active: true })).filter((i) => i.status === EgressStatus.EGRESS_ACTIVE).length === 2,
    { timeout: 15_000, message: 'both recordings should become active' },
  );
  const activeAt = Date.now();
  await sleep(SPAN_MS);
  for (const id of ids) {
    const stopping = await egress.stopEgress(id);
    assert.equal(stopping.status, EgressStatus.EGRESS_ENDING);
  }
  const spanMs = Date.now() - activeAt;
  const done = await waitFor(
    async () => {
      const items = await egress.listEgress({ roomName: ROOM });
      return items.length === 2 && items.every((i) => i.status === EgressStatus.EGRESS_COMPLETE) && items;
    },
    { timeout: 15_000, message: 'both recordings should complete' },
  );
  const results = Object.fromEntries(ids.map((id) => [id, done.find((i) => i.egressId === id).fileResults[0]]));
  const [videoFile, audioFile] = ids.map((id) => results[id]);
  assert.equal(videoFile.location, path.join(dir, 'tracks/py-video.webm'));
  assert.equal(audioFile.location, path.join(dir, 'tracks/py-audio.ogg'));
  for (const f of [videoFile, audioFile]) {
    assert.ok(existsSync(f.location), `${f.location} should exist`);
    assert.equal(Number(f.size), statSync(f.location).size, 'the reported size is the file size');
  }
  await egress.stopEgress(ids[0]).then(
    () => assert.fail('stopping a finished recording should be refused'),
    (e) => assert.match(e.message, /already ended/),
  );

  // --- the files, as a player sees them --------------------------------------------------------
  const v = probe(videoFile.location);
  assert.equal(v.format.format_name.includes('webm') || v.format.format_name.includes('matroska'), true);
  assert.deepEqual(v.streams.map((s) => s.codec_name), ['vp8']);
  assert.equal(decodeErrors(videoFile.location), '', 'every VP8 frame decodes');
  const frames = videoFrames(videoFile.location);
  const seconds = Number(v.format.duration);
  const spanS = spanMs / 1000;
  assert.ok(Math.abs(seconds - spanS) <= 1.5, `video lasts ${seconds} s for ${spanS} s recorded`);
  assert.ok(frames.length >= seconds * 15 * 0.7, `${frames.length} frames in ${seconds} s at 15 fps`);
  assert.ok(frames.every((f) => f.mean > 5), 'no black frames');
  const moving = frames.filter((f) => f.change !== null && f.change > 0.5).length;
  assert.ok(moving >= frames.length * 0.5, `the picture moves: ${moving} of ${frames.length} frames differ from the one before`);

  const a = probe(audioFile.location);
  assert.equal(a.format.format_name, 'ogg');
  assert.deepEqual(a.streams.map((s) => s.codec_name), ['opus']);
  assert.equal(decodeErrors(audioFile.location), '', 'every Opus packet decodes');
  const audioSeconds = Number(a.format.duration);
  assert.ok(Math.abs(audioSeconds - spanS) <= 1.5, `audio lasts ${audioSeconds} s for ${spanS} s recorded`);
  const samples = audioSamples(audioFile.location);
  const tones = [1, Math.floor(audioSeconds / 2), Math.floor(audioSeconds) - 2].map((at) => ({ at, ...dominantTone(samples, at * 48_000) }));
  for (const tone of tones) {
    assert.ok(tone.freq !== null && Math.abs(tone.freq - TONE) <= 10 && tone.rms > 0.05, `the ${TONE} Hz tone at ${tone.at} s: ${JSON.stringify(tone)}`);
  }
  const out = path.join(ARTIFACTS, 'recording');
  mkdirSync(out, { recursive: true });
  const figures = {
    recordedS: spanS,
    video: { seconds, frames: frames.length, moving, bytes: Number(videoFile.size), width: v.streams[0].width, height: v.streams[0].height },
    audio: { seconds: audioSeconds, bytes: Number(audioFile.size), tones },
  };
  writeFileSync(path.join(out, 'figures.json'), `${JSON.stringify(figures, null, 2)}\n`);
  peer.command({ cmd: 'leave' });
});
