// The meeting screen: tiles, toolbar, side panels, and the room events that drive them.
//
// Every room event just schedules one `sync()`, which recomputes the whole screen from the
// Room's state. With the few dozen participants a meeting has this is cheap, and it cannot drift
// out of step the way per-event patching does when events arrive out of order after a reconnect.

import {
  ConnectionQuality,
  DisconnectReason,
  type LocalParticipant,
  type Participant,
  type RemoteParticipant,
  type RemoteTrack,
  type RemoteTrackPublication,
  type Room,
  RoomEvent,
  Track,
} from 'livekit-client';
import { applyBackground } from '../background';
import { Chat, type ChatLine, LEGACY_CHAT_TOPIC } from '../chat';
import { hooks, timing } from '../hooks';
import { type Key, t, tn } from '../i18n';
import { icon } from '../icons';
import { type Background, type Quality, audioCapture, captureFor, prefs, receiveQualityFor } from '../prefs';
import { inviteLink } from '../rooms';
import { errorText, h, mount } from '../util';
import { inviteDialog, settingsDialog, shortcutsDialog } from './dialogs';
import { Layout } from './layout';
import {
  type EntryStatus,
  LOBBY_TOPIC,
  REMOVED_REASON_ATTRIBUTE,
  ROLE_ATTRIBUTE,
  RoomApi,
  isModerator,
  moderationErrorText,
  parseEntryStatus,
  removeDialog,
} from './moderation';
import { ParticipantsPane, type PersonEntry } from './participants';
import { phoneOf } from './phone';
import { REACTIONS_TOPIC, floatReaction, parseReaction, sendReaction } from './reactions';
import { RecordingApi, type Running, liveStreamDialog, recordingIndicator, recordingsDialog, tokenMayRecord } from './recording';
import { bindShortcuts } from './shortcuts';
import { type TileSource, Tile, tileKey, trackFor } from './tile';
import { Toasts } from './toasts';
import { MeetingToolbar, type ToolbarState } from './toolbar';

type Panel = 'chat' | 'participants';

const decoder = new TextDecoder();

/** Raised hands travel as the participant attribute `hand` = the time it was raised (ms), so everyone sorts the queue the same way. */
const HAND_ATTRIBUTE = 'hand';

export interface MeetingCallbacks {
  /** The room disconnected: `reason` is undefined when the person left on purpose. */
  onEnded: (reason: string | undefined, devices: { camera: boolean; mic: boolean }) => void;
}

export class Meeting {
  readonly root: HTMLElement;
  private readonly tiles = new Map<string, Tile>();
  private readonly layout: Layout;
  private readonly chat: Chat;
  private readonly people: ParticipantsPane;
  private readonly toasts = new Toasts();
  private readonly side: HTMLElement;
  private readonly banner: HTMLElement;
  private readonly audioBanner: HTMLElement;
  private readonly audioSink = h('div', { class: 'audio-sink', attrs: { 'aria-hidden': 'true' } });
  private readonly countEl = h('span', { class: 'count' });
  private readonly toolbar: MeetingToolbar;
  private readonly settings;
  private readonly shortcuts = shortcutsDialog();
  private readonly invite;
  private readonly api: RoomApi;
  private readonly removeDlg = removeDialog();
  private readonly recorder: RecordingApi;
  private readonly recordings;
  private readonly liveStream;
  private readonly recIndicator = recordingIndicator();
  /** The token allows recording; the controls also need us to moderate, which can change. */
  private readonly mayRecord: boolean;
  /** What the server last listed as running, known only while we may record. */
  private running: Running = { recording: false, liveStream: false };
  private egressBusy: ToolbarState['egressBusy'];
  /** Told of every change of recordingState() (the embedding API's recordingStatusChanged). */
  private readonly recordingListeners = new Set<(r: Running) => void>();
  private lastRecording = '';
  /** The room's entry status (lobby, lock, password, knocks), while we moderate. */
  private entryStatus: EntryStatus | undefined;
  private panel: Panel | undefined;
  private speaking = new Set<string>();
  private lastSpeaker: string | undefined;
  /** Raised-hand time we asked the server for, shown at once and dropped if the server refuses. */
  private myHand: string | undefined;
  private syncQueued = false;
  private unbindKeys: () => void = () => {};
  private ended = false;
  private shown = false;
  private readonly seenFirstFrame = new Set<string>();
  private devicesAtEnd = { camera: true, mic: true };

