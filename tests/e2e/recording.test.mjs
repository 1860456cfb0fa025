// Track recording through the Egress API, as `livekit-server-sdk`'s EgressClient calls it. A
// participant on LiveKit's Python SDK publishes a moving camera picture (VP8) and a 440 Hz tone
// (Opus); the test records both tracks for a few seconds, stops, and checks the files as a person
// would: they probe as WebM/VP8 and Ogg/Opus of the recorded length, every frame decodes without
// an error, the picture moves and is not black, the audio carries the tone. Requests the API must
// refuse (unknown room, track or participant, a path outside the recordings folder, a token without
// roomRecord, an unknown layout, absurd sizes, a second composite of one room) get their reason and
// leave no job behind. Room, participant and track-composite recordings started through the SDK
// come out as H.264 + AAC MP4s.
//
// The server posts webhooks to a receiver the test runs; each must pass livekit-server-sdk's
// WebhookReceiver (signature and body hash), and together they tell the meeting's and the
// recordings' story.
//
// A second test kills the server (and the recorder in it) with SIGKILL mid-recording: the files
// written so far play up to within a few seconds of the kill, and once the server is back the job
// is listed as failed, with the reason and where its file is.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import {
  AccessToken,
  DirectFileOutput,
  EgressClient,
  EgressStatus,
  EncodedFileOutput,
  EncodingOptions,
  RoomCompositeEgressRequest,
  RoomEgress,
  RoomServiceClient,
  WebhookReceiver,
} from 'livekit-server-sdk';
import { ARTIFACTS, REPO, TEST_CONFIG, freeTcpPort, sleep, startServer, waitFor } from './lib.mjs';
import { audioSamples, decodeErrors, dominantTone, lastPacketTime, probe, videoFrames } from './media.mjs';
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

/**
 * An HTTP endpoint on loopback that takes webhooks and checks each with the SDK's WebhookReceiver
 * (once the server's key is known): {url, events, rejected, close}.
 */
