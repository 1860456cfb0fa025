#!/usr/bin/env node
// One meeting participant on LiveKit's Node SDK (@livekit/rtc-node, the Rust core), for Confab's
// e2e tests. It is peer.py on the other native SDK and behaves identically:
//
//   LIVEKIT_TOKEN=<jwt> node peer.mjs --url ws://127.0.0.1:7880 --label node --tone 660 --size 960x540
//
// - publishes a camera track of frames that change every frame, so the encoder keeps emitting
//   (simulcast: at 960x540 the SDK sends the layers q=320x180, h=640x360 and f=960x540; at
//   640x360 its two layers q and h are both 640x360), and a microphone track playing a continuous
//   sine tone of --tone Hz (48 kHz mono, 10 ms frames, paced in real time);
// - receives every remote track: per remote identity, decoded video frames and the last frame's
//   size; for audio the last 32768 samples (0.68 s), from which a report gives the dominant
//   frequency (FFT) and RMS level;
// - records data packets, active speaker changes, remote mutes and unmutes, and departures, each
//   with `at` in Unix ms so the test can relate them to its own clock;
// - reads JSON commands, one per line, on stdin:
//     {"cmd":"send","text":T,"topic":P}           reliable data to everyone
//     {"cmd":"mute","muted":true|false}            its microphone
//     {"cmd":"quality","identity":I,"quality":"low"|"high"}  that simulcast layer of I's camera
//     {"cmd":"report"}                             prints {"report":{...}}
//     {"cmd":"leave"}                              disconnects and exits 0
// - prints {"ready":true,"identity":...} once connected and publishing; errors go to stderr.

import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import {
  AudioFrame,
  AudioSource,
  AudioStream,
  LocalAudioTrack,
  LocalVideoTrack,
  Room,
  RoomEvent,
  TrackKind,
  TrackPublishOptions,
  TrackSource,
  VideoBufferType,
  VideoFrame,
  VideoSource,
  VideoStream,
} from '@livekit/rtc-node';

const RATE = 48_000;
const FRAME = RATE / 100; // 10 ms of audio
const KEEP = 1 << 15; // samples analysed for the tone (a power of two for the FFT)
const FPS = 15;

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    label: { type: 'string', default: 'node' },
    tone: { type: 'string', default: '660' },
    size: { type: 'string', default: '960x540' },
  },
});
const [width, height] = args.size.split('x').map(Number);
const tone = Number(args.tone);
const log = (...a) => console.error(`${args.label}:`, ...a);
const emit = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);
// SOURCE_MICROPHONE -> "microphone", as peer.py names it
const sourceName = (source) => TrackSource[source].replace(/^SOURCE_/, '').toLowerCase();

/** Dominant frequency (Hz) and RMS level (full scale = 1) of the last KEEP samples. */
function toneOf({ ring, pos, filled }) {
  if (filled < KEEP) return { freq: null, rms: 0 };
  const re = new Float64Array(KEEP);
  const im = new Float64Array(KEEP);
  let power = 0;
  for (let i = 0; i < KEEP; i++) {
    const x = ring[(pos + i) % KEEP] / 32768; // oldest first
    power += x * x;
    re[i] = x * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (KEEP - 1))); // Hann window
  }
  fft(re, im);
  let best = 2; // skip DC
  for (let k = 2; k < KEEP / 2; k++) if (re[k] ** 2 + im[k] ** 2 > re[best] ** 2 + im[best] ** 2) best = k;
  return { freq: Math.round(((best * RATE) / KEEP) * 10) / 10, rms: Math.round(Math.sqrt(power / KEEP) * 1e4) / 1e4 };
}

/** In-place iterative radix-2 FFT. */
function fft(re, im) {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) [re[i], re[j], im[i], im[j]] = [re[j], re[i], im[j], im[i]];
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    for (let i = 0; i < n; i += len) {
      for (let k = 0; k < len / 2; k++) {
        const wr = Math.cos(ang * k);
        const wi = Math.sin(ang * k);
        const a = i + k;
        const b = a + len / 2;
        const xr = re[b] * wr - im[b] * wi;
        const xi = re[b] * wi + im[b] * wr;
        re[b] = re[a] - xr;
        im[b] = im[a] - xi;
        re[a] += xr;
        im[a] += xi;
      }
    }
  }
}