  constructor(
    readonly room: Room,
    readonly roomName: string,
    token: string,
    private readonly cb: MeetingCallbacks,
  ) {
    this.api = new RoomApi(token, roomName);
    this.recorder = new RecordingApi(token, roomName);
    this.recordings = recordingsDialog(this.recorder);
    this.liveStream = liveStreamDialog(this.recorder, () => {
      this.toasts.show(t('stream.started'));
      void this.refreshRunning();
    });
    this.mayRecord = tokenMayRecord(token);
    const stage = h('div', { class: 'stage', attrs: { 'aria-label': t('meeting.stage') } });
    const filmstrip = h('div', { class: 'filmstrip', attrs: { 'aria-label': t('meeting.others') } });
    const grid = h('div', { class: 'grid', attrs: { 'aria-label': t('people.title') } });
    const conference = h('div', { class: 'conference' }, stage, filmstrip, grid);
    this.layout = new Layout(conference, stage, filmstrip, grid);

    this.chat = new Chat(
      room,
      (id) => this.nameOf(id),
      (line) => {
        this.queueSync();
        if (line) this.toasts.show(`${line.name}: ${line.text.length > 80 ? `${line.text.slice(0, 80)}…` : line.text}`, { onClick: () => this.openPanel('chat') });
      },
      () => this.openPanel(undefined),
    );
    this.people = new ParticipantsPane(() => this.openPanel(undefined), {
      mute: (p, what) =>
        this.moderate(this.api.mute(p.identity, (what === 'mic' ? p.micSid : p.camSid) ?? ''), t(what === 'mic' ? 'moderation.micMuted' : 'moderation.videoStopped', { name: p.name })),
      setModerator: (p, on) => this.moderate(this.api.setModerator(p.identity, on), t(on ? 'moderation.madeModerator' : 'moderation.revokedModerator', { name: p.name })),
      remove: (p) =>
        void this.removeDlg.ask(p.name).then((reason) => {
          if (reason !== undefined) this.moderate(this.api.remove(p.identity, reason), t('moderation.removed', { name: p.name }));
        }),
      muteAll: (kind) => this.muteAll(kind),
      endMeeting: () => {
        if (confirm(t('moderation.endConfirm'))) this.moderate(this.api.endMeeting(), t('moderation.ended'));
      },
      setLobby: (on) => this.changeEntry(this.api.entry('lobby', { on }), t(on ? 'moderation.lobbyOn' : 'moderation.lobbyOff')),
      setLocked: (on) => this.changeEntry(this.api.entry('lock', { on }), t(on ? 'moderation.locked' : 'moderation.unlocked')),
      setPassword: (password) =>
        this.changeEntry(this.api.entry('password', { password: password ?? null }), t(password ? 'moderation.passwordSet' : 'moderation.passwordRemoved')),
      admit: (id) => this.changeEntry(this.api.entry('admit', { id }), t('moderation.admitted')),
      deny: (id) => this.changeEntry(this.api.entry('deny', { id }), t('moderation.denied')),
      denyAll: () => this.changeEntry(this.api.entry('clear_lobby'), t('moderation.deniedAll')),
    });
    this.side = h('aside', { class: 'side' }, this.chat.panel, this.people.panel);
    this.side.hidden = true;

    this.banner = h('div', { class: 'banner warn', attrs: { id: 'reconnecting-banner', role: 'status' } }, h('span', { class: 'spinner' }), h('span', { text: t('meeting.reconnecting') }));
    this.banner.hidden = true;
    this.audioBanner = h(
      'div',
      { class: 'banner' },
      h('span', { text: t('meeting.soundHeld') }),
      h('button', { class: 'btn primary small', text: t('meeting.soundOn'), attrs: { type: 'button' }, on: { click: () => void room.startAudio().then(() => this.queueSync()) } }),
    );
    this.audioBanner.hidden = true;

    this.settings = settingsDialog(room, {
      quality: (q) => this.applyQuality(q),
      background: (b) => this.applyBackground(b),
      noiseSuppression: () => this.applyNoiseSuppression(),
    });
    this.invite = inviteDialog(inviteLink(roomName), roomName);

    this.toolbar = new MeetingToolbar({
      toggleMic: () => void this.toggleMic(),
      toggleCam: () => void this.toggleCam(),
      toggleScreen: () => void this.toggleScreen(),
      toggleChat: () => this.toggleChat(),
      toggleHand: () => void this.toggleHand(),
      react: (emoji) => void this.react(emoji),
      toggleParticipants: () => this.openPanel(this.panel === 'participants' ? undefined : 'participants'),
      toggleView: () => this.toggleView(),
      invite: () => this.invite.open(),
      toggleRecording: () => void this.toggleRecording(),
      toggleLiveStream: () => this.toggleLiveStream(),
      recordings: () => this.recordings.open(),
      background: () => this.settings.open('background'),
      settings: () => this.settings.open(),
      shortcuts: () => this.shortcuts.toggle(),
      leave: () => this.leave(),
    });

    this.root = h(
      'div',
      { class: 'meeting', dataset: { page: 'meeting' } },
      h(
        'header',
        { class: 'meeting-bar' },
        h('span', { class: 'room-name', text: roomName, title: roomName }),
        this.countEl,
        this.recIndicator,
        h(
          'button',
          { class: 'btn ghost small', title: t('toolbar.invite'), attrs: { type: 'button', id: 'invite' }, on: { click: () => this.invite.open() } },
          icon('link'),
          h('span', { class: 'label', text: t('meeting.invite') }),
        ),
      ),
      this.banner,
      this.audioBanner,
      h('div', { class: 'meeting-main' }, conference, this.side),
      this.toolbar.el,
      this.toasts.el,
      this.audioSink,
      this.settings.el,
      this.shortcuts.el,
      this.invite.el,
      this.removeDlg.el,
      this.recordings.el,
      this.liveStream.el,
    );
    this.wire();
  }

