// Helpers for Confab's browser end-to-end tests: start the server binary, mint tokens, drive
// Debian's Chromium (one real browser process per participant) through the page's
// `window.confab` test hooks (web/src/hooks.ts), and poll for what a person would see.
//
// Only loopback addresses are used: the server binds 127.0.0.1 and advertises 127.0.0.1.
//
// CONFAB_WEB_DIST=web/dist serves the web app from that directory instead of the copy embedded in
// the binary (through a small front that proxies everything else to the server), so a web change
// can be tested without rebuilding the server.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { AccessToken } from 'livekit-server-sdk';
import puppeteer from 'puppeteer-core';

export { sleep };
/** A time limit for Promise.race that does not keep the process alive once the race is won. */
export const timeLimit = (ms) => sleep(ms, null, { ref: false });

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const ARTIFACTS = path.join(REPO, 'artifacts', 'e2e');
export const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';

const RUN_STAMP = new Date().toISOString().replace(/[:.]/g, '-');
let logCounter = 0;

// Everything started here, so that a failing or interrupted run leaves nothing behind.
const liveServers = new Set();
const liveBrowsers = new Set();
process.on('exit', () => {
  for (const s of liveServers) s.child.kill('SIGKILL');
  for (const b of liveBrowsers) {
    b.killGroup();
    rmSync(b.userDataDir, { recursive: true, force: true });
  }
});

/** A log file under artifacts/e2e/; returns a line writer with `.path` and `.close()`. */
export function artifactLog(label) {
  mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${RUN_STAMP}-${String(++logCounter).padStart(2, '0')}-${label}.log`);
  const fd = openSync(file, 'a');
  let open = true;
  const write = (line) => {
    if (open) writeSync(fd, `${new Date().toISOString()} ${line}\n`);
  };
  write.path = file;
  write.fd = fd;
  write.close = () => {
    if (open) closeSync(fd);
    open = false;
  };
  return write;
}

export async function freeTcpPort() {
  const srv = net.createServer();
  await new Promise((resolve, reject) => srv.once('error', reject).listen(0, '127.0.0.1', resolve));
  const { port } = srv.address();
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

/** Whether something accepts a TCP connection on 127.0.0.1:`port` now. */
export const canConnect = (port) =>
  new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });

export async function freeUdpPort() {
  const sock = dgram.createSocket('udp4');
  await new Promise((resolve, reject) => sock.once('error', reject).bind(0, '127.0.0.1', resolve));
  const { port } = sock.address();
  await new Promise((resolve) => sock.close(resolve));
  return port;
}

/**
 * Starts `confab serve` on free loopback ports (`port`: this HTTP port instead) and waits for
 * /healthz over plain http, or until `ready()` (an async predicate, e.g. for a TLS listener) holds.
 * Returns {url, wsUrl, apiKey, apiSecret, httpPort, udpPort, logPath, child, alive(), stop()}.
 */
/**
 * The configuration every test server starts with unless a test gives its own: the Meet app's
 * default capture is the operator's ideal height (720p), which several Chromium encoders cannot
 * sustain on CI's two cores; 480 keeps the tests about the meeting, not about the CPU.
 */
export const TEST_CONFIG = '[video]\nideal_height = 480\n';

export async function startServer({ env = {}, args = [], label = 'server', config = TEST_CONFIG, host = '127.0.0.1', port, ready } = {}) {
  const bin = process.env.CONFAB_BIN ?? path.join(REPO, 'target', 'debug', 'confab');
  const httpPort = port ?? (await freeTcpPort());
  const udpPort = await freeUdpPort();
  const apiKey = 'testkey';
  const apiSecret = randomBytes(24).toString('hex');
  const log = artifactLog(label);
  log(`starting ${bin} on http ${host}:${httpPort}, udp ${udpPort}`);
  const configFile = path.join(await mkdtemp(path.join(tmpdir(), 'confab-config-')), 'confab.toml');
  writeFileSync(configFile, config);

  const child = spawn(
    bin,
    ['serve', '--config', configFile, '--bind', `${host}:${httpPort}`, '--udp-port', String(udpPort), '--public-ip', host, ...args],
    {
      // Nothing of a test run is kept, unless the test names a database.
      env: { ...process.env, CONFAB_API_KEY: apiKey, CONFAB_API_SECRET: apiSecret, CONFAB_DATABASE_URL: 'sqlite::memory:', RUST_LOG: process.env.CONFAB_TEST_LOG ?? 'info', ...env },
      stdio: ['ignore', log.fd, log.fd],
    },
  );
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      liveServers.delete(server);
      resolve(exited);
    });
    child.once('error', (err) => {
      exited = { error: err };
      liveServers.delete(server);
      resolve(exited);
    });
  });

  const url = `http://${host}:${httpPort}`;
  const server = {
    url,
    wsUrl: `ws://${host}:${httpPort}`,
    apiKey,
    apiSecret,
    httpPort,
    udpPort,
    logPath: log.path,
    child,
    alive: () => exited === null,
    async stop() {
      if (exited === null) {
        child.kill('SIGTERM');
        const done = await Promise.race([exitPromise, timeLimit(5000)]);
        if (!done) {
          child.kill('SIGKILL');
          await exitPromise;
        }
      }
      log.close();
    },
  };
  liveServers.add(server);

  const deadline = Date.now() + 20_000;
  for (;;) {
    if (exited) {
      log.close();
      throw new Error(`server exited before it was healthy (${JSON.stringify(exited)}); log ${log.path}:\n${tail(log.path)}`);
    }
    try {
      if (ready ? await ready() : (await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1000) })).status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await server.stop();
      throw new Error(`server not healthy within 20 s; log ${log.path}:\n${tail(log.path)}`);
    }
    await sleep(100);
  }
  if (process.env.CONFAB_WEB_DIST) {
    const front = await serveStatic(path.resolve(REPO, process.env.CONFAB_WEB_DIST), { proxyTo: httpPort, appFallback: true });
    log(`web app from ${process.env.CONFAB_WEB_DIST} at ${front.url}, proxying to ${url}`);
    server.url = front.url;
    server.wsUrl = front.url.replace(/^http/, 'ws');
    const stop = server.stop;
    server.stop = async () => {
      await front.close();
      await stop();
    };
  }
  return server;
}

