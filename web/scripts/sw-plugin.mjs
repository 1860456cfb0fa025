// The Vite plugin that writes dist/sw.js (used by vite.config.ts). Plain JavaScript because it
// reads files with Node's modules, which the app's type-checked sources do not have types for.

import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MARKER = 'const BUILD = __CONFAB_BUILD__;';

/**
 * Writes dist/sw.js from src/sw.js with this build's app shell: index.html, every file of the
 * bundle (hashed, under /assets/), the manifest and the icons. Its version is a hash of all those
 * files and of the worker itself, so each build that changes any of them is a new service worker
 * with its own cache. Other files in public/ (such as /external_api.js) are not part of the shell.
 * @returns {import('vite').Plugin}
 */
export function serviceWorker() {
  return {
    name: 'confab-service-worker',
    apply: 'build',
    // After Vite's own plugins have put index.html into the bundle.
    enforce: 'post',
    generateBundle(_options, bundle) {
      const template = readFileSync(path.join(WEB, 'src/sw.js'), 'utf8');
      if (!template.includes(MARKER)) this.error(`src/sw.js lacks "${MARKER}"`);
      /** @type {Map<string, string | Uint8Array>} */
      const files = new Map();
      for (const [name, out] of Object.entries(bundle)) {
        if (!name.endsWith('.map')) files.set(`/${name}`, out.type === 'chunk' ? out.code : out.source);
      }
      if (!files.has('/index.html')) this.error('index.html is not in the bundle; the service worker needs it');
      const pub = path.join(WEB, 'public');
      for (const p of ['/manifest.webmanifest', ...readdirSync(path.join(pub, 'icons')).map((f) => `/icons/${f}`)]) {
        files.set(p, readFileSync(path.join(pub, p)));
      }
      const shell = [...files.keys()].sort();
      const hash = createHash('sha256').update(template);
      for (const p of shell) hash.update(`\0${p}\0`).update(files.get(p));
      const build = { version: hash.digest('hex').slice(0, 16), shell };
      this.emitFile({ type: 'asset', fileName: 'sw.js', source: template.replace(MARKER, `const BUILD = ${JSON.stringify(build)};`) });
    },
  };
}