  /** Puts the meeting on screen; call once the room is connected. */
  show() {
    this.shown = true;
    mount(this.root);
    document.title = `${this.roomName} · Confab`;
    this.unbindKeys = bindShortcuts({
      m: () => void this.toggleMic(),
      v: () => void this.toggleCam(),
      s: () => void this.toggleScreen(),
      d: () => void this.toggleScreen(),
      c: () => this.toggleChat(),
      r: () => void this.toggleHand(),
      w: () => this.toggleView(),
      p: () => this.openPanel(this.panel === 'participants' ? undefined : 'participants'),
      '?': () => this.shortcuts.toggle(),
      Escape: () => {
        if (!this.toolbar.closePopups() && this.panel) this.openPanel(undefined);
      },
    });
    this.sync();
    this.refreshEntry();
    // livekit-client tells RecordingStatusChanged only once connected, so not for a recording already running.
    if (this.room.isRecording) {
      this.toasts.show(t('recording.on'));
      void this.refreshRunning();
    }
  }

  // ---- room events ------------------------------------------------------------------------

  private wire() {
    const r = this.room;
    const sync = () => this.queueSync();
    r.on(RoomEvent.ParticipantConnected, sync)
      .on(RoomEvent.ParticipantDisconnected, (p) => {
        this.speaking.delete(p.identity);
        if (this.lastSpeaker === p.identity) this.lastSpeaker = undefined;
        sync();
      })
      .on(RoomEvent.TrackPublished, (pub, p) => {
        // A new presentation takes the stage for everyone, as in Jitsi Meet.
        if (pub.source === Track.Source.ScreenShare) {
          this.layout.choice = 'auto';
          this.layout.pinned = undefined;
          this.toasts.show(t('meeting.sharing', { name: p.name || p.identity }));
        }
        sync();
      })
      .on(RoomEvent.TrackUnpublished, sync)
      .on(RoomEvent.TrackSubscribed, (track, pub, p) => this.onSubscribed(track, pub, p))
      .on(RoomEvent.TrackUnsubscribed, (track) => {
        if (track.kind === Track.Kind.Audio) for (const el of track.detach()) el.remove();
        sync();
      })
      .on(RoomEvent.LocalTrackPublished, (pub) => {
        if (pub.source === Track.Source.Camera) this.followBackground();
        sync();
      })
      .on(RoomEvent.LocalTrackUnpublished, sync)
      .on(RoomEvent.TrackMuted, sync)
      .on(RoomEvent.TrackUnmuted, (pub, p) => {
        if (p.isLocal && pub.source === Track.Source.Camera) this.followBackground();
        sync();
      })
      .on(RoomEvent.ParticipantNameChanged, sync)
      .on(RoomEvent.ConnectionQualityChanged, sync)
      .on(RoomEvent.TrackStreamStateChanged, sync)
      .on(RoomEvent.ActiveSpeakersChanged, (speakers) => {
        this.speaking = new Set(speakers.map((s) => s.identity));
        const loudestRemote = speakers.find((s) => !s.isLocal);
        if (loudestRemote) this.lastSpeaker = loudestRemote.identity;
        sync();
      })
      .on(RoomEvent.ParticipantAttributesChanged, (changed, p) => {
        if (ROLE_ATTRIBUTE in changed && p.isLocal) {
          this.toasts.show(t(isModerator(p) ? 'meeting.nowModerator' : 'meeting.noLongerModerator'));
          this.refreshEntry();
          void this.refreshRunning();
        }
        if (HAND_ATTRIBUTE in changed) {
          if (p.isLocal) this.myHand = undefined;
          else if (changed[HAND_ATTRIBUTE]) this.toasts.show(t('meeting.handRaised', { name: p.name || p.identity }), { onClick: () => this.openPanel('participants') });
        }
        sync();
      })
      .on(RoomEvent.DataReceived, (payload, participant, _kind, topic, _enc, rawFrom) => {
        const text = decoder.decode(payload);
        hooks.messages.push({ from: participant?.identity, rawFrom, topic, text });
        // Only the server sends without a participant; anyone could pick the topic.
        if (!participant && topic === LOBBY_TOPIC) {
          let parsed: unknown;
          try {
            parsed = JSON.parse(text);
          } catch {
            return;
          }
          const status = parseEntryStatus(parsed);
          if (status) this.setEntry(status);
          return;
        }
        if (!participant) return;
        if (topic === REACTIONS_TOPIC) {
          const emoji = parseReaction(text);
          if (emoji) this.showReaction(participant.identity, emoji);
        } else if (topic === LEGACY_CHAT_TOPIC) {
          this.chat.receiveLegacy(participant.identity, text);
        }
      })
      .on(RoomEvent.RecordingStatusChanged, (recording) => {
        this.toasts.show(t(recording ? 'recording.on' : 'recording.stopped'));
        void this.refreshRunning();
        sync();
      })
      .on(RoomEvent.AudioPlaybackStatusChanged, sync)
      .on(RoomEvent.Reconnecting, () => this.setReconnecting(true))
      .on(RoomEvent.SignalReconnecting, () => this.setReconnecting(true))
      .on(RoomEvent.Reconnected, () => {
        this.setReconnecting(false);
        this.toasts.show(t('meeting.reconnected'));
      })
      .on(RoomEvent.Disconnected, (reason) => this.onDisconnected(reason));
  }

