// Modal dialogs of the meeting: settings (devices, background, noise suppression, video quality,
// language), keyboard shortcuts, invite.

import type { Room } from 'livekit-client';
import { backgroundPicker } from '../background';
import { devicePicker } from '../devices';
import { type Key, t } from '../i18n';
import { languageSelect } from '../i18n/select';
import { icon } from '../icons';
import { type Background, type DeviceKind, type Quality, audioCapture, prefs } from '../prefs';
import { h } from '../util';
import { dialInSection } from './dialin';

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

/** What the settings dialog changes on the meeting's tracks; each rejects if the change failed. */
export interface SettingsActions {
  quality(q: Quality): Promise<void>;
  background(b: Background): Promise<void>;
  noiseSuppression(on: boolean): Promise<void>;
}

export function settingsDialog(
  room: Room,
  act: SettingsActions,
): { el: HTMLDialogElement; open: (focus?: 'background') => void; backgroundFailed: (e: unknown) => void } {
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
        await act.quality(q);
        status.textContent = '';
      } catch (e) {
        status.textContent = t('settings.qualityFailed', { error: e instanceof Error ? e.message : String(e) });
      }
    });
    return { q, input, label: h('label', { class: 'radio' }, input, h('span', { text: t(qualityLabels[q]) })) };
  });
  const background = backgroundPicker((b) => act.background(b));
  const noise = h('input', { attrs: { type: 'checkbox', id: 'noise-suppression' } });
  const noiseStatus = h('p', { class: 'hint', attrs: { role: 'status' } });
  noise.addEventListener('change', async () => {
    prefs.noiseSuppression = noise.checked;
    noiseStatus.textContent = t('settings.applying');
    try {
      await act.noiseSuppression(noise.checked);
      noiseStatus.textContent = '';
    } catch (e) {
      noiseStatus.textContent = t('settings.noiseFailed', { error: e instanceof Error ? e.message : String(e) });
    }
  });
  const d = dialog(
    'settings-dialog',
    t('settings.title'),
    h('h3', { text: t('settings.devices') }),
    ...pickers.map((p) => p.element),
    background.element,
    h('label', { class: 'radio' }, noise, h('span', { text: t('settings.noiseSuppression') })),
    h('p', { class: 'hint', text: t('settings.noiseSuppressionHint') }),
    noiseStatus,
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
    open(focus) {
      for (const r of radios) r.input.checked = r.q === prefs.quality;
      for (const p of pickers) void p.refresh();
      background.refresh();
      noise.checked = audioCapture(undefined).noiseSuppression === true;
      d.showModal();
      if (focus === 'background') background.select.focus();
    },
    backgroundFailed: background.failed,
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

export function inviteDialog(link: string, room: string): { el: HTMLDialogElement; open: () => void } {
  const input = h('input', { attrs: { type: 'text', readonly: '', 'aria-label': t('invite.link'), id: 'invite-link' } });
  input.value = link;
  const status = h('p', { class: 'hint', attrs: { role: 'status' } });
  const phone = dialInSection(room);
  const copy = h('button', { class: 'btn primary', text: t('invite.copy'), attrs: { type: 'button', id: 'invite-copy' } });
  copy.addEventListener('click', async () => {
    input.select();
    // With dial-in the whole invitation goes, so those who paste it can call in too.
    const invitation = phone.invitation(link);
    try {
      await navigator.clipboard.writeText(invitation ?? link);
      status.textContent = t(invitation ? 'dialIn.copied' : 'invite.copied');
    } catch {
      // The clipboard API needs a secure context; the selected text can still be copied by hand.
      status.textContent = t('invite.copyByHand');
    }
  });
  const d = dialog('invite-dialog', t('toolbar.invite'), h('p', { text: t('invite.body') }), h('div', { class: 'invite-row' }, input, copy), status, phone.el);
  return {
    el: d,
    open() {
      status.textContent = '';
      phone.load();
      d.showModal();
      input.select();
    },
  };
}
