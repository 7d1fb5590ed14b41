import type { Socket } from 'node:net';
import type { EventMessage, ServerMessage } from '@myop-relay/protocol';
import { describe, expect, it } from 'vitest';
import { issueToken } from '../src/tokens.js';
import { postEvents, relaysPerTest, type TestRelay } from './harness.js';
import type { TestSocket } from './ws-client.js';

const relays = relaysPerTest({ retryInitial: '50ms', retryMax: '200ms' });
const start = relays.start;

function connect(r: TestRelay, token = r.adminToken): TestSocket {
  return relays.connect(r, { token });
}

function eventOn(socket: TestSocket, sub: string): Promise<EventMessage> {
  return socket.nextWhere((m: ServerMessage): m is EventMessage => m.type === 'event' && m.sub === sub, `event on ${sub}`);
}

/** The TCP connection under the test client's WebSocket, to stop and restart reading from it. */
function tcp(socket: TestSocket): Socket {
  return (socket.ws as unknown as { _socket: Socket })._socket;
}

describe('unsubscribe', () => {
  it('keeps answers on an unsubscribed subscription valid and leaves the connection\'s other subscriptions alone', async () => {
    const r = await start();
    const socket = connect(r);
    await socket.hello();
    const a = await socket.subscribe({ consumer: 'a' });
    const b = await socket.subscribe({ consumer: 'b' });
    await postEvents(r, 1);
    const onA = await eventOn(socket, a);
    const onB = await eventOn(socket, b);
    socket.send({ type: 'unsubscribe', sub: a });
    socket.ack(onA);
    await postEvents(r, 1, { prefix: 'later' });
    // Only b still gets events; its first one was never taken back from it.
    const later = await socket.next('event');
    expect(later).toMatchObject({ sub: b, id: 'later_0', attempt: 1 });
    socket.ack(onB);
    socket.ack(later);
    const outcomes = async (id: string) => ((await r.store.listAttempts('myoperator', id)) ?? []).map((x) => [x.consumer, x.attempt, x.outcome]).sort();
    await expect.poll(() => outcomes('evt_0')).toEqual([
      ['a', 1, 'acked'],
      ['b', 1, 'acked'],
    ]);
    await expect.poll(() => outcomes('later_0')).toEqual([['b', 1, 'acked']]);
    expect(socket.drain('error')).toEqual([]);
    expect(socket.drain('event')).toEqual([]);
  });
});

describe('limits', () => {
  it('limits subscriptions per connection, counting unsubscribed ones until their events are answered', async () => {
    const r = await start({ maxSubscriptions: 2 });
    const socket = connect(r);
    await socket.hello();
    const a = await socket.subscribe({ consumer: 'a' });
    await socket.subscribe({ consumer: 'b' });
    await expect(socket.subscribe({ consumer: 'c' })).rejects.toThrow('RELAY_E_WS_TOO_MANY_SUBSCRIPTIONS');
    await postEvents(r, 1);
    const held = await eventOn(socket, a);
    socket.send({ type: 'unsubscribe', sub: a });
    await expect(socket.subscribe({ consumer: 'c' })).rejects.toThrow('RELAY_E_WS_TOO_MANY_SUBSCRIPTIONS');
    socket.ack(held);
    await expect(socket.subscribe({ consumer: 'c' })).resolves.toMatch(/^s/);
  });

  it('limits the consumers one token may create on a channel', async () => {
    const r = await start({ maxConsumersPerToken: 2 });
    const { token } = await issueToken(r.store, { name: 'dev', role: 'developer', channels: ['myoperator'] });
    const socket = connect(r, token);
    await socket.hello();
    await socket.subscribe({ consumer: 'one' });
    await socket.subscribe({ consumer: 'two' });
    await expect(socket.subscribe({ consumer: 'three' })).rejects.toThrow('RELAY_E_WS_CONSUMER_LIMIT');
    // Consumers it already has are resumed, and another token creates its own.
    await expect(socket.subscribe({ consumer: 'one' })).resolves.toMatch(/^s/);
    const admin = connect(r);
    await admin.hello();
    await expect(admin.subscribe({ consumer: 'three' })).resolves.toMatch(/^s/);
    expect((await r.store.listConsumers('myoperator')).map((c) => c.name)).toEqual(['one', 'three', 'two']);
  });
});

describe('backpressure', () => {
  it('stops sending to a session that does not read at its send-buffer bound, and closes it with 4204', async () => {
    const r = await start({ maxSendBuffer: '256KiB', sendStallTimeout: '1s' });
    const socket = connect(r);
    await socket.hello();
    await socket.subscribe({ consumer: 'stuck', window: 1024 });
    tcp(socket).pause();
    // Far more than the kernel's socket buffers hold, so the relay's own buffer reaches its bound.
    const ids = await postEvents(r, 64, { prefix: 'big', padBytes: 512 * 1024 });
    await expect.poll(() => r.logs(), { timeout: 30_000 }).toContain('RELAY_E_WS_SLOW_CONSUMER');
    tcp(socket).resume();
    expect((await socket.closed).code).toBe(4204);
    const events = socket.drain('event');
    expect(events.length).toBeGreaterThan(0);
    expect(events.length).toBeLessThan(ids.length);
    expect(socket.drain('error').map((e) => e.code)).toEqual(['RELAY_E_WS_SLOW_CONSUMER']);
  });

  it('never sends an event whose lease ran out again to a session that has not read it', async () => {
    const r = await start({ ackTimeout: '1s', sendStallTimeout: '3s' });
    const socket = connect(r);
    await socket.hello();
    await socket.subscribe({ consumer: 'stuck', window: 16 });
    tcp(socket).pause();
    const ids = await postEvents(r, 8);
    // The leases run out every second; the client answers no ping, so it is closed in the end.
    await expect.poll(() => r.logs(), { timeout: 30_000 }).toContain('RELAY_E_WS_SLOW_CONSUMER');
    tcp(socket).resume();
    expect((await socket.closed).code).toBe(4204);
    const events = socket.drain('event');
    expect(events.map((e) => [e.id, e.attempt]).sort()).toEqual(ids.map((id) => [id, 1]).sort());
  });

  it('sends an event whose lease ran out again to a session that shows it read the first copy', async () => {
    const r = await start({ ackTimeout: '1s', heartbeatInterval: '1m' });
    const socket = connect(r);
    await socket.hello();
    await socket.subscribe({ consumer: 'slow', window: 4 });
    await postEvents(r, 1);
    const first = await socket.next('event');
    // The relay asks with a ping long before its heartbeat; the pong shows the event was read.
    const again = await socket.next('event', 5_000);
    expect(again).toMatchObject({ id: first.id, attempt: 2 });
  });
});
