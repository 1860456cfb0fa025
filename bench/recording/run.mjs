#!/usr/bin/env node
// Recording costs, measured on this machine: what a recording adds to the server process's CPU
// time and memory, side by side with the same meeting unrecorded.
//
//   bench/recording/run.mjs [--out DIR]       (after scripts/test has built and installed things)
//
// Track recordings: synthetic participants (confab-loadgen, simulcast 720p VP8 + Opus-sized
// audio) publish; the server's CPU (utime + stime from /proc) is sampled in windows without and
// with every track recorded, alternating, and the difference per recording gives recordings per
// core. Room composite: two participants on LiveKit's Python SDK (real VP8 from libwebrtc, so the
// recorder has something to decode) in windows without and with a 720p30 composite recording.
// Medians of the windows are reported; the machine is small and noisy, so each figure comes with
// its spread. Writes report.json and report.md to --out (default bench/results/recording).
//
// Loopback only; run it inside a network namespace (as scripts/test does for the e2e tests) if the
// SDK participants need an interface (see tests/e2e/sdk/peers.mjs).

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const e2e = (m) => import(path.join(REPO, 'tests/e2e', m));
const { TEST_CONFIG, sleep, startServer, waitFor } = await e2e('lib.mjs');
const { PYTHON, startPeer } = await e2e('sdk/peers.mjs');
const { DirectFileOutput, EgressClient, EgressStatus, EncodedFileOutput, RoomServiceClient } = await import(
  path.join(REPO, 'tests/e2e/node_modules/livekit-server-sdk/dist/index.js')
);

const args = process.argv.slice(2);
const OUT = args.includes('--out') ? args[args.indexOf('--out') + 1] : path.join(REPO, 'bench/results/recording');
const WINDOW_MS = 8000;
const ROUNDS = 3;
const BOTS = 8;
const TICKS = 100; // clock ticks per second (getconf CLK_TCK on Linux)

/** CPU seconds and resident MiB of process `pid` so far. */
function usage(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpu = (Number(fields[11]) + Number(fields[12])) / TICKS;
  const rss = Number(readFileSync(`/proc/${pid}/statm`, 'utf8').split(' ')[1]) * 4096 / (1 << 20);
  return { cpu, rss };
}

