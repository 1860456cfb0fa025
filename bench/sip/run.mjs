#!/usr/bin/env node
// The SIP gateway under load: concurrent G.711 calls, each streaming a tone, dialled straight into
// a few rooms ([sip.direct]) by sipp, so every caller hears the mix of the others in its room.
// Reports calls set up, the server process's CPU (utime + stime from /proc) per call once all are
// up, calls per core from that, and the set-up time from answer to joined (the server's log).
//
//   bench/sip/run.mjs [--calls 20] [--rooms 4] [--hold 60] [--out DIR]
//
// CONFAB_BIN picks the binary (default: the debug build the tests use; a release build is
// cheaper). Loopback only. Needs Debian's sip-tester (sipp) and sox, for the tone.

import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const { TEST_CONFIG, freeUdpPort, sleep, startServer, waitFor } = await import(path.join(REPO, 'tests/e2e/lib.mjs'));
const { callScenario } = await import(path.join(REPO, 'tests/e2e/sip.mjs'));

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const calls = Number(args.calls ?? 20);
const rooms = Number(args.rooms ?? 4);
const holdS = Number(args.hold ?? 60);
const out = path.resolve(args.out ?? path.join(REPO, 'bench/results/sip'));

const dir = mkdtempSync(path.join(tmpdir(), 'confab-sip-bench-'));
const [sipPort, sippPort] = [await freeUdpPort(), await freeUdpPort()];
const numbers = Array.from({ length: rooms }, (_, i) => `+1555020${i}`);
const direct = numbers.map((n, i) => `"${n}" = "room-${i}"`).join('\n');
const server = await startServer({
  label: 'bench-sip',
  config: `${TEST_CONFIG}[sip]\nlisten = "127.0.0.1:${sipPort}"\nmax_calls = ${calls + 10}\n[sip.direct]\n${direct}\n`,
});

try {
  // A 1 kHz tone, 10 s, looped by each call.
  execFileSync('sox', ['-n', '-r', '8000', '-c', '1', '-e', 'mu-law', '-t', 'raw', path.join(dir, 'tone.ulaw'), 'synth', '10', 'sine', '1000', 'vol', '0.3']);
  writeFileSync(path.join(dir, 'calls.csv'), `SEQUENTIAL\n${Array.from({ length: calls }, (_, i) => numbers[i % rooms]).join('\n')}\n`);
  writeFileSync(
    path.join(dir, 'load.xml'),
    callScenario({
      dialled: '[field0]',
      caller: { name: 'Load [call_number]', user: 'load[call_number]' },
      mediaPort: '[rtpstream_audio_port]',
      holdMs: holdS * 1000,
      afterAck: '  <nop><action><exec rtp_stream="tone.ulaw,-1,0"/></action></nop>',
    }),
  );
  const started = Date.now();
  const sipp = spawn('sipp', [`127.0.0.1:${sipPort}`, '-sf', 'load.xml', '-inf', 'calls.csv', '-m', String(calls), '-l', String(calls), '-r', '10', '-i', '127.0.0.1', '-mi', '127.0.0.1', '-p', String(sippPort), '-nostdin', '-trace_stat', '-stf', 'stat.csv', '-fd', '1', '-trace_err'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  const sippDone = new Promise((r) => sipp.once('exit', r));
  const joined = () => (readFileSync(server.logPath, 'utf8').match(/caller joined the meeting/g) ?? []).length;
  await waitFor(() => joined() >= calls, { timeout: 60_000, interval: 200, message: `all ${calls} calls should join` });
  const allUpMs = Date.now() - started;
  // Settle, then measure CPU over a window with every call up.
  await sleep(3000);
  const cpu = () => {
    const f = readFileSync(`/proc/${server.child.pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in seconds (USER_HZ 100)
  };
  const windowS = Math.max(5, Math.min(30, holdS - 10));
  const [c0, t0] = [cpu(), Date.now()];
  await sleep(windowS * 1000);
  const [c1, t1] = [cpu(), Date.now()];
  const cpuFraction = (c1 - c0) / ((t1 - t0) / 1000);
  const code = await sippDone;
  const log = readFileSync(server.logPath, 'utf8');
  const answered = [...log.matchAll(/(\S+Z) .*call answered/g)].map((m) => Date.parse(m[1]));
  const inRoom = [...log.matchAll(/(\S+Z) .*caller joined the meeting/g)].map((m) => Date.parse(m[1]));
  const setup = inRoom.map((t, i) => t - answered[i]).sort((a, b) => a - b);
  const report = {
    when: new Date().toISOString(),
    commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO }).toString().trim(),
    binary: process.env.CONFAB_BIN ?? 'target/debug/confab',
    calls,
    rooms,
    calls_per_room: calls / rooms,
    all_joined_after_ms: allUpMs,
    sipp_exit: code,
    ended_by_caller: (log.match(/call ended by the caller/g) ?? []).length,
    cpu_window_s: windowS,
    server_cpu_cores: Math.round(cpuFraction * 1000) / 1000,
    cpu_ms_per_call_second: Math.round((cpuFraction / calls) * 1e4) / 10,
    calls_per_core: Math.round(calls / cpuFraction),
    setup_ms_median: setup[Math.floor(setup.length / 2)],
    setup_ms_max: setup.at(-1),
  };
  mkdirSync(out, { recursive: true });
  writeFileSync(path.join(out, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(
    path.join(out, 'report.md'),
    `# SIP gateway under load (${report.when}, commit ${report.commit}, ${report.binary})

${calls} G.711 calls from sipp, each streaming a 1 kHz tone, dialled straight into ${rooms} rooms
(${report.calls_per_room} callers a room, each hearing the mix of the others), held ${holdS} s.

| Figure | Value |
|---|---|
| Calls set up and ended by the caller | ${report.ended_by_caller} of ${calls} (sipp exit ${code}) |
| All joined after | ${allUpMs} ms (sipp starts 10 calls/s) |
| Server CPU with all calls up (${windowS} s window) | ${report.server_cpu_cores} cores |
| CPU per call | ${report.cpu_ms_per_call_second} ms per second of call |
| Calls per core | ${report.calls_per_core} |
| Answer to joined, median / max | ${report.setup_ms_median} / ${report.setup_ms_max} ms |

The CPU is the whole server process: the gateway (G.711, Opus encode and decode at 8 kHz, the
mix) and the bridge forwarding each caller's Opus to the others in its room.
`,
  );
  console.log(JSON.stringify(report, null, 2));
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
