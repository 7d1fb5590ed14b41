import { get } from 'node:http';
import type { StreamMessages, WhoAmIView } from '@myop-relay/protocol';
import { afterEach, expect, it } from 'vitest';
import type { AddressInfo } from 'node:net';
import { createTestSchema } from '../../test/support/postgres.js';
import { resolveServerConfig } from '../src/config.js';
import { buildServer } from '../src/server.js';
import { PostgresStore } from '../src/store/postgres-store.js';
import { PAGE_CSP } from '../src/web/page.js';
import { issueToken } from '../src/tokens.js';
import { TEST_SECRET, sign, startRelay, type TestRelay } from './harness.js';
import { plainChannel } from './store-conformance.js';

const relays: TestRelay[] = [];
afterEach(async () => {
  while (relays.length > 0) await relays.pop()?.close();
});

async function relayWith(...args: Parameters<typeof startRelay>): Promise<TestRelay> {
  const relay = await startRelay(...args);
  relays.push(relay);
  return relay;
}

type Message = { [K in keyof StreamMessages]: { event: K; data: StreamMessages[K] } }[keyof StreamMessages];

/** An open `GET /api/stream`, read as the page reads it: fetch and a stream reader. */
class StreamReader {
  private readonly messages: Message[] = [];
  private waiters: (() => void)[] = [];
  ended = false;
  private constructor(private readonly controller: AbortController) {}

