// Confab Meet: the web app for Confab meetings, built on livekit-client (compatible with LiveKit
// client SDKs). The server serves this page for `/` and for every extension-less path, so the
// room is the path: `/` is the start page, `/<room>` the prejoin screen and then the meeting.
//
// The browser tests drive it through the hooks on `window.confab`, documented in hooks.ts.
//
// Installed as an app (pwa.ts), a service worker opens this page even when the server is away;
// it then shows only "Cannot reach the Confab server".

import './hooks';
import './style.css';
import { homePage } from './home';
import { setupLanguage, t } from './i18n';
import { loginPage } from './login';
import { joinMeeting } from './meeting/join';
import { invalidRoomPage, unreachablePage } from './pages';
import { prefs } from './prefs';
import { prejoinPage } from './prejoin';
import { openedWithoutServer, registerServiceWorker } from './pwa';
import { roomFromPath, roomPath } from './rooms';
import { flag, params } from './util';

function route() {
  // The first meeting page took `/?room=R&token=T&autojoin=1`; keep such links working.
  const legacyRoom = location.pathname === '/' ? params.get('room') : null;
  if (legacyRoom) {
    const q = new URLSearchParams(params);
    q.delete('room');
    if (q.get('autojoin') === '1') q.set('skipPrejoin', '1');
    q.delete('autojoin');
    history.replaceState(null, '', `${roomPath(legacyRoom)}?${q}`);
  }

  const found = roomFromPath(location.pathname);
  if (!found) return homePage();
  if ('invalid' in found) return invalidRoomPage(found.invalid);
  const room = found.room;

  if (params.get('login') === '1') {
    loginPage(room, (token) => void joinMeeting({ room, token, camera: flag('camera', true), mic: flag('mic', true) }));
    return;
  }
  const token = params.get('token') ?? undefined;
  // A Jitsi-format token from the company's site, as Jitsi Meet takes it.
  const jwt = params.get('jwt') ?? undefined;
  const name = (params.get('name') ?? prefs.name).trim().slice(0, 64);
  // A token names the person already; otherwise skipping the prejoin screen needs a name.
  if (token || (flag('skipPrejoin', false) && (name || jwt))) {
    void joinMeeting({ room, name, token, jwt, camera: flag('camera', true), mic: flag('mic', true) });
    return;
  }
  prejoinPage({ room, onJoin: (r) => void joinMeeting({ room, name: r.name, jwt, prejoin: r }) });
}

registerServiceWorker();
// Pages render their strings as they are built, so the language is loaded first.
await setupLanguage();
if (openedWithoutServer()) {
  const retry = () => location.reload();
  unreachablePage(t('unreachable.offline'), retry, { offline: true });
  window.addEventListener('online', retry, { once: true });
} else {
  route();
}
