import { fdatasync } from 'node:fs';
import type { EventMessage } from '@myop-relay/protocol';
import { describe, expect, it } from 'vitest';
import { issueToken } from '../src/tokens.js';
import { TEST_SECRET, postEvents, relaysPerTest, sign } from './harness.js';
import { bodyText, type TestSocket } from './ws-client.js';

const relays = relaysPerTest({ retryInitial: '50ms', retryMax: '200ms' });
const start = relays.start;
const connect = relays.connect;

async function receive(socket: TestSocket, count: number, answer: (e: EventMessage) => void = (e) => socket.ack(e)): Promise<EventMessage[]> {
  const events: EventMessage[] = [];
  while (events.length < count) {
    const event = await socket.next('event');
    events.push(event);
    answer(event);
  }
  return events;
}

describe('connection', () => {
  it('refuses a bad bearer token before the upgrade', async () => {
    const r = await start();
    const socket = connect(r, { token: 'mrt_wrong' });
    const [status] = await new Promise<[number]>((resolve) => socket.ws.on('unexpected-response', (_req, res) => resolve([res.statusCode ?? 0])));
    expect(status).toBe(401);
  });

  it('takes the token from hello when no header was sent, and refuses a hello without one', async () => {
    const r = await start();
    const good = connect(r, {});
    await good.hello(r.adminToken);
    const bad = connect(r, {});
    await bad.opened();
    bad.send({ type: 'hello', protocol: 1, agent: 't' });
    expect((await bad.next('error')).code).toBe('RELAY_E_WS_AUTH_REQUIRED');
    expect((await bad.closed).code).toBe(4100);
  });

  it('closes only the offending connection on malformed, unknown and oversized messages', async () => {
    const r = await start();
    const healthy = connect(r);
    await healthy.hello();
    const cases: [string | Buffer, string][] = [
      ['not json', 'RELAY_E_WS_MALFORMED'],
      ['{"type":"teleport"}', 'RELAY_E_WS_UNKNOWN_TYPE'],
      ['{"type":"ack","sub":"s1"}', 'RELAY_E_WS_INVALID_MESSAGE'],
    ];
    for (const [data, code] of cases) {
      const socket = connect(r);
      await socket.hello();
      socket.sendRaw(data);
      expect((await socket.next('error')).code).toBe(code);
      expect((await socket.closed).code).toBeGreaterThanOrEqual(4000);
    }
    const big = connect(r);
    await big.hello();
    big.sendRaw(`{"type":"ping","ts":1,"pad":"${'x'.repeat(5 * 1024 * 1024)}"}`);
    expect((await big.closed).code).toBe(1009);
    await healthy.subscribe({ consumer: 'still-alive' });
    await postEvents(r, 1);
    expect((await healthy.next('event')).id).toBe('evt_0');
  });

  it('refuses a second token in hello when the header carried one', async () => {
    const r = await start();
    const socket = connect(r);
    await socket.opened();
    socket.send({ type: 'hello', protocol: 1, agent: 't', token: r.adminToken });
    expect((await socket.next('error')).code).toBe('RELAY_E_WS_INVALID_MESSAGE');
    expect((await socket.closed).code).toBeGreaterThanOrEqual(4000);
  });

  it('requires hello first', async () => {
    const r = await start();
    const socket = connect(r);
    await socket.opened();
    socket.send({ type: 'ping', ts: 1 });
    expect((await socket.next('error')).code).toBe('RELAY_E_WS_HELLO_REQUIRED');
  });

  it('drops a half-open client within two heartbeat intervals', async () => {
    const r = await start({ heartbeatInterval: '200ms' });
    const socket = connect(r);
    await socket.hello();
    // Stop answering pings, as a laptop that went to sleep would.
    socket.ws.removeAllListeners('message');
    const started = Date.now();
    const { code } = await socket.closed;
    expect(code).toBe(4201);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('refuses a developer token on a channel it lacks, and an unknown channel', async () => {
    const r = await start();
    await r.addChannel('sales', { verify: 'none' });
    const { token } = await issueToken(r.store, { name: 'dev', role: 'developer', channels: ['sales'] });
    const socket = connect(r, { token });
    await socket.hello();
    await expect(socket.subscribe({ consumer: 'c' })).rejects.toThrow('RELAY_E_WS_CHANNEL_FORBIDDEN');
    await expect(socket.subscribe({ channel: 'sales', consumer: 'c' })).resolves.toMatch(/^s/);
    const admin = connect(r);
    await admin.hello();
    await expect(admin.subscribe({ channel: 'nope', consumer: 'c' })).rejects.toThrow('RELAY_E_WS_UNKNOWN_CHANNEL');
  });
});

describe('delivery', () => {
  it('delivers stored bytes and headers, and records the ack', async () => {
    const r = await start();
    const socket = connect(r);
    await socket.hello();
    await socket.subscribe({ consumer: 'laptop' });
    await postEvents(r, 1);
    const event = await socket.next('event');
    expect(event).toMatchObject({ id: 'evt_0', seq: 1, attempt: 1, eventType: 'call.answered', synthetic: false, replay: false });
    expect(bodyText(event)).toBe(JSON.stringify({ event_id: 'evt_0', event_type: 'call.answered', payload: { n: 0 } }));
    expect(event.headers.find(([n]) => n === 'X-MyOperator-Signature')?.[1]).toBe(sign(bodyText(event), TEST_SECRET));
    socket.ack(event);
    await expect.poll(async () => (await r.store.listAttempts('myoperator', 'evt_0'))?.[0]?.outcome).toBe('acked');
    const consumers = await r.store.listConsumers('myoperator');
    expect(consumers).toMatchObject([{ name: 'laptop', pending: 0, failed: 0 }]);
  });

  it('sends a committed event to its consumer while the disk flush runs, and answers the sender after it', async () => {
    const held: (() => void)[] = [];
    // No poll comes to the rescue: the commit itself must wake the consumer.
    const r = await start({ pollInterval: '1h' }, { syncWal: (fd, done) => held.push(() => fdatasync(fd, done)) });
    const socket = connect(r);
    await socket.hello();
    await socket.subscribe({ consumer: 'laptop' });
    const body = JSON.stringify({ event_id: 'evt_early', event_type: 'call.answered' });
    let answered = false;
    const posted = r.post('myoperator', body, { 'X-MyOperator-Signature': sign(body, TEST_SECRET) }).then((res) => {
      answered = true;
      return res;
    });
    const event = await socket.next('event');
    expect(event.id).toBe('evt_early');
    expect(held).toHaveLength(1);
    expect(answered).toBe(false);
    socket.ack(event);
    held.shift()?.();
    expect((await posted).status).toBe(200);
  });

  it('redelivers a nacked event with the same id and a higher attempt, recording every attempt', async () => {
    const r = await start();
    const socket = connect(r);
    await socket.hello();
    await socket.subscribe({ consumer: 'laptop' });
    await postEvents(r, 1);
    const attempts: number[] = [];
    for (let i = 0; i < 4; i++) {
      const event = await socket.next('event');
      expect(event.id).toBe('evt_0');
      attempts.push(event.attempt);
      if (i < 3) socket.nack(event);
      else socket.ack(event);
    }
    expect(attempts).toEqual([1, 2, 3, 4]);
    await expect.poll(async () => (await r.store.listAttempts('myoperator', 'evt_0'))?.map((a) => a.outcome)).toEqual(['retry', 'retry', 'retry', 'acked']);
  });

  it('parks an event as failed after maxAttempts and moves on', async () => {
    const r = await start();
    const socket = connect(r);
    await socket.hello();
    await socket.subscribe({ consumer: 'laptop', maxAttempts: 2 });
    await postEvents(r, 2);
    const seen: string[] = [];
    await receive(socket, 3, (e) => {
      seen.push(`${e.id}#${e.attempt}`);
      if (e.id === 'evt_0') socket.nack(e);
      else socket.ack(e);
    });
    expect(seen.sort()).toEqual(['evt_0#1', 'evt_0#2', 'evt_1#1']);
    await expect.poll(async () => (await r.store.listConsumers('myoperator'))[0]).toMatchObject({ failed: 1, pending: 0 });
  });

  it('gives every consumer every event (fan-out)', async () => {
    const r = await start();
    const a = connect(r);
    const b = connect(r);
    await a.hello();
    await b.hello();
    await a.subscribe({ consumer: 'a' });
    await b.subscribe({ consumer: 'b' });
    const ids = await postEvents(r, 20);
    const [gotA, gotB] = await Promise.all([receive(a, 20), receive(b, 20)]);
    expect(gotA.map((e) => e.id).sort()).toEqual([...ids].sort());
    expect(gotB.map((e) => e.id).sort()).toEqual([...ids].sort());
  });

  it('shares one consumer between sessions: each event once in total', async () => {
    const r = await start();
    const a = connect(r);
    const b = connect(r);
    await a.hello();
    await b.hello();
    await a.subscribe({ consumer: 'shared', window: 2 });
    await b.subscribe({ consumer: 'shared', window: 2 });
    const ids = await postEvents(r, 40);
    const got: string[] = [];
    const take = async (socket: TestSocket): Promise<void> => {
      for (;;) {
        const event = await socket.next('event', 1_500).catch(() => undefined);
        if (!event) return;
        got.push(event.id);
        socket.ack(event);
      }
    };
    await Promise.all([take(a), take(b)]);
    expect(got.sort()).toEqual([...ids].sort());
  });

  it('redelivers to another session the events a closed session left unanswered', async () => {
    const r = await start();
    const a = connect(r);
    await a.hello();
    await a.subscribe({ consumer: 'shared', window: 4 });
    await postEvents(r, 4);
    const held = await receive(a, 4, () => undefined);
    a.close();
    await a.closed;
    const b = connect(r);
    await b.hello();
    await b.subscribe({ consumer: 'shared' });
    const again = await receive(b, 4);
    expect(again.map((e) => e.id).sort()).toEqual(held.map((e) => e.id).sort());
    expect(again.every((e) => e.attempt === 2)).toBe(true);
  });

  it('redelivers after the ack timeout when a live session never answers', async () => {
    const r = await start({ ackTimeout: '1s' });
    const a = connect(r);
    await a.hello();
    await a.subscribe({ consumer: 'slow', window: 1 });
    await postEvents(r, 1);
    const first = await a.next('event');
    const second = await a.next('event', 5_000);
    expect(second).toMatchObject({ id: first.id, attempt: 2 });
  });

  it('applies event-type filters without counting filtered events as pending', async () => {
    const r = await start();
    const socket = connect(r);
    await socket.hello();
    await socket.subscribe({ consumer: 'calls', events: ['call.end', 'message.*'] });
    await postEvents(r, 3, { type: 'call.answered', prefix: 'ans' });
    await postEvents(r, 2, { type: 'call.end', prefix: 'end' });
    await postEvents(r, 2, { type: 'message.received', prefix: 'msg' });
    const got = await receive(socket, 4);
    expect(got.map((e) => e.id).sort()).toEqual(['end_0', 'end_1', 'msg_0', 'msg_1']);
    await expect.poll(async () => (await r.store.listConsumers('myoperator'))[0]?.pending).toBe(0);
  });

  it('starts a new consumer at since (sequence number or duration) and resumes an existing one', async () => {
    const r = await start();
    await postEvents(r, 5);
    const bySeq = connect(r);
    await bySeq.hello();
    await bySeq.subscribe({ consumer: 'from-3', since: '3' });
    expect((await receive(bySeq, 3)).map((e) => e.seq)).toEqual([3, 4, 5]);
    const byTime = connect(r);
    await byTime.hello();
    await byTime.subscribe({ consumer: 'last-hour', since: '1h' });
    expect((await receive(byTime, 5)).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5]);
    const now = connect(r);
    await now.hello();
    await now.subscribe({ consumer: 'from-now' });
    now.close();
    await now.closed;
    await postEvents(r, 2, { type: 'call.end', prefix: 'later' });
    const resumed = connect(r);
    await resumed.hello();
    await resumed.subscribe({ consumer: 'from-now', since: '1' });
    expect((await receive(resumed, 2)).map((e) => e.id)).toEqual(['later_0', 'later_1']);
  });

  it('delivers one at a time in sequence order when ordered, even across failures', async () => {
    const r = await start();
    const socket = connect(r);
    await socket.hello();
    await socket.subscribe({ consumer: 'ordered', ordered: true, window: 8 });
    await postEvents(r, 5);
    const order: string[] = [];
    let failedOnce = false;
    await receive(socket, 6, (e) => {
      order.push(`${e.seq}#${e.attempt}`);
      expect(socket.drain('event')).toEqual([]);
      if (e.seq === 2 && !failedOnce) {
        failedOnce = true;
        socket.nack(e);
      } else socket.ack(e);
    });
    expect(order).toEqual(['1#1', '2#1', '2#2', '3#1', '4#1', '5#1']);
  });

  it('reports catch-up progress for a backlog', async () => {
    const r = await start();
    await postEvents(r, 10);
    const socket = connect(r);
    await socket.hello();
    await socket.subscribe({ consumer: 'late', since: '1' });
    await receive(socket, 10);
    await expect.poll(() => socket.drain('backlog').some((b) => b.delivered === 10 && b.total === 10)).toBe(true);
  });
});
