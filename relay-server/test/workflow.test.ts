import type { ReplayResult, SampleCatalogue, TriggerResult } from '@myop-relay/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { issueToken } from '../src/tokens.js';
import { TEST_SECRET, sign, startRelay, type TestRelay } from './harness.js';
import { TestSocket, bodyText } from './ws-client.js';

let relay: TestRelay | undefined;
const sockets: TestSocket[] = [];
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.close();
  await relay?.close();
  relay = undefined;
});

async function api<T>(r: TestRelay, method: string, path: string, body?: unknown, token = r.adminToken): Promise<{ status: number; body: T & { error?: { code: string; message: string } } }> {
  const res = await fetch(`${r.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : {}) as T & { error?: { code: string; message: string } } };
}

type Json = Record<string, any>;

async function storedJson(r: TestRelay, channel: string, id: string): Promise<Json> {
  const event = await r.store.getEvent(channel, id);
  return JSON.parse(Buffer.from(event?.body ?? []).toString()) as Json;
}

describe('trigger', () => {
  it('lists what it can generate', async () => {
    relay = await startRelay();
    const { body } = await api<SampleCatalogue>(relay, 'GET', '/api/samples');
    expect(body.shapes['seed']).toEqual(['call.started', 'call.answered', 'call.ended']);
    expect(body.shapes['v2']).toEqual(expect.arrayContaining(['call.initiated', 'call.dial_begin', 'call.answered', 'call.end', 'call.summary', 'call.disposition', 'message.received', 'conversation.close']));
    expect(Object.keys(body.flows)).toEqual(['call', 'whatsapp']);
  });

  it('stores a signed synthetic event that a consumer receives, marked synthetic', async () => {
    relay = await startRelay();
    const socket = new TestSocket(relay.url, { token: relay.adminToken });
    sockets.push(socket);
    await socket.hello();
    await socket.subscribe({ consumer: 'laptop' });
    const res = await api<TriggerResult>(relay, 'POST', '/api/channels/myoperator/trigger', { type: 'call.answered' });
    expect(res.status).toBe(200);
    const [made] = res.body.events;
    expect(made).toMatchObject({ type: 'call.answered', seq: 1, duplicate: false });
    const event = await socket.next('event');
    expect(event).toMatchObject({ id: made?.id, synthetic: true, eventType: 'call.answered' });
    const signature = event.headers.find(([n]) => n === 'X-MyOperator-Signature')?.[1];
    expect(signature).toBe(sign(bodyText(event), TEST_SECRET));
    const json = JSON.parse(bodyText(event)) as Json;
    expect(json).toMatchObject({ event_type: 'call.answered', channel: 'call', event_version: 1, payload: { status: 'bridged' } });
  });

  it('emits a whole call flow in order, consistent across its events', async () => {
    relay = await startRelay();
    const { body } = await api<TriggerResult>(relay, 'POST', '/api/channels/myoperator/trigger', { flow: 'call' });
    expect(body.events.map((e) => e.type)).toEqual(['call.initiated', 'call.dial_begin', 'call.answered', 'call.end', 'call.summary', 'call.disposition']);
    expect(body.events.map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    const events = await Promise.all(body.events.map((e) => storedJson(relay!, 'myoperator', e.id)));
    expect(new Set(events.map((e) => e['session_id'])).size).toBe(1);
    expect(new Set(events.map((e) => e['customer_identifier'])).size).toBe(1);
    expect(events.map((e) => e['event_sequence'])).toEqual([1, 2, 3, 4, 5, undefined]);
    const answered = events[2]?.['payload'] as Json;
    const ended = events[3]?.['payload'] as Json;
    expect(ended['legs'][1]).toMatchObject({ uid: answered['legs'][0]['uid'], agent: answered['legs'][0]['agent'] });
    expect(ended['legs'][0]['phone_number']).toBe(events[0]?.['customer_identifier']);
    const times = events.slice(0, 5).map((e) => Date.parse(e['timestamp'] as string));
    expect([...times].sort((a, b) => a - b)).toEqual(times);
    expect(events[4]?.['system_identifier']).toBeNull();
  });

  it('applies --set overrides and the seed shape', async () => {
    relay = await startRelay();
    const { body } = await api<TriggerResult>(relay, 'POST', '/api/channels/myoperator/trigger', { type: 'call.ended', shape: 'seed', set: { 'data.duration_sec': '7', 'data.queue': 'Support' } });
    const json = await storedJson(relay, 'myoperator', body.events[0]?.id ?? '');
    expect(json).toMatchObject({ type: 'call.ended', data: { duration_sec: 7, queue: 'Support' } });
    expect(json['id']).toBe(body.events[0]?.id);
  });

  it('names the valid types when the type is unknown', async () => {
    relay = await startRelay();
    const res = await api<TriggerResult>(relay, 'POST', '/api/channels/myoperator/trigger', { type: 'call.teleported' });
    expect(res.status).toBe(400);
    expect(res.body.error?.code).toBe('RELAY_E_UNKNOWN_EVENT_TYPE');
    expect(res.body.error?.message).toContain('call.dial_begin');
  });

  it('sends legacy v1 samples only to channels that accept forms', async () => {
    relay = await startRelay();
    expect((await api<TriggerResult>(relay, 'POST', '/api/channels/myoperator/trigger', { type: 'legacy.sms' })).body.error?.code).toBe('RELAY_E_LEGACY_FORM_REFUSED');
    await relay.addChannel('old', { verify: 'basic', basic: 'myop:password1', acceptLegacyForm: true });
    const { body } = await api<TriggerResult>(relay, 'POST', '/api/channels/old/trigger', { type: 'legacy.sms' });
    const stored = await relay.store.getEvent('old', body.events[0]?.id ?? '');
    expect(stored).toMatchObject({ type: 'legacy.sms', synthetic: true });
    expect(Buffer.from(stored?.body ?? []).toString()).toMatch(/^myoperator=%7B/);
  });

  it("refuses samples larger than the channel's --max-body, storing none of a flow", async () => {
    relay = await startRelay();
    await relay.addChannel('small', { verify: 'none', maxBody: 4096 });
    const fits = await api<TriggerResult>(relay, 'POST', '/api/channels/small/trigger', { type: 'call.answered' });
    expect(fits.status).toBe(200);
    const padded = await api(relay, 'POST', '/api/channels/small/trigger', { type: 'call.answered', set: { 'payload.note': 'x'.repeat(4096) } });
    expect(padded.status).toBe(413);
    expect(padded.body.error?.code).toBe('RELAY_E_BODY_TOO_LARGE');
    expect(padded.body.error?.message).toContain('limit 4096');

    // A limit between the flow's smallest and largest event: the small ones fit, the large ones do not.
    const flow = await api<TriggerResult>(relay, 'POST', '/api/channels/myoperator/trigger', { flow: 'call' });
    const sizes = (await relay.store.listEvents({ visibleChannels: null, channel: 'myoperator', limit: 10 })).events.map((e) => e.size);
    expect(sizes).toHaveLength(flow.body.events.length);
    const [smallest, largest] = [Math.min(...sizes), Math.max(...sizes)];
    expect(largest - smallest).toBeGreaterThan(100);
    await relay.addChannel('middle', { verify: 'none', maxBody: Math.floor((smallest + largest) / 2) });
    const refused = await api(relay, 'POST', '/api/channels/middle/trigger', { flow: 'call' });
    expect(refused.status).toBe(413);
    expect(refused.body.error?.code).toBe('RELAY_E_BODY_TOO_LARGE');
    expect((await relay.store.channelStats('small')).events).toBe(1);
    expect((await relay.store.channelStats('middle')).events).toBe(0);
  });

  it('keeps developer tokens to their channels', async () => {
    relay = await startRelay();
    await relay.addChannel('sales', { verify: 'none' });
    const { token } = await issueToken(relay.store, { name: 'dev', role: 'developer', channels: ['sales'] });
    expect((await api(relay, 'POST', '/api/channels/myoperator/trigger', { type: 'call.end' }, token)).body.error?.code).toBe('RELAY_E_CHANNEL_FORBIDDEN');
    expect((await api(relay, 'POST', '/api/channels/sales/trigger', { type: 'call.end' }, token)).status).toBe(200);
  });
});

describe('replay', () => {
  it('queues acked events again for a consumer, byte-exact, with the next attempt and the replay flag', async () => {
    relay = await startRelay();
    const socket = new TestSocket(relay.url, { token: relay.adminToken });
    sockets.push(socket);
    await socket.hello();
    await socket.subscribe({ consumer: 'laptop' });
    const { body } = await api<TriggerResult>(relay, 'POST', '/api/channels/myoperator/trigger', { flow: 'call', shape: 'seed' });
    const first = [];
    for (let i = 0; i < 3; i++) {
      const event = await socket.next('event');
      first.push(event);
      socket.ack(event);
    }
    const target = body.events[1]?.id ?? '';
    const res = await api<ReplayResult>(relay, 'POST', '/api/consumers/myoperator/laptop/replay', { ids: [target, 'evt_missing'] });
    expect(res.body).toEqual({ channel: 'myoperator', consumer: 'laptop', queued: 1, missing: ['evt_missing'] });
    const again = await socket.next('event');
    expect(again).toMatchObject({ id: target, attempt: 2, replay: true });
    expect(again.body).toBe(first.find((e) => e.id === target)?.body);
    socket.ack(again);
    const byTime = await api<ReplayResult>(relay, 'POST', '/api/consumers/myoperator/laptop/replay', { since: '1h', type: 'call.started' });
    expect(byTime.body.queued).toBe(1);
    expect((await socket.next('event')).eventType).toBe('call.started');
  });

  it('refuses an unknown consumer and a request without ids or since', async () => {
    relay = await startRelay();
    const body = '{"id":"x"}';
    await relay.post('myoperator', body, { 'X-MyOperator-Signature': sign(body, TEST_SECRET) });
    expect((await api(relay, 'POST', '/api/consumers/myoperator/ghost/replay', { ids: ['x'] })).body.error?.code).toBe('RELAY_E_CONSUMER_NOT_FOUND');
    expect((await api(relay, 'POST', '/api/consumers/myoperator/ghost/replay', {})).body.error?.code).toBe('RELAY_E_INVALID_BODY');
  });
});
