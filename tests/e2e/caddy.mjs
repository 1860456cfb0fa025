// Caddy as the browser tests start it: Debian's package, one `caddy run` process as the user
// running the test, in the foreground, with a Caddyfile the test writes, its own files (data,
// config, autosave) in the test's folder rather than in $HOME, its log in the test's artifact
// log, and listening on loopback only (the test's Caddyfile says so: `bind 127.0.0.1`, no admin
// endpoint, no HTTP->HTTPS redirect listener on port 80, no HTTP/3 over UDP).

import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { artifactLog, startListening } from './lib.mjs';

export const CADDY = process.env.CADDY_BIN ?? 'caddy';

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
  return startListening(t, { cmd: CADDY, args: ['run', '--config', file, '--adapter', 'caddyfile'], options: { cwd: dir, env }, log, label, port, stopTimeout: 10_000 });
}