const MIME = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.wasm': 'application/wasm',
  '.webmanifest': 'application/manifest+json',
};

/** Extension-less GET paths the server answers itself, which an app fallback must pass on. */
const SERVER_PATHS = new Set(['/healthz', '/conferenceMapper', '/dialInNumbers']);

/**
 * Serves the files under `root` on a free loopback port. With `appFallback`, an extension-less
 * path gets index.html (as the server does for room URLs); with `proxyTo`, requests for files that
 * do not exist, and WebSocket upgrades, go to that local port. `files` maps extra URL paths to
 * files anywhere on disk. Returns {url, close()}.
 */
export async function serveStatic(root, { proxyTo, appFallback = false, files = {} } = {}) {
  const srv = http.createServer(async (req, res) => {
    const { pathname } = new URL(req.url, 'http://x');
    let file = files[pathname];
    if (!file && req.method === 'GET') {
      let decoded = pathname;
      try {
        decoded = decodeURIComponent(pathname);
      } catch {
        // a malformed escape: look the path up as it is
      }
      const candidate = path.join(root, path.normalize(decoded).replace(/^(\.\.[/\\])+/, ''));
      if (candidate.startsWith(root) && !candidate.endsWith(path.sep)) file = candidate;
    }
    const body = file ? await readFile(file).catch(() => null) : null;
    const lastSegment = pathname.split('/').pop();
    if (body) {
      res.writeHead(200, { 'content-type': MIME[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' });
      return res.end(body);
    }
    if (appFallback && req.method === 'GET' && !lastSegment.includes('.') && !pathname.startsWith('/rtc') && !SERVER_PATHS.has(pathname)) {
      res.writeHead(200, { 'content-type': MIME['.html'], 'cache-control': 'no-cache' });
      return res.end(await readFile(path.join(root, 'index.html')));
    }
    if (!proxyTo) {
      res.writeHead(404);
      return res.end('not found');
    }
    const up = http.request(
      { host: '127.0.0.1', port: proxyTo, method: req.method, path: req.url, headers: req.headers },
      (r) => {
        res.writeHead(r.statusCode, r.headers);
        r.pipe(res);
      },
    );
    up.on('error', () => {
      res.writeHead(502);
      res.end('bad gateway');
    });
    req.pipe(up);
  });
  // WebSocket upgrades (signalling) pass through byte for byte.
  srv.on('upgrade', (req, socket, head) => {
    if (!proxyTo) return socket.destroy();
    const up = net.connect(proxyTo, '127.0.0.1', () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(`${lines.join('\r\n')}\r\n\r\n`);
      if (head?.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    const end = () => {
      up.destroy();
      socket.destroy();
    };
    up.on('error', end);
    socket.on('error', end);
    up.on('close', end);
    socket.on('close', end);
  });
  const sockets = new Set();
  srv.on('connection', (c) => {
    sockets.add(c);
    c.on('close', () => sockets.delete(c));
  });
  await new Promise((resolve, reject) => srv.once('error', reject).listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${srv.address().port}`,
    async close() {
      for (const c of sockets) c.destroy();
      await new Promise((resolve) => srv.close(resolve));
    },
  };
}

function tail(file, lines = 40) {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/** A signed access token for `server`, as an application backend would mint it. */
export async function token(server, { room, identity, name, grants = {}, ttl = '1h' }) {
  const at = new AccessToken(server.apiKey, server.apiSecret, { identity, name: name ?? identity, ttl });
  at.addGrant({ roomJoin: true, room, canPublish: true, canSubscribe: true, canPublishData: true, ...grants });
  return await at.toJwt();
}

// Exactly these, plus the user data dir and the DevTools pipe puppeteer adds.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
  // Chromium leaves loopback interfaces out of WebRTC candidate gathering; without this a
  // machine (or network namespace) with only `lo` would gather no host candidate at all.
  '--allow-loopback-in-peer-connection',
];

/**
 * Launches one Chromium process with a fresh profile. `args` are added to CHROMIUM_ARGS and
 * `omitArgs` taken out (without --use-fake-ui-for-media-stream, headless Chromium denies the
 * camera and microphone, as a person clicking "Block" would). `env`, if given, is Chromium's whole
 * environment instead of this process's (e.g. another HOME, for its NSS certificate database).
 * Returns {browser, label, log, close(), kill()}: kill() SIGKILLs the whole process group.
 */
export async function launchBrowser({ label = 'browser', args = [], omitArgs = [], viewport = { width: 1280, height: 800 }, executablePath = CHROMIUM, env } = {}) {
  const userDataDir = await mkdtemp(path.join(tmpdir(), 'confab-chromium-'));
  const log = artifactLog(`browser-${label}`);
  let browser;
  try {
    browser = await puppeteer.launch({
      // A wrapper may start it elsewhere (another network namespace); pipes work through it.
      executablePath,
      ...(env && { env }),
      ignoreDefaultArgs: true,
      args: [...CHROMIUM_ARGS.filter((a) => !omitArgs.includes(a)), ...args, `--user-data-dir=${userDataDir}`],
      pipe: true,
      headless: true,
      defaultViewport: viewport,
      protocolTimeout: 60_000,
      timeout: 30_000,
    });
  } catch (err) {
    log.close();
    await rm(userDataDir, { recursive: true, force: true });
    throw err;
  }
  const proc = browser.process();
  proc?.stderr?.on('data', (d) => log(`[chromium] ${String(d).trimEnd()}`));
  const pid = proc?.pid;
  const exited = () =>
    proc && proc.exitCode === null && proc.signalCode === null
      ? new Promise((resolve) => proc.once('exit', resolve))
      : Promise.resolve();

  const tb = {
    browser,
    label,
    log,
    userDataDir,
    pid,
    killGroup() {
      // puppeteer starts Chromium detached, so it leads its own process group: renderers,
      // the network service and the GPU process all go down with it, as in a real crash.
      try {
        if (pid) process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    },
    async kill() {
      const gone = exited();
      tb.killGroup();
      await gone;
      await tb.cleanup();
    },
    async close() {
      const gone = exited();
      if (browser.connected) {
        await Promise.race([browser.close().catch(() => {}), timeLimit(10_000)]);
      }
      tb.killGroup();
      await Promise.race([gone, timeLimit(5000)]);
      await tb.cleanup();
    },
    async cleanup() {
      liveBrowsers.delete(tb);
      log.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
  liveBrowsers.add(tb);
  return tb;
}

/** Sends a page's console output, errors and failed requests to the browser's artifact log. */
export function logPage(page, log, label) {
  page.on('console', async (msg) => {
    let text = msg.text();
    // livekit-client logs a context object after the message; fetch it rather than "[object Object]".
    if (text.includes('[object Object]')) {
      const values = await Promise.all(msg.args().map((a) => a.jsonValue().catch(() => undefined))).catch(() => []);
      if (values.length) text = values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(' ');
    }
    log(`[${label}] console.${msg.type()}: ${text}`);
  });
  page.on('pageerror', (err) => log(`[${label}] pageerror: ${err?.stack ?? err}`));
  page.on('requestfailed', (req) => log(`[${label}] requestfailed: ${req.url()} ${req.failure()?.errorText ?? ''}`));
  page.on('error', (err) => log(`[${label}] crash: ${err?.stack ?? err}`));
}

/** The failure pages of the web app: once one shows, the join is over. */
export const FAILURE_PAGES = ['invalid-room', 'unreachable', 'refused', 'failed', 'permission-denied', 'disconnected']
  .map((p) => `[data-page="${p}"]`)
  .join(', ');

/**
 * Opens the room URL in `tb` as `identity` with a token we mint (`/<room>?token=T&skipPrejoin=1`:
 * no /api/join, no prejoin screen), and waits until the client reports itself connected.
 * Returns the puppeteer Page.
 */
export async function openParticipant(
  tb,
  server,
  { room, identity, name, grants, adaptive = false, simulcast = true, capture, mic = true, camera = true, timeout = 20_000 },
) {
  const jwt = await token(server, { room, identity, name, grants });
  const q = new URLSearchParams({
    token: jwt,
    skipPrejoin: '1',
    adaptive: adaptive ? '1' : '0',
    simulcast: simulcast ? '1' : '0',
  });
  // e.g. '960x720': livekit-client publishes three simulcast layers only from 960 up.
  if (capture) q.set('capture', capture);
  // Joins without a microphone (`?mic=0`); the test turns it on later.
  if (!mic) q.set('mic', '0');
  if (!camera) q.set('camera', '0');
  const [existing] = await tb.browser.pages();
  const page = existing ?? (await tb.browser.newPage());
  logPage(page, tb.log, identity);
  await page.goto(`${server.url}/${encodeURIComponent(room)}?${q}`, { waitUntil: 'load', timeout });
  const joined = await waitFor(
    () =>
      page.evaluate((failures) => {
        if (window.confab?.state().connected) return 'connected';
        // The page gave up and shows why: no use waiting any longer.
        const error = document.querySelector(failures);
        return error ? `join failed: ${error.textContent}` : false;
      }, FAILURE_PAGES),
    { timeout, message: `${identity} did not connect to room ${room}` },
  );
  if (joined !== 'connected') throw new Error(`${identity} could not join room ${room}: ${joined}; see ${tb.log.path}`);
  return page;
}

/**
 * Polls `fn` until it returns a truthy value, which is returned. Exceptions count as "not yet";
 * on timeout the last value or error is part of the message.
 */
export async function waitFor(fn, { timeout = 10_000, interval = 250, message = 'condition not met' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      last = v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`${message} (within ${timeout} ms; last: ${detail})`);
    }
    await sleep(interval);
  }
}

/**
 * Samples `read` (a number, or an object of numbers) twice, `window` ms apart, and asserts every
 * value rose by at least `min`. Returns {before, after}.
 */
export async function assertRising(read, { window = 3000, min = 1, message = 'counter' } = {}) {
  const before = await read();
  await sleep(window);
  const after = await read();
  const a = typeof before === 'number' ? { value: before } : before;
  const b = typeof after === 'number' ? { value: after } : after;
  const stalled = Object.keys(a).filter((k) => !(typeof b[k] === 'number' && b[k] - a[k] >= min));
  if (stalled.length) {
    throw new Error(`${message}: did not rise by ${min} over ${window} ms: ${stalled.map((k) => `${k} ${a[k]} -> ${b[k]}`).join(', ')}`);
  }
  return { before, after };
}

/**
 * Asserts `me`'s page decodes `other`'s video: a first frame within `timeout`, then at least `min`
 * more frames over `window` ms. `where` names the setting in the messages.
 */
export async function assertDecodes(page, me, other, { where = '', timeout = 15_000, window = 3000, min = 5 } = {}) {
  await waitFor(
    async () => {
      const v = (await stats(page))[other]?.video;
      return v?.framesDecoded > 0 && v.frameWidth > 0;
    },
    { timeout, message: `${me} should decode ${other}'s video${where && ` ${where}`}` },
  );
  await assertRising(async () => (await stats(page))[other]?.video?.framesDecoded ?? 0, {
    window,
    min,
    message: `${me} decoding ${other}${where && ` ${where}`}`,
  });
}

/** The page's `window.confab` view of the call. */
export const state = (page) => page.evaluate(() => window.confab.state());
export const stats = (page) => page.evaluate(() => window.confab.stats());
export const messages = (page) => page.evaluate(() => window.confab.messages);

/**
 * The connected candidate pairs (succeeded and nominated) of `page`'s tracks from the remote
 * participant `other`, one entry per pair found (tracks on the same connection repeat it):
 * [{local: {address, port, protocol, candidateType, relayProtocol}, remote: {address, port, protocol, candidateType}}].
 */
export const nominatedPairs = (page, other) =>
  page.evaluate(async (other) => {
    const p = window.confab.room.remoteParticipants.get(other);
    const out = [];
    for (const pub of p?.trackPublications.values() ?? []) {
      const report = await pub.track?.getRTCStatsReport();
      for (const s of report?.values() ?? []) {
        if (s.type === 'candidate-pair' && s.state === 'succeeded' && s.nominated) {
          const local = report.get(s.localCandidateId) ?? {};
          const remote = report.get(s.remoteCandidateId) ?? {};
          out.push({
            local: { address: local.address, port: local.port, protocol: local.protocol, candidateType: local.candidateType, relayProtocol: local.relayProtocol },
            remote: { address: remote.address, port: remote.port, protocol: remote.protocol, candidateType: remote.candidateType },
          });
        }
      }
    }
    return out;
  }, other);

/**
 * A test file's figures: `record(key, value)` prints `key: value` and rewrites
 * artifacts/e2e/<name>/figures.json with every figure recorded so far.
 */
export function figureRecorder(name) {
  const out = path.join(ARTIFACTS, name);
  const figures = {};
  return function record(key, value) {
    figures[key] = value;
    console.log(`${key}: ${JSON.stringify(value)}`);
    mkdirSync(out, { recursive: true });
    writeFileSync(path.join(out, 'figures.json'), JSON.stringify(figures, null, 2));
  };
}

const daemons = new Set();
process.on('exit', () => {
  for (const child of daemons) child.kill('SIGKILL');
});

/**
 * Runs a server program the test needs (nginx, Caddy) as `spawn(cmd, args, options)` with its
 * output in `log`, and waits until it accepts connections on 127.0.0.1:`port`. It is stopped by
 * `stop()` or after the test `t`. Returns {child, log, stop()}: stop() sends SIGTERM (SIGKILL
 * after `stopTimeout` ms) and resolves to how the program exited.
 */
export async function startListening(t, { cmd, args, options = {}, log, label, port, stopTimeout = 5000 }) {
  const child = spawn(cmd, args, { ...options, stdio: ['ignore', log.fd, log.fd] });
  daemons.add(child);
  let exit = null;
  const exited = new Promise((resolve) => {
    const done = (how) => {
      exit = how;
      daemons.delete(child);
      resolve(how);
    };
    child.once('exit', (code, signal) => done({ code, signal }));
    child.once('error', (error) => done({ error: error.message }));
  });
  const stop = async () => {
    if (exit === null) {
      child.kill('SIGTERM');
      if (!(await Promise.race([exited, timeLimit(stopTimeout)]))) child.kill('SIGKILL');
    }
    const how = await exited;
    log.close();
    return how;
  };
  t.after(stop);
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (exit || Date.now() > deadline) {
      await stop();
      const why = exit ? `exited (${JSON.stringify(exit)})` : 'is not listening within 10 s';
      throw new Error(`${label} on 127.0.0.1:${port} ${why}; log ${log.path}:\n${tail(log.path, 20)}`);
    }
    await sleep(100);
  }
  return { child, log, stop };
}

/** Screenshots to artifacts/e2e/ (best effort: used while a test is already failing). */
export async function screenshotAll(pages, tag) {
  mkdirSync(ARTIFACTS, { recursive: true });
  for (const [name, page] of Object.entries(pages)) {
    if (!page || page.isClosed()) continue;
    const file = path.join(ARTIFACTS, `${RUN_STAMP}-${tag}-${name}.png`);
    await Promise.race([page.screenshot({ path: file }).catch(() => {}), timeLimit(5000)]);
  }
}

/**
 * A 16-bit mono 48 kHz WAV of `seconds`, sample i = f(t in seconds). Chromium's fake microphone
 * loops it (--use-file-for-fake-audio-capture).
 */
export function writeWav(file, seconds, f) {
  const rate = 48_000;
  const samples = rate * seconds;
  const buf = Buffer.alloc(44 + samples * 2);
  buf.write('RIFF', 0);
  buf.writeUInt32LE(36 + samples * 2, 4);
  buf.write('WAVEfmt ', 8);
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36);
  buf.writeUInt32LE(samples * 2, 40);
  for (let i = 0; i < samples; i++) {
    buf.writeInt16LE(Math.max(-32767, Math.min(32767, Math.round(32767 * f(i / rate)))), 44 + i * 2);
  }
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, buf);
  return file;
}
