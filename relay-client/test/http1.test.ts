// The forwarder's HTTP/1.1 client against handlers that write exact bytes: framing, interim
// answers, connection reuse, limits and refusals.
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { Forwarder, parseForwardTarget, type ForwarderOptions } from '../src/forwarder.js';
import { ConnectionPool } from '../src/http1/pool.js';
import { encodeRequest } from '../src/http1/request.js';
import { eventMessage } from './support/fake-relay.js';
import { SELF_SIGNED_CERT, SELF_SIGNED_KEY } from './support/self-signed.js';

/** One request as the raw handler read it. */
interface RawRequest {
  head: string;
  body: Buffer;
}

/** Answers request `n` (1-based, over all connections) on `socket` by writing bytes itself. */
type RawAnswer = (socket: Socket, request: RawRequest, n: number) => void | Promise<void>;

interface RawHandler {
  url: string;
  /** The handler's side of every connection it accepted, in order. */
  connections: Socket[];
  requests: RawRequest[];
}

const servers: Server[] = [];
const accepted: Socket[] = [];
const forwarders: Forwarder[] = [];
afterEach(async () => {
  for (const f of forwarders.splice(0)) f.close();
  for (const socket of accepted.splice(0)) socket.destroy();
  await Promise.all(
    servers.splice(0).map((s) => {
      s.close();
      return once(s, 'close');
    }),
  );
});

/** Reads each request (head and Content-Length body) off its connection and lets `answer` write the reply. */
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
  socket.on('error', () => undefined);
  accepted.push(socket);
}

async function rawHandler(answer: RawAnswer): Promise<RawHandler> {
  const connections: Socket[] = [];
  const requests: RawRequest[] = [];
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    connections.push(socket);
    readRequests(socket, (request) => {
      requests.push(request);
      void answer(socket, request, requests.length);
    });
  });
  servers.push(server);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, connections, requests };
}

function forwarderTo(url: string, options: Partial<ForwarderOptions> = {}): Forwarder {
  const parsed = parseForwardTarget(url);
  if (!parsed.ok) throw new Error(parsed.reason);
  const forwarder = new Forwarder({ target: parsed.target, timeoutMs: 3_000, ...options });
  forwarders.push(forwarder);
  return forwarder;
}

/** Writes `bytes` in pieces of `size`, each waiting for the one before to leave, so they arrive as separate packets. */
async function dribble(socket: Socket, bytes: string, size: number): Promise<void> {
  for (let at = 0; at < bytes.length; at += size) {
    await new Promise<void>((resolve) => socket.write(bytes.slice(at, at + size), 'latin1', () => resolve()));
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

async function closed(socket: Socket | undefined): Promise<void> {
  if (socket !== undefined && !socket.destroyed) await once(socket, 'close');
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

describe('forwarding over HTTP/1.1: response framing', () => {
  it('decodes a chunked body with chunk extensions and trailers, and reuses the connection', async () => {
    const local = await rawHandler((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      socket.write('5;name=value;flag\r\nhello\r\n');
      socket.write('1 ; spaced\r\n \r\n6\r\nworld!\r\n0;last\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n');
    });
    const forwarder = forwarderTo(local.url);
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200, responseBody: 'hello world!' });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200, responseBody: 'hello world!' });
    expect(local.connections).toHaveLength(1);
  });

  it('reads a response that arrives one byte a packet', async () => {
    const local = await rawHandler((socket) => dribble(socket, 'HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello', 1));
    const forwarder = forwarderTo(local.url);
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 201, responseBody: 'hello' });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 201 });
    expect(local.connections).toHaveLength(1);
  });

  it('waits for the whole Content-Length body across packets', async () => {
    const local = await rawHandler((socket) => dribble(socket, 'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 24\r\n\r\ndatabase is down (retry)', 20));
    expect(await forwarderTo(local.url).forward(eventMessage())).toMatchObject({ ok: false, status: 500, responseBody: 'database is down (retry)' });
  });

  it('reads a body without length until the connection closes, and does not reuse that connection', async () => {
    const local = await rawHandler((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ');
      setImmediate(() => socket.end('close'));
    });
    const forwarder = forwarderTo(local.url);
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200, responseBody: 'until close' });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, responseBody: 'until close' });
    expect(local.connections).toHaveLength(2);
  });

  it('expects no body after 204 and 304', async () => {
    const local = await rawHandler((socket, _request, n) => {
      socket.write(n === 1 ? 'HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n' : 'HTTP/1.1 304 Not Modified\r\n\r\n');
    });
    const forwarder = forwarderTo(local.url);
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 204 });
    const outcome = await forwarder.forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, status: 304, error: 'redirect not followed' });
    expect(outcome.responseBody).toBeUndefined();
    expect(local.connections).toHaveLength(1);
  });

  it('skips 100 Continue and 103 Early Hints: the final answer counts', async () => {
    const local = await rawHandler(async (socket, _request, n) => {
      if (n === 1) {
        socket.write('HTTP/1.1 100 Continue\r\n\r\n');
        await dribble(socket, 'HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope', 100);
      } else {
        await dribble(socket, 'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n', 100);
        socket.write('HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n');
      }
    });
    const forwarder = forwarderTo(local.url);
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: false, status: 404, responseBody: 'nope' });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 202 });
    expect(local.connections).toHaveLength(1);
  });

  it('counts 101 as a final answer that is not 2xx, and leaves that connection', async () => {
    const local = await rawHandler((socket, _request, n) => {
      socket.write(n === 1 ? 'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n' : OK);
    });
    const forwarder = forwarderTo(local.url);
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: false, status: 101 });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200 });
    expect(local.connections).toHaveLength(2);
    await closed(local.connections[0]);
  });

  it('reports the status of an answer cut short after its status line', async () => {
    const local = await rawHandler((socket) => {
      socket.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100\r\n\r\nshort');
    });
    expect(await forwarderTo(local.url).forward(eventMessage())).toMatchObject({ ok: false, status: 503, responseBody: 'short' });
  });
});

