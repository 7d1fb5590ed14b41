import { Buffer } from 'node:buffer';
import { MAX_RESPONSE_BODY_BYTES, MAX_RESPONSE_HEADERS, type DeliveryListView, type EventMessage } from '@myop-relay/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_SECRET, sign, startRelay, type TestRelay } from './harness.js';
import { TestSocket } from './ws-client.js';

let relay: TestRelay | undefined;
let socket: TestSocket | undefined;
afterEach(async () => {
  socket?.close();
  socket = undefined;
  await relay?.close();
  relay = undefined;
});

async function subscribed(): Promise<{ r: TestRelay; s: TestSocket }> {
  const r = await startRelay({ retryInitial: '50ms', retryMax: '50ms' });
  relay = r;
  const s = new TestSocket(r.url, { token: r.adminToken });
  socket = s;
  await s.hello();
  await s.subscribe({ consumer: 'laptop', since: '1h' });
  const body = JSON.stringify({ event_id: 'evt_1', event_type: 'call.end' });
  expect((await r.post('myoperator', body, { 'X-MyOperator-Signature': sign(body, TEST_SECRET) })).status).toBe(200);
  return { r, s };
}

async function deliveries(r: TestRelay): Promise<DeliveryListView> {
  const res = await fetch(`${r.url}/api/events/myoperator/evt_1/deliveries`, { headers: { authorization: `Bearer ${r.adminToken}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as DeliveryListView;
}

const answerTo = (event: EventMessage) => ({ sub: event.sub, seq: event.seq, attempt: event.attempt, latencyMs: 3 });

describe('recorded handler answers', () => {
  it('keeps each attempt\'s status, headers and body start, and returns them per attempt', async () => {
    const { r, s } = await subscribed();
    const captured = Buffer.alloc(MAX_RESPONSE_BODY_BYTES, 'x');
    captured.write('database is down\nstack…', 'utf8');
    const first = await s.next('event');
    s.send({
      type: 'nack',
      ...answerTo(first),
      status: 500,
      responseHeaders: [['Content-Type', 'text/plain'], ['X-Request-Id', 'r1']],
      responseBody: captured.toString('base64'),
      responseBytes: 10 * 1024,
      responseBodyTruncated: true,
    });
    const second = await s.next('event');
    expect(second.attempt).toBe(2);
    s.send({ type: 'ack', ...answerTo(second), status: 204, responseHeaders: [], responseBody: '', responseBytes: 0, responseBodyTruncated: false });

    const view = await waitFor(r, (v) => v.attempts.length === 2 && v.attempts.every((a) => a.outcome !== null));
    expect(view.attempts.map(({ attempt, status, outcome, responseHeaders, responseBytes, responseBodyTruncated }) => ({ attempt, status, outcome, responseHeaders, responseBytes, responseBodyTruncated }))).toEqual([
      { attempt: 1, status: 500, outcome: 'retry', responseHeaders: [['Content-Type', 'text/plain'], ['X-Request-Id', 'r1']], responseBytes: 10 * 1024, responseBodyTruncated: true },
      { attempt: 2, status: 204, outcome: 'acked', responseHeaders: [], responseBytes: 0, responseBodyTruncated: false },
    ]);
    expect(Buffer.from(view.attempts[0]?.responseBody ?? '', 'base64').equals(captured)).toBe(true);
    expect(view.attempts[1]?.responseBody).toBe('');
  });

  it('leaves the answer fields out of an attempt whose client reported none', async () => {
    const { r, s } = await subscribed();
    s.ack(await s.next('event'));
    const view = await waitFor(r, (v) => v.attempts[0]?.outcome === 'acked');
    expect(Object.keys(view.attempts[0] ?? {})).not.toContain('responseBody');
    expect(Object.keys(view.attempts[0] ?? {})).not.toContain('responseHeaders');
  });

  it.each([
    ['a body over 4 KiB', { responseBody: Buffer.alloc(MAX_RESPONSE_BODY_BYTES + 1).toString('base64') }, 'responseBody must hold at most 4096 bytes'],
    ['a body that is not base64', { responseBody: 'not base64!' }, 'responseBody must be padded base64'],
    ['more than 50 header pairs', { responseHeaders: Array.from({ length: MAX_RESPONSE_HEADERS + 1 }, (_, i): [string, string] => [`x-h${i}`, 'v']) }, 'at most 50 pairs'],
    ['headers over 8 KiB', { responseHeaders: [['x-big', 'v'.repeat(8 * 1024)]] as [string, string][] }, 'at most 8192 characters'],
    ['a header with a line break', { responseHeaders: [['x-split', 'a\r\nb']] as [string, string][] }, 'must not contain CR, LF'],
  ])('refuses an answer with %s and records nothing for it', async (_what, fields, detail) => {
    const { r, s } = await subscribed();
    const event = await s.next('event');
    s.send({ type: 'nack', ...answerTo(event), status: 500, ...fields });
    const error = await s.next('error');
    expect(error.code).toBe('RELAY_E_WS_INVALID_MESSAGE');
    expect(error.message).toContain(detail);
    const view = await deliveries(r);
    expect(view.attempts.filter((a) => a.outcome === 'retry')).toEqual([]);
  });
});

/** The event's deliveries once `done` holds; each look follows a recorded answer or a retry. */
async function waitFor(r: TestRelay, done: (view: DeliveryListView) => boolean): Promise<DeliveryListView> {
  for (let i = 0; i < 200; i++) {
    const view = await deliveries(r);
    if (done(view)) return view;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error('the deliveries never reached the expected state');
}
