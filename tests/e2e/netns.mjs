// A network namespace joined to the test's own by a veth pair, as the browser tests make them (as
// root, inside the private namespace scripts/test runs them in): one end with `hostIp` stays here,
// the other with `nsIp` goes into the new namespace, where a Chromium can be started through a
// wrapper script (puppeteer's pipes work through it).

import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { CHROMIUM } from './lib.mjs';

const sh = (...args) => execFileSync(args[0], args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }).toString();

/**
 * Creates namespace `name` and the veth pair `hostIf` (here, `hostIp`/`prefix`, up) - `nsIf` (in
 * the namespace, `nsIp`/`prefix`, up, with `lo` up), after removing any left over from an earlier
 * run under the same names. Returns {name, exec(...args), wrapper(file), remove()}: exec runs a
 * command inside the namespace and returns its stdout; wrapper writes an executable script at
 * `file` that starts Chromium inside the namespace and returns `file`; remove deletes the pair and
 * the namespace (whatever of them exists).
 */
export function makeNetns({ name, hostIf, nsIf, hostIp, nsIp, prefix = 24 }) {
  const exec = (...args) => sh('ip', 'netns', 'exec', name, ...args);
  const remove = () => {
    try {
      sh('ip', 'link', 'del', hostIf);
    } catch {}
    try {
      sh('ip', 'netns', 'del', name);
    } catch {}
  };
  const wrapper = (file, program = CHROMIUM) => {
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, `#!/bin/sh\nexec ip netns exec ${name} ${program} "$@"\n`);
    chmodSync(file, 0o755);
    return file;
  };
  remove();
  try {
    sh('ip', 'netns', 'add', name);
    sh('ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', nsIf);
    sh('ip', 'link', 'set', nsIf, 'netns', name);
    sh('ip', 'addr', 'add', `${hostIp}/${prefix}`, 'dev', hostIf);
    sh('ip', 'link', 'set', hostIf, 'up');
    exec('ip', 'addr', 'add', `${nsIp}/${prefix}`, 'dev', nsIf);
    exec('ip', 'link', 'set', nsIf, 'up');
    exec('ip', 'link', 'set', 'lo', 'up');
  } catch (err) {
    remove();
    throw err;
  }
  return { name, exec, wrapper, remove };
}
