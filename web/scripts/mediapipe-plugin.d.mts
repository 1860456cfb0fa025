import type { Plugin } from 'vite';

/** Copies MediaPipe's wasm and the segmentation model into dist/assets/ (see mediapipe-plugin.mjs). */
export function mediapipeAssets(): Plugin;
