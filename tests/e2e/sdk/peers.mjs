// LiveKit's native SDKs as test participants: tests/e2e/sdk/peer.py (the Python SDK) and peer.mjs
// (@livekit/rtc-node), started as child processes and driven over stdin (see their headers).

import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { REPO, artifactLog, token } from '../lib.mjs';

/** The Python SDK's interpreter: scripts/test makes tests/e2e/sdk/.venv; CONFAB_SDK_PYTHON names another. */
export const PYTHON = process.env.CONFAB_SDK_PYTHON ?? path.join(REPO, 'tests/e2e/sdk/.venv/bin/python');

/**
 * Starts one SDK participant; returns {label, command(obj), report(), exited}. Its output goes
 * to an artifact log; only its {"ready"} and {"report"} lines are protocol (rtc-node's own logger
 * writes JSON lines to stdout too).
 */
export async function startPeer(t, server, { room, label, tone, size, argv }) {
  const log = artifactLog(`sdk-${label}`);
  const env = { ...process.env, LIVEKIT_TOKEN: await token(server, { room, identity: label }), NODE_ENV: 'production' };
  const args = [...argv, '--url', server.wsUrl, '--label', label, '--tone', String(tone), '--size', `${size.width}x${size.height}`];
  log(`starting ${args.join(' ')}`);
  const child = spawn(args[0], args.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
    log.close();
  });
  child.stderr.on('data', (d) => log(`[stderr] ${String(d).trimEnd()}`));
  child.stdin.on('error', () => {}); // the peer may be gone already
  const waiting = []; // resolvers of report() calls, oldest first
  let ready;
  const readyLine = new Promise((resolve) => (ready = resolve));
  createInterface({ input: child.stdout }).on('line', (line) => {
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      msg = null;
    }
    if (msg?.report) waiting.shift()?.(msg.report);
    else log(`[stdout] ${line}`);
    if (msg?.ready) ready(msg);
  });
  const startedAt = Date.now();
  const first = await within(Promise.race([readyLine, exited]), 30_000, null);
  assert.ok(first?.ready, `${label} should connect and publish within 30 s (got ${JSON.stringify(first)}); see ${log.path}`);
  assert.equal(first.identity, label);
  const command = (obj) => child.stdin.write(`${JSON.stringify(obj)}\n`);
  return {
    label,
    startedAt,
    exited,
    command,
    async report() {
      const answer = new Promise((resolve) => waiting.push(resolve));
      command({ cmd: 'report' });
      const r = await within(answer, 5000, null);
      if (!r) throw new Error(`${label} gave no report within 5 s`);
      return r;
    },
  };
}

/** `promise`, or `fallback` once `ms` have passed (a timer that does not keep the test running). */
export function within(promise, ms, fallback) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(resolve, ms, fallback);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * In scripts/test's private network namespace (loopback only), gives the SDKs an interface to
 * gather an ICE candidate on: libwebrtc leaves loopback interfaces out, and the native SDKs have no
 * switch like Chromium's --allow-loopback-in-peer-connection. A veth pair with a documentation
 * address leads nowhere; the server, on 127.0.0.1, is reached from it through loopback routing.
 */
export function interfaceForSdks(t) {
  if (process.env.CONFAB_E2E_NETNS_ACTIVE !== '1') return;
  const ip = (...args) => execFileSync('ip', args, { stdio: 'pipe' });
  ip('link', 'add', 'confab-sdk0', 'type', 'veth', 'peer', 'name', 'confab-sdk1');
  t.after(() => ip('link', 'del', 'confab-sdk0'));
  ip('addr', 'add', '192.0.2.1/24', 'dev', 'confab-sdk0');
  ip('link', 'set', 'confab-sdk0', 'up');
  ip('link', 'set', 'confab-sdk1', 'up');
}

