// The Meet app's service worker, served at /sw.js (scope "/"). It makes the app installable and
// lets the app shell open without the server, so a person sees "Cannot reach the Confab server"
// instead of the browser's error page. It caches the app shell and nothing else: never media,
// signalling (/rtc), the API (/api/*, /twirp/*), /external_api.js, or anything but GET.
//
// This is a template: the plugin in scripts/sw-plugin.mjs (used by vite.config.ts) writes dist/sw.js from
// it, putting the build's file list and a version (a hash of those files) in place of
// __CONFAB_BUILD__. A new build is a new sw.js, so browsers install it and drop the old cache.
//
// - Install: precache the shell (index.html, the hashed bundle under /assets/, the manifest and
//   icons) in the cache `confab-shell-<version>`.
// - Activate: delete the caches of other versions; take control of open pages.
// - Page loads (navigations, `/` and every `/<room>`): the network first, as without a service
//   worker. If the server cannot be reached (a network error, or a proxy's 502/503/504), the cached
//   index.html, marked `<meta name="confab-offline">` so the app shows the unreachable page
//   instead of a prejoin screen that could never join.
// - The shell's other files: from the cache, else the network (the /assets/ names are content
//   hashes, so a cached file is never stale).
// - Everything else is not touched: the browser fetches it as if there were no service worker.

const BUILD = __CONFAB_BUILD__;
const CACHE = `confab-shell-${BUILD.version}`;
const SHELL = new Set(BUILD.shell);
const INDEX = '/index.html';

/** Paths the service worker must never answer or cache, whatever the method. */
function bypass(url) {
  const p = url.pathname;
  return (
    p === '/rtc' ||
    p.startsWith('/rtc/') ||
    p.startsWith('/api/') ||
    p.startsWith('/twirp/') ||
    p === '/healthz' ||
    p === '/external_api.js' ||
    p === '/sw.js'
  );
}

self.addEventListener('install', (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      // `reload`: straight from the server, not an HTTP cache that may hold another build's file.
      await cache.addAll(BUILD.shell.map((p) => new Request(p, { cache: 'reload' })));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) {
        if (key.startsWith('confab-shell-') && key !== CACHE) await caches.delete(key);
      }
      // Page loads wait for the server either way; preloading starts that request while the
      // service worker itself is still starting.
      if (self.registration.navigationPreload) await self.registration.navigationPreload.enable().catch(() => {});
      await self.clients.claim();
    })(),
  );
});

self.addEventListener('fetch', (event) => {
  const req = event.request;
  if (req.method !== 'GET') return;
  const url = new URL(req.url);
  if (url.origin !== self.location.origin || bypass(url)) return;
  // WebSocket upgrades never reach a service worker; this is belt and braces.
  if (req.headers.get('upgrade')) return;

  if (req.mode === 'navigate') {
    event.respondWith(navigate(event));
    return;
  }
  if (SHELL.has(url.pathname)) event.respondWith(fromCache(req, url.pathname));
});

async function navigate(event) {
  try {
    const res = (await event.preloadResponse) || (await fetch(event.request));
    // A TLS proxy in front of a stopped server answers for it: that is the server being away too.
    if (res.status < 502 || res.status > 504) return res;
  } catch {
    // no answer at all: offline, server stopped, DNS
  }
  return offlineShell();
}

/** The cached index.html, marked so the app knows the server did not answer. */
async function offlineShell() {
  const cached = await caches.match(INDEX, { cacheName: CACHE });
  if (!cached) return Response.error();
  const html = (await cached.text()).replace(/<head[^>]*>/i, '$&<meta name="confab-offline" content="">');
  return new Response(html, { headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' } });
}

async function fromCache(req, path) {
  const cached = await caches.match(path, { cacheName: CACHE });
  return cached ?? fetch(req);
}
