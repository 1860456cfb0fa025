// Room names as people see them in the address bar, and the rooms they recently used.

import { store } from './util';

/** The same rule as the server's /api/join: 1–128 characters, none of / \ ? # % and no control characters. */
export function validRoomName(name: string): boolean {
  const len = [...name].length;
  // eslint-disable-next-line no-control-regex
  return len >= 1 && len <= 128 && !/[/\\?#%\u0000-\u001f\u007f-\u009f]/.test(name);
}

/**
 * The room named by a path such as `/Weekly%20Sync`, or undefined for the home page. A path
 * that cannot be a room (bad escape, a slash inside, too long) yields `{invalid}`.
 */
export function roomFromPath(pathname: string): { room: string } | { invalid: string } | undefined {
  const raw = pathname.replace(/^\/+/, '');
  if (raw === '') return undefined;
  let room: string;
  try {
    room = decodeURIComponent(raw);
  } catch {
    return { invalid: raw };
  }
  return validRoomName(room) ? { room } : { invalid: room };
}

export function roomPath(room: string): string {
  return `/${encodeURIComponent(room)}`;
}

export function inviteLink(room: string): string {
  return `${location.origin}${roomPath(room)}`;
}

// Four short words give millions of names that are easy to say aloud over the phone and hard to
// stumble into by accident, the way Jitsi Meet names its rooms.
const adjectives = 'Amber Bold Brave Bright Calm Clever Cosy Crisp Daring Eager Fancy Gentle Golden Happy Honest Jolly Kind Lively Lucky Merry Mighty Noble Proud Quick Quiet Rapid Silver Sunny Swift Tidy Vivid Witty'.split(' ');
const nouns = 'Otters Falcons Maples Rivers Comets Lanterns Pianos Harbors Meadows Foxes Owls Pebbles Ferns Islands Bridges Rockets Violins Tigers Dolphins Canyons Glaciers Orchards Parrots Beacons Willows Badgers Castles Sparrows Lemons Robots Kites Ravens'.split(' ');
const verbs = 'Dance Sing Paint Build Wander Gather Whisper Juggle Sail Glow Bounce Cheer Dream Drift Explore Hum Laugh Leap March Ponder Race Read Roam Shine Skate Soar Swim Travel Wave Whistle Write Yodel'.split(' ');
const adverbs = 'Boldly Brightly Calmly Gently Gladly Happily Kindly Loudly Merrily Neatly Nicely Openly Proudly Quickly Quietly Rarely Slowly Softly Swiftly Warmly Wisely Daily Freely Gracefully Lightly Madly Playfully Sweetly Truly Vividly Wildly Closely'.split(' ');

function pick(words: string[]): string {
  const n = new Uint32Array(1);
  crypto.getRandomValues(n);
  return words[n[0] % words.length];
}

export function generateRoomName(): string {
  return pick(adjectives) + pick(nouns) + pick(verbs) + pick(adverbs);
}

export interface RecentRoom {
  name: string;
  at: number;
}

const MAX_RECENT = 8;

export function recentRooms(): RecentRoom[] {
  const list = store.json<unknown>('recentRooms', []);
  if (!Array.isArray(list)) return [];
  return list.filter(
    (r): r is RecentRoom =>
      !!r && typeof r === 'object' && typeof (r as RecentRoom).name === 'string' && typeof (r as RecentRoom).at === 'number' && validRoomName((r as RecentRoom).name),
  );
}

export function rememberRoom(name: string) {
  const list = [{ name, at: Date.now() }, ...recentRooms().filter((r) => r.name !== name)].slice(0, MAX_RECENT);
  store.set('recentRooms', JSON.stringify(list));
}

export function forgetRoom(name: string) {
  store.set('recentRooms', JSON.stringify(recentRooms().filter((r) => r.name !== name)));
}
