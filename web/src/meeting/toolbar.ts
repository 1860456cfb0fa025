// The bar of round buttons at the bottom, in Jitsi Meet's order. On a narrow screen the less used
// ones move into the "More" menu so the essentials stay thumb-sized.

import { backgroundsSupported } from '../background';
import { t } from '../i18n';
import { type IconName, icon } from '../icons';
import { h } from '../util';
import { reactionButtons } from './reactions';

export interface ButtonState {
  icon: IconName;
  label: string;
  pressed?: boolean;
  /** Red, as for a muted microphone. */
  off?: boolean;
  badge?: number;
  disabled?: boolean;
}

export class ToolButton {
  readonly el: HTMLButtonElement;
  private readonly badge: HTMLSpanElement;
  private last = '';

  constructor(
    readonly id: string,
    onClick: () => void,
    readonly shortcut?: string,
    extraClass = '',
  ) {
    this.badge = h('span', { class: 'badge' });
    this.badge.hidden = true;
    this.el = h('button', { class: `round tool ${extraClass}`.trim(), attrs: { type: 'button', id: `tb-${id}` } });
    this.el.addEventListener('click', onClick);
  }

  update(s: ButtonState) {
    const sig = JSON.stringify(s);
    if (sig === this.last) return;
    this.last = sig;
    this.el.replaceChildren(icon(s.icon), this.badge);
    const label = this.shortcut ? `${s.label} (${this.shortcut})` : s.label;
    this.el.title = label;
    this.el.setAttribute('aria-label', s.label);
    if (s.pressed !== undefined) this.el.setAttribute('aria-pressed', String(s.pressed));
    this.el.classList.toggle('active', !!s.pressed);
    this.el.classList.toggle('off', !!s.off);
    this.el.disabled = !!s.disabled;
    this.badge.hidden = !s.badge;
    this.badge.textContent = s.badge && s.badge > 99 ? '99+' : String(s.badge ?? '');
  }
}

export interface MenuItem {
  id: string;
  icon: IconName;
  label: () => string;
  run: () => void;
  /** Shown in the menu only when the toolbar has no room for its own button. */
  narrowOnly?: boolean;
  disabled?: boolean;
}

/** A popup menu anchored to a toolbar button; closes on outside click or Escape. */
export class Popup {
  readonly el: HTMLDivElement;
  private onDoc = (ev: Event) => {
    if (!this.el.contains(ev.target as Node) && !this.anchor.contains(ev.target as Node)) this.close();
  };

  constructor(
    private readonly anchor: HTMLElement,
    cls: string,
    label: string,
  ) {
    this.el = h('div', { class: `popup ${cls}`, attrs: { role: 'menu', 'aria-label': label } });
    this.el.hidden = true;
  }

  get isOpen() {
    return !this.el.hidden;
  }

  open(fill: (el: HTMLDivElement) => void) {
    fill(this.el);
    this.el.hidden = false;
    this.anchor.setAttribute('aria-expanded', 'true');
    setTimeout(() => document.addEventListener('pointerdown', this.onDoc), 0);
    (this.el.querySelector('button') as HTMLButtonElement | null)?.focus();
  }

  close() {
    this.el.hidden = true;
    this.anchor.setAttribute('aria-expanded', 'false');
    document.removeEventListener('pointerdown', this.onDoc);
  }

  toggle(fill: (el: HTMLDivElement) => void) {
    if (this.isOpen) this.close();
    else this.open(fill);
  }
}

export function menuButton(item: MenuItem, close: () => void): HTMLButtonElement {
  return h(
    'button',
    {
      class: `menu-item${item.narrowOnly ? ' narrow-only' : ''}`,
      attrs: { type: 'button', role: 'menuitem', id: `menu-${item.id}`, ...(item.disabled ? { disabled: '' } : {}) },
      on: {
        click: () => {
          close();
          item.run();
        },
      },
    },
    icon(item.icon),
    h('span', { text: item.label() }),
  );
}

/** What the toolbar buttons do; the meeting implements these. */
export interface ToolbarActions {
  toggleMic(): void;
  toggleCam(): void;
  toggleScreen(): void;
  toggleChat(): void;
  toggleHand(): void;
  react(emoji: string): void;
  toggleParticipants(): void;
  toggleView(): void;
  invite(): void;
  toggleRecording(): void;
  toggleLiveStream(): void;
  recordings(): void;
  background(): void;
  settings(): void;
  shortcuts(): void;
  leave(): void;
}

/** What the buttons show. */
export interface ToolbarState {
  mic: boolean;
  cam: boolean;
  sharing: boolean;
  chatOpen: boolean;
  unread: number;
  handUp: boolean;
  participantsOpen: boolean;
  count: number;
  view: 'tile' | 'stage';
  /** Moderates with a token that allows recording: the recording and live stream entries are shown. */
  mayRecord: boolean;
  recording: boolean;
  liveStreaming: boolean;
  /** A start or stop of the recording, or a stop of the live stream, is waiting for the server. */
  egressBusy: 'recording' | 'liveStream' | undefined;
}

export class MeetingToolbar {
  readonly el: HTMLElement;
  private readonly buttons: Record<string, ToolButton> = {};
  private readonly reactions: Popup;
  private readonly more: Popup;
  private state: ToolbarState | undefined;