  static async open(url: string, token: string): Promise<StreamReader> {
    const controller = new AbortController();
    const res = await fetch(`${url}/api/stream`, { headers: { authorization: `Bearer ${token}` }, signal: controller.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream; charset=utf-8');
    const reader = new StreamReader(controller);
    void reader.pump(res.body as ReadableStream<Uint8Array>);
    return reader;
  }

  private async pump(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    const reader = body.getReader();
    try {
      for (;;) {
        const { value: chunk, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event !== undefined && data !== undefined) this.messages.push({ event, data: JSON.parse(data) } as Message);
          this.wake();
        }
      }
    } catch {
      // Aborted by the test.
    }
    this.ended = true;
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The next message named `event`, skipping others. */
  async next<K extends keyof StreamMessages>(event: K): Promise<StreamMessages[K]> {
    for (;;) {
      const index = this.messages.findIndex((m) => m.event === event);
      if (index >= 0) return this.messages.splice(index, 1)[0]?.data as StreamMessages[K];
      if (this.ended) throw new Error(`the stream ended before an ${event} message`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Resolves when the relay has ended the stream. */
  async end(): Promise<void> {
    while (!this.ended) await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** Every message received so far that is not yet taken. */
  pending(): readonly Message[] {
    return this.messages;
  }

  close(): void {
    this.controller.abort();
  }
}

/** A GET with node:http, answering status and headers (the body is discarded). */
function httpGet(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: import('node:http').IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    get(url, { headers }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
    }).on('error', reject);
  });
}

async function postSigned(relay: TestRelay, id: string): Promise<void> {
  const body = JSON.stringify({ event_id: id, event_type: 'call.answered' });
  expect((await relay.post('myoperator', body, { 'X-MyOperator-Signature': sign(body, TEST_SECRET) })).status).toBe(200);
}

it('tells an open stream which channels have new events, only those its token may read', async () => {
  const relay = await relayWith();
  await relay.addChannel('sales', { verify: 'none' });
  const dev = (await issueToken(relay.store, { name: 'dev', role: 'developer', channels: ['sales'] })).token;
  const admin = await StreamReader.open(relay.url, relay.adminToken);
  const developer = await StreamReader.open(relay.url, dev);
  expect(await admin.next('ready')).toEqual({ token: 'admin' });
  expect(await developer.next('ready')).toEqual({ token: 'dev' });

  await postSigned(relay, 'm1');
  expect(await admin.next('events')).toEqual({ channels: ['myoperator'] });
  expect((await relay.post('sales', '{"id":"s1","type":"message.received"}')).status).toBe(200);
  const seen = await developer.next('events');
  expect(seen).toEqual({ channels: ['sales'] });
  // The developer's stream was told of sales only: myoperator's event came first and left no message.
  expect(developer.pending()).toEqual([]);
  admin.close();
  developer.close();
});

it('tells a stream on one instance of events stored by another sharing the Postgres store', async () => {
  const schema = await createTestSchema();
  const cleanups: (() => Promise<void>)[] = [async () => schema.drop()];
  try {
    const urls: string[] = [];
    const stores: PostgresStore[] = [];
    for (let i = 0; i < 2; i++) {
      const store = await PostgresStore.open({ url: schema.url, poolSize: 2 }).then((opened) => opened.store);
      const app = await buildServer({ config: resolveServerConfig({ host: '127.0.0.1', port: 0, logLevel: 'silent', rateLimitChannel: 0, rateLimitIp: 0 }), store, retention: false });
      cleanups.unshift(() => app.close());
      await app.listen({ host: '127.0.0.1', port: 0 });
      urls.push(`http://127.0.0.1:${(app.server.address() as AddressInfo).port}`);
      stores.push(store);
    }
    const [a, b] = stores as [PostgresStore, PostgresStore];
    await a.createChannel(plainChannel('sales'));
    const { token } = await issueToken(a, { name: 'admin', role: 'admin', channels: null });
    const stream = await StreamReader.open(urls[1] ?? '', token);
    cleanups.unshift(async () => stream.close());
    await stream.next('ready');
    await b.whenListening();
    const res = await fetch(`${urls[0] ?? ''}/hooks/sales`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"event_id":"pg-1","event_type":"call.end"}' });
    expect(res.status).toBe(200);
    expect(await stream.next('events')).toEqual({ channels: ['sales'] });
  } finally {
    for (const cleanup of cleanups) await cleanup();
  }
});

it('refuses a stream without a valid token', async () => {
  const relay = await relayWith();
  const none = await fetch(`${relay.url}/api/stream`);
  expect(none.status).toBe(401);
  expect(((await none.json()) as { error: { code: string } }).error.code).toBe('RELAY_E_AUTH_REQUIRED');
  const wrong = await fetch(`${relay.url}/api/stream`, { headers: { authorization: 'Bearer mrt_nope' } });
  expect(wrong.status).toBe(401);
  expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('RELAY_E_TOKEN_INVALID');
});

it('signs out an open stream whose token is revoked, at the next token check', async () => {
  const relay = await relayWith({}, { streamTokenCheckMs: 100 });
  const dev = (await issueToken(relay.store, { name: 'dev', role: 'developer', channels: null })).token;
  const stream = await StreamReader.open(relay.url, dev);
  await stream.next('ready');
  expect(await relay.store.revokeToken('dev')).toBe(true);
  expect(await stream.next('signed-out')).toEqual({ code: 'RELAY_E_TOKEN_INVALID' });
  await stream.end();
});

it('ends open streams when the server closes', async () => {
  const relay = await startRelay();
  const stream = await StreamReader.open(relay.url, relay.adminToken);
  await stream.next('ready');
  await relay.close();
  await stream.end();
});

it('grants nothing to cross-site requests: no CORS, and no token taken from a URL or a cookie', async () => {
  const relay = await relayWith();
  await relay.store.openConsumer({ channel: 'myoperator', name: 'laptop', start: { kind: 'now' }, filter: [], maxAttempts: null }, new Date());
  // What a form on another site can send: a POST with its origin, cookies, no Authorization header.
  const forged = await fetch(`${relay.url}/api/consumers/myoperator/laptop/replay`, {
    method: 'POST',
    headers: { origin: 'https://evil.example', 'content-type': 'application/x-www-form-urlencoded', cookie: `token=${relay.adminToken}` },
    body: 'state=parked',
  });
  expect(forged.status).toBe(401);
  expect(forged.headers.get('access-control-allow-origin')).toBeNull();
  const deleted = await fetch(`${relay.url}/api/consumers/myoperator/laptop?token=${relay.adminToken}`, { method: 'DELETE', headers: { origin: 'https://evil.example' } });
  expect(deleted.status).toBe(401);
  // A script elsewhere would need a preflight for the Authorization header; none is granted.
  const preflight = await fetch(`${relay.url}/api/consumers/myoperator/laptop`, {
    method: 'OPTIONS',
    headers: { origin: 'https://evil.example', 'access-control-request-method': 'DELETE', 'access-control-request-headers': 'authorization' },
  });
  expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  expect(preflight.headers.get('access-control-allow-headers')).toBeNull();
  expect((await relay.store.listConsumers('myoperator')).map((c) => c.name)).toEqual(['laptop']);
});

it('answers whoami with the token name, role and channels', async () => {
  const relay = await relayWith();
  const dev = (await issueToken(relay.store, { name: 'asha', role: 'developer', channels: ['myoperator'] })).token;
  const res = await fetch(`${relay.url}/api/whoami`, { headers: { authorization: `Bearer ${dev}` } });
  expect((await res.json()) as WhoAmIView).toEqual({ name: 'asha', role: 'developer', channels: ['myoperator'] });
  const admin = await fetch(`${relay.url}/api/whoami`, { headers: { authorization: `Bearer ${relay.adminToken}` } });
  expect((await admin.json()) as WhoAmIView).toEqual({ name: 'admin', role: 'admin', channels: null });
});

it('serves the page at / with a strict Content-Security-Policy, nosniff and revalidation', async () => {
  const relay = await relayWith();
  const page = await fetch(`${relay.url}/`);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toBe('text/html; charset=utf-8');
  const csp = page.headers.get('content-security-policy') ?? '';
  expect(csp).toBe(PAGE_CSP);
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain('unsafe-inline');
  expect(csp).not.toContain('unsafe-eval');
  expect(page.headers.get('x-content-type-options')).toBe('nosniff');
  const html = await page.text();
  expect(html).toContain('<script type="module" src="/js/main.js"></script>');
  // No inline script or style in the page itself.
  expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
  expect(html).not.toMatch(/\sstyle=|<style/);

  // node:http, not fetch: fetch marks a request with If-None-Match as no-cache, which forbids a 304.
  const script = await httpGet(`${relay.url}/js/main.js`);
  expect(script.status).toBe(200);
  expect(script.headers['content-type']).toMatch(/^(application|text)\/javascript/);
  expect(script.headers['cache-control']).toBe('no-cache');
  const etag = String(script.headers.etag ?? '');
  expect(etag).not.toBe('');
  expect((await httpGet(`${relay.url}/js/main.js`, { 'if-none-match': etag })).status).toBe(304);
  // Only the scripts are served from the build output, not its declarations.
  expect((await fetch(`${relay.url}/js/main.d.ts`)).status).toBe(404);
  expect((await fetch(`${relay.url}/js/../package.json`)).status).toBe(404);
});

it('serves no page with --no-web-ui, and keeps the API', async () => {
  const relay = await relayWith({ webUi: false });
  const res = await fetch(`${relay.url}/`);
  expect(res.status).toBe(404);
  expect(((await res.json()) as { error: { code: string } }).error.code).toBe('RELAY_E_NOT_FOUND');
  expect((await fetch(`${relay.url}/api/whoami`, { headers: { authorization: `Bearer ${relay.adminToken}` } })).status).toBe(200);
});
