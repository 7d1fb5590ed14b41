// What the forwarder makes of a handler's answer, against handlers that write exact bytes: an
// attempt counts only when a 2xx answer arrived whole; anything cut short, hung, reset or
// malformed is a failed attempt with its reason.
import { afterEach, describe, expect, it } from 'vitest';
import { Forwarder, parseForwardTarget, type ForwarderOptions } from '../src/forwarder.js';
import { eventMessage } from './support/fake-relay.js';
import { closed, dribble, startRawHandler, type RawAnswer, type RawHandler } from './support/raw-handler.js';
import { SELF_SIGNED_CERT } from './support/self-signed.js';

const handlers: RawHandler[] = [];
const forwarders: Forwarder[] = [];
afterEach(async () => {
  await Promise.all(forwarders.splice(0).map((f) => f.close()));
  await Promise.all(handlers.splice(0).map((h) => h.close()));
});

async function rawHandler(answer: RawAnswer, tls = false): Promise<RawHandler> {
  const handler = await startRawHandler(answer, tls);
  handlers.push(handler);
  return handler;
}

function forwarderTo(url: string, options: Partial<ForwarderOptions> = {}): Forwarder {
  const parsed = parseForwardTarget(url);
  if (!parsed.ok) throw new Error(parsed.reason);
  const forwarder = new Forwarder({ target: parsed.target, timeoutMs: 3_000, ...options });
  forwarders.push(forwarder);
  return forwarder;
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

describe('forwarding: answers that count', () => {
  it('acks a 2xx whose whole body arrived, across packets, and reuses the connection', async () => {
    const local = await rawHandler((socket) => dribble(socket, 'HTTP/1.1 201 Created\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello', 7));
    const forwarder = forwarderTo(local.url, { connections: 1 });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 201, responseBody: 'hello' });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 201 });
    expect(local.connections).toHaveLength(1);
  });

  it('decodes a chunked body with chunk extensions and trailers', async () => {
    const local = await rawHandler((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n');
      socket.write('5;name=value\r\nhello\r\n');
      socket.write('1\r\n \r\n6\r\nworld!\r\n0\r\nX-Trailer: yes\r\n\r\n');
    });
    const forwarder = forwarderTo(local.url, { connections: 1 });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200, responseBody: 'hello world!' });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200, responseBody: 'hello world!' });
    expect(local.connections).toHaveLength(1);
  });

  it('reads a body without length until the connection closes, and opens a new connection after it', async () => {
    const local = await rawHandler((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil ');
      setImmediate(() => socket.end('close'));
    });
    const forwarder = forwarderTo(local.url, { connections: 1 });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200, responseBody: 'until close' });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, responseBody: 'until close' });
    expect(local.connections).toHaveLength(2);
  });

  it('skips interim 1xx answers: the final one counts', async () => {
    const local = await rawHandler(async (socket, _request, n) => {
      await dribble(socket, 'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n', 100);
      socket.write(n === 1 ? 'HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope' : 'HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n');
    });
    const forwarder = forwarderTo(local.url, { connections: 1 });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: false, status: 404, responseBody: 'nope' });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 202 });
  });

  it('reports a non-2xx whose body arrived whole with its status and no error', async () => {
    const local = await rawHandler((socket) => dribble(socket, 'HTTP/1.1 500 Internal Server Error\r\nContent-Length: 24\r\n\r\ndatabase is down (retry)', 20));
    const outcome = await forwarderTo(local.url).forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, status: 500, responseBody: 'database is down (retry)' });
    expect(outcome.error).toBeUndefined();
  });

  it('expects no body after 204 and 304', async () => {
    const local = await rawHandler((socket, _request, n) => {
      socket.write(n === 1 ? 'HTTP/1.1 204 No Content\r\n\r\n' : 'HTTP/1.1 304 Not Modified\r\n\r\n');
    });
    const forwarder = forwarderTo(local.url, { connections: 1 });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 204 });
    const outcome = await forwarder.forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, status: 304, error: 'redirect not followed' });
    expect(outcome.responseBody).toBeUndefined();
    expect(local.connections).toHaveLength(1);
  });
});

