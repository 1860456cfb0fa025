// What a recorded file holds, as a person would find it: ffprobe's view of its streams, the
// frames ffmpeg decodes from it (not black, not frozen), the tone its audio carries.

import { execFileSync } from 'node:child_process';

const run = (cmd, args) => execFileSync(cmd, args, { maxBuffer: 1 << 30, stdio: ['ignore', 'pipe', 'pipe'] });

/** ffprobe's streams and format of `file`. */
export function probe(file) {
  return JSON.parse(run('ffprobe', ['-v', 'error', '-show_streams', '-show_format', '-of', 'json', file]).toString());
}

/** Decoder errors ffmpeg reports while decoding all of `file` (empty when it decodes cleanly). */
export function decodeErrors(file) {
  try {
    return run('ffmpeg', ['-v', 'error', '-i', file, '-f', 'null', '-']).toString() + '';
  } catch (e) {
    return `${e.stderr ?? e}`;
  }
}

/**
 * The video of `file` decoded and shrunk to 32x18 grey: per frame its mean brightness (0..255)
 * and its mean absolute difference from the previous frame.
 */
export function videoFrames(file) {
  const w = 32;
  const h = 18;
  const raw = run('ffmpeg', ['-v', 'error', '-i', file, '-an', '-fps_mode', 'passthrough', '-vf', `scale=${w}:${h},format=gray`, '-f', 'rawvideo', '-']);
  const size = w * h;
  const frames = [];
  let prev = null;
  for (let off = 0; off + size <= raw.length; off += size) {
    const f = raw.subarray(off, off + size);
    let sum = 0;
    let diff = 0;
    for (let i = 0; i < size; i++) {
      sum += f[i];
      if (prev) diff += Math.abs(f[i] - prev[i]);
    }
    frames.push({ mean: sum / size, change: prev ? diff / size : null });
    prev = f;
  }
  return frames;
}

/** The audio of `file` as 48 kHz mono samples. */
export function audioSamples(file) {
  const raw = run('ffmpeg', ['-v', 'error', '-i', file, '-vn', '-ac', '1', '-ar', '48000', '-f', 'f32le', '-']);
  return new Float32Array(raw.buffer, raw.byteOffset, Math.floor(raw.length / 4));
}

/**
 * The strongest frequency (Hz, 5 Hz steps from 100 to 2000) in `samples[from, from + 0.5 s)`,
 * and the stretch's RMS level.
 */
export function dominantTone(samples, from = 0, rate = 48_000) {
  const n = Math.min(rate / 2, samples.length - from);
  let rms = 0;
  for (let i = 0; i < n; i++) rms += samples[from + i] ** 2;
  rms = Math.sqrt(rms / Math.max(1, n));
  let best = { freq: null, power: 0 };
  for (let f = 100; f <= 2000; f += 5) {
    let re = 0;
    let im = 0;
    const w = (2 * Math.PI * f) / rate;
    for (let i = 0; i < n; i++) {
      re += samples[from + i] * Math.cos(w * i);
      im += samples[from + i] * Math.sin(w * i);
    }
    const power = re * re + im * im;
    if (power > best.power) best = { freq: f, power };
  }
  return { freq: best.freq, rms };
}

/** The time (s) of the last packet of `file`'s first stream of `kind` ('v' or 'a'), as a player reads it. */
export function lastPacketTime(file, kind = 'v') {
  const out = run('ffprobe', ['-v', 'error', '-select_streams', `${kind}:0`, '-show_entries', 'packet=pts_time', '-of', 'csv=p=0', file]).toString();
  const times = out.split('\n').map(Number).filter((x) => Number.isFinite(x) && x > 0);
  return times.length ? Math.max(...times) : 0;
}

/**
 * The video of `file` decoded and shrunk to `w`x`h` grey, every frame kept (no duplicates or drops
 * for a constant rate): an array of Uint8Array frames.
 */
export function greyFrames(file, w = 64, h = 36) {
  const raw = run('ffmpeg', ['-v', 'error', '-i', file, '-an', '-fps_mode', 'passthrough', '-vf', `scale=${w}:${h},format=gray`, '-f', 'rawvideo', '-']);
  const frames = [];
  for (let off = 0; off + w * h <= raw.length; off += w * h) frames.push(raw.subarray(off, off + w * h));
  return frames;
}

/** The mean brightness of `frame` (w wide) inside [x0, x1) × [y0, y1). */
export function regionMean(frame, w, [x0, y0, x1, y1]) {
  let sum = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) sum += frame[y * w + x];
  return sum / ((x1 - x0) * (y1 - y0));
}

/** The power of `freq` Hz in `samples[from, from + n)` (a single DFT bin). */
export function tonePower(samples, freq, from = 0, n = 24_000, rate = 48_000) {
  let re = 0;
  let im = 0;
  const w = (2 * Math.PI * freq) / rate;
  for (let i = 0; i < n && from + i < samples.length; i++) {
    re += samples[from + i] * Math.cos(w * i);
    im += samples[from + i] * Math.sin(w * i);
  }
  return (re * re + im * im) / (n * n);
}
