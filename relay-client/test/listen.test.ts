import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ClientError } from '../src/errors.js';
import { listen, type ListenDeps } from '../src/listener.js';
import type { ListenOptions } from '../src/config.js';
import type { ListenSummary } from '../src/renderer/renderer.js';
import { RecordingRenderer } from '../src/renderer/recording.js';
import { eventMessage, startFakeRelay, type FakeRelay, type FakeRelayOptions } from './support/fake-relay.js';
import { freePort, startHttpTarget, type HttpTarget } from './support/http-target.js';

const TOKEN = 'mrt_test_token_do_not_print_0123456789';

let relays: FakeRelay[] = [];
let targets: HttpTarget[] = [];
let controllers: AbortController[] = [];
let runs: Promise<unknown>[] = [];

afterEach(async () => {
  for (const c of controllers) c.abort();
  await Promise.allSettled(runs);
  await Promise.all([...relays.map((r) => r.close()), ...targets.map((t) => t.close())]);
  relays = [];
  targets = [];
  controllers = [];
  runs = [];
});

async function relay(options?: FakeRelayOptions): Promise<FakeRelay> {
  const r = await startFakeRelay(options);
  relays.push(r);
  return r;
}

async function target(...args: Parameters<typeof startHttpTarget>): Promise<HttpTarget> {
  const t = await startHttpTarget(...args);
  targets.push(t);
  return t;
}

interface Run {
  renderer: RecordingRenderer;
  controller: AbortController;
  /** The listen promise; settles (never rejects) with the summary or the error. */
  result: Promise<ListenSummary | ClientError>;
}

/** Starts listen in-process with a recording renderer; stop it through `controller`. */
function start(options: Partial<ListenOptions> & { relay: string; forwardTo: string }, deps: ListenDeps = {}): Run {
  const renderer = new RecordingRenderer();
  const controller = new AbortController();
  controllers.push(controller);
  const result = listen(
    { token: TOKEN, consumer: 'tester', ...options },
    { renderer, signal: controller.signal, backoff: { initialMs: 20, maxMs: 100 }, ...deps },
  ).catch((error: unknown) => {
    if (error instanceof ClientError) return error;
    throw error;
  });
  runs.push(result);
  return { renderer, controller, result };
}

