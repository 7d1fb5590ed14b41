import type { ConsumerListView, DeliveryListView, EventDetailView, EventListView, ReplayResult } from '@myop-relay/protocol';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { issueToken } from '../src/tokens.js';
import { TEST_SECRET, sign, startRelay, type TestRelay } from './harness.js';

let relay: TestRelay;

beforeEach(async () => {
  relay = await startRelay();
});
afterEach(async () => {
  await relay.close();
});

async function call<T>(method: string, path: string, body?: unknown, token = relay.adminToken): Promise<{ status: number; body: T & { error?: { code: string; message: string } } }> {
  const res = await fetch(`${relay.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as T & { error?: { code: string; message: string } } };
}

/** POSTs a signed Webhook v2 event to the `myoperator` channel. */
async function postV2(id: string, type: string, session: string, extra: Record<string, unknown> = {}): Promise<void> {
  const body = JSON.stringify({ event_id: id, event_type: type, session_id: session, payload: { customer_number: '+919812345678' }, ...extra });
  const res = await relay.post('myoperator', body, { 'X-MyOperator-Signature': sign(body, TEST_SECRET) });
  expect(res.status).toBe(200);
}

const listIds = async (query: string): Promise<string[]> => (await call<EventListView>('GET', `/api/events?${query}`)).body.events.map((e) => e.id);

it('filters by type globs, body text and session, and lists each event with its session', async () => {
  await postV2('a1', 'call.initiated', 'call-A');
  await postV2('b1', 'message.received', 'chat-B', { payload: { text: 'hello Café' } });
  await postV2('a2', 'call.answered', 'call-A');
  const all = await call<EventListView>('GET', '/api/events?channel=myoperator');
  expect(all.body.events.map((e) => [e.id, e.session, e.deliveries])).toEqual([
    ['a2', 'call-A', []],
    ['b1', 'chat-B', []],
    ['a1', 'call-A', []],
  ]);
  expect(all.body.scanLimited).toBe(false);
  expect(await listIds('type=call.*')).toEqual(['a2', 'a1']);
  expect(await listIds('type=call.ans*,message.*')).toEqual(['a2', 'b1']);
  expect(await listIds(`q=${encodeURIComponent('Café')}`)).toEqual(['b1']);
  expect(await listIds('session=call-A')).toEqual(['a2', 'a1']);
  expect(await listIds('type=&q=&session=&state=&consumer=')).toEqual(['a2', 'b1', 'a1']);
});

it('refuses bad filter values with INVALID_QUERY, naming the parameter', async () => {
  for (const [query, name] of [
    ['state=lost', 'state'],
    [`q=${'x'.repeat(257)}`, 'q'],
    ['type=a%01b', 'type'],
    ['type=a&type=b', 'type'],
    [`session=${'s'.repeat(257)}`, 'session'],
  ] as const) {
    const res = await call('GET', `/api/events?${query}`);
    expect(res.status, query).toBe(400);
    expect(res.body.error?.code, query).toBe('RELAY_E_INVALID_QUERY');
    expect(res.body.error?.message, query).toContain(name);
  }
});

it('records how each event was verified', async () => {
  await postV2('signed', 'call.end', 'call-A');
  expect((await call<EventDetailView>('GET', '/api/events/myoperator/signed')).body.verification).toEqual({ by: 'hmac', header: 'X-MyOperator-Signature', allowList: false });
  await relay.addChannel('crm', { verify: 'apikey', apiKeyHeader: 'x-webhook-token', apiKey: 'k-0123456789abcdef', allowIp: ['127.0.0.0/8'] });
  const res = await relay.post('crm', '{"id":"k1","type":"call.end"}', { 'x-webhook-token': 'k-0123456789abcdef' });
  expect(res.status).toBe(200);
  expect((await call<EventDetailView>('GET', '/api/events/crm/k1')).body.verification).toEqual({ by: 'apikey', location: 'header', name: 'x-webhook-token', allowList: true });
  const trigger = await call<{ events: { id: string }[] }>('POST', '/api/channels/crm/trigger', { type: 'call.answered' });
  expect(trigger.status).toBe(200);
  const sample = await call<EventDetailView>('GET', `/api/events/crm/${trigger.body.events[0]?.id ?? ''}`);
  expect(sample.body).toMatchObject({ synthetic: true, verification: { by: 'api-token', allowList: false } });
});

it('shows delivery states per consumer in listings, details and deliveries, filters by them, and replays parked events', async () => {
  for (const id of ['e1', 'e2', 'e3']) await postV2(id, 'call.end', 'call-A');
  const { store } = relay;
  const now = Date.now();
  await store.openConsumer({ channel: 'myoperator', name: 'laptop', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: 1 }, new Date(now));
  const claimed = await store.claimDeliveries({ channel: 'myoperator', consumer: 'laptop', session: 'S1', limit: 2, ordered: false, now: new Date(now), leaseMs: 30_000 });
  expect(claimed.map((d) => d.event.id)).toEqual(['e1', 'e2']);
  await store.ackDelivery({ channel: 'myoperator', consumer: 'laptop', seq: 1, attempt: 1, session: 'S1', now: new Date(now + 5), latencyMs: 5, status: 204 });
  await store.nackDelivery({ channel: 'myoperator', consumer: 'laptop', seq: 2, attempt: 1, session: 'S1', now: new Date(now + 5), latencyMs: 9, status: 500, error: 'handler answered 500' }, new Date(now + 60_000));

  const list = await call<EventListView>('GET', '/api/events?channel=myoperator');
  expect(list.body.events.map((e) => [e.id, e.deliveries.map((d) => `${d.consumer}:${d.state}`)])).toEqual([
    ['e3', ['laptop:pending']],
    ['e2', ['laptop:parked']],
    ['e1', ['laptop:delivered']],
  ]);
  expect(await listIds('state=parked')).toEqual(['e2']);
  expect(await listIds('state=pending&consumer=laptop')).toEqual(['e3']);
  expect(await listIds('consumer=nobody')).toEqual([]);

  const detail = await call<EventDetailView>('GET', '/api/events/myoperator/e2');
  expect(detail.body.deliveries).toEqual([{ consumer: 'laptop', state: 'parked', attempts: 1, nextAttemptAt: null }]);
  const deliveries = await call<DeliveryListView>('GET', '/api/events/myoperator/e2/deliveries');
  expect(deliveries.body.consumers).toEqual(detail.body.deliveries);
  expect(deliveries.body.attempts.map((a) => [a.consumer, a.status, a.error, a.outcome])).toEqual([['laptop', 500, 'handler answered 500', 'failed']]);
  const consumers = await call<ConsumerListView>('GET', '/api/consumers?channel=myoperator');
  expect(consumers.body.consumers.map((c) => [c.name, c.pending, c.failing, c.failed])).toEqual([['laptop', 1, 0, 1]]);

  const replay = await call<ReplayResult>('POST', '/api/consumers/myoperator/laptop/replay', { state: 'parked' });
  expect(replay.body).toEqual({ channel: 'myoperator', consumer: 'laptop', queued: 1, missing: [] });
  expect(await listIds('state=parked')).toEqual([]);
  expect(await listIds('state=pending')).toEqual(['e3', 'e2']);
});

it('keeps the filters inside the channels a developer token may read', async () => {
  await postV2('m1', 'call.end', 'call-A');
  await relay.addChannel('sales', { verify: 'none' });
  await relay.post('sales', JSON.stringify({ event_id: 's1', event_type: 'call.end', session_id: 'call-A' }));
  const dev = (await issueToken(relay.store, { name: 'dev', role: 'developer', channels: ['sales'] })).token;
  const seen = await call<EventListView>('GET', '/api/events?session=call-A&q=call&type=call.*', undefined, dev);
  expect(seen.body.events.map((e) => e.id)).toEqual(['s1']);
});