  private onSubscribed(track: RemoteTrack, pub: RemoteTrackPublication, _p: RemoteParticipant) {
    if (track.kind === Track.Kind.Audio) {
      const el = track.attach();
      this.audioSink.append(el);
    } else if (pub.source === Track.Source.Camera) {
      pub.setVideoQuality(receiveQualityFor(prefs.quality));
    }
    this.queueSync();
  }

  private setReconnecting(on: boolean) {
    this.banner.hidden = !on;
    this.root.classList.toggle('reconnecting', on);
  }

  private onDisconnected(reason: DisconnectReason | undefined) {
    if (this.ended) return;
    this.ended = true;
    // A connect that failed is reported by join.ts with its own page.
    if (!this.shown) return;
    this.unbindKeys();
    for (const t of this.tiles.values()) t.destroy();
    this.tiles.clear();
    const removedFor = this.lp.attributes[REMOVED_REASON_ATTRIBUTE];
    const why =
      reason === undefined || reason === DisconnectReason.CLIENT_INITIATED
        ? undefined
        : reason === DisconnectReason.PARTICIPANT_REMOVED && removedFor
          ? t('ended.removedFor', { reason: removedFor })
          : t(disconnectText[reason] ?? 'ended.other', { reason: DisconnectReason[reason] ?? reason });
    this.cb.onEnded(why, this.devicesAtEnd);
  }

  // ---- actions ----------------------------------------------------------------------------

  /** Runs a lobby/lock/password call, shows the new status, and says how it went. */
  private changeEntry(call: Promise<EntryStatus>, done: string) {
    this.moderate(
      call.then((s) => this.setEntry(s)),
      done,
    );
  }

  private setEntry(status: EntryStatus) {
    const before = new Set(this.entryStatus?.knocking.map((k) => k.id));
    this.entryStatus = status;
    for (const k of status.knocking) {
      if (!before.has(k.id)) this.toasts.show(t('meeting.asking', { name: k.name }), { onClick: () => this.openPanel('participants') });
    }
    this.queueSync();
  }

  /** Moderators load the entry status once in, and again when they become moderators. */
  private refreshEntry() {
    if (!isModerator(this.lp)) {
      this.entryStatus = undefined;
      this.queueSync();
      return;
    }
    this.api.entry('status').then(
      (s) => this.setEntry(s),
      () => {},
    );
  }

