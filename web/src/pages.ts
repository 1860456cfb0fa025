// Full-page messages for everything that stops a person from being in a meeting. Each says what
// happened in plain words and offers the next step, instead of leaving a broken meeting screen.

import { t } from './i18n';
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

/** The top bar of every page: the product name links home; `extra` goes to the far end. */
export function header(...extra: Node[]): HTMLElement {
  return h(
    'header',
    { class: 'topbar' },
    h('a', { class: 'brand', text: 'Confab', attrs: { href: '/' } }),
    extra.length ? h('div', { class: 'topbar-end' }, ...extra) : null,
  );
}

function goHome(): Action {
  return { label: t('common.goHome'), run: () => location.assign('/') };
}

export function invalidRoomPage(name: string) {
  messagePage({
    kind: 'invalid-room',
    title: t('invalid.title'),
    body: [t('invalid.body', { name: name.length > 80 ? `${name.slice(0, 80)}…` : name }), t('invalid.rule')],
    actions: [{ ...goHome(), label: t('invalid.choose'), primary: true }],
  });
}

/**
 * The server did not answer. `offline`: the installed app's service worker opened this page
 * without the server, so the start page would not load either and is not offered.
 */
export function unreachablePage(detail: string, retry: () => void, { offline = false } = {}) {
  messagePage({
    kind: 'unreachable',
    title: t('unreachable.title'),
    body: [t('unreachable.body', { host: location.host }), t('unreachable.advice')],
    detail,
    glyph: 'refresh',
    actions: [{ label: t('common.tryAgain'), run: retry, primary: true }, ...(offline ? [] : [goHome()])],
  });
}

export function refusedPage(detail: string, retry: () => void) {
  messagePage({
    kind: 'refused',
    title: t('refused.title'),
    body: [t('refused.body')],
    detail,
    actions: [{ label: t('common.tryAgain'), run: retry, primary: true }, goHome()],
  });
}

/** Secure mode: guests wait until a host (an authenticated user) has opened the meeting. Retries by itself. */
export function waitingPage(room: string, retry: () => void) {
  const timer = setTimeout(retry, 5000);
  messagePage({
    kind: 'waiting-for-host',
    title: t('waiting.title'),
    body: [t('waiting.body', { room })],
    actions: [
      {
        label: t('waiting.signIn'),
        run: () => {
          clearTimeout(timer);
          location.assign('?login=1');
        },
      },
      {
        label: t('waiting.leave'),
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
    title: t('lobby.title'),
    body: [t('lobby.body', { room })],
    actions: [{ label: t('common.cancel'), run: cancel }],
  });
}

export function deniedPage(room: string, reason?: string) {
  messagePage({
    kind: 'denied',
    title: t('denied.title'),
    body: [t('denied.body', { room })],
    detail: reason ? t('denied.reason', { reason }) : undefined,
    actions: [goHome()],
  });
}

export function lockedPage(room: string, retry: () => void) {
  messagePage({
    kind: 'locked',
    title: t('locked.title'),
    body: [t('locked.body', { room })],
    actions: [{ label: t('common.tryAgain'), run: retry, primary: true }, goHome()],
  });
}

/** The room has a password; `error` says the last one was wrong. */
export function passwordPage(room: string, error: string | undefined, submit: (password: string) => void) {
  const input = h('input', { attrs: { id: 'room-password', type: 'password', autocomplete: 'off', maxlength: '128', 'aria-label': t('password.label') } });
  const form = h(
    'form',
    { class: 'password-form', on: { submit: (ev: Event) => { ev.preventDefault(); if (input.value) submit(input.value); } } },
    input,
    h('button', { class: 'btn primary', text: t('password.join'), attrs: { type: 'submit', id: 'password-submit' } }),
  );
  messagePage({
    kind: 'password',
    title: t('password.title'),
    body: [t('password.body', { room }), form],
    detail: error,
    actions: [goHome()],
  });
  input.focus();
}

export function failedPage(detail: string, retry: () => void) {
  messagePage({
    kind: 'failed',
    title: t('failed.title'),
    body: [t('failed.body')],
    detail,
    actions: [{ label: t('common.tryAgain'), run: retry, primary: true }, goHome()],
  });
}

/** `which` the browser blocked; one sentence each, since languages inflect the device's name. */
export function permissionPage(which: 'camera' | 'microphone' | 'both', retry: () => void, withoutDevices: () => void) {
  messagePage({
    kind: 'permission-denied',
    title: t(`device.blocked.${which}`),
    body: [t(`permission.body.${which}`), t('permission.howTo'), t('permission.without')],
    glyph: 'camOff',
    actions: [
      { label: t('common.tryAgain'), run: retry, primary: true },
      { label: t('permission.joinWithout'), run: withoutDevices },
    ],
  });
}

export function leftPage(room: string, rejoin: () => void, reason?: string) {
  messagePage({
    kind: reason ? 'disconnected' : 'left',
    title: reason ? t('left.disconnectedTitle') : t('left.title'),
    body: [reason ? t('left.disconnectedBody', { room }) : t('left.body', { room })],
    detail: reason,
    actions: [{ label: t('left.rejoin'), run: rejoin, primary: true }, goHome()],
  });
}
