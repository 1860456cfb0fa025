// One tile: a participant's camera or screen share, with what others need to read at a glance
// (name, muted microphone, raised hand, connection quality, speaking outline). Whenever there is
// no picture (camera off, paused by the server, no frame yet or none for a while) the person's
// avatar stands in for it, never a black or frozen video.
//
// A tile keeps its <video> element for its whole life and is only moved between the stage, the
// filmstrip and the grid. Re-attaching on every layout change would flash black, and adaptive
// stream watches this one element's size to pick the simulcast layer.

import { ConnectionQuality, type Participant, type Track, Track as T } from 'livekit-client';
import { t } from '../i18n';
import { icon } from '../icons';
import { h } from '../util';
import { FrameWatch } from './frames';
import type { PersonState } from './participants';
import { joinedBy, numberBesides, paintAvatar } from './phone';

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
  private readonly numberEl: HTMLSpanElement;
  private readonly micEl: HTMLSpanElement;
  private readonly handEl: HTMLSpanElement;
  private readonly qualityEl: HTMLSpanElement;
  private readonly pinBtn: HTMLButtonElement;
  readonly reactions: HTMLDivElement;
  private readonly frames: FrameWatch;
  private attached: Track | undefined;
  private onFirstFrame: (() => void) | undefined;
  /** Frames are expected: a track is attached, the camera is on and the server sends it. */
  private due = false;
  private camOff = true;
  private paused = false;
  private name = '';
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
    this.frames = new FrameWatch(this.video, source === 'camera', () => this.showPicture());
    this.avatar = h('div', { class: 'avatar' });
    this.nameEl = h('span', { class: 'name' });
    this.numberEl = h('span', { class: 'number' });
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
      h('div', { class: 'tile-bottom' }, this.micEl, this.nameEl, this.numberEl),
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
    this.onFirstFrame = onFirstFrame;
    if (track) track.attach(this.video);
    else this.video.srcObject = null;
    // A new track's frames are waited for afresh; update() says whether they are due at all.
    this.due = false;
    this.frames.stop();
  }

  update(s: TileState) {
    this.camOff = s.camOff;
    this.paused = s.paused && !s.camOff;
    this.name = s.name;
    const due = !!this.attached && !this.camOff && !this.paused;
    if (due !== this.due) {
      this.due = due;
      // A track back from mute or pause still shows its old last frame: wait for a new one.
      if (due) this.frames.start(this.onFirstFrame);
      else this.frames.stop();
    }
    this.showPicture();
    // Most updates change nothing a person would see; skip the DOM work then.
    const sig = JSON.stringify(s);
    if (sig === this.last) return;
    this.last = sig;
    const screen = this.source === 'screen';
    const who = s.isLocal ? t('common.nameYou', { name: s.name }) : s.name;
    const label = screen ? t('tile.presenting', { name: who }) : who;
    this.nameEl.textContent = label;
    this.el.dataset.name = s.name;
    this.el.setAttribute('aria-label', s.phone === undefined ? label : `${label}, ${joinedBy(s.phone)}`);
    paintAvatar(this.avatar, this.identity, s.name, s.phone);
    this.numberEl.textContent = numberBesides(s.name, s.phone);
    this.numberEl.hidden = !this.numberEl.textContent;
    if (s.phone === undefined) delete this.el.dataset.phone;
    else this.el.dataset.phone = s.phone;
    this.el.classList.toggle('local', s.isLocal);
    this.el.classList.toggle('speaking', s.speaking && !screen);
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

  /** Video or avatar; a paused or stalled video gets a note under the avatar saying why. */
  private showPicture() {
    const flow = this.due ? this.frames.flow : 'live';
    this.el.classList.toggle('cam-off', this.camOff);
    this.toggleData('paused', this.paused);
    if (flow === 'live') delete this.el.dataset.flow;
    else this.el.dataset.flow = flow;
    const stalled = flow === 'stalled';
    this.el.title = this.paused ? t('tile.paused', { name: this.name }) : stalled ? t('tile.stalled', { name: this.name }) : '';
    const note = this.paused ? t('tile.pausedNote') : stalled ? t('tile.stalledNote') : '';
    if (note) this.avatar.dataset.note = note;
    else delete this.avatar.dataset.note;
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
