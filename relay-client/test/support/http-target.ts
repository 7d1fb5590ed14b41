import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A port on 127.0.0.1 where nothing listens: it was free a moment ago and is closed again. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  server.close();
  await once(server, 'close');
  return port;
}

/** One request as the local handler saw it. */
export interface ReceivedRequest {
  method: string;
  /** Request target exactly as sent. */
  url: string;
  /** Header names and values in arrival order and spelling, flat, as Node's rawHeaders. */
  rawHeaders: string[];
  /** The exact body bytes. */
  body: Buffer;
}

/** Decides the answer to a request; may wait before answering. */
export type Responder = (request: ReceivedRequest, res: ServerResponse) => void | Promise<void>;

/** A real HTTP server on 127.0.0.1 playing the developer's local webhook handler. */
export interface HttpTarget {
  /** `http://127.0.0.1:<port>`. */
  origin: string;
  requests: ReceivedRequest[];
  /** Resolves with the `n`-th request (1-based), counting those already received. */
  request(n: number): Promise<ReceivedRequest>;
  /** Replaces the responder for later requests. */
  respond(responder: Responder): void;
  close(): Promise<void>;
  server: Server;
}

const ok: Responder = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('ok');
};

/** Starts a handler on port 0; by default it answers every request 200. */
export async function startHttpTarget(responder: Responder = ok): Promise<HttpTarget> {
  let current = responder;
  const requests: ReceivedRequest[] = [];
  const waiters: { n: number; resolve: (r: ReceivedRequest) => void }[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const received: ReceivedRequest = { method: req.method ?? '', url: req.url ?? '', rawHeaders: req.rawHeaders, body: Buffer.concat(chunks) };
      requests.push(received);
      for (const w of waiters.filter((w) => w.n === requests.length)) w.resolve(received);
      void current(received, res);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    requests,
    server,
    request(n) {
      const seen = requests[n - 1];
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ n, resolve }));
    },
    respond(next) {
      current = next;
    },
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

/** Header pairs from a flat rawHeaders list. */
export function pairs(rawHeaders: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) out.push([rawHeaders[i] ?? '', rawHeaders[i + 1] ?? '']);
  return out;
}
