import { h } from '../dom.js';

/**
 * The sign-in form: a relay token (admin or developer). `submit` resolves when the relay
 * accepted the token and rejects with the message to show otherwise.
 */
export function signInView(submit: (token: string) => Promise<void>, message?: string): HTMLElement {
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: false, placeholder: 'mrt_…', required: true });
  const status = h('p', { class: message ? 'error' : 'muted', id: 'signin-status', role: 'status' }, message ?? '');
  const button = h('button', { type: 'submit', id: 'signin' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'signin',
      on: {
        submit: (e) => {
          e.preventDefault();
          const token = input.value.trim();
          if (token === '') return;
          button.disabled = true;
          status.className = 'muted';
          status.textContent = 'Checking the token…';
          submit(token).catch((error: unknown) => {
            button.disabled = false;
            status.className = 'error';
            status.textContent = error instanceof Error ? error.message : String(error);
          });
        },
      },
    },
    h('h1', null, 'Webhook Logs'),
    h('p', null, 'Every MyOperator event this relay stored, live, with what happened to each delivery.'),
    h('label', { for: 'token' }, 'Relay token'),
    input,
    button,
    status,
    h(
      'p',
      { class: 'muted small' },
      'Get one on the relay host: relay-server token create --name <you> --channels myoperator. The token stays in this tab only (sessionStorage) and is sent in the Authorization header, never in a URL.',
    ),
  );
  queueMicrotask(() => input.focus());
  return h('main', { class: 'signin-page' }, form);
}
