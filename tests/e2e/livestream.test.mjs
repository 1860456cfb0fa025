// Live streaming to RTMP, as Jibri does for YouTube: nginx with its RTMP module (Debian's
// libnginx-mod-rtmp, started by the test on loopback) records what it receives as FLV. A Python-SDK
// participant is streamed through livekit-server-sdk's EgressClient to one destination, a second is
// added while live (UpdateStream) and the first removed; both FLV files probe as H.264 + AAC of the
// expected lengths. A destination outside the operator's allow-list is refused with the reason, and
// the stream keys never show: not in the jobs ListEgress returns, not in webhooks' place (the job),
// not in the server's log.

import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { EgressClient, EgressStatus, StreamOutput, StreamProtocol } from 'livekit-server-sdk';
import { ARTIFACTS, REPO, TEST_CONFIG, freeTcpPort, sleep, startServer, waitFor } from './lib.mjs';
import { audioSamples, dominantTone, probe } from './media.mjs';
import { startNginx } from './nginx.mjs';
import { PYTHON, interfaceForSdks, startPeer } from './sdk/peers.mjs';

const ROOM = 'town-hall';
const TONE = 440;
const KEYS = ['sk-FIRST-5f3a9c', 'sk-SECOND-8e1d2b'];

/** nginx with the RTMP module on 127.0.0.1:port, recording each stream to <dir>/<key>.flv. */
const startRtmp = (t, port, dir) =>
  startNginx(t, {
    dir,
    port,
    label: 'nginx-rtmp',
    modules: ['/usr/lib/nginx/modules/ngx_rtmp_module.so'],
    config: `rtmp {
  server {
    listen 127.0.0.1:${port};
    application live {
      live on;
      record all;
      record_path ${dir};
      record_unique off;
    }
  }
}`,
  });

test('a meeting live-streamed over RTMP to two destinations, one added while live; keys stay secret', { timeout: 150_000 }, async (t) => {
  interfaceForSdks(t);
  const dir = mkdtempSync(path.join(tmpdir(), 'confab-rtmp-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const port = await freeTcpPort();
  await startRtmp(t, port, dir);
  const base = `rtmp://127.0.0.1:${port}/live`;
  const config = `${TEST_CONFIG}[recording]\ndir = ${JSON.stringify(path.join(dir, 'files'))}\nstream_allow = ["${base}/*"]\n`;
  const server = await startServer({ label: 'server-livestream', config });
  t.after(() => server.stop());
  const peer = await startPeer(t, server, { room: ROOM, label: 'py', tone: TONE, size: { width: 640, height: 360 }, argv: [PYTHON, path.join(REPO, 'tests/e2e/sdk/peer.py')] });
  const egress = new EgressClient(server.url, server.apiKey, server.apiSecret);
  const stream = (...urls) => ({ stream: new StreamOutput({ protocol: StreamProtocol.RTMP, urls }) });

  // Outside the allow-list: refused, saying why, without the key.
  const refused = await egress.startRoomCompositeEgress(ROOM, stream('rtmp://203.0.113.9/live/sk-ELSEWHERE-1'), { layout: 'speaker' }).then(
    () => assert.fail('a destination outside the allow-list should be refused'),
    (e) => e.message,
  );
  assert.match(refused, /live streaming to rtmp:\/\/203\.0\.113\.9\/live\/\{key\} is not allowed/);
  assert.ok(!refused.includes('sk-ELSEWHERE-1'), 'the refusal does not repeat the stream key');
  assert.deepEqual(await egress.listEgress({ roomName: ROOM }), [], 'a refused request leaves no job');

  const info = await egress.startRoomCompositeEgress(ROOM, stream(`${base}/${KEYS[0]}`), { layout: 'speaker' });
  const id = info.egressId;
  const job = async () => (await egress.listEgress({ egressId: id }))[0];
  await waitFor(async () => (await job()).status === EgressStatus.EGRESS_ACTIVE, { timeout: 15_000, message: 'the live stream should become active' });
  const first = path.join(dir, `${KEYS[0]}.flv`);
  await waitFor(() => existsSync(first) && statSync(first).size > 50_000, { timeout: 15_000, message: 'nginx should receive the first stream' });
  await sleep(4000);
  await egress.updateStream(id, [`${base}/${KEYS[1]}`], []);
  const second = path.join(dir, `${KEYS[1]}.flv`);
  await waitFor(() => existsSync(second) && statSync(second).size > 50_000, { timeout: 15_000, message: 'nginx should receive the added stream' });
  await sleep(4000);
  await egress.updateStream(id, [], [`${base}/${KEYS[0]}`]);
  await sleep(2000);
  const running = await job();
  const byKey = Object.fromEntries(running.streamResults.map((s) => [s.url, s]));
  assert.deepEqual(Object.keys(byKey).sort(), [`${base}/{key}`], 'both destinations are shown with the key hidden');
  assert.equal(running.streamResults.length, 2);
  await egress.stopEgress(id);
  const done = await waitFor(async () => {
    const j = await job();
    return j.status === EgressStatus.EGRESS_COMPLETE && j;
  }, { timeout: 20_000, message: 'the live stream should end complete' });
  await sleep(1000); // nginx closes the FLV files when the connections end

  const figures = { streams: {} };
  for (const [name, file] of Object.entries({ first, second })) {
    const p = probe(file);
    const codecs = Object.fromEntries(p.streams.map((s) => [s.codec_type, s.codec_name]));
    assert.deepEqual(codecs, { video: 'h264', audio: 'aac' }, `${name} stream as nginx recorded it`);
    const seconds = Number(p.format.duration);
    const tone = dominantTone(audioSamples(file), 48_000);
    figures.streams[name] = { seconds, bytes: statSync(file).size, tone };
    assert.ok(seconds >= 4, `the ${name} stream lasts ${seconds} s`);
    assert.ok(Math.abs(tone.freq - TONE) <= 10, `the ${name} stream carries the ${TONE} Hz tone: ${JSON.stringify(tone)}`);
  }
  assert.ok(figures.streams.first.seconds > figures.streams.second.seconds - 1, 'the first destination ran longer, until it was removed');

  // The keys are secrets.
  const shown = JSON.stringify(await egress.listEgress({ roomName: ROOM }));
  const log = readFileSync(server.logPath, 'utf8');
  for (const key of KEYS) {
    assert.ok(!shown.includes(key), `ListEgress does not show ${key}`);
    assert.ok(!log.includes(key), `the server log does not show ${key}`);
  }
  figures.streamResults = done.streamResults.map((s) => ({ url: s.url, status: s.status, error: s.error }));
  mkdirSync(path.join(ARTIFACTS, 'recording'), { recursive: true });
  writeFileSync(path.join(ARTIFACTS, 'recording', 'livestream.json'), `${JSON.stringify(figures, null, 2)}\n`);
  peer.command({ cmd: 'leave' });
});
