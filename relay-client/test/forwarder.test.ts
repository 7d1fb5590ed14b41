import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { Clock } from '../src/clock.js';
import { Forwarder, parseForwardTarget, type ForwardTarget } from '../src/forwarder.js';
import { eventMessage } from './support/fake-relay.js';
import { freePort, pairs, startHttpTarget, type HttpTarget } from './support/http-target.js';

const SECRET = 'whsec_local_test_secret_0123456789';

function sign(body: Buffer | Uint8Array, secret = SECRET): string {
  return createHmac('sha256', secret).update(body).digest('hex');
}

function target(url: string): ForwardTarget {
  const parsed = parseForwardTarget(url);
  if (!parsed.ok) throw new Error(parsed.reason);
  return parsed.target;
}

/** Header names in the order they arrived. */
function names(rawHeaders: readonly string[]): string[] {
  return pairs(rawHeaders).map(([name]) => name);
}

function header(rawHeaders: readonly string[], name: string): string[] {
  return pairs(rawHeaders)
    .filter(([n]) => n.toLowerCase() === name.toLowerCase())
    .map(([, v]) => v);
}

let targets: HttpTarget[] = [];
const servers: Server[] = [];
const forwarders: Forwarder[] = [];
afterEach(async () => {
  await Promise.all(forwarders.splice(0).map((f) => f.close()));
  await Promise.all(targets.map((t) => t.close()));
  targets = [];
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

async function handler(...args: Parameters<typeof startHttpTarget>): Promise<HttpTarget> {
  const t = await startHttpTarget(...args);
  targets.push(t);
  return t;
}

describe('Forwarder', () => {
  it('delivers the exact body bytes, so a handler checking the real HMAC accepts them', async () => {
    // Odd spacing, key order and non-ASCII text: anything re-serialised would change the bytes.
    const body = Buffer.from('{"id":"evt_01JABCXYZ123",  "type":"call.answered","data":{"agent":"अमित कुमार","n":1.50}}\n', 'utf8');
    const local = await handler((req, res) => {
      const expected = Buffer.from(sign(req.body), 'utf8');
      const given = Buffer.from(header(req.rawHeaders, 'x-myoperator-signature')[0] ?? '', 'utf8');
      const valid = expected.length === given.length && timingSafeEqual(expected, given);
      res.writeHead(valid ? 204 : 401).end();
    });
    const forwarder = pooled({ target: target(`${local.origin}/webhooks/myoperator`) });
    const outcome = await forwarder.forward(
      eventMessage({ body, headers: [['Content-Type', 'application/json'], ['X-MyOperator-Signature', sign(body)]] }),
    );
    expect(outcome).toMatchObject({ ok: true, status: 204 });
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(0);
    const received = await local.request(1);
    expect(received.body.equals(body)).toBe(true);
    expect(received.method).toBe('POST');
  });

  it('sends the original headers in order and spelling with duplicates, drops those it may not forward, adds X-Relay-*', async () => {
    const local = await handler();
    const body = Buffer.from('{"event_id":"e1"}');
    const event = eventMessage({
      body,
      seq: 42,
      id: 'evt_hdr',
      channel: 'sales',
      attempt: 3,
      receivedAt: '2025-08-26T10:03:59.123Z',
      headers: [
        ['host', 'relay.example.com'],
        ['user-agent', 'MyOperator-Webhook/2.0'],
        ['Connection', 'keep-alive, X-Hop'],
        ['X-Hop', 'per-connection'],
        ['content-type', 'application/json'],
        ['Keep-Alive', 'timeout=5'],
        ['Transfer-Encoding', 'chunked'],
        ['TE', 'trailers'],
        ['Upgrade', 'h2c'],
        ['Expect', '100-continue'],
        ['Proxy-Authorization', 'Basic eA=='],
        ['x-source', 'myoperator'],
        ['X-Custom', 'first'],
        ['x-custom', 'second'],
        ['Content-Length', '9999'],
        ['X-Relay-Seq', 'spoofed'],
        ['X-Latin', 'caf\u00e9'],
      ],
    });
    const forwarder = pooled({ target: target(`${local.origin}/hook`) });
    expect((await forwarder.forward(event)).ok).toBe(true);
    const { rawHeaders } = await local.request(1);
    const port = new URL(local.origin).port;
    expect(pairs(rawHeaders)).toEqual([
      // The HTTP client's own: Host for the target, and the pooled connection.
      ['host', `127.0.0.1:${port}`],
      ['connection', 'keep-alive'],
      ['user-agent', 'MyOperator-Webhook/2.0'],
      ['content-type', 'application/json'],
      ['x-source', 'myoperator'],
      ['X-Custom', 'first'],
      ['x-custom', 'second'],
      ['X-Latin', 'caf\u00e9'],
      ['X-Relay-Event-Id', 'evt_hdr'],
      ['X-Relay-Channel', 'sales'],
      ['X-Relay-Seq', '42'],
      ['X-Relay-Attempt', '3'],
      ['X-Relay-Received-At', '2025-08-26T10:03:59.123Z'],
      // The body's length, whatever the original said.
      ['content-length', String(body.length)],
    ]);
  });

  it('flags synthetic and replayed events', async () => {
    const local = await handler();
    const forwarder = pooled({ target: target(`${local.origin}/`) });
    await forwarder.forward(eventMessage({ body: '{}', headers: [['Content-Type', 'application/json']], synthetic: true, replay: true }));
    const { rawHeaders } = await local.request(1);
    expect(names(rawHeaders).slice(0, 3)).toEqual(['host', 'connection', 'Content-Type']);
    expect(header(rawHeaders, 'content-length')).toEqual(['2']);
    expect(header(rawHeaders, 'x-relay-synthetic')).toEqual(['1']);
    expect(header(rawHeaders, 'x-relay-replay')).toEqual(['1']);
  });

  it('sends an empty body with Content-Length 0', async () => {
    const local = await handler();
    expect(await pooled({ target: target(`${local.origin}/hook`) }).forward(eventMessage({ body: '' }))).toMatchObject({ ok: true, status: 200 });
    const received = await local.request(1);
    expect(received.body).toHaveLength(0);
    expect(header(received.rawHeaders, 'content-length')).toEqual(['0']);
  });

  it('fails a forward after close() without sending it', async () => {
    const local = await handler();
    const forwarder = pooled({ target: target(`${local.origin}/hook`) });
    await forwarder.close();
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: false, error: 'UND_ERR_DESTROYED: The client is destroyed' });
    expect(local.requests).toHaveLength(0);
  });

  it('keeps the path and query of --forward-to exactly', async () => {
    const local = await handler();
    const forwarder = pooled({ target: target(`${local.origin}/hooks/../my%2Fop?token=a%20b&x=1&x=2&empty#fragment`) });
    await forwarder.forward(eventMessage());
    expect((await local.request(1)).url).toBe('/hooks/../my%2Fop?token=a%20b&x=1&x=2&empty');
  });

  it('does not follow redirects: a 3xx fails with its status and "redirect not followed"', async () => {
    const elsewhere = await handler();
    const local = await handler((_req, res) => {
      res.writeHead(302, { location: `${elsewhere.origin}/stolen` }).end();
    });
    const forwarder = pooled({ target: target(`${local.origin}/hook`) });
    const outcome = await forwarder.forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, status: 302, error: 'redirect not followed' });
    expect(elsewhere.requests).toHaveLength(0);
  });

  it('reports a non-2xx status with the start of the response body', async () => {
    const local = await handler((_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('database is down');
    });
    const outcome = await pooled({ target: target(`${local.origin}/hook`) }).forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, status: 500, responseBody: 'database is down' });
    expect(outcome.error).toBeUndefined();
  });

  it('keeps at most keepResponseBytes of a large response body and still reads all of it', async () => {
    const local = await handler((_req, res) => {
      res.writeHead(200).end('x'.repeat(200_000));
    });
    const outcome = await pooled({ target: target(`${local.origin}/hook`), keepResponseBytes: 1000 }).forward(eventMessage());
    expect(outcome.ok).toBe(true);
    expect(outcome.responseBody).toHaveLength(1000);
  });

  it('fails with "timeout after N ms" when the handler does not answer in time', async () => {
    const sockets: Socket[] = [];
    const silent = createServer(() => undefined);
    silent.on('connection', (s: Socket) => sockets.push(s));
    servers.push(silent);
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const { port } = silent.address() as AddressInfo;
    const outcome = await pooled({ target: target(`http://127.0.0.1:${port}/hook`), timeoutMs: 150 }).forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, error: 'timeout after 150 ms' });
    expect(outcome.status).toBeUndefined();
    // Loose bound: libuv timers count from a cached loop time, so they can fire a little early.
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(100);
    // The request was abandoned: the handler's connection is closed.
    await Promise.all(sockets.map((s) => (s.destroyed ? undefined : once(s, 'close'))));
  });

  it('fails with the error code when nothing listens', async () => {
    const port = await freePort();
    const outcome = await pooled({ target: target(`http://127.0.0.1:${port}/hook`) }).forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, error: 'ECONNREFUSED' });
  });

  it('re-signs with --resign-secret in place of the original header, keeping its spelling', async () => {
    const body = Buffer.from('{"id":"evt_resign","type":"call.ended"}');
    const local = await handler();
    const forwarder = pooled({ target: target(`${local.origin}/hook`), resign: { secret: 'local-dev-secret', header: 'X-MyOperator-Signature' } });
    await forwarder.forward(eventMessage({ body, headers: [['x-myoperator-signature', sign(body)], ['Content-Type', 'application/json']] }));
    const { rawHeaders } = await local.request(1);
    expect(pairs(rawHeaders).slice(2, 4)).toEqual([
      ['x-myoperator-signature', sign(body, 'local-dev-secret')],
      ['Content-Type', 'application/json'],
    ]);
  });

  it('adds the signature header when the original had none', async () => {
    const body = Buffer.from('{"id":"evt_unsigned"}');
    const local = await handler();
    const forwarder = pooled({ target: target(`${local.origin}/hook`), resign: { secret: 'local-dev-secret', header: 'X-Myop-Signature' } });
    await forwarder.forward(eventMessage({ body, headers: [['Content-Type', 'application/json']] }));
    const { rawHeaders } = await local.request(1);
    expect(header(rawHeaders, 'x-myop-signature')).toEqual([sign(body, 'local-dev-secret')]);
    expect(names(rawHeaders)).toContain('X-Myop-Signature');
  });
});

