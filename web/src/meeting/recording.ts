// Meeting recordings and live streams: moderators whose token allows it record the whole meeting,
// or stream it over RTMP as Jitsi's "Start live stream" does, through the server's Egress API
// (LiveKit's, as server SDKs call it) and list what was recorded; everyone sees when either runs.
// The server checks the token's `roomRecord` grant on every call, so hiding the controls from
// others is a convenience, not the guard.

import { type Key, locales, t } from '../i18n';
import { errorText, h } from '../util';
import { dialog } from './dialogs';
import { twirp } from './moderation';

const statusWords = {
  EGRESS_STARTING: 'recording.status.starting',
  EGRESS_ACTIVE: 'recording.status.active',
  EGRESS_ENDING: 'recording.status.ending',
  EGRESS_COMPLETE: 'recording.status.complete',
  EGRESS_FAILED: 'recording.status.failed',
  EGRESS_ABORTED: 'recording.status.aborted',
  EGRESS_LIMIT_REACHED: 'recording.status.limit',
} satisfies Record<string, Key>;

type EgressStatus = keyof typeof statusWords;

const streamWords = {
  ACTIVE: 'stream.status.live',
  FINISHED: 'stream.status.ended',
  FAILED: 'recording.status.failed',
} satisfies Record<string, Key>;

type StreamStatus = keyof typeof streamWords;

/** A file of a recording; times in Unix nanoseconds, sizes in bytes, all as strings. */
interface FileInfo {
  filename?: string;
  /** An http(s) URL once uploaded to object storage, else a path on the server. */
  location?: string;
  size?: string;
  duration?: string;
}

/** One destination of a live stream, as FileInfo is one file of a recording; a missing `status` is ACTIVE. */
interface StreamInfo {
  /** The address with its stream key hidden by the server, as in `rtmp://host/app/{key}`. */
  url?: string;
  status?: StreamStatus;
  error?: string;
  duration?: string;
}

/** The request of a job on the whole meeting, as far as it tells a recording from a live stream. */
interface RoomCompositeRequest {
  fileOutputs?: unknown[];
  streamOutputs?: { urls?: string[] }[];
}

/**
 * LiveKit's EgressInfo as protobuf JSON, which leaves out every field at its default: a missing
 * `status` is EGRESS_STARTING, a missing `error` is none.
 */
export interface EgressInfo {
  egressId: string;
  status?: EgressStatus;
  startedAt?: string;
  updatedAt?: string;
  error?: string;
  details?: string;
  /** The upload failed and the file stayed on the server; `details` says why. */
  backupStorageUsed?: boolean;
  fileResults?: FileInfo[];
  streamResults?: StreamInfo[];
  /** Present on recordings and live streams of the whole meeting, as opposed to single tracks. */
  roomComposite?: RoomCompositeRequest;
}

/** Which kinds of job on the whole meeting run now. */
export interface Running {
  recording: boolean;
  liveStream: boolean;
}

/** Whether the session token lets its holder record once they moderate (its `video.roomRecord`). */
export function tokenMayRecord(token: string): boolean {
  try {
    // atob gives bytes, not UTF-8 text: a name may come out garbled, the boolean cannot.
    const payload = JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))) as { video?: { roomRecord?: unknown } };
    return payload.video?.roomRecord === true;
  } catch {
    return false;
  }
}

function statusOf(r: EgressInfo): EgressStatus {
  return r.status ?? 'EGRESS_STARTING';
}

function isRunning(r: EgressInfo): boolean {
  return ['EGRESS_STARTING', 'EGRESS_ACTIVE'].includes(statusOf(r));
}

function streamsLive(r: EgressInfo): boolean {
  return !!r.roomComposite?.streamOutputs?.length;
}

/**
 * Whatever on the whole meeting does not only stream writes files: a job without either list came
 * through the single output older server SDKs send. A job with both is a recording and a live stream.
 */
function recordsFiles(r: EgressInfo): boolean {
  return !!r.roomComposite && (!!r.roomComposite.fileOutputs?.length || !streamsLive(r));
}

export class RecordingApi {
  constructor(
    private readonly token: string,
    private readonly room: string,
  ) {}

