import { defineConfig } from 'vite';
import { mediapipeAssets } from './scripts/mediapipe-plugin.mjs';
import { serviceWorker } from './scripts/sw-plugin.mjs';

// The Rust server serves dist/ at the site root. The service worker (src/sw.js) is written to
// dist/sw.js with the build's file list by the plugin in scripts/sw-plugin.mjs; MediaPipe's files
// for background effects are copied into dist/assets/ by scripts/mediapipe-plugin.mjs.
export default defineConfig({
  base: '/',
  plugins: [serviceWorker(), mediapipeAssets()],
  // livekit-client alone is ~550 kB minified; one chunk is fine for this page.
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1000 },
});
