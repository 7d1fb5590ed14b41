/**
 * Encoding and strict decoding of protocol messages. Decoding is the one place where untrusted
 * wire data becomes typed values: every field is checked, unknown fields are dropped, and bad
 * input yields a coded {@link ProtocolError} instead of an exception.
 */
import { base64ByteLength, isBase64 } from './base64.js';
import { utf8ByteLength } from './utf8.js';
import { isErrorCode, ProtocolError, type ErrorCode } from './errors.js';
import { validateEventPattern } from './glob.js';
import { headerValueProblem, isHttpToken } from './headers.js';
import {
  MAX_EVENT_PATTERNS,
  MAX_HEADERS,
  MAX_MESSAGE_BYTES,
  MAX_NACK_ERROR_LENGTH,
  MAX_NAME_LENGTH,
  MAX_RESPONSE_BODY_BYTES,
  MAX_RESPONSE_HEADER_CHARS,
  MAX_RESPONSE_HEADERS,
  MAX_WINDOW,
  PROTOCOL_VERSION,
  validateChannelName,
  validateConsumerName,
  validateText,
  type ClientMessage,
  type ClientMessageType,
  type EventMessage,
  type ServerMessage,
  type ServerMessageType,
} from './messages.js';
import { parseTimestamp } from './since.js';

/** Result of a decode: the typed message, or the error to report. */
export type DecodeResult<T> = { ok: true; message: T } | { ok: false; error: ProtocolError };

/** Options of {@link decodeClientMessage} and {@link decodeServerMessage}. */
export interface DecodeOptions {
  /**
   * Largest accepted message in UTF-8 bytes. Default {@link MAX_MESSAGE_BYTES}; a client uses
   * `welcome.maxMessageBytes` once it has it.
   */
  maxBytes?: number;
}

/** Raw message data as WebSocket implementations deliver it. */
export type WireData = string | ArrayBuffer | Uint8Array;

// ---------------------------------------------------------------------------------------------
// Field readers

/** Why a field value was refused; `path` locates the culprit inside arrays. */
class Invalid {
  constructor(
    readonly reason: string,
    readonly path = '',
  ) {}
}

interface Field<V> {
  readonly optional: boolean;
  /** The value to put into the decoded message, or why it is refused. */
  read(value: unknown): V | Invalid;
}

function required<V>(read: (value: unknown) => V | Invalid): Field<V> & { readonly optional: false } {
  return { optional: false, read };
}

function optional<V>(field: Field<V>): Field<V> & { readonly optional: true } {
  return { optional: true, read: field.read };
}

function literal<L extends string>(expected: L): Field<L> & { readonly optional: false } {
  return required((v) => (v === expected ? expected : new Invalid(`must be "${expected}"`)));
}

function checkedString(check: (value: string) => string | undefined): Field<string> & { readonly optional: false } {
  return required((v) => {
    if (typeof v !== 'string') return new Invalid('must be a string');
    const problem = check(v);
    return problem === undefined ? v : new Invalid(problem);
  });
}

const text = (max: number) => checkedString((v) => validateText(v, max));

function integer(min: number, max = Number.MAX_SAFE_INTEGER): Field<number> & { readonly optional: false } {
  return required((v) =>
    typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max
      ? v
      : new Invalid(max === Number.MAX_SAFE_INTEGER ? `must be an integer of at least ${min}` : `must be an integer from ${min} to ${max}`),
  );
}

const nonNegativeNumber = required((v) =>
  typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : new Invalid('must be a finite number of at least 0'),
);

const finiteNumber = required((v) => (typeof v === 'number' && Number.isFinite(v) ? v : new Invalid('must be a finite number')));

const boolean = required((v) => (typeof v === 'boolean' ? v : new Invalid('must be true or false')));

// Tokens travel in an Authorization header too, so they must be header-safe visible ASCII.
const TOKEN = /^[\x21-\x7e]{1,4096}$/;
const token = checkedString((v) => (TOKEN.test(v) ? undefined : 'must be 1-4096 visible ASCII characters'));

