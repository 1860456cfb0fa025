// The Meet app embedded in another site's page by /external_api.js (web/public/external_api.js,
// `ConfabMeetExternalAPI`, modelled on Jitsi's IFrame API; see docs/embedding.md). The parent
// page sends commands and receives events over postMessage.
//
// The app is embedded only when it runs in a frame and its URL has `embed=1` and
// `parentOrigin=<origin of the embedding page>` (external_api.js adds both). Then:
//   - events go to window.parent with postMessage(msg, parentOrigin), never '*': if the frame's
//     parent is, or has navigated to, another origin, the browser drops them;
//   - commands are taken only from messages whose origin is parentOrigin AND whose source is
//     window.parent itself; other frames on the page (even of the parent's origin) are ignored;
//   - where the browser tells who the parent is (location.ancestorOrigins: Chromium, WebKit), a
//     parentOrigin that does not match it turns embedding off.
// Messages are {confab: 1, type, name?, data?}: type 'ready' (the app is listening; sent on every
// page load), 'event' (name, data) from the app, 'command' (name, data: the arguments) to it.
//
// Loaded through meeting/join.ts, which hands each joined meeting to embedMeeting().

import { type Participant, RoomEvent } from 'livekit-client';
import type { Meeting } from './meeting/meeting';
import type { Running } from './meeting/recording';
import { errorText, flag, params } from './util';

interface EmbedMessage {
  confab: 1;
  type: 'ready' | 'event' | 'command';
  name?: string;
  data?: unknown;
}

/** The origin to talk to, or undefined when the app is not embedded (or must not act as if). */
function parentTarget(): string | undefined {
  if (window.parent === window || !flag('embed', false)) return undefined;
  const claimed = params.get('parentOrigin') ?? '';
  let origin: string;
  try {
    origin = new URL(claimed).origin;
  } catch {
    return undefined;
  }
  // An opaque origin ("null": file://, sandboxed frames) cannot be told apart from any other.
  if (origin === 'null' || origin !== claimed) return undefined;
  const ancestors: DOMStringList | undefined = location.ancestorOrigins;
  if (ancestors && ancestors.length > 0 && ancestors[0] !== origin) {
    console.warn(`Confab embed: parentOrigin ${origin} is not the embedding page (${ancestors[0]}); embedding is off`);
    return undefined;
  }
  return origin;
}

const target = parentTarget();
/** The meeting commands act on: set while one is joined. */
let current: Meeting | undefined;

function post(msg: EmbedMessage) {
  if (target) window.parent.postMessage(msg, target);
}

function emit(name: string, data: Record<string, unknown> = {}) {
  post({ confab: 1, type: 'event', name, data });
}

type RecordingMode = 'file' | 'stream';

/** Where Jibri sends a bare stream key, as Jitsi does: YouTube's RTMP ingest. */
const YOUTUBE_INGEST = 'rtmp://a.rtmp.youtube.com/live2/';

/**
 * Jitsi's startRecording options: `{mode: 'file'}` records (the default), `{mode: 'stream',
 * youtubeStreamKey | rtmpStreamKey}` goes live. A key that is an rtmp:// or rtmps:// address is
 * streamed to as it is; a bare key goes to YouTube, as Jibri does. Undefined `url`: a recording.
 */
