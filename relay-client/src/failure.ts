/**
 * Why a connection to the relay ended, told apart by cause: each cause has its own kind and its
 * own message, and says whether reconnecting can help.
 */
import { errorCodeForCloseCode, PROTOCOL_ERRORS, type ErrorCode, type ProtocolError } from '@myop-relay/protocol';
import { ClientError, type ClientErrorCode } from './errors.js';
import type { SocketFailure } from './socket.js';
import { formatDuration } from './units.js';

/** The cause of a {@link ConnectionFailure}. */
export type ConnectionFailureKind =
  /** The relay refused the token (HTTP 401/403 at the upgrade, or close 4100/4101). Fatal. */
  | 'token-rejected'
  /** Client and relay speak different protocol versions. Fatal. */
  | 'protocol-version'
  /** One side broke the protocol, or the URL is not a relay-server. Fatal. */
  | 'protocol-error'
  /** The URL answered the upgrade with a 4xx status that is not about the token. Fatal. */
  | 'relay-refused'
  /** TLS handshake or certificate failure. Fatal before the first successful connection, retried after. */
  | 'tls'
  /** DNS, TCP or connect timeout: the relay cannot be reached. Retried. */
  | 'unreachable'
  /** The relay (or a proxy in front of it) answered 5xx, 408 or 429. Retried. */
  | 'unavailable'
  /** The relay is stopping or restarting. Retried. */
  | 'server-shutdown'
  /** Nothing arrived for two heartbeat intervals, here or on the relay's side. Retried. */
  | 'heartbeat-timeout'
  /** The relay closed the connection because of a transient server-side condition. Retried. */
  | 'server-error'
  /** The connection closed for another reason (network drop, code 1006, ...). Retried. */
  | 'closed';

/** Why a connection ended. */
export interface ConnectionFailure {
  kind: ConnectionFailureKind;
  /** Whether reconnecting cannot help until the user changes something. */
  fatal: boolean;
  /** One line for the user; names the relay URL, never the token. */
  message: string;
  /** System, TLS or protocol error code when one is known: `ECONNREFUSED`, `CERT_HAS_EXPIRED`, `RELAY_E_WS_TOKEN_INVALID`. */
  code?: string;
  /** WebSocket close code, when the connection got as far as a close frame. */
  closeCode?: number;
  /** HTTP status of a refused upgrade. */
  status?: number;
}

/** A reason the client itself decided to end a connection. */
export type LocalReason =
  | { kind: 'connect-timeout'; ms: number }
  | { kind: 'heartbeat-timeout'; ms: number }
  /** The relay sent something the client cannot accept before the session was established. */
  | { kind: 'protocol'; error: ProtocolError };

/** Everything known about a connection when it ended. */
export interface ConnectionFacts {
  /** The WebSocket URL. */
  url: string;
  /** Whether any earlier connection of this run reached `welcome`. */
  everConnected: boolean;
  local?: LocalReason;
  socket?: SocketFailure;
  /** Code of the fatal `error` message the relay sent before closing, if it arrived. */
  serverError?: ErrorCode;
  closeCode?: number;
}

const TLS_CODE = /^(?:ERR_TLS_|ERR_SSL_)|CERT|SELF_SIGNED|UNABLE_TO_|HOSTNAME_MISMATCH/;

/** Whether a connection error is about TLS (certificate, handshake) rather than reaching the host. */
export function isTlsFailure(code: string | undefined, message: string): boolean {
  if (code !== undefined && TLS_CODE.test(code)) return true;
  // A wss:// URL pointing at a plain-HTTP port fails with EPROTO and an OpenSSL text.
  return code === 'EPROTO' || /\b(?:SSL|TLS)\b/i.test(message);
}

const NETWORK_HINTS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused: is the relay running?',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'name lookup failed for now',
  ETIMEDOUT: 'connect timed out',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

/**
 * A system error code with what it means for reaching the relay, e.g.
 * `ECONNREFUSED, connection refused: is the relay running?`; the message when there is no code.
 */
export function describeNetworkError(code: string | undefined, message: string): string {
  if (code === undefined) return message;
  const hint = NETWORK_HINTS[code];
  return hint === undefined ? code : `${code}, ${hint}`;
}

