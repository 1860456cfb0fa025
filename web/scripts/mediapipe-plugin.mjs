// The Vite plugin that serves background effects their MediaPipe files from this server (used by
// vite.config.ts): @livekit/track-processors would otherwise fetch them from third-party hosts.
// It copies MediaPipe's wasm and the segmentation model (mediapipe/selfie_segmenter.tflite, made
// by scripts/selfie-model.py) to dist/assets/mediapipe-<hash>/ and tells the app that path as
// __CONFAB_MEDIAPIPE__. Under /assets/ the server lets browsers cache them for good, which the hash
// of their contents makes safe: without it, each meeting that turns an effect on would download
// the 9 MB of wasm again.

import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const WEB = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const WASM = path.join(WEB, 'node_modules/@mediapipe/tasks-vision/wasm');

/**
 * Only the SIMD build of the wasm: MediaPipe falls back to its no-SIMD build on browsers without
 * WebAssembly SIMD, and all of those also lack the VideoFrame API the processor needs, so the
 * fallback would never run and only add 9 MB. Copied after the bundle is written, so the service
 * worker's shell (scripts/sw-plugin.mjs) does not precache files that most people never use.
 * @returns {import('vite').Plugin}
 */
export function mediapipeAssets() {
  const files = {
    'vision_wasm_internal.js': path.join(WASM, 'vision_wasm_internal.js'),
    'vision_wasm_internal.wasm': path.join(WASM, 'vision_wasm_internal.wasm'),
    'selfie_segmenter.tflite': path.join(WEB, 'mediapipe/selfie_segmenter.tflite'),
  };
  const hash = createHash('sha256');
  for (const [name, file] of Object.entries(files)) hash.update(`\0${name}\0`).update(readFileSync(file));
  const dir = `assets/mediapipe-${hash.digest('hex').slice(0, 10)}`;
  let outDir = 'dist';
  return {
    name: 'confab-mediapipe-assets',
    config: (config) => ({ define: { __CONFAB_MEDIAPIPE__: JSON.stringify(`${config.base ?? '/'}${dir}`) } }),
    configResolved(config) {
      outDir = path.resolve(config.root, config.build.outDir);
    },
    closeBundle() {
      mkdirSync(path.join(outDir, dir), { recursive: true });
      for (const [name, file] of Object.entries(files)) copyFileSync(file, path.join(outDir, dir, name));
    },
  };
}