async function webhookSink(t) {
  const port = await freeTcpPort();
  const sink = { url: `http://127.0.0.1:${port}/hooks`, events: [], rejected: [], receiver: null };
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', async () => {
      try {
        const event = await sink.receiver.receive(body, req.headers.authorization);
        sink.events.push(event);
        res.writeHead(200).end();
      } catch (e) {
        sink.rejected.push(`${e}`);
        res.writeHead(401).end();
      }
    });
  });
  await new Promise((resolve) => server.listen(port, '127.0.0.1', resolve));
  t.after(() => server.close());
  return sink;
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
  const hooks = await webhookSink(t);
  const config = `${TEST_CONFIG}[recording]\ndir = ${JSON.stringify(dir)}\n[webhook]\nurls = [${JSON.stringify(hooks.url)}]\n`;
  const server = await startServer({ label: 'server-recording', config });
  t.after(() => server.stop());
  hooks.receiver = new WebhookReceiver(server.apiKey, server.apiSecret);
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
  // Room composites through the SDK: refusals with their reasons; a second one of the same room.
  const mp4 = { file: new EncodedFileOutput({ filepath: 'composite/{room_name}' }) };
  r = await refusal(egress.startRoomCompositeEgress('no-such-room', mp4));
  assert.match(r.message, /no room/);
  r = await refusal(egress.startRoomCompositeEgress(ROOM, mp4, { layout: 'mosaic' }));
  assert.match(r.message, /unknown layout "mosaic"/);
  r = await refusal(egress.startRoomCompositeEgress(ROOM, mp4, { encodingOptions: new EncodingOptions({ width: 100000, height: 50000 }) }));
  assert.match(r.message, /100000x50000 is not a size/);
  assert.deepEqual(await noGrant.listEgress({ roomName: ROOM }), [], 'refused requests leave no job');
  const composite = await egress.startRoomCompositeEgress(ROOM, mp4, { layout: 'speaker' });
  r = await refusal(egress.startRoomCompositeEgress(ROOM, mp4));
  assert.match(r.message, new RegExp(`already being recorded \\(${composite.egressId}\\)`), 'one composite per room');
  await egress.stopEgress(composite.egressId);
  await waitFor(async () => !(await egress.listEgress({ roomName: ROOM, active: true })).length, { timeout: 20_000, message: 'the composite should end' });
  const [compositeInfo] = await egress.listEgress({ egressId: composite.egressId });
  assert.ok(
    [EgressStatus.EGRESS_COMPLETE, EgressStatus.EGRESS_ABORTED].includes(compositeInfo.status),
    `the SDK's composite ends cleanly: ${compositeInfo.status} ${compositeInfo.error}`,
  );
  // One person (camera and microphone), and two named tracks, through the SDK: each an MP4 with
  // H.264 and AAC. An unknown person is refused.
  r = await refusal(egress.startParticipantEgress(ROOM, 'nobody', { file: new EncodedFileOutput({ filepath: 'x' }) }));
  assert.match(r.message, /no participant "nobody"/);
  const person = await egress.startParticipantEgress(ROOM, 'py', { file: new EncodedFileOutput({ filepath: 'people/{publisher_identity}' }) });
  await sleep(3000);
  await egress.stopEgress(person.egressId);
  const pair = await egress.startTrackCompositeEgress(ROOM, { file: new EncodedFileOutput({ filepath: 'pairs/{room_name}' }) }, { audioTrackId: audio, videoTrackId: video });
  await sleep(3000);
  await egress.stopEgress(pair.egressId);
  for (const [what, id, file] of [['participant', person.egressId, 'people/py.mp4'], ['track composite', pair.egressId, `pairs/${ROOM}.mp4`]]) {
    const done = await waitFor(async () => {
      const [i] = await egress.listEgress({ egressId: id });
      return i.status === EgressStatus.EGRESS_COMPLETE && i;
    }, { timeout: 20_000, message: `the ${what} recording should complete` });
    assert.equal(done.fileResults[0].location, path.join(dir, file));
    const p = probe(done.fileResults[0].location);
    assert.deepEqual(Object.fromEntries(p.streams.map((s) => [s.codec_type, s.codec_name])), { video: 'h264', audio: 'aac' }, what);
    assert.ok(Number(p.format.duration) >= 2, `the ${what} recording lasts ${p.format.duration} s`);
  }
  const jobsBefore = (await egress.listEgress({ roomName: ROOM })).length;

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
      const items = (await egress.listEgress({ roomName: ROOM })).filter((i) => ids.includes(i.egressId));
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
  // --- webhooks ---------------------------------------------------------------------------------
  peer.command({ cmd: 'leave' });
  const names = () => hooks.events.map((e) => e.event);
  await waitFor(() => names().includes('room_finished'), { timeout: 10_000, message: `room_finished should arrive (got ${names()})` });
  assert.deepEqual(hooks.rejected, [], 'every webhook passes the SDK\'s signature and hash check');
  const count = (name) => names().filter((n) => n === name).length;
  assert.equal((await egress.listEgress({ roomName: ROOM })).length, jobsBefore + 2);
  for (const [name, n] of Object.entries({ room_started: 1, participant_joined: 1, track_published: 2, egress_started: 5, egress_ended: 5, participant_left: 1, room_finished: 1 })) {
    assert.equal(count(name), n, `${n} ${name} (got ${names().join(', ')})`);
  }
  assert.ok(count('egress_updated') >= 4, 'egress_updated when each recording became active and when it was stopped');
  const joined = hooks.events.find((e) => e.event === 'participant_joined');
  assert.equal(joined.participant.identity, 'py');
  assert.equal(joined.room.name, ROOM);
  const published = hooks.events.filter((e) => e.event === 'track_published').map((e) => e.track.sid).sort();
  assert.deepEqual(published, [video, audio].sort());
  for (const id of ids) {
    const ended = hooks.events.find((e) => e.event === 'egress_ended' && e.egressInfo.egressId === id);
    assert.equal(ended.egressInfo.status, EgressStatus.EGRESS_COMPLETE);
    assert.equal(ended.egressInfo.fileResults[0].location, results[id].location);
  }
  const order = ['room_started', 'participant_joined', 'egress_started', 'egress_ended', 'participant_left', 'room_finished'];
  const firstAt = order.map((n) => names().indexOf(n));
  assert.deepEqual([...firstAt].sort((x, y) => x - y), firstAt, `events in the order they happened: ${names().join(', ')}`);

  const out = path.join(ARTIFACTS, 'recording');
  mkdirSync(out, { recursive: true });
  const figures = {
    webhooks: names(),
    recordedS: spanS,
    video: { seconds, frames: frames.length, moving, bytes: Number(videoFile.size), width: v.streams[0].width, height: v.streams[0].height },
    audio: { seconds: audioSeconds, bytes: Number(audioFile.size), tones },
  };
  writeFileSync(path.join(out, 'figures.json'), `${JSON.stringify(figures, null, 2)}\n`);
});

