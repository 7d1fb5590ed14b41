/**
 * `@myop-relay/protocol`: the myop-relay.v1 WebSocket protocol shared by relay-server and
 * relay-client. Runtime-neutral (Node 20, Deno 2, browsers): no `node:` imports, no Node globals.
 * The specification is `docs/protocol.md`.
 *
 * @packageDocumentation
 */
export {
  PROTOCOL_NAME,
  PROTOCOL_VERSION,
  WS_PATH,
  MAX_MESSAGE_BYTES,
  HEARTBEAT_INTERVAL_MS,
  HEARTBEAT_TIMEOUT_INTERVALS,
  HELLO_TIMEOUT_MS,
  DEFAULT_WINDOW,
  MAX_WINDOW,
  MAX_NAME_LENGTH,
  MAX_CHANNEL_NAME_LENGTH,
  MAX_HEADERS,
  MAX_EVENT_PATTERNS,
  MAX_NACK_ERROR_LENGTH,
  MAX_RESPONSE_BODY_BYTES,
  MAX_RESPONSE_HEADER_CHARS,
  MAX_RESPONSE_HEADERS,
  RETRY_INITIAL_DELAY_MS,
  RETRY_MAX_DELAY_MS,
  retryDelayMs,
  DEFAULT_RETRY_SCHEDULE,
  type RetrySchedule,
  validateChannelName,
  validateConsumerName,
  type HelloMessage,
  type SubscribeMessage,
  type AckMessage,
  type NackMessage,
  type UnsubscribeMessage,
  type PingMessage,
  type PongMessage,
  type ClientMessage,
  type ClientMessageType,
  type WelcomeMessage,
  type SubscribedMessage,
  type EventMessage,
  type BacklogMessage,
  type ErrorMessage,
  type ServerMessage,
  type ServerMessageType,
} from './messages.js';
export {
  decodeClientMessage,
  decodeServerMessage,
  encodeMessage,
  encodeEventMessage,
  type DecodeResult,
  type DecodeOptions,
  type WireData,
} from './codec.js';
export {
  PROTOCOL_ERRORS,
  ProtocolError,
  isErrorCode,
  errorSpec,
  errorCodeForCloseCode,
  createErrorMessage,
  type ErrorCode,
  type ProtocolErrorSpec,
  type ErrorMessageOptions,
} from './errors.js';
export { validateEventPattern, MAX_EVENT_PATTERN_LENGTH } from './glob.js';
export { parseSince, parseTimestamp, type Since, type SinceResult } from './since.js';
export * from './api.js';
export { formatDuration, parseDuration, readDuration, type DurationResult } from './units.js';
export { base64ByteLength, isBase64 } from './base64.js';
export { utf8ByteLength } from './utf8.js';
export { HOP_BY_HOP_HEADERS, headerValueProblem, isHttpToken, type HeaderPairs } from './headers.js';