describe('forwarding over HTTP/1.1: connection reuse', () => {
  it('opens a new connection after an answer with Connection: close, and closes the old one', async () => {
    const local = await rawHandler((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok');
    });
    const forwarder = forwarderTo(local.url);
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200 });
    await closed(local.connections[0]);
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200 });
    expect(local.connections).toHaveLength(2);
  });

  it('reuses an HTTP/1.0 connection only when the answer says keep-alive', async () => {
    const local = await rawHandler((socket, _request, n) => {
      socket.write(n <= 2 ? 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok' : 'HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nok');
    });
    const forwarder = forwarderTo(local.url);
    for (let i = 0; i < 4; i++) expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200, responseBody: 'ok' });
    // Requests 1 and 2 each on their own connection; 3 on a third, kept for 4.
    expect(local.connections).toHaveLength(3);
  });

  it('does not reuse a connection that sent bytes beyond its answer', async () => {
    const local = await rawHandler((socket, _request, n) => {
      socket.write(n === 1 ? `${OK}HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra` : OK);
    });
    const forwarder = forwarderTo(local.url);
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200, responseBody: 'ok' });
    await closed(local.connections[0]);
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200, responseBody: 'ok' });
    expect(local.connections).toHaveLength(2);
  });

  it('closes an idle connection that receives anything, and sends the next event on a new one once', async () => {
    let answered = (): void => undefined;
    const done = new Promise<void>((resolve) => (answered = resolve));
    const local = await rawHandler((socket) => {
      socket.write(OK, () => answered());
    });
    const forwarder = forwarderTo(local.url, { idleConnectionMs: 60_000 });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true });
    await done;
    local.connections[0]?.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    await closed(local.connections[0]);
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200 });
    expect(local.connections).toHaveLength(2);
    expect(local.requests).toHaveLength(2);
  });
});

describe('forwarding over HTTP/1.1: malformed answers and limits', () => {
  it('fails on an answer that is not an HTTP/1.x status line', async () => {
    const local = await rawHandler((socket, _request, n) => {
      socket.write(n === 1 ? 'HTTX/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' : 'HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const forwarder = forwarderTo(local.url);
    const outcome = await forwarder.forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, error: 'HPE_INVALID_CONSTANT' });
    expect(outcome.status).toBeUndefined();
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: false, error: 'HPE_INVALID_STATUS' });
  });

  it('fails on a head over 16 KiB, and reads one just under it', async () => {
    const local = await rawHandler((socket, _request, n) => {
      const filler = 'x'.repeat(n === 1 ? 15 * 1024 : 17 * 1024);
      socket.write(`HTTP/1.1 200 OK\r\nX-Filler: ${filler}\r\nContent-Length: 2\r\n\r\nok`);
    });
    const forwarder = forwarderTo(local.url);
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200 });
    const outcome = await forwarder.forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, error: 'HPE_HEADER_OVERFLOW' });
    expect(outcome.status).toBeUndefined();
  });

  it('fails on a head over 16 KiB that never ends', async () => {
    const local = await rawHandler((socket) => dribble(socket, `HTTP/1.1 200 OK\r\nX-Filler: ${'y'.repeat(17 * 1024)}`, 4096));
    expect(await forwarderTo(local.url).forward(eventMessage())).toMatchObject({ ok: false, error: 'HPE_HEADER_OVERFLOW' });
  });

  it('fails on conflicting Content-Length values and accepts repeated equal ones', async () => {
    const local = await rawHandler((socket, _request, n) => {
      socket.write(n === 1 ? 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n\r\nok' : 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!');
    });
    const forwarder = forwarderTo(local.url);
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, responseBody: 'ok' });
    const outcome = await forwarder.forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, error: 'HPE_UNEXPECTED_CONTENT_LENGTH' });
    expect(outcome.status).toBeUndefined();
  });

  it('reports the status when a chunked body is malformed', async () => {
    const local = await rawHandler((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
    });
    expect(await forwarderTo(local.url).forward(eventMessage())).toMatchObject({ ok: true, status: 200 });
  });
});

