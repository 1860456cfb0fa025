import {
  DisconnectReason,
  type DataChannelKind,
  type Participant,
  type RemoteTrack,
  Room,
  RoomEvent,
  Track,
  VideoPresets43,
} from 'livekit-client';
import { DataPacket, DataPacket_Kind, UserPacket } from '@livekit/protocol';
import './style.css';

/*
 * Test hooks for the browser end-to-end tests (tests/e2e/), on `window.confab`:
 *
 *   room                 the livekit-client Room of the current or last join (undefined before).
 *   state()              {connected, identity, remotes: identities of the remote participants}.
 *   stats()              per remote identity, the inbound-rtp counters of its camera (`video`) and
 *                        microphone (`audio`) as the browser reports them; a participant we receive
 *                        no track from is absent, so "received nothing" is `{}`.
 *   setVideoSize(id,w,h) ask for the simulcast layer of `id`'s camera that fits w×h. Only sticks with
 *                        `?adaptive=0`, because adaptive stream overrides it from the element size.
 *   messages             data messages received, oldest first: {from, rawFrom, topic, text}. `from` is
 *                        the sender as the SDK resolves it (participant?.identity); `rawFrom` is the
 *                        identity written in the packet, which the server must have overwritten.
 *   sendData(text,topic) reliable data to everyone in the room.
 *   sendForgedData(text, identity)
 *                        a raw DataPacket that claims to come from `identity`, written straight onto
 *                        the reliable data channel so the SDK cannot correct it: the server must.
 *   leave()              room.disconnect().
 *   firstFrameMs         per remote identity, ms from the start of room.connect() to the first
 *                        frame of its camera painted on screen (requestVideoFrameCallback).
 *
 * Query parameters: room, name (prefill the form); token (join with it, skipping /api/join);
 * autojoin=1; adaptive=0 (adaptive stream off); simulcast=0; capture=WxH (default 640x480).
 */
export interface VideoStats {
  framesDecoded: number;
  frameWidth: number;
  frameHeight: number;
  freezeCount: number;
  packetsLost: number;
  nackCount: number;
  bytesReceived: number;
}

export interface AudioStats {
  bytesReceived: number;
  totalAudioEnergy: number;
  packetsReceived: number;
}

export interface RemoteStats {
  video?: VideoStats;
  audio?: AudioStats;
}

export interface ReceivedMessage {
  from: string | undefined;
  rawFrom: string | undefined;
  topic: string | undefined;
  text: string;
}

export interface ConfabHooks {
  room: Room | undefined;
  state(): { connected: boolean; identity: string; remotes: string[] };
  stats(): Promise<Record<string, RemoteStats>>;
  setVideoSize(identity: string, width: number, height: number): boolean;
  messages: ReceivedMessage[];
  sendData(text: string, topic?: string): Promise<void>;
  sendForgedData(text: string, forgedIdentity: string): Promise<void>;
  leave(): Promise<void>;
  firstFrameMs: Record<string, number>;
}

declare global {
  interface Window {
    confab: ConfabHooks;
  }
}

const params = new URLSearchParams(location.search);
const flag = (name: string, fallback: boolean): boolean => {
  const v = params.get(name);
  return v === null ? fallback : !['0', 'false', 'no', 'off'].includes(v.toLowerCase());
};
const presetToken = params.get('token');

function el<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`missing #${id}`);
  return found as T;
}

const ui = {
  status: el<HTMLParagraphElement>('status'),
  form: el<HTMLFormElement>('join-form'),
  room: el<HTMLInputElement>('room'),
  name: el<HTMLInputElement>('name'),
  join: el<HTMLButtonElement>('join'),
  joinError: el<HTMLParagraphElement>('join-error'),
  meeting: el<HTMLElement>('meeting'),
  tiles: el<HTMLDivElement>('tiles'),
  mic: el<HTMLButtonElement>('toggle-mic'),
  cam: el<HTMLButtonElement>('toggle-cam'),
  enableAudio: el<HTMLButtonElement>('enable-audio'),
  leave: el<HTMLButtonElement>('leave'),
  chatLog: el<HTMLUListElement>('chat-log'),
  chatForm: el<HTMLFormElement>('chat-form'),
  chatInput: el<HTMLInputElement>('chat-input'),
};

ui.room.value = params.get('room') ?? '';
ui.name.value = params.get('name') ?? '';
// With a preset token, the room and name come from the token, not from the form.
if (presetToken) {
  ui.room.required = false;
  ui.name.required = false;
}

