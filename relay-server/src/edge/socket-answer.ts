import { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** A coded error answer: the HTTP status and the JSON body `{"error":{"code","message"}}`. */
export interface SocketAnswer {
  status: number;
  body: { error: { code: string; message: string } };
  /** Extra response headers, such as `allow` on a 405. */
  headers?: Readonly<Record<string, string>>;
}

/**
 * How long a refused connection may take to accept its answer. A peer that stops reading would
 * otherwise hold the socket, and the bytes queued on it, for ever.
 */
const ANSWER_LINGER_MS = 5_000;

/** Errors of a socket being answered and closed concern only that peer, never the process. */
function ignoreSocketError(): void {}

/**
 * Answers a connection that no Node `ServerResponse` speaks for, an upgrade request refused
 * before `handleUpgrade` or a request Node's parser gave up on, and closes it once written.
 * Node's own `ServerResponse` writes the bytes, so the status line carries the reason phrase from
 * `http.STATUS_CODES` and the framing is Node's; this module only says what to answer.
 *
 * The socket keeps an `error` listener from here to its end: a peer that resets while the answer
 * is written costs nothing. A socket that can no longer be written is only destroyed.
 *
 * @param request - the request being answered, when Node parsed one (upgrades); without it the
 *   answer is framed as HTTP/1.1.
 */
export function answerOnSocket(socket: Duplex, answer: SocketAnswer, request?: IncomingMessage): void {
  socket.on('error', ignoreSocketError);
  if (socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  // Node gives upgrade and client-error listeners a net.Socket (a TLSSocket under TLS), and
  // ServerResponse needs no more of it than the Duplex surface.
  const connection = socket as Socket;
  const response = new ServerResponse(request ?? http11Request(connection));
  try {
    response.assignSocket(connection);
  } catch {
    // A response to an earlier request is still being written; an answer now would corrupt it.
    socket.destroy();
    return;
  }
  const linger = setTimeout(() => socket.destroy(), ANSWER_LINGER_MS);
  linger.unref();
  socket.once('close', () => clearTimeout(linger));
  // Ended once written; destroyed once the end is flushed, as ws closes refused handshakes.
  socket.once('finish', () => socket.destroy());
  writeAnswer(response, { ...answer, headers: { ...answer.headers, connection: 'close' } }, () => socket.end());
}

/** Writes `answer` as the whole of `response`: status, JSON headers and body. */
export function writeAnswer(response: ServerResponse, answer: SocketAnswer, written?: () => void): void {
  const payload = JSON.stringify(answer.body);
  response.writeHead(answer.status, {
    ...answer.headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
  });
  response.end(payload, written);
}

/** A stand-in request for answers to bytes Node could not parse as one: HTTP/1.1, GET. */
function http11Request(socket: Socket): IncomingMessage {
  const request = new IncomingMessage(socket);
  request.httpVersionMajor = 1;
  request.httpVersionMinor = 1;
  request.httpVersion = '1.1';
  request.method = 'GET';
  return request;
}
