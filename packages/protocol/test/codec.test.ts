import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import {
  MAX_MESSAGE_BYTES,
  decodeClientMessage,
  decodeServerMessage,
  encodeMessage,
  encodeEventMessage,
  utf8ByteLength,
  type ClientMessage,
  type DecodeResult,
  type ErrorCode,
  type EventMessage,
  type PingMessage,
  type ServerMessage,
} from '../src/index.js';

// One valid message of every client type, with every optional field set where there is one.
const clientMessages: ClientMessage[] = [
  { type: 'hello', protocol: 1, agent: 'relay-client/0.1.0 node/20.11.0' },
  { type: 'hello', protocol: 1, token: 'rly_abc.DEF-123', agent: 'relay-client/0.1.0 deno/2.0.0' },
  { type: 'subscribe', ref: 'r1', channel: 'sales', consumer: 'asha@laptop' },
  {
    type: 'subscribe',
    ref: 'r2',
    channel: 'team.sales_in-prod-1',
    consumer: 'Ásha’s laptop 🚀',
    events: ['call.*', 'sms.?'],
    since: '1h30m',
    window: 1024,
    ordered: true,
  },
  { type: 'ack', sub: 's1', seq: 0, attempt: 1, status: 204, latencyMs: 12.5 },
  { type: 'nack', sub: 's1', seq: Number.MAX_SAFE_INTEGER, attempt: 3, status: 500, latencyMs: 40 },
  { type: 'nack', sub: 's1', seq: 7, attempt: 1, error: 'ECONNREFUSED', latencyMs: 0 },
  { type: 'nack', sub: 's1', seq: 7, attempt: 2, status: 302, error: 'redirect not followed', latencyMs: 3 },
  {
    type: 'nack',
    sub: 's1',
    seq: 8,
    attempt: 1,
    status: 500,
    latencyMs: 3,
    responseHeaders: [['Content-Type', 'text/plain'], ['X-Note', 'caf\u00e9']],
    responseBody: Buffer.alloc(4096, 0xff).toString('base64'),
    responseBytes: 10_240,
    responseBodyTruncated: true,
  },
  { type: 'ack', sub: 's1', seq: 9, attempt: 1, status: 200, latencyMs: 1, responseHeaders: [], responseBody: '', responseBytes: 0, responseBodyTruncated: false },
  { type: 'unsubscribe', sub: 's1' },
  { type: 'ping', ts: 1714550400000 },
  { type: 'pong', ts: 12.75 },
];

// One valid message of every server type.
const serverMessages: ServerMessage[] = [
  { type: 'welcome', protocol: 1, session: 'sess_01HX', server: '0.1.0', heartbeatMs: 15000, maxMessageBytes: 4194304 },
  { type: 'subscribed', ref: 'r1', sub: 's1', channel: 'sales', consumer: 'asha@laptop', created: true, pending: 0 },
  {
    type: 'event',
    sub: 's1',
    channel: 'sales',
    consumer: 'asha@laptop',
    seq: 42,
    id: 'evt_01HXABCDEF',
    eventType: 'call.answered',
    attempt: 2,
    receivedAt: '2024-05-01T10:00:00.123Z',
    headers: [
      ['Content-Type', 'application/json'],
      ['X-MyOperator-Signature', 'ab12'],
      ['x-dup', 'one'],
      ['x-dup', 'two\tthree ü'],
    ],
    body: 'eyJhIjoxfQ==',
    synthetic: false,
    replay: true,
  },
  {
    type: 'event',
    sub: 's1',
    channel: 'sales',
    consumer: 'c',
    seq: 0,
    id: 'e',
    eventType: 'test',
    attempt: 1,
    receivedAt: '2024-05-01T15:30:00+05:30',
    headers: [],
    body: '',
    synthetic: true,
    replay: false,
  },
  { type: 'backlog', sub: 's1', delivered: 10, total: 250 },
  { type: 'error', code: 'RELAY_E_WS_UNKNOWN_CHANNEL', message: 'No such channel.', ref: 'r1', fatal: false },
  { type: 'error', code: 'RELAY_E_WS_TOKEN_INVALID', message: 'Bad token.', fatal: true },
  { type: 'error', code: 'RELAY_E_WS_NOT_IN_FLIGHT', message: 'Not in flight.', sub: 's1', fatal: false },
  { type: 'ping', ts: 1 },
  { type: 'pong', ts: 1 },
  { type: 'welcome', protocol: 1, session: 'sess_01HY', server: '0.2.0', heartbeatMs: 15000, maxMessageBytes: 4194304, retryInitialMs: 250, retryMaxMs: 30000 },
];

