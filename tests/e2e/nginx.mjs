// nginx as the browser tests start it: Debian's package, one process as the user running the test
// (`master_process off`: no workers that would drop to www-data, who may not write the test's
// folder), in the foreground, with its pid file and temporary files in the test's folder, its
// error log in the test's artifact log, and listening on loopback only (the test's config says so).

import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { artifactLog, startListening } from './lib.mjs';

export const NGINX = process.env.NGINX_BIN ?? 'nginx';

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
  return startListening(t, { cmd: NGINX, args: ['-e', 'stderr', '-c', conf, '-p', dir], log, label, port });
}
