/** The {@link SocketFactory} for Node.js, built on the `ws` package. */
import WebSocket from 'ws';
import type { SocketFactory, SocketFailure, SocketHandlers, WebSocketLike } from '../socket.js';

// ws reports a missing or foreign subprotocol only through these error texts.
const SUBPROTOCOL_ERROR = /^Server sent (?:no subprotocol|an invalid subprotocol|a subprotocol but none was requested)/;

class NodeSocket implements WebSocketLike {
  readonly #ws: WebSocket;
  /** Set once a failure was reported, so the error ws emits while aborting is not reported too. */
  #failed = false;

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
    ws.on('open', () => handlers.open());
    ws.on('message', (data: WebSocket.RawData, isBinary: boolean) => {
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
    this.#ws.send(data);
  }

  close(code: number, reason: string): void {
    this.#ws.close(code, reason);
  }

  terminate(): void {
    this.#ws.terminate();
  }
}

/**
 * Opens a WebSocket with `ws`. Redirects are not followed: a relay URL that redirects is a
 * misconfiguration to report, and following it would send the token to another origin.
 */
export const createNodeSocket: SocketFactory = (url, options) =>
  new NodeSocket(new WebSocket(url, options.protocols, { headers: options.headers, followRedirects: false }));