const encoder = new TextEncoder();

function expectError<T>(result: DecodeResult<T>, code: ErrorCode, detail?: string): void {
  if (result.ok) throw new Error(`expected ${code}, decoded ${JSON.stringify(result.message)}`);
  expect(result.error.code).toBe(code);
  if (detail !== undefined) expect(result.error.detail).toContain(detail);
}

function client(raw: unknown): DecodeResult<ClientMessage> {
  return decodeClientMessage(JSON.stringify(raw));
}

function server(raw: unknown): DecodeResult<ServerMessage> {
  return decodeServerMessage(JSON.stringify(raw));
}

describe('round trip', () => {
  it.each(clientMessages.map((m) => [m.type, m] as const))('client %s', (_type, message) => {
    const wire = encodeMessage(message);
    expect(decodeClientMessage(wire)).toEqual({ ok: true, message });
    expect(decodeClientMessage(encoder.encode(wire))).toEqual({ ok: true, message });
    expect(decodeClientMessage(encoder.encode(wire).buffer)).toEqual({ ok: true, message });
  });

  it.each(serverMessages.map((m) => [m.type, m] as const))('server %s', (_type, message) => {
    const wire = encodeMessage(message);
    expect(decodeServerMessage(wire)).toEqual({ ok: true, message });
    expect(decodeServerMessage(encoder.encode(wire))).toEqual({ ok: true, message });
  });

  it('reads a Uint8Array that is a window into a larger buffer', () => {
    const wire = encoder.encode(encodeMessage({ type: 'ping', ts: 5 }));
    const big = new Uint8Array(wire.length + 20).fill(0x7b);
    big.set(wire, 10);
    expect(decodeClientMessage(big.subarray(10, 10 + wire.length))).toEqual({ ok: true, message: { type: 'ping', ts: 5 } });
  });

  it('carries a 1 MiB binary body byte for byte', () => {
    const bytes = new Uint8Array(1024 * 1024);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + (i >>> 8)) & 255;
    const event = serverMessages.find((m) => m.type === 'event');
    if (event?.type !== 'event') throw new Error('fixture missing');
    const wire = encodeMessage({ ...event, body: Buffer.from(bytes).toString('base64') });
    expect(utf8ByteLength(wire)).toBeLessThan(MAX_MESSAGE_BYTES);
    const decoded = decodeServerMessage(wire);
    if (!decoded.ok || decoded.message.type !== 'event') throw new Error('event did not decode');
    const received = Buffer.from(decoded.message.body, 'base64');
    // A loop, not toEqual: deep equality over a million elements takes seconds.
    expect(received.length).toBe(bytes.length);
    expect(received.findIndex((b, i) => b !== bytes[i])).toBe(-1);
  });

  it('refuses to encode a type that is not a message type, including names every object has', () => {
    for (const type of ['bogus', 'toString', '__proto__', 'constructor']) {
      expect(() => encodeMessage({ type } as unknown as ClientMessage)).toThrow(new TypeError(`Cannot encode unknown message type ${JSON.stringify(type)}`));
    }
  });

  it('writes an event with header JSON spliced in exactly as encodeMessage writes it', () => {
    const event = serverMessages.find((m) => m.type === 'event');
    if (event?.type !== 'event') throw new Error('fixture missing');
    const variants: EventMessage[] = [
      event,
      { ...event, headers: [], synthetic: true, replay: true, attempt: 12, seq: 2 ** 40 },
      { ...event, id: 'evt "quoted" \\ \u2028', eventType: 'call.\u00e9', headers: [['X-Note', 'a "b" \\ c \u00e9']] },
    ];
    for (const message of variants) {
      const { headers, ...rest } = message;
      expect(encodeEventMessage(rest, JSON.stringify(headers))).toBe(encodeMessage(message));
    }
  });

  it('does not copy unknown fields into the decoded message', () => {
    const result = client({ type: 'ack', sub: 's', seq: 1, attempt: 1, status: 200, latencyMs: 1, future: { x: 1 }, __proto__: 1 });
    expect(result.ok && Object.keys(result.message).sort()).toEqual(['attempt', 'latencyMs', 'seq', 'status', 'sub', 'type']);
  });

  it('copies arrays so the result shares nothing with the parsed input', () => {
    const result = server(serverMessages[2]);
    if (!result.ok || result.message.type !== 'event') throw new Error('event did not decode');
    expect(Array.isArray(result.message.headers[0])).toBe(true);
    expect(result.message.headers).toEqual((serverMessages[2] as { headers: unknown }).headers);
  });

  it('encodes only the fields of the message type', () => {
    const row = { type: 'ping' as const, ts: 3, token: 'secret', ownerEmail: 'a@b.c' };
    const ping: PingMessage = row;
    expect(JSON.parse(encodeMessage(ping))).toEqual({ type: 'ping', ts: 3 });
  });

  it('omits optional fields that are undefined', () => {
    expect(JSON.parse(encodeMessage({ type: 'subscribe', ref: 'r', channel: 'c', consumer: 'k', since: undefined }))).toEqual({
      type: 'subscribe',
      ref: 'r',
      channel: 'c',
      consumer: 'k',
    });
  });

  it('refuses to encode a message type the protocol does not have', () => {
    expect(() => encodeMessage({ type: 'bogus' } as unknown as PingMessage)).toThrow(TypeError);
  });
});