  /** Runs a moderator's call and says how it went. */
  private moderate(call: Promise<unknown>, done: string) {
    call.then(
      () => this.toasts.show(done),
      (e: unknown) => this.toasts.show(t('moderation.notDone', { error: moderationErrorText(e) }), { kind: 'error', ms: 8000 }),
    );
  }

  /** Mutes every other participant's microphones or cameras, as Jitsi's "Mute everyone". */
  private muteAll(kind: 'audio' | 'video') {
    const calls = [...this.room.remoteParticipants.values()].flatMap((p) =>
      [...(kind === 'audio' ? p.audioTrackPublications : p.videoTrackPublications).values()]
        .filter((t) => !t.isMuted && (kind === 'audio' || t.source === Track.Source.Camera))
        .map((t) => this.api.mute(p.identity, t.trackSid)),
    );
    const done: Key = kind === 'audio' ? (calls.length ? 'moderation.allMuted' : 'moderation.allAlreadyMuted') : calls.length ? 'moderation.allNoVideo' : 'moderation.allAlreadyNoVideo';
    this.moderate(Promise.all(calls), t(done));
  }

  /** A camera or microphone that failed once already in the meeting: say so, stay in. */
  /** A lasting notice about how this meeting is set up. */
  notice(text: string) {
    this.toasts.show(text, { kind: 'warn', ms: 15_000 });
  }

  deviceError(e: unknown, what: 'camera' | 'microphone') {
    this.toasts.show(deviceErrorText(e, what), { kind: 'error', ms: 8000 });
  }

  private get lp(): LocalParticipant {
    return this.room.localParticipant;
  }

  async toggleMic() {
    const on = !this.lp.isMicrophoneEnabled;
    try {
      await this.lp.setMicrophoneEnabled(on);
    } catch (e) {
      this.deviceError(e, 'microphone');
    }
    this.queueSync();
  }

  async toggleCam() {
    const on = !this.lp.isCameraEnabled;
    try {
      await this.lp.setCameraEnabled(on);
    } catch (e) {
      this.deviceError(e, 'camera');
    }
    this.queueSync();
  }

  async toggleScreen() {
    const on = !this.lp.isScreenShareEnabled;
    try {
      await this.lp.setScreenShareEnabled(on, { audio: true, selfBrowserSurface: 'include', surfaceSwitching: 'include' });
    } catch (e) {
      // Closing the browser's "choose what to share" picker rejects with NotAllowedError: not an error to the person.
      if (!(e instanceof Error && e.name === 'NotAllowedError')) {
        this.toasts.show(t('meeting.screenFailed', { error: errorText(e) }), { kind: 'error', ms: 8000 });
      }
    }
    this.queueSync();
  }

  async toggleHand() {
    const raised = this.handOf(this.lp) !== undefined;
    const value = raised ? '' : String(Date.now());
    this.myHand = value;
    this.queueSync();
    try {
      await this.lp.setAttributes({ [HAND_ATTRIBUTE]: value });
    } catch (e) {
      this.toasts.show(t(raised ? 'meeting.lowerFailed' : 'meeting.raiseFailed', { error: errorText(e) }), { kind: 'error', ms: 8000 });
    } finally {
      this.myHand = undefined;
      this.queueSync();
    }
  }

  async react(emoji: string) {
    this.showReaction(this.lp.identity, emoji);
    try {
      await sendReaction(this.room, emoji);
    } catch (e) {
      this.toasts.show(t('meeting.reactionFailed', { error: errorText(e) }), { kind: 'error' });
    }
  }

  private toggleRecording(): Promise<void> {
    const stop = this.running.recording;
    return this.changeEgress('recording', () => (stop ? this.recorder.stop() : this.recorder.start()), stop ? 'recording.stopFailed' : 'recording.startFailed');
  }

  private toggleLiveStream() {
    if (this.running.liveStream) void this.changeEgress('liveStream', () => this.recorder.stopLiveStream(), 'stream.stopFailed');
    else this.liveStream.open();
  }

  /** `failed`: the message with the server's `{error}`. */
  private async changeEgress(busy: NonNullable<ToolbarState['egressBusy']>, call: () => Promise<unknown>, failed: Key) {
    try {
      await this.runEgress(busy, call);
    } catch (e) {
      this.toasts.show(t(failed, { error: errorText(e) }), { kind: 'error', ms: 8000 });
    }
  }

