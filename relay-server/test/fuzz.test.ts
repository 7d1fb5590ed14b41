import { randomInt } from 'node:crypto';
import { once } from 'node:events';
import { PROTOCOL_ERRORS, PROTOCOL_NAME } from '@myop-relay/protocol';
import { afterAll, beforeAll, expect, it } from 'vitest';
import WebSocket from 'ws';
import { SERVER_ERRORS } from '../src/errors.js';
import { issueToken } from '../src/tokens.js';
import { TEST_SECRET, sign, startRelay, type TestRelay } from './harness.js';
import { healthz, openConnections, openRaw, parseAnswer, upgradeRequest } from './raw-http.js';

/*
 * A bounded fuzz run against a live relay-server: random and mutated HTTP requests over raw TCP,
 * random WebSocket frames after a raw upgrade, and random messages over a real WebSocket, from a
 * few concurrent workers for a fixed time. Afterwards the relay must answer, hold no connection,
 * have grown its memory by a bounded amount, and have stored nothing but the events the run
 * signed. Set RELAY_FUZZ_SEED to replay a run; the seed is printed.
 */

const SEED = Number(process.env['RELAY_FUZZ_SEED'] ?? randomInt(2 ** 31));
const DURATION_MS = 4_000;
/** Most cases wait on the relay (an answer, a timeout), so many run at once. */
const WORKERS = 16;
/** Per worker, whichever comes first with the duration. */
const MAX_CASES = 1_000;
/** How long one case waits for the relay to answer and close before it drops the connection. */
const CASE_WAIT_MS = 1_000;
const MAX_RSS_GROWTH_BYTES = 256 * 1024 * 1024;

/** mulberry32: small, fast and good enough to pick fuzz cases reproducibly. */
class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(below: number): number {
    return Math.floor(this.next() * below);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.int(256);
    return out;
  }
}