function headerPairs(maxPairs: number, maxChars = Number.POSITIVE_INFINITY): Field<[string, string][]> & { readonly optional: false } {
  return required((v): [string, string][] | Invalid => {
    if (!Array.isArray(v)) return new Invalid('must be an array of [name, value] pairs');
    if (v.length > maxPairs) return new Invalid(`must have at most ${maxPairs} pairs`);
    const problem = headerPairsProblem(v);
    if (problem !== undefined) return problem;
    const pairs = v as [string, string][];
    let chars = 0;
    for (const [name, value] of pairs) chars += name.length + value.length;
    return chars > maxChars ? new Invalid(`must have at most ${maxChars} characters of names and values`) : pairs;
  });
}

/**
 * Why `v` is not a list of `[name, value]` header pairs, or undefined when it is. The pairs are
 * then taken as they are, not copied: they are the decoder's own, fresh from `JSON.parse`, which
 * makes plain arrays and nothing else (an event's headers are read on every delivery).
 */
function headerPairsProblem(v: readonly unknown[]): Invalid | undefined {
  for (let i = 0; i < v.length; i++) {
    const pair: unknown = v[i];
    if (!Array.isArray(pair) || pair.length !== 2) return new Invalid('must be a [name, value] pair', `[${i}]`);
    const [name, value]: unknown[] = pair;
    if (typeof name !== 'string' || !isHttpToken(name)) return new Invalid('must be an HTTP header name (token)', `[${i}][0]`);
    if (typeof value !== 'string') return new Invalid('must be a string', `[${i}][1]`);
    const problem = headerValueProblem(value);
    if (problem !== undefined) return new Invalid(problem, `[${i}][1]`);
  }
  return undefined;
}

const headers = headerPairs(MAX_HEADERS);
const responseHeaders = headerPairs(MAX_RESPONSE_HEADERS, MAX_RESPONSE_HEADER_CHARS);

const eventPatterns = required((v): string[] | Invalid => {
  if (!Array.isArray(v)) return new Invalid('must be an array of strings');
  if (v.length > MAX_EVENT_PATTERNS) return new Invalid(`must have at most ${MAX_EVENT_PATTERNS} patterns`);
  const copy: string[] = [];
  for (let i = 0; i < v.length; i++) {
    const pattern: unknown = v[i];
    if (typeof pattern !== 'string') return new Invalid('must be a string', `[${i}]`);
    const problem = validateEventPattern(pattern);
    if (problem !== undefined) return new Invalid(problem, `[${i}]`);
    copy.push(pattern);
  }
  return copy;
});

const body = checkedString((v) => (isBase64(v) ? undefined : 'must be padded base64'));
const RESPONSE_BODY_CHARS = Math.ceil(MAX_RESPONSE_BODY_BYTES / 3) * 4;
// The length is checked before the shape so an oversized body costs no scan.
const responseBody = checkedString((v) => {
  const tooLong = `must hold at most ${MAX_RESPONSE_BODY_BYTES} bytes`;
  if (v.length > RESPONSE_BODY_CHARS) return tooLong;
  if (!isBase64(v)) return 'must be padded base64';
  return base64ByteLength(v) > MAX_RESPONSE_BODY_BYTES ? tooLong : undefined;
});
const timestamp = checkedString((v) => (parseTimestamp(v) === undefined ? 'must be an ISO-8601 time with zone' : undefined));
const errorCode = required((v): ErrorCode | Invalid =>
  typeof v === 'string' && isErrorCode(v) ? v : new Invalid('must be a known RELAY_E_WS_ error code'),
);

const name = text(MAX_NAME_LENGTH);
const channel = checkedString(validateChannelName);
const consumer = checkedString(validateConsumerName);
const seq = integer(0);
const attempt = integer(1);
const count = integer(0);

// ---------------------------------------------------------------------------------------------
// Message schemas

type AnyMessage = ClientMessage | ServerMessage;

/**
 * One reader per field of `T`, required exactly where `T` requires the field, so the compiler
 * rejects a schema that forgets, adds or mis-marks a field of the message interface.
 */
type Fields<T> = {
  readonly [K in keyof T]-?: Field<Exclude<T[K], undefined>> & { readonly optional: undefined extends T[K] ? true : false };
};

interface Schema<T> {
  readonly fields: Fields<T>;
  /**
   * Checks the raw object before its fields; returns an error that replaces field validation.
   * Lets a hello or welcome of another protocol version, whose fields may differ, be reported as
   * a version mismatch rather than as an invalid field.
   */
  readonly precheck?: (raw: Readonly<Record<string, unknown>>) => ProtocolError | undefined;
  /** Cross-field rule checked after all fields; returns the detail when violated. */
  readonly refine?: (message: T) => string | undefined;
}