function recordingRequest(options: unknown): { mode: RecordingMode; url?: string } {
  const o = options && typeof options === 'object' ? (options as Record<string, unknown>) : {};
  const mode = o.mode ?? 'file';
  if (mode === 'file') return { mode };
  if (mode !== 'stream') throw new Error(`startRecording: mode must be 'file' or 'stream', not ${JSON.stringify(mode)}`);
  const text = (v: unknown) => (typeof v === 'string' ? v.trim() : '');
  const key = text(o.youtubeStreamKey) || text(o.rtmpStreamKey);
  if (!key) throw new Error('startRecording in stream mode needs a youtubeStreamKey or rtmpStreamKey');
  return { mode, url: /^rtmps?:\/\//i.test(key) ? key : `${YOUTUBE_INGEST}${key}` };
}

type Command = (m: Meeting, args: unknown[]) => unknown;

const commands: Record<string, Command> = {
  toggleAudio: (m) => m.toggleMic(),
  toggleVideo: (m) => m.toggleCam(),
  toggleChat: (m) => m.toggleChat(),
  toggleRaiseHand: (m) => m.toggleHand(),
  toggleTileView: (m) => m.toggleView(),
  hangup: (m) => m.leave(),
  sendChatMessage: (m, [text]) => {
    if (typeof text !== 'string' || !text.trim()) throw new Error('sendChatMessage needs the message text');
    return m.sendChat(text);
  },
  displayName: (m, [name]) => {
    const n = typeof name === 'string' ? name.trim() : '';
    // The server's rule for display names.
    // eslint-disable-next-line no-control-regex
    if (!n || [...n].length > 64 || /[\u0000-\u001f\u007f-\u009f]/.test(n)) throw new Error('displayName needs a name of 1 to 64 characters');
    return m.room.localParticipant.setName(n);
  },
  // What the meeting's own recording and live stream entries do; the server decides who may.
  startRecording: async (m, [options]) => {
    const { mode, url } = recordingRequest(options);
    try {
      await m.startRecording(url);
    } catch (e) {
      // Jitsi reports a failed start this way too; the `error` event follows.
      emit('recordingStatusChanged', { on: false, mode, error: errorText(e) });
      throw e;
    }
  },
  stopRecording: (m, [mode]) => {
    // Jitsi's API needs the mode; without one, the recording.
    const which = mode ?? 'file';
    if (which !== 'file' && which !== 'stream') throw new Error(`stopRecording: mode must be 'file' or 'stream', not ${JSON.stringify(mode)}`);
    return m.stopRecording(which);
  },
};

function onMessage(ev: MessageEvent) {
  // Both: the origin alone would let any frame of the parent's site drive the meeting, the source
  // alone would trust a parent that navigated to another site.
  if (ev.origin !== target || ev.source !== window.parent) return;
  const msg = ev.data as Partial<EmbedMessage> | null;
  if (!msg || typeof msg !== 'object' || msg.confab !== 1 || msg.type !== 'command' || typeof msg.name !== 'string') return;
  const name = msg.name;
  const args = Array.isArray(msg.data) ? (msg.data as unknown[]) : [];
  const fail = (message: string) => emit('error', { command: name, message });
  const run = Object.prototype.hasOwnProperty.call(commands, name) ? commands[name] : undefined;
  if (!run) return fail(`unknown command: ${name}`);
  const meeting = current;
  if (!meeting) return fail('not in a meeting');
  try {
    Promise.resolve(run(meeting, args)).catch((e: unknown) => fail(errorText(e)));
  } catch (e) {
    fail(errorText(e));
  }
}

if (target) {
  window.addEventListener('message', onMessage);
  post({ confab: 1, type: 'ready' });
}

const person = (p: Participant) => ({ id: p.identity, displayName: p.name || p.identity });

/**
 * Tells the parent about a meeting that is on screen, and reports on it until it ends.
 * `published`: settles once the camera and microphone asked for are on (or failed); the first
 * audio/video mute status is sent then, so it is the state the person joined with.
 */
export function embedMeeting(meeting: Meeting, published: Promise<unknown>) {
  if (!target) return;
  current = meeting;
  const room = meeting.room;
  const lp = room.localParticipant;
  emit('videoConferenceJoined', { roomName: meeting.roomName, ...person(lp) });
  // As in Jitsi, everyone already in the meeting "joins" for the newcomer.
  for (const p of room.remoteParticipants.values()) emit('participantJoined', person(p));

  let audioMuted: boolean | undefined;
  let videoMuted: boolean | undefined;
  let armed = false;
  const local = () => {
    if (!armed) return;
    const a = !lp.isMicrophoneEnabled;
    const v = !lp.isCameraEnabled;
    if (a !== audioMuted) emit('audioMuteStatusChanged', { muted: (audioMuted = a) });
    if (v !== videoMuted) emit('videoMuteStatusChanged', { muted: (videoMuted = v) });
  };
  void published
    .catch(() => {})
    .then(() => {
      armed = current === meeting;
      local();
    });

  // Told once for what already runs when we join, then on every change, one event per kind.
  let recorded: Running = { recording: false, liveStream: false };
  const recording = (now: Running) => {
    if (now.recording !== recorded.recording) emit('recordingStatusChanged', { on: now.recording, mode: 'file' });
    if (now.liveStream !== recorded.liveStream) emit('recordingStatusChanged', { on: now.liveStream, mode: 'stream' });
    recorded = now;
  };
  recording(meeting.recordingState());
  const unwatchRecording = meeting.onRecordingChange(recording);

  const joined = (p: Participant) => emit('participantJoined', person(p));
  const left = (p: Participant) => emit('participantLeft', { id: p.identity });
  const renamed = (name: string, p: Participant) => emit('displayNameChange', { id: p.identity, displayname: name });
  const stopChat = meeting.onChat((line) =>
    emit('incomingMessage', { from: line.identity, nick: line.name, message: line.text, privateMessage: false, stamp: line.at }),
  );
  const ended = () => {
    room
      .off(RoomEvent.ParticipantConnected, joined)
      .off(RoomEvent.ParticipantDisconnected, left)
      .off(RoomEvent.ParticipantNameChanged, renamed)
      .off(RoomEvent.LocalTrackPublished, local)
      .off(RoomEvent.LocalTrackUnpublished, local)
      .off(RoomEvent.TrackMuted, local)
      .off(RoomEvent.TrackUnmuted, local)
      .off(RoomEvent.Disconnected, ended);
    stopChat();
    unwatchRecording();
    if (current === meeting) current = undefined;
    armed = false;
    emit('videoConferenceLeft', { roomName: meeting.roomName });
    emit('readyToClose');
  };
  room
    .on(RoomEvent.ParticipantConnected, joined)
    .on(RoomEvent.ParticipantDisconnected, left)
    .on(RoomEvent.ParticipantNameChanged, renamed)
    .on(RoomEvent.LocalTrackPublished, local)
    .on(RoomEvent.LocalTrackUnpublished, local)
    .on(RoomEvent.TrackMuted, local)
    .on(RoomEvent.TrackUnmuted, local)
    .on(RoomEvent.Disconnected, ended);
}
