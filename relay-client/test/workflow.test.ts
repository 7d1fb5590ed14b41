/**
 * The developer-workflow pieces of relay-client in-process: the HTTP API client's failure
 * classes, body display, flag parsing, the status checks and `events tail` against a fake relay.
 * The commands as real CLIs against a real relay-server are in test/workflow-cli.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { typedLongFlags } from '../src/cli/options.js';
import { ClientError } from '../src/errors.js';
import { clean, tableLines, viewBody } from '../src/format.js';
import { RelayApi, RelayApiError, RelayUnreachableError } from '../src/relay-api.js';
import type { OutputStream } from '../src/renderer/text.js';
import { checkStatus } from '../src/workflow/status.js';
import { runTail } from '../src/workflow/tail.js';
import { parseSetFlags } from '../src/workflow/trigger.js';
import { eventMessage, startFakeRelay, type FakeRelay } from './support/fake-relay.js';
import { freePort, pairs, startHttpTarget, type HttpTarget } from './support/http-target.js';

const TOKEN = 'mrt_unit_token_never_printed_0123456789';

let targets: HttpTarget[] = [];
let relays: FakeRelay[] = [];
afterEach(async () => {
  await Promise.all([...targets.map((t) => t.close()), ...relays.map((r) => r.close())]);
  targets = [];
  relays = [];
});

/** A local HTTP server answering every request with `status`, `contentType` and `body`. */
async function answering(status: number, body: string, contentType = 'application/json'): Promise<HttpTarget> {
  const target = await startHttpTarget((_req, res) => {
    res.writeHead(status, { 'content-type': contentType });
    res.end(body);
  });
  targets.push(target);
  return target;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

/** A `fetch` answering from a table of `METHOD path` → [status, JSON body], recording what it was asked. */
function fakeFetch(routes: Readonly<Record<string, readonly [number, unknown]>>, calls: string[] = []): typeof fetch {
  return async (input, init) => {
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const key = `${init?.method ?? 'GET'} ${url.pathname}${url.search}`;
    calls.push(key);
    const route = routes[key];
    if (route === undefined) return new Response(JSON.stringify({ error: { code: 'RELAY_E_NOT_FOUND', message: `no route ${key}` } }), { status: 404 });
    return new Response(route[1] === undefined ? null : JSON.stringify(route[1]), { status: route[0], headers: { 'content-type': 'application/json' } });
  };
}

function sink(): OutputStream & { text: string } {
  const out = {
    text: '',
    write(chunk: string) {
      out.text += chunk;
      return true;
    },
  };
  return out;
}

describe('RelayApi', () => {
  it('sends the token only in Authorization, keeps a path prefix, and leaves it off health checks', async () => {
    const target = await answering(200, '{"channels":[]}');
    const api = new RelayApi({ relay: new URL(`${target.origin}/relay/`), token: TOKEN });
    await api.channels();
    await api.probe('/healthz');
    const [listing, health] = target.requests;
    expect(listing?.url).toBe('/relay/api/channels');
    expect(pairs(listing?.rawHeaders ?? []).find(([n]) => n.toLowerCase() === 'authorization')?.[1]).toBe(`Bearer ${TOKEN}`);
    expect(health?.url).toBe('/relay/healthz');
    expect(pairs(health?.rawHeaders ?? []).some(([n]) => n.toLowerCase() === 'authorization')).toBe(false);
  });

  it('reads ws:// and wss:// relay URLs as http:// and https://', () => {
    expect(new RelayApi({ relay: new URL('ws://relay.example:8080') }).url('/api/channels')).toBe('http://relay.example:8080/api/channels');
    expect(new RelayApi({ relay: new URL('wss://relay.example/base') }).url('/healthz')).toBe('https://relay.example/base/healthz');
  });

  it('turns the relay\'s error body into a RelayApiError with its code, status and message', async () => {
    const target = await answering(400, JSON.stringify({ error: { code: 'RELAY_E_UNKNOWN_EVENT_TYPE', message: 'valid types are call.end, call.answered' } }));
    const error = await rejection(new RelayApi({ relay: new URL(target.origin), token: TOKEN }).trigger('myoperator', { type: 'call.nope' }));
    expect(error).toBeInstanceOf(RelayApiError);
    expect(error).toMatchObject({ code: 'RELAY_E_UNKNOWN_EVENT_TYPE', status: 400, method: 'POST', exitCode: 1, message: 'valid types are call.end, call.answered' });
    expect(JSON.parse(target.requests[0]?.body.toString() ?? '')).toEqual({ type: 'call.nope' });
  });

  it('reports a refused token as RELAY_E_CLIENT_TOKEN_REJECTED (exit 2) without printing it', async () => {
    const target = await answering(401, JSON.stringify({ error: { code: 'RELAY_E_TOKEN_INVALID', message: 'The bearer token is unknown or revoked.' } }));
    const error = await rejection(new RelayApi({ relay: new URL(target.origin), token: TOKEN }).events());
    expect(error).toBeInstanceOf(ClientError);
    expect(error).toMatchObject({ code: 'RELAY_E_CLIENT_TOKEN_REJECTED', exitCode: 2 });
    expect((error as Error).message).toContain('relay-server token create --name <you>');
    expect((error as Error).message).toContain(`${target.origin}/api/events`);
    expect((error as Error).message).not.toContain(TOKEN);
  });

  it('tells a URL that is not a relay-server apart: HTML, or an error without the relay\'s body', async () => {
    const html = await answering(200, '<html>hello</html>', 'text/html');
    expect(await rejection(new RelayApi({ relay: new URL(html.origin), token: TOKEN }).channels())).toMatchObject({ code: 'RELAY_E_CLIENT_PROTOCOL_ERROR' });
    const bare = await answering(404, 'Not Found', 'text/plain');
    const error = await rejection(new RelayApi({ relay: new URL(bare.origin), token: TOKEN }).samples());
    expect(error).toMatchObject({ code: 'RELAY_E_CLIENT_PROTOCOL_ERROR' });
    expect((error as Error).message).toContain('HTTP 404');
    const wrongShape = await answering(200, '{"events":"nope"}');
    expect(await rejection(new RelayApi({ relay: new URL(wrongShape.origin), token: TOKEN }).events())).toMatchObject({ code: 'RELAY_E_CLIENT_PROTOCOL_ERROR' });
  });

  it('names the URL and the system error when the relay cannot be reached', async () => {
    const port = await freePort();
    const error = await rejection(new RelayApi({ relay: new URL(`http://127.0.0.1:${port}`), token: TOKEN }).channels());
    expect(error).toBeInstanceOf(RelayUnreachableError);
    expect(error).toMatchObject({ code: 'ECONNREFUSED', exitCode: 1, url: `http://127.0.0.1:${port}/api/channels` });
    expect((error as Error).message).toBe(`relay unreachable at http://127.0.0.1:${port}/api/channels (ECONNREFUSED, connection refused: is the relay running?)`);
  });

  it('gives up after its time limit with ETIMEDOUT', async () => {
    const target = await startHttpTarget(() => undefined);
    targets.push(target);
    const error = await rejection(new RelayApi({ relay: new URL(target.origin), token: TOKEN, timeoutMs: 100 }).channels());
    expect(error).toMatchObject({ code: 'ETIMEDOUT' });
    expect((error as Error).message).toContain('no answer within 100ms');
  });
});

describe('showing bodies', () => {
  it('parses JSON, decodes legacy form fields by Content-Type or by look, and keeps binary as bytes', () => {
    expect(viewBody(Buffer.from('{"a":1.50}'), 'application/json')).toEqual({ bytes: 10, text: '{"a":1.50}', json: { a: 1.5 } });
    const form = `myoperator=${encodeURIComponent('{"_ai":"42","_ev":1}')}&extra=x`;
    expect(viewBody(Buffer.from(form), 'application/x-www-form-urlencoded').form).toEqual([
      ['myoperator', { _ai: '42', _ev: 1 }],
      ['extra', 'x'],
    ]);
    expect(viewBody(Buffer.from(form), undefined).form?.[0]?.[0]).toBe('myoperator');
    expect(viewBody(Buffer.from('plain words here'), 'text/plain')).toEqual({ bytes: 16, text: 'plain words here' });
    expect(viewBody(Buffer.from([0xff, 0xfe, 0x00]), undefined)).toEqual({ bytes: 3, text: null });
  });

  it('keeps terminal control characters from the network out of printed text and tables', () => {
    expect(clean('evil\u001b[2Jname\r\nnext')).toBe('evil [2Jname next');
    expect(tableLines(['A', 'BB'], [['x\u0007', 'long value'], ['yy', '']])).toEqual(['A   BB', 'x   long value', 'yy']);
  });
});

describe('command-line parsing', () => {
  it('reads --set path=value with = inside values, and refuses a value without =', () => {
    expect(parseSetFlags(['payload.status=missed', 'payload.note=a=b', 'payload.legs=[]'])).toEqual({ 'payload.status': 'missed', 'payload.note': 'a=b', 'payload.legs': '[]' });
    expect(() => parseSetFlags(['payload.status'])).toThrow(/--set: expected path=value/);
    expect(() => parseSetFlags(['=x'])).toThrow(ClientError);
  });

  it('knows which flags were typed, up to --', () => {
    expect([...typedLongFlags(['replay', '--since=2h', '--no-json', '--maxAttempts', '3', '--', '--type'])]).toEqual(['since', 'json', 'max-attempts']);
  });
});

describe('status checks', () => {
  const channel = { name: 'myoperator', events: 3, lastReceivedAt: '2025-08-26T10:03:59.000Z' };
  const consumer = { channel: 'myoperator', name: 'me', createdAt: '', filter: [], maxAttempts: null, connectedSessions: 0, pending: 0, oldestPendingAgeMs: null, lastAckAt: null, failed: 0 };
  const healthy = { 'GET /healthz': [200, { status: 'ok' }], 'GET /readyz': [200, { status: 'ready' }], 'GET /api/channels': [200, { channels: [channel] }] } as const;

  it('is ok with a waiting consumer, warning only, and names a missing consumer', async () => {
    const fetch = fakeFetch({ ...healthy, 'GET /api/consumers?channel=myoperator': [200, { consumers: [{ ...consumer, pending: 4 }] }] });
    const report = await checkStatus(new RelayApi({ relay: new URL('http://relay.test'), token: TOKEN, fetch }), { consumers: ['me', 'other'], hasToken: true });
    expect(report.ok).toBe(true);
    expect(report.problems).toEqual([]);
    expect(report.warnings).toEqual([expect.stringContaining('4 events waiting and no listen connected'), expect.stringContaining('no consumer other yet')]);
  });

  it('counts failed events, an unready store and a channel the token cannot see as problems', async () => {
    const fetch = fakeFetch({
      ...healthy,
      'GET /readyz': [503, { error: { code: 'RELAY_E_STORE_UNAVAILABLE', message: 'store down' } }],
      'GET /api/consumers?channel=myoperator': [200, { consumers: [{ ...consumer, failed: 2 }] }],
    });
    const report = await checkStatus(new RelayApi({ relay: new URL('http://relay.test'), token: TOKEN, fetch }), { consumers: ['me'], channels: ['myoperator', 'sales'], hasToken: true });
    expect(report.ok).toBe(false);
    expect(report.readyz).toMatchObject({ ok: false, status: 503, code: 'RELAY_E_STORE_UNAVAILABLE' });
    expect(report.problems).toEqual([
      expect.stringContaining('RELAY_E_STORE_UNAVAILABLE'),
      expect.stringContaining('2 events failed for good'),
      expect.stringContaining('channel sales: this token may not read it'),
    ]);
  });

  it('counts failing events as a problem and names the last error with the first line of the answer', async () => {
    const lastFailure = { id: 'evt_9', type: 'call.end', seq: 9, attempt: 3, at: '2025-08-26T10:03:59.000Z', status: 500, error: null, responseBody: Buffer.from('\nboom: database is down\nat db.js:1').toString('base64') };
    const fetch = fakeFetch({ ...healthy, 'GET /api/consumers?channel=myoperator': [200, { consumers: [{ ...consumer, failing: 2, lastFailure }] }] });
    const report = await checkStatus(new RelayApi({ relay: new URL('http://relay.test'), token: TOKEN, fetch }), { consumers: ['me'], hasToken: true });
    expect(report.ok).toBe(false);
    expect(report.problems).toEqual([expect.stringMatching(/^channel myoperator, consumer me: 2 events failing \(retried\); last error: call\.end evt_9 attempt 3 at .+: HTTP 500 boom: database is down; fix the handler/)]);
  });

  it('checks reachability without a token and reports the missing token', async () => {
    const calls: string[] = [];
    const report = await checkStatus(new RelayApi({ relay: new URL('http://relay.test'), fetch: fakeFetch(healthy, calls) }), { consumers: ['me'], hasToken: false });
    expect(report).toMatchObject({ ok: false, healthz: { ok: true }, readyz: { ok: true }, token: { ok: false } });
    expect(report.problems[0]).toContain('relay-server token create --name <you>');
    expect(calls).toEqual(['GET /healthz', 'GET /readyz']);
  });
});

describe('events tail', () => {
  it('subscribes a throw-away consumer from now, acks every event, prints it, and deletes the consumer on stop', async () => {
    const relay = await startFakeRelay();
    relays.push(relay);
    const calls: string[] = [];
    const out = sink();
    const err = sink();
    const controller = new AbortController();
    const access = { relay: new URL(relay.url), token: TOKEN };
    const fetch = fakeFetch({}, calls);
    const api = new RelayApi({ ...access, fetch: async (input, init) => (init?.method === 'DELETE' ? (calls.push(`DELETE ${String(input)}`), new Response(null, { status: 204 })) : fetch(input, init)) });
    const running = runTail({ access, channels: ['myoperator'], events: ['call.*'] }, { api, output: { out, err }, json: true, signal: controller.signal });

    const conn = await relay.connection(1);
    const subscribe = await conn.waitFor('subscribe');
    expect(subscribe).toMatchObject({ channel: 'myoperator', since: 'now', events: ['call.*'] });
    expect(subscribe.consumer).toMatch(/^tail-[0-9a-f]{8}$/);
    conn.send(eventMessage({ seq: 41, attempt: 3, id: 'evt_tail', eventType: 'call.end', synthetic: true, body: '{"event_id":"evt_tail"}' }));
    expect(await conn.waitFor('ack')).toMatchObject({ seq: 41, attempt: 3, status: 200 });
    controller.abort();
    const summary = await running;

    expect(summary).toEqual({ consumer: subscribe.consumer, shown: 1, leftBehind: [] });
    expect(JSON.parse(out.text)).toMatchObject({ channel: 'myoperator', seq: 41, id: 'evt_tail', type: 'call.end', synthetic: true, json: { event_id: 'evt_tail' }, bodyText: '{"event_id":"evt_tail"}' });
    expect(calls).toEqual([`DELETE ${relay.url}/api/consumers/myoperator/${subscribe.consumer}`]);
    expect((await conn.closed).code).toBe(1000);
    expect(err.text).toContain(`consumer ${subscribe.consumer} deleted`);
  });
});
