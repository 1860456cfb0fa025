// The participants pane: who is here, who is muted, and the queue of raised hands first, so whoever
// runs the meeting can take questions in order. Moderators also get their controls here: mute,
// stop video, make or revoke moderator and remove for each person, and mute all and end meeting.

import { t } from '../i18n';
import { icon } from '../icons';
import { h } from '../util';
import type { EntryStatus } from './moderation';
import { numberBesides, paintAvatar } from './phone';

/** What the tiles and the participants pane both show of a person. */
export interface PersonState {
  name: string;
  isLocal: boolean;
  micMuted: boolean;
  camOff: boolean;
  speaking: boolean;
  /** Raised-hand position (1 = first), or 0. */
  hand: number;
  /** For a phone caller: the number called from, '' if unknown. */
  phone?: string;
}

export interface PersonEntry extends PersonState {
  identity: string;
  moderator: boolean;
  /** Published track sids, for a moderator's mute. */
  micSid?: string;
  camSid?: string;
}

export interface ModeratorActions {
  mute: (p: PersonEntry, what: 'mic' | 'cam') => void;
  setModerator: (p: PersonEntry, on: boolean) => void;
  remove: (p: PersonEntry) => void;
  muteAll: (kind: 'audio' | 'video') => void;
  endMeeting: () => void;
  setLobby: (on: boolean) => void;
  setLocked: (on: boolean) => void;
  /** undefined removes the password. */
  setPassword: (password: string | undefined) => void;
  admit: (id: string) => void;
  deny: (id: string) => void;
  /** Denies everyone waiting in the lobby at once. */
  denyAll: () => void;
}

export class ParticipantsPane {
  readonly panel: HTMLElement;
  private readonly title: HTMLHeadingElement;
  private readonly list: HTMLUListElement;
  private readonly modBar: HTMLDivElement;
  private readonly entryOptions: HTMLDivElement;
  private readonly lobbyBox: HTMLInputElement;
  private readonly lockBox: HTMLInputElement;
  private readonly passwordNote: HTMLSpanElement;
  private readonly knockList: HTMLUListElement;
  private readonly denyAll: HTMLButtonElement;
  private last = '';
  private lastEntry = '';

  constructor(
    onClose: () => void,
    private readonly actions: ModeratorActions,
  ) {
    this.title = h('h2', { text: t('people.title') });
    this.list = h('ul', { class: 'people-list' });
    this.modBar = h(
      'div',
      { class: 'moderator-bar' },
      h('button', { class: 'btn small', text: t('people.muteAll'), attrs: { type: 'button', id: 'mute-all' }, on: { click: () => actions.muteAll('audio') } }),
      h('button', { class: 'btn small', text: t('people.stopAllVideo'), attrs: { type: 'button', id: 'stop-all-video' }, on: { click: () => actions.muteAll('video') } }),
      h('button', { class: 'btn small danger', text: t('people.endAll'), attrs: { type: 'button', id: 'end-meeting' }, on: { click: () => actions.endMeeting() } }),
    );
    this.modBar.hidden = true;

    this.lobbyBox = h('input', { attrs: { type: 'checkbox', id: 'lobby-toggle' }, on: { change: () => actions.setLobby(this.lobbyBox.checked) } });
    this.lockBox = h('input', { attrs: { type: 'checkbox', id: 'lock-toggle' }, on: { change: () => actions.setLocked(this.lockBox.checked) } });
    const password = h('input', { attrs: { type: 'password', id: 'password-input', maxlength: '128', placeholder: t('people.newPassword'), autocomplete: 'new-password' } });
    this.passwordNote = h('span', { class: 'password-note' });
    this.knockList = h('ul', { class: 'knock-list', attrs: { 'aria-label': t('people.waiting') } });
    this.denyAll = h('button', { class: 'btn tiny danger deny-all', text: t('people.denyAll'), title: t('people.denyAllTitle'), attrs: { type: 'button', id: 'lobby-deny-all' }, on: { click: () => actions.denyAll() } });
    this.denyAll.hidden = true;
    this.entryOptions = h(
      'div',
      { class: 'entry-options' },
      h('label', { class: 'entry-option' }, this.lobbyBox, h('span', { text: t('people.lobby') })),
      h('label', { class: 'entry-option' }, this.lockBox, h('span', { text: t('people.lock') })),
      h(
        'div',
        { class: 'entry-option password-row' },
        password,
        h('button', {
          class: 'btn tiny',
          text: t('people.setPassword'),
          attrs: { type: 'button', id: 'password-set' },
          on: {
            click: () => {
              if (password.value) actions.setPassword(password.value);
              password.value = '';
            },
          },
        }),
        h('button', { class: 'btn tiny', text: t('common.remove'), attrs: { type: 'button', id: 'password-clear' }, on: { click: () => actions.setPassword(undefined) } }),
      ),
      this.passwordNote,
      this.denyAll,
      this.knockList,
    );
    this.entryOptions.hidden = true;
    this.panel = h(
      'section',
      { class: 'panel people-panel', attrs: { id: 'participants-panel', 'aria-label': t('people.title') } },
      h(
        'div',
        { class: 'panel-head' },
        this.title,
        h('button', { class: 'round small ghost', title: t('common.close'), attrs: { type: 'button', 'aria-label': t('people.close') }, on: { click: onClose } }, icon('close')),
      ),
      this.modBar,
      h('div', { class: 'panel-scroll' }, this.entryOptions, this.list),
    );
  }

