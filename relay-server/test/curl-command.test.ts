import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { curlCommand, printfFormat } from '../page/dist/curl.js';
import { tempDir } from './harness.js';

interface Received {
  method: string;
  url: string;
  headers: [string, string][];
  body: Buffer;
}

const closers: (() => void)[] = [];
afterEach(() => {
  while (closers.length > 0) closers.pop()?.();
});

/** A handler that records one request and answers 200. */
async function recorder(): Promise<{ url: string; next: Promise<Received> }> {
  let resolve: (r: Received) => void = () => undefined;
  const next = new Promise<Received>((r) => (resolve = r));
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers: [string, string][] = [];
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) headers.push([req.rawHeaders[i] ?? '', req.rawHeaders[i + 1] ?? '']);
      resolve({ method: req.method ?? '', url: req.url ?? '', headers, body: Buffer.concat(chunks) });
      res.end('{"ok":true}');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/myoperator`, next };
}

/** Runs the command in a POSIX shell, as a developer pastes it. */
function run(shell: string, command: string, cwd?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(shell, ['-c', command], { timeout: 20_000, ...(cwd ? { cwd } : {}) }, (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)));
  });
}

const HEADERS: [string, string][] = [
  ['Content-Type', 'application/json; charset=utf-8'],
  ['X-MyOperator-Signature', 'a3f1c2d4e5b6a7980123456789abcdef0123456789abcdef0123456789abcdef'],
  ['x-custom', `it's "quoted" $HOME \`id\` \\ %s`],
  ['User-Agent', 'MyOperator-Webhook/2.0'],
];

/** Every byte value, quotes, printf's specials, a leading dash, UTF-8 (Hindi, emoji) and broken UTF-8. */
function nastyBody(): Buffer {
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  return Buffer.concat([Buffer.from("-{'name':\"नमस्ते 🎉\", 'pct': '100%', 'esc': '\\n\\x41'}\n"), all, Buffer.from([0xe0, 0xa4]), Buffer.from('\u2028\u202e tail')]);
}

for (const shell of ['sh', 'bash']) {
  it(`reproduces the exact body, method, path and headers (${shell})`, async () => {
    const target = await recorder();
    const body = nastyBody();
    await run(shell, curlCommand({ url: target.url, headers: HEADERS, body }));
    const got = await target.next;
    expect(got.method).toBe('POST');
    expect(got.url).toBe('/hooks/myoperator');
    expect(got.body.equals(body)).toBe(true);
    // Exactly the stored headers, in order and spelling, besides what curl derives from the URL and body.
    expect(got.headers.filter(([n]) => !['host', 'content-length'].includes(n.toLowerCase()))).toEqual(HEADERS);
    expect(got.headers.find(([n]) => n.toLowerCase() === 'content-length')?.[1]).toBe(String(body.length));
  });
}

it('reads a large body from the downloaded file instead of the command line', async () => {
  const dir = tempDir();
  closers.push(dir.remove);
  const body = Buffer.alloc(200_000, 0x61);
  body[0] = 0;
  writeFileSync(join(dir.path, 'event.body'), body);
  const target = await recorder();
  const command = curlCommand({ url: target.url, headers: [['Content-Type', 'application/json']], body, bodyFile: 'event.body' });
  expect(command.length).toBeLessThan(400);
  await run('sh', command, dir.path);
  expect((await target.next).body.equals(body)).toBe(true);
});

it('writes readable text as itself and every other byte as an escape', () => {
  expect(printfFormat(new TextEncoder().encode('{"a":"नमस्ते 100%"}'))).toBe(`'{"a":"नमस्ते 100%%"}'`);
  expect(printfFormat(new Uint8Array([0x27, 0x00, 0x5c, 0xff, 0x0a]))).toBe(`'\\047\\000\\\\\\377\\n'`);
});