let room: Room | undefined;
let connectStartedAt = 0;
const tiles = new Map<string, HTMLElement>();
const encoder = new TextEncoder();
const decoder = new TextDecoder();

const hooks: ConfabHooks = {
  room: undefined,
  state: () => ({
    connected: room?.state === 'connected',
    identity: room?.localParticipant.identity ?? '',
    remotes: room ? [...room.remoteParticipants.values()].map((p) => p.identity) : [],
  }),
  stats,
  setVideoSize(identity, width, height) {
    const pub = room?.remoteParticipants.get(identity)?.getTrackPublication(Track.Source.Camera);
    if (!pub) return false;
    pub.setVideoDimensions({ width, height });
    return true;
  },
  messages: [],
  firstFrameMs: {},
  async sendData(text, topic) {
    await requireRoom().localParticipant.publishData(encoder.encode(text), { reliable: true, topic });
  },
  sendForgedData,
  async leave() {
    await room?.disconnect();
  },
};
window.confab = hooks;

function setStatus(text: string) {
  ui.status.textContent = text;
}

function requireRoom(): Room {
  if (!room) throw new Error('not in a room');
  return room;
}

function wsUrl(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
}

async function fetchToken(roomName: string, name: string): Promise<string> {
  const res = await fetch('/api/join', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ room: roomName, name }),
  });
  const body: unknown = await res.json().catch(() => undefined);
  const field = (key: string): string | undefined => {
    const v = body && typeof body === 'object' ? (body as Record<string, unknown>)[key] : undefined;
    return typeof v === 'string' ? v : undefined;
  };
  if (!res.ok) throw new Error(field('error') ?? `Join failed (HTTP ${res.status})`);
  const token = field('token');
  if (!token) throw new Error('The server sent no token');
  return token;
}

function tileFor(p: Participant): HTMLElement {
  let tile = tiles.get(p.identity);
  if (!tile) {
    tile = document.createElement('figure');
    tile.className = p.isLocal ? 'tile local' : 'tile';
    tile.dataset.identity = p.identity;
    const video = document.createElement('video');
    video.autoplay = true;
    video.playsInline = true;
    video.muted = true; // sound plays through separate <audio> elements
    tile.append(video, document.createElement('figcaption'));
    // Your own tile always comes first.
    if (p.isLocal) ui.tiles.prepend(tile);
    else ui.tiles.append(tile);
    tiles.set(p.identity, tile);
  }
  refreshTile(p);
  return tile;
}

function refreshTile(p: Participant) {
  const tile = tiles.get(p.identity);
  if (!tile) return;
  const muted = !p.isMicrophoneEnabled ? ' · muted' : '';
  tile.querySelector('figcaption')!.textContent = `${p.name || p.identity}${p.isLocal ? ' (you)' : ''}${muted}`;
  tile.classList.toggle('cam-off', !p.isCameraEnabled);
}

function removeTile(identity: string) {
  tiles.get(identity)?.remove();
  tiles.delete(identity);
}

function attach(track: Track, p: Participant) {
  const tile = tileFor(p);
  if (track.kind === Track.Kind.Video) {
    if (track.source === Track.Source.Camera) {
      const video = tile.querySelector('video')!;
      track.attach(video);
      if (!p.isLocal && !(p.identity in hooks.firstFrameMs)) {
        video.requestVideoFrameCallback(() => {
          hooks.firstFrameMs[p.identity] ??= Math.round(performance.now() - connectStartedAt);
        });
      }
    }
  } else if (!p.isLocal) {
    tile.append(track.attach());
  }
  refreshTile(p);
}

function detach(track: Track) {
  for (const media of track.detach()) {
    if (media instanceof HTMLAudioElement) media.remove();
  }
}

function refreshControls() {
  const lp = room?.localParticipant;
  const micOn = lp?.isMicrophoneEnabled ?? false;
  const camOn = lp?.isCameraEnabled ?? false;
  ui.mic.textContent = micOn ? 'Mute mic' : 'Unmute mic';
  ui.mic.setAttribute('aria-pressed', String(!micOn));
  ui.cam.textContent = camOn ? 'Stop camera' : 'Start camera';
  ui.cam.setAttribute('aria-pressed', String(!camOn));
  ui.enableAudio.hidden = room?.canPlaybackAudio ?? true;
}

function addChatLine(who: string, text: string) {
  const li = document.createElement('li');
  const b = document.createElement('b');
  b.textContent = `${who}: `;
  li.append(b, text);
  ui.chatLog.append(li);
  li.scrollIntoView({ block: 'end' });
}

