// Full-page messages for everything that stops a person from being in a meeting. Each says what
// happened in plain words and offers the next step, instead of leaving a broken meeting screen.

import { type IconName, icon } from './icons';
import { h, mount } from './util';

export interface Action {
  label: string;
  run: () => void;
  primary?: boolean;
}

export function messagePage(opts: {
  kind: string;
  title: string;
  body: (string | Node)[];
  actions: Action[];
  glyph?: IconName;
  detail?: string;
}) {
  const buttons = opts.actions.map((a) =>
    h('button', { class: a.primary ? 'btn primary' : 'btn', text: a.label, on: { click: a.run } }),
  );
  const page = h(
    'main',
    { class: 'page message-page', dataset: { page: opts.kind }, attrs: { role: 'alert' } },
    h(
      'div',
      { class: 'card message-card' },
      opts.glyph ? h('div', { class: 'message-glyph' }, icon(opts.glyph)) : null,
      h('h1', { text: opts.title }),
      ...opts.body.map((b) => (typeof b === 'string' ? h('p', { text: b }) : b)),
      opts.detail ? h('p', { class: 'detail', text: opts.detail }) : null,
      h('div', { class: 'actions' }, ...buttons),
    ),
  );
  mount(header(), page);
  buttons.find((b) => b.classList.contains('primary'))?.focus();
  document.title = `${opts.title} · Confab`;
}

/** The top bar of every page: the product name links home. */
export function header(...extra: Node[]): HTMLElement {
  return h('header', { class: 'topbar' }, h('a', { class: 'brand', text: 'Confab', attrs: { href: '/' } }), ...extra);
}

export const goHome: Action = { label: 'Go to the start page', run: () => location.assign('/') };

export function invalidRoomPage(name: string) {
  messagePage({
    kind: 'invalid-room',
    title: 'That is not a valid room name',
    body: [
      `“${name.length > 80 ? `${name.slice(0, 80)}…` : name}” can't be used as a meeting room.`,
      'A room name has 1 to 128 characters and may not contain / \\ ? # or %.',
    ],
    actions: [{ ...goHome, label: 'Choose another room', primary: true }],
  });
}

/**
 * The server did not answer. `offline`: the installed app's service worker opened this page
 * without the server, so the start page would not load either and is not offered.
 */
export function unreachablePage(detail: string, retry: () => void, { offline = false } = {}) {
  messagePage({
    kind: 'unreachable',
    title: 'Cannot reach the Confab server',
    body: [
      `The server at ${location.host} is not answering.`,
      'Check your internet connection. If it works, the server may be down or restarting; try again in a moment.',
    ],
    detail,
    glyph: 'refresh',
    actions: [{ label: 'Try again', run: retry, primary: true }, ...(offline ? [] : [goHome])],
  });
}

export function refusedPage(detail: string, retry: () => void) {
  messagePage({
    kind: 'refused',
    title: "You can't join this meeting",
    body: ['The server refused to let you in. The link or invitation may have expired, or it is for a different meeting.'],
    detail,
    actions: [{ label: 'Try again', run: retry, primary: true }, goHome],
  });
}

/** Secure mode: guests wait until a host (an authenticated user) has opened the meeting. Retries by itself. */
export function waitingPage(room: string, retry: () => void) {
  const timer = setTimeout(retry, 5000);
  messagePage({
    kind: 'waiting-for-host',
    title: 'Waiting for the host',
    body: [`The meeting ${room} has not been started yet. You will join as soon as the host is in; this page checks every few seconds.`],
    actions: [
      {
        label: 'I am the host: sign in',
        run: () => {
          clearTimeout(timer);
          location.assign('?login=1');
        },
      },
      {
        label: 'Leave',
        run: () => {
          clearTimeout(timer);
          location.assign('/');
        },
      },
    ],
  });
}

/** Knocked: a moderator decides. */
export function lobbyPage(room: string, cancel: () => void) {
  messagePage({
    kind: 'lobby',
    title: 'Asking to join…',
    body: [`A moderator of “${room}” has been told you are here and will let you in.`],
    actions: [{ label: 'Cancel', run: cancel }],
  });
}

export function deniedPage(room: string, reason?: string) {
  messagePage({
    kind: 'denied',
    title: 'You were not let in',
    body: [`A moderator of “${room}” declined your request to join.`],
    detail: reason ? `Their reason: ${reason}` : undefined,
    actions: [goHome],
  });
}

export function lockedPage(room: string, retry: () => void) {
  messagePage({
    kind: 'locked',
    title: 'This meeting is locked',
    body: [`The moderators of “${room}” locked it: nobody new can join until they unlock it.`],
    actions: [{ label: 'Try again', run: retry, primary: true }, goHome],
  });
}

/** The room has a password; `error` says the last one was wrong. */
export function passwordPage(room: string, error: string | undefined, submit: (password: string) => void) {
  const input = h('input', { attrs: { id: 'room-password', type: 'password', autocomplete: 'off', maxlength: '128', 'aria-label': 'Meeting password' } });
  const form = h(
    'form',
    { class: 'password-form', on: { submit: (ev: Event) => { ev.preventDefault(); if (input.value) submit(input.value); } } },
    input,
    h('button', { class: 'btn primary', text: 'Join', attrs: { type: 'submit', id: 'password-submit' } }),
  );
  messagePage({
    kind: 'password',
    title: 'This meeting has a password',
    body: [`Enter the password of “${room}”. The moderators can tell you what it is.`, form],
    detail: error,
    actions: [goHome],
  });
  input.focus();
}

export function failedPage(detail: string, retry: () => void) {
  messagePage({
    kind: 'failed',
    title: 'Joining the meeting failed',
    body: ['Something went wrong while connecting. Trying again usually helps.'],
    detail,
    actions: [{ label: 'Try again', run: retry, primary: true }, goHome],
  });
}

export function permissionPage(which: string, retry: () => void, withoutDevices: () => void) {
  messagePage({
    kind: 'permission-denied',
    title: `Your browser blocked the ${which}`,
    body: [
      `Confab was not allowed to use your ${which}.`,
      'To allow it, click the camera or lock icon in the address bar, set Camera and Microphone to “Allow”, then try again.',
      'You can also join without them, and listen and chat.',
    ],
    glyph: 'camOff',
    actions: [
      { label: 'Try again', run: retry, primary: true },
      { label: 'Join without camera and microphone', run: withoutDevices },
    ],
  });
}

export function leftPage(room: string, rejoin: () => void, reason?: string) {
  messagePage({
    kind: reason ? 'disconnected' : 'left',
    title: reason ? 'You were disconnected' : 'You left the meeting',
    body: [reason ? `You are no longer in “${room}”.` : `Thanks for joining “${room}”.`],
    detail: reason,
    actions: [{ label: 'Rejoin', run: rejoin, primary: true }, goHome],
  });
}
