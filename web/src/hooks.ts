import { type DataChannelKind, type RemoteTrack, type Room, Track } from 'livekit-client';
import { DataPacket, DataPacket_Kind, UserPacket } from '@livekit/protocol';
import { type EgressInfo, RecordingApi } from './meeting/recording';

/*
 * Test hooks for the browser end-to-end tests (tests/e2e/), on `window.confab`:
 *
 *   room                 the livekit-client Room of the current or last join (undefined before).
 *   token                the session token the page joined with.
 *   state()              {connected, identity, remotes: identities of the remote participants,
 *                        recording: room.isRecording, the server's word that the meeting is recorded}.
 *   stats()              per remote identity, the inbound-rtp counters of its camera (`video`) and
 *                        microphone (`audio`) as the browser reports them; a participant we receive
 *                        no track from is absent, so "received nothing" is `{}`.
 *   setVideoSize(id,w,h) ask for the simulcast layer of `id`'s camera that fits w×h. Only sticks with
 *                        `?adaptive=0`, because adaptive stream overrides it from the element size.
 *   messages             data messages received, oldest first: {from, rawFrom, topic, text}. `from` is
 *                        the sender as the SDK resolves it (participant?.identity); `rawFrom` is the
 *                        identity written in the packet, which the server must have overwritten.
 *                        Raw `publishData` only: chat travels as text streams and is not in here.
 *   sendData(text,topic) reliable data to everyone in the room.
 *   sendForgedData(text, identity)
 *                        a raw DataPacket that claims to come from `identity`, written straight onto
 *                        the reliable data channel so the SDK cannot correct it: the server must.
 *   leave()              room.disconnect().
 *   startRecording()     what "Start recording" calls (StartRoomCompositeEgress); its EgressInfo.
 *   stopRecording()      what "Stop recording" calls: stops the meeting's running recording.
 *   startLiveStream(url) what "Go live" sends (StartRoomCompositeEgress to an RTMP URL), without the
 *                        dialog's rtmp(s):// check, so the server's own checks are reached; its
 *                        EgressInfo, or an error with the server's reason.
 *   stopLiveStream()     what "Stop live stream" calls: stops the meeting's running live stream.
 *   firstFrameMs         per remote identity, ms from the start of room.connect() to the first
 *                        frame of its camera painted on screen (requestVideoFrameCallback).
 *   joinedMs             ms from the start of navigation to the meeting being on screen with the
 *                        room connected (undefined until then).
 *
 * Query parameters on a room URL (/<room>): name (prefill / use as display name);
 * skipPrejoin=1 (join at once with camera and microphone on; camera=0 / mic=0 keep one off);
 * token (join with it, skipping /api/join; implies skipPrejoin); adaptive=0 (adaptive stream off); simulcast=0;
 * capture=WxH (camera capture size; default from the video quality setting, 640x480).
 * camera=0 / mic=0 also start the prejoin screen with that device off.
 * embed=1&parentOrigin=O: embedded in a page of origin O by /external_api.js (see embed.ts).
 * lang=de (or en, es, fr, vi): the app's language for this page, over the setting and the browser's.
 * The old form /?room=R&token=T&autojoin=1 still works and is treated as /R?token=T&skipPrejoin=1.
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
  /** The session token the page joined with (what its moderator controls send to the room API). */
  token: string | undefined;
  state(): { connected: boolean; identity: string; remotes: string[]; recording: boolean };
  stats(): Promise<Record<string, RemoteStats>>;
  setVideoSize(identity: string, width: number, height: number): boolean;
  messages: ReceivedMessage[];
  sendData(text: string, topic?: string): Promise<void>;
  sendForgedData(text: string, forgedIdentity: string): Promise<void>;
  leave(): Promise<void>;
  startRecording(): Promise<EgressInfo>;
  stopRecording(): Promise<void>;
  startLiveStream(url: string): Promise<EgressInfo>;
  stopLiveStream(): Promise<void>;
  firstFrameMs: Record<string, number>;
  joinedMs: number | undefined;
}

declare global {
  interface Window {
    confab: ConfabHooks;
  }
}

const encoder = new TextEncoder();

function requireRoom(): Room {
  const room = hooks.room;
  if (!room) throw new Error('not in a room');
  return room;
}

function recordingApi(): RecordingApi {
  if (!hooks.token) throw new Error('no session token');
  return new RecordingApi(hooks.token, requireRoom().name);
}

export const hooks: ConfabHooks = {
  room: undefined,
  token: undefined,
  state: () => {
    const room = hooks.room;
    return {
      connected: room?.state === 'connected',
      identity: room?.localParticipant.identity ?? '',
      remotes: room ? [...room.remoteParticipants.values()].map((p) => p.identity) : [],
      recording: room?.isRecording ?? false,
    };
  },
  stats,
  setVideoSize(identity, width, height) {
    const pub = hooks.room?.remoteParticipants.get(identity)?.getTrackPublication(Track.Source.Camera);
    if (!pub) return false;
    pub.setVideoDimensions({ width, height });
    return true;
  },
  messages: [],
  firstFrameMs: {},
  joinedMs: undefined,
  async sendData(text, topic) {
    await requireRoom().localParticipant.publishData(encoder.encode(text), { reliable: true, topic });
  },
  sendForgedData,
  async leave() {
    await hooks.room?.disconnect();
  },
  async startRecording() {
    return recordingApi().start();
  },
  async stopRecording() {
    await recordingApi().stop();
  },
  async startLiveStream(url) {
    return recordingApi().startLiveStream(url);
  },
  async stopLiveStream() {
    await recordingApi().stopLiveStream();
  },
};
window.confab = hooks;

/** Set when room.connect() starts, so firstFrameMs measures from there. */
export const timing = { connectStartedAt: 0 };

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
  for (const p of hooks.room?.remoteParticipants.values() ?? []) {
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