const FRAGMENTS = [
  '\r\n', '\r\n\r\n', '\n', '\r', '\0', ' ', ':', '%', '%zz', '%E0%A4', '%00', '?', '#', '..', '/../', '\t', '\u00ff',
  'Transfer-Encoding: chunked\r\n', 'Content-Length: 99999\r\n', 'Content-Length: -1\r\n', 'Content-Length: 0\r\n',
  'Expect: 100-continue\r\n', 'Expect: 102-processing\r\n', 'Upgrade: websocket\r\nConnection: Upgrade\r\n', 'Upgrade: h2c\r\n',
  'Host: \r\n', 'Connection: close\r\n', 'Authorization: Bearer mrt_guess\r\n', 'X-MyOperator-Signature: 00\r\n',
  '0\r\n\r\n', 'ffffffff\r\n', 'HTTP/1.0', 'HTTP/2.0', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', '{"event_id":', '\u00e9',
];

/** One random change to a request: flip, replace, insert, delete, repeat or cut. */
function mutate(input: Buffer, random: Random): Buffer {
  const at = random.int(input.length + 1);
  switch (random.int(7)) {
    case 0: {
      const out = Buffer.from(input);
      if (out.length > 0) out[at % out.length] = (out[at % out.length] as number) ^ (1 << random.int(8));
      return out;
    }
    case 1: {
      const out = Buffer.from(input);
      if (out.length > 0) out[at % out.length] = random.int(256);
      return out;
    }
    case 2:
      return Buffer.concat([input.subarray(0, at), Buffer.from(random.pick(FRAGMENTS), 'latin1'), input.subarray(at)]);
    case 3:
      return Buffer.concat([input.subarray(0, at), random.bytes(1 + random.int(16)), input.subarray(at)]);
    case 4:
      return Buffer.concat([input.subarray(0, at), input.subarray(at + 1 + random.int(32))]);
    case 5: {
      const piece = input.subarray(at, at + 1 + random.int(64));
      return Buffer.concat([input.subarray(0, at), ...Array.from({ length: 1 + random.int(64) }, () => piece), input.subarray(at)]);
    }
    default:
      return input.subarray(0, at);
  }
}

interface Run {
  relay: TestRelay;
  readToken: string;
  /** Bodies this run signed with the channel's secret: the only ones that may be stored. */
  signed: Set<string>;
  /** Signed bodies the relay answered 200: each must be stored. */
  accepted: Set<string>;
  /** Answers that break the rules, with what provoked them. */
  violations: string[];
  counts: Record<string, number>;
}

const KNOWN_CODES = new Set([...Object.keys(SERVER_ERRORS), ...Object.keys(PROTOCOL_ERRORS)]);

/** Checks the first answer (past any 100 Continue) of a raw exchange. */
function checkAnswer(run: Run, text: string, provoked: Buffer): void {
  let rest = text;
  while (/^HTTP\/1\.1 1\d\d /.test(rest) && rest.includes('\r\n\r\n') && !rest.startsWith('HTTP/1.1 101')) rest = rest.slice(rest.indexOf('\r\n\r\n') + 4);
  if (rest === '') return;
  const answer = parseAnswer(rest);
  const fail = (why: string): void => {
    run.violations.push(`${why}: ${JSON.stringify(rest.slice(0, 200))} for ${JSON.stringify(provoked.subarray(0, 300).toString('latin1'))}`);
  };
  if (answer.status === 0) return fail('not an HTTP answer');
  if (answer.status >= 500) return fail('a server error');
  if (answer.status >= 400 && answer.headers['content-length'] !== '0' && answer.body !== '') {
    if (answer.code === undefined || !KNOWN_CODES.has(answer.code)) fail('an error outside the catalogue');
  }
}

/** Writes `data` (in pieces, sometimes), then ends, resets or waits; resolves with what came back. */
async function exchange(run: Run, random: Random, data: Buffer): Promise<string> {
  const socket = await openRaw(run.relay.url);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  socket.on('error', () => undefined);
  // Not events.once: it rejects on 'error', and a reset or EPIPE is one of the endings expected here.
  const closed = new Promise((resolve) => socket.once('close', resolve));
  let offset = 0;
  // The relay may answer and close before the request is all written (it refuses early): the
  // rest is then not sent, as a real peer's write would fail too.
  while (offset < data.length && !socket.destroyed && socket.writable) {
    const size = random.chance(0.7) ? data.length - offset : 1 + random.int(data.length - offset);
    try {
      socket.write(data.subarray(offset, offset + size));
    } catch {
      break;
    }
    offset += size;
    if (random.chance(0.1)) await new Promise((resolve) => setImmediate(resolve));
  }
  const ending = random.int(10);
  if (ending === 0) socket.resetAndDestroy();
  else if (ending < 4) socket.end();
  const timer = setTimeout(() => socket.destroy(), CASE_WAIT_MS);
  await closed;
  clearTimeout(timer);
  return Buffer.concat(chunks).toString('latin1');
}

function signedRequest(run: Run, random: Random, n: number): { request: Buffer; body: string } {
  const body = JSON.stringify({ event_id: `fuzz-${SEED}-${n}`, event_type: 'call.end', payload: { n, pad: 'x'.repeat(random.int(64)) } });
  run.signed.add(body);
  const head = `POST /hooks/myoperator HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nX-MyOperator-Signature: ${sign(body, TEST_SECRET)}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
  return { request: Buffer.from(head + body), body };
}

function baseRequests(run: Run, random: Random, n: number): Buffer[] {
  const token = run.readToken;
  return [
    signedRequest(run, random, n).request,
    Buffer.from(`GET /api/events?channel=myoperator&limit=${random.int(2000)}&since=${random.pick(['2h', 'x', '1970-01-01T00:00:00Z', ''])} HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer ${token}\r\n\r\n`),
    Buffer.from(`GET /api/events/myoperator/fuzz-${SEED}-${random.int(n + 1)} HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer ${token}\r\n\r\n`),
    Buffer.from(`POST /api/channels/audit/trigger HTTP/1.1\r\nHost: relay\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n{"type":"nope.x"}`),
    Buffer.from('GET /healthz HTTP/1.1\r\nHost: relay\r\n\r\nGET /readyz HTTP/1.1\r\nHost: relay\r\n\r\n'),
    Buffer.from(`POST /hooks/myoperator HTTP/1.1\r\nHost: relay\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nX-MyOperator-Signature: ${'ab'.repeat(32)}\r\n\r\n5\r\n{"a":\r\n2\r\n1}\r\n0\r\n\r\n`),
    Buffer.from(upgradeRequest('/ws', { 'sec-websocket-protocol': PROTOCOL_NAME })),
  ];
}

/** A raw HTTP request: a base one, changed a few times (or left as it is). */
async function httpCase(run: Run, random: Random, n: number): Promise<void> {
  let request = random.pick(baseRequests(run, random, n));
  const mutations = random.chance(0.15) ? 0 : 1 + random.int(4);
  for (let i = 0; i < mutations; i++) request = mutate(request, random);
  checkAnswer(run, await exchange(run, random, request), request);
  run.counts['http'] = (run.counts['http'] ?? 0) + 1;
}

/** A signed event sent cleanly: it must be answered 200 and stored. */
async function signedCase(run: Run, random: Random, n: number): Promise<void> {
  const { request, body } = signedRequest(run, random, n);
  const socket = await openRaw(run.relay.url);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  const closed = once(socket, 'close');
  socket.write(Buffer.concat([request.subarray(0, request.indexOf('\r\n\r\n')), Buffer.from('\r\nConnection: close'), request.subarray(request.indexOf('\r\n\r\n'))]));
  await closed;
  const answer = parseAnswer(Buffer.concat(chunks).toString('latin1'));
  if (answer.status === 200) run.accepted.add(body);
  else run.violations.push(`a signed event was answered ${answer.status} ${answer.code ?? ''}`);
  run.counts['signed'] = (run.counts['signed'] ?? 0) + 1;
}

/** One WebSocket frame with random flags, opcode, masking and (claimed) length. */
function randomFrame(random: Random): Buffer {
  const payload = random.bytes(random.int(200));
  const first = (random.chance(0.8) ? 0x80 : 0) | (random.chance(0.1) ? 0x40 >> random.int(3) : 0) | random.pick([0x1, 0x2, 0x8, 0x9, 0xa, 0x0, 0x3, 0xb, random.int(16)]);
  const masked = random.chance(0.85);
  const claim = random.int(10);
  let lengthBytes: Buffer;
  if (claim === 0) lengthBytes = Buffer.from([masked ? 0xff : 0x7f, 0, 0, 0, 1, 0, 0, 0, 0]);
  else if (claim === 1) lengthBytes = Buffer.from([(masked ? 0x80 : 0) | 126, 0xff, 0xff]);
  else lengthBytes = Buffer.from([(masked ? 0x80 : 0) | Math.min(payload.length, 125)]);
  const body = claim > 1 ? payload.subarray(0, 125) : payload;
  const mask = masked ? random.bytes(4) : Buffer.alloc(0);
  const data = Buffer.from(body);
  if (masked) for (let i = 0; i < data.length; i++) data[i] = (data[i] as number) ^ (mask[i % 4] as number);
  return Buffer.concat([Buffer.from([first]), lengthBytes, mask, data]);
}

/** A raw upgrade to /ws, then random frames. */
async function framesCase(run: Run, random: Random): Promise<void> {
  const frames = Array.from({ length: 1 + random.int(6) }, () => randomFrame(random));
  const data = Buffer.concat([Buffer.from(upgradeRequest('/ws', { 'sec-websocket-protocol': PROTOCOL_NAME })), ...frames]);
  const text = await exchange(run, random, random.chance(0.2) ? mutate(data, random) : data);
  if (text !== '' && !text.startsWith('HTTP/1.1 101')) checkAnswer(run, text, data);
  run.counts['frames'] = (run.counts['frames'] ?? 0) + 1;
}

const MESSAGES = [
  { type: 'hello', protocol: 1, agent: 'fuzz' },
  { type: 'subscribe', ref: 'r1', channel: 'myoperator', consumer: 'fuzz', since: '1h', window: 4 },
  { type: 'ack', sub: 's1', id: 'fuzz-1', seq: 1 },
  { type: 'nack', sub: 's1', id: 'fuzz-1', seq: 1, error: 'x' },
  { type: 'pong', ts: 1 },
  { type: 'unsubscribe', sub: 's1' },
];

/** Random and mutated messages over a WebSocket the ws library frames properly. */
async function messagesCase(run: Run, random: Random): Promise<void> {
  const ws = new WebSocket(`${run.relay.url.replace(/^http/, 'ws')}/ws`, [PROTOCOL_NAME], random.chance(0.5) ? { headers: { authorization: `Bearer ${run.readToken}` } } : {});
  ws.on('error', () => undefined);
  const closed = once(ws, 'close');
  const opened = await Promise.race([once(ws, 'open').then(() => true), closed.then(() => false)]);
  if (opened) {
    for (let i = 0, count = 1 + random.int(12); i < count && ws.readyState === WebSocket.OPEN; i++) {
      const base = random.pick(MESSAGES);
      const text = Buffer.from(JSON.stringify(random.chance(0.3) ? { ...base, token: run.readToken } : base));
      const message = random.chance(0.2) ? random.bytes(random.int(300)) : random.chance(0.6) ? mutate(text, random) : text;
      ws.send(message, { binary: random.chance(0.2) });
    }
    if (random.chance(0.5)) ws.close();
    else ws.terminate();
  }
  const timer = setTimeout(() => ws.terminate(), CASE_WAIT_MS);
  await closed;
  clearTimeout(timer);
  run.counts['messages'] = (run.counts['messages'] ?? 0) + 1;
}

async function worker(run: Run, index: number, deadline: number): Promise<void> {
  const random = new Random(SEED + index * 7919);
  for (let n = 0; n < MAX_CASES && Date.now() < deadline; n++) {
    const roll = random.int(20);
    const id = index * MAX_CASES + n;
    if (roll < 11) await httpCase(run, random, id);
    else if (roll < 13) await signedCase(run, random, id);
    else if (roll < 16) await framesCase(run, random);
    else await messagesCase(run, random);
  }
}

let run: Run;

beforeAll(async () => {
  const relay = await startRelay({ headersTimeout: '250ms', requestTimeout: '500ms', keepAliveTimeout: '250ms', heartbeatInterval: '1s', logLevel: 'warn' });
  await relay.addChannel('audit', { verify: 'hmac', secret: ['whsec_audit_secret_0123456789abcdef'] });
  const { token } = await issueToken(relay.store, { name: 'fuzz', role: 'developer', channels: ['myoperator', 'audit'] });
  run = { relay, readToken: token, signed: new Set(), accepted: new Set(), violations: [], counts: {} };
});
afterAll(async () => {
  await run.relay.close();
});

it(`survives ${DURATION_MS / 1000} s of random and mutated requests and frames (seed ${SEED})`, async () => {
  console.log(`fuzz seed ${SEED} (replay with RELAY_FUZZ_SEED=${SEED})`);
  const rssBefore = process.memoryUsage().rss;
  const deadline = Date.now() + DURATION_MS;
  await Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(run, i, deadline)));
  console.log(`fuzz cases: ${JSON.stringify(run.counts)}`);

  const failures = run.relay.logs().split('\n').filter((line) => /"level":(50|60)/.test(line));
  expect({ violations: run.violations.slice(0, 5), failures: failures.slice(0, 3) }, `seed ${SEED}`).toEqual({ violations: [], failures: [] });
  expect(await healthz(run.relay.url)).toBe(200);
  await expect.poll(() => openConnections(run.relay.app.server), { timeout: 10_000 }).toBe(0);
  expect(process.memoryUsage().rss - rssBefore).toBeLessThan(MAX_RSS_GROWTH_BYTES);

  const stored: { channel: string; id: string; synthetic: boolean; body: string }[] = [];
  let cursor: string | undefined;
  do {
    const page = await run.relay.store.listEvents({ visibleChannels: null, limit: 1000, ...(cursor ? { cursor } : {}) });
    for (const summary of page.events) {
      const event = await run.relay.store.getEvent(summary.channel, summary.id);
      stored.push({ channel: summary.channel, id: summary.id, synthetic: summary.synthetic, body: Buffer.from(event?.body ?? []).toString() });
    }
    cursor = page.nextCursor;
  } while (cursor);
  // Only what this run signed reached the store (and samples the relay made itself, on request).
  expect(stored.filter((e) => !e.synthetic && !run.signed.has(e.body)).map((e) => e.id)).toEqual([]);
  expect(stored.filter((e) => e.synthetic && e.channel !== 'audit' && e.channel !== 'myoperator')).toEqual([]);
  const storedBodies = new Set(stored.map((e) => e.body));
  expect([...run.accepted].filter((body) => !storedBodies.has(body))).toEqual([]);
  expect(run.accepted.size).toBeGreaterThan(0);
});
