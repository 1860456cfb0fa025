// Meeting chat over the protocol's text streams on the `lk.chat` topic, the same topic
// LiveKit's components-react chat uses, so people on other apps built with LiveKit client SDKs
// see our messages and we see theirs.

import type { Room } from 'livekit-client';
import { locales, t } from './i18n';
import { icon } from './icons';
import { h } from './util';

export const CHAT_TOPIC = 'lk.chat';
/** Older components-js versions sent chat as JSON data packets on this topic; we still read them. */
export const LEGACY_CHAT_TOPIC = 'lk-chat-topic';
const MAX_LENGTH = 4000;

export interface ChatLine {
  identity: string;
  name: string;
  text: string;
  at: number;
  local: boolean;
  failed?: boolean;
}

export class Chat {
  readonly panel: HTMLElement;
  private readonly log: HTMLOListElement;
  private readonly input: HTMLTextAreaElement;
  private lastSender = '';
  private readonly listeners = new Set<(line: ChatLine) => void>();
  unread = 0;
  isOpen = false;

  constructor(
    private readonly room: Room,
    private readonly nameOf: (identity: string) => string,
    /** Told about each message that arrives while the panel is closed, and of unread changes. */
    private readonly onActivity: (line: ChatLine | undefined) => void,
    onClose: () => void,
  ) {
    this.log = h('ol', { class: 'chat-log', attrs: { 'aria-label': t('chat.log'), 'aria-live': 'polite' } });
    this.input = h('textarea', {
      attrs: { id: 'chat-input', rows: '1', maxlength: String(MAX_LENGTH), placeholder: t('chat.placeholder'), 'aria-label': t('chat.input') },
    });
    const send = h('button', { class: 'round small primary', title: t('chat.send'), attrs: { type: 'submit', 'aria-label': t('chat.sendMessage') } }, icon('send'));
    const form = h('form', { class: 'chat-form' }, this.input, send);
    form.addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.sendInput();
    });
    // Enter sends, Shift+Enter starts a new line: what every chat app does.
    this.input.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) {
        ev.preventDefault();
        void this.sendInput();
      }
    });
    this.input.addEventListener('input', () => {
      this.input.style.height = 'auto';
      this.input.style.height = `${Math.min(this.input.scrollHeight, 120)}px`;
    });
    this.panel = h(
      'section',
      { class: 'panel chat-panel', attrs: { id: 'chat-panel', 'aria-label': t('chat.title') } },
      h(
        'div',
        { class: 'panel-head' },
        h('h2', { text: t('chat.title') }),
        h('button', { class: 'round small ghost', title: t('toolbar.chatClose'), attrs: { type: 'button', 'aria-label': t('toolbar.chatClose') }, on: { click: onClose } }, icon('close')),
      ),
      h('div', { class: 'chat-scroll' }, h('p', { class: 'chat-empty', text: t('chat.empty') }), this.log),
      form,
    );

    room.registerTextStreamHandler(CHAT_TOPIC, (reader, { identity }) => {
      void reader
        .readAll()
        .then((text) => this.receive(identity, text))
        .catch(() => {});
    });
  }

  /** A legacy JSON chat packet ({message}) from an older client. */
  receiveLegacy(identity: string, payload: string) {
    try {
      const msg = (JSON.parse(payload) as { message?: unknown }).message;
      if (typeof msg === 'string') this.receive(identity, msg);
    } catch {
      // not chat after all
    }
  }

  receive(identity: string, text: string) {
    if (!text.trim()) return;
    const line: ChatLine = { identity, name: this.nameOf(identity), text: text.slice(0, MAX_LENGTH), at: Date.now(), local: false };
    this.append(line);
    if (!this.isOpen) {
      this.unread++;
      this.onActivity(line);
    }
    for (const fn of this.listeners) fn(line);
  }

  /** Calls `fn` with every message that arrives from someone else; returns the way to stop. */
  onReceive(fn: (line: ChatLine) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  setOpen(open: boolean) {
    this.isOpen = open;
    if (open) {
      this.unread = 0;
      this.onActivity(undefined);
      this.scrollToEnd();
      // On a phone the keyboard would cover the messages the moment the panel opens.
      if (!matchMedia('(pointer: coarse)').matches) this.input.focus();
    }
  }

  private async sendInput() {
    const text = this.input.value.trim();
    if (!text) return;
    this.input.value = '';
    this.input.style.height = 'auto';
    await this.send(text).catch(() => {});
  }

  /** Sends `text` to everyone and shows it as yours; a failure is marked on the line and rethrown. */
  async send(message: string) {
    const text = message.trim().slice(0, MAX_LENGTH);
    if (!text) return;
    const line: ChatLine = { identity: this.room.localParticipant.identity, name: t('common.you'), text, at: Date.now(), local: true };
    const li = this.append(line);
    try {
      await this.room.localParticipant.sendText(text, { topic: CHAT_TOPIC });
    } catch (e) {
      li.classList.add('failed');
      li.append(h('span', { class: 'chat-error', text: t('chat.notSent', { error: e instanceof Error ? e.message : String(e) }) }));
      throw e;
    }
  }

  private append(line: ChatLine): HTMLLIElement {
    const sameSender = this.lastSender === line.identity;
    this.lastSender = line.identity;
    const time = new Date(line.at).toLocaleTimeString(locales(), { hour: '2-digit', minute: '2-digit' });
    const li = h(
      'li',
      { class: `chat-line${line.local ? ' local' : ''}${sameSender ? ' continued' : ''}`, dataset: { identity: line.identity } },
      sameSender ? null : h('div', { class: 'chat-meta' }, h('span', { class: 'chat-name', text: line.name }), h('time', { text: time })),
      h('div', { class: 'chat-text' }, ...linkify(line.text)),
    );
    this.log.append(li);
    this.panel.classList.add('has-messages');
    this.scrollToEnd();
    return li;
  }

  private scrollToEnd() {
    const scroller = this.log.parentElement;
    if (scroller) scroller.scrollTop = scroller.scrollHeight;
  }
}

/** Text with http(s) links made clickable; everything stays text nodes, never parsed HTML. */
function linkify(text: string): Node[] {
  const out: Node[] = [];
  let last = 0;
  for (const m of text.matchAll(/https?:\/\/[^\s<>"']+/g)) {
    const start = m.index ?? 0;
    if (start > last) out.push(document.createTextNode(text.slice(last, start)));
    out.push(h('a', { text: m[0], attrs: { href: m[0], target: '_blank', rel: 'noopener noreferrer' } }));
    last = start + m[0].length;
  }
  if (last < text.length) out.push(document.createTextNode(text.slice(last)));
  return out;
}
