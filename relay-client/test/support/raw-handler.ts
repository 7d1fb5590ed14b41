// A local handler that writes its answers byte by byte itself, over plain TCP or TLS, so tests
// can play handlers that misbehave: answers cut short, hung, reset or malformed.
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { SELF_SIGNED_CERT, SELF_SIGNED_KEY } from './self-signed.js';

/** One request as the raw handler read it. */
export interface RawRequest {
  /** Request line and headers, up to and with the empty line, as Latin-1 text. */
  head: string;
  body: Buffer;
}

/** Answers request `n` (1-based, over all connections) on `socket` by writing bytes itself. */
export type RawAnswer = (socket: Socket, request: RawRequest, n: number) => void | Promise<void>;

/** A running raw handler. */
export interface RawHandler {
  /** `http://127.0.0.1:<port>/hook`, or `https://localhost:<port>/hook` with TLS. */
  url: string;
  /** The handler's side of every connection it accepted, in order. */
  connections: Socket[];
  /** Most connections that were open at once. */
  peakOpen(): number;
  requests: RawRequest[];
  close(): Promise<void>;
}

/** Reads each request (head and Content-Length body) off its connection. */
function readRequests(socket: Socket, onRequest: (request: RawRequest) => void): void {
  let buffered = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    for (;;) {
      const end = buffered.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buffered.toString('latin1', 0, end + 4);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (buffered.length < end + 4 + length) return;
      const body = buffered.subarray(end + 4, end + 4 + length);
      buffered = buffered.subarray(end + 4 + length);
      onRequest({ head, body });
    }
  });
  // The forwarder closes connections it gives up on; that is not the handler's failure.
  socket.on('error', () => undefined);
}

/**
 * Starts a raw handler on 127.0.0.1, port 0.
 *
 * @param answer - writes the answer to each request.
 * @param tls - serve TLS with the self-signed localhost certificate.
 */
export async function startRawHandler(answer: RawAnswer, tls = false): Promise<RawHandler> {
  const connections: Socket[] = [];
  const requests: RawRequest[] = [];
  let open = 0;
  let peak = 0;
  const accept = (socket: Socket): void => {
    socket.setNoDelay(true);
    connections.push(socket);
    open++;
    peak = Math.max(peak, open);
    socket.on('close', () => open--);
    readRequests(socket, (request) => {
      requests.push(request);
      void answer(socket, request, requests.length);
    });
  };
  const server: Server = tls ? createTlsServer({ key: SELF_SIGNED_KEY, cert: SELF_SIGNED_CERT, ALPNProtocols: ['http/1.1'] }, accept) : createServer(accept);
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: tls ? `https://localhost:${port}/hook` : `http://127.0.0.1:${port}/hook`,
    connections,
    peakOpen: () => peak,
    requests,
    async close() {
      for (const socket of connections) socket.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

/** Writes `bytes` in pieces of `size`, each waiting for the one before to leave, so they arrive as separate packets. */
export async function dribble(socket: Socket, bytes: string, size: number): Promise<void> {
  for (let at = 0; at < bytes.length; at += size) {
    await new Promise<void>((resolve) => socket.write(bytes.slice(at, at + size), 'latin1', () => resolve()));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** Resolves once `socket` has closed. */
export async function closed(socket: Socket | undefined): Promise<void> {
  if (socket !== undefined && !socket.destroyed) await once(socket, 'close');
}
