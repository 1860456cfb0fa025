// Caddy as the browser tests start it: Debian's package, one `caddy run` process as the user
// running the test, in the foreground, with a Caddyfile the test writes, its own files (data,
// config, autosave) in the test's folder rather than in $HOME, its log in the test's artifact
// log, and listening on loopback only (the test's Caddyfile says so: `bind 127.0.0.1`, no admin
// endpoint, no HTTP->HTTPS redirect listener on port 80, no HTTP/3 over UDP).

import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { artifactLog, canConnect, sleep, timeLimit } from './lib.mjs';

export const CADDY = process.env.CADDY_BIN ?? 'caddy';

const live = new Set();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * Global options that keep Caddy to the test's port: no admin endpoint (by default it listens on
 * localhost:2019), no redirect listener on port 80 (automatic HTTPS adds one for every https
 * site), HTTP/1.1 and HTTP/2 only (by default Caddy also serves HTTP/3 on the https port's UDP).
 */
export const LOOPBACK_ONLY = ['admin off', 'auto_https disable_redirects', 'servers {\n\tprotocols h1 h2\n}'];

/**
 * Writes <dir>/Caddyfile (a global options block with LOOPBACK_ONLY and `globals`, then `sites`),
 * starts Caddy with it and waits until it accepts connections on 127.0.0.1:`port`. Stopped by
 * `stop()` or after the test. Returns {child, log, stop()}: stop() sends SIGTERM (Caddy's graceful
 * stop) and resolves to how Caddy exited.
 */
export async function startCaddy(t, { dir, port, sites, globals = [], label = 'caddy' }) {
  const file = path.join(dir, 'Caddyfile');
  const text = `{\n${[...LOOPBACK_ONLY, ...globals].join('\n').replace(/^/gm, '\t')}\n}\n\n${sites}`;
  const log = artifactLog(label);
  log(`${CADDY} run --config ${file} --adapter caddyfile\n${text}`);
  writeFileSync(file, `${text}\n`);
  // Caddy keeps its data (certificates, locks, instance id) and its autosaved config under
  // $XDG_DATA_HOME/caddy and $XDG_CONFIG_HOME/caddy, by default in $HOME: here, the test's folder.
  const home = path.join(dir, 'caddy-home');
  mkdirSync(home, { recursive: true });
  const env = { ...process.env, HOME: home, XDG_DATA_HOME: path.join(home, 'data'), XDG_CONFIG_HOME: path.join(home, 'config') };
  const child = spawn(CADDY, ['run', '--config', file, '--adapter', 'caddyfile'], { cwd: dir, env, stdio: ['ignore', log.fd, log.fd] });
  live.add(child);
  let exit = null;
  const exited = new Promise((resolve) => {
    const done = (how) => {
      exit = how;
      live.delete(child);
      resolve(how);
    };
    child.once('exit', (code, signal) => done({ code, signal }));
    child.once('error', (error) => done({ error: error.message }));
  });
  const stop = async () => {
    if (exit === null) {
      child.kill('SIGTERM');
      if (!(await Promise.race([exited, timeLimit(10_000)]))) child.kill('SIGKILL');
    }
    const how = await exited;
    log.close();
    return how;
  };
  t.after(stop);
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(port))) {
    if (exit || Date.now() > deadline) {
      let tail = '';
      try {
        tail = readFileSync(log.path, 'utf8').split('\n').slice(-20).join('\n');
      } catch {
        // no log
      }
      await stop();
      const why = exit ? `exited (${JSON.stringify(exit)})` : 'is not listening within 10 s';
      throw new Error(`${label} on 127.0.0.1:${port} ${why}; log ${log.path}:\n${tail}`);
    }
    await sleep(100);
  }
  return { child, log, stop };
}
