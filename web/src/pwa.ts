// The Meet app as an installable app (PWA): the service worker (src/sw.js, served at /sw.js), the
// "Install app" button, and knowing that the service worker opened the app without the server.

import { t } from './i18n';
import { h } from './util';

/** Chromium's event (not in TypeScript's DOM types). */
interface BeforeInstallPromptEvent extends Event {
  prompt(): Promise<void>;
  readonly userChoice: Promise<{ outcome: 'accepted' | 'dismissed' }>;
}

let installPrompt: BeforeInstallPromptEvent | null = null;
const installButtons = new Set<HTMLButtonElement>();

const standalone = () => matchMedia('(display-mode: standalone)').matches;

function updateInstallButtons() {
  for (const b of installButtons) {
    if (!b.isConnected) installButtons.delete(b);
    else b.hidden = !installPrompt || standalone();
  }
}

// Listened to from the start: Chromium fires it once, soon after the page loads.
window.addEventListener('beforeinstallprompt', (ev) => {
  // Our button offers it instead of the browser's own banner.
  ev.preventDefault();
  installPrompt = ev as BeforeInstallPromptEvent;
  updateInstallButtons();
});
window.addEventListener('appinstalled', () => {
  installPrompt = null;
  updateInstallButtons();
});

/** An unobtrusive "Install app" button, shown only while the browser offers to install. */
export function installButton(): HTMLButtonElement {
  const b = h('button', {
    class: 'btn ghost small install-app',
    text: t('app.install'),
    title: t('app.installTitle'),
    attrs: { type: 'button', id: 'install-app' },
    on: {
      click: () => {
        const ev = installPrompt;
        if (!ev) return;
        // A prompt can be shown once; the browser fires a new event if it may ask again.
        installPrompt = null;
        updateInstallButtons();
        void ev.prompt().catch(() => {});
      },
    },
  });
  installButtons.add(b);
  b.hidden = !installPrompt || standalone();
  return b;
}

/** Registers /sw.js, where browsers allow it (https, localhost) and not inside another site's frame. */
export function registerServiceWorker() {
  if (!('serviceWorker' in navigator) || !window.isSecureContext || window.top !== window) return;
  const register = () =>
    navigator.serviceWorker.register('/sw.js').catch((e: unknown) => console.warn('Confab: no service worker:', e));
  // After the page has what it needs: precaching the shell must not compete with joining.
  if (document.readyState === 'complete') void register();
  else window.addEventListener('load', () => void register(), { once: true });
}

/**
 * True when this page is the service worker's cached copy because the server did not answer the
 * page load (src/sw.js marks it).
 */
export function openedWithoutServer(): boolean {
  return document.querySelector('meta[name="confab-offline"]') !== null;
}