describe('forwarding over HTTP/1.1: what is sent', () => {
  it('refuses a header value with CR or LF, or a name that is not a token, and sends nothing', async () => {
    const local = await rawHandler((socket) => {
      socket.write(OK);
    });
    const forwarder = forwarderTo(local.url);
    const smuggled = await forwarder.forward(eventMessage({ headers: [['X-Note', 'a\r\nX-Injected: 1']] }));
    expect(smuggled).toMatchObject({ ok: false, error: 'Invalid character in header content ["X-Note"]' });
    expect(smuggled.status).toBeUndefined();
    expect(await forwarder.forward(eventMessage({ headers: [['X-Note', 'a\nb']] }))).toMatchObject({ ok: false });
    expect(await forwarder.forward(eventMessage({ headers: [['X Note', 'a']] }))).toMatchObject({ ok: false, error: 'Header name must be a valid HTTP token ["X Note"]' });
    expect(await forwarder.forward(eventMessage({ id: 'evt_clean', headers: [['X-Note', 'fine\tvalue']] }))).toMatchObject({ ok: true });
    expect(local.connections).toHaveLength(1);
    expect(local.requests).toHaveLength(1);
    expect(local.requests[0]?.head).toContain('\r\nX-Relay-Event-Id: evt_clean\r\n');
  });

  it('writes the request line, the headers as listed and the body', async () => {
    const local = await rawHandler((socket) => {
      socket.write(OK);
    });
    const forwarder = forwarderTo(`${local.url}?a=1`);
    const body = Buffer.from('{"x":"é"}');
    await forwarder.forward(eventMessage({ id: 'evt_wire', body, headers: [['content-type', 'application/json'], ['X-Latin', 'caf\u00e9']], seq: 7 }));
    const port = new URL(local.url).port;
    expect(local.requests[0]?.head).toBe(
      `POST /hook?a=1 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\nX-Latin: caf\u00e9\r\nContent-Length: ${body.length}\r\n` +
        'X-Relay-Event-Id: evt_wire\r\nX-Relay-Channel: myoperator\r\nX-Relay-Seq: 7\r\nX-Relay-Attempt: 1\r\nX-Relay-Received-At: 2025-08-26T10:03:59.000Z\r\nConnection: keep-alive\r\n\r\n',
    );
    expect(local.requests[0]?.body.equals(body)).toBe(true);
  });
});

describe('forwarding over HTTPS', () => {
  async function tlsHandler(): Promise<{ port: number; secured: () => number }> {
    let secured = 0;
    const server = createTlsServer({ key: SELF_SIGNED_KEY, cert: SELF_SIGNED_CERT, ALPNProtocols: ['http/1.1'] }, (socket) => {
      secured++;
      readRequests(socket, () => socket.write(OK));
    });
    server.on('tlsClientError', () => undefined);
    servers.push(server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    return { port: (server.address() as AddressInfo).port, secured: () => secured };
  }

  it('refuses a certificate nothing trusts, as https.request does', async () => {
    const { port, secured } = await tlsHandler();
    const outcome = await forwarderTo(`https://localhost:${port}/hook`).forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, error: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    expect(outcome.status).toBeUndefined();
    expect(secured()).toBe(0);
  });

  it('speaks HTTP/1.1 over TLS to a server whose certificate is trusted', async () => {
    const { port } = await tlsHandler();
    const pool = new ConnectionPool({ secure: true, host: 'localhost', port, tls: { ca: SELF_SIGNED_CERT } }, 1, 1_000);
    const connection = pool.acquire();
    const status = await new Promise<number>((resolve, reject) => {
      let seen = 0;
      connection.send(encodeRequest('/hook', ['Host', `localhost:${port}`, 'Content-Length', '2'], 'close', Buffer.from('{}')), {
        onHead: (code) => (seen = code),
        onBody: () => undefined,
        onEnd: () => resolve(seen),
        onError: reject,
      });
    });
    connection.destroy();
    pool.close();
    expect(status).toBe(200);
  });
});
