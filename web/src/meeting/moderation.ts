// Moderator controls. They call the server's room API (the Twirp RoomService that server SDKs use)
// with this participant's own token; the server checks that the caller moderates the room and
// refuses everyone else, so the buttons shown here are a convenience, not the guard.

import type { Participant } from 'livekit-client';
import { t } from '../i18n';
import { errorText, h } from '../util';
import { dialog } from './dialogs';

/** Set by the server only: `moderator` for moderators. */
export const ROLE_ATTRIBUTE = 'confab.role';
/** Set by the server on a removed participant just before it is disconnected. */
export const REMOVED_REASON_ATTRIBUTE = 'confab.removed_reason';
/** Data messages from the server to moderators: the room's entry status. */
export const LOBBY_TOPIC = 'confab.lobby';

/** Room entry: the lobby, lock and password of a room, as moderators see them (never the password itself). */
export interface EntryStatus {
  lobby: boolean;
  locked: boolean;
  hasPassword: boolean;
  knocking: { id: string; name: string; waitingSecs: number }[];
}

export function parseEntryStatus(v: unknown): EntryStatus | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o.lobby !== 'boolean' || typeof o.locked !== 'boolean' || typeof o.hasPassword !== 'boolean' || !Array.isArray(o.knocking)) return undefined;
  const knocking = o.knocking.filter(
    (k): k is EntryStatus['knocking'][number] => !!k && typeof k === 'object' && typeof (k as Record<string, unknown>).id === 'string' && typeof (k as Record<string, unknown>).name === 'string',
  );
  return { lobby: o.lobby, locked: o.locked, hasPassword: o.hasPassword, knocking };
}

export function isModerator(p: Participant): boolean {
  return p.attributes[ROLE_ATTRIBUTE] === 'moderator';
}

export class ModerationError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ModerationError';
  }
}

/** Calls one of the server's Twirp services (LiveKit's server API) with this participant's token. */
export async function twirp(service: string, method: string, token: string, body: Record<string, unknown>): Promise<unknown> {
  const res = await fetch(`/twirp/${service}/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  const data: unknown = await res.json().catch(() => ({}));
  if (!res.ok) {
    const err = (data ?? {}) as { code?: unknown; msg?: unknown };
    throw new ModerationError(typeof err.code === 'string' ? err.code : 'unknown', typeof err.msg === 'string' ? err.msg : `HTTP ${res.status}`);
  }
  return data;
}

export class RoomApi {
  constructor(
    private readonly token: string,
    private readonly room: string,
  ) {}

  private call(method: string, body: Record<string, unknown>): Promise<unknown> {
    return twirp('livekit.RoomService', method, this.token, { room: this.room, ...body });
  }

  mute(identity: string, trackSid: string): Promise<unknown> {
    return this.call('MutePublishedTrack', { identity, trackSid, muted: true });
  }

  remove(identity: string, reason: string): Promise<unknown> {
    return this.call('RemoveParticipant', { identity, reason });
  }

  setModerator(identity: string, on: boolean): Promise<unknown> {
    return this.call('UpdateParticipant', { identity, attributes: { [ROLE_ATTRIBUTE]: on ? 'moderator' : '' } });
  }

  endMeeting(): Promise<unknown> {
    return this.call('DeleteRoom', {});
  }

  /** Room entry: the lobby, lock and password (`/api/moderation`); answers the new status. `clear_lobby` denies everyone waiting. */
  async entry(action: 'status' | 'lobby' | 'lock' | 'password' | 'admit' | 'deny' | 'clear_lobby', extra: Record<string, unknown> = {}): Promise<EntryStatus> {
    const res = await fetch('/api/moderation', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${this.token}` },
      body: JSON.stringify({ room: this.room, action, ...extra }),
      signal: AbortSignal.timeout(10_000),
    });
    const data: unknown = await res.json().catch(() => ({}));
    if (!res.ok) {
      const msg = (data as { error?: unknown }).error;
      throw new ModerationError(res.status === 403 ? 'permission_denied' : 'failed', typeof msg === 'string' ? msg : `HTTP ${res.status}`);
    }
    const status = parseEntryStatus(data);
    if (!status) throw new ModerationError('failed', 'unexpected answer');
    return status;
  }
}

/** Asks for the reason shown to a participant before removing them. */
export function removeDialog(): { el: HTMLDialogElement; ask: (name: string) => Promise<string | undefined> } {
  const who = h('p');
  const reason = h('input', { attrs: { id: 'remove-reason', type: 'text', maxlength: '256', placeholder: t('moderation.reason') } });
  let settle: ((v: string | undefined) => void) | undefined;
  const confirm = h('button', {
    class: 'btn danger',
    text: t('common.remove'),
    attrs: { type: 'button', id: 'remove-confirm' },
    on: {
      click: () => {
        settle?.(reason.value.trim());
        settle = undefined;
        d.close();
      },
    },
  });
  const d = dialog('remove-dialog', t('moderation.removeTitle'), who, reason, h('div', { class: 'dialog-actions' }, confirm));
  d.addEventListener('close', () => {
    settle?.(undefined);
    settle = undefined;
  });
  return {
    el: d,
    ask: (name) => {
      who.textContent = t('moderation.removeAsk', { name });
      reason.value = '';
      d.showModal();
      reason.focus();
      return new Promise((resolve) => {
        settle = resolve;
      });
    },
  };
}

/** A failed moderator action, in words for a toast. */
export function moderationErrorText(e: unknown): string {
  if (e instanceof ModerationError && e.code === 'permission_denied') return t('moderation.onlyModerators');
  return errorText(e);
}
