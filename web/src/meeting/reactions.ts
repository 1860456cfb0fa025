// Emoji reactions: a data packet on the `reactions` topic, shown floating up over the sender's
// tile for a few seconds. Only the emoji in our list are shown, so a packet cannot paint arbitrary
// text over someone's video.

import type { Room } from 'livekit-client';
import { type Key, t } from '../i18n';
import { h } from '../util';

export const REACTIONS_TOPIC = 'reactions';

const REACTIONS: { emoji: string; label: Key }[] = [
  { emoji: '👍', label: 'reaction.thumbsUp' },
  { emoji: '👏', label: 'reaction.clap' },
  { emoji: '😂', label: 'reaction.laugh' },
  { emoji: '😮', label: 'reaction.surprised' },
  { emoji: '❤️', label: 'reaction.love' },
  { emoji: '🎉', label: 'reaction.celebrate' },
];

const allowed = new Set(REACTIONS.map((r) => r.emoji));
const encoder = new TextEncoder();

export async function sendReaction(room: Room, emoji: string) {
  await room.localParticipant.publishData(encoder.encode(JSON.stringify({ emoji })), {
    reliable: true,
    topic: REACTIONS_TOPIC,
  });
}

export function parseReaction(text: string): string | undefined {
  try {
    const emoji = (JSON.parse(text) as { emoji?: unknown }).emoji;
    return typeof emoji === 'string' && allowed.has(emoji) ? emoji : undefined;
  } catch {
    return undefined;
  }
}

/** Floats `emoji` up over `layer` (a tile's reaction layer) and removes it when done. */
export function floatReaction(layer: HTMLElement, emoji: string) {
  // Keep a burst of clicks from burying the tile.
  if (layer.childElementCount >= 8) layer.firstElementChild?.remove();
  const el = h('span', { class: 'floating-reaction', text: emoji, attrs: { role: 'img' } });
  el.style.left = `${10 + Math.random() * 70}%`;
  layer.append(el);
  setTimeout(() => el.remove(), 3000);
}

export function reactionButtons(onPick: (emoji: string) => void): HTMLElement[] {
  return REACTIONS.map((r) =>
    h('button', {
      class: 'reaction-btn',
      text: r.emoji,
      title: t(r.label),
      attrs: { type: 'button', 'aria-label': t(r.label), 'data-emoji': r.emoji },
      on: { click: () => onPick(r.emoji) },
    }),
  );
}
