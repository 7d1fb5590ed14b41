import { once } from 'node:events';
import type { Server } from 'node:http';
import { connect, type Socket } from 'node:net';

/** An HTTP answer read off a raw connection. */
export interface RawAnswer {
  /** Everything the server sent before it closed the connection. */
  text: string;
  status: number;
  /** The reason phrase of the status line. */
  reason: string;
  /** Lowercase header names. */
  headers: Record<string, string>;
  body: string;
  /** The `error.code` of a JSON error body, if there is one. */
  code: string | undefined;
}

/** Parses the first HTTP response in `text` (status 0 when there is none). */
export function parseAnswer(text: string): RawAnswer {
  const headEnd = text.indexOf('\r\n\r\n');
  const head = headEnd < 0 ? text : text.slice(0, headEnd);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3}) ?(.*)$/.exec(statusLine);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  let body = headEnd < 0 ? '' : text.slice(headEnd + 4);
  const length = headers['content-length'];
  if (length !== undefined) body = body.slice(0, Number(length));
  let code: string | undefined;
  try {
    code = (JSON.parse(body) as { error?: { code?: string } }).error?.code;
  } catch {
    code = undefined;
  }
  return { text, status: Number(status?.[1] ?? 0), reason: status?.[2] ?? '', headers, body, code };
}

/** Opens a TCP connection to the relay at `url`. */
export async function openRaw(url: string): Promise<Socket> {
  const socket = connect(Number(new URL(url).port), '127.0.0.1');
  await once(socket, 'connect');
  return socket;
}

/**
 * Sends `request` on a fresh connection and resolves with what came back once the server closed
 * it. `halfClose` ends the sending side after the request, as a client does that sends no more.
 */
export async function rawExchange(url: string, request: string | Buffer, options: { halfClose?: boolean } = {}): Promise<RawAnswer> {
  const socket = await openRaw(url);
  const chunks: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => chunks.push(chunk));
  // A server that closes right after answering may reset the connection; the answer counts.
  socket.on('error', () => undefined);
  const closed = once(socket, 'close');
  socket.write(request);
  if (options.halfClose) socket.end();
  await closed;
  return parseAnswer(Buffer.concat(chunks).toString('latin1'));
}

/** Resolves with the first `bytes` bytes (or fewer, if the connection ends first) of what arrives. */
export function firstBytes(socket: Socket, bytes = 1): Promise<string> {
  return new Promise((resolve) => {
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= bytes) done();
    };
    const done = (): void => {
      socket.off('data', onData);
      socket.off('close', done);
      resolve(received.toString('latin1'));
    };
    socket.on('data', onData);
    socket.on('close', done);
  });
}

/** Open connections of a listening server. */
export function openConnections(server: Server): Promise<number> {
  return new Promise((resolve, reject) => server.getConnections((error, count) => (error ? reject(error) : resolve(count))));
}

/** `GET /healthz` on a connection of its own, closed after the answer. */
export async function healthz(url: string): Promise<number> {
  return (await rawExchange(url, 'GET /healthz HTTP/1.1\r\nHost: relay\r\nConnection: close\r\n\r\n')).status;
}

/** An upgrade request to `path` (CRLF line ends, ending in the blank line). */
export function upgradeRequest(path: string, headers: Record<string, string> = {}, method = 'GET'): string {
  const all: Record<string, string> = {
    host: 'relay',
    upgrade: 'websocket',
    connection: 'Upgrade',
    'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'sec-websocket-version': '13',
    ...headers,
  };
  const lines = Object.entries(all).filter(([, v]) => v !== '').map(([k, v]) => `${k}: ${v}`);
  return `${method} ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}
