// Choosing the language: a list in the meeting's settings and in the top bar of the pages before
// a meeting. The choice is stored with the other preferences.

import { prefs } from '../prefs';
import { h, params } from '../util';
import { LANGUAGES, supported, t } from './index';

/** "Same as the browser", then every language under its own name; `onPick` runs once the choice is stored. */
export function languageSelect(onPick: () => void): HTMLSelectElement {
  const option = (value: string, text: string, lang?: string) => {
    const o = h('option', { text, attrs: lang ? { lang } : {} });
    o.value = value;
    return o;
  };
  const select = h(
    'select',
    { class: 'language-select', attrs: { id: 'language', 'aria-label': t('language.label') } },
    option('', t('language.browser')),
    ...Object.entries(LANGUAGES).map(([code, name]) => option(code, name, code)),
  );
  select.value = supported(params.get('lang') ?? '', prefs.language) ?? '';
  select.addEventListener('change', () => {
    prefs.language = select.value;
    onPick();
  });
  return select;
}

/**
 * For the pages before a meeting, where loading the page again loses nothing: the new language
 * shows at once. A `?lang=` in the address would win over the choice, so it goes.
 */
export function languagePicker(): HTMLSelectElement {
  return languageSelect(() => {
    const url = new URL(location.href);
    url.searchParams.delete('lang');
    location.replace(url);
  });
}
