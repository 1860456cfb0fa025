import { defineConfig } from 'vite';

// The Rust server serves dist/ at the site root.
export default defineConfig({
  base: '/',
  // livekit-client alone is ~550 kB minified; one chunk is fine for this page.
  build: { outDir: 'dist', emptyOutDir: true, chunkSizeWarningLimit: 1000 },
});