  /** The menu entries stay disabled until the server's list shows the outcome, so they never offer a stale choice. Rejects as the server did. */
  private async runEgress(busy: NonNullable<ToolbarState['egressBusy']>, call: () => Promise<unknown>) {
    this.egressBusy = busy;
    this.queueSync();
    try {
      await call();
    } finally {
      await this.refreshRunning();
      this.egressBusy = undefined;
      this.queueSync();
    }
  }

  /**
   * The embedding API's startRecording: what "Start recording" sends, or with `streamUrl` what "Go live"
   * sends. Rejects with the server's reason (only moderators whose token allows it may record).
   */
  startRecording(streamUrl?: string): Promise<void> {
    return streamUrl === undefined ? this.runEgress('recording', () => this.recorder.start()) : this.runEgress('liveStream', () => this.recorder.startLiveStream(streamUrl));
  }

  /** The embedding API's stopRecording: what "Stop recording" (`file`) or "Stop live stream" (`stream`) sends; rejects with the server's reason. */
  stopRecording(mode: 'file' | 'stream'): Promise<void> {
    return mode === 'file' ? this.runEgress('recording', () => this.recorder.stop()) : this.runEgress('liveStream', () => this.recorder.stopLiveStream());
  }

  /**
   * What runs on the whole meeting, as far as this participant can tell: those who may record know
   * recordings from live streams by the server's list; everyone else has only room.isRecording, which
   * is true for either and is taken as a recording.
   */
  recordingState(): Running {
    if (this.mayRecord && isModerator(this.lp)) return { ...this.running };
    return { recording: this.room.isRecording, liveStream: false };
  }

  /** Calls `fn` with recordingState() each time it changes; returns the way to stop. */
  onRecordingChange(fn: (r: Running) => void): () => void {
    this.recordingListeners.add(fn);
    return () => this.recordingListeners.delete(fn);
  }

  /** Asked again whenever what runs may have changed; only those who may record can ask, and only they see the entries it decides. */
  private refreshRunning(): Promise<void> {
    if (!this.mayRecord || !isModerator(this.lp)) return Promise.resolve();
    return this.recorder.running().then(
      (r) => {
        this.running = r;
        this.queueSync();
      },
      () => {},
    );
  }

  toggleView() {
    const current = this.root.querySelector<HTMLElement>('.conference')?.dataset.view;
    this.layout.choice = current === 'tile' ? 'stage' : 'tile';
    this.sync();
  }

  private pin(key: string) {
    this.layout.pinned = this.layout.pinned === key ? undefined : key;
    // Pinning means "show me this one large".
    if (this.layout.pinned) this.layout.choice = 'stage';
    this.sync();
  }

  toggleChat() {
    this.openPanel(this.panel === 'chat' ? undefined : 'chat');
  }

  /** Sends a chat message as if typed in the chat (the embedding API's sendChatMessage). */
  sendChat(text: string): Promise<void> {
    return this.chat.send(text);
  }

  /** Calls `fn` with each chat message someone else sends; returns the way to stop. */
  onChat(fn: (line: ChatLine) => void): () => void {
    return this.chat.onReceive(fn);
  }

  openPanel(panel: Panel | undefined) {
    this.panel = panel;
    this.side.hidden = !panel;
    this.chat.panel.hidden = panel !== 'chat';
    this.people.panel.hidden = panel !== 'participants';
    this.chat.setOpen(panel === 'chat');
    this.sync();
  }

  leave() {
    this.devicesAtEnd = { camera: this.lp.isCameraEnabled, mic: this.lp.isMicrophoneEnabled };
    void this.room.disconnect();
  }

  private async applyQuality(q: Quality) {
    this.room.options.videoCaptureDefaults = { ...this.room.options.videoCaptureDefaults, resolution: captureFor(q) };
    for (const p of this.room.remoteParticipants.values()) {
      p.getTrackPublication(Track.Source.Camera)?.setVideoQuality(receiveQualityFor(q));
    }
    // Restarting the capture keeps the publication (no renegotiation, no blink for others);
    // livekit-client rescales the simulcast encodings to the new size.
    const cam = this.lp.getTrackPublication(Track.Source.Camera)?.videoTrack;
    if (cam && !cam.isMuted) {
      const deviceId = cam.mediaStreamTrack.getSettings().deviceId;
      await cam.restartTrack({ resolution: captureFor(q), deviceId: deviceId ? { exact: deviceId } : undefined });
    }
  }

