// nginx as the browser tests start it: Debian's package, one process as the user running the test
// (`master_process off`: no workers that would drop to www-data, who may not write the test's
// folder), in the foreground, with its pid file and temporary files in the test's folder, its
// error log in the test's artifact log, and listening on loopback only (the test's config says so).

import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { artifactLog, canConnect, sleep, timeLimit } from './lib.mjs';

export const NGINX = process.env.NGINX_BIN ?? 'nginx';

const live = new Set();
process.on('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});

/**
 * http-context directives that keep nginx's files in `dir`: Debian builds nginx with absolute
 * paths under /var/lib/nginx and /var/log/nginx, which only root may write.
 */
export function httpPaths(dir) {
  return ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((p) => `${p}_temp_path ${path.join(dir, `${p}_temp`)};`)
    .concat(`access_log ${path.join(dir, 'access.log')};`)
    .join('\n');
}

/**
 * Writes <dir>/nginx.conf (the common main-context lines, `load_module` for each of `modules`,
 * `events {}`, then `config`: the test's `http {}` or `rtmp {}` block), starts nginx with it and
 * waits until it accepts connections on 127.0.0.1:`port`. Stopped by `stop()` or after the test.
 * Returns {child, log, stop()}: stop() sends SIGTERM and resolves to how nginx exited.
 */
export async function startNginx(t, { dir, port, config, modules = [], label = 'nginx' }) {
  const conf = path.join(dir, 'nginx.conf');
  const text = [
    'daemon off;',
    'master_process off;',
    `pid ${path.join(dir, 'nginx.pid')};`,
    'error_log stderr info;',
    ...modules.map((m) => `load_module ${m};`),
    'events {}',
    config,
  ].join('\n');
  const log = artifactLog(label);
  log(`${NGINX} -c ${conf}\n${text}`);
  writeFileSync(conf, `${text}\n`);
  // -e: errors before the config is read go to the log too, not to Debian's /var/log/nginx.
  const child = spawn(NGINX, ['-e', 'stderr', '-c', conf, '-p', dir], { stdio: ['ignore', log.fd, log.fd] });
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
      if (!(await Promise.race([exited, timeLimit(5000)]))) child.kill('SIGKILL');
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
