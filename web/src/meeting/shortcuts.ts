// Jitsi Meet's single-key shortcuts. Keys are ignored while typing (chat, dialogs) and with a
// modifier held, so Ctrl+C still copies and Cmd+R still reloads.

import { isTyping } from '../util';

export type ShortcutActions = Partial<Record<'m' | 'v' | 's' | 'd' | 'c' | 'r' | 'w' | 'p' | '?' | 'Escape', () => void>>;

export function bindShortcuts(actions: ShortcutActions): () => void {
  const onKey = (ev: KeyboardEvent) => {
    if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat || ev.isComposing) return;
    if (ev.key !== 'Escape' && isTyping(ev.target)) return;
    // A modal dialog handles its own keys (Escape closes it natively).
    if (document.querySelector('dialog[open]') && ev.key !== '?') return;
    const key = ev.key.length === 1 ? ev.key.toLowerCase() : ev.key;
    const run = actions[key as keyof ShortcutActions];
    if (!run) return;
    ev.preventDefault();
    run();
  };
  document.addEventListener('keydown', onKey);
  return () => document.removeEventListener('keydown', onKey);
}