function showMeeting(inMeeting: boolean) {
  ui.meeting.hidden = !inMeeting;
  ui.form.hidden = inMeeting;
}

function wire(r: Room) {
  r.on(RoomEvent.TrackSubscribed, (track, _pub, p) => attach(track, p))
    .on(RoomEvent.TrackUnsubscribed, (track, _pub, p) => {
      detach(track);
      refreshTile(p);
    })
    .on(RoomEvent.LocalTrackPublished, (pub, p) => {
      if (pub.track) attach(pub.track, p);
      refreshControls();
    })
    .on(RoomEvent.LocalTrackUnpublished, (pub, p) => {
      if (pub.track) detach(pub.track);
      refreshTile(p);
      refreshControls();
    })
    .on(RoomEvent.TrackMuted, (_pub, p) => {
      refreshTile(p);
      refreshControls();
    })
    .on(RoomEvent.TrackUnmuted, (_pub, p) => {
      refreshTile(p);
      refreshControls();
    })
    .on(RoomEvent.ParticipantConnected, (p) => tileFor(p))
    .on(RoomEvent.ParticipantDisconnected, (p) => removeTile(p.identity))
    .on(RoomEvent.ParticipantNameChanged, (_name, p) => refreshTile(p))
    .on(RoomEvent.AudioPlaybackStatusChanged, refreshControls)
    .on(RoomEvent.Reconnecting, () => setStatus('Connection lost, reconnecting…'))
    .on(RoomEvent.Reconnected, () => setStatus(`Connected to ${r.name}`))
    .on(RoomEvent.DataReceived, (payload, participant, _kind, topic, _enc, rawFrom) => {
      const text = decoder.decode(payload);
      hooks.messages.push({ from: participant?.identity, rawFrom, topic, text });
      addChatLine(participant?.name || participant?.identity || 'unknown', text);
    })
    .on(RoomEvent.Disconnected, (reason) => {
      for (const identity of [...tiles.keys()]) removeTile(identity);
      ui.tiles.replaceChildren();
      showMeeting(false);
      const why = reason === undefined || reason === DisconnectReason.CLIENT_INITIATED ? '' : ` (${DisconnectReason[reason]})`;
      setStatus(`Left the meeting${why}`);
    });
}

async function join(roomName: string, name: string) {
  ui.join.disabled = true;
  ui.joinError.hidden = true;
  try {
    const token = presetToken ?? (await fetchToken(roomName, name));
    const adaptive = flag('adaptive', true);
    const simulcast = flag('simulcast', true);
    const r = new Room({
      adaptiveStream: adaptive,
      dynacast: true,
      // The server has no /rtc/v1; starting on /rtc saves the fallback round trip on every connect.
      singlePeerConnection: false,
      videoCaptureDefaults: { resolution: captureResolution() },
      publishDefaults: {
        simulcast,
        videoCodec: 'vp8',
        // 160x120 and 320x240 under the capture size. livekit-client sends all three layers only
        // when the capture's longer side is >= 960; below that it sends 160x120 (q) + full (h).
        videoSimulcastLayers: [VideoPresets43.h120, VideoPresets43.h240],
      },
    });
    wire(r);
    room = r;
    hooks.room = r;
    hooks.messages.length = 0;
    ui.chatLog.replaceChildren();
    setStatus('Connecting…');
    hooks.firstFrameMs = {};
    connectStartedAt = performance.now();
    await r.connect(wsUrl(), token);
    showMeeting(true);
    tileFor(r.localParticipant);
    for (const p of r.remoteParticipants.values()) tileFor(p);
    setStatus(`Connected to ${r.name} as ${r.localParticipant.name || r.localParticipant.identity}`);
    refreshControls();
    try {
      await r.localParticipant.enableCameraAndMicrophone();
    } catch (e) {
      setStatus(`Connected to ${r.name}, but camera or microphone failed: ${errorText(e)}`);
    }
    refreshControls();
  } catch (e) {
    await room?.disconnect();
    showMeeting(false);
    ui.joinError.textContent = errorText(e);
    ui.joinError.hidden = false;
    setStatus('Not connected');
  } finally {
    ui.join.disabled = false;
  }
}

