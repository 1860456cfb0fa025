// The start page: name a room (or take the suggested one) and go. A room exists as soon as
// someone opens its URL, so there is nothing to create or schedule.

import { locales, t, tn } from './i18n';
import { languagePicker } from './i18n/select';
import { header } from './pages';
import { installButton } from './pwa';
import { forgetRoom, generateRoomName, recentRooms, roomPath, validRoomName } from './rooms';
import { h, mount } from './util';

export function homePage() {
  let suggestion = generateRoomName();
  const input = h('input', {
    attrs: {
      id: 'room-name',
      type: 'text',
      maxlength: '128',
      autocomplete: 'off',
      spellcheck: 'false',
      'aria-label': t('home.roomName'),
      placeholder: suggestion,
    },
  });
  const error = h('p', { class: 'field-error', attrs: { role: 'alert' } });
  error.hidden = true;
  const another = h('button', {
    class: 'btn ghost small',
    text: t('home.suggest'),
    attrs: { type: 'button' },
    on: {
      click: () => {
        suggestion = generateRoomName();
        input.placeholder = suggestion;
        input.focus();
      },
    },
  });
  const form = h(
    'form',
    { class: 'home-form', attrs: { id: 'home-form' } },
    h('label', { class: 'home-label', text: t('home.label'), attrs: { for: 'room-name' } }),
    h('div', { class: 'home-row' }, input, h('button', { class: 'btn primary', text: t('home.go'), attrs: { type: 'submit', id: 'go' } })),
    error,
    h('p', { class: 'hint' }, `${t('home.emptyHint')} `, another),
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = input.value.trim() || suggestion;
    if (!validRoomName(name)) {
      error.textContent = t('room.rule');
      error.hidden = false;
      input.focus();
      return;
    }
    location.assign(roomPath(name));
  });
  input.addEventListener('input', () => (error.hidden = true));

  mount(
    header(installButton(), languagePicker()),
    h(
      'main',
      { class: 'page home', dataset: { page: 'home' } },
      h(
        'section',
        { class: 'hero' },
        h('h1', { text: t('home.heading') }),
        h('p', { class: 'lede', text: t('home.lede') }),
        form,
      ),
      recentList(),
    ),
  );
  document.title = 'Confab';
  input.focus();
}

function recentList(): HTMLElement | null {
  const rooms = recentRooms();
  if (rooms.length === 0) return null;
  const list = h('ul', { class: 'recent-list' });
  for (const r of rooms) {
    const item = h(
      'li',
      {},
      h('a', { text: r.name, attrs: { href: roomPath(r.name) } }),
      h('span', { class: 'when', text: ago(r.at) }),
      h('button', {
        class: 'btn ghost small',
        text: '×',
        title: t('home.forgetTitle', { room: r.name }),
        attrs: { type: 'button', 'aria-label': t('home.forget', { room: r.name }) },
        on: {
          click: () => {
            forgetRoom(r.name);
            item.remove();
          },
        },
      }),
    );
    list.append(item);
  }
  return h('section', { class: 'recent card' }, h('h2', { text: t('home.recent') }), list);
}

function ago(at: number): string {
  const min = Math.round((Date.now() - at) / 60_000);
  if (min < 1) return t('home.justNow');
  if (min < 60) return tn('home.minutesAgo', min);
  const hours = Math.round(min / 60);
  if (hours < 24) return tn('home.hoursAgo', hours);
  return new Date(at).toLocaleDateString(locales());
}