describe('listen: connection and subscription', () => {
  it('authenticates with a Bearer header, offers myop-relay.v1, says hello, then subscribes each channel', async () => {
    const r = await relay();
    const t = await target();
    const run = start({
      relay: r.url,
      forwardTo: `${t.origin}/hook`,
      channels: ['myoperator', 'sales'],
      events: ['call.*', 'message.received'],
      since: '15m',
      window: 4,
      ordered: true,
      maxAttempts: 5,
    });
    const conn = await r.connection(1);
    expect(conn.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(conn.offered).toEqual(['myop-relay.v1']);
    expect(conn.headers['sec-websocket-protocol']).toBe('myop-relay.v1');
    const sales = await conn.waitFor('subscribe', (m) => m.channel === 'sales');
    expect(conn.messages[0]).toMatchObject({ type: 'hello', protocol: 1 });
    expect(conn.messages[0]).not.toHaveProperty('token');
    expect((conn.messages[0] as { agent: string }).agent).toMatch(/^relay-client\/\S+ node\//);
    expect(sales).toMatchObject({ consumer: 'tester', events: ['call.*', 'message.received'], since: '15m', window: 4, ordered: true, maxAttempts: 5 });
    expect(conn.messages.filter((m) => m.type === 'subscribe').map((m) => (m as { channel: string }).channel)).toEqual(['myoperator', 'sales']);
    await run.renderer.waitFor('subscribed', (s) => s.channel === 'sales');
    expect(conn.invalid).toEqual([]);
  });

  it('sends the token in hello instead of a header when the adapter cannot set headers', async () => {
    const r = await relay();
    const t = await target();
    const run = start({ relay: r.url, forwardTo: `${t.origin}/hook` }, { tokenInHello: true });
    const conn = await r.connection(1);
    expect(conn.headers.authorization).toBeUndefined();
    expect(await conn.waitFor('hello')).toMatchObject({ protocol: 1, token: TOKEN });
    await run.renderer.waitFor('subscribed');
  });

  it('forwards an event and acks it with the status, attempt and latency after the handler answers 2xx', async () => {
    const r = await relay();
    const t = await target((_req, res) => {
      res.writeHead(201).end();
    });
    const run = start({ relay: r.url, forwardTo: `${t.origin}/webhooks/myoperator?x=1` });
    const conn = await r.connection(1);
    await run.renderer.waitFor('subscribed');
    const body = Buffer.from('{"event_id":"evt_ack","event_type":"call.answered"}');
    const event = eventMessage({ body, seq: 7, attempt: 2 });
    conn.send(event);
    const ack = await conn.waitFor('ack');
    expect(ack).toMatchObject({ sub: 's-myoperator', seq: 7, attempt: 2, status: 201 });
    expect(ack.latencyMs).toBeGreaterThanOrEqual(0);
    const received = await t.request(1);
    expect(received.body.equals(body)).toBe(true);
    expect(received.url).toBe('/webhooks/myoperator?x=1');
    const forwarded = await run.renderer.waitFor('forwarded');
    expect(forwarded).toMatchObject({ id: event.id, answer: 'ack', outcome: { ok: true, status: 201 } });
    expect(run.renderer.of('eventReceived')[0]).toMatchObject({ id: event.id, eventType: 'call.answered', bytes: body.length });
  });

  it('estimates the next attempt by the schedule the relay sent in welcome', async () => {
    const r = await relay({ welcome: { retryInitialMs: 5_000, retryMaxMs: 12_000 } });
    const t = await target((_req, res) => {
      res.writeHead(503).end();
    });
    const run = start({ relay: r.url, forwardTo: `${t.origin}/hook` });
    const conn = await r.connection(1);
    await run.renderer.waitFor('subscribed');
    conn.send(eventMessage({ seq: 4, attempt: 1 }));
    expect(await run.renderer.waitFor('forwarded')).toMatchObject({ answer: 'nack', nextAttemptMs: 5_000 });
    conn.send(eventMessage({ seq: 5, attempt: 3 }));
    expect(await run.renderer.waitFor('forwarded', (f) => f.seq === 5)).toMatchObject({ answer: 'nack', nextAttemptMs: 12_000 });
  });

  it('nacks a failed delivery with the status, and estimates the next attempt', async () => {
    const r = await relay();
    const t = await target((_req, res) => {
      res.writeHead(500).end('boom');
    });
    const run = start({ relay: r.url, forwardTo: `${t.origin}/hook` });
    const conn = await r.connection(1);
    await run.renderer.waitFor('subscribed');
    conn.send(eventMessage({ seq: 3, attempt: 2 }));
    const nack = await conn.waitFor('nack');
    expect(nack).toMatchObject({ seq: 3, attempt: 2, status: 500 });
    expect(nack.error).toBeUndefined();
    const forwarded = await run.renderer.waitFor('forwarded');
    expect(forwarded).toMatchObject({ answer: 'nack', nextAttemptMs: 2000, outcome: { ok: false, status: 500 } });
  });

  it('nacks with the error code when the handler is not running, and says when no attempt is left', async () => {
    const r = await relay();
    const port = await freePort();
    const run = start({ relay: r.url, forwardTo: `http://127.0.0.1:${port}/hook`, maxAttempts: 3 });
    const conn = await r.connection(1);
    await run.renderer.waitFor('subscribed');
    conn.send(eventMessage({ seq: 9, attempt: 3 }));
    const nack = await conn.waitFor('nack');
    expect(nack).toMatchObject({ seq: 9, attempt: 3, error: 'ECONNREFUSED' });
    expect(nack.status).toBeUndefined();
    const forwarded = await run.renderer.waitFor('forwarded');
    expect(forwarded.nextAttemptMs).toBeUndefined();
    run.controller.abort();
    // The event is parked by the relay after its last attempt, so it is not pending.
    expect(await run.result).toEqual({ connected: true, delivered: 0, failed: 1, pending: 0, pendingFrom: 'client' });
  });

  it('forwards events concurrently', async () => {
    const r = await relay();
    let inFlight = 0;
    let mostInFlight = 0;
    let release!: () => void;
    const bothArrived = new Promise<void>((resolve) => (release = resolve));
    // A client that forwards one event at a time never sends the second while the first is held:
    // the hold ends after a bound instead, and the count below tells the two apart.
    const bound = new Promise<void>((resolve) => setTimeout(resolve, 5_000).unref());
    const t = await target(async (_req, res) => {
      inFlight += 1;
      mostInFlight = Math.max(mostInFlight, inFlight);
      if (inFlight === 2) release();
      await Promise.race([bothArrived, bound]);
      inFlight -= 1;
      res.writeHead(200).end();
    });
    const run = start({ relay: r.url, forwardTo: `${t.origin}/hook` });
    const conn = await r.connection(1);
    await run.renderer.waitFor('subscribed');
    conn.send(eventMessage({ seq: 1 }));
    conn.send(eventMessage({ seq: 2 }));
    const acks = await Promise.all([conn.waitFor('ack', (a) => a.seq === 1), conn.waitFor('ack', (a) => a.seq === 2)]);
    expect(acks.map((a) => a.seq)).toEqual([1, 2]);
    expect(mostInFlight).toBe(2);
  });

  it('reports backlog progress and relay errors that leave the connection open', async () => {
    const r = await relay();
    const t = await target();
    const run = start({ relay: r.url, forwardTo: `${t.origin}/hook` });
    const conn = await r.connection(1);
    await run.renderer.waitFor('subscribed');
    conn.send({ type: 'backlog', sub: 's-myoperator', delivered: 1200, total: 5000 });
    conn.send({ type: 'error', code: 'RELAY_E_WS_NOT_IN_FLIGHT', message: 'The ack or nack names an event that is not awaiting an answer.', sub: 's-myoperator', fatal: false });
    expect(await run.renderer.waitFor('backlog')).toEqual({ channel: 'myoperator', delivered: 1200, total: 5000 });
    expect(await run.renderer.waitFor('error')).toMatchObject({ code: 'RELAY_E_WS_NOT_IN_FLIGHT', fatal: false });
  });

  it('reports a message that fails to decode and keeps working', async () => {
    const r = await relay();
    const t = await target();
    const run = start({ relay: r.url, forwardTo: `${t.origin}/hook` });
    const conn = await r.connection(1);
    await run.renderer.waitFor('subscribed');
    conn.send('this is not json');
    conn.send(JSON.stringify({ type: 'event', sub: 's-myoperator', seq: 'one' }));
    conn.send(JSON.stringify({ type: 'surprise' }));
    conn.send(eventMessage({ seq: 11 }));
    await conn.waitFor('ack', (a) => a.seq === 11);
    expect(run.renderer.of('error').map((e) => e.code)).toEqual(['RELAY_E_WS_MALFORMED', 'RELAY_E_WS_INVALID_MESSAGE', 'RELAY_E_WS_UNKNOWN_TYPE']);
    expect(run.renderer.of('error').every((e) => !e.fatal)).toBe(true);
  });

  it('refuses to start with invalid options, before connecting', async () => {
    const r = await relay();
    const run = start({ relay: r.url, forwardTo: 'ftp://localhost/x' });
    const error = await run.result;
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).code).toBe('RELAY_E_CLIENT_CONFIG_INVALID');
    expect((error as ClientError).message).toContain('--forward-to');
    expect(r.connections).toHaveLength(0);
  });
});

