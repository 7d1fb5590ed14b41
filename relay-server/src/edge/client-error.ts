import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyBaseLogger } from 'fastify';
import { RelayError } from '../errors.js';
import { answerOnSocket } from './socket-answer.js';

/** What Node reports with a `clientError`: a parser error (`HPE_…`), a timeout or a socket error. */
export interface ClientErrorCause {
  code?: string;
  /** llhttp's fixed description of a parse error, such as "Invalid method encountered". */
  reason?: string;
}

/**
 * The catalogue answer for a request Node's HTTP parser or its timeouts gave up on, or
 * `undefined` when the peer is gone and nothing can be answered.
 *
 * @param bodyInProgress - whether the bytes belonged to the body of a request already under way.
 */
export function clientErrorAnswer(cause: ClientErrorCause, bodyInProgress: boolean): RelayError | undefined {
  switch (cause.code) {
    case 'ECONNRESET':
    case 'EPIPE':
      return undefined;
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return new RelayError('RELAY_E_REQUEST_TIMEOUT');
    case 'HPE_HEADER_OVERFLOW':
      return new RelayError('RELAY_E_HEADERS_TOO_LARGE');
    case 'HPE_INVALID_EOF_STATE':
      // The peer closed its side: mid-body, the body is short of its Content-Length.
      return bodyInProgress ? new RelayError('RELAY_E_BODY_INCOMPLETE') : new RelayError('RELAY_E_MALFORMED_REQUEST', '(the request ended before its headers did)');
    default:
      // llhttp's reasons are fixed texts; none repeats a byte of the request.
      return new RelayError('RELAY_E_MALFORMED_REQUEST', cause.reason ? `(${cause.reason})` : undefined);
  }
}

/**
 * The responses of requests under way, by connection, so a client error met in the middle of a
 * request's body is answered in that request's place.
 */
export class ResponsesInFlight {
  private readonly bySocket = new WeakMap<Socket, ServerResponse>();

  /** Records the response of a request that has just begun on `socket`. */
  begin(socket: Socket, response: ServerResponse): void {
    this.bySocket.set(socket, response);
  }

  /** The response of the last request begun on `socket`, while it is not finished. */
  current(socket: Socket): ServerResponse | undefined {
    const response = this.bySocket.get(socket);
    return response && !response.writableEnded ? response : undefined;
  }
}

/**
 * Fastify's `clientErrorHandler`: answers bytes Node could not take as a request with a coded JSON
 * error and closes the connection. Logs the code only; the error Node hands over carries the raw
 * bytes (`rawPacket`), credentials included, and is never logged.
 */
export function createClientErrorHandler(log: FastifyBaseLogger, inFlight: ResponsesInFlight): (error: ClientErrorCause, socket: Socket) => void {
  // Node reports each further chunk a failed parser meets; the first report is answered.
  const answered = new WeakSet<Socket>();
  return (error, socket) => {
    if (answered.has(socket)) return;
    answered.add(socket);
    const pending = inFlight.current(socket);
    const bodyInProgress = pending !== undefined && !pending.req.complete;
    const answer = clientErrorAnswer(error, bodyInProgress);
    log.debug({ code: answer?.code, cause: error.code }, 'client error');
    if (answer === undefined || socket.destroyed) {
      socket.destroy();
      return;
    }
    const reply = { status: answer.status, body: answer.toBody() };
    if (pending !== undefined && !bodyInProgress) {
      // The bad bytes follow a whole request (pipelined) that is still owed its answer: that
      // answer goes first, then this one. Node reads nothing more from this connection.
      pending.once('finish', () => answerOnSocket(socket, reply));
      return;
    }
    if (pending !== undefined) {
      // Once any of that response is written, another answer would corrupt it.
      if (pending.headersSent) {
        socket.destroy();
        return;
      }
      // The request failed at the connection, so this answer replaces its own: whatever its
      // route still sends goes to a response without a socket.
      if (pending.socket === socket) pending.detachSocket(socket);
    }
    answerOnSocket(socket, reply);
  };
}
