// Phone callers: participants who came in through the SIP gateway (LiveKit's participant kind
// SIP). Where others have their initials they have a phone, so nobody waits for a camera or a
// chat answer from someone on a handset, and their number is shown as the gateway gives it: the
// meeting belongs to whoever runs the server, and people there should know who is listening in.

import { type Participant, ParticipantKind } from 'livekit-client';
import { t } from '../i18n';
import { icon } from '../icons';
import { hueFor, initials } from '../util';

/** LiveKit SIP's attribute for the caller's number; Confab's gateway sets the same. */
const NUMBER_ATTRIBUTE = 'sip.phoneNumber';

/** The number `p` calls from ('' when the gateway had none), or undefined for anyone not on a phone. */
export function phoneOf(p: Participant): string | undefined {
  return p.kind === ParticipantKind.SIP ? (p.attributes[NUMBER_ATTRIBUTE] ?? '') : undefined;
}

/** The number worth showing next to the name: a caller without a display name is named by it already. */
export function numberBesides(name: string, phone: string | undefined): string {
  return phone && phone !== name ? phone : '';
}

/** How a caller joined, in words (for a title or a label); '' for anyone not on a phone. */
export function joinedBy(phone: string | undefined): string {
  if (phone === undefined) return '';
  return phone ? t('phone.callerFrom', { number: phone }) : t('phone.caller');
}

/**
 * Fills an avatar circle: a phone for a caller (`phone` not undefined), else the initials of
 * `name`; either way on the colour of `identity`, the same on every screen.
 */
export function paintAvatar(el: HTMLElement, identity: string, name: string, phone: string | undefined) {
  el.classList.toggle('phone', phone !== undefined);
  if (phone === undefined) el.textContent = initials(name);
  else el.replaceChildren(icon('phone'));
  el.title = joinedBy(phone);
  el.style.setProperty('--hue', String(hueFor(identity)));
}