describe('malformed input', () => {
  it.each([
    ['not JSON', 'hello'],
    ['empty text', ''],
    ['truncated JSON', '{"type":"ping","ts":1'],
    ['an array', '[{"type":"ping","ts":1}]'],
    ['null', 'null'],
    ['a number', '42'],
    ['a string', '"ping"'],
    ['a boolean', 'true'],
  ])('rejects %s', (_what, text) => {
    expectError(decodeClientMessage(text), 'RELAY_E_WS_MALFORMED');
    expectError(decodeServerMessage(text), 'RELAY_E_WS_MALFORMED');
  });

  it('rejects invalid UTF-8 instead of replacing it', () => {
    const bytes = encoder.encode('{"type":"hello","protocol":1,"agent":"x"}');
    bytes[36] = 0xff;
    expectError(decodeClientMessage(bytes), 'RELAY_E_WS_MALFORMED', 'UTF-8');
  });

  it('rejects a byte order mark', () => {
    const wire = encoder.encode('{"type":"ping","ts":1}');
    const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...wire]);
    expectError(decodeClientMessage(withBom), 'RELAY_E_WS_MALFORMED');
  });

  it('rejects input that is neither text nor bytes without throwing', () => {
    expectError(decodeClientMessage(42 as unknown as string), 'RELAY_E_WS_MALFORMED');
    expectError(decodeClientMessage(null as unknown as string), 'RELAY_E_WS_MALFORMED');
  });
});

describe('message type', () => {
  it('requires a string type', () => {
    expectError(client({ ts: 1 }), 'RELAY_E_WS_INVALID_MESSAGE', 'type is missing');
    expectError(client({ type: 7 }), 'RELAY_E_WS_INVALID_MESSAGE', 'type must be a string');
  });

  it.each(['subscribe2', 'HELLO', '', '__proto__', 'toString', 'constructor'])('rejects unknown type %j', (type) => {
    expectError(client({ type }), 'RELAY_E_WS_UNKNOWN_TYPE');
    expectError(server({ type }), 'RELAY_E_WS_UNKNOWN_TYPE');
  });

  it('rejects server messages sent by a client and client messages sent by a server', () => {
    for (const m of serverMessages.filter((m) => m.type !== 'ping' && m.type !== 'pong')) {
      expectError(decodeClientMessage(encodeMessage(m)), 'RELAY_E_WS_UNKNOWN_TYPE');
    }
    for (const m of clientMessages.filter((m) => m.type !== 'ping' && m.type !== 'pong')) {
      expectError(decodeServerMessage(encodeMessage(m)), 'RELAY_E_WS_UNKNOWN_TYPE');
    }
  });
});

describe('protocol version', () => {
  it('reports a hello of another version as a version mismatch even if its fields differ', () => {
    expectError(client({ type: 'hello', protocol: 2, agentInfo: { name: 'x' } }), 'RELAY_E_WS_PROTOCOL_VERSION', 'version 2');
  });

  it('reports a welcome of another version as a version mismatch', () => {
    expectError(server({ ...serverMessages[0], protocol: 3 }), 'RELAY_E_WS_PROTOCOL_VERSION', 'version 3');
  });

  it('treats a non-integer version as an invalid field', () => {
    expectError(client({ type: 'hello', protocol: '1', agent: 'x' }), 'RELAY_E_WS_INVALID_MESSAGE', 'hello.protocol');
    expectError(client({ type: 'hello', protocol: 1.5, agent: 'x' }), 'RELAY_E_WS_INVALID_MESSAGE', 'hello.protocol');
    expectError(client({ type: 'hello', protocol: 0, agent: 'x' }), 'RELAY_E_WS_INVALID_MESSAGE', 'hello.protocol');
  });
});