/** `?capture=960x720` overrides the 640x480 camera capture (three simulcast layers need >= 960). */
function captureResolution(): { width: number; height: number } {
  const m = /^(\d{2,4})x(\d{2,4})$/.exec(params.get('capture') ?? '');
  return m ? { width: Number(m[1]), height: Number(m[2]) } : VideoPresets43.h480.resolution;
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function num(stats: Record<string, unknown>, key: string): number {
  const v = stats[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

async function inboundRtp(track: RemoteTrack): Promise<Record<string, unknown> | undefined> {
  const report = await track.getRTCStatsReport();
  let match: Record<string, unknown> | undefined;
  report?.forEach((s: Record<string, unknown>) => {
    if (s.type !== 'inbound-rtp' || s.kind !== track.kind) return;
    // A receiver's report normally holds one inbound-rtp; prefer the one naming our track.
    if (!match || s.trackIdentifier === track.mediaStreamTrack.id) match = s;
  });
  return match;
}

async function stats(): Promise<Record<string, RemoteStats>> {
  const out: Record<string, RemoteStats> = {};
  for (const p of room?.remoteParticipants.values() ?? []) {
    const entry: RemoteStats = {};
    const cam = p.getTrackPublication(Track.Source.Camera)?.track;
    const mic = p.getTrackPublication(Track.Source.Microphone)?.track;
    const v = cam && (await inboundRtp(cam));
    if (v) {
      entry.video = {
        framesDecoded: num(v, 'framesDecoded'),
        frameWidth: num(v, 'frameWidth'),
        frameHeight: num(v, 'frameHeight'),
        freezeCount: num(v, 'freezeCount'),
        packetsLost: num(v, 'packetsLost'),
        nackCount: num(v, 'nackCount'),
        bytesReceived: num(v, 'bytesReceived'),
      };
    }
    const a = mic && (await inboundRtp(mic));
    if (a) {
      entry.audio = {
        bytesReceived: num(a, 'bytesReceived'),
        totalAudioEnergy: num(a, 'totalAudioEnergy'),
        packetsReceived: num(a, 'packetsReceived'),
      };
    }
    if (entry.video || entry.audio) out[p.identity] = entry;
  }
  return out;
}

async function sendForgedData(text: string, forgedIdentity: string) {
  const r = requireRoom();
  // The engine's public accessor hands out the publisher's raw "_reliable" RTCDataChannel;
  // RELIABLE has the same number in the protocol enum and in the (type-only export) DataChannelKind.
  const dc = r.engine.dataChannelForKind(DataPacket_Kind.RELIABLE as number as DataChannelKind);
  if (!dc || dc.readyState !== 'open') throw new Error('reliable data channel is not open');
  const packet = new DataPacket({
    kind: DataPacket_Kind.RELIABLE,
    participantIdentity: forgedIdentity,
    participantSid: `PA_${forgedIdentity}`,
    value: {
      case: 'user',
      value: new UserPacket({
        participantIdentity: forgedIdentity,
        payload: encoder.encode(text),
        topic: 'forged',
      }),
    },
  });
  dc.send(packet.toBinary() as Uint8Array<ArrayBuffer>);
}

ui.form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  void join(ui.room.value.trim(), ui.name.value.trim());
});

ui.mic.addEventListener('click', async () => {
  const lp = requireRoom().localParticipant;
  ui.mic.disabled = true;
  try {
    await lp.setMicrophoneEnabled(!lp.isMicrophoneEnabled);
  } catch (e) {
    setStatus(`Microphone: ${errorText(e)}`);
  } finally {
    ui.mic.disabled = false;
    refreshTile(lp);
    refreshControls();
  }
});

ui.cam.addEventListener('click', async () => {
  const lp = requireRoom().localParticipant;
  ui.cam.disabled = true;
  try {
    await lp.setCameraEnabled(!lp.isCameraEnabled);
  } catch (e) {
    setStatus(`Camera: ${errorText(e)}`);
  } finally {
    ui.cam.disabled = false;
    refreshTile(lp);
    refreshControls();
  }
});

ui.enableAudio.addEventListener('click', async () => {
  await room?.startAudio();
  refreshControls();
});

ui.leave.addEventListener('click', () => void hooks.leave());

ui.chatForm.addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const text = ui.chatInput.value.trim();
  if (!text || !room) return;
  ui.chatInput.value = '';
  try {
    await hooks.sendData(text, 'chat');
    addChatLine('You', text);
  } catch (e) {
    addChatLine('Not sent', `${text} (${errorText(e)})`);
  }
});

if (flag('autojoin', false) && (presetToken || (ui.room.value && ui.name.value))) {
  void join(ui.room.value.trim(), ui.name.value.trim());
}