/** Cores the process used over one window. */
async function window(pid) {
  const a = usage(pid);
  const t0 = Date.now();
  await sleep(WINDOW_MS);
  const b = usage(pid);
  return { cores: (b.cpu - a.cpu) / ((Date.now() - t0) / 1000), rss: b.rss };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const spread = (xs) => [Math.min(...xs), Math.max(...xs)];

/** Alternate windows without and with `start()`..`stop()`; the difference per window. */
async function sideBySide(pid, start, stop) {
  const off = [];
  const on = [];
  const rssOff = [];
  const rssOn = [];
  for (let i = 0; i < ROUNDS; i++) {
    const w0 = await window(pid);
    off.push(w0.cores);
    rssOff.push(w0.rss);
    await start();
    await sleep(2000); // let it settle: joined, keyframes in
    const w1 = await window(pid);
    on.push(w1.cores);
    rssOn.push(w1.rss);
    await stop();
    await sleep(2000);
  }
  return {
    coresWithout: median(off),
    coresWith: median(on),
    added: median(on.map((c, i) => c - off[i])),
    addedSpread: spread(on.map((c, i) => c - off[i])),
    rssAddedMiB: median(rssOn.map((r, i) => r - rssOff[i])),
  };
}

const t = { after: (fn) => cleanups.push(fn) };
const cleanups = [];
const dir = mkdtempSync(path.join(tmpdir(), 'confab-bench-recording-'));
cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
const report = { machine: { cores: (await import('node:os')).cpus().length }, windowMs: WINDOW_MS, rounds: ROUNDS };
try {
  const server = await startServer({ label: 'bench-recording', config: `${TEST_CONFIG}[recording]\ndir = ${JSON.stringify(dir)}\nmax_jobs = 1000\n` });
  cleanups.push(() => server.stop());
  const pid = server.child.pid;
  const egress = new EgressClient(server.url, server.apiKey, server.apiSecret);
  const rooms = new RoomServiceClient(server.url, server.apiKey, server.apiSecret);
  const stopAll = async () => {
    for (const i of await egress.listEgress({ active: true })) await egress.stopEgress(i.egressId).catch(() => {});
    await waitFor(async () => (await egress.listEgress({ active: true })).length === 0, { timeout: 30_000 });
  };

  // --- track recordings --------------------------------------------------------------------
  const seconds = Math.ceil((ROUNDS * (2 * WINDOW_MS + 4000)) / 1000) + 30;
  const bots = spawn(path.join(REPO, 'target/debug/confab-loadgen'), ['--url', server.wsUrl, '--rooms', '1', '--per-room', String(BOTS), '--duration', `${seconds}s`, '--room-prefix', 'bench-'], {
    env: { ...process.env, CONFAB_API_KEY: server.apiKey, CONFAB_API_SECRET: server.apiSecret },
    stdio: 'ignore',
  });
  cleanups.push(() => bots.kill('SIGKILL'));
  const room = 'bench-0';
  const tracks = await waitFor(async () => {
    const ps = await rooms.listParticipants(room).catch(() => []);
    const all = ps.flatMap((p) => p.tracks.map((tr) => tr.sid));
    return all.length >= BOTS * 2 && all;
  }, { timeout: 30_000, message: 'the bots should publish' });
  await sleep(3000);
  const tracked = await sideBySide(
    pid,
    async () => {
      for (const sid of tracks) await egress.startTrackEgress(room, new DirectFileOutput({ filepath: `bench/{track_id}-{time}` }), sid);
    },
    stopAll,
  );
  const perRecording = tracked.added / tracks.length;
  report.track = {
    recordings: tracks.length,
    ...tracked,
    coresPerRecording: perRecording,
    recordingsPerCore: perRecording > 0 ? 1 / perRecording : null,
    rssPerRecordingMiB: tracked.rssAddedMiB / tracks.length,
  };
  bots.kill('SIGKILL');
  await sleep(2000);

  // --- room composite --------------------------------------------------------------------------
  const peers = [];
  for (const [label, tone] of [['a', 440], ['b', 660]]) {
    peers.push(await startPeer(t, server, { room: 'bench-composite', label, tone, size: { width: 640, height: 360 }, argv: [PYTHON, path.join(REPO, 'tests/e2e/sdk/peer.py')] }));
  }
  await sleep(3000);
  const composite = await sideBySide(
    pid,
    () => egress.startRoomCompositeEgress('bench-composite', { file: new EncodedFileOutput({ filepath: 'bench/composite-{time}' }) }),
    stopAll,
  );
  report.composite = { participants: peers.length, canvas: '1280x720 30 fps, x264 veryfast 1 thread, AAC', ...composite };
  const done = (await egress.listEgress({ roomName: 'bench-composite' })).filter((i) => i.status === EgressStatus.EGRESS_COMPLETE);
  report.composite.completed = done.length;
  for (const p of peers) p.command({ cmd: 'leave' });
} finally {
  for (const fn of cleanups.reverse()) await fn();
}

mkdirSync(OUT, { recursive: true });
writeFileSync(path.join(OUT, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
const f = (x, d = 3) => (x === null || x === undefined ? 'n/a' : Number(x).toFixed(d));
const md = `# Recording costs

${report.machine.cores} cores; ${ROUNDS} rounds of ${WINDOW_MS / 1000} s windows without and with the recordings, medians (spread).
CPU is the server process's (utime + stime), so it includes forwarding the same meeting either way.

| | Without | With | Added | Per recording |
|---|---|---|---|---|
| ${report.track.recordings} track recordings (720p simulcast synthetic participants, highest layer) | ${f(report.track.coresWithout)} cores | ${f(report.track.coresWith)} cores | ${f(report.track.added)} (${report.track.addedSpread.map((x) => f(x)).join(' to ')}) | ${f(report.track.coresPerRecording, 4)} cores: **${f(report.track.recordingsPerCore, 0)} recordings per core**; ${f(report.track.rssPerRecordingMiB, 2)} MiB |
| 1 room composite, ${report.composite.participants} SDK participants at 640x360, ${report.composite.canvas} | ${f(report.composite.coresWithout)} cores | ${f(report.composite.coresWith)} cores | **${f(report.composite.added)} cores** (${report.composite.addedSpread.map((x) => f(x)).join(' to ')}) | ${f(report.composite.rssAddedMiB, 1)} MiB |

Made by \`bench/recording/run.mjs\`.
`;
writeFileSync(path.join(OUT, 'report.md'), md);
console.log(md);