describe('forwarding: failed attempts', () => {
  it('fails a 200 whose body stops short of its Content-Length when the handler closes', async () => {
    const local = await rawHandler((socket) => {
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc');
    });
    expect(await forwarderTo(local.url).forward(eventMessage())).toMatchObject({
      ok: false,
      status: 200,
      error: 'body cut short after 3 of 100 bytes (UND_ERR_SOCKET: other side closed)',
      responseBody: 'abc',
    });
  });

  it('fails a body cut short on a connection the answer said it would close', async () => {
    const local = await rawHandler((socket) => {
      socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 100\r\n\r\nabc');
    });
    const outcome = await forwarderTo(local.url).forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, status: 200 });
    expect(outcome.error).toMatch(/^body cut short after 3 of 100 bytes \(UND_ERR_RES_CONTENT_LENGTH_MISMATCH: /);
  });

  it('fails a chunked body that ends before its last chunk', async () => {
    const local = await rawHandler((socket) => {
      socket.end('HTTP/1.1 202 Accepted\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel');
    });
    expect(await forwarderTo(local.url).forward(eventMessage())).toMatchObject({ ok: false, status: 202, error: 'body cut short after 3 bytes (UND_ERR_SOCKET: other side closed)' });
  });

  it('fails a body cut by a reset', async () => {
    const local = await rawHandler((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc', () => setImmediate(() => socket.resetAndDestroy()));
    });
    const outcome = await forwarderTo(local.url).forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, status: 200 });
    expect(outcome.error).toMatch(/^body cut short after 3 of 100 bytes \((ECONNRESET|UND_ERR_SOCKET: other side closed)\)$/);
  });

  it('fails a 200 whose body never finishes within the timeout, and closes that connection', async () => {
    const local = await rawHandler((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc');
    });
    const outcome = await forwarderTo(local.url, { timeoutMs: 200 }).forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, status: 200, error: 'timeout after 200 ms with the body incomplete (3 of 100 bytes)' });
    // Loose bound: libuv timers count from a cached loop time, so they can fire a little early.
    expect(outcome.latencyMs).toBeGreaterThanOrEqual(150);
    await closed(local.connections[0]);
  });

  it('fails a reset before any answer with its code, and does not send again on a new connection', async () => {
    const local = await rawHandler((socket) => {
      socket.resetAndDestroy();
    });
    const outcome = await forwarderTo(local.url).forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, error: 'ECONNRESET' });
    expect(outcome.status).toBeUndefined();
    expect(local.requests).toHaveLength(1);
  });

  it('fails an answer that is not an HTTP/1.x status line', async () => {
    const local = await rawHandler((socket, _request, n) => {
      socket.write(n === 1 ? 'HTTX/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok' : 'HTTP/1.1 2x0 OK\r\nContent-Length: 2\r\n\r\nok');
    });
    const forwarder = forwarderTo(local.url);
    const outcome = await forwarder.forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, error: 'HPE_INVALID_CONSTANT: Response does not match the HTTP/1.1 protocol (Expected HTTP/)' });
    expect(outcome.status).toBeUndefined();
    expect((await forwarder.forward(eventMessage())).error).toMatch(/^HPE_INVALID_STATUS: /);
  });

  it('fails a malformed chunked body, with the status', async () => {
    const local = await rawHandler((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
    });
    const outcome = await forwarderTo(local.url).forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, status: 200 });
    expect(outcome.error).toMatch(/^malformed body \(HPE_INVALID_CHUNK_SIZE: /);
  });

  it('fails on a head over 16 KiB, and reads one just under it', async () => {
    const local = await rawHandler((socket, _request, n) => {
      const filler = 'x'.repeat(n === 1 ? 15 * 1024 : 17 * 1024);
      socket.write(`HTTP/1.1 200 OK\r\nX-Filler: ${filler}\r\nContent-Length: 2\r\n\r\nok`);
    });
    const forwarder = forwarderTo(local.url, { connections: 1 });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200 });
    const outcome = await forwarder.forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, error: 'UND_ERR_HEADERS_OVERFLOW: Headers Overflow Error' });
    expect(outcome.status).toBeUndefined();
  });

  it('fails on conflicting Content-Length values', async () => {
    const local = await rawHandler((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok!');
    });
    const outcome = await forwarderTo(local.url).forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false });
    expect(outcome.error).toMatch(/^UND_ERR_RES_CONTENT_LENGTH_MISMATCH: /);
  });

  it('fails a 101 upgrade it did not ask for, and uses a new connection after it', async () => {
    const local = await rawHandler((socket, _request, n) => {
      socket.write(n === 1 ? 'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n' : OK);
    });
    const forwarder = forwarderTo(local.url, { connections: 1 });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: false, error: 'UND_ERR_SOCKET: bad upgrade' });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200 });
    expect(local.connections).toHaveLength(2);
    await closed(local.connections[0]);
  });

  it('does not reuse a connection that sent bytes beyond its answer', async () => {
    const local = await rawHandler((socket, _request, n) => {
      socket.write(n === 1 ? `${OK}HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nextra` : OK);
    });
    const forwarder = forwarderTo(local.url, { connections: 1 });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200, responseBody: 'ok' });
    await closed(local.connections[0]);
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200, responseBody: 'ok' });
    expect(local.connections).toHaveLength(2);
  });
});

