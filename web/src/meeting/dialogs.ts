// Modal dialogs of the meeting: settings (devices, video quality), keyboard shortcuts, invite.

import type { Room } from 'livekit-client';
import { devicePicker } from '../devices';
import { icon } from '../icons';
import { type DeviceKind, type Quality, prefs, qualityLabels } from '../prefs';
import { h } from '../util';

export function dialog(id: string, title: string, ...body: Node[]): HTMLDialogElement {
  const d = h(
    'dialog',
    { class: 'dialog', attrs: { id, 'aria-label': title } },
    h(
      'div',
      { class: 'dialog-head' },
      h('h2', { text: title }),
      h('button', { class: 'round small ghost', title: 'Close', attrs: { type: 'button', 'aria-label': 'Close' }, on: { click: () => d.close() } }, icon('close')),
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
      status.textContent = 'Applying…';
      try {
        await onQuality(q);
        status.textContent = '';
      } catch (e) {
        status.textContent = `Could not change the video quality: ${e instanceof Error ? e.message : String(e)}`;
      }
    });
    return { q, input, label: h('label', { class: 'radio' }, input, h('span', { text: qualityLabels[q] })) };
  });
  const d = dialog(
    'settings-dialog',
    'Settings',
    h('h3', { text: 'Devices' }),
    ...pickers.map((p) => p.element),
    h('h3', { text: 'Video quality' }),
    h('div', { class: 'radios', attrs: { role: 'radiogroup', 'aria-label': 'Video quality' } }, ...radios.map((r) => r.label)),
    h('p', { class: 'hint', text: 'Sets how sharp your camera is sent and the sharpest video you receive. Lower it on a slow connection.' }),
    status,
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

export const SHORTCUTS: [string, string][] = [
  ['M', 'Mute or unmute your microphone'],
  ['V', 'Start or stop your camera'],
  ['S', 'Start or stop sharing your screen (D also works)'],
  ['C', 'Open or close the chat'],
  ['R', 'Raise or lower your hand'],
  ['W', 'Switch between tile view and stage view'],
  ['P', 'Show or hide the participants'],
  ['?', 'Show or hide these keyboard shortcuts'],
  ['Esc', 'Close a panel or dialog'],
];

export function shortcutsDialog(): { el: HTMLDialogElement; toggle: () => void } {
  const d = dialog(
    'shortcuts-dialog',
    'Keyboard shortcuts',
    h(
      'dl',
      { class: 'shortcuts' },
      ...SHORTCUTS.flatMap(([key, what]) => [h('dt', {}, h('kbd', { text: key })), h('dd', { text: what })]),
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
  const input = h('input', { attrs: { type: 'text', readonly: '', 'aria-label': 'Meeting link', id: 'invite-link' } });
  input.value = link;
  const status = h('p', { class: 'hint', attrs: { role: 'status' } });
  const copy = h('button', { class: 'btn primary', text: 'Copy', attrs: { type: 'button' } });
  copy.addEventListener('click', async () => {
    input.select();
    try {
      await navigator.clipboard.writeText(link);
      status.textContent = 'Link copied. Paste it to whoever should join.';
    } catch {
      // The clipboard API needs a secure context; the selected text can still be copied by hand.
      status.textContent = 'Press Ctrl+C (⌘C on a Mac) to copy the selected link.';
    }
  });
  const d = dialog('invite-dialog', 'Invite people', h('p', { text: 'Anyone with this link can join the meeting.' }), h('div', { class: 'invite-row' }, input, copy), status);
  return {
    el: d,
    open() {
      status.textContent = '';
      d.showModal();
      input.select();
    },
  };
}