  private call(method: string, body: Record<string, unknown>): Promise<unknown> {
    return twirp('livekit.Egress', method, this.token, body);
  }

  private async startComposite(request: Record<string, unknown>): Promise<EgressInfo> {
    return (await this.call('StartRoomCompositeEgress', { roomName: this.room, ...request })) as EgressInfo;
  }

  /** Records the meeting as tile view shows it, to one MP4. */
  start(): Promise<EgressInfo> {
    return this.startComposite({ layout: 'grid', fileOutputs: [{ fileType: 'MP4' }] });
  }

  /** Streams the meeting to `url` (rtmp:// or rtmps://) as stage view shows it, the way Jibri streams Jitsi. */
  startLiveStream(url: string): Promise<EgressInfo> {
    return this.startComposite({ layout: 'speaker', streamOutputs: [{ protocol: 'RTMP', urls: [url] }] });
  }

  /** This meeting's recordings and live streams; `active`: only those not finished yet. */
  async list(active = false): Promise<EgressInfo[]> {
    const data = (await this.call('ListEgress', { roomName: this.room, active })) as { items?: EgressInfo[] };
    return data.items ?? [];
  }

  /** room.isRecording is true for either kind, so only this list tells them apart. */
  async running(): Promise<Running> {
    const jobs = (await this.list(true)).filter(isRunning);
    return { recording: jobs.some(recordsFiles), liveStream: jobs.some(streamsLive) };
  }

  /** Stops the meeting's recording; single-track recordings a server SDK started in the room go on. */
  stop(): Promise<void> {
    return this.stopRunning(recordsFiles);
  }

  stopLiveStream(): Promise<void> {
    return this.stopRunning(streamsLive);
  }

  private async stopRunning(kind: (r: EgressInfo) => boolean): Promise<void> {
    const running = (await this.list(true)).filter((r) => kind(r) && isRunning(r));
    if (!running.length) throw new Error(t('recording.noneRunning'));
    await Promise.all(running.map((r) => this.call('StopEgress', { egressId: r.egressId })));
  }
}

/** The red dot everyone sees while the meeting is recorded; the meeting shows and hides it. */
export function recordingIndicator(): HTMLElement {
  const text = t('recording.on');
  const el = h('span', { class: 'rec-indicator', title: text, attrs: { id: 'recording-indicator', role: 'img', 'aria-label': text } }, h('span', { class: 'rec-dot' }), t('recording.badge'));
  el.hidden = true;
  return el;
}

/** Asks for the stream URL and goes live with it; the dialog stays open with the server's reason if it refuses. */
export function liveStreamDialog(api: RecordingApi, onLive: () => void): { el: HTMLDialogElement; open: () => void } {
  const url = h('input', {
    attrs: {
      id: 'livestream-url',
      type: 'text',
      inputmode: 'url',
      autocomplete: 'off',
      spellcheck: 'false',
      placeholder: t('stream.placeholder'),
      'aria-describedby': 'livestream-help',
    },
  });
  const error = h('p', { class: 'field-error', attrs: { role: 'alert' } });
  const start = h('button', { class: 'btn primary', text: t('stream.goLive'), attrs: { type: 'submit', id: 'livestream-start' } });
  const showError = (text: string) => {
    error.textContent = text;
    error.hidden = false;
  };
  const form = h(
    'form',
    { class: 'dialog-form' },
    h('label', { class: 'field' }, h('span', { text: t('stream.url') }), url),
    h('p', {
      class: 'hint',
      text: t('stream.help'),
      attrs: { id: 'livestream-help' },
    }),
    error,
    h(
      'div',
      { class: 'dialog-actions' },
      h('button', { class: 'btn ghost', text: t('common.cancel'), attrs: { type: 'button' }, on: { click: () => d.close() } }),
      start,
    ),
  );
  const d = dialog('livestream-dialog', t('stream.start'), form);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const target = url.value.trim();
    if (!/^rtmps?:\/\//i.test(target)) {
      showError(t('stream.badUrl'));
      url.focus();
      return;
    }
    start.disabled = true;
    try {
      await api.startLiveStream(target);
      d.close();
      onLive();
    } catch (e) {
      showError(errorText(e));
    } finally {
      start.disabled = false;
    }
  });
  url.addEventListener('input', () => (error.hidden = true));
  // The stream key is a secret: it does not wait in the page for the next opening.
  d.addEventListener('close', () => (url.value = ''));
  return {
    el: d,
    open() {
      error.hidden = true;
      d.showModal();
      url.focus();
    },
  };
}

