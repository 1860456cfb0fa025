// Short notifications in the corner ("Ana raised their hand", "Link copied"), gone after a few
// seconds, like Jitsi Meet's. At most a few at a time so a busy meeting does not wallpaper the screen.

import { h } from '../util';

const MAX = 4;

export class Toasts {
  readonly el = h('div', { class: 'toasts', attrs: { 'aria-live': 'polite', role: 'status' } });

  show(text: string, opts: { kind?: 'info' | 'warn' | 'error'; ms?: number; onClick?: () => void } = {}) {
    while (this.el.childElementCount >= MAX) this.el.firstElementChild?.remove();
    const t = h('div', { class: `toast ${opts.kind ?? 'info'}`, text });
    if (opts.onClick) {
      t.classList.add('clickable');
      t.addEventListener('click', () => {
        t.remove();
        opts.onClick!();
      });
    }
    this.el.append(t);
    setTimeout(() => t.remove(), opts.ms ?? 4000);
  }
}