type Schemas = { readonly [M in AnyMessage as M['type']]: Schema<M> };

function versionCheck(peer: string): (raw: Readonly<Record<string, unknown>>) => ProtocolError | undefined {
  return (raw) => {
    const protocol = raw['protocol'];
    if (typeof protocol === 'number' && Number.isSafeInteger(protocol) && protocol >= 1 && protocol !== PROTOCOL_VERSION) {
      return new ProtocolError('RELAY_E_WS_PROTOCOL_VERSION', `${peer} speaks version ${protocol}, this side speaks ${PROTOCOL_VERSION}`);
    }
    return undefined;
  };
}

/** The handler's answer as an `ack` or `nack` reports it; each field optional and bounded. */
function answerFields() {
  return {
    responseHeaders: optional(responseHeaders),
    responseBody: optional(responseBody),
    responseBytes: optional(count),
    responseBodyTruncated: optional(boolean),
  } as const;
}

const ping: Schema<{ type: 'ping'; ts: number }> = { fields: { type: literal('ping'), ts: finiteNumber } };
const pong: Schema<{ type: 'pong'; ts: number }> = { fields: { type: literal('pong'), ts: finiteNumber } };

const SCHEMAS: Schemas = {
  hello: {
    fields: { type: literal('hello'), protocol: integer(1), token: optional(token), agent: text(256) },
    precheck: versionCheck('the client'),
  },
  subscribe: {
    fields: {
      type: literal('subscribe'),
      ref: name,
      channel,
      consumer,
      events: optional(eventPatterns),
      since: optional(text(64)),
      window: optional(integer(1, MAX_WINDOW)),
      ordered: optional(boolean),
      maxAttempts: optional(integer(1, 1000)),
    },
  },
  ack: {
    fields: { type: literal('ack'), sub: name, seq, attempt, status: integer(200, 299), latencyMs: nonNegativeNumber, ...answerFields() },
  },
  nack: {
    fields: {
      type: literal('nack'),
      sub: name,
      seq,
      attempt,
      status: optional(integer(100, 599)),
      error: optional(text(MAX_NACK_ERROR_LENGTH)),
      latencyMs: nonNegativeNumber,
      ...answerFields(),
    },
    refine: (m) => (m.status === undefined && m.error === undefined ? 'nack needs status, error or both' : undefined),
  },
  unsubscribe: { fields: { type: literal('unsubscribe'), sub: name } },
  ping,
  pong,
  welcome: {
    fields: {
      type: literal('welcome'),
      protocol: integer(1),
      session: name,
      server: name,
      heartbeatMs: integer(1),
      maxMessageBytes: integer(1),
      retryInitialMs: optional(integer(1)),
      retryMaxMs: optional(integer(1)),
    },
    precheck: versionCheck('the server'),
  },
  subscribed: {
    fields: { type: literal('subscribed'), ref: name, sub: name, channel, consumer, created: boolean, pending: count },
  },
  event: {
    fields: {
      type: literal('event'),
      sub: name,
      channel,
      consumer,
      seq,
      id: name,
      eventType: name,
      attempt,
      receivedAt: timestamp,
      headers,
      body,
      synthetic: boolean,
      replay: boolean,
    },
  },
  backlog: {
    fields: { type: literal('backlog'), sub: name, delivered: count, total: count },
  },
  error: {
    fields: {
      type: literal('error'),
      code: errorCode,
      message: text(4000),
      ref: optional(name),
      sub: optional(name),
      fatal: boolean,
    },
  },
};

/** {@link SCHEMAS} seen from the decode and encode loops, which work on untyped records. */
interface ErasedSchema {
  readonly fields: Readonly<Record<string, Field<unknown>>>;
  readonly precheck?: (raw: Readonly<Record<string, unknown>>) => ProtocolError | undefined;
  readonly refine?: (message: Readonly<Record<string, unknown>>) => string | undefined;
}
// Sound because the loops only ever hand a schema the record it built from that same schema.
const ERASED_SCHEMAS = SCHEMAS as unknown as Readonly<Record<string, ErasedSchema>>;
/** Each schema's fields as [key, field] pairs, listed once instead of on every decode and encode. */
const FIELD_LISTS: ReadonlyMap<string, readonly (readonly [string, Field<unknown>])[]> = new Map(
  Object.entries(ERASED_SCHEMAS).map(([type, schema]) => [type, Object.entries(schema.fields)]),
);

