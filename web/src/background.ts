// The camera's background: blurred, or a picture behind the person (Jitsi's "Select background"),
// by LiveKit's track processor, which finds the person in each frame with MediaPipe's selfie
// segmenter. The processor is a separate chunk, and it fetches MediaPipe's wasm (9 MB) and the
// model only when someone turns an effect on; all of it comes from this server
// (scripts/mediapipe-plugin.mjs), never from a CDN.

import type { BackgroundProcessorWrapper, SwitchBackgroundProcessorOptions } from '@livekit/track-processors';
import type { LocalVideoTrack } from 'livekit-client';
import { type Key, t } from './i18n';
import { type Background, BACKGROUNDS, prefs } from './prefs';
import { errorText, h } from './util';

const labels: Record<Background, Key> = {
  none: 'background.none',
  'blur-slight': 'background.blurSlight',
  'blur-strong': 'background.blurStrong',
  dusk: 'background.dusk',
  lagoon: 'background.lagoon',
  paper: 'background.paper',
};

/** Our processor's name on the track, so one set by someone else is replaced, not reconfigured. */
const NAME = 'confab-background';

// Radii in the frame's pixels; the processor blurs a quarter-size copy, in steps of four.
function effect(b: Background): SwitchBackgroundProcessorOptions {
  if (b === 'none') return { mode: 'disabled' };
  if (b === 'blur-slight') return { mode: 'background-blur', blurRadius: 6 };
  if (b === 'blur-strong') return { mode: 'background-blur', blurRadius: 20 };
  return { mode: 'virtual-background', imagePath: `/backgrounds/${b}.jpg` };
}

/**
 * What the processor needs, checked without loading it: it draws with WebGL 2 on an
 * OffscreenCanvas and passes VideoFrames.
 */
export function backgroundsSupported(): boolean {
  return typeof VideoFrame !== 'undefined' && typeof OffscreenCanvas !== 'undefined' && typeof WebGL2RenderingContext !== 'undefined';
}

async function apply(track: LocalVideoTrack, b: Background) {
  // A processor cannot start on a camera that is off; the meeting applies the choice when it is
  // back on (on unmute), the prejoin screen with the camera's new track.
  if (track.isMuted || track.mediaStreamTrack.readyState === 'ended') return;
  const current = track.getProcessor();
  if (b === 'none') {
    if (current) await track.stopProcessor();
    return;
  }
  if (current?.name === NAME) {
    await (current as BackgroundProcessorWrapper).switchTo(effect(b));
    return;
  }
  const { BackgroundProcessor } = await import('@livekit/track-processors');
  const processor = BackgroundProcessor(
    {
      ...effect(b),
      assetPaths: { tasksVisionFileSet: __CONFAB_MEDIAPIPE__, modelAssetPath: `${__CONFAB_MEDIAPIPE__}/selfie_segmenter.tflite` },
    },
    NAME,
  );
  await track.setProcessor(processor);
}

const wanted = new WeakMap<LocalVideoTrack, Background>();
const pending = new WeakMap<LocalVideoTrack, Promise<void>>();

/**
 * Puts background `b` on the camera track, unless the camera is off; 'none' takes the processor
 * off. Changes to one track
 * run one after another, and one that a newer change overtook while waiting is skipped: the first
 * effect takes seconds to load, and people click on meanwhile. Rejects if the processor fails.
 */
export function applyBackground(track: LocalVideoTrack, b: Background): Promise<void> {
  wanted.set(track, b);
  const run = (pending.get(track) ?? Promise.resolve())
    .catch(() => {})
    .then(() => (wanted.get(track) === b ? apply(track, b) : undefined));
  pending.set(track, run);
  return run;
}

/**
 * The labelled background <select> of the prejoin screen and the settings dialog. A pick is
 * remembered and handed to `onPick`, which applies it. `failed` shows why an effect did not start
 * and goes back to none, so the next join does not fail the same way.
 */
export function backgroundPicker(onPick: (b: Background) => Promise<void>) {
  const label = t('background.label');
  const select = h('select', { attrs: { id: 'background', 'aria-label': label } });
  for (const b of BACKGROUNDS) {
    const o = h('option', { text: t(labels[b]) });
    o.value = b;
    select.append(o);
  }
  const status = h('p', { class: 'hint', attrs: { role: 'status', id: 'background-status' } });
  const element = h('div', {}, h('label', { class: 'field' }, h('span', { text: label }), select), status);
  element.hidden = !backgroundsSupported();
  const refresh = () => (select.value = prefs.background);
  const failed = (e: unknown) => {
    prefs.background = 'none';
    select.value = 'none';
    status.textContent = t('background.failed', { error: errorText(e) });
  };
  refresh();

  select.addEventListener('change', async () => {
    const b = select.value as Background;
    prefs.background = b;
    status.textContent = b === 'none' ? '' : t('background.starting');
    try {
      await onPick(b);
      if (prefs.background === b) status.textContent = '';
    } catch (e) {
      failed(e);
    }
  });
  return { element, select, refresh, failed };
}