/** A forwarder closed after the test. */
function pooled(options: ConstructorParameters<typeof Forwarder>[0]): Forwarder {
  const forwarder = new Forwarder(options);
  forwarders.push(forwarder);
  return forwarder;
}

/** The handler's side of every connection it accepted, in order. */
function connections(server: Server): Socket[] {
  const accepted: Socket[] = [];
  server.on('connection', (socket: Socket) => accepted.push(socket));
  return accepted;
}

/** Makes the handler close, unanswered, the connection of each request `drop(n)` picks (`n` counts from 1); returns the count of requests so far. */
function dropConnections(local: HttpTarget, drop: (n: number) => boolean): () => number {
  let requests = 0;
  local.server.prependListener('request', (req: IncomingMessage) => {
    requests++;
    if (drop(requests)) req.socket.destroy();
  });
  return () => requests;
}

async function allClosed(sockets: readonly Socket[]): Promise<void> {
  await Promise.all(sockets.map((s) => (s.destroyed ? undefined : once(s, 'close'))));
}

describe('Forwarder: connections', () => {
  it('reuses a connection for forwards one after another', async () => {
    const local = await handler();
    const accepted = connections(local.server);
    const forwarder = pooled({ target: target(`${local.origin}/hook`), connections: 1 });
    for (let i = 0; i < 20; i++) expect((await forwarder.forward(eventMessage())).ok).toBe(true);
    expect(accepted).toHaveLength(1);
    expect(local.requests).toHaveLength(20);
  });

  it('opens at most `connections` connections: forwards beyond them wait for a free one', async () => {
    const local = await handler(async (_req, res) => {
      // Slow enough that every forward is in flight at once.
      await new Promise((resolve) => setTimeout(resolve, 20));
      res.writeHead(200).end('ok');
    });
    const accepted = connections(local.server);
    const forwarder = pooled({ target: target(`${local.origin}/hook`), connections: 3 });
    const outcomes = await Promise.all(Array.from({ length: 20 }, () => forwarder.forward(eventMessage())));
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(local.requests).toHaveLength(20);
    expect(accepted).toHaveLength(3);
  });

  it('does not fail a forward when the handler closed the connection after its last answer', async () => {
    const local = await handler((_req, res) => {
      const socket = res.socket;
      res.writeHead(200).end('ok', () => socket?.destroy());
    });
    const accepted = connections(local.server);
    const forwarder = pooled({ target: target(`${local.origin}/hook`), connections: 1 });
    for (let i = 0; i < 5; i++) {
      expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200 });
      await allClosed(accepted);
    }
    expect(local.requests).toHaveLength(5);
  });

  it('sends an event again on a new connection when a reused one fails before any answer', async () => {
    // Closing a connection as the next request arrives on it: what a handler that closes idle
    // connections does when the request crosses its close.
    const local = await handler();
    const served = new WeakSet<Socket>();
    local.server.prependListener('request', (req: IncomingMessage) => {
      if (served.has(req.socket)) req.socket.destroy();
      served.add(req.socket);
    });
    const accepted = connections(local.server);
    const forwarder = pooled({ target: target(`${local.origin}/hook`), connections: 1 });
    expect((await forwarder.forward(eventMessage({ id: 'evt_first' }))).ok).toBe(true);
    const outcome = await forwarder.forward(eventMessage({ id: 'evt_second' }));
    expect(outcome).toMatchObject({ ok: true, status: 200 });
    expect(accepted).toHaveLength(2);
    // The dropped attempt and the one that was answered.
    expect(local.requests.map((r) => header(r.rawHeaders, 'x-relay-event-id')[0])).toEqual(['evt_first', 'evt_second', 'evt_second']);
  });

  it('sends at most once more: a failure of the second request is the outcome', async () => {
    const local = await handler();
    const requests = dropConnections(local, (n) => n > 1);
    const forwarder = pooled({ target: target(`${local.origin}/hook`), connections: 1 });
    expect((await forwarder.forward(eventMessage())).ok).toBe(true);
    const outcome = await forwarder.forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, error: 'UND_ERR_SOCKET: other side closed' });
    expect(outcome.status).toBeUndefined();
    expect(requests()).toBe(3);
  });

  it('does not send again when a new connection fails', async () => {
    const local = await handler();
    const requests = dropConnections(local, () => true);
    const outcome = await pooled({ target: target(`${local.origin}/hook`) }).forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, error: 'UND_ERR_SOCKET: other side closed' });
    expect(requests()).toBe(1);
  });

  it('counts the second request within the timeout', async () => {
    const local = await handler();
    const requests = dropConnections(local, (n) => n === 2);
    // The third request, the second of the second forward, is never answered.
    local.respond((_req, res) => {
      if (requests() === 1) res.writeHead(200).end();
    });
    const forwarder = pooled({ target: target(`${local.origin}/hook`), timeoutMs: 300, connections: 1 });
    expect((await forwarder.forward(eventMessage())).ok).toBe(true);
    const outcome = await forwarder.forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, error: 'timeout after 300 ms' });
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(250);
    expect(outcome.latencyMs).toBeLessThan(2_000);
    expect(requests()).toBe(3);
  });

  it('times out a forward still waiting for a connection, and never sends it', async () => {
    // Timers fired by hand: the waiting forward times out while the first still holds the connection.
    const timers: (() => void)[] = [];
    const clock: Clock = { now: () => performance.now(), setTimeout: (callback) => timers.push(callback), clearTimeout: () => undefined };
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const local = await handler(async (_req, res) => {
      await held;
      res.writeHead(200).end();
    });
    const forwarder = pooled({ target: target(`${local.origin}/hook`), clock, connections: 1 });
    const first = forwarder.forward(eventMessage({ id: 'evt_holds' }));
    await local.request(1);
    const waiting = forwarder.forward(eventMessage({ id: 'evt_waits' }));
    timers[1]?.();
    expect(await waiting).toMatchObject({ ok: false, error: 'timeout after 10000 ms' });
    release();
    expect(await first).toMatchObject({ ok: true, status: 200 });
    expect((await forwarder.forward(eventMessage({ id: 'evt_after' }))).ok).toBe(true);
    expect(local.requests.map((r) => header(r.rawHeaders, 'x-relay-event-id')[0])).toEqual(['evt_holds', 'evt_after']);
  });

  it('closes a connection idle for idleConnectionMs, and still waits longer than that for a slow handler', async () => {
    const local = await handler(async (_req, res) => {
      await new Promise((resolve) => setTimeout(resolve, 200));
      res.writeHead(200).end();
    });
    // The handler would keep the connection for a minute; the close has to come from the forwarder.
    local.server.keepAliveTimeout = 60_000;
    const accepted = connections(local.server);
    const forwarder = pooled({ target: target(`${local.origin}/hook`), idleConnectionMs: 50 });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200 });
    await allClosed(accepted);
    expect(accepted).toHaveLength(1);
  });

  it('close() closes the idle connections', async () => {
    const local = await handler();
    local.server.keepAliveTimeout = 60_000;
    const accepted = connections(local.server);
    const forwarder = pooled({ target: target(`${local.origin}/hook`), idleConnectionMs: 60_000 });
    await Promise.all(Array.from({ length: 4 }, () => forwarder.forward(eventMessage())));
    expect(accepted.length).toBeGreaterThan(0);
    await forwarder.close();
    await allClosed(accepted);
  });
});

describe('parseForwardTarget', () => {
  it('accepts http and https URLs and computes Host', () => {
    expect(target('http://localhost:3000/a?b=1')).toMatchObject({ path: '/a?b=1', host: 'localhost:3000', display: 'http://localhost:3000/a?b=1' });
    expect(target('https://example.test')).toMatchObject({ path: '/', host: 'example.test' });
    expect(target('http://[::1]:8080?x')).toMatchObject({ path: '/?x', host: '[::1]:8080' });
  });

  it('refuses other schemes, credentials and non-URLs', () => {
    expect(parseForwardTarget('ftp://localhost/x').ok).toBe(false);
    expect(parseForwardTarget('http://user:pw@localhost/x').ok).toBe(false);
    expect(parseForwardTarget('localhost:3000/x').ok).toBe(false);
  });

  it('percent-encodes a path a request line cannot carry', () => {
    expect(target('http://localhost/a b/ü').path).toBe('/a%20b/%C3%BC');
  });
});