const hello = { type: 'hello', protocol: 1, agent: 'relay-client/0.1.0' };
const subscribe = { type: 'subscribe', ref: 'r', channel: 'sales', consumer: 'me' };
const ack = { type: 'ack', sub: 's', seq: 1, attempt: 1, status: 200, latencyMs: 1 };
const nack = { type: 'nack', sub: 's', seq: 1, attempt: 1, status: 500, latencyMs: 1 };
const event = serverMessages[2];

describe('invalid client fields', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['missing agent', { ...hello, agent: undefined }, 'hello.agent is missing'],
    ['null token', { ...hello, token: null }, 'hello.token'],
    ['token with a space', { ...hello, token: 'abc def' }, 'hello.token'],
    ['token with a newline', { ...hello, token: 'abc\r\nX-Evil: 1' }, 'hello.token'],
    ['empty token', { ...hello, token: '' }, 'hello.token'],
    ['agent with control characters', { ...hello, agent: 'x\u001b[31m' }, 'hello.agent'],
    ['answer body of 4097 bytes', { ...nack, responseBody: Buffer.alloc(4097).toString('base64') }, 'nack.responseBody must hold at most 4096 bytes'],
    ['answer body in unpadded base64', { ...ack, responseBody: 'YQ' }, 'ack.responseBody must be padded base64'],
    ['51 answer headers', { ...ack, responseHeaders: Array.from({ length: 51 }, (_, i) => [`h${i}`, '']) }, 'ack.responseHeaders must have at most 50 pairs'],
    ['answer headers of 8193 characters', { ...nack, responseHeaders: [['a', 'b'.repeat(8192)]] }, 'nack.responseHeaders must have at most 8192 characters'],
    ['answer header name with a space', { ...nack, responseHeaders: [['X Bad', 'v']] }, 'nack.responseHeaders[0][0]'],
    ['negative answer size', { ...nack, responseBytes: -1 }, 'nack.responseBytes'],
    ['answer truncated as a string', { ...nack, responseBodyTruncated: 'yes' }, 'nack.responseBodyTruncated'],
    ['missing ref', { ...subscribe, ref: undefined }, 'subscribe.ref is missing'],
    ['numeric ref', { ...subscribe, ref: 1 }, 'subscribe.ref must be a string'],
    ['channel with a slash', { ...subscribe, channel: 'sales/../admin' }, 'subscribe.channel'],
    ['channel with a space', { ...subscribe, channel: 'sales team' }, 'subscribe.channel'],
    ['channel with an @, which the server refuses', { ...subscribe, channel: 'a@b' }, 'subscribe.channel'],
    ['channel of 65 characters', { ...subscribe, channel: 'c'.repeat(65) }, 'subscribe.channel'],
    ['empty channel', { ...subscribe, channel: '' }, 'subscribe.channel'],
    ['channel of 129 characters', { ...subscribe, channel: 'c'.repeat(129) }, 'subscribe.channel'],
    ['non-ASCII channel', { ...subscribe, channel: 'sälës' }, 'subscribe.channel'],
    ['consumer with a control character', { ...subscribe, consumer: 'me\u0007' }, 'subscribe.consumer'],
    ['consumer with DEL', { ...subscribe, consumer: 'me\u007f' }, 'subscribe.consumer'],
    ['consumer with an unpaired surrogate', { ...subscribe, consumer: 'me\ud800' }, 'subscribe.consumer'],
    ['consumer of 129 characters', { ...subscribe, consumer: '🚀'.repeat(129) }, 'subscribe.consumer'],
    ['events not an array', { ...subscribe, events: 'call.*' }, 'subscribe.events'],
    ['empty event pattern', { ...subscribe, events: ['call.*', ''] }, 'subscribe.events[1]'],
    ['event pattern with a newline', { ...subscribe, events: ['call\n*'] }, 'subscribe.events[0]'],
    ['numeric event pattern', { ...subscribe, events: [1] }, 'subscribe.events[0]'],
    ['65 event patterns', { ...subscribe, events: Array.from({ length: 65 }, (_, i) => `e${i}`) }, 'subscribe.events'],
    ['numeric since', { ...subscribe, since: 15 }, 'subscribe.since'],
    ['window 0', { ...subscribe, window: 0 }, 'subscribe.window'],
    ['window 1025', { ...subscribe, window: 1025 }, 'subscribe.window'],
    ['fractional window', { ...subscribe, window: 8.5 }, 'subscribe.window'],
    ['window as a string', { ...subscribe, window: '8' }, 'subscribe.window'],
    ['ordered as a string', { ...subscribe, ordered: 'true' }, 'subscribe.ordered'],
    ['negative seq', { ...ack, seq: -1 }, 'ack.seq'],
    ['fractional seq', { ...ack, seq: 1.5 }, 'ack.seq'],
    ['unsafe seq', { ...ack, seq: 2 ** 53 }, 'ack.seq'],
    ['seq as a string', { ...ack, seq: '1' }, 'ack.seq'],
    ['attempt 0', { ...ack, attempt: 0 }, 'ack.attempt'],
    ['ack status 302', { ...ack, status: 302 }, 'ack.status'],
    ['ack status 199', { ...ack, status: 199 }, 'ack.status'],
    ['negative latency', { ...ack, latencyMs: -1 }, 'ack.latencyMs'],
    ['missing sub', { ...ack, sub: undefined }, 'ack.sub is missing'],
    ['nack status 600', { ...nack, status: 600 }, 'nack.status'],
    ['nack status 99', { ...nack, status: 99 }, 'nack.status'],
    ['nack error of 1001 characters', { ...nack, error: 'e'.repeat(1001) }, 'nack.error'],
    ['nack with neither status nor error', { ...nack, status: undefined }, 'nack needs status, error or both'],
    ['unsubscribe without sub', { type: 'unsubscribe' }, 'unsubscribe.sub is missing'],
    ['ping without ts', { type: 'ping' }, 'ping.ts is missing'],
    ['ping ts as a string', { type: 'ping', ts: '1' }, 'ping.ts'],
  ])('rejects %s', (_what, raw, detail) => {
    expectError(client(raw), 'RELAY_E_WS_INVALID_MESSAGE', detail);
  });

  it('rejects numbers that JSON turns into Infinity', () => {
    expectError(decodeClientMessage('{"type":"ping","ts":1e400}'), 'RELAY_E_WS_INVALID_MESSAGE', 'ping.ts');
    expectError(
      decodeClientMessage('{"type":"ack","sub":"s","seq":1,"attempt":1,"status":200,"latencyMs":-1e999}'),
      'RELAY_E_WS_INVALID_MESSAGE',
      'ack.latencyMs',
    );
  });

  it('accepts names at the length limits', () => {
    expect(client({ ...subscribe, channel: 'c'.repeat(64), consumer: '🚀'.repeat(128), ref: 'r'.repeat(128) }).ok).toBe(true);
    expect(client({ ...nack, status: undefined, error: 'e'.repeat(1000) }).ok).toBe(true);
  });
});

