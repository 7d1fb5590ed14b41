/**
 * The WebSocket as the transport sees it: the little it needs, behind one interface so that the
 * transport can be driven by any implementation. There is one adapter, on the `ws` package
 * (`adapters/node-websocket.ts`); Deno runs it too, through its Node compatibility layer.
 */
import type { WireData } from '@myop-relay/protocol';

/** Why a socket failed before or instead of a normal close. */
export type SocketFailure =
  /** The server answered the upgrade request with an HTTP status other than 101. */
  | { kind: 'http-status'; status: number }
  /**
   * The connection could not be made or broke: DNS, TCP, TLS. `code` is the system or TLS error
   * code when the runtime exposes one (`ECONNREFUSED`, `CERT_HAS_EXPIRED`, ...).
   */
  | { kind: 'network'; code: string | undefined; message: string }
  /** The server selected no subprotocol, or one that was not offered: it speaks another version. */
  | { kind: 'subprotocol'; message: string };

/** Callbacks a {@link WebSocketLike} reports to. */
export interface SocketHandlers {
  /** The upgrade succeeded; {@link WebSocketLike.protocol} is set. */
  open(): void;
  /** One complete message. */
  message(data: WireData): void;
  /** A failure; `close` follows. */
  error(failure: SocketFailure): void;
  /** The socket is closed; called exactly once, also after a failed connect (code 1006 then). */
  close(code: number, reason: string): void;
}

/** A client WebSocket, reduced to what the transport uses. */
export interface WebSocketLike {
  /** Subprotocol the server selected; `''` before `open` or when none. */
  readonly protocol: string;
  /**
   * Attaches the handlers. Called once, synchronously right after the factory returns, which is
   * before any event can fire: WebSocket implementations connect asynchronously.
   */
  listen(handlers: SocketHandlers): void;
  /** Sends one text message; only called between `open` and `close`. */
  send(data: string): void;
  /** Starts the closing handshake (or aborts a pending connect). */
  close(code: number, reason: string): void;
  /** Drops the connection at once, without a closing handshake, for a peer presumed dead. */
  terminate(): void;
}

/** What {@link SocketFactory} gets besides the URL. */
export interface SocketOptions {
  /** Subprotocols to offer in `Sec-WebSocket-Protocol`. */
  protocols: string[];
  /**
   * Headers of the upgrade request (`Authorization`). Empty when the transport was told to send
   * the token in `hello` instead (`tokenInHello`), as runtimes without header support need.
   */
  headers: Record<string, string>;
}

/** Opens a client WebSocket to `url` (a `ws:` or `wss:` URL). */
export type SocketFactory = (url: string, options: SocketOptions) => WebSocketLike;
