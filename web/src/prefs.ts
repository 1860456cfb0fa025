// What the app remembers between visits: display name, chosen devices, video quality.

import { VideoPresets43, VideoQuality } from 'livekit-client';
import { params, store } from './util';

export type Quality = 'low' | 'standard' | 'high';
export type DeviceKind = 'videoinput' | 'audioinput' | 'audiooutput';

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
};

/**
 * Camera capture size for a quality. 4:3 like the simulcast layers (160×120, 320×240) below it;
 * livekit-client adds the third layer only from a 960-pixel side, so "high" is the one with three.
 */
export function captureFor(q: Quality): { width: number; height: number } {
  const m = /^(\d{2,4})x(\d{2,4})$/.exec(params.get('capture') ?? '');
  if (m) return { width: Number(m[1]), height: Number(m[2]) };
  if (q === 'low') return VideoPresets43.h240.resolution;
  if (q === 'high') return VideoPresets43.h720.resolution;
  return VideoPresets43.h480.resolution;
}

/** The highest layer asked for on subscriptions; adaptive stream may still ask for less. */
export function receiveQualityFor(q: Quality): VideoQuality {
  if (q === 'low') return VideoQuality.LOW;
  if (q === 'high') return VideoQuality.HIGH;
  return VideoQuality.MEDIUM;
}

export const qualityLabels: Record<Quality, string> = {
  low: 'Low (saves bandwidth)',
  standard: 'Standard',
  high: 'High definition',
};
