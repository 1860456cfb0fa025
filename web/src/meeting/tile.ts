// One tile: a participant's camera or screen share, with what others need to read at a glance
// (name, muted microphone, raised hand, connection quality, speaking outline).
//
// A tile keeps its <video> element for its whole life and is only moved between the stage, the
// filmstrip and the grid. Re-attaching on every layout change would flash black, and adaptive
// stream watches this one element's size to pick the simulcast layer.

import { ConnectionQuality, type Participant, type Track, Track as T } from 'livekit-client';
import { t } from '../i18n';
import { icon } from '../icons';
import { h, hueFor, initials } from '../util';
import type { PersonState } from './participants';

export type TileSource = 'camera' | 'screen';

export interface TileState extends PersonState {
  quality: ConnectionQuality;
  pinned: boolean;
  /** The server paused this video (not among the last N speakers, or too little bandwidth). */
  paused: boolean;
}

/** The style sheet draws the bars from these names. */
const qualityName: Record<ConnectionQuality, 'excellent' | 'good' | 'poor' | 'lost' | 'unknown'> = {
  [ConnectionQuality.Excellent]: 'excellent',
  [ConnectionQuality.Good]: 'good',
  [ConnectionQuality.Poor]: 'poor',
  [ConnectionQuality.Lost]: 'lost',
  [ConnectionQuality.Unknown]: 'unknown',
};

export class Tile {
  readonly el: HTMLDivElement;
  readonly video: HTMLVideoElement;
  private readonly avatar: HTMLDivElement;
  private readonly nameEl: HTMLSpanElement;
  private readonly micEl: HTMLSpanElement;
  private readonly handEl: HTMLSpanElement;
  private readonly qualityEl: HTMLSpanElement;
  private readonly pinBtn: HTMLButtonElement;
  readonly reactions: HTMLDivElement;
  private attached: Track | undefined;
  private last = '';

  constructor(
    readonly key: string,
    readonly identity: string,
    readonly source: TileSource,
    onPin: (key: string) => void,
  ) {
    this.video = h('video', { attrs: { autoplay: '', playsinline: '', muted: '' } });
    // Sound plays through separate <audio> elements that do not move around with the tile.
    this.video.muted = true;
    // The style sheet shows the note under the avatar while the video is paused.
    this.avatar = h('div', { class: 'avatar', dataset: { note: t('tile.pausedNote') } });
    this.nameEl = h('span', { class: 'name' });
    this.micEl = h('span', { class: 'mic-state', title: t('state.micMuted') }, icon('micOff'));
    this.handEl = h('span', { class: 'hand-badge', title: t('tile.hand') });
    this.qualityEl = h('span', { class: 'quality' }, h('i'), h('i'), h('i'));
    this.pinBtn = h('button', { class: 'pin-btn', attrs: { type: 'button' } }, icon('pin'));
    this.pinBtn.addEventListener('click', (ev) => {
      ev.stopPropagation();
      onPin(key);
    });
    this.reactions = h('div', { class: 'reactions-layer', attrs: { 'aria-live': 'polite' } });
    this.el = h(
      'div',
      { class: 'tile', dataset: { key, identity, source } },
      this.video,
      this.avatar,
      h('div', { class: 'tile-top' }, this.qualityEl, this.handEl),
      this.pinBtn,
      h('div', { class: 'tile-bottom' }, this.micEl, this.nameEl),
      this.reactions,
    );
    // Clicking a tile pins it, as in Jitsi Meet; clicking the pinned one unpins.
    this.el.addEventListener('click', () => onPin(key));
  }

  /** Shows `track` in this tile, replacing whatever was shown; undefined clears it. */
  setTrack(track: Track | undefined, onFirstFrame?: () => void) {
    if (track === this.attached) return;
    this.attached?.detach(this.video);
    this.attached = track;
    if (!track) {
      this.video.srcObject = null;
      return;
    }
    track.attach(this.video);
    if (onFirstFrame && 'requestVideoFrameCallback' in this.video) {
      this.video.requestVideoFrameCallback(() => onFirstFrame());
    }
  }

  update(s: TileState) {
    // Most updates change nothing a person would see; skip the DOM work then.
    const sig = JSON.stringify(s);
    if (sig === this.last) return;
    this.last = sig;
    const screen = this.source === 'screen';
    const who = s.isLocal ? t('common.nameYou', { name: s.name }) : s.name;
    const label = screen ? t('tile.presenting', { name: who }) : who;
    this.nameEl.textContent = label;
    this.el.dataset.name = s.name;
    this.el.setAttribute('aria-label', label);
    this.avatar.textContent = initials(s.name);
    this.avatar.style.setProperty('--hue', String(hueFor(this.identity)));
    this.el.classList.toggle('local', s.isLocal);
    this.el.classList.toggle('speaking', s.speaking && !screen);
    // A paused video shows the avatar, like a camera that is off, with a note saying why.
    this.el.classList.toggle('cam-off', s.camOff || s.paused);
    this.toggleData('paused', s.paused && !s.camOff);
    this.el.title = s.paused && !s.camOff ? t('tile.paused', { name: s.name }) : '';
    this.el.classList.toggle('mirrored', s.isLocal && !screen);
    this.el.classList.toggle('pinned', s.pinned);
    this.toggleData('micMuted', s.micMuted && !screen);
    this.micEl.hidden = !s.micMuted || screen;
    this.handEl.hidden = s.hand === 0 || screen;
    // An icon, not the ✋ emoji: machines without an emoji font would show an empty box.
    this.handEl.replaceChildren(icon('hand'), document.createTextNode(String(s.hand)));
    this.handEl.title = t('tile.handInLine', { n: s.hand });
    this.toggleData('hand', s.hand > 0 && !screen);
    const q = qualityName[s.quality];
    const connection = t('tile.connection', { quality: t(`quality.${q}`) });
    this.qualityEl.dataset.quality = q;
    this.qualityEl.title = connection;
    this.qualityEl.setAttribute('aria-label', connection);
    this.qualityEl.hidden = screen;
    this.pinBtn.title = t(s.pinned ? 'tile.unpin' : 'tile.pin');
    this.pinBtn.setAttribute('aria-label', t(s.pinned ? 'tile.unpinName' : 'tile.pinName', { name: label }));
  }

  private toggleData(key: string, on: boolean) {
    if (on) this.el.dataset[key] = '';
    else delete this.el.dataset[key];
  }

  destroy() {
    this.setTrack(undefined);
    this.el.remove();
  }
}

export function tileKey(identity: string, source: TileSource): string {
  return `${identity}|${source}`;
}

/** What a tile of `source` shows for `p`: the track when there is one to show. */
export function trackFor(p: Participant, source: TileSource): Track | undefined {
  const pub = p.getTrackPublication(source === 'camera' ? T.Source.Camera : T.Source.ScreenShare);
  return pub?.track;
}