const room = new Room();
const remotes = new Map(); // identity -> what we receive from it
const events = { data: [], speakers: [], speakerUpdates: 0, mutes: [], left: [] };

function remote(identity) {
  if (!remotes.has(identity)) {
    remotes.set(identity, {
      video: { frames: 0, width: 0, height: 0, firstFrameAt: null },
      audio: { frames: 0, firstAudioAt: null, ring: new Int16Array(KEEP), pos: 0, filled: 0 },
    });
  }
  return remotes.get(identity);
}

async function readVideo(track, identity) {
  const v = remote(identity).video;
  for await (const { frame } of new VideoStream(track)) {
    v.firstFrameAt ??= Date.now();
    Object.assign(v, { frames: v.frames + 1, width: frame.width, height: frame.height });
  }
}

async function readAudio(track, identity) {
  const a = remote(identity).audio;
  for await (const frame of new AudioStream(track, RATE, 1)) {
    a.firstAudioAt ??= Date.now();
    a.frames++;
    for (const s of frame.data) {
      a.ring[a.pos] = s;
      a.pos = (a.pos + 1) % KEEP;
    }
    a.filled = Math.min(KEEP, a.filled + frame.data.length);
  }
}

const catchTo = (what) => (err) => log(`${what}: ${err?.stack ?? err}`);
room
  .on(RoomEvent.TrackSubscribed, (track, _pub, participant) => {
    if (track.kind === TrackKind.KIND_VIDEO) readVideo(track, participant.identity).catch(catchTo('video'));
    if (track.kind === TrackKind.KIND_AUDIO) readAudio(track, participant.identity).catch(catchTo('audio'));
  })
  .on(RoomEvent.DataReceived, (payload, participant, _kind, topic) => {
    const text = new TextDecoder().decode(payload);
    events.data.push({ from: participant?.identity ?? null, topic: topic ?? null, text, at: Date.now() });
  })
  .on(RoomEvent.ActiveSpeakersChanged, (speakers) => {
    // Only changes of the set are kept: the SDK may pass on the same list again and again.
    const identities = speakers.map((p) => p.identity).sort();
    if (String(events.speakers.at(-1)?.identities) !== String(identities)) events.speakers.push({ identities, at: Date.now() });
    events.speakerUpdates++;
  })
  .on(RoomEvent.TrackMuted, (pub, p) => onMute(pub, p, true))
  .on(RoomEvent.TrackUnmuted, (pub, p) => onMute(pub, p, false))
  .on(RoomEvent.ParticipantDisconnected, (p) => events.left.push({ identity: p.identity, at: Date.now() }))
  .on(RoomEvent.Disconnected, (reason) => log(`disconnected: ${reason}`));

function onMute(pub, participant, muted) {
  const kind = pub.kind === TrackKind.KIND_AUDIO ? 'audio' : 'video';
  events.mutes.push({ identity: participant.identity, source: sourceName(pub.source), kind, muted, at: Date.now() });
}

// rtc-node 1.1.0 has no API for muting a local track or choosing a remote simulcast layer, but its
// Rust core does (the Python SDK's LocalAudioTrack.mute and set_video_quality send these same
// requests): send them through the SDK's own FFI client.
const ffi = (message) => globalThis._ffiClientInstance.request({ message });
const VIDEO_QUALITY = { low: 0, high: 2 }; // livekit.proto.VideoQuality

const started = Date.now();
await room.connect(args.url, process.env.LIVEKIT_TOKEN, { autoSubscribe: true });