  /** With the camera off the choice waits in the prefs until it is on again (followBackground). */
  private async applyBackground(b: Background) {
    const cam = this.lp.getTrackPublication(Track.Source.Camera)?.videoTrack;
    if (cam) await applyBackground(cam, b);
  }

  /**
   * Puts the remembered background on the camera when it starts or comes back on: a processor
   * lives on its track (a new one after a reconnect), and cannot start while the camera is off.
   */
  private followBackground() {
    const cam = this.lp.getTrackPublication(Track.Source.Camera)?.videoTrack;
    if (!cam || (prefs.background === 'none' && !cam.getProcessor())) return;
    applyBackground(cam, prefs.background).catch((e) => {
      this.settings.backgroundFailed(e);
      this.toasts.show(t('background.failed', { error: errorText(e) }), { kind: 'error', ms: 8000 });
    });
  }

  /**
   * Chromium takes a new noiseSuppression through applyConstraints() without changing the running
   * capture, so the microphone restarts with it, on the device it has. A microphone turned on later
   * gets it from the room's defaults.
   */
  private async applyNoiseSuppression() {
    const mic = this.lp.getTrackPublication(Track.Source.Microphone)?.audioTrack;
    const deviceId = mic?.mediaStreamTrack.getSettings().deviceId ?? this.room.getActiveDevice('audioinput');
    this.room.options.audioCaptureDefaults = audioCapture(deviceId);
    if (mic) await mic.restartTrack(audioCapture(deviceId));
  }

  private showReaction(identity: string, emoji: string) {
    const tile = this.tiles.get(tileKey(identity, 'camera'));
    if (tile) floatReaction(tile.reactions, emoji);
  }

  // ---- rendering --------------------------------------------------------------------------

  private nameOf(identity: string): string {
    const p = identity === this.lp.identity ? this.lp : this.room.remoteParticipants.get(identity);
    return p?.name || identity;
  }

  private handOf(p: Participant): string | undefined {
    const v = p.isLocal && this.myHand !== undefined ? this.myHand : p.attributes[HAND_ATTRIBUTE];
    return v ? v : undefined;
  }

  queueSync() {
    if (this.syncQueued) return;
    this.syncQueued = true;
    queueMicrotask(() => {
      this.syncQueued = false;
      this.sync();
    });
  }