  /** `moderating`: the local participant moderates, so the controls are shown. */
  render(people: PersonEntry[], moderating: boolean) {
    const sig = JSON.stringify([people, moderating]);
    if (sig === this.last) return;
    this.last = sig;
    this.modBar.hidden = !moderating;
    const sorted = [...people].sort(
      (a, b) =>
        (a.hand || Infinity) - (b.hand || Infinity) ||
        Number(b.isLocal) - Number(a.isLocal) ||
        a.name.localeCompare(b.name),
    );
    this.title.textContent = t('people.titleCount', { count: people.length });
    this.list.replaceChildren(
      ...sorted.map((p) =>
        h(
          'li',
          {
            class: `person${p.speaking ? ' speaking' : ''}`,
            dataset: { identity: p.identity, name: p.name, ...(p.hand ? { hand: String(p.hand) } : {}), ...(p.phone !== undefined ? { phone: p.phone } : {}) },
          },
          (() => {
            const a = h('span', { class: 'avatar small' });
            paintAvatar(a, p.identity, p.name, p.phone);
            return a;
          })(),
          h(
            'span',
            { class: 'person-name' },
            p.isLocal ? t('common.nameYou', { name: p.name }) : p.name,
            numberBesides(p.name, p.phone) && h('span', { class: 'person-number', text: numberBesides(p.name, p.phone) }),
          ),
          p.moderator ? h('span', { class: 'role-badge', text: t('people.moderator'), dataset: { role: 'moderator' } }) : null,
          p.hand ? h('span', { class: 'hand-badge', title: t('people.hand', { n: p.hand }) }, icon('hand'), String(p.hand)) : null,
          h('span', { class: `state${p.micMuted ? ' off' : ''}`, title: t(p.micMuted ? 'state.micMuted' : 'state.micOn') }, icon(p.micMuted ? 'micOff' : 'mic')),
          // A phone has no camera to be off.
          p.phone === undefined ? h('span', { class: `state${p.camOff ? ' off' : ''}`, title: t(p.camOff ? 'state.camOff' : 'state.camOn') }, icon(p.camOff ? 'camOff' : 'cam')) : null,
          moderating && !p.isLocal ? this.controls(p) : null,
        ),
      ),
    );
  }

  /** Room entry (the lobby, lock and password), for moderators. */
  renderEntry(status: EntryStatus | undefined, moderating: boolean) {
    const sig = JSON.stringify([status, moderating]);
    if (sig === this.lastEntry) return;
    this.lastEntry = sig;
    this.entryOptions.hidden = !moderating || !status;
    if (!status) return;
    this.lobbyBox.checked = status.lobby;
    this.lockBox.checked = status.locked;
    this.passwordNote.textContent = t(status.hasPassword ? 'people.hasPassword' : 'people.noPassword');
    // One at a time is what the buttons of each knock are for.
    this.denyAll.hidden = status.knocking.length < 2;
    this.knockList.replaceChildren(
      ...status.knocking.map((k) =>
        h(
          'li',
          { class: 'knock', dataset: { knockId: k.id, name: k.name } },
          h('span', { class: 'person-name', text: t('people.wantsIn', { name: k.name }) }),
          h('button', { class: 'btn tiny primary', text: t('people.admit'), title: t('people.admitName', { name: k.name }), attrs: { type: 'button' }, dataset: { action: 'admit' }, on: { click: () => this.actions.admit(k.id) } }),
          h('button', { class: 'btn tiny danger', text: t('people.deny'), title: t('people.denyName', { name: k.name }), attrs: { type: 'button' }, dataset: { action: 'deny' }, on: { click: () => this.actions.deny(k.id) } }),
        ),
      ),
    );
  }

  private controls(p: PersonEntry): HTMLElement {
    const button = (action: string, text: string, run: () => void, cls = '') =>
      h('button', { class: `btn tiny${cls}`, text, title: `${text}: ${p.name}`, attrs: { type: 'button' }, dataset: { action }, on: { click: run } });
    return h(
      'span',
      { class: 'person-actions' },
      p.micSid && !p.micMuted ? button('mute', t('people.mute'), () => this.actions.mute(p, 'mic')) : null,
      p.camSid && !p.camOff ? button('stop-video', t('people.stopVideo'), () => this.actions.mute(p, 'cam')) : null,
      p.moderator
        ? button('revoke-moderator', t('people.revokeModerator'), () => this.actions.setModerator(p, false))
        : button('make-moderator', t('people.makeModerator'), () => this.actions.setModerator(p, true)),
      button('remove', t('common.remove'), () => this.actions.remove(p), ' danger'),
    );
  }
}
