/**
 * One HTTP/1.1 connection to the local handler, carrying one request at a time: it writes the
 * request's bytes, feeds what comes back to a {@link ResponseParser}, and tells its
 * {@link Exchange} how the answer went. Its listeners are set once, for the connection's life.
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { ResponseParser, type ResponseSink } from './response-parser.js';

/** Where connections go. */
export interface Origin {
  /** TLS (`https:`) or plain TCP. */
  readonly secure: boolean;
  /** Host name or IP address, IPv6 without brackets. */
  readonly host: string;
  readonly port: number;
  /** Extra TLS settings, e.g. a `ca` to trust; none by default, so certificates are verified as `https.request` does. */
  readonly tls?: Pick<ConnectionOptions, 'ca'>;
}

/**
 * Opens a socket to `origin`. For TLS: SNI with the host name (not for an IP address), ALPN
 * `http/1.1`, and the default certificate verification.
 */
export function dial(origin: Origin): Socket {
  const { host, port } = origin;
  const socket = origin.secure
    ? tlsConnect({ host, port, ...(isIP(host) === 0 ? { servername: host } : {}), ALPNProtocols: ['http/1.1'], ...origin.tls })
    : netConnect({ host, port });
  // Each request leaves in one write; nothing is gained by holding it back.
  socket.setNoDelay(true);
  return socket;
}

/** The request's side of one answer on a {@link Connection}. */
export interface Exchange extends ResponseSink {
  /** The whole answer was read. */
  onEnd(): void;
  /**
   * The request failed.
   *
   * @param error - the socket's error, a {@link ResponseError}, or `ECONNRESET` for a connection that ended too soon.
   * @param answerBegun - whether any byte of an answer had arrived.
   */
  onError(error: Error, answerBegun: boolean): void;
}

/** Node's error for a connection that closed before its answer was complete. */
function hangUp(): Error {
  return Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
}

/** A connection; see the module's description. */
export class Connection implements ResponseSink {
  /** Whether an earlier request used this connection: a failure may then just mean the handler closed it while idle. */
  reused = false;
  /** When it was last parked idle, in `performance.now()` milliseconds. */
  idleSince = 0;
  readonly #socket: Socket;
  readonly #parser: ResponseParser;
  readonly #lost: (connection: Connection) => void;
  #exchange: Exchange | undefined;
  #answerBegun = false;
  #sent = false;
  #closed = false;
  readonly #written = (error?: Error | null): void => {
    if (error === undefined || error === null) this.#sent = true;
  };

  /**
   * @param socket - from {@link dial}.
   * @param lost - called once when the connection breaks while no request is on it.
   */
  constructor(socket: Socket, lost: (connection: Connection) => void) {
    this.#socket = socket;
    this.#lost = lost;
    this.#parser = new ResponseParser(this);
    socket.on('data', (chunk: Buffer) => this.#data(chunk));
    socket.on('end', () => this.#ended());
    socket.on('error', (error: Error) => this.#fail(error));
    socket.on('close', () => this.#fail(hangUp()));
  }

  /** Whether it may carry another request: the last answer allowed it and arrived whole, alone, after the whole request went out. */
  get reusable(): boolean {
    const parser = this.#parser;
    return !this.#closed && this.#exchange === undefined && this.#sent && parser.done && parser.keepAlive && !parser.overrun;
  }

  /** Sends `request` (from `encodeRequest`); `exchange` hears how the answer goes. */
  send(request: Buffer, exchange: Exchange): void {
    this.#exchange = exchange;
    this.#answerBegun = false;
    this.#sent = false;
    this.#parser.start();
    this.#socket.write(request, this.#written);
  }

  /** Parks it idle: an idle connection does not keep the process alive. */
  park(now: number): void {
    this.idleSince = now;
    this.#socket.unref();
  }

  /** Takes it from the idle ones for a request. */
  unpark(): void {
    this.reused = true;
    this.#socket.ref();
  }

  /** Closes it at once; the exchange on it, if any, hears nothing more. */
  destroy(): void {
    this.#exchange = undefined;
    this.#closed = true;
    this.#socket.destroy();
  }

  /** @internal {@link ResponseSink} for the parser. */
  onHead(status: number): void {
    this.#exchange?.onHead(status);
  }

  /** @internal {@link ResponseSink} for the parser. */
  onBody(bytes: Buffer): void {
    this.#exchange?.onBody(bytes);
  }

  #data(chunk: Buffer): void {
    // Bytes nobody asked for: whatever the handler meant, the connection's framing is lost.
    if (this.#exchange === undefined) return this.#drop();
    const exchange = this.#exchange;
    this.#answerBegun = true;
    try {
      this.#parser.feed(chunk);
    } catch (error) {
      this.#fail(error as Error);
      return;
    }
    if (this.#parser.done && this.#exchange === exchange) this.#complete(exchange);
  }

  #ended(): void {
    const exchange = this.#exchange;
    if (exchange === undefined || !this.#parser.end()) {
      this.#fail(hangUp());
      return;
    }
    this.#closed = true;
    this.#complete(exchange);
  }

  #complete(exchange: Exchange): void {
    this.#exchange = undefined;
    exchange.onEnd();
  }

  #fail(error: Error): void {
    const exchange = this.#exchange;
    if (exchange === undefined) {
      this.#drop();
      return;
    }
    this.#exchange = undefined;
    this.#closed = true;
    this.#socket.destroy();
    exchange.onError(error, this.#answerBegun);
  }

  /** The connection broke (or spoke) while idle. */
  #drop(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.destroy();
    this.#lost(this);
  }
}
