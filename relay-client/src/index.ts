/**
 * `@myop-relay/client`: relay-client as a library. {@link listen} runs what `relay-client listen`
 * runs, so tests and tools can drive it in-process with their own renderer and WebSocket adapter.
 *
 * @packageDocumentation
 */
export { listen, type ListenDeps } from './listener.js';
export { resolveListenConfig, defaultConsumer, LISTEN_DEFAULTS, MAX_TIMEOUT_MS, type ListenOptions, type ListenConfig } from './config.js';
export { CLIENT_ERRORS, ClientError, type ClientErrorCode, type ClientErrorSpec } from './errors.js';
export {
  Transport,
  relayWebSocketUrl,
  type TransportOptions,
  type TransportHandlers,
  type TransportEnd,
  type Session,
  type SubscriptionRequest,
} from './transport.js';
export { classifyFailure, failureError, type ConnectionFailure, type ConnectionFailureKind, type ConnectionFacts, type LocalReason } from './failure.js';
export { Backoff, BACKOFF_DEFAULTS, type BackoffOptions } from './backoff.js';
export { Forwarder, parseForwardTarget, FORWARDER_DEFAULTS, type ForwarderOptions, type ForwardOutcome, type ForwardTarget, type ForwardTargetResult } from './forwarder.js';
export { buildForwardHeaders, signBody, HOP_BY_HOP_HEADERS, EVENT_ID_HEADER, DEFAULT_SIGNATURE_HEADER, type Resign } from './forward-headers.js';
export type { WebSocketLike, SocketFactory, SocketOptions, SocketHandlers, SocketFailure } from './socket.js';
export { createNodeSocket } from './adapters/node-websocket.js';
export { systemClock, type Clock, type TimerHandle } from './clock.js';
export { parseDuration, formatDuration, formatDelay } from './units.js';
export { CLIENT_VERSION, userAgent } from './version.js';
export * from './renderer/index.js';
export {
  RelayApi,
  RelayApiError,
  RelayUnreachableError,
  API_TIMEOUT_MS,
  type RelayApiOptions,
  type EventQuery,
  type ProbeResult,
} from './relay-api.js';
export { resolveRelayAccess, resolveRelayUrl, type RelayAccess } from './config.js';
export { runTrigger, runTriggerList, parseSetFlags, SAMPLE_SHAPES, type SampleShape, type TriggerOptions } from './workflow/trigger.js';
export { runEventsList, runEventsShow, type EventShowView } from './workflow/events.js';
export { runReplay, type ReplayOptions } from './workflow/replay.js';
export {
  checkStatus,
  runStatus,
  type StatusOptions,
  type StatusReport,
  type ChannelStatus,
  type ConsumerStatus,
  type ProbeStatus,
} from './workflow/status.js';
export { runTail, tailConsumerName, type TailOptions, type TailDeps, type TailSummary, type TailedEvent } from './workflow/tail.js';
export type { CommandOutput } from './workflow/output.js';
export { viewBody, type BodyView } from './format.js';
