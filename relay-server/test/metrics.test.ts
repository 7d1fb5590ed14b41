import { statSync } from 'node:fs';
import type { EventMessage } from '@myop-relay/protocol';
import { describe, expect, it } from 'vitest';
import { resolveServerConfig } from '../src/config.js';
import { issueToken } from '../src/tokens.js';
import { TEST_SECRET, relaysPerTest, sign, type TestRelay } from './harness.js';
import type { TestSocket } from './ws-client.js';

const relays = relaysPerTest();

/** Samples of a Prometheus text exposition, keyed `name{label="value",…}` with labels sorted. */
function parseExposition(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!match) throw new Error(`not an exposition line: ${line}`);
    const labels = [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => `${m[1]}="${m[2]}"`).sort();
    samples.set(labels.length ? `${match[1]}{${labels.join(',')}}` : (match[1] ?? ''), Number(match[3]));
  }
  return samples;
}

/** The key {@link parseExposition} files a sample under. */
function series(name: string, labels: Record<string, string> = {}): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).sort();
  return parts.length ? `${name}{${parts.join(',')}}` : name;
}

async function scrape(r: TestRelay, token = r.adminToken): Promise<Map<string, number>> {
  const res = await fetch(`${r.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return parseExposition(await res.text());
}

async function post(r: TestRelay, id: string, signature?: string): Promise<number> {
  const body = JSON.stringify({ event_id: id, event_type: 'call.answered', payload: { id } });
  return (await r.post('myoperator', body, { 'X-MyOperator-Signature': signature ?? sign(body, TEST_SECRET) })).status;
}

/** Receives `count` events and answers each with `answer`. */
async function answerEvents(socket: TestSocket, count: number, answer: (e: EventMessage) => void): Promise<void> {
  for (let i = 0; i < count; i++) answer(await socket.next('event'));
}

describe('GET /metrics', () => {
  it('asks for an admin token on the main port', async () => {
    const r = await relays.start();
    const bare = await fetch(`${r.url}/metrics`);
    expect(bare.status).toBe(401);
    expect(((await bare.json()) as { error: { code: string } }).error.code).toBe('RELAY_E_AUTH_REQUIRED');
    const { token } = await issueToken(r.store, { name: 'dev', role: 'developer', channels: null });
    const developer = await fetch(`${r.url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
    expect(developer.status).toBe(403);
    expect(((await developer.json()) as { error: { code: string } }).error.code).toBe('RELAY_E_ADMIN_REQUIRED');
    const samples = await scrape(r);
    expect(samples.get(series('relay_build_info', { engine: 'sqlite', version: '0.1.0' }))).toBe(1);
    expect(samples.get('relay_store_up')).toBe(1);
    // Process figures come along for the usual dashboards.
    expect(samples.get('process_cpu_user_seconds_total')).toBeGreaterThanOrEqual(0);
  });

  it('moves by exactly what was ingested, delivered, failed and pruned', async () => {
    const r = await relays.start({ retryInitial: '1h', retryMax: '1h', retentionMaxEvents: 3 });
    const laptop = relays.connect(r);
    const strict = relays.connect(r);
    await laptop.hello();
    await strict.hello();
    await laptop.subscribe({ consumer: 'laptop', maxAttempts: 3, window: 10 });
    await strict.subscribe({ consumer: 'strict', maxAttempts: 1, window: 10 });
    const before = await scrape(r);

    for (let i = 0; i < 5; i++) expect(await post(r, `evt_${i}`)).toBe(200);
    expect(await post(r, 'evt_0')).toBe(200);
    expect(await post(r, 'evt_bad_1', 'f'.repeat(64))).toBe(401);
    expect(await post(r, 'evt_bad_2', 'e'.repeat(64))).toBe(401);
    expect((await r.post('nowhere', '{}')).status).toBe(404);

    // laptop: three acked, two failed once and waiting (an hour) for their retry.
    await answerEvents(laptop, 5, (e) => (['evt_3', 'evt_4'].includes(e.id) ? laptop.nack(e) : laptop.ack(e)));
    // strict: one attempt only, so its failure parks the event.
    await answerEvents(strict, 5, (e) => (e.id === 'evt_0' ? strict.nack(e) : strict.ack(e)));
    await expect.poll(async () => (await r.store.listConsumers('myoperator')).map((c) => [c.name, c.pending, c.retrying, c.failed])).toEqual([
      ['laptop', 2, 2, 0],
      ['strict', 0, 0, 1],
    ]);

    const after = await scrape(r);
    const delta = (name: string, labels: Record<string, string> = {}): number => (after.get(series(name, labels)) ?? 0) - (before.get(series(name, labels)) ?? 0);
    const ingest = (outcome: string, channel = 'myoperator'): number => delta('relay_ingest_requests_total', { channel, outcome });
    expect([ingest('ok'), ingest('duplicate'), ingest('RELAY_E_SIGNATURE_MISMATCH'), ingest('RELAY_E_UNKNOWN_CHANNEL', '(unknown)')]).toEqual([5, 1, 2, 1]);
    expect(delta('relay_ingest_duration_seconds_count', { status: '2xx' })).toBe(6);
    expect(delta('relay_ingest_duration_seconds_count', { status: '4xx' })).toBe(3);
    // Posted one after another, each stored event (the duplicate too) was its own group commit.
    expect(delta('relay_store_flush_duration_seconds_count')).toBe(6);

    const attempts = (consumer: string, outcome: string): number => delta('relay_delivery_attempts_total', { channel: 'myoperator', consumer, outcome });
    expect([attempts('laptop', 'acked'), attempts('laptop', 'retry'), attempts('laptop', 'parked')]).toEqual([3, 2, 0]);
    expect([attempts('strict', 'acked'), attempts('strict', 'retry'), attempts('strict', 'parked')]).toEqual([4, 0, 1]);
    expect(delta('relay_delivery_receive_to_ack_seconds_count', { channel: 'myoperator', consumer: 'laptop' })).toBe(3);
    expect(delta('relay_delivery_receive_to_ack_seconds_count', { channel: 'myoperator', consumer: 'strict' })).toBe(4);

    const gauge = (name: string, consumer: string): number | undefined => after.get(series(name, { channel: 'myoperator', consumer }));
    expect(['laptop', 'strict'].map((c) => [gauge('relay_consumer_pending_events', c), gauge('relay_consumer_retrying_events', c), gauge('relay_consumer_parked_events', c)])).toEqual([
      [2, 2, 0],
      [0, 0, 1],
    ]);
    expect(gauge('relay_consumer_oldest_pending_age_seconds', 'laptop')).toBeGreaterThan(0);
    expect(gauge('relay_consumer_oldest_pending_age_seconds', 'strict')).toBe(0);
    expect([gauge('relay_consumer_sessions', 'laptop'), gauge('relay_consumer_sessions', 'strict'), after.get('relay_websocket_sessions')]).toEqual([1, 1, 2]);
    const onDisk = statSync(r.dbPath).size + (statSync(`${r.dbPath}-wal`, { throwIfNoEntry: false })?.size ?? 0);
    expect(after.get('relay_store_size_bytes')).toBe(onDisk);

    // Retention keeps the newest 3 of the 5 events.
    expect(await r.app.relay.retention.runOnce()).toBe(2);
    const pruned = await scrape(r);
    expect((pruned.get('relay_retention_deleted_events_total') ?? 0) - (after.get('relay_retention_deleted_events_total') ?? 0)).toBe(2);

    laptop.close();
    await laptop.closed;
    await expect.poll(async () => (await scrape(r)).get('relay_websocket_sessions')).toBe(1);
  });

  it('counts an attempt nobody answered within the ack timeout as expired', async () => {
    const r = await relays.start({ ackTimeout: '1s' });
    const socket = relays.connect(r);
    await socket.hello();
    await socket.subscribe({ consumer: 'sleepy' });
    const before = await scrape(r);
    expect(await post(r, 'evt_silent')).toBe(200);
    const first = await socket.next('event');
    // No answer: after the lease the same event comes again, as attempt 2.
    const second = await socket.next('event');
    expect([first.attempt, second.attempt]).toEqual([1, 2]);
    socket.ack(second);
    await expect.poll(async () => (await r.store.listConsumers('myoperator'))[0]?.pending).toBe(0);
    const after = await scrape(r);
    const attempts = (outcome: string): number => {
      const key = series('relay_delivery_attempts_total', { channel: 'myoperator', consumer: 'sleepy', outcome });
      return (after.get(key) ?? 0) - (before.get(key) ?? 0);
    };
    expect([attempts('expired'), attempts('acked')]).toEqual([1, 1]);
  });

  it('serves /metrics without a token on --metrics-listen, and only there', async () => {
    const r = await relays.start({ metricsListen: '127.0.0.1:0' });
    const url = r.app.relay.metricsUrl;
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const res = await fetch(url ?? '');
    expect(res.status).toBe(200);
    expect(parseExposition(await res.text()).get('relay_store_up')).toBe(1);
    const elsewhere = await fetch((url ?? '').replace(/\/metrics$/, '/api/channels'));
    expect(elsewhere.status).toBe(404);
    expect(((await elsewhere.json()) as { error: { code: string } }).error.code).toBe('RELAY_E_NOT_FOUND');
    const main = await fetch(`${r.url}/metrics`, { headers: { authorization: `Bearer ${r.adminToken}` } });
    expect(main.status).toBe(404);
  });

  it('refuses a --metrics-listen that is not HOST:PORT', () => {
    for (const bad of ['9464', 'localhost', 'host:99999', '::1:9464']) {
      expect(() => resolveServerConfig({ metricsListen: bad }), bad).toThrow(/--metrics-listen/);
    }
    expect(resolveServerConfig({ metricsListen: '[::1]:9464' }).metricsListen).toEqual({ host: '::1', port: 9464 });
  });
});