describe('listen: heartbeats', () => {
  it('answers a ping with a pong carrying the same ts', async () => {
    const r = await relay();
    const t = await target();
    const run = start({ relay: r.url, forwardTo: `${t.origin}/hook` });
    const conn = await r.connection(1);
    await run.renderer.waitFor('subscribed');
    conn.send({ type: 'ping', ts: 1714557600000.5 });
    expect(await conn.waitFor('pong')).toEqual({ type: 'pong', ts: 1714557600000.5 });
  });

  it('pings when it sent nothing for one heartbeat interval', async () => {
    const r = await relay({ welcome: { heartbeatMs: 50 } });
    const t = await target();
    start({ relay: r.url, forwardTo: `${t.origin}/hook` });
    const conn = await r.connection(1);
    const ping = await conn.waitFor('ping');
    expect(Number.isFinite(ping.ts)).toBe(true);
  });

  it('drops a connection on which nothing arrived for two intervals, and reconnects', async () => {
    const r = await relay({ welcome: { heartbeatMs: 60 } });
    const t = await target();
    const run = start({ relay: r.url, forwardTo: `${t.origin}/hook` });
    const first = await r.connection(1);
    await run.renderer.waitFor('subscribed');
    // From now on the relay stays silent on this connection.
    first.ws.removeAllListeners('message');
    const reconnecting = await run.renderer.waitFor('reconnecting');
    expect(reconnecting.failure).toMatchObject({ kind: 'heartbeat-timeout', fatal: false });
    expect((await first.closed).code).toBe(4201);
    const second = await r.connection(2);
    await second.waitFor('subscribe');
  });
});

