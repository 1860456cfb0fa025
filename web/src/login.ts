// Signing in without a token from the company's site: username and password, then the one-time
// code when the account (or the company's sign-in service) may need one. The server answers a
// wrong password and a missing code alike (so a password is never confirmed without the code):
// the code field then appears, for accounts that have one. Once signed in the person joins with
// the session the server handed out.

import { SignInError, signIn } from './api';
import { t } from './i18n';
import { header } from './pages';
import { errorText, h, mount } from './util';

export function loginPage(room: string, onToken: (token: string) => void) {
  const username = h('input', { attrs: { id: 'login-username', type: 'text', autocomplete: 'username', maxlength: '128', required: '' } });
  const password = h('input', { attrs: { id: 'login-password', type: 'password', autocomplete: 'current-password', maxlength: '256', required: '' } });
  const otp = h('input', { attrs: { id: 'login-otp', type: 'text', inputmode: 'numeric', autocomplete: 'one-time-code', maxlength: '10' } });
  const otpField = h('label', { class: 'field' }, h('span', { text: t('login.otp') }), otp);
  otpField.hidden = true;
  const error = h('p', { class: 'field-error', attrs: { id: 'login-error', role: 'alert' } });
  error.hidden = true;
  const submit = h('button', { class: 'btn primary big', text: t('login.submit'), attrs: { type: 'submit', id: 'login-submit' } });
  const form = h(
    'form',
    { class: 'prejoin-form login-form', attrs: { id: 'login-form', novalidate: '' } },
    h('p', { class: 'eyebrow', text: t('login.eyebrow') }),
    h('h1', { class: 'room-title', text: room }),
    h('label', { class: 'field' }, h('span', { text: t('login.username') }), username),
    h('label', { class: 'field' }, h('span', { text: t('login.password') }), password),
    otpField,
    error,
    submit,
  );
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!username.value || !password.value) return;
    submit.disabled = true;
    error.hidden = true;
    signIn(room, username.value.trim(), password.value, otp.value.trim()).then(
      (token) => onToken(token),
      (e: unknown) => {
        submit.disabled = false;
        const first = otpField.hidden;
        if (e instanceof SignInError && e.otpRequired) otpField.hidden = false;
        if (!otpField.hidden) {
          // A code that did not work is cleared for the next.
          otp.value = '';
          otp.focus();
        }
        error.textContent =
          first && !otpField.hidden
            ? t('login.needCode')
            : e instanceof Error
              ? e.message
              : errorText(e);
        error.hidden = false;
      },
    );
  });
  mount(header(), h('main', { class: 'page prejoin-page', dataset: { page: 'login' } }, h('div', { class: 'card' }, form)));
  document.title = `${t('login.submit')} · ${room} · Confab`;
  username.focus();
}
