/** The {@link SocketFactory} for Node.js, built on the `ws` package. */
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import type WebSocketClass from 'ws';
import type { SocketFactory, SocketFailure, SocketHandlers, WebSocketLike } from '../socket.js';

// `ws` is a CommonJS package. Loaded with `require` rather than through its ES module wrapper it
// leaves relay-client ~5 MB smaller in memory for its whole run (see section 4 in
// docs/benchmarks.md).
const WebSocket = createRequire(import.meta.url)('ws') as typeof WebSocketClass;
type WebSocket = WebSocketClass;

// ws reports a missing or foreign subprotocol only through these error texts.
const SUBPROTOCOL_ERROR = /^Server sent (?:no subprotocol|an invalid subprotocol|a subprotocol but none was requested)/;

class NodeSocket implements WebSocketLike {
  readonly #ws: WebSocket;
  /** Set once a failure was reported, so the error ws emits while aborting is not reported too. */
  #failed = false;
  /** The connection under the WebSocket, once upgraded; corked while a turn's messages are written. */
  #wire: Duplex | undefined;
  #corked = false;

  constructor(ws: WebSocket) {
    this.#ws = ws;
  }

  get protocol(): string {
    return this.#ws.protocol;
  }

  listen(handlers: SocketHandlers): void {
    const ws = this.#ws;
    const fail = (failure: SocketFailure): void => {
      if (this.#failed) return;
      this.#failed = true;
      handlers.error(failure);
    };
    ws.on('upgrade', (response) => {
      this.#wire = response.socket;
    });
    ws.on('open', () => handlers.open());
    ws.on('message', (data: WebSocketClass.RawData, isBinary: boolean) => {
      // Text arrives as a Buffer too; the protocol decoder takes bytes either way.
      if (Array.isArray(data)) handlers.message(new Uint8Array(Buffer.concat(data)));
      else if (data instanceof ArrayBuffer) handlers.message(data);
      else handlers.message(isBinary ? new Uint8Array(data) : data.toString('utf8'));
    });
    ws.on('unexpected-response', (_request, response) => {
      fail({ kind: 'http-status', status: response.statusCode ?? 0 });
      response.resume();
      ws.terminate();
    });
    ws.on('error', (error: Error & { code?: unknown }) => {
      if (SUBPROTOCOL_ERROR.test(error.message)) fail({ kind: 'subprotocol', message: error.message });
      else fail({ kind: 'network', code: typeof error.code === 'string' ? error.code : undefined, message: error.message });
    });
    ws.on('close', (code: number, reason: Buffer) => handlers.close(code, reason.toString('utf8')));
  }

  send(data: string): void {
    const wire = this.#wire;
    if (wire !== undefined && !this.#corked) {
      // Answers to handler responses read in the same event-loop turn leave in one write to the
      // kernel: the cork lasts until the turn's I/O callbacks have run.
      this.#corked = true;
      wire.cork();
      setImmediate(() => this.#uncork());
    }
    this.#ws.send(data);
  }

  /** Writes what this turn's messages left in the connection's buffer. */
  #uncork(): void {
    if (!this.#corked) return;
    this.#corked = false;
    this.#wire?.uncork();
  }

  close(code: number, reason: string): void {
    this.#uncork();
    this.#ws.close(code, reason);
  }

  terminate(): void {
    this.#uncork();
    this.#ws.terminate();
  }
}

/**
 * Opens a WebSocket with `ws`. Redirects are not followed: a relay URL that redirects is a
 * misconfiguration to report, and following it would send the token to another origin.
 */
export const createNodeSocket: SocketFactory = (url, options) =>
  new NodeSocket(new WebSocket(url, options.protocols, { headers: options.headers, followRedirects: false }));
