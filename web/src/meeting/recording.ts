// Meeting recordings: moderators whose token allows it record the whole meeting through the
// server's Egress API (LiveKit's, as server SDKs call it) and list what was recorded; everyone sees
// when a recording runs. The server checks the token's `roomRecord` grant on every call, so hiding
// the controls from others is a convenience, not the guard.

import { errorText, h } from '../util';
import { dialog } from './dialogs';
import { twirp } from './moderation';

const statusWords = {
  EGRESS_STARTING: 'Starting',
  EGRESS_ACTIVE: 'Recording',
  EGRESS_ENDING: 'Finishing',
  EGRESS_COMPLETE: 'Complete',
  EGRESS_FAILED: 'Failed',
  EGRESS_ABORTED: 'Aborted',
  EGRESS_LIMIT_REACHED: 'Stopped at the time limit',
};

type EgressStatus = keyof typeof statusWords;

/** A file of a recording; times in Unix nanoseconds, sizes in bytes, all as strings. */
interface FileInfo {
  filename?: string;
  /** An http(s) URL once uploaded to object storage, else a path on the server. */
  location?: string;
  size?: string;
  duration?: string;
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
  /** Present on recordings of the whole meeting, as opposed to single tracks. */
  roomComposite?: unknown;
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

export class RecordingApi {
  constructor(
    private readonly token: string,
    private readonly room: string,
  ) {}

  private call(method: string, body: Record<string, unknown>): Promise<unknown> {
    return twirp('livekit.Egress', method, this.token, body);
  }

  /** Records the meeting as tile view shows it, to one MP4. */
  async start(): Promise<EgressInfo> {
    return (await this.call('StartRoomCompositeEgress', { roomName: this.room, layout: 'grid', fileOutputs: [{ fileType: 'MP4' }] })) as EgressInfo;
  }

  /** This meeting's recordings; `active`: only those not finished yet. */
  async list(active = false): Promise<EgressInfo[]> {
    const data = (await this.call('ListEgress', { roomName: this.room, active })) as { items?: EgressInfo[] };
    return data.items ?? [];
  }

  /** Stops the meeting's recording; single-track recordings a server SDK started in the room go on. */
  async stop(): Promise<void> {
    const running = (await this.list(true)).filter((r) => r.roomComposite && ['EGRESS_STARTING', 'EGRESS_ACTIVE'].includes(statusOf(r)));
    if (!running.length) throw new Error('none is running');
    await Promise.all(running.map((r) => this.call('StopEgress', { egressId: r.egressId })));
  }
}

/** The red dot everyone sees while the meeting is recorded; the meeting shows and hides it. */
export function recordingIndicator(): HTMLElement {
  const text = 'This meeting is being recorded';
  const el = h('span', { class: 'rec-indicator', title: text, attrs: { id: 'recording-indicator', role: 'img', 'aria-label': text } }, h('span', { class: 'rec-dot' }), 'REC');
  el.hidden = true;
  return el;
}

/** This meeting's recordings, newest first, with where to get each file. */
export function recordingsDialog(api: RecordingApi): { el: HTMLDialogElement; open: () => void } {
  const status = h('p', { class: 'hint', attrs: { role: 'status' } });
  const list = h('ul', { class: 'recordings' });
  const d = dialog('recordings-dialog', 'Recordings', status, list);
  return {
    el: d,
    open() {
      status.textContent = 'Loading…';
      list.replaceChildren();
      d.showModal();
      // Shown in the dialog rather than as a toast, which the dialog's backdrop would cover.
      api.list().then(
        (items) => {
          status.textContent = items.length ? '' : 'This meeting has not been recorded yet.';
          list.replaceChildren(...items.sort((a, b) => startOf(b) - startOf(a)).map(recordingEntry));
        },
        (e: unknown) => {
          status.textContent = `Could not list the recordings: ${errorText(e)}`;
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
      h('span', { class: 'recording-status', text: statusWords[status] ?? status }),
      startedMs ? h('span', { class: 'hint', text: new Date(startedMs).toLocaleString() }) : null,
    ),
    ...(r.fileResults ?? []).map((f) =>
      h('div', { class: 'recording-file' }, fileLocation(f), h('span', { class: 'hint', text: `${minutesSeconds(f.duration)} · ${megabytes(f.size)}` })),
    ),
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

function minutesSeconds(ns: string | undefined): string {
  const secs = Math.round(Number(ns ?? 0) / 1e9);
  return `${String(Math.floor(secs / 60)).padStart(2, '0')}:${String(secs % 60).padStart(2, '0')}`;
}

function megabytes(bytes: string | undefined): string {
  return `${(Number(bytes ?? 0) / 1e6).toFixed(1)} MB`;
}
