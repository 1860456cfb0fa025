// Whether a tile's <video> has a picture to show. A published, subscribed, unmuted track says
// nothing about frames: an SDK publisher may send none, the first ones take a moment after joining,
// and a publisher whose network dies stays published with its last frame frozen on screen.

/** 'waiting': no frame since frames became due; 'stalled': none for STALL_MS. */
export type Flow = 'waiting' | 'live' | 'stalled';

/** A camera sends several frames a second, so this long without one means they stopped. */
const STALL_MS = 3000;

// Frame callbacks do not run while the page is hidden: time spent hidden is no stall.
let shownAt = 0;
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) shownAt = performance.now();
});

export class FrameWatch {
  private current: Flow = 'waiting';
  private since = 0;
  private lastFrame = -Infinity;
  private callback: number | undefined;
  private timer: number | undefined;

  /** `stalls`: whether a gap in frames counts; a shared screen that does not change sends none. */
  constructor(
    private readonly video: HTMLVideoElement,
    private readonly stalls: boolean,
    private readonly onChange: () => void,
  ) {}

  get flow(): Flow {
    return this.current;
  }

  /** Frames are due from now on (a new track, or one unmuted or resumed); `onFirst` runs at the first. */
  start(onFirst?: () => void) {
    this.stop();
    // Without frame callbacks (Firefox before 132) there is nothing to go by: trust the track.
    if (!('requestVideoFrameCallback' in this.video)) return this.set('live');
    this.since = performance.now();
    this.set('waiting');
    // Chromium calls back for each new frame even while the element is transparent or hidden.
    const frame = () => {
      this.lastFrame = performance.now();
      if (this.current !== 'live') {
        onFirst?.();
        onFirst = undefined;
        this.set('live');
      }
      this.callback = this.video.requestVideoFrameCallback(frame);
    };
    this.callback = this.video.requestVideoFrameCallback(frame);
    if (this.stalls) this.timer = window.setInterval(() => this.check(), 1000);
  }

  stop() {
    if (this.callback !== undefined) this.video.cancelVideoFrameCallback(this.callback);
    window.clearInterval(this.timer);
    this.callback = this.timer = undefined;
  }

  private check() {
    if (document.hidden || this.current === 'stalled') return;
    if (performance.now() - Math.max(this.lastFrame, this.since, shownAt) >= STALL_MS) this.set('stalled');
  }

  private set(flow: Flow) {
    if (flow === this.current) return;
    this.current = flow;
    this.onChange();
  }
}
