import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, expect, it } from 'vitest';
import { applyChannelSettings } from '../src/channel-settings.js';
import { resolveServerConfig } from '../src/config.js';
import { buildServer } from '../src/server.js';
import { TEST_SECRET, sign, tempDir, tempSqliteStore } from './harness.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

it('serves ingest over HTTPS with --tls-cert and --tls-key', async () => {
  const dir = tempDir();
  cleanups.push(dir.remove);
  const cert = join(dir.path, 'cert.pem');
  const key = join(dir.path, 'key.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  const { store, remove } = tempSqliteStore();
  cleanups.push(remove);
  await store.createChannel(applyChannelSettings('myoperator', { verify: 'hmac', secret: [TEST_SECRET] }).channel);
  const app = await buildServer({ config: resolveServerConfig({ host: '127.0.0.1', port: 0, tlsCert: cert, tlsKey: key, logLevel: 'silent' }), store, retention: false });
  cleanups.push(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const body = '{"id":"evt_tls","type":"call.answered"}';
  const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/hooks/myoperator', method: 'POST', ca: readFileSync(cert), headers: { 'content-type': 'application/json', 'x-myoperator-signature': sign(body, TEST_SECRET) } },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
  expect(answer.status).toBe(200);
  expect(JSON.parse(answer.text)).toMatchObject({ accepted: true, id: 'evt_tls', seq: 1 });
});