/** This meeting's recordings and live streams, newest first, with where to get each file and where each stream went. */
export function recordingsDialog(api: RecordingApi): { el: HTMLDialogElement; open: () => void } {
  const status = h('p', { class: 'hint', attrs: { role: 'status' } });
  const list = h('ul', { class: 'recordings' });
  const d = dialog('recordings-dialog', t('recording.list'), status, list);
  return {
    el: d,
    open() {
      status.textContent = t('recording.loading');
      list.replaceChildren();
      d.showModal();
      // Shown in the dialog rather than as a toast, which the dialog's backdrop would cover.
      api.list().then(
        (items) => {
          status.textContent = items.length ? '' : t('recording.none');
          list.replaceChildren(...items.sort((a, b) => startOf(b) - startOf(a)).map(recordingEntry));
        },
        (e: unknown) => {
          status.textContent = t('recording.listFailed', { error: errorText(e) });
        },
      );
    },
  };
}

/** A recording that never got going has no start time; it sorts by its last change instead. */
function startOf(r: EgressInfo): number {
  return Number(r.startedAt || r.updatedAt || 0);
}

function recordingEntry(r: EgressInfo): HTMLLIElement {
  const status = statusOf(r);
  const startedMs = Number(r.startedAt ?? 0) / 1e6;
  return h(
    'li',
    { class: 'recording', dataset: { egressId: r.egressId, status } },
    h(
      'div',
      { class: 'recording-head' },
      h('span', { class: 'recording-status', text: status === 'EGRESS_ACTIVE' && !recordsFiles(r) ? t(streamWords.ACTIVE) : word(statusWords, status) }),
      startedMs ? h('span', { class: 'hint', text: new Date(startedMs).toLocaleString(locales()) }) : null,
    ),
    ...(r.fileResults ?? []).map((f) =>
      h('div', { class: 'recording-file' }, fileLocation(f), h('span', { class: 'hint', text: `${minutesSeconds(f.duration)} · ${megabytes(f.size)}` })),
    ),
    ...(r.streamResults ?? []).flatMap(streamEntry),
    r.error ? h('p', { class: 'recording-error', text: r.error }) : null,
    r.backupStorageUsed && r.details ? h('p', { class: 'hint', text: r.details }) : null,
  );
}

/** A link to an uploaded file; a file kept on the server can only be named, for whoever runs it. */
function fileLocation(f: FileInfo): HTMLElement | null {
  const where = f.location || f.filename;
  if (!where) return null;
  if (/^https?:\/\//i.test(where)) return h('a', { text: f.filename || where, attrs: { href: where, target: '_blank', rel: 'noopener' } });
  return h('code', { text: where });
}

function streamEntry(s: StreamInfo): (HTMLElement | null)[] {
  const status = s.status ?? 'ACTIVE';
  return [
    h('div', { class: 'recording-stream' }, h('code', { text: s.url ?? '' }), h('span', { class: 'hint', text: `${word(streamWords, status)} · ${minutesSeconds(s.duration)}` })),
    status === 'FAILED' && s.error ? h('p', { class: 'recording-error', text: s.error }) : null,
  ];
}

/** A status in words; one the server added after this app was built shows as it is. */
function word<S extends string>(words: Record<S, Key>, status: S): string {
  return Object.hasOwn(words, status) ? t(words[status]) : status;
}

function minutesSeconds(ns: string | undefined): string {
  const secs = Math.round(Number(ns ?? 0) / 1e9);
  return `${String(Math.floor(secs / 60)).padStart(2, '0')}:${String(secs % 60).padStart(2, '0')}`;
}

function megabytes(bytes: string | undefined): string {
  const mb = Number(bytes ?? 0) / 1e6;
  return `${mb.toLocaleString(locales(), { minimumFractionDigits: 1, maximumFractionDigits: 1, useGrouping: false })} MB`;
}