  private sync() {
    if (this.ended) return;
    const lp = this.lp;
    const remotes = [...this.room.remoteParticipants.values()];
    const everyone: Participant[] = [lp, ...remotes];

    // Raised hands in the order they went up; ties (same millisecond) by identity so all agree.
    const hands = everyone
      .map((p) => ({ id: p.identity, at: Number(this.handOf(p)) }))
      .filter((x) => Number.isFinite(x.at) && x.at > 0)
      .sort((a, b) => a.at - b.at || a.id.localeCompare(b.id));
    const handPos = new Map(hands.map((x, i) => [x.id, i + 1]));

    // Which tiles exist: a camera tile per person, plus one per screen being shared.
    const wanted: { p: Participant; source: TileSource }[] = [];
    for (const p of everyone) {
      wanted.push({ p, source: 'camera' });
      if (p.getTrackPublication(Track.Source.ScreenShare)) wanted.push({ p, source: 'screen' });
    }
    const keys = new Set(wanted.map((w) => tileKey(w.p.identity, w.source)));
    for (const [key, tile] of this.tiles) {
      if (!keys.has(key)) {
        tile.destroy();
        this.tiles.delete(key);
        if (this.layout.pinned === key) this.layout.pinned = undefined;
      }
    }

    for (const { p, source } of wanted) {
      const key = tileKey(p.identity, source);
      let tile = this.tiles.get(key);
      if (!tile) {
        tile = new Tile(key, p.identity, source, (k) => this.pin(k));
        this.tiles.set(key, tile);
      }
      const track = trackFor(p, source);
      const pub = p.getTrackPublication(source === 'camera' ? Track.Source.Camera : Track.Source.ScreenShare);
      const firstFrame =
        !p.isLocal && source === 'camera' && track && !this.seenFirstFrame.has(p.identity)
          ? () => {
              this.seenFirstFrame.add(p.identity);
              hooks.firstFrameMs[p.identity] ??= Math.round(performance.now() - timing.connectStartedAt);
            }
          : undefined;
      tile.setTrack(track, firstFrame);
      tile.update({
        name: p.name || p.identity,
        isLocal: p.isLocal,
        micMuted: !p.isMicrophoneEnabled,
        camOff: !track || !!pub?.isMuted,
        speaking: this.speaking.has(p.identity),
        hand: handPos.get(p.identity) ?? 0,
        quality: p.connectionQuality ?? ConnectionQuality.Unknown,
        pinned: this.layout.pinned === key,
        paused: !p.isLocal && !!track && track.streamState === Track.StreamState.Paused,
        phone: phoneOf(p),
      });
    }

    // Order: presentations first, then you, then everyone else in the order they joined.
    const screens = wanted.filter((w) => w.source === 'screen');
    const ordered = [
      ...screens.filter((w) => !w.p.isLocal),
      ...screens.filter((w) => w.p.isLocal),
      ...wanted.filter((w) => w.source === 'camera'),
    ].map((w) => this.tiles.get(tileKey(w.p.identity, w.source))!);

    const remoteScreen = screens.find((w) => !w.p.isLocal);
    const speaker = this.lastSpeaker && this.room.remoteParticipants.has(this.lastSpeaker) ? this.lastSpeaker : remotes[0]?.identity;
    const stageKey =
      (this.layout.pinned && this.tiles.has(this.layout.pinned) ? this.layout.pinned : undefined) ??
      (remoteScreen ? tileKey(remoteScreen.p.identity, 'screen') : undefined) ??
      (speaker ? tileKey(speaker, 'camera') : tileKey(lp.identity, 'camera'));
    const view = this.layout.view(everyone.length, !!remoteScreen);
    this.layout.apply(view, ordered, stageKey);

    this.countEl.replaceChildren(icon('people'), document.createTextNode(String(everyone.length)));
    this.countEl.title = tn('meeting.count', everyone.length);
    this.audioBanner.hidden = this.room.canPlaybackAudio;
    this.recIndicator.hidden = !this.room.isRecording;
    this.people.render(
      everyone.map(
        (p): PersonEntry => ({
          identity: p.identity,
          name: p.name || p.identity,
          isLocal: p.isLocal,
          micMuted: !p.isMicrophoneEnabled,
          camOff: !p.isCameraEnabled,
          speaking: this.speaking.has(p.identity),
          hand: handPos.get(p.identity) ?? 0,
          moderator: isModerator(p),
          phone: phoneOf(p),
          micSid: p.getTrackPublication(Track.Source.Microphone)?.trackSid,
          camSid: p.getTrackPublication(Track.Source.Camera)?.trackSid,
        }),
      ),
      isModerator(lp),
    );
    this.people.renderEntry(this.entryStatus, isModerator(lp));
    const recording = this.recordingState();
    const recordingSig = JSON.stringify(recording);
    if (recordingSig !== this.lastRecording) {
      this.lastRecording = recordingSig;
      for (const fn of this.recordingListeners) fn(recording);
    }
    this.devicesAtEnd = { camera: lp.isCameraEnabled, mic: lp.isMicrophoneEnabled };
    this.toolbar.update({
      mic: lp.isMicrophoneEnabled,
      cam: lp.isCameraEnabled,
      sharing: lp.isScreenShareEnabled,
      chatOpen: this.panel === 'chat',
      unread: this.chat.unread,
      handUp: handPos.has(lp.identity),
      participantsOpen: this.panel === 'participants',
      count: everyone.length,
      view,
      mayRecord: this.mayRecord && isModerator(lp),
      recording: this.running.recording,
      liveStreaming: this.running.liveStream,
      egressBusy: this.egressBusy,
    });
  }
}

const disconnectText: Partial<Record<DisconnectReason, Key>> = {
  [DisconnectReason.DUPLICATE_IDENTITY]: 'ended.duplicate',
  [DisconnectReason.SERVER_SHUTDOWN]: 'ended.serverShutdown',
  [DisconnectReason.PARTICIPANT_REMOVED]: 'ended.removed',
  [DisconnectReason.ROOM_DELETED]: 'ended.ended',
  [DisconnectReason.JOIN_FAILURE]: 'ended.joinFailure',
  [DisconnectReason.SIGNAL_CLOSE]: 'ended.lost',
  [DisconnectReason.STATE_MISMATCH]: 'ended.lost',
};

function deviceErrorText(e: unknown, what: 'camera' | 'microphone'): string {
  const name = e instanceof Error ? e.name : '';
  if (name === 'NotAllowedError') return `${t(`device.blocked.${what}`)}. ${t('device.allowHint')}`;
  if (name === 'NotFoundError') return `${t(`device.missing.${what}`)}.`;
  if (name === 'NotReadableError') return `${t(`device.busy.${what}`)}.`;
  return t(`device.failedWith.${what}`, { error: errorText(e) });
}