describe('listen: reconnecting', () => {
  it('reconnects after the relay shuts down and subscribes again with the same consumer', async () => {
    const r = await relay();
    const t = await target();
    const run = start({ relay: r.url, forwardTo: `${t.origin}/hook`, since: '1h' });
    const first = await r.connection(1);
    const firstSubscribe = await first.waitFor('subscribe');
    first.ws.close(4202, 'RELAY_E_WS_SERVER_SHUTDOWN');
    const reconnecting = await run.renderer.waitFor('reconnecting');
    expect(reconnecting.failure).toMatchObject({ kind: 'server-shutdown', fatal: false, closeCode: 4202 });
    expect(reconnecting.delayMs).toBeLessThanOrEqual(20);
    const second = await r.connection(2);
    expect(await second.waitFor('subscribe')).toEqual(firstSubscribe);
    // Events on the new connection are answered there.
    await run.renderer.waitFor('subscribed', () => run.renderer.of('subscribed').length === 2);
    second.send(eventMessage({ seq: 21 }));
    await second.waitFor('ack', (a) => a.seq === 21);
  });

  it('drops the answer to an event whose connection is gone; the relay delivers it again', async () => {
    const r = await relay();
    let answer!: () => void;
    const answered = new Promise<void>((resolve) => (answer = resolve));
    const t = await target(async (_req, res) => {
      await answered;
      res.writeHead(200).end();
    });
    const run = start({ relay: r.url, forwardTo: `${t.origin}/hook` });
    const first = await r.connection(1);
    await run.renderer.waitFor('subscribed');
    first.send(eventMessage({ seq: 31 }));
    await t.request(1);
    first.ws.terminate();
    const second = await r.connection(2);
    await second.waitFor('subscribe');
    answer();
    const forwarded = await run.renderer.waitFor('forwarded');
    expect(forwarded.answer).toBe('lost');
    expect(second.messages.some((m) => m.type === 'ack')).toBe(false);
    run.controller.abort();
    expect(await run.result).toEqual({ connected: true, delivered: 0, failed: 0, pending: 1, pendingFrom: 'client' });
  });

  it('keeps retrying an unreachable relay, naming the URL and the cause, until stopped', async () => {
    const port = await freePort();
    const run = start({ relay: `http://127.0.0.1:${port}`, forwardTo: 'http://127.0.0.1:1/hook' });
    const third = await run.renderer.waitFor('reconnecting', (r) => r.attempt === 3);
    expect(third.failure).toMatchObject({ kind: 'unreachable', fatal: false, code: 'ECONNREFUSED' });
    expect(third.failure.message).toContain(`ws://127.0.0.1:${port}/ws`);
    run.controller.abort();
    expect(await run.result).toEqual({ connected: false, delivered: 0, failed: 0, pending: 0, pendingFrom: 'client' });
  });

  it('reports a TLS failure as TLS, with its code, and stops when no connection ever succeeded', async () => {
    const plain = await relay();
    const run = start({ relay: plain.url.replace('http:', 'https:'), forwardTo: 'http://127.0.0.1:1/hook' });
    const error = await run.result;
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).code).toBe('RELAY_E_CLIENT_TLS');
    expect((error as ClientError).exitCode).toBe(1);
    expect(run.renderer.of('error')[0]?.message).toMatch(/TLS failure connecting to wss:\/\/127\.0\.0\.1:\d+\/ws: \S+/);
  });
});

