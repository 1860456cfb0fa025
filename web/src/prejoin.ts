// The screen before a meeting: see yourself, hear your microphone move the meter, pick devices
// and a background, type your name, and choose to go in with camera or microphone off.
//
// The preview tracks are handed to the meeting and published as they are, so the camera does not
// blink off and on again when you click Join.

import {
  createAudioAnalyser,
  createLocalAudioTrack,
  createLocalVideoTrack,
  type LocalAudioTrack,
  type LocalVideoTrack,
} from 'livekit-client';
import { applyBackground, backgroundPicker } from './background';
import { devicePicker } from './devices';
import { t } from './i18n';
import { languagePicker } from './i18n/select';
import { icon } from './icons';
import { header, permissionPage } from './pages';
import { settingsFor } from './api';
import { applyServerSettings, audioCapture, captureFor, prefs } from './prefs';
import { installButton } from './pwa';
import { inviteLink } from './rooms';
import { flag, h, hueFor, initials, mount } from './util';

export interface PrejoinResult {
  name: string;
  video?: LocalVideoTrack;
  audio?: LocalAudioTrack;
  /** Chosen in the pickers; used when a device is turned on later in the meeting. */
  devices: { videoinput?: string; audioinput?: string; audiooutput?: string };
}

interface Options {
  room: string;
  /** After "join without camera and microphone": start with both off and do not ask again. */
  withoutDevices?: boolean;
  onJoin: (r: PrejoinResult) => void;
}

type DeviceProblem = 'blocked' | 'missing' | 'busy' | 'failed';

function problemOf(e: unknown): DeviceProblem {
  const name = e instanceof Error ? e.name : '';
  if (name === 'NotAllowedError' || name === 'SecurityError') return 'blocked';
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return 'missing';
  if (name === 'NotReadableError' || name === 'AbortError') return 'busy';
  return 'failed';
}

function problemText(problem: DeviceProblem, device: 'camera' | 'microphone'): string {
  return t(`device.${problem}.${device}`);
}