test('a recorder killed mid-recording leaves files that play, and the job is reported failed', { timeout: 120_000 }, async (t) => {
  interfaceForSdks(t);
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-recordings-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = `${TEST_CONFIG}[recording]\ndir = ${JSON.stringify(path.join(dir, 'files'))}\n`;
  const env = { CONFAB_DATABASE_URL: `sqlite://${path.join(dir, 'confab.db')}` };
  const server = await startServer({ label: 'server-recording-kill', config, env });
  t.after(() => server.stop());
  const peer = await startPeer(t, server, { room: ROOM, label: 'py', tone: TONE, size: CAMERA, argv: [PYTHON, path.join(REPO, 'tests/e2e/sdk/peer.py')] });
  const egress = new EgressClient(server.url, server.apiKey, server.apiSecret);
  const [publisher] = await new RoomServiceClient(server.url, server.apiKey, server.apiSecret).listParticipants(ROOM);
  const ids = [];
  for (const track of publisher.tracks) {
    ids.push((await egress.startTrackEgress(ROOM, new DirectFileOutput({ filepath: `killed/{track_type}` }), track.sid)).egressId);
  }
  await waitFor(async () => (await egress.listEgress({ roomName: ROOM })).every((i) => i.status === EgressStatus.EGRESS_ACTIVE), {
    timeout: 15_000,
    message: 'the recordings should become active',
  });
  const activeAt = Date.now();
  await sleep(6000);
  server.child.kill('SIGKILL');
  const recordedS = (Date.now() - activeAt) / 1000;
  await server.stop();
  peer.command({ cmd: 'leave' });

  const partial = { video: path.join(dir, 'files/killed/video.webm'), audio: path.join(dir, 'files/killed/audio.ogg') };
  const figures = { recordedS };
  for (const [kind, file] of Object.entries(partial)) {
    assert.ok(existsSync(file), `${file} should be there after the kill`);
    const last = lastPacketTime(file, kind[0]);
    figures[kind] = { lastPacketS: last, bytes: statSync(file).size };
    assert.ok(last >= recordedS - 3, `the ${kind} file plays to ${last} s of ${recordedS} s recorded before the kill`);
  }
  const frames = videoFrames(partial.video);
  figures.video.frames = frames.length;
  assert.ok(frames.length >= (recordedS - 3) * 15 * 0.7, `${frames.length} frames decode from the killed recording`);
  const tone = dominantTone(audioSamples(partial.audio), 48_000);
  assert.ok(Math.abs(tone.freq - TONE) <= 10, `the killed audio recording carries its tone: ${JSON.stringify(tone)}`);

  // The server comes back on the same database: the jobs are failed, with the reason and the files.
  const again = await startServer({ label: 'server-recording-restart', config, env });
  t.after(() => again.stop());
  const items = await new EgressClient(again.url, again.apiKey, again.apiSecret).listEgress({ roomName: ROOM });
  assert.deepEqual(items.map((i) => i.egressId).sort(), [...ids].sort());
  for (const info of items) {
    assert.equal(info.status, EgressStatus.EGRESS_FAILED, `${info.egressId} should be failed after the kill`);
    assert.match(info.error, /killed, crashed or restarted/);
    const [f] = info.fileResults;
    assert.ok(Object.values(partial).includes(f.location), `the job says where its file is: ${f.location}`);
    assert.equal(Number(f.size), statSync(f.location).size, 'with the size found on disk');
  }
  figures.error = items[0].error;
  writeFileSync(path.join(ARTIFACTS, 'recording', 'killed.json'), `${JSON.stringify(figures, null, 2)}\n`);
});

test('a room created to record itself records from its first participant until the last leaves; the finalize command gets the file', { timeout: 90_000 }, async (t) => {
  interfaceForSdks(t);
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-recordings-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'finalized'));
  const finalize = JSON.stringify(['cp', '{path}', path.join(dir, 'finalized', '{egress_id}-{name}')]);
  const config = `${TEST_CONFIG}[recording]\ndir = ${JSON.stringify(path.join(dir, 'files'))}\nfinalize = ${finalize}\n`;
  const server = await startServer({ label: 'server-recording-auto', config });
  t.after(() => server.stop());
  const rooms = new RoomServiceClient(server.url, server.apiKey, server.apiSecret);
  const egress = new EgressClient(server.url, server.apiKey, server.apiSecret);
  const recording = new RoomCompositeEgressRequest({ layout: 'grid', fileOutputs: [new EncodedFileOutput({ filepath: 'auto/{room_name}' })] });
  await rooms.createRoom({ name: 'standup', emptyTimeout: 60, egress: new RoomEgress({ room: recording }) });
  assert.deepEqual(await egress.listEgress({ roomName: 'standup' }), [], 'nothing records an empty room');
  const peer = await startPeer(t, server, { room: 'standup', label: 'py', tone: TONE, size: CAMERA, argv: [PYTHON, path.join(REPO, 'tests/e2e/sdk/peer.py')] });
  const [job] = await waitFor(async () => {
    const items = await egress.listEgress({ roomName: 'standup' });
    return items[0]?.status === EgressStatus.EGRESS_ACTIVE && items;
  }, { timeout: 15_000, message: 'the room should start recording with its first participant' });
  await sleep(4000);
  peer.command({ cmd: 'leave' });
  const done = await waitFor(async () => {
    const [i] = await egress.listEgress({ egressId: job.egressId });
    return i.status === EgressStatus.EGRESS_COMPLETE && i;
  }, { timeout: 20_000, message: 'the recording should end when the last person leaves' });
  const [f] = done.fileResults;
  assert.equal(f.location, path.join(dir, 'files', 'auto', 'standup.mp4'));
  const p = probe(f.location);
  assert.deepEqual(Object.fromEntries(p.streams.map((s) => [s.codec_type, s.codec_name])), { video: 'h264', audio: 'aac' });
  assert.ok(Number(p.format.duration) >= 3, `the auto-recording lasts ${p.format.duration} s`);
  const copy = path.join(dir, 'finalized', `${job.egressId}-standup.mp4`);
  assert.ok(existsSync(copy), 'the finalize command ran with the file');
  assert.equal(statSync(copy).size, statSync(f.location).size);
});