describe('invalid server fields', () => {
  it.each<[string, Record<string, unknown>, string]>([
    ['a header value with CRLF', { ...event, headers: [['A', 'ok'], ['X-Injected', 'a\r\nSet-Cookie: x=1']] }, 'event.headers[1][1]'],
    ['a header value with a bare LF', { ...event, headers: [['A', 'a\nb']] }, 'event.headers[0][1]'],
    ['a header value with NUL', { ...event, headers: [['A', 'a\u0000b']] }, 'event.headers[0][1]'],
    ['a header name with a space', { ...event, headers: [['Content Type', 'x']] }, 'event.headers[0][0]'],
    ['a header name with a colon', { ...event, headers: [['Host:', 'x']] }, 'event.headers[0][0]'],
    ['an empty header name', { ...event, headers: [['', 'x']] }, 'event.headers[0][0]'],
    ['a header pair of three strings', { ...event, headers: [['A', 'b', 'c']] }, 'event.headers[0]'],
    ['headers as an object', { ...event, headers: { A: 'b' } }, 'event.headers'],
    ['a numeric header value', { ...event, headers: [['A', 1]] }, 'event.headers[0][1]'],
    ['201 headers', { ...event, headers: Array.from({ length: 201 }, (_, i) => [`h${i}`, 'v']) }, 'event.headers'],
    ['a body that is not base64', { ...event, body: '{"a":1}' }, 'event.body'],
    ['an unpadded body', { ...event, body: 'eyJhIjoxfQ' }, 'event.body'],
    ['a receivedAt without zone', { ...event, receivedAt: '2024-05-01T10:00:00' }, 'event.receivedAt'],
    ['a receivedAt that is not a time', { ...event, receivedAt: 'yesterday' }, 'event.receivedAt'],
    ['a seq as a string', { ...event, seq: '42' }, 'event.seq'],
    ['a channel with a slash', { ...event, channel: 'a/b' }, 'event.channel'],
    ['missing replay', { ...event, replay: undefined }, 'event.replay is missing'],
    ['an unknown error code', { type: 'error', code: 'RELAY_E_WS_NOPE', message: 'x', fatal: true }, 'error.code'],
    ['a subscribed without created', { type: 'subscribed', ref: 'r', sub: 's', channel: 'c', consumer: 'k', pending: 0 }, 'subscribed.created is missing'],
    ['a negative backlog total', { type: 'backlog', sub: 's', delivered: 0, total: -1 }, 'backlog.total'],
    ['a welcome with heartbeatMs 0', { ...serverMessages[0], heartbeatMs: 0 }, 'welcome.heartbeatMs'],
  ])('rejects %s', (_what, raw, detail) => {
    expectError(server(raw), 'RELAY_E_WS_INVALID_MESSAGE', detail);
  });

  it('accepts exactly 200 headers with duplicate names and tabs in values', () => {
    const headers = Array.from({ length: 200 }, (_, i) => ['X-Same', `v\t${i}`]);
    expect(server({ ...event, headers }).ok).toBe(true);
  });
});

