import type { ChannelList, EventDetailView, EventListView } from '@myop-relay/protocol';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { issueToken } from '../src/tokens.js';
import { TEST_SECRET, sign, startRelay, type TestRelay } from './harness.js';

let relay: TestRelay;
let devToken: string;

beforeEach(async () => {
  relay = await startRelay();
  await relay.addChannel('sales', { verify: 'none' });
  devToken = (await issueToken(relay.store, { name: 'dev', role: 'developer', channels: ['sales'] })).token;
  for (let i = 1; i <= 5; i++) {
    const body = JSON.stringify({ event_id: `m${i}`, event_type: i % 2 ? 'call.answered' : 'call.end' });
    await relay.post('myoperator', body, { 'X-MyOperator-Signature': sign(body, TEST_SECRET) });
    await relay.post('sales', JSON.stringify({ id: `s${i}`, type: 'message.received' }));
  }
});
afterEach(async () => {
  await relay.close();
});

async function get<T>(path: string, token?: string): Promise<{ status: number; body: T & { error?: { code: string } } }> {
  const res = await fetch(`${relay.url}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: res.status, body: (await res.json()) as T & { error?: { code: string } } };
}

it('requires a valid bearer token', async () => {
  expect((await get('/api/channels')).body.error?.code).toBe('RELAY_E_AUTH_REQUIRED');
  const wrong = await get('/api/channels', 'mrt_not-a-real-token');
  expect(wrong.status).toBe(401);
  expect(wrong.body.error?.code).toBe('RELAY_E_TOKEN_INVALID');
});

it('lists channels without secrets; a developer sees only its channels', async () => {
  const admin = await get<ChannelList>('/api/channels', relay.adminToken);
  expect(admin.body.channels.map((c) => c.name)).toEqual(['myoperator', 'sales']);
  expect(admin.body.channels[0]).toMatchObject({ events: 5, lastSeq: 5, verification: { mode: 'hmac', activeSecrets: 1 } });
  expect(JSON.stringify(admin.body)).not.toContain(TEST_SECRET);
  const dev = await get<ChannelList>('/api/channels', devToken);
  expect(dev.body.channels.map((c) => c.name)).toEqual(['sales']);
});

it('lists events newest first with filters and cursor pagination', async () => {
  const all = await get<EventListView>('/api/events?channel=myoperator', relay.adminToken);
  expect(all.body.events.map((e) => e.id)).toEqual(['m5', 'm4', 'm3', 'm2', 'm1']);
  const typed = await get<EventListView>('/api/events?channel=myoperator&type=call.end', relay.adminToken);
  expect(typed.body.events.map((e) => e.id)).toEqual(['m4', 'm2']);
  const seen: string[] = [];
  let cursor: string | null = '';
  while (cursor !== null) {
    const page: { body: EventListView } = await get<EventListView>(`/api/events?limit=3${cursor ? `&cursor=${cursor}` : ''}`, relay.adminToken);
    seen.push(...page.body.events.map((e) => e.id));
    cursor = page.body.nextCursor;
  }
  expect(seen).toHaveLength(10);
  expect(new Set(seen).size).toBe(10);
  const future = await get<EventListView>(`/api/events?since=${new Date(Date.now() + 60_000).toISOString()}`, relay.adminToken);
  expect(future.body.events).toEqual([]);
  const recent = await get<EventListView>('/api/events?since=1h&before=' + encodeURIComponent(new Date(Date.now() + 60_000).toISOString()), relay.adminToken);
  expect(recent.body.events).toHaveLength(10);
});

it('limits a developer token to its channels', async () => {
  const mine = await get<EventListView>('/api/events', devToken);
  expect(new Set(mine.body.events.map((e) => e.channel))).toEqual(new Set(['sales']));
  const forbidden = await get<EventListView>('/api/events?channel=myoperator', devToken);
  expect(forbidden.status).toBe(403);
  expect(forbidden.body.error?.code).toBe('RELAY_E_CHANNEL_FORBIDDEN');
  expect((await get('/api/events/myoperator/m1', devToken)).body.error?.code).toBe('RELAY_E_CHANNEL_FORBIDDEN');
});

it('returns one event with headers, exact body and metadata', async () => {
  const res = await get<EventDetailView>('/api/events/myoperator/m3', relay.adminToken);
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({ channel: 'myoperator', id: 'm3', seq: 3, type: 'call.answered', synthetic: false, sourceIp: '127.0.0.1' });
  expect(res.body.bodyText).toBe(JSON.stringify({ event_id: 'm3', event_type: 'call.answered' }));
  expect(Buffer.from(res.body.bodyBase64, 'base64').toString()).toBe(res.body.bodyText);
  expect(res.body.headers.find(([n]) => n.toLowerCase() === 'x-myoperator-signature')).toBeDefined();
  const missing = await get('/api/events/myoperator/nope', relay.adminToken);
  expect(missing.status).toBe(404);
  expect(missing.body.error?.code).toBe('RELAY_E_EVENT_NOT_FOUND');
});

it('refuses bad query parameters with INVALID_QUERY', async () => {
  for (const q of ['limit=0', 'limit=5000', 'limit=abc', 'since=yesterday', 'cursor=garbage']) {
    const res = await get(`/api/events?${q}`, relay.adminToken);
    expect(res.status, q).toBe(400);
    expect(res.body.error?.code, q).toBe('RELAY_E_INVALID_QUERY');
  }
});

it('reports health and readiness', async () => {
  expect(await get('/healthz')).toEqual({ status: 200, body: { status: 'ok' } });
  expect(await get('/readyz')).toEqual({ status: 200, body: { status: 'ready', store: 'sqlite' } });
});
