// Talking to the Confab server before the meeting: the join endpoint that hands out tokens in open
// mode, and the signalling URL derived from where the app was loaded from.

import { t } from './i18n';

/**
 * Why joining failed, in the terms the failure pages use. `waiting`: the room has no host yet;
 * `lobby`: knocked, a moderator decides (`ticket`); `password`: the room needs one; `locked`.
 */
export type JoinFailure = 'unreachable' | 'refused' | 'waiting' | 'lobby' | 'password' | 'locked' | 'other';

export class JoinError extends Error {
  constructor(
    readonly kind: JoinFailure,
    message: string,
    readonly ticket?: string,
  ) {
    super(message);
    this.name = 'JoinError';
  }
}

/** The app is served by the server it talks to, so signalling lives on the same host. */
export function wsUrl(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
}

/** A session token for `room`: anonymous with a display name, or in exchange for a Jitsi-format token (`jwt`). */
export async function fetchToken(room: string, name: string, jwt?: string, password?: string): Promise<{ token: string; identity: string }> {
  let res: Response;
  try {
    res = await fetch('/api/join', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ room, name, ...(jwt ? { jwt } : {}), ...(password ? { password } : {}) }),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (e) {
    // fetch only rejects when no HTTP answer came back at all: offline, server down, DNS.
    throw new JoinError('unreachable', e instanceof Error ? e.message : String(e));
  }
  const body: unknown = await res.json().catch(() => undefined);
  const field = (key: string): string | undefined => {
    const v = body && typeof body === 'object' ? (body as Record<string, unknown>)[key] : undefined;
    return typeof v === 'string' ? v : undefined;
  };
  const flagged = (key: string) => !!body && typeof body === 'object' && (body as Record<string, unknown>)[key] === true;
  const ticket = field('ticket');
  if (res.status === 202 && ticket) throw new JoinError('lobby', field('error') ?? 'Waiting in the lobby', ticket);
  if (flagged('password')) throw new JoinError('password', field('error') ?? 'This meeting needs a password');
  if (flagged('locked')) throw new JoinError('locked', field('error') ?? 'The meeting is locked');
  if (!res.ok) {
    // A proxy in front of a stopped server answers 502/503/504: for a person that is "unreachable".
    if (res.status >= 502 && res.status <= 504) throw new JoinError('unreachable', `HTTP ${res.status}`);
    if (res.status === 403 && flagged('waiting')) throw new JoinError('waiting', field('error') ?? 'Waiting for the host');
    throw new JoinError(res.status < 500 ? 'refused' : 'other', field('error') ?? `HTTP ${res.status}`);
  }
  const token = field('token');
  if (!token) throw new JoinError('other', t('failed.noToken'));
  return { token, identity: field('identity') ?? '' };
}

/** The operator's capture and encoding settings for a room (GET /api/settings). */
export interface ServerSettings {
  audio: {
    maxAverageBitrate: number | null;
    stereo: boolean;
    dtx: boolean;
    red: boolean;
    disableAp: boolean;
    disableAec: boolean;
    disableNs: boolean;
    disableAgc: boolean;
  };
  video: { idealHeight: number; maxHeight: number; minHeight: number; layerMaxBitrates: [number, number, number] };
  /** Preferred first: 'vp8' | 'h264'. */
  videoCodecs: string[];
  /** -1: every video. */
  lastN: number;
}

export const DEFAULT_SETTINGS: ServerSettings = {
  audio: { maxAverageBitrate: null, stereo: false, dtx: true, red: true, disableAp: false, disableAec: false, disableNs: false, disableAgc: false },
  video: { idealHeight: 720, maxHeight: 1080, minHeight: 180, layerMaxBitrates: [150_000, 500_000, 1_700_000] },
  videoCodecs: ['vp8', 'h264'],
  lastN: -1,
};

const settingsCache = new Map<string, Promise<ServerSettings>>();

/** Fetched once per room and page: the prejoin screen and the join both need them. */
export function settingsFor(room: string): Promise<ServerSettings> {
  let s = settingsCache.get(room);
  if (!s) {
    s = fetchSettings(room);
    settingsCache.set(room, s);
  }
  return s;
}

/** The settings, or the built-in defaults if the server cannot say (the meeting still works). */
async function fetchSettings(room: string): Promise<ServerSettings> {
  try {
    const res = await fetch(`/api/settings?room=${encodeURIComponent(room)}`, { signal: AbortSignal.timeout(5_000) });
    if (!res.ok) return DEFAULT_SETTINGS;
    const body = (await res.json()) as Partial<ServerSettings>;
    return {
      audio: { ...DEFAULT_SETTINGS.audio, ...body.audio },
      video: { ...DEFAULT_SETTINGS.video, ...body.video },
      videoCodecs: Array.isArray(body.videoCodecs) && body.videoCodecs.length > 0 ? body.videoCodecs : DEFAULT_SETTINGS.videoCodecs,
      lastN: typeof body.lastN === 'number' ? body.lastN : -1,
    };
  } catch {
    return DEFAULT_SETTINGS;
  }
}

export type Verdict = { status: 'waiting' } | { status: 'admitted'; token: string } | { status: 'denied'; reason?: string } | { status: 'gone' };

/** Asks (long poll, about 20 s) whether a moderator let this knock in. */
export async function waitInLobby(room: string, ticket: string, signal: AbortSignal): Promise<Verdict> {
  const res = await fetch('/api/lobby/wait', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ room, ticket }),
    signal,
  });
  if (res.status === 404) return { status: 'gone' };
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const body = (await res.json()) as { status?: string; token?: string; reason?: string };
  if (body.status === 'admitted' && body.token) return { status: 'admitted', token: body.token };
  if (body.status === 'denied') return { status: 'denied', reason: body.reason };
  return { status: 'waiting' };
}

export class SignInError extends Error {
  constructor(
    message: string,
    /** The account wants a one-time code (none or a wrong one was sent). */
    readonly otpRequired: boolean,
  ) {
    super(message);
    this.name = 'SignInError';
  }
}

/** Signs in with a username, password and (when the account has one) a one-time code. */
export async function signIn(room: string, username: string, password: string, otp: string): Promise<string> {
  const res = await fetch('/api/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ room, username, password, otp }),
    signal: AbortSignal.timeout(15_000),
  });
  const body = (await res.json().catch(() => ({}))) as { token?: unknown; error?: unknown; otpRequired?: unknown };
  if (res.ok && typeof body.token === 'string') return body.token;
  throw new SignInError(typeof body.error === 'string' ? body.error : `HTTP ${res.status}`, body.otpRequired === true);
}
