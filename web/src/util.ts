// Small DOM and storage helpers shared by every page. Plain DOM keeps the bundle to little more
// than livekit-client itself.

export const params = new URLSearchParams(location.search);

/** A boolean query parameter: `?x=1`, `?x=true`, `?x` are on; `0`, `false`, `no`, `off` are off. */
export function flag(name: string, fallback: boolean): boolean {
  const v = params.get(name);
  return v === null ? fallback : !['0', 'false', 'no', 'off'].includes(v.toLowerCase());
}

type Child = Node | string | null | undefined | false;
type Props = {
  class?: string;
  text?: string;
  title?: string;
  dataset?: Record<string, string>;
  attrs?: Record<string, string>;
  on?: Partial<Record<keyof HTMLElementEventMap, (ev: Event) => void>>;
};

/** Creates an element; `props.text` sets textContent so user-supplied strings are never parsed as HTML. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Props = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (props.class) e.className = props.class;
  if (props.text !== undefined) e.textContent = props.text;
  if (props.title) e.title = props.title;
  for (const [k, v] of Object.entries(props.dataset ?? {})) e.dataset[k] = v;
  for (const [k, v] of Object.entries(props.attrs ?? {})) e.setAttribute(k, v);
  for (const [k, fn] of Object.entries(props.on ?? {})) if (fn) e.addEventListener(k, fn);
  for (const c of children) if (c) e.append(c);
  return e;
}

export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** localStorage that never throws: private windows and disabled storage must not break joining. */
export const store = {
  get(key: string): string | null {
    try {
      return localStorage.getItem(`confab.${key}`);
    } catch {
      return null;
    }
  },
  set(key: string, value: string | null) {
    try {
      if (value === null) localStorage.removeItem(`confab.${key}`);
      else localStorage.setItem(`confab.${key}`, value);
    } catch {
      // storage full or disabled: remembering is a convenience only
    }
  },
  json<T>(key: string, fallback: T): T {
    const raw = store.get(key);
    if (raw === null) return fallback;
    try {
      return JSON.parse(raw) as T;
    } catch {
      return fallback;
    }
  },
};

/** The root the app renders into; each page replaces its content. */
export function mount(...nodes: Node[]) {
  const app = document.getElementById('app');
  if (!app) throw new Error('missing #app');
  app.replaceChildren(...nodes);
}

/** Up to two initials for an avatar, from the display name. */
export function initials(name: string): string {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const first = [...(words[0] ?? '?')][0] ?? '?';
  const second = words.length > 1 ? ([...words[words.length - 1]][0] ?? '') : '';
  return (first + second).toUpperCase();
}

/** A stable hue per identity, so a person's avatar keeps its colour on every screen. */
export function hueFor(key: string): number {
  let hash = 0;
  for (const c of key) hash = (hash * 31 + c.codePointAt(0)!) | 0;
  return Math.abs(hash) % 360;
}

export function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName);
}