// Records (not arrays) so the compiler insists every type of each direction is listed.
const CLIENT_TYPES: Readonly<Record<ClientMessageType, true>> = {
  hello: true,
  subscribe: true,
  ack: true,
  nack: true,
  unsubscribe: true,
  ping: true,
  pong: true,
};
const SERVER_TYPES: Readonly<Record<ServerMessageType, true>> = {
  welcome: true,
  subscribed: true,
  event: true,
  backlog: true,
  error: true,
  ping: true,
  pong: true,
};

// ---------------------------------------------------------------------------------------------
// Decoding

// fatal: invalid UTF-8 is an error, not U+FFFD; ignoreBOM: a BOM stays and then fails JSON.parse.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Decodes and validates a message from a relay-client. Never throws on bad input.
 *
 * Fails with `RELAY_E_WS_MESSAGE_TOO_LARGE` above `maxBytes` UTF-8 bytes, `RELAY_E_WS_MALFORMED`
 * for invalid UTF-8, non-JSON or JSON that is not an object, `RELAY_E_WS_UNKNOWN_TYPE` for a type
 * that is not a {@link ClientMessage}, `RELAY_E_WS_PROTOCOL_VERSION` for a hello of another
 * version and `RELAY_E_WS_INVALID_MESSAGE` (naming the field) for a missing or invalid field.
 * Unknown extra fields are ignored and not copied into the result.
 *
 * @param input - the message as received; binary data must be UTF-8 JSON.
 * @param options - see {@link DecodeOptions}; `maxBytes` defaults to {@link MAX_MESSAGE_BYTES}.
 * @throws RangeError only when `options.maxBytes` is not a positive integer (a programming error).
 */
export function decodeClientMessage(input: WireData, options?: DecodeOptions): DecodeResult<ClientMessage> {
  return decode(input, options, CLIENT_TYPES) as DecodeResult<ClientMessage>;
}

/**
 * Decodes and validates a message from a relay-server. Never throws on bad input; fails exactly
 * like {@link decodeClientMessage}, with {@link ServerMessage} as the allowed types and a welcome
 * of another version reported as `RELAY_E_WS_PROTOCOL_VERSION`.
 *
 * @param input - the message as received; binary data must be UTF-8 JSON.
 * @param options - see {@link DecodeOptions}; `maxBytes` defaults to {@link MAX_MESSAGE_BYTES}.
 * @throws RangeError only when `options.maxBytes` is not a positive integer (a programming error).
 */
export function decodeServerMessage(input: WireData, options?: DecodeOptions): DecodeResult<ServerMessage> {
  return decode(input, options, SERVER_TYPES) as DecodeResult<ServerMessage>;
}

function fail(code: ErrorCode, detail: string): { ok: false; error: ProtocolError } {
  return { ok: false, error: new ProtocolError(code, detail) };
}

function decode(
  input: WireData,
  options: DecodeOptions | undefined,
  allowed: Readonly<Record<string, true>>,
): DecodeResult<AnyMessage> {
  const maxBytes = options?.maxBytes ?? MAX_MESSAGE_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 1) throw new RangeError(`maxBytes must be a positive integer, got ${maxBytes}`);

  const textOrError = toText(input, maxBytes);
  if (typeof textOrError !== 'string') return { ok: false, error: textOrError };

  let parsed: unknown;
  try {
    parsed = JSON.parse(textOrError);
  } catch {
    return fail('RELAY_E_WS_MALFORMED', 'the message is not valid JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    return fail('RELAY_E_WS_MALFORMED', `the message is JSON ${Array.isArray(parsed) ? 'array' : parsed === null ? 'null' : typeof parsed}, not an object`);
  }
  const raw = parsed as Readonly<Record<string, unknown>>;
  const type = Object.hasOwn(raw, 'type') ? raw['type'] : undefined;
  if (type === undefined) return fail('RELAY_E_WS_INVALID_MESSAGE', 'type is missing');
  if (typeof type !== 'string') return fail('RELAY_E_WS_INVALID_MESSAGE', 'type must be a string');
  if (!Object.hasOwn(allowed, type)) {
    return fail('RELAY_E_WS_UNKNOWN_TYPE', `type ${JSON.stringify(type.slice(0, 64))} is not allowed in this direction`);
  }
  const schema = ERASED_SCHEMAS[type];
  const fields = FIELD_LISTS.get(type);
  if (schema === undefined || fields === undefined) return fail('RELAY_E_WS_UNKNOWN_TYPE', `type ${JSON.stringify(type)} has no schema`);

  const early = schema.precheck?.(raw);
  if (early !== undefined) return { ok: false, error: early };

  const message: Record<string, unknown> = {};
  for (const [key, field] of fields) {
    const value = Object.hasOwn(raw, key) ? raw[key] : undefined;
    if (value === undefined) {
      if (field.optional) continue;
      return fail('RELAY_E_WS_INVALID_MESSAGE', `${type}.${key} is missing`);
    }
    const read = field.read(value);
    if (read instanceof Invalid) return fail('RELAY_E_WS_INVALID_MESSAGE', `${type}.${key}${read.path} ${read.reason}`);
    message[key] = read;
  }
  const problem = schema.refine?.(message);
  if (problem !== undefined) return fail('RELAY_E_WS_INVALID_MESSAGE', problem);
  // Every field of the member named by `type` was read through its schema above.
  return { ok: true, message: message as unknown as AnyMessage };
}