export function prejoinPage(opts: Options) {
  let video: LocalVideoTrack | undefined;
  let audio: LocalAudioTrack | undefined;
  // `?camera=0` / `?mic=0` (an embedding page's startWithVideoMuted / startWithAudioMuted) start them off.
  let camOn = !opts.withoutDevices && flag('camera', true);
  let micOn = !opts.withoutDevices && flag('mic', true);
  let camProblem: DeviceProblem | undefined = opts.withoutDevices ? 'blocked' : undefined;
  let micProblem: DeviceProblem | undefined = opts.withoutDevices ? 'blocked' : undefined;
  const devices: PrejoinResult['devices'] = {
    videoinput: prefs.device('videoinput'),
    audioinput: prefs.device('audioinput'),
    audiooutput: prefs.device('audiooutput'),
  };
  let stopMeter = () => {};
  let done = false;

  const videoEl = h('video', { class: 'preview-video mirrored', attrs: { muted: '', playsinline: '', autoplay: '' } });
  videoEl.muted = true;
  const avatar = h('div', { class: 'avatar big' });
  const notice = h('p', { class: 'preview-notice' });
  const meterFill = h('span', { class: 'meter-fill' });
  const meter = h('div', { class: 'meter', title: t('prejoin.micLevel'), attrs: { role: 'meter', 'aria-label': t('prejoin.micLevel'), 'aria-valuemin': '0', 'aria-valuemax': '100' } }, meterFill);
  const micBtn = h('button', { class: 'round', attrs: { type: 'button', id: 'prejoin-mic' } });
  const camBtn = h('button', { class: 'round', attrs: { type: 'button', id: 'prejoin-cam' } });
  const nameInput = h('input', {
    attrs: { id: 'display-name', type: 'text', maxlength: '64', autocomplete: 'name', placeholder: t('prejoin.name'), 'aria-label': t('prejoin.name') },
  });
  nameInput.value = (new URLSearchParams(location.search).get('name') ?? prefs.name).slice(0, 64);
  const nameError = h('p', { class: 'field-error', attrs: { role: 'alert' } });
  nameError.hidden = true;
  const joinBtn = h('button', { class: 'btn primary big', text: t('prejoin.join'), attrs: { type: 'submit', id: 'join' } });

  const pickers = {
    videoinput: devicePicker('videoinput', () => devices.videoinput, (id) => void switchDevice('videoinput', id)),
    audioinput: devicePicker('audioinput', () => devices.audioinput, (id) => void switchDevice('audioinput', id)),
    audiooutput: devicePicker('audiooutput', () => devices.audiooutput, (id) => (devices.audiooutput = id)),
  };
  // With the camera off the choice is only remembered; startVideo applies it.
  const background = backgroundPicker(async (b) => {
    if (video) await applyBackground(video, b);
  });

  const form = h(
    'form',
    { class: 'prejoin-form', attrs: { id: 'prejoin-form', novalidate: '' } },
    h('p', { class: 'eyebrow', text: t('prejoin.eyebrow') }),
    h('h1', { class: 'room-title', text: opts.room }),
    h('label', { class: 'field' }, h('span', { text: t('prejoin.name') }), nameInput),
    nameError,
    pickers.videoinput.element,
    background.element,
    pickers.audioinput.element,
    pickers.audiooutput.element,
    joinBtn,
    h(
      'button',
      {
        class: 'btn ghost small copy-link',
        attrs: { type: 'button' },
        on: {
          click: (ev) => {
            const b = ev.currentTarget as HTMLButtonElement;
            void navigator.clipboard
              ?.writeText(inviteLink(opts.room))
              .then(() => (b.lastChild!.textContent = t('prejoin.linkCopied')))
              .catch(() => (b.lastChild!.textContent = inviteLink(opts.room)));
          },
        },
      },
      icon('link'),
      h('span', { text: t('prejoin.copyLink') }),
    ),
    h('a', { class: 'btn ghost small', text: t('prejoin.signIn'), attrs: { href: `?login=1`, id: 'sign-in-link' } }),
  );

  mount(
    header(installButton(), languagePicker()),
    h(
      'main',
      { class: 'page prejoin', dataset: { page: 'prejoin' } },
      h(
        'section',
        { class: 'preview' },
        h('div', { class: 'preview-frame' }, videoEl, avatar, notice),
        h('div', { class: 'preview-controls' }, micBtn, meter, camBtn),
      ),
      form,
    ),
  );
  document.title = `${opts.room} · Confab`;

  function render() {
    const name = nameInput.value.trim();
    avatar.textContent = initials(name || '?');
    avatar.style.setProperty('--hue', String(hueFor(name)));
    const showVideo = camOn && !!video;
    videoEl.hidden = !showVideo;
    avatar.hidden = showVideo;
    const problem = camProblem ? problemText(camProblem, 'camera') : micProblem ? problemText(micProblem, 'microphone') : '';
    notice.textContent = problem;
    notice.hidden = !problem;
    micBtn.replaceChildren(icon(micOn ? 'mic' : 'micOff'));
    micBtn.classList.toggle('off', !micOn);
    micBtn.setAttribute('aria-pressed', String(!micOn));
    micBtn.setAttribute('aria-label', t(micOn ? 'prejoin.micTurnOff' : 'prejoin.micTurnOn'));
    micBtn.title = micProblem ? problemText(micProblem, 'microphone') : t(micOn ? 'prejoin.micOnTitle' : 'state.micOff');
    camBtn.replaceChildren(icon(camOn ? 'cam' : 'camOff'));
    camBtn.classList.toggle('off', !camOn);
    camBtn.setAttribute('aria-pressed', String(!camOn));
    camBtn.setAttribute('aria-label', t(camOn ? 'prejoin.camTurnOff' : 'prejoin.camTurnOn'));
    camBtn.title = camProblem ? problemText(camProblem, 'camera') : t(camOn ? 'prejoin.camOnTitle' : 'state.camOff');
    meter.hidden = !micOn || !audio;
  }

  async function startVideo() {
    try {
      video = await createLocalVideoTrack({ deviceId: devices.videoinput, resolution: captureFor(prefs.quality) });
      camProblem = undefined;
      devices.videoinput = video.mediaStreamTrack.getSettings().deviceId ?? devices.videoinput;
      if (done) return stop(video);
      video.attach(videoEl);
      if (prefs.background !== 'none') applyBackground(video, prefs.background).catch(background.failed);
    } catch (e) {
      camOn = false;
      camProblem = problemOf(e);
      throw e;
    } finally {
      render();
    }
  }

  async function startAudio() {
    try {
      audio = await createLocalAudioTrack(audioCapture(devices.audioinput));
      micProblem = undefined;
      devices.audioinput = audio.mediaStreamTrack.getSettings().deviceId ?? devices.audioinput;
      if (done) return stop(audio);
      startMeter(audio);
    } catch (e) {
      micOn = false;
      micProblem = problemOf(e);
      throw e;
    } finally {
      render();
    }
  }

  function startMeter(track: LocalAudioTrack) {
    stopMeter();
    let analyser: ReturnType<typeof createAudioAnalyser> | undefined;
    try {
      analyser = createAudioAnalyser(track, { cloneTrack: true });
    } catch {
      return; // no Web Audio: the meter is a nicety
    }
    let frame = 0;
    const tick = () => {
      // Square root: speech sits low on a linear scale and the bar would hardly move.
      const level = Math.min(1, Math.sqrt(analyser!.calculateVolume()) * 1.4);
      meterFill.style.width = `${Math.round(level * 100)}%`;
      meter.setAttribute('aria-valuenow', String(Math.round(level * 100)));
      frame = requestAnimationFrame(tick);
    };
    frame = requestAnimationFrame(tick);
    stopMeter = () => {
      cancelAnimationFrame(frame);
      void analyser?.cleanup();
      meterFill.style.width = '0%';
      stopMeter = () => {};
    };
  }

  function stop(track: LocalVideoTrack | LocalAudioTrack | undefined) {
    if (!track) return;
    track.detach();
    track.stop();
  }

  async function switchDevice(kind: 'videoinput' | 'audioinput', id: string) {
    devices[kind] = id;
    const track = kind === 'videoinput' ? video : audio;
    if (!track) return;
    await track.restartTrack({ deviceId: { exact: id } }).catch(() => {});
    if (kind === 'audioinput' && audio) startMeter(audio);
  }

  /** Asks for camera and microphone together, so the browser shows one permission prompt. */
  async function acquire() {
    applyServerSettings(await settingsFor(opts.room));
    const results = await Promise.allSettled([camOn ? startVideo() : undefined, micOn ? startAudio() : undefined]);
    const camBlocked = camProblem === 'blocked';
    const micBlocked = micProblem === 'blocked';
    if ((camBlocked || micBlocked) && results.some((r) => r.status === 'rejected')) {
      done = true;
      stopAll();
      permissionPage(
        camBlocked && micBlocked ? 'both' : camBlocked ? 'camera' : 'microphone',
        () => prejoinPage({ ...opts, withoutDevices: false }),
        () => prejoinPage({ ...opts, withoutDevices: true }),
      );
      return;
    }
    await Promise.all([pickers.videoinput.refresh(), pickers.audioinput.refresh(), pickers.audiooutput.refresh()]);
  }

  function stopAll() {
    stopMeter();
    stop(video);
    stop(audio);
    video = audio = undefined;
  }

  camBtn.addEventListener('click', async () => {
    camBtn.disabled = true;
    try {
      if (camOn) {
        camOn = false;
        stop(video);
        video = undefined;
      } else {
        camOn = true;
        await startVideo();
        await pickers.videoinput.refresh();
      }
    } catch {
      // startVideo recorded the problem; render shows it
    } finally {
      camBtn.disabled = false;
      render();
    }
  });

  micBtn.addEventListener('click', async () => {
    micBtn.disabled = true;
    try {
      if (micOn) {
        micOn = false;
        stopMeter();
        stop(audio);
        audio = undefined;
      } else {
        micOn = true;
        await startAudio();
        await pickers.audioinput.refresh();
      }
    } catch {
      // startAudio recorded the problem
    } finally {
      micBtn.disabled = false;
      render();
    }
  });

  nameInput.addEventListener('input', () => {
    nameError.hidden = true;
    render();
  });

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = nameInput.value.trim();
    if (!name) {
      nameError.textContent = t('prejoin.nameNeeded');
      nameError.hidden = false;
      nameInput.focus();
      return;
    }
    prefs.name = name;
    done = true;
    stopMeter();
    video?.detach();
    const result: PrejoinResult = {
      name,
      video: camOn ? video : undefined,
      audio: micOn ? audio : undefined,
      devices,
    };
    opts.onJoin(result);
  });

  render();
  if (!nameInput.value) nameInput.focus();
  else joinBtn.focus();
  if (camOn || micOn) void acquire();
  else void Promise.all([pickers.videoinput.refresh(), pickers.audioinput.refresh(), pickers.audiooutput.refresh()]);
}