function fromErrorCode(code: ErrorCode, facts: ConnectionFacts, closeCode: number | undefined): ConnectionFailure {
  const base = { code, ...(closeCode === undefined ? {} : { closeCode }) };
  switch (code) {
    case 'RELAY_E_WS_AUTH_REQUIRED':
    case 'RELAY_E_WS_TOKEN_INVALID':
      return { kind: 'token-rejected', fatal: true, message: `the relay at ${facts.url} refused the token (${code})`, ...base };
    case 'RELAY_E_WS_PROTOCOL_VERSION':
      return { kind: 'protocol-version', fatal: true, message: `the relay at ${facts.url} speaks another protocol version (${code})`, ...base };
    case 'RELAY_E_WS_SERVER_SHUTDOWN':
      return { kind: 'server-shutdown', fatal: false, message: 'the relay is shutting down or restarting', ...base };
    case 'RELAY_E_WS_SLOW_CONSUMER':
      return { kind: 'server-error', fatal: false, message: `the relay closed the connection: what it sent was not read in time (${code})`, ...base };
    case 'RELAY_E_WS_HEARTBEAT_TIMEOUT':
      return { kind: 'heartbeat-timeout', fatal: false, message: 'the relay heard nothing from this client for two heartbeat intervals', ...base };
    default: {
      const spec = PROTOCOL_ERRORS[code];
      return spec.reconnect
        ? { kind: 'server-error', fatal: false, message: `the relay closed the connection (${code})`, ...base }
        : { kind: 'protocol-error', fatal: true, message: `the relay closed the connection because of a protocol error (${code})`, ...base };
    }
  }
}

/** Classifies the end of a connection; see {@link ConnectionFailureKind} for the causes. */
export function classifyFailure(facts: ConnectionFacts): ConnectionFailure {
  const { url, local, socket, closeCode } = facts;
  if (local?.kind === 'connect-timeout') {
    return { kind: 'unreachable', fatal: false, message: `relay unreachable at ${url} (no answer within ${formatDuration(local.ms)})`, code: 'ETIMEDOUT' };
  }
  if (local?.kind === 'heartbeat-timeout') {
    return {
      kind: 'heartbeat-timeout',
      fatal: false,
      message: `nothing received from the relay for ${formatDuration(local.ms)}; connection presumed dead`,
      code: 'RELAY_E_WS_HEARTBEAT_TIMEOUT',
    };
  }
  if (local?.kind === 'protocol') {
    const error = local.error;
    return error.code === 'RELAY_E_WS_PROTOCOL_VERSION'
      ? { kind: 'protocol-version', fatal: true, message: `the relay at ${url} speaks another protocol version (${error.detail ?? error.code})`, code: error.code }
      : { kind: 'protocol-error', fatal: true, message: `the relay at ${url} sent an invalid handshake (${error.code}${error.detail === undefined ? '' : `: ${error.detail}`})`, code: error.code };
  }
  if (socket?.kind === 'http-status') {
    const status = socket.status;
    if (status === 401 || status === 403) {
      return { kind: 'token-rejected', fatal: true, message: `the relay at ${url} refused the token (HTTP ${status})`, status };
    }
    if (status === 408 || status === 429 || status >= 500) {
      return { kind: 'unavailable', fatal: false, message: `the relay at ${url} is unavailable (HTTP ${status})`, status };
    }
    return { kind: 'relay-refused', fatal: true, message: `${url} refused the WebSocket upgrade (HTTP ${status}); is --relay the relay-server's URL?`, status };
  }
  if (socket?.kind === 'subprotocol') {
    return { kind: 'protocol-version', fatal: true, message: `the relay at ${url} does not speak myop-relay.v1 (${socket.message})` };
  }
  const protocolCode = (closeCode === undefined ? undefined : errorCodeForCloseCode(closeCode)) ?? facts.serverError;
  if (protocolCode !== undefined) return fromErrorCode(protocolCode, facts, closeCode);
  if (socket?.kind === 'network') {
    const { code, message } = socket;
    if (isTlsFailure(code, message)) {
      return {
        kind: 'tls',
        fatal: !facts.everConnected,
        message: `TLS failure connecting to ${url}: ${code ?? message}`,
        ...(code === undefined ? {} : { code }),
      };
    }
    return { kind: 'unreachable', fatal: false, message: `relay unreachable at ${url} (${describeNetworkError(code, message)})`, ...(code === undefined ? {} : { code }) };
  }
  // 1001 going away and 1012 service restart are what proxies and servers send when they stop.
  if (closeCode === 1001 || closeCode === 1012) {
    return { kind: 'server-shutdown', fatal: false, message: 'the relay is shutting down or restarting', closeCode };
  }
  return {
    kind: 'closed',
    fatal: false,
    message: `connection to ${url} closed${closeCode === undefined ? '' : ` (code ${closeCode})`}`,
    ...(closeCode === undefined ? {} : { closeCode }),
  };
}

const FATAL_CODES: Readonly<Partial<Record<ConnectionFailureKind, ClientErrorCode>>> = {
  'token-rejected': 'RELAY_E_CLIENT_TOKEN_REJECTED',
  'protocol-version': 'RELAY_E_CLIENT_PROTOCOL_VERSION',
  'protocol-error': 'RELAY_E_CLIENT_PROTOCOL_ERROR',
  'relay-refused': 'RELAY_E_CLIENT_RELAY_REFUSED',
  tls: 'RELAY_E_CLIENT_TLS',
};

/** The error `listen` stops with after a fatal failure. */
export function failureError(failure: ConnectionFailure): ClientError {
  return new ClientError(FATAL_CODES[failure.kind] ?? 'RELAY_E_CLIENT_PROTOCOL_ERROR', failure.message);
}
