// Getting from "I want to be in room X" to a connected Room with camera and microphone published,
// and turning every way that can fail into a page a person understands.

import { ConnectionError, ConnectionErrorReason, Room, VideoPreset } from 'livekit-client';
import { JoinError, fetchToken, settingsFor, waitInLobby, wsUrl } from '../api';
import { embedMeeting } from '../embed';
import { hooks, timing } from '../hooks';
import { t } from '../i18n';
import { deniedPage, failedPage, header, leftPage, lobbyPage, lockedPage, passwordPage, refusedPage, unreachablePage, waitingPage } from '../pages';
import { applyServerSettings, audioCapture, captureFor, prefs } from '../prefs';
import type { PrejoinResult } from '../prejoin';
import { rememberRoom } from '../rooms';
import { errorText, flag, h, mount } from '../util';
import { Meeting } from './meeting';

export interface JoinOptions {
  room: string;
  /** Display name for /api/join; not needed with a token. */
  name?: string;
  /** A token from the URL: skips /api/join (the room and name come from the token). */
  token?: string;
  /** A Jitsi-format token from the URL (`?jwt=`), exchanged at /api/join. */
  jwt?: string;
  /** The room's password, once the person typed it. */
  password?: string;
  /** Tracks and devices from the prejoin screen. */
  prejoin?: PrejoinResult;
  /** Without prejoin: which devices to turn on once connected. */
  camera?: boolean;
  mic?: boolean;
}

export async function joinMeeting(opts: JoinOptions) {
  connectingPage(opts.room);
  const retry = () => location.reload();
  const releasePreview = () => {
    opts.prejoin?.video?.stop();
    opts.prejoin?.audio?.stop();
  };

  let token = opts.token;
  if (!token) {
    try {
      token = (await fetchToken(opts.room, opts.name ?? '', opts.jwt, opts.password)).token;
    } catch (e) {
      const err = e instanceof JoinError ? e : new JoinError('other', errorText(e));
      // Waiting for the host, in the lobby or at the password: the preview tracks are kept, and
      // the person joins with them once in.
      if (err.kind === 'waiting') {
        waitingPage(opts.room, () => void joinMeeting(opts));
        return;
      }
      if (err.kind === 'password') {
        passwordPage(opts.room, opts.password ? err.message : undefined, (password) => void joinMeeting({ ...opts, password }));
        return;
      }
      if (err.kind === 'lobby' && err.ticket) {
        token = await admission(opts.room, err.ticket, releasePreview);
        if (!token) return;
      } else {
        releasePreview();
        if (err.kind === 'unreachable') unreachablePage(err.message, retry);
        else if (err.kind === 'refused') refusedPage(err.message, retry);
        else if (err.kind === 'locked') lockedPage(opts.room, retry);
        else failedPage(err.message, retry);
        return;
      }
    }
  }

  const settings = await settingsFor(opts.room);
  applyServerSettings(settings);
  const [low, mid, top] = settings.video.layerMaxBitrates;
  const devices = opts.prejoin?.devices ?? {
    videoinput: prefs.device('videoinput'),
    audioinput: prefs.device('audioinput'),
    audiooutput: prefs.device('audiooutput'),
  };
  const room = new Room({
    // Adaptive stream: each video is received at the size its element is shown, so filmstrip
    // thumbnails pull the small simulcast layer. `?adaptive=0` turns it off for the layer tests.
    adaptiveStream: flag('adaptive', true),
    // Dynacast: the server tells us which of our layers nobody watches, and we stop encoding them.
    dynacast: true,
    // The server has no /rtc/v1; starting on /rtc saves the fallback round trip on every connect.
    singlePeerConnection: false,
    videoCaptureDefaults: { resolution: captureFor(prefs.quality), deviceId: devices.videoinput },
    audioCaptureDefaults: audioCapture(devices.audioinput),
    audioOutput: { deviceId: devices.audiooutput },
    publishDefaults: {
      simulcast: flag('simulcast', true),
      // The server's first choice; it also lists the allowed ones in the join response.
      videoCodec: settings.videoCodecs[0] === 'h264' ? 'h264' : 'vp8',
      // 160x120 and 320x240 under the capture size. livekit-client sends all three layers only
      // when the capture's longer side is >= 960; below that it sends 160x120 (q) + full (h).
      videoSimulcastLayers: [
        new VideoPreset(160, 120, low, 15),
        new VideoPreset(320, 240, mid, 30),
      ],
      videoEncoding: { maxBitrate: top, maxFramerate: 30 },
      dtx: settings.audio.dtx,
      red: settings.audio.red,
      forceStereo: settings.audio.stereo,
      ...(settings.audio.maxAverageBitrate ? { audioPreset: { maxBitrate: settings.audio.maxAverageBitrate } } : {}),
    },
  });
  hooks.room = room;
  hooks.token = token;
  hooks.messages.length = 0;
  hooks.firstFrameMs = {};
  hooks.joinedMs = undefined;

  const meeting = new Meeting(room, opts.room, token, {
    onEnded: (reason, was) => {
      leftPage(
        opts.room,
        () => void joinMeeting({ room: opts.room, name: opts.name, token: opts.token, jwt: opts.jwt, camera: was.camera, mic: was.mic }),
        reason,
      );
    },
  });

  timing.connectStartedAt = performance.now();
  try {
    await room.connect(wsUrl(), token);
  } catch (e) {
    releasePreview();
    await room.disconnect().catch(() => {});
    if (e instanceof ConnectionError) {
      if (e.reason === ConnectionErrorReason.NotAllowed) return refusedPage(e.message, retry);
      if (
        e.reason === ConnectionErrorReason.ServerUnreachable ||
        e.reason === ConnectionErrorReason.WebSocket ||
        e.reason === ConnectionErrorReason.Timeout
      ) {
        return unreachablePage(e.message, retry);
      }
    }
    return failedPage(errorText(e), retry);
  }

  rememberRoom(opts.room);
  meeting.show();
  if (settings.audio.disableAp || settings.audio.disableAec) {
    meeting.notice(t('meeting.hdAudio'));
  }
  hooks.joinedMs = Math.round(performance.now());
  const published = publish(room, opts, meeting);
  embedMeeting(meeting, published);
  await published;
}