describe('listen: fatal failures', () => {
  it('stops with RELAY_E_CLIENT_TOKEN_REJECTED when the upgrade is refused with 401', async () => {
    const r = await relay({ refuseUpgrade: 401 });
    const run = start({ relay: r.url, forwardTo: 'http://127.0.0.1:1/hook' });
    const error = await run.result;
    expect(error).toBeInstanceOf(ClientError);
    expect((error as ClientError).code).toBe('RELAY_E_CLIENT_TOKEN_REJECTED');
    expect((error as ClientError).exitCode).toBe(2);
    expect((error as ClientError).message).toContain('relay-server token create');
    expect(run.renderer.of('reconnecting')).toEqual([]);
    expect(JSON.stringify(run.renderer.events)).not.toContain(TOKEN);
  });

  it('stops with RELAY_E_CLIENT_TOKEN_REJECTED when the relay closes with 4101', async () => {
    const r = await relay({ welcome: false });
    const run = start({ relay: r.url, forwardTo: 'http://127.0.0.1:1/hook' });
    const conn = await r.connection(1);
    await conn.waitFor('hello');
    conn.send({ type: 'error', code: 'RELAY_E_WS_TOKEN_INVALID', message: 'The token is unknown, expired or revoked.', fatal: true });
    conn.ws.close(4101, 'RELAY_E_WS_TOKEN_INVALID');
    const error = await run.result;
    expect((error as ClientError).code).toBe('RELAY_E_CLIENT_TOKEN_REJECTED');
    expect(r.connections).toHaveLength(1);
  });

  it('stops with RELAY_E_CLIENT_PROTOCOL_VERSION when the relay closes with the version close code', async () => {
    const r = await relay({ welcome: false });
    const run = start({ relay: r.url, forwardTo: 'http://127.0.0.1:1/hook' });
    const conn = await r.connection(1);
    await conn.waitFor('hello');
    conn.ws.close(4006, 'RELAY_E_WS_PROTOCOL_VERSION');
    const error = await run.result;
    expect((error as ClientError).code).toBe('RELAY_E_CLIENT_PROTOCOL_VERSION');
    expect((error as ClientError).message).toMatch(/Upgrade relay-client/);
  });

  it('stops with RELAY_E_CLIENT_PROTOCOL_VERSION when the relay selects no subprotocol', async () => {
    const r = await relay({ selectProtocol: false });
    const run = start({ relay: r.url, forwardTo: 'http://127.0.0.1:1/hook' });
    expect(((await run.result) as ClientError).code).toBe('RELAY_E_CLIENT_PROTOCOL_VERSION');
  });

  it('stops with RELAY_E_CLIENT_PROTOCOL_VERSION on a welcome of another version, closing with 4006', async () => {
    const r = await relay({ welcome: { protocol: 2 } });
    const run = start({ relay: r.url, forwardTo: 'http://127.0.0.1:1/hook' });
    const conn = await r.connection(1);
    expect(((await run.result) as ClientError).code).toBe('RELAY_E_CLIENT_PROTOCOL_VERSION');
    expect((await conn.closed).code).toBe(4006);
  });

  it('stops with RELAY_E_CLIENT_SUBSCRIBE_REFUSED when a channel is refused, naming it', async () => {
    const r = await relay({
      onSubscribe: (m) =>
        m.channel === 'nope'
          ? { type: 'error', code: 'RELAY_E_WS_UNKNOWN_CHANNEL', message: 'No channel with this name exists on the relay.', ref: m.ref, fatal: false }
          : { type: 'subscribed', ref: m.ref, sub: `s-${m.channel}`, channel: m.channel, consumer: m.consumer, created: false, pending: 0 },
    });
    const run = start({ relay: r.url, forwardTo: 'http://127.0.0.1:1/hook', channels: ['myoperator', 'nope'] });
    const conn = await r.connection(1);
    const error = await run.result;
    expect((error as ClientError).code).toBe('RELAY_E_CLIENT_SUBSCRIBE_REFUSED');
    expect((error as ClientError).message).toContain('"nope"');
    expect((error as ClientError).message).toContain('RELAY_E_WS_UNKNOWN_CHANNEL');
    expect(await conn.waitFor('unsubscribe')).toEqual({ type: 'unsubscribe', sub: 's-myoperator' });
    expect((await conn.closed).code).toBe(1000);
  });
});