// Camera: a moving pattern, so that every frame differs from the one before.
const video = new VideoSource(width, height);
const camera = LocalVideoTrack.createVideoTrack('camera', video);
await room.localParticipant.publishTrack(camera, new TrackPublishOptions({ source: TrackSource.SOURCE_CAMERA, simulcast: true }));
// Microphone: the tone. A short queue (ms) so that captureFrame paces us in real time.
const audio = new AudioSource(RATE, 1, 200);
const mic = LocalAudioTrack.createAudioTrack('microphone', audio);
await room.localParticipant.publishTrack(mic, new TrackPublishOptions({ source: TrackSource.SOURCE_MICROPHONE }));

let sending = true;
async function sendVideo() {
  // One tall picture of height + 256 rows, repeating every 256 rows; frame i shows the rows from
  // 4i (mod 256) on, so the pattern moves without being drawn again (a Uint8Array stores mod 256).
  const row = width * 4;
  const tall = new Uint8Array(row * (height + 256));
  for (let r = 0, o = 0; r < height + 256; r++) {
    for (let x = 0; x < width; x++, o += 4) [tall[o], tall[o + 1], tall[o + 2], tall[o + 3]] = [x + r, x - r, r, 255];
  }
  const t0 = Date.now();
  for (let i = 0; sending; i++) {
    const top = ((i * 4) % 256) * row;
    video.captureFrame(new VideoFrame(tall.slice(top, top + row * height), width, height, VideoBufferType.RGBA));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, t0 + ((i + 1) * 1000) / FPS - Date.now())));
  }
}

async function sendAudio() {
  const step = (2 * Math.PI * tone) / RATE;
  for (let n = 0; sending; n += FRAME) {
    const frame = AudioFrame.create(RATE, 1, FRAME);
    for (let i = 0; i < FRAME; i++) frame.data[i] = Math.round(8000 * Math.sin(step * (n + i)));
    await audio.captureFrame(frame);
  }
}

const pumps = [sendVideo().catch(catchTo('camera')), sendAudio().catch(catchTo('microphone'))];
log(`connected in ${Date.now() - started} ms`);
emit({ ready: true, identity: room.localParticipant.identity });

function report() {
  const out = {};
  for (const [identity, r] of remotes) {
    const { frames, firstAudioAt } = r.audio;
    out[identity] = { video: r.video, audio: { frames, ...toneOf(r.audio), firstAudioAt } };
  }
  const participants = [...room.remoteParticipants.values()].map((p) => p.identity).sort();
  return { identity: room.localParticipant.identity, participants, remotes: out, ...events };
}

async function run(cmd) {
  switch (cmd.cmd) {
    case 'send':
      return room.localParticipant.publishData(new TextEncoder().encode(cmd.text), { reliable: true, topic: cmd.topic ?? '' });
    case 'mute':
      return ffi({ case: 'localTrackMute', value: { trackHandle: mic.ffi_handle.handle, mute: cmd.muted } });
    case 'quality': {
      const p = room.remoteParticipants.get(cmd.identity);
      const pub = [...(p?.trackPublications.values() ?? [])].find((x) => x.source === TrackSource.SOURCE_CAMERA);
      if (!pub) throw new Error(`no camera publication of ${cmd.identity}`);
      if (!(cmd.quality in VIDEO_QUALITY)) throw new Error(`unknown quality ${cmd.quality}`);
      const value = { trackPublicationHandle: pub.ffiHandle.handle, quality: VIDEO_QUALITY[cmd.quality] };
      return ffi({ case: 'setRemoteTrackPublicationQuality', value });
    }
    case 'report':
      return emit({ report: report() });
    default:
      throw new Error(`unknown command ${cmd.cmd}`);
  }
}

// Commands on stdin; end of input (the test went away) counts as "leave".
for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  try {
    const cmd = JSON.parse(line);
    if (cmd.cmd === 'leave') break;
    await run(cmd);
  } catch (err) {
    // a bad command must not end the meeting for this peer
    log(`command ${line} failed: ${err?.stack ?? err}`);
  }
}
// Stop feeding the sources before the SDK shuts down under them.
sending = false;
await Promise.all(pumps);
await room.disconnect();
process.exit(0);