async function publish(room: Room, opts: JoinOptions, meeting: Meeting) {
  const lp = room.localParticipant;
  const tasks: [Promise<unknown>, 'camera' | 'microphone'][] = [];
  if (opts.prejoin) {
    // The preview tracks go out as they are: no second permission prompt, no camera blink.
    const { video, audio } = opts.prejoin;
    if (video) tasks.push([lp.publishTrack(video), 'camera']);
    if (audio) tasks.push([lp.publishTrack(audio), 'microphone']);
  } else {
    if (opts.camera ?? true) tasks.push([lp.setCameraEnabled(true), 'camera']);
    if (opts.mic ?? true) tasks.push([lp.setMicrophoneEnabled(true), 'microphone']);
  }
  const results = await Promise.allSettled(tasks.map(([t]) => t));
  // Already in the meeting: a device that fails is a notice, not a reason to throw the person out.
  results.forEach((r, i) => r.status === 'rejected' && meeting.deviceError(r.reason, tasks[i][1]));
  meeting.queueSync();
}

/**
 * Waits in the lobby until a moderator decides: the session token when let in; undefined when
 * denied or the person gave up (a page saying so is shown).
 */
async function admission(room: string, ticket: string, release: () => void): Promise<string | undefined> {
  const stop = new AbortController();
  lobbyPage(room, () => {
    stop.abort();
    release();
    location.assign('/');
  });
  for (;;) {
    try {
      const v = await waitInLobby(room, ticket, stop.signal);
      if (v.status === 'admitted') return v.token;
      if (v.status === 'denied' || v.status === 'gone') {
        release();
        deniedPage(room, v.status === 'denied' ? v.reason : undefined);
        return undefined;
      }
    } catch {
      if (stop.signal.aborted) return undefined;
      // The server restarting or a network blip: keep the place in the queue and ask again.
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

function connectingPage(room: string) {
  mount(
    header(),
    h(
      'main',
      { class: 'page message-page', dataset: { page: 'connecting' } },
      h('div', { class: 'card message-card' }, h('div', { class: 'spinner big' }), h('h1', { text: `${t('join.joining', { room })}…` })),
    ),
  );
  document.title = `${t('join.joining', { room })} · Confab`;
}