describe('listen: stopping', () => {
  it('lets in-flight forwards finish and answers them, takes no new events, closes with 1000 and reports the summary', async () => {
    const r = await relay();
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const t = await target(async (req, res) => {
      if (req.url === '/hold') await held;
      res.writeHead(200).end();
    });
    const run = start({ relay: r.url, forwardTo: `${t.origin}/hold` });
    const conn = await r.connection(1);
    await run.renderer.waitFor('subscribed');
    conn.send(eventMessage({ seq: 1 }));
    await t.request(1);
    run.controller.abort();
    expect(await run.renderer.waitFor('stopping')).toMatchObject({ inFlight: 1 });
    expect(await conn.waitFor('unsubscribe')).toEqual({ type: 'unsubscribe', sub: 's-myoperator' });
    // Sent by the relay before it handled the unsubscribe: not forwarded, left for redelivery.
    conn.send(eventMessage({ seq: 2 }));
    // Messages are handled in order, so the pong proves the client has seen that event.
    conn.send({ type: 'ping', ts: 99 });
    await conn.waitFor('pong', (p) => p.ts === 99);
    release();
    expect(await conn.waitFor('ack')).toMatchObject({ seq: 1 });
    expect((await conn.closed).code).toBe(1000);
    const summary = await run.result;
    expect(summary).toEqual({ connected: true, delivered: 1, failed: 0, pending: 1, pendingFrom: 'client' });
    expect(run.renderer.of('summary')).toEqual([summary]);
    expect(t.requests).toHaveLength(1);
  });

  it('closes its connections to the handler when it stops', async () => {
    const r = await relay();
    const t = await target();
    // The handler would keep idle connections for a minute.
    t.server.keepAliveTimeout = 60_000;
    const accepted: Socket[] = [];
    t.server.on('connection', (socket: Socket) => accepted.push(socket));
    const run = start({ relay: r.url, forwardTo: `${t.origin}/hook`, window: 4 });
    const conn = await r.connection(1);
    await run.renderer.waitFor('subscribed');
    for (let seq = 1; seq <= 4; seq++) conn.send(eventMessage({ seq }));
    await run.renderer.waitFor('forwarded', () => run.renderer.of('forwarded').length === 4);
    run.controller.abort();
    expect(await run.result).toMatchObject({ delivered: 4 });
    const stopped = performance.now();
    expect(accepted.length).toBeGreaterThan(0);
    await Promise.all(accepted.map((s) => (s.destroyed ? undefined : once(s, 'close'))));
    // Well before an idle connection would be closed anyway (1 s).
    expect(performance.now() - stopped).toBeLessThan(500);
  });

  it('stops at once when aborted before the relay answered', async () => {
    const r = await relay({ welcome: false });
    const run = start({ relay: r.url, forwardTo: 'http://127.0.0.1:1/hook' });
    const conn = await r.connection(1);
    await conn.waitFor('hello');
    run.controller.abort();
    expect(await run.result).toEqual({ connected: false, delivered: 0, failed: 0, pending: 0, pendingFrom: 'client' });
  });
});

describe('listen: re-signing', () => {
  it('forwards with the signature of --resign-secret', async () => {
    const r = await relay();
    const t = await target();
    const run = start({ relay: r.url, forwardTo: `${t.origin}/hook`, resignSecret: 'dev-secret' });
    const conn = await r.connection(1);
    await run.renderer.waitFor('subscribed');
    const body = Buffer.from('{"id":"evt_sig"}');
    conn.send(eventMessage({ body, headers: [['X-MyOperator-Signature', 'aaaa']] }));
    const received = await t.request(1);
    const index = received.rawHeaders.indexOf('X-MyOperator-Signature');
    expect(received.rawHeaders[index + 1]).toBe(createHmac('sha256', 'dev-secret').update(body).digest('hex'));
  });
});
