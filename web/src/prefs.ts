// What the app remembers between visits: display name, chosen devices, video quality, language,
// the camera's background and the microphone's noise suppression.

import { type AudioCaptureOptions, VideoPresets43, VideoQuality } from 'livekit-client';
import type { ServerSettings } from './api';
import { params, store } from './util';

export type Quality = 'low' | 'standard' | 'high';
export type DeviceKind = 'videoinput' | 'audioinput' | 'audiooutput';
/** The camera's background effects (background.ts): none, two blurs, and the pictures in public/backgrounds/. */
export const BACKGROUNDS = ['none', 'blur-slight', 'blur-strong', 'dusk', 'lagoon', 'paper'] as const;
export type Background = (typeof BACKGROUNDS)[number];

export const prefs = {
  get name(): string {
    return store.get('name') ?? '';
  },
  set name(v: string) {
    store.set('name', v);
  },
  device(kind: DeviceKind): string | undefined {
    return store.get(`device.${kind}`) ?? undefined;
  },
  setDevice(kind: DeviceKind, id: string) {
    store.set(`device.${kind}`, id);
  },
  get quality(): Quality {
    const q = store.get('quality');
    return q === 'low' || q === 'high' ? q : 'standard';
  },
  set quality(q: Quality) {
    store.set('quality', q);
  },
  /** A language code from the settings; '' follows the browser. */
  get language(): string {
    return store.get('language') ?? '';
  },
  set language(v: string) {
    store.set('language', v || null);
  },
  get background(): Background {
    const b = store.get('background');
    return BACKGROUNDS.find((x) => x === b) ?? 'none';
  },
  set background(b: Background) {
    store.set('background', b === 'none' ? null : b);
  },
  /** The person's own choice; undefined until they make one, and the operator's audio settings decide. */
  get noiseSuppression(): boolean | undefined {
    const v = store.get('noiseSuppression');
    return v === null ? undefined : v === 'on';
  },
  set noiseSuppression(on: boolean) {
    store.set('noiseSuppression', on ? 'on' : 'off');
  },
};

let videoLimits: ServerSettings['video'] | undefined;
let audioSettings: ServerSettings['audio'] | undefined;

/** The operator's settings for this meeting: they bound the capture sizes and set audio processing. */
export function applyServerSettings(s: ServerSettings) {
  videoLimits = s.video;
  audioSettings = s.audio;
}

/**
 * Camera capture size for a quality. 4:3 like the simulcast layers (160×120, 320×240) below it;
 * livekit-client adds the third layer only from a 960-pixel side. With the operator's settings,
 * "standard" is their ideal height, "high" their maximum and "low" 240 within their minimum.
 */
export function captureFor(q: Quality): { width: number; height: number } {
  const m = /^(\d{2,4})x(\d{2,4})$/.exec(params.get('capture') ?? '');
  if (m) return { width: Number(m[1]), height: Number(m[2]) };
  if (videoLimits) {
    const v = videoLimits;
    const height = q === 'low' ? Math.max(v.minHeight, Math.min(240, v.maxHeight)) : q === 'high' ? v.maxHeight : v.idealHeight;
    return { width: 2 * Math.round((height * 4) / 3 / 2), height };
  }
  if (q === 'low') return VideoPresets43.h240.resolution;
  if (q === 'high') return VideoPresets43.h720.resolution;
  return VideoPresets43.h480.resolution;
}

/**
 * Microphone constraints: the browser's echo cancellation, noise suppression and gain control unless
 * the operator turned them off. Noise suppression is the person's to choose in the settings, and
 * their choice outweighs the operator's default for it.
 */
export function audioCapture(deviceId: string | undefined): AudioCaptureOptions {
  const a = audioSettings;
  return {
    deviceId,
    echoCancellation: !(a?.disableAp || a?.disableAec),
    noiseSuppression: prefs.noiseSuppression ?? !(a?.disableAp || a?.disableNs),
    autoGainControl: !(a?.disableAp || a?.disableAgc),
    channelCount: a?.stereo ? 2 : 1,
  };
}

/** The highest layer asked for on subscriptions; adaptive stream may still ask for less. */
export function receiveQualityFor(q: Quality): VideoQuality {
  if (q === 'low') return VideoQuality.LOW;
  if (q === 'high') return VideoQuality.HIGH;
  return VideoQuality.MEDIUM;
}
