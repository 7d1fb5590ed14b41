import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { betterSqliteDriver } from '../src/store/sqlite-better.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import { TEST_SECRET, sign, startRelay, type TestRelay } from './harness.js';

let relay: TestRelay | undefined;
afterEach(async () => {
  await relay?.close();
  relay = undefined;
});

function signed(body: string | Uint8Array): Record<string, string> {
  return { 'X-MyOperator-Signature': sign(body, TEST_SECRET) };
}

/** Sends raw bytes on a fresh TCP connection and collects everything until the server closes it. */
async function rawExchange(url: string, request: string | Buffer, keepOpenAfterWrite = false): Promise<{ socket: Socket; response: Promise<string> }> {
  const { port } = new URL(url);
  const socket = connect(Number(port), '127.0.0.1');
  await once(socket, 'connect');
  let data = '';
  socket.on('data', (chunk) => (data += String(chunk)));
  const response = once(socket, 'close').then(() => data);
  socket.write(request);
  if (!keepOpenAfterWrite) socket.end();
  return { socket, response };
}

describe('byte-exact storage', () => {
  const bodies: [string, Uint8Array][] = [
    ['odd whitespace', Buffer.from(' {\n\t"event_id" :  "evt_ws",\r\n  "event_type":"call.end" }  \n')],
    ['escaped slashes and unicode escapes', Buffer.from('{"id":"evt_esc","type":"call.answered","data":{"url":"https:\\/\\/x.example\\/a","name":"\\u0905\\u0928\\u0940\\u0924\\u093e"}}')],
    ['raw multibyte UTF-8', Buffer.from('{"id":"evt_utf8","type":"message.received","payload":{"data":{"context":{"body":"नमस्ते 👋"}}}}')],
    ['duplicate keys', Buffer.from('{"id":"evt_dup","type":"call.started","type":"call.ended","data":{"a":1,"a":2}}')],
    ['numbers JSON.parse would change', Buffer.from('{"id":"evt_num","type":"call.summary","n":1.10,"big":12345678901234567890,"e":1E3}')],
  ];

  for (const [name, body] of bodies) {
    it(`stores ${name} exactly as received`, async () => {
      relay = await startRelay();
      const res = await relay.post('myoperator', body, signed(body));
      expect(res.status).toBe(200);
      const stored = await relay.store.getEvent('myoperator', res.json.id ?? '');
      expect(Buffer.from(stored?.body ?? []).equals(Buffer.from(body))).toBe(true);
      const api = await fetch(`${relay.url}/api/events/myoperator/${encodeURIComponent(res.json.id ?? '')}`, {
        headers: { authorization: `Bearer ${relay.adminToken}` },
      });
      const detail = (await api.json()) as { bodyBase64: string };
      expect(Buffer.from(detail.bodyBase64, 'base64').equals(Buffer.from(body))).toBe(true);
    });
  }

  it('stores a legacy v1 form body with non-UTF-8 bytes exactly', async () => {
    relay = await startRelay();
    await relay.addChannel('legacy', { verify: 'none', acceptLegacyForm: true });
    const json = encodeURIComponent('{"_ai":"call-77","_ty":1,"_cr":"+919800000000"}');
    const body = Buffer.concat([Buffer.from(`myoperator=${json}&note=`), Buffer.from([0xff, 0xfe, 0x80, 0x41])]);
    const res = await relay.post('legacy', body, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res.status).toBe(200);
    expect(res.json.id).toBe('call-77');
    const stored = await relay.store.getEvent('legacy', 'call-77');
    expect(stored?.type).toBe('legacy.call');
    expect(Buffer.from(stored?.body ?? []).equals(body)).toBe(true);
  });

  it('keeps request headers in order and case, without hop-by-hop ones', async () => {
    relay = await startRelay();
    const body = '{"id":"evt_hdr"}';
    const request =
      `POST /hooks/myoperator HTTP/1.1\r\nHost: relay.test\r\nX-Source: myoperator\r\nContent-Type: application/json\r\n` +
      `X-MyOperator-Signature: ${sign(body, TEST_SECRET)}\r\nConnection: close, X-Drop-Me\r\nX-Drop-Me: 1\r\nKeep-Alive: timeout=5\r\n` +
      `x-custom-b: two\r\nX-Custom-B: three\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    // The client keeps its side open, as HTTP clients do; the server closes after answering (Connection: close).
    const { response } = await rawExchange(relay.url, request, true);
    expect(await response).toMatch(/^HTTP\/1.1 200/);
    const stored = await relay.store.getEvent('myoperator', 'evt_hdr');
    expect(stored?.headers).toEqual([
      ['Host', 'relay.test'],
      ['X-Source', 'myoperator'],
      ['Content-Type', 'application/json'],
      ['X-MyOperator-Signature', sign(body, TEST_SECRET)],
      ['x-custom-b', 'two'],
      ['X-Custom-B', 'three'],
      ['Content-Length', String(body.length)],
    ]);
  });
});

describe('event identity and dedup', () => {
  it('takes id and type from the v2 envelope, the seed shape, and legacy in-call notifications', async () => {
    relay = await startRelay();
    const cases: [string, string, string][] = [
      ['{"event_id":"e-v2","event_type":"call.initiated","id":"ignored","type":"ignored"}', 'e-v2', 'call.initiated'],
      ['{"id":"evt_seed","type":"call.started","created_at":"2025-08-26T10:00:00Z"}', 'evt_seed', 'call.started'],
      ['{"event_id":42,"event_type":"call.end"}', '42', 'call.end'],
      ['{"uid":"u-1","event":1,"call_state":0,"clid":"+91"}', 'u-1:1:0', 'legacy.call.start'],
      ['{"uid":"u-1","event":2,"call_state":1,"clid":"+91"}', 'u-1:2:1', 'legacy.call.update'],
    ];
    for (const [body, id, type] of cases) {
      const res = await relay.post('myoperator', body, signed(body));
      expect(res.json.id, body).toBe(id);
      expect((await relay.store.getEvent('myoperator', id))?.type, body).toBe(type);
    }
  });

  it('files an unrecognised body under its SHA-256 and type unknown', async () => {
    relay = await startRelay();
    const body = '[1,2,3]';
    const res = await relay.post('myoperator', body, signed(body));
    expect(res.status).toBe(200);
    expect(res.json.id).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect((await relay.store.getEvent('myoperator', res.json.id ?? ''))?.type).toBe('unknown');
  });

  it('answers a MyOperator retry with 200 duplicate:true and stores it once', async () => {
    relay = await startRelay();
    const body = '{"event_id":"evt_retry","event_type":"call.end"}';
    const first = await relay.post('myoperator', body, signed(body));
    const retries = await Promise.all([1, 2, 3].map(() => relay!.post('myoperator', body, signed(body))));
    expect(first.json).toMatchObject({ duplicate: false, seq: 1 });
    for (const retry of retries) expect(retry).toEqual({ status: 200, json: { accepted: true, channel: 'myoperator', id: 'evt_retry', seq: 1, duplicate: true } });
    expect((await relay.store.channelStats('myoperator')).events).toBe(1);
  });

  it('gives growing per-channel sequence numbers', async () => {
    relay = await startRelay();
    await relay.addChannel('other', { verify: 'none' });
    const seqs = await Promise.all(
      Array.from({ length: 20 }, (_, i) => {
        const body = `{"event_id":"evt_${i}"}`;
        return relay!.post('myoperator', body, signed(body)).then((r) => r.json.seq);
      }),
    );
    expect([...seqs].sort((a = 0, b = 0) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect((await relay.post('other', '{"event_id":"evt_0"}')).json).toMatchObject({ seq: 1, duplicate: false });
  });
});

describe('refusals', () => {
  it('answers 404 for an unknown channel', async () => {
    relay = await startRelay();
    const res = await relay.post('nope', '{}');
    expect(res.status).toBe(404);
    expect(res.json.error?.code).toBe('RELAY_E_UNKNOWN_CHANNEL');
  });

  it('answers 415 for a wrong Content-Type, and for a form body on a channel without legacy v1', async () => {
    relay = await startRelay();
    const body = '{"id":"x"}';
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x']) {
      const res = await relay.post('myoperator', body, { ...signed(body), 'content-type': type });
      expect(res.status, type).toBe(415);
      expect(res.json.error?.code).toBe('RELAY_E_UNSUPPORTED_CONTENT_TYPE');
    }
    expect((await relay.post('myoperator', body, { ...signed(body), 'content-type': 'application/json; charset=utf-8' })).status).toBe(200);
  });

  it('answers 400 for a body that is not JSON or not UTF-8, and for a form without myoperator=', async () => {
    relay = await startRelay();
    for (const body of ['{"id":', '', Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])]) {
      const res = await relay.post('myoperator', body, signed(body));
      expect(res.status).toBe(400);
      expect(res.json.error?.code).toBe('RELAY_E_INVALID_JSON');
    }
    await relay.addChannel('legacy', { verify: 'none', acceptLegacyForm: true });
    const res = await relay.post('legacy', 'other=1', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(res.status).toBe(400);
    expect(res.json.error?.code).toBe('RELAY_E_INVALID_LEGACY_FORM');
    expect((await relay.store.channelStats('myoperator')).events + (await relay.store.channelStats('legacy')).events).toBe(0);
  });

  it('answers 413 for a body over the channel limit, declared or streamed', async () => {
    relay = await startRelay();
    await relay.addChannel('small', { verify: 'none', maxBody: 64 });
    const big = JSON.stringify({ id: 'big', pad: 'x'.repeat(100) });
    const declared = await relay.post('small', big);
    expect(declared.status).toBe(413);
    expect(declared.json.error?.code).toBe('RELAY_E_BODY_TOO_LARGE');
    const chunked = `POST /hooks/small HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${(100).toString(16)}\r\n${'x'.repeat(100)}\r\n0\r\n\r\n`;
    const { response } = await rawExchange(relay.url, chunked);
    const text = await response;
    expect(text).toMatch(/^HTTP\/1.1 413/);
    expect(text).toContain('RELAY_E_BODY_TOO_LARGE');
    expect((await relay.post('small', '{"id":"fits"}')).status).toBe(200);
    expect((await relay.store.channelStats('small')).events).toBe(1);
  });

  it('answers 431 to a request with more headers than relay-client can receive', async () => {
    relay = await startRelay();
    const body = '{"id":"many"}';
    const headers: Record<string, string> = {};
    for (let i = 0; i < 210; i++) headers[`x-extra-${i}`] = String(i);
    const res = await relay.post('myoperator', body, { ...headers, ...signed(body) });
    expect(res.status).toBe(431);
    expect(res.json.error?.code).toBe('RELAY_E_TOO_MANY_HEADERS');
  });

  it('answers 429 per channel and per source address when rate limits are set', async () => {
    relay = await startRelay({ rateLimitChannel: 2, rateLimitIp: 0 });
    const codes: (string | undefined)[] = [];
    for (let i = 0; i < 8; i++) {
      const body = `{"id":"rl${i}"}`;
      codes.push((await relay.post('myoperator', body, signed(body))).json.error?.code);
    }
    expect(codes).toContain('RELAY_E_RATE_LIMITED_CHANNEL');
    await relay.close();
    relay = await startRelay({ rateLimitChannel: 0, rateLimitIp: 2 });
    const ipCodes: (string | undefined)[] = [];
    for (let i = 0; i < 8; i++) ipCodes.push((await relay.post('nope', '{}')).json.error?.code);
    expect(ipCodes).toContain('RELAY_E_RATE_LIMITED_IP');
  });

  it('counts refusals per channel and reason in GET /api/channels', async () => {
    relay = await startRelay();
    await relay.post('myoperator', '{"id":"a"}');
    await relay.post('myoperator', '{"id":"a"}', { 'X-MyOperator-Signature': '00' });
    await relay.post('myoperator', '{"id":"a"}', { 'X-MyOperator-Signature': sign('x', TEST_SECRET) });
    const body = '{"id":"ok"}';
    await relay.post('myoperator', body, signed(body));
    await relay.post('myoperator', body, signed(body));
    const res = await fetch(`${relay.url}/api/channels`, { headers: { authorization: `Bearer ${relay.adminToken}` } });
    const { channels } = (await res.json()) as { channels: { name: string; ingest: unknown }[] };
    expect(channels.find((c) => c.name === 'myoperator')?.ingest).toEqual({
      accepted: 1,
      duplicates: 1,
      rejected: { RELAY_E_CREDENTIALS_MISSING: 1, RELAY_E_SIGNATURE_MALFORMED: 1, RELAY_E_SIGNATURE_MISMATCH: 1 },
    });
  });

  it('answers 405 to other methods on a webhook URL and 404 elsewhere', async () => {
    relay = await startRelay();
    const get = await fetch(`${relay.url}/hooks/myoperator`);
    expect(get.status).toBe(405);
    expect(((await get.json()) as { error: { code: string } }).error.code).toBe('RELAY_E_METHOD_NOT_ALLOWED');
    const other = await fetch(`${relay.url}/somewhere`);
    expect(other.status).toBe(404);
    expect(((await other.json()) as { error: { code: string } }).error.code).toBe('RELAY_E_NOT_FOUND');
  });
});

describe('store failures never get a 2xx', () => {
  it('answers 503 STORE_FULL when the database cap is reached, and keeps what was stored', async () => {
    relay = await startRelay({}, { maxBytes: 256 * 1024 });
    const accepted: string[] = [];
    let full: { status: number; code: string | undefined } | undefined;
    for (let i = 0; i < 200 && !full; i++) {
      const body = JSON.stringify({ event_id: `fill-${i}`, pad: 'y'.repeat(8000) });
      const res = await relay.post('myoperator', body, signed(body));
      if (res.status === 200) accepted.push(`fill-${i}`);
      else full = { status: res.status, code: res.json.error?.code };
    }
    expect(full).toEqual({ status: 503, code: 'RELAY_E_STORE_FULL' });
    const page = await relay.store.listEvents({ visibleChannels: null, limit: 1000 });
    expect(page.events.map((e) => e.id).sort()).toEqual([...accepted].sort());
  });

  it('answers 503 STORE_UNAVAILABLE when the store is gone, and /readyz fails', async () => {
    relay = await startRelay();
    await relay.store.close();
    const body = '{"id":"lost"}';
    const res = await relay.post('myoperator', body, signed(body));
    expect(res.status).toBe(503);
    expect(res.json.error?.code).toBe('RELAY_E_STORE_UNAVAILABLE');
    const ready = await fetch(`${relay.url}/readyz`);
    expect(ready.status).toBe(503);
    expect((await fetch(`${relay.url}/healthz`)).status).toBe(200);
  });

  it('after a failed flush of the WAL, answers 503 to every webhook and fails /readyz until restarted', async () => {
    let flushes = 0;
    relay = await startRelay({}, { syncWal: (_fd, done) => (++flushes === 1 ? done(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })) : done(null)) });
    for (const id of ['first', 'second']) {
      const body = JSON.stringify({ id });
      const res = await relay.post('myoperator', body, signed(body));
      expect(res.status, id).toBe(503);
      expect(res.json.error?.code, id).toBe('RELAY_E_STORE_UNAVAILABLE');
    }
    const ready = await fetch(`${relay.url}/readyz`);
    expect(ready.status).toBe(503);
    // The answer keeps to the catalogue; what failed, and that a restart is due, is in the log.
    expect(((await ready.json()) as { error: { message: string } }).error.message).not.toMatch(/EIO|WAL/);
    expect(flushes).toBe(1);
    expect(relay.logs()).toContain('event not stored');
    expect(relay.logs()).toMatch(/EIO.*restart relay-server/);
  });
});

describe('connections', () => {
  it('closes a connection whose headers never finish', async () => {
    relay = await startRelay({ headersTimeout: '500ms', requestTimeout: '1s' });
    const { response } = await rawExchange(relay.url, 'POST /hooks/myoperator HTTP/1.1\r\nHost: x\r\n', true);
    const answer = await response;
    expect(answer).toMatch(/^HTTP\/1.1 408 Request Timeout\r\n/);
    expect(answer).toContain('"code":"RELAY_E_REQUEST_TIMEOUT"');
  });

  it('closes a connection whose body never finishes, and stores nothing', async () => {
    relay = await startRelay({ headersTimeout: '500ms', requestTimeout: '1s' });
    const body = '{"id":"slow"}';
    const head = `POST /hooks/myoperator HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-MyOperator-Signature: ${sign(body, TEST_SECRET)}\r\nContent-Length: ${body.length}\r\n\r\n`;
    const { response } = await rawExchange(relay.url, head + body.slice(0, 5), true);
    const answer = await response;
    expect(answer).toMatch(/^HTTP\/1.1 408 Request Timeout\r\n/);
    expect(answer).toContain('"code":"RELAY_E_REQUEST_TIMEOUT"');
    expect((await relay.store.channelStats('myoperator')).events).toBe(0);
  });

  it('answers a malformed request pipelined behind a good one after the good one\'s answer', async () => {
    relay = await startRelay();
    const body = '{"id":"first"}';
    const good = `POST /hooks/myoperator HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-MyOperator-Signature: ${sign(body, TEST_SECRET)}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const { response } = await rawExchange(relay.url, `${good}NOT HTTP AT ALL\r\n\r\n`, true);
    const answers = (await response).split(/(?=HTTP\/1\.1 \d{3} )/);
    expect(answers.map((a) => /^HTTP\/1\.1 (\d+)/.exec(a)?.[1])).toEqual(['200', '400']);
    expect(answers[1]).toContain('"code":"RELAY_E_MALFORMED_REQUEST"');
    expect((await relay.store.getEvent('myoperator', 'first'))?.id).toBe('first');
  });

  it('stores nothing for a request whose connection is gone before it is admitted, and fails no other event', async () => {
    relay = await startRelay();
    const body = '{"id":"gone"}';
    const request = `POST /hooks/myoperator HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-MyOperator-Signature: ${sign(body, TEST_SECRET)}\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    // The whole request is read; the connection dies before any hook runs, as a reset can.
    relay.app.server.once('request', (incoming: { socket: Socket }) => incoming.socket.destroy());
    await (await rawExchange(relay.url, request, true)).response;
    const next = '{"id":"next"}';
    expect((await relay.post('myoperator', next, signed(next))).status).toBe(200);
    expect(await relay.store.getEvent('myoperator', 'gone')).toBeUndefined();
    expect(relay.logs()).not.toContain('"level":50');
  });

  it('finishes a request in flight when shutdown begins', async () => {
    relay = await startRelay();
    const body = '{"id":"inflight"}';
    const head = `POST /hooks/myoperator HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-MyOperator-Signature: ${sign(body, TEST_SECRET)}\r\nContent-Length: ${body.length}\r\n\r\n`;
    const app = relay.app;
    const admitted = once(app.server, 'request');
    const { socket, response } = await rawExchange(relay.url, head + body.slice(0, 5), true);
    await admitted;
    const closed = app.close();
    socket.write(body.slice(5));
    expect(await response).toMatch(/^HTTP\/1.1 200/);
    await closed;
    const reopened = new SqliteStore({ path: relay.dbPath, driver: betterSqliteDriver });
    expect((await reopened.getEvent('myoperator', 'inflight'))?.id).toBe('inflight');
    await reopened.close();
  });

  it('believes X-Forwarded-For only from a trusted proxy', async () => {
    relay = await startRelay({ trustProxy: '127.0.0.1' });
    await relay.addChannel('ips', { verify: 'none', allowIp: ['203.0.113.0/24'] });
    const ok = await relay.post('ips', '{"id":"fwd"}', { 'X-Forwarded-For': '203.0.113.9' });
    expect(ok.status).toBe(200);
    expect((await relay.store.getEvent('ips', 'fwd'))?.sourceIp).toBe('203.0.113.9');
    await relay.close();
    relay = await startRelay();
    await relay.addChannel('ips', { verify: 'none', allowIp: ['203.0.113.0/24'] });
    const spoofed = await relay.post('ips', '{"id":"fwd"}', { 'X-Forwarded-For': '203.0.113.9' });
    expect(spoofed.json.error?.code).toBe('RELAY_E_IP_NOT_ALLOWED');
  });
});
