import type { Plugin } from 'vite';

/** Writes dist/sw.js with this build's app shell (see sw-plugin.mjs). */
export function serviceWorker(): Plugin;
