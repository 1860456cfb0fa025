// The app's languages. English is built into the bundle; the others are fetched on demand (each
// is its own chunk), once, before the first page renders. The language is `?lang=` if given (for
// embedding pages and tests), else the one chosen in the settings, else the first of the
// browser's languages that Confab has, else English.
//
// To add a language: copy de.ts to <code>.ts and translate it, then add it to LANGUAGES and
// `loaders` below.

import { prefs } from '../prefs';
import { params } from '../util';
import en, { type Catalogue, type Plural } from './en';

/**
 * Each language under its own name, as a person looking for theirs would search the list.
 * tests/e2e/i18n.test.mjs checks the catalogue of every language listed here.
 */
export const LANGUAGES = {
  en: 'English',
  de: 'Deutsch',
  es: 'Español',
  fr: 'Français',
  vi: 'Tiếng Việt',
} as const;

type Lang = keyof typeof LANGUAGES;

const loaders: Record<Exclude<Lang, 'en'>, () => Promise<{ default: Catalogue }>> = {
  de: () => import('./de'),
  es: () => import('./es'),
  fr: () => import('./fr'),
  vi: () => import('./vi'),
};

export type Key = { [K in keyof Catalogue]: Catalogue[K] extends string ? K : never }[keyof Catalogue];
type PluralKey = Exclude<keyof Catalogue, Key>;
type Vars = Record<string, string | number>;

let lang: Lang = 'en';
let strings: Catalogue = en;
let plurals = new Intl.PluralRules('en');

/** The first of `tags` (BCP 47, as navigator.languages has them) that names a language we have. */
export function supported(...tags: string[]): Lang | undefined {
  for (const tag of tags) {
    const base = tag.toLowerCase().split('-')[0];
    if (Object.hasOwn(LANGUAGES, base)) return base as Lang;
  }
  return undefined;
}

/** Loads the language to show and marks the page with it; English if its file cannot be had. */
export async function setupLanguage(): Promise<void> {
  const want = supported(params.get('lang') ?? '', prefs.language, ...navigator.languages) ?? 'en';
  if (want !== 'en') {
    try {
      strings = (await loaders[want]()).default;
      lang = want;
    } catch (e) {
      // Offline without the file cached, or a deploy replaced it: English beats no page.
      console.warn(`Confab: the ${want} strings did not load, showing English`, e);
    }
  }
  plurals = new Intl.PluralRules(lang);
  document.documentElement.lang = lang;
}

/** For dates and numbers: the browser's own tags for the language shown (en-GB keeps its date order), then the language. */
export function locales(): string[] {
  return [...navigator.languages.filter((tag) => supported(tag) === lang), lang];
}

function fill(text: string, vars: Vars): string {
  return text.replace(/\{(\w+)\}/g, (whole, name: string) => (name in vars ? String(vars[name]) : whole));
}

/** The string for `key` in the language shown, with its `{placeholders}` filled from `vars`. */
export function t(key: Key, vars: Vars = {}): string {
  return fill(strings[key], vars);
}

/** The form of a counted message that fits `count`, which also fills `{count}`. */
export function tn(key: PluralKey, count: number, vars: Vars = {}): string {
  const forms: Plural = strings[key];
  return fill(forms[plurals.select(count)] ?? forms.other, { ...vars, count });
}
