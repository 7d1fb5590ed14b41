/**
 * The WebSocket protocol's error catalogue: every error a relay-client or relay-server can report
 * on the `/ws` connection, with a stable code, the WebSocket close code it ends the connection
 * with (or `null` when the connection stays open) and a message that says what to do.
 *
 * `docs/protocol.md` lists the same codes in one table; a test keeps the two in step.
 */
import { HELLO_TIMEOUT_MS, MAX_MESSAGE_BYTES, type ErrorMessage } from './messages.js';

/** One entry of {@link PROTOCOL_ERRORS}. */
export interface ProtocolErrorSpec {
  /**
   * WebSocket close code (private range 4000-4999) the connection is closed with after the
   * `error` message, or `null` when the error only answers one request and the connection stays
   * open. Every closing cause has its own code, so a peer that missed the `error` message (it can
   * be lost when the socket closes) still learns the cause from the close frame.
   */
  readonly closeCode: number | null;
  /**
   * For closing errors: whether the client should reconnect (with its usual backoff) because the
   * cause is transient. `false` means reconnecting cannot help until the user changes something
   * (token, version, configuration). Always `false` for errors that do not close.
   */
  readonly reconnect: boolean;
  /** What went wrong and what the user should do about it. */
  readonly message: string;
}

/*
 * Close codes are grouped so a glance at a close frame tells the kind of cause:
 * 40xx the peer broke the protocol (a bug or a version mismatch; reconnecting repeats it),
 * 41xx authentication (the user must fix the token),
 * 42xx transient conditions (reconnect with backoff).
 */

/**
 * Every protocol error by stable code. The `satisfies` clause keeps the literal keys, so
 * {@link ErrorCode} is the exact union of codes.
 */
export const PROTOCOL_ERRORS = {
  RELAY_E_WS_MALFORMED: {
    closeCode: 4000,
    reconnect: false,
    message:
      'The peer sent a WebSocket message that is not a JSON object in UTF-8. Only the myop-relay.v1 JSON messages may be sent on /ws; check that the other side is a relay-client or relay-server.',
  },
  RELAY_E_WS_INVALID_MESSAGE: {
    closeCode: 4001,
    reconnect: false,
    message:
      'The peer sent a message with a missing or invalid field (named in the detail). Use the same release of relay-client and relay-server.',
  },
  RELAY_E_WS_UNKNOWN_TYPE: {
    closeCode: 4002,
    reconnect: false,
    message:
      'The peer sent a message type this side does not know in this direction. Use the same release of relay-client and relay-server.',
  },
  RELAY_E_WS_MESSAGE_TOO_LARGE: {
    closeCode: 4003,
    reconnect: false,
    message:
      `The peer sent a message larger than the agreed maximum (welcome.maxMessageBytes, default ${MAX_MESSAGE_BYTES / 1024 / 1024} MiB). An event fits when its channel's body limit (--max-body) is at most 1 MiB.`,
  },
  RELAY_E_WS_HELLO_REQUIRED: {
    closeCode: 4004,
    reconnect: false,
    message:
      'The first message on a connection must be hello. Use a relay-client that speaks myop-relay.v1.',
  },
  RELAY_E_WS_UNEXPECTED_HELLO: {
    closeCode: 4005,
    reconnect: false,
    message:
      'hello was sent a second time on the same connection. Send hello once, right after connecting.',
  },
  RELAY_E_WS_PROTOCOL_VERSION: {
    closeCode: 4006,
    reconnect: false,
    message:
      'The relay-client and the relay-server speak different protocol versions (see the detail). Install the relay-client release that matches the server; welcome.server names the server\'s version.',
  },
  RELAY_E_WS_AUTH_REQUIRED: {
    closeCode: 4100,
    reconnect: false,
    message:
      'No token was sent. Pass one with --token or RELAY_TOKEN; create it on the server with `relay-server token create --name <you>`.',
  },
  RELAY_E_WS_TOKEN_INVALID: {
    closeCode: 4101,
    reconnect: false,
    message:
      'The token is unknown, expired or revoked. Create a new one with `relay-server token create --name <you>`.',
  },
  RELAY_E_WS_HELLO_TIMEOUT: {
    closeCode: 4200,
    reconnect: true,
    message:
      `No hello arrived within ${HELLO_TIMEOUT_MS / 1000} seconds of connecting, so the server closed the connection. The client reconnects; if this repeats, check the network path to the relay.`,
  },
  RELAY_E_WS_HEARTBEAT_TIMEOUT: {
    closeCode: 4201,
    reconnect: true,
    message:
      'Nothing arrived from the peer for two heartbeat intervals, so the connection was presumed dead. The client reconnects; unacknowledged events are delivered again.',
  },
  RELAY_E_WS_SERVER_SHUTDOWN: {
    closeCode: 4202,
    reconnect: true,
    message:
      'The relay-server is shutting down or restarting. The client reconnects with backoff; unacknowledged events are delivered again.',
  },
  RELAY_E_WS_INTERNAL: {
    closeCode: 4203,
    reconnect: true,
    message:
      'The relay-server hit an unexpected error and closed the connection. The client reconnects; if this repeats, check the relay-server log.',
  },
  RELAY_E_WS_SLOW_CONSUMER: {
    closeCode: 4204,
    reconnect: true,
    message:
      'The client did not read what the relay sent: the bytes waiting to be sent on this connection stayed at the relay\'s bound (relay-server --max-send-buffer), or no ping was answered after a lease ran out, for longer than relay-server --send-stall-timeout, so the connection was closed. The client reconnects; unacknowledged events are delivered again. If this repeats, check the network path or subscribe with a smaller window.',
  },
  RELAY_E_WS_CHANNEL_FORBIDDEN: {
    closeCode: null,
    reconnect: false,
    message:
      'This token may not read the requested channel. Use a token that includes it: `relay-server token update <you> --channels <name>` changes an existing one, `relay-server token create --name <you> --channels <name>` makes a new one.',
  },
  RELAY_E_WS_UNKNOWN_CHANNEL: {
    closeCode: null,
    reconnect: false,
    message:
      'No channel with this name exists on the relay. Check the spelling or create it with `relay-server channel add <name>`.',
  },
  RELAY_E_WS_BAD_SINCE: {
    closeCode: null,
    reconnect: false,
    message:
      'subscribe.since is not understood. Use "now", a duration like 30s, 15m, 2h, 1d or 1h30m, a sequence number like 42, or an ISO-8601 time with zone like 2024-05-01T10:00:00+05:30.',
  },
  RELAY_E_WS_TOO_MANY_SUBSCRIPTIONS: {
    closeCode: null,
    reconnect: false,
    message:
      'This connection already holds as many subscriptions as the relay allows (relay-server --max-subscriptions, 32 by default); unsubscribed ones count until their events are answered. Subscribe to fewer channels on one connection.',
  },
  RELAY_E_WS_CONSUMER_LIMIT: {
    closeCode: null,
    reconnect: false,
    message:
      'This token has created as many consumers on this channel as the relay allows (relay-server --max-consumers-per-token, 100 by default). Reuse an existing consumer name (relay-client --consumer; `relay-client status` lists them), or delete unused ones with DELETE /api/consumers/<channel>/<name>.',
  },
  RELAY_E_WS_UNKNOWN_SUBSCRIPTION: {
    closeCode: null,
    reconnect: false,
    message:
      'The subscription id is not active on this connection (never subscribed, or unsubscribed). Use the sub from the subscribed reply of this connection.',
  },
  RELAY_E_WS_NOT_IN_FLIGHT: {
    closeCode: null,
    reconnect: false,
    message:
      'The ack or nack names an event that is not awaiting an answer on this subscription (already answered or never delivered here). The answer was ignored.',
  },
} as const satisfies Record<string, ProtocolErrorSpec>;