describe('message size', () => {
  // A nack whose error text is `chars` copies of `char`, for sizing messages precisely.
  const nackWith = (char: string, chars: number) =>
    encodeMessage({ type: 'nack', sub: 's', seq: 1, attempt: 1, error: char.repeat(chars), latencyMs: 1 });

  it('accepts a message of exactly maxBytes and rejects one byte more', () => {
    const wire = nackWith('a', 100);
    expect(decodeClientMessage(wire, { maxBytes: wire.length }).ok).toBe(true);
    expectError(decodeClientMessage(wire, { maxBytes: wire.length - 1 }), 'RELAY_E_WS_MESSAGE_TOO_LARGE');
  });

  it('measures text in UTF-8 bytes, not characters', () => {
    const wire = nackWith('é', 300);
    const bytes = encoder.encode(wire).byteLength;
    expect(bytes).toBe(wire.length + 300);
    expect(decodeClientMessage(wire, { maxBytes: bytes }).ok).toBe(true);
    // Fits in characters, not in bytes: the check must not be fooled by String.length.
    expectError(decodeClientMessage(wire, { maxBytes: bytes - 1 }), 'RELAY_E_WS_MESSAGE_TOO_LARGE');
    expectError(decodeClientMessage(encoder.encode(wire), { maxBytes: bytes - 1 }), 'RELAY_E_WS_MESSAGE_TOO_LARGE');
  });

  it('counts astral characters as four bytes', () => {
    const wire = nackWith('🚀', 200);
    const bytes = encoder.encode(wire).byteLength;
    expect(decodeClientMessage(wire, { maxBytes: bytes }).ok).toBe(true);
    expectError(decodeClientMessage(wire, { maxBytes: bytes - 1 }), 'RELAY_E_WS_MESSAGE_TOO_LARGE');
  });

  it('applies the 4 MiB default', () => {
    const padding = 'x'.repeat(MAX_MESSAGE_BYTES);
    expectError(decodeClientMessage(`{"type":"ping","ts":1,"pad":"${padding}"}`), 'RELAY_E_WS_MESSAGE_TOO_LARGE');
    expectError(decodeClientMessage(new Uint8Array(MAX_MESSAGE_BYTES + 1)), 'RELAY_E_WS_MESSAGE_TOO_LARGE');
    const fits = `{"type":"ping","ts":1,"pad":"${'x'.repeat(MAX_MESSAGE_BYTES - 100)}"}`;
    expect(decodeClientMessage(fits).ok).toBe(true);
  });

  it('rejects a nonsensical limit as a programming error', () => {
    expect(() => decodeClientMessage('{}', { maxBytes: 0 })).toThrow(RangeError);
    expect(() => decodeClientMessage('{}', { maxBytes: Number.NaN })).toThrow(RangeError);
  });

  it('utf8ByteLength agrees with TextEncoder, unpaired surrogates included', () => {
    for (const s of ['', 'abc', 'é', '€', '🚀', 'a\ud800b', '\udc00', '\ud83d', 'x🚀é€\ud800\udc00\udfff']) {
      expect(utf8ByteLength(s)).toBe(encoder.encode(s).byteLength);
    }
  });
});
