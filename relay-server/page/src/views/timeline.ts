import type { ConsumerDeliveryView, DeliveryAttemptView, DeliveryListView } from '@myop-relay/protocol';
import { decodeBase64, rawView } from '../body.js';
import { h } from '../dom.js';
import { latency, localTime, relative } from '../format.js';
import { stateBadge } from '../widgets.js';

const OUTCOMES: Record<NonNullable<DeliveryAttemptView['outcome']>, string> = {
  acked: 'delivered',
  retry: 'failed, will retry',
  failed: 'failed, parked',
  abandoned: 'no answer',
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The handler's answer to one attempt, as relay-client reported it: status, headers, and the start of its body. */
function answerBlock(attempt: DeliveryAttemptView): HTMLElement | null {
  if (attempt.responseBody === undefined && attempt.responseHeaders === undefined) return null;
  const headers = attempt.responseHeaders ?? [];
  const bytes = decodeBase64(attempt.responseBody ?? '');
  let text: string | null;
  try {
    text = utf8.decode(bytes);
  } catch {
    text = null;
  }
  return h(
    'div',
    { class: 'answer' },
    h(
      'div',
      { class: 'answer-status' },
      `Handler answered ${attempt.status ?? 'without a status'}`,
      attempt.responseBodyTruncated ? h('span', { class: 'muted' }, ` (first ${bytes.length} of ${attempt.responseBytes ?? '?'} bytes kept)`) : null,
    ),
    headers.length > 0
      ? h('details', null, h('summary', null, `${headers.length} response headers`), h('table', { class: 'headers' }, h('tbody', null, ...headers.map(([n, v]) => h('tr', null, h('th', null, n), h('td', null, v))))))
      : null,
    bytes.length > 0 ? h('pre', { class: 'code answer-body' }, rawView(bytes, text)) : h('div', { class: 'muted' }, 'empty body'),
  );
}

function attemptItem(attempt: DeliveryAttemptView): HTMLElement {
  const outcome = attempt.outcome === null ? 'in flight' : OUTCOMES[attempt.outcome];
  return h(
    'li',
    { class: `attempt outcome-${attempt.outcome ?? 'inflight'}`, data: { attempt: String(attempt.attempt) } },
    h(
      'div',
      { class: 'attempt-line' },
      h('span', { class: 'attempt-no' }, `#${attempt.attempt}`),
      h('span', { class: 'time', title: attempt.startedAt }, localTime(attempt.startedAt)),
      h('span', { class: 'status' }, attempt.status === null ? 'no status' : `HTTP ${attempt.status}`),
      attempt.latencyMs === null ? null : h('span', { class: 'latency' }, latency(attempt.latencyMs)),
      h('span', { class: 'outcome' }, outcome),
      h('span', { class: 'mono session', title: `session ${attempt.session}` }, `session ${attempt.session.slice(0, 8)}`),
    ),
    attempt.error === null ? null : h('div', { class: 'attempt-error' }, attempt.error),
    answerBlock(attempt),
  );
}

/** When the next attempt goes, for a consumer still waiting on the event. */
function nextAttempt(state: ConsumerDeliveryView): HTMLElement | null {
  if (state.nextAttemptAt === null || state.state === 'delivered' || state.state === 'parked') return null;
  const label = state.state === 'failing' ? 'next retry' : 'lease ends';
  return h('span', { class: 'next', title: state.nextAttemptAt }, `${label} ${localTime(state.nextAttemptAt)} (${relative(state.nextAttemptAt)})`);
}

/**
 * Per consumer, every attempt to deliver the event, oldest first: time, session, status,
 * latency, error, the handler's answer when the relay recorded it, and when the next attempt goes.
 */
export function timeline(deliveries: DeliveryListView): HTMLElement {
  const names = [...new Set([...deliveries.consumers.map((c) => c.consumer), ...deliveries.attempts.map((a) => a.consumer)])];
  if (names.length === 0) return h('p', { class: 'muted' }, 'No consumer takes this event yet. relay-client listen subscribes one.');
  return h(
    'div',
    { class: 'timelines' },
    ...names.map((name) => {
      const state = deliveries.consumers.find((c) => c.consumer === name);
      const attempts = deliveries.attempts.filter((a) => a.consumer === name);
      return h(
        'section',
        { class: 'timeline', data: { consumer: name } },
        h('h4', null, state ? stateBadge(state) : h('span', { class: 'badge' }, `${name} · not subscribed any more`), state ? nextAttempt(state) : null),
        attempts.length > 0 ? h('ol', { class: 'attempts' }, ...attempts.map(attemptItem)) : h('p', { class: 'muted' }, 'Not sent yet.'),
      );
    }),
  );
}