/** A stable protocol error code, such as `RELAY_E_WS_TOKEN_INVALID`. */
export type ErrorCode = keyof typeof PROTOCOL_ERRORS;

/** Whether `value` is one of the codes in {@link PROTOCOL_ERRORS}. */
export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(PROTOCOL_ERRORS, value);
}

/** The catalogue entry for `code`, typed as the general shape rather than its literal. */
export function errorSpec(code: ErrorCode): ProtocolErrorSpec {
  return PROTOCOL_ERRORS[code];
}

/**
 * The error code a WebSocket close code stands for, or `undefined` for codes outside the
 * catalogue (1000, 1001, 1006, ...). Lets a client explain a close whose `error` message it never
 * received.
 */
export function errorCodeForCloseCode(closeCode: number): ErrorCode | undefined {
  for (const code of Object.keys(PROTOCOL_ERRORS)) {
    if (isErrorCode(code) && PROTOCOL_ERRORS[code].closeCode === closeCode) return code;
  }
  return undefined;
}

/**
 * A protocol error: returned (not thrown) by the decoders, and usable as a thrown error by code
 * that handles the connection.
 */
export class ProtocolError extends Error {
  /** Stable code from {@link PROTOCOL_ERRORS}. */
  readonly code: ErrorCode;
  /** Close code from the catalogue; `null` when the error does not close the connection. */
  readonly closeCode: number | null;
  /**
   * The specific cause, such as `subscribe.window must be an integer from 1 to 1024`. Never echoes
   * more than a short, escaped excerpt of the offending input.
   */
  readonly detail: string | undefined;

  /**
   * @param code - catalogue code.
   * @param detail - the specific cause; appended to the catalogue message in parentheses.
   */
  constructor(code: ErrorCode, detail?: string) {
    const spec = errorSpec(code);
    super(detail === undefined ? spec.message : `${spec.message} (${detail})`);
    this.name = 'ProtocolError';
    this.code = code;
    this.closeCode = spec.closeCode;
    this.detail = detail;
  }

  /** Whether the connection must be closed with {@link ProtocolError.closeCode}. */
  get fatal(): boolean {
    return this.closeCode !== null;
  }
}

/** Options of {@link createErrorMessage}. */
export interface ErrorMessageOptions {
  /** The specific cause, appended to the catalogue message. Ignored when a ProtocolError is given. */
  detail?: string;
  /** The `ref` of the subscribe being refused. */
  ref?: string;
  /** The subscription concerned. */
  sub?: string;
}

/**
 * Builds the `error` message the server sends for `cause`. `fatal` follows the catalogue: true
 * exactly when the error has a close code, in which case the server closes the connection with
 * that code right after sending the message.
 *
 * @param cause - a catalogue code, or a {@link ProtocolError} (e.g. from a decoder) whose
 *   message and detail are reused.
 */
export function createErrorMessage(cause: ErrorCode | ProtocolError, options: ErrorMessageOptions = {}): ErrorMessage {
  const error = typeof cause === 'string' ? new ProtocolError(cause, options.detail) : cause;
  const message: ErrorMessage = { type: 'error', code: error.code, message: error.message, fatal: error.fatal };
  if (options.ref !== undefined) message.ref = options.ref;
  if (options.sub !== undefined) message.sub = options.sub;
  return message;
}