describe('forwarding: what is sent', () => {
  it('writes the request line, the headers as listed and the body', async () => {
    const local = await rawHandler((socket) => {
      socket.write(OK);
    });
    const forwarder = forwarderTo(`${local.url}?a=1`);
    const body = Buffer.from('{"x":"é"}');
    await forwarder.forward(eventMessage({ id: 'evt_wire', body, headers: [['content-type', 'application/json'], ['X-Latin', 'caf\u00e9']], seq: 7 }));
    const port = new URL(local.url).port;
    expect(local.requests[0]?.head).toBe(
      `POST /hook?a=1 HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nconnection: keep-alive\r\ncontent-type: application/json\r\nX-Latin: caf\u00e9\r\n` +
        'X-Relay-Event-Id: evt_wire\r\nX-Relay-Channel: myoperator\r\nX-Relay-Seq: 7\r\nX-Relay-Attempt: 1\r\nX-Relay-Received-At: 2025-08-26T10:03:59.000Z\r\n' +
        `content-length: ${body.length}\r\n\r\n`,
    );
    expect(local.requests[0]?.body.equals(body)).toBe(true);
  });

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
    expect(local.requests).toHaveLength(1);
    expect(local.requests[0]?.head).toContain('\r\nX-Relay-Event-Id: evt_clean\r\n');
  });
});

describe('forwarding over HTTPS', () => {
  it('refuses a certificate nothing trusts, as https.request does', async () => {
    const local = await rawHandler(() => undefined, true);
    const outcome = await forwarderTo(local.url).forward(eventMessage());
    expect(outcome).toMatchObject({ ok: false, error: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    expect(outcome.status).toBeUndefined();
    expect(local.requests).toHaveLength(0);
  });

  it('forwards over TLS to a handler whose certificate is trusted', async () => {
    const local = await rawHandler((socket) => {
      socket.write(OK);
    }, true);
    const forwarder = forwarderTo(local.url, { ca: SELF_SIGNED_CERT, connections: 1 });
    expect(await forwarder.forward(eventMessage({ body: '{"tls":true}' }))).toMatchObject({ ok: true, status: 200, responseBody: 'ok' });
    expect(await forwarder.forward(eventMessage())).toMatchObject({ ok: true, status: 200 });
    expect(local.requests[0]?.body.toString()).toBe('{"tls":true}');
    expect(local.connections).toHaveLength(1);
  });
});

describe('forwarding: bodies that are not base64', () => {
  it.each([
    ['a character outside the alphabet', 'eyJpZCI6MX0*'],
    ['whitespace', 'eyJp ZCI6MX0='],
    ['a length that is no multiple of 4', 'eyJpZCI6MX0'],
    ['padding in the middle', 'QQ==QQ=='],
  ])('fails the forward before anything is sent: %s', async (_name, body) => {
    const local = await rawHandler((socket) => {
      socket.write(OK);
    });
    const event = { ...eventMessage(), body };
    expect(await forwarderTo(local.url).forward(event)).toMatchObject({ ok: false, error: 'event body is not valid padded base64' });
    expect(local.requests).toHaveLength(0);
  });
});
