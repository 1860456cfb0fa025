// Talking to the Confab server before the meeting: the join endpoint that hands out tokens in open
// mode, and the signalling URL derived from where the app was loaded from.

/** Why joining failed, in the terms the failure pages use. */
export type JoinFailure = 'unreachable' | 'refused' | 'other';

export class JoinError extends Error {
  constructor(
    readonly kind: JoinFailure,
    message: string,
  ) {
    super(message);
    this.name = 'JoinError';
  }
}

/** The app is served by the server it talks to, so signalling lives on the same host. */
export function wsUrl(): string {
  return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}`;
}

export async function fetchToken(room: string, name: string): Promise<{ token: string; identity: string }> {
  let res: Response;
  try {
    res = await fetch('/api/join', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ room, name }),
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
  if (!res.ok) {
    // A proxy in front of a stopped server answers 502/503/504: for a person that is "unreachable".
    if (res.status >= 502 && res.status <= 504) throw new JoinError('unreachable', `HTTP ${res.status}`);
    throw new JoinError(res.status < 500 ? 'refused' : 'other', field('error') ?? `HTTP ${res.status}`);
  }
  const token = field('token');
  if (!token) throw new JoinError('other', 'The server sent no token');
  return { token, identity: field('identity') ?? '' };
}
