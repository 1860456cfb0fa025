// Modal dialogs of the meeting: settings (devices, video quality, language), keyboard shortcuts, invite.

import type { Room } from 'livekit-client';
import { devicePicker } from '../devices';
import { type Key, t } from '../i18n';
import { languageSelect } from '../i18n/select';
import { icon } from '../icons';
import { type DeviceKind, type Quality, prefs } from '../prefs';
import { h } from '../util';

const qualityLabels: Record<Quality, Key> = {
  low: 'quality.low',
  standard: 'quality.standard',
  high: 'quality.high',
};

export function dialog(id: string, title: string, ...body: Node[]): HTMLDialogElement {
  const d = h(
    'dialog',
    { class: 'dialog', attrs: { id, 'aria-label': title } },
    h(
      'div',
      { class: 'dialog-head' },
      h('h2', { text: title }),
      h('button', { class: 'round small ghost', title: t('common.close'), attrs: { type: 'button', 'aria-label': t('common.close') }, on: { click: () => d.close() } }, icon('close')),
    ),
    ...body,
  );
  // A click on the backdrop lands on the <dialog> itself: close, as people expect.
  d.addEventListener('click', (ev) => {
    if (ev.target === d) d.close();
  });
  return d;
}

export function settingsDialog(room: Room, onQuality: (q: Quality) => Promise<void>): { el: HTMLDialogElement; open: () => void } {
  const kinds: DeviceKind[] = ['videoinput', 'audioinput', 'audiooutput'];
  const pickers = kinds.map((kind) =>
    devicePicker(
      kind,
      () => room.getActiveDevice(kind),
      (id) => void room.switchActiveDevice(kind, id).catch(() => {}),
    ),
  );
  const status = h('p', { class: 'hint', attrs: { role: 'status' } });
  const radios = (Object.keys(qualityLabels) as Quality[]).map((q) => {
    const input = h('input', { attrs: { type: 'radio', name: 'quality', value: q, id: `quality-${q}` } });
    input.addEventListener('change', async () => {
      if (!input.checked) return;
      prefs.quality = q;
      status.textContent = t('settings.applying');
      try {
        await onQuality(q);
        status.textContent = '';
      } catch (e) {
        status.textContent = t('settings.qualityFailed', { error: e instanceof Error ? e.message : String(e) });
      }
    });
    return { q, input, label: h('label', { class: 'radio' }, input, h('span', { text: t(qualityLabels[q]) })) };
  });
  const d = dialog(
    'settings-dialog',
    t('settings.title'),
    h('h3', { text: t('settings.devices') }),
    ...pickers.map((p) => p.element),
    h('h3', { text: t('settings.quality') }),
    h('div', { class: 'radios', attrs: { role: 'radiogroup', 'aria-label': t('settings.quality') } }, ...radios.map((r) => r.label)),
    h('p', { class: 'hint', text: t('settings.qualityHint') }),
    status,
    h('h3', { text: t('language.label') }),
    // Every string of the meeting was rendered in the old language; the choice waits for the next page.
    languageSelect(() => {}),
    h('p', { class: 'hint', text: t('settings.languageHint') }),
  );
  return {
    el: d,
    open() {
      for (const r of radios) r.input.checked = r.q === prefs.quality;
      for (const p of pickers) void p.refresh();
      d.showModal();
    },
  };
}

/** The keys stay as they are in every language: the shortcuts are bound to them. */
const SHORTCUTS: [string, Key][] = [
  ['M', 'shortcuts.mic'],
  ['V', 'shortcuts.cam'],
  ['S', 'shortcuts.screen'],
  ['C', 'shortcuts.chat'],
  ['R', 'shortcuts.hand'],
  ['W', 'shortcuts.view'],
  ['P', 'shortcuts.people'],
  ['?', 'shortcuts.help'],
  ['Esc', 'shortcuts.close'],
];

export function shortcutsDialog(): { el: HTMLDialogElement; toggle: () => void } {
  const d = dialog(
    'shortcuts-dialog',
    t('toolbar.shortcuts'),
    h(
      'dl',
      { class: 'shortcuts' },
      ...SHORTCUTS.flatMap(([key, what]) => [h('dt', {}, h('kbd', { text: key })), h('dd', { text: t(what) })]),
    ),
  );
  return {
    el: d,
    toggle() {
      if (d.open) d.close();
      else d.showModal();
    },
  };
}

export function inviteDialog(link: string): { el: HTMLDialogElement; open: () => void } {
  const input = h('input', { attrs: { type: 'text', readonly: '', 'aria-label': t('invite.link'), id: 'invite-link' } });
  input.value = link;
  const status = h('p', { class: 'hint', attrs: { role: 'status' } });
  const copy = h('button', { class: 'btn primary', text: t('invite.copy'), attrs: { type: 'button' } });
  copy.addEventListener('click', async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(link);
      status.textContent = t('invite.copied');
    } catch {
      // The clipboard API needs a secure context; the selected text can still be copied by hand.
      status.textContent = t('invite.copyByHand');
    }
  });
  const d = dialog('invite-dialog', t('toolbar.invite'), h('p', { text: t('invite.body') }), h('div', { class: 'invite-row' }, input, copy), status);
  return {
    el: d,
    open() {
      status.textContent = '';
      d.showModal();
      input.select();
    },
  };
}
