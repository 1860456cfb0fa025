// Recordings uploaded to a real S3-compatible server (moto's, from PyPI, started by the test on
// loopback), and nothing lost when it is down: a recording stopped while the server is gone stays
// in the local folder, its job says so (backupStorageUsed, and the details name the folder and the
// error), and once the server is back the upload is tried again and lands. Each uploaded object is
// downloaded and probed.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { DirectFileOutput, EgressClient, EgressStatus, RoomServiceClient } from 'livekit-server-sdk';
import { ARTIFACTS, REPO, TEST_CONFIG, freeTcpPort, sleep, startServer, timeLimit, waitFor } from './lib.mjs';
import { BUCKET, downloadS3, s3Config, startS3 } from './s3.mjs';
import { probe } from './media.mjs';
import { PYTHON, interfaceForSdks, startPeer } from './sdk/peers.mjs';

const ROOM = 'stored';

test('recordings go to an S3-compatible store, and one stopped while it is down uploads once it is back', { timeout: 150_000 }, async (t) => {
  interfaceForSdks(t);
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-recordings-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freeTcpPort();
  let s3 = await startS3(t, port, 's3-first');
  const config = `${TEST_CONFIG}[recording]\ndir = ${JSON.stringify(dir)}\n${s3Config(s3, { retryEvery: 2 })}`;
  const server = await startServer({ label: 'server-recording-s3', config });
  t.after(() => server.stop());
  const peer = await startPeer(t, server, { room: ROOM, label: 'py', tone: 440, size: { width: 640, height: 360 }, argv: [PYTHON, path.join(REPO, 'tests/e2e/sdk/peer.py')] });
  const egress = new EgressClient(server.url, server.apiKey, server.apiSecret);
  const [publisher] = await new RoomServiceClient(server.url, server.apiKey, server.apiSecret).listParticipants(ROOM);
  const audio = publisher.tracks.find((tr) => tr.type === 0).sid;
  const video = publisher.tracks.find((tr) => tr.type === 1).sid;
  const info = async (id) => (await egress.listEgress({ egressId: id }))[0];
  const record = async (track, filepath, seconds, beforeStop = async () => {}) => {
    const { egressId } = await egress.startTrackEgress(ROOM, new DirectFileOutput({ filepath }), track);
    await waitFor(async () => (await info(egressId)).status === EgressStatus.EGRESS_ACTIVE, { timeout: 15_000, message: `${filepath} should become active` });
    await sleep(seconds * 1000);
    await beforeStop();
    await egress.stopEgress(egressId);
    return egressId;
  };
  const download = (url, name) => downloadS3(s3, url, path.join(dir, name));
  const figures = {};

  // 1. The store is up: the file is uploaded, checked, and the local copy removed.
  const first = await record(audio, 'calls/{publisher_identity}-audio', 4);
  const done = await waitFor(async () => {
    const i = await info(first);
    return i.status === EgressStatus.EGRESS_COMPLETE && i;
  }, { timeout: 20_000, message: 'the first recording should complete' });
  const [f1] = done.fileResults;
  assert.equal(f1.location, `${s3.url}/${BUCKET}/calls/py-audio.ogg`);
  assert.equal(done.backupStorageUsed, false);
  assert.ok(!existsSync(path.join(dir, 'calls/py-audio.ogg')), 'the local copy is removed once uploaded');
  const a = probe(await download(f1.location, 'first.ogg'));
  assert.deepEqual(a.streams.map((s) => s.codec_name), ['opus']);
  assert.ok(Math.abs(Number(a.format.duration) - 4) <= 1.5, `the uploaded file lasts ${a.format.duration} s`);
  assert.equal(Number(a.format.size), Number(f1.size), 'the store holds the whole file');
  figures.uploaded = { seconds: Number(a.format.duration), bytes: Number(f1.size) };

  // 2. The store goes away before the recording stops: the file stays local, and the job says so.
  const second = await record(video, 'calls/{publisher_identity}-video', 4, () => s3.stop());
  const kept = await waitFor(async () => {
    const i = await info(second);
    return i.status === EgressStatus.EGRESS_COMPLETE && i;
  }, { timeout: 90_000, message: 'the second recording should complete, kept locally' });
  const local = path.join(dir, 'calls/py-video.webm');
  assert.equal(kept.backupStorageUsed, true);
  assert.equal(kept.fileResults[0].location, local);
  assert.ok(existsSync(local), 'the file is in the local folder');
  assert.match(kept.details, new RegExp(`kept at ${local}.*tried again every 2 s`));
  figures.keptDetails = kept.details;

  // 3. The store comes back (empty, as a new server): the retry uploads it.
  const backAt = Date.now();
  s3 = await startS3(t, port, 's3-again');
  const uploaded = await waitFor(async () => {
    const i = await info(second);
    return !i.backupStorageUsed && i.fileResults[0].location.startsWith('http') && i;
  }, { timeout: 30_000, message: 'the kept file should be uploaded once the store is back' });
  figures.uploadedAfterBackMs = Date.now() - backAt;
  assert.equal(uploaded.fileResults[0].location, `${s3.url}/${BUCKET}/calls/py-video.webm`);
  assert.equal(uploaded.details, '');
  assert.ok(!existsSync(local), 'the local copy is removed once uploaded');
  const v = probe(await download(uploaded.fileResults[0].location, 'second.webm'));
  assert.deepEqual(v.streams.map((s) => s.codec_name), ['vp8']);
  assert.ok(Math.abs(Number(v.format.duration) - 4) <= 1.5, `the late upload lasts ${v.format.duration} s`);
  figures.lateUpload = { seconds: Number(v.format.duration), bytes: Number(uploaded.fileResults[0].size) };
  mkdirSync(path.join(ARTIFACTS, 'recording'), { recursive: true });
  writeFileSync(path.join(ARTIFACTS, 'recording', 'storage.json'), `${JSON.stringify(figures, null, 2)}\n`);
  peer.command({ cmd: 'leave' });
  await Promise.race([peer.exited, timeLimit(5000)]);
});