  constructor(private readonly act: ToolbarActions) {
    const b = (id: string, run: () => void, key?: string, cls?: string) => (this.buttons[id] = new ToolButton(id, run, key, cls)).el;
    const bar = h(
      'nav',
      { class: 'toolbar', attrs: { 'aria-label': t('toolbar.label') } },
      b('mic', () => act.toggleMic(), 'M'),
      b('cam', () => act.toggleCam(), 'V'),
      b('screen', () => act.toggleScreen(), 'S', 'wide-only'),
      b('chat', () => act.toggleChat(), 'C'),
      b('hand', () => act.toggleHand(), 'R', 'wide-only'),
      b('reactions', () => this.reactions.toggle((el) => el.replaceChildren(...reactionButtons((e) => act.react(e)))), undefined, 'wide-only'),
      b('participants', () => act.toggleParticipants(), 'P'),
      b('view', () => act.toggleView(), 'W', 'wide-only'),
      b('more', () => this.more.toggle((el) => this.fillMore(el))),
      b('leave', () => act.leave(), undefined, 'danger'),
    );
    this.buttons.reactions.el.setAttribute('aria-haspopup', 'menu');
    this.buttons.more.el.setAttribute('aria-haspopup', 'menu');
    this.reactions = new Popup(this.buttons.reactions.el, 'reactions-popup', t('toolbar.reactions'));
    this.more = new Popup(this.buttons.more.el, 'more-popup', t('toolbar.more'));
    this.el = h('div', { class: 'toolbar-wrap' }, this.reactions.el, this.more.el, bar);
  }

  /** Closes an open popup; false if none was open (so Escape can close a panel instead). */
  closePopups(): boolean {
    if (this.reactions.isOpen) this.reactions.close();
    else if (this.more.isOpen) this.more.close();
    else return false;
    return true;
  }

  /** On a phone the More menu also holds what the narrow toolbar leaves out. */
  private fillMore(el: HTMLDivElement) {
    const close = () => this.more.close();
    const s = this.state;
    const recording: MenuItem[] = s?.mayRecord
      ? [
          {
            id: 'recording',
            icon: 'record',
            label: () => t(s.recording ? 'recording.stop' : s.egressBusy === 'recording' ? 'recording.starting' : 'recording.start'),
            run: () => this.act.toggleRecording(),
            disabled: !!s.egressBusy,
          },
          {
            id: 'livestream',
            icon: 'broadcast',
            label: () => t(s.liveStreaming ? 'stream.stop' : 'stream.start'),
            run: () => this.act.toggleLiveStream(),
            disabled: !!s.egressBusy,
          },
          { id: 'recordings', icon: 'film', label: () => t('recording.list'), run: () => this.act.recordings() },
        ]
      : [];
    const background: MenuItem[] = backgroundsSupported()
      ? [{ id: 'background', icon: 'background', label: () => t('background.select'), run: () => this.act.background() }]
      : [];
    const items: MenuItem[] = [
      { id: 'screen', icon: 'screen', label: () => t(s?.sharing ? 'toolbar.shareStop' : 'toolbar.shareStart'), run: () => this.act.toggleScreen(), narrowOnly: true },
      { id: 'hand', icon: 'hand', label: () => t(s?.handUp ? 'toolbar.handLower' : 'toolbar.handRaise'), run: () => this.act.toggleHand(), narrowOnly: true },
      { id: 'view', icon: s?.view === 'tile' ? 'stage' : 'grid', label: () => t(s?.view === 'tile' ? 'toolbar.stageView' : 'toolbar.tileView'), run: () => this.act.toggleView(), narrowOnly: true },
      { id: 'invite', icon: 'link', label: () => t('toolbar.invite'), run: () => this.act.invite() },
      ...recording,
      ...background,
      { id: 'settings', icon: 'settings', label: () => t('toolbar.settings'), run: () => this.act.settings() },
      { id: 'shortcuts', icon: 'keyboard', label: () => t('toolbar.shortcuts'), run: () => this.act.shortcuts() },
    ];
    el.replaceChildren(
      h(
        'div',
        { class: 'reaction-row narrow-only' },
        ...reactionButtons((e) => {
          close();
          this.act.react(e);
        }),
      ),
      ...items.map((i) => menuButton(i, close)),
    );
  }

  update(s: ToolbarState) {
    this.state = s;
    const bt = this.buttons;
    bt.mic.update({ icon: s.mic ? 'mic' : 'micOff', label: t(s.mic ? 'toolbar.micMute' : 'toolbar.micUnmute'), pressed: !s.mic, off: !s.mic });
    bt.cam.update({ icon: s.cam ? 'cam' : 'camOff', label: t(s.cam ? 'toolbar.camStop' : 'toolbar.camStart'), pressed: !s.cam, off: !s.cam });
    bt.screen.update({ icon: 'screen', label: t(s.sharing ? 'toolbar.shareStop' : 'toolbar.shareStart'), pressed: s.sharing });
    bt.chat.update({ icon: 'chat', label: t(s.chatOpen ? 'toolbar.chatClose' : 'toolbar.chatOpen'), pressed: s.chatOpen, badge: s.unread });
    bt.hand.update({ icon: 'hand', label: t(s.handUp ? 'toolbar.handLower' : 'toolbar.handRaise'), pressed: s.handUp });
    bt.reactions.update({ icon: 'smile', label: t('toolbar.react') });
    bt.participants.update({ icon: 'people', label: t(s.participantsOpen ? 'toolbar.peopleHide' : 'toolbar.peopleShow'), pressed: s.participantsOpen, badge: s.count });
    bt.view.update({ icon: s.view === 'tile' ? 'stage' : 'grid', label: t(s.view === 'tile' ? 'toolbar.tileExit' : 'toolbar.tileEnter'), pressed: s.view === 'tile' });
    bt.more.update({ icon: 'more', label: t('toolbar.more') });
    bt.leave.update({ icon: 'hangup', label: t('toolbar.leave') });
  }
}
