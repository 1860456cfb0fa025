// Dial-in in the invitation: the SIP gateway's phone numbers and this meeting's PIN, from the two
// endpoints Jitsi Meet asks (its dialInNumbersUrl and dialInConfCodeUrl), which Confab serves
// only when it has a gateway. Asked only when someone opens the invite: most never do, and asking
// the mapper gives the room a PIN for good.

import { locales, t } from '../i18n';
import { h } from '../util';

interface DialIn {
  /** [region as the operator wrote it (a country code, usually), its numbers]. */
  numbers: [string, string[]][];
  /** Digits only. */
  pin: string;
}

/**
 * undefined where there is no dial-in: a 404, or a page that is not JSON (a server without a
 * gateway takes the path for a room's and answers with the app). Other failures may pass, so
 * they reject.
 */
async function getJson(url: string): Promise<unknown> {
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (res.status === 404) return undefined;
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res.json().catch(() => undefined);
}

const isRecord = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

async function fetchDialIn(room: string): Promise<DialIn | undefined> {
  const list = await getJson('/dialInNumbers');
  if (!isRecord(list) || list.numbersEnabled !== true || !isRecord(list.numbers)) return undefined;
  const numbers = Object.entries(list.numbers)
    .map(([region, nums]): [string, string[]] => [region, Array.isArray(nums) ? nums.filter((n): n is string => typeof n === 'string' && n !== '') : []])
    .filter(([, nums]) => nums.length > 0);
  if (numbers.length === 0) return undefined;
  const mapping = await getJson(`/conferenceMapper?conference=${encodeURIComponent(room)}`);
  const id = isRecord(mapping) ? mapping.id : undefined;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id <= 0) return undefined;
  return { numbers, pin: String(id) };
}

/** "123 456 789#": read out in threes, with the # the gateway waits for. */
function formatPin(pin: string): string {
  return `${pin.replace(/\d{3}(?=\d)/g, '$& ')}#`;
}

/** A country code in the person's language ("US" → "United States"); anything else as written. */
function regionName(region: string): string {
  if (!/^[A-Z]{2}$/.test(region)) return region;
  try {
    return new Intl.DisplayNames(locales(), { type: 'region' }).of(region) ?? region;
  } catch {
    return region;
  }
}

/** Dials the number and, after two pauses for the prompt, keys the PIN: one tap on a mobile. */
function telLink(number: string, pin: string): string {
  return `tel:${number.replace(/[^\d+]/g, '')},,${pin}%23`;
}

/**
 * The invite dialog's phone part: hidden until the server's dial-in is known, and never shown on
 * a server without one. `load()` on each opening asks once, and again only after a failure.
 * `invitation(link)`: the text to copy with the dial-in, or undefined while there is none.
 */
export function dialInSection(room: string): { el: HTMLElement; load: () => void; invitation: (link: string) => string | undefined } {
  const list = h('dl', { class: 'dial-in-list' });
  const el = h('section', { class: 'dial-in', attrs: { id: 'dial-in' } }, h('h3', { text: t('dialIn.title') }), h('p', { class: 'hint', text: t('dialIn.how') }), list);
  el.hidden = true;
  let known: DialIn | undefined;
  let asked = false;
  const show = (d: DialIn) => {
    known = d;
    list.replaceChildren(
      ...d.numbers.flatMap(([region, nums]) => [
        h('dt', { text: regionName(region) }),
        h('dd', {}, ...nums.map((n) => h('a', { class: 'dial-in-number', text: n, attrs: { href: telLink(n, d.pin) } }))),
      ]),
      h('dt', { text: t('dialIn.pin') }),
      h('dd', { class: 'dial-in-pin', text: formatPin(d.pin) }),
    );
    el.hidden = false;
  };
  return {
    el,
    load() {
      if (asked) return;
      asked = true;
      fetchDialIn(room).then(
        (d) => d && show(d),
        (e) => {
          asked = false;
          console.warn('Confab: the dial-in numbers could not be had', e);
        },
      );
    },
    invitation(link) {
      if (!known) return undefined;
      const pin = formatPin(known.pin);
      const lines = known.numbers.flatMap(([region, nums]) => nums.map((number) => t('dialIn.numberLine', { region: regionName(region), number })));
      return [t('dialIn.join', { link }), '', t('dialIn.heading'), ...lines, t('dialIn.pinLine', { pin })].join('\n');
    },
  };
}