function toText(input: unknown, maxBytes: number): string | ProtocolError {
  if (typeof input === 'string') {
    // Every UTF-16 unit takes 1 to 3 bytes, which settles most messages without counting.
    if (input.length > maxBytes) return tooLarge(input.length, maxBytes, true);
    if (input.length * 3 <= maxBytes) return input;
    const bytes = utf8ByteLength(input, maxBytes);
    return bytes > maxBytes ? tooLarge(bytes, maxBytes, true) : input;
  }
  let bytes: Uint8Array;
  if (ArrayBuffer.isView(input)) bytes = new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  else if (input instanceof ArrayBuffer) bytes = new Uint8Array(input);
  else return new ProtocolError('RELAY_E_WS_MALFORMED', 'the message is neither text nor binary data');
  if (bytes.byteLength > maxBytes) return tooLarge(bytes.byteLength, maxBytes, false);
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    return new ProtocolError('RELAY_E_WS_MALFORMED', 'the message is not valid UTF-8');
  }
}

function tooLarge(bytes: number, maxBytes: number, lowerBound: boolean): ProtocolError {
  return new ProtocolError('RELAY_E_WS_MESSAGE_TOO_LARGE', `${lowerBound ? 'at least ' : ''}${bytes} bytes, limit ${maxBytes}`);
}

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * Serialises a message to the JSON text sent on the WebSocket. Only the fields of the message's
 * type are written, in a fixed order, so stray properties of the object (a spread database row,
 * say) never leak onto the wire. Fields are not validated: the argument is typed, trusted data.
 *
 * @throws TypeError when `message.type` is not a protocol message type (only reachable by
 *   bypassing the types).
 */
export function encodeMessage(message: ClientMessage | ServerMessage): string {
  const fields = FIELD_LISTS.get(message.type);
  if (fields === undefined) throw new TypeError(`Cannot encode unknown message type ${JSON.stringify(message.type)}`);
  const source = message as unknown as Readonly<Record<string, unknown>>;
  const out: Record<string, unknown> = {};
  for (const [key] of fields) {
    const value = source[key];
    if (value !== undefined) out[key] = value;
  }
  return JSON.stringify(out);
}

/**
 * {@link encodeMessage} for an event whose header pairs are at hand as JSON text, the form a
 * store keeps them in: the text goes onto the wire as it is, instead of being parsed and
 * serialised again for every delivery. The output equals `encodeMessage` of the same event.
 * `headersJson` must be the JSON of `[name, value]` string pairs; it is trusted, like the rest.
 */
export function encodeEventMessage(message: Omit<EventMessage, 'headers'>, headersJson: string): string {
  const q = JSON.stringify;
  return (
    `{"type":"event","sub":${q(message.sub)},"channel":${q(message.channel)},"consumer":${q(message.consumer)}` +
    `,"seq":${q(message.seq)},"id":${q(message.id)},"eventType":${q(message.eventType)},"attempt":${q(message.attempt)}` +
    `,"receivedAt":${q(message.receivedAt)},"headers":${headersJson},"body":${q(message.body)}` +
    `,"synthetic":${q(message.synthetic)},"replay":${q(message.replay)}}`
  );
}
