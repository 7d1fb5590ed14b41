import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalHandler, consumerConnected, deliveredIds, startClient } from './support/client.js';
import { REPO_ROOT, killAllChildren, startRelayServer, tempDir, type Runtime } from './support/processes.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  await killAllChildren();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const PACKAGES = ['packages/protocol', 'packages/cli-support', 'relay-server', 'relay-client'];

describe('deno.json', () => {
  it('exports what each package.json exports', () => {
    for (const dir of PACKAGES) {
      const pkg = JSON.parse(readFileSync(join(REPO_ROOT, dir, 'package.json'), 'utf8')) as { name: string; version: string; exports: { '.': { default: string } } };
      const deno = JSON.parse(readFileSync(join(REPO_ROOT, dir, 'deno.json'), 'utf8')) as { name: string; version: string; exports: string };
      expect({ name: deno.name, version: deno.version, exports: deno.exports }, dir).toEqual({ name: pkg.name, version: pkg.version, exports: pkg.exports['.'].default });
    }
    const root = JSON.parse(readFileSync(join(REPO_ROOT, 'deno.json'), 'utf8')) as { workspace: string[]; tasks: Record<string, string> };
    expect(root.workspace.map((w) => w.replace(/^\.\//, ''))).toEqual(PACKAGES);
    expect(Object.keys(root.tasks).sort()).toEqual(['relay-client', 'relay-server']);
  });
});

const MATRIX: [Runtime, Runtime][] = [
  ['node', 'deno'],
  ['deno', 'node'],
  ['deno', 'deno'],
];

describe.each(MATRIX)('relay-server on %s, relay-client on %s', (serverRuntime, clientRuntime) => {
  it('delivers triggered and posted events byte-exact, and records the ack', async () => {
    const dir = tempDir('relay-deno-');
    cleanups.push(dir.remove);
    const server = await startRelayServer({ dataDir: dir.path, runtime: serverRuntime, args: ['--log-level', 'warn'], readyTimeoutMs: 60_000 });
    const banner = server.banner;
    if (!banner) throw new Error('no first-start banner');
    const handler = new LocalHandler();
    await handler.start();
    cleanups.push(() => handler.stop());
    const client = startClient(['listen', '--relay', server.url, '--token', banner.adminToken, '--consumer', 'matrix', '--forward-to', handler.url, '--json'], {}, clientRuntime);
    await consumerConnected(server.url, banner.adminToken, 'myoperator', 'matrix', 1, 60_000);

    const body = '{"event_id":"evt_matrix", "event_type":"call.end","payload":{"x":"\\u00e9\\/"}}';
    const res = await fetch(`${server.url}/hooks/myoperator`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-MyOperator-Signature': createHmac('sha256', banner.secret).update(body).digest('hex') },
      body,
    });
    expect(res.status).toBe(200);
    const trigger = await fetch(`${server.url}/api/channels/myoperator/trigger`, {
      method: 'POST',
      headers: { authorization: `Bearer ${banner.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ flow: 'call', shape: 'seed' }),
    });
    expect(trigger.status).toBe(200);

    await handler.until((r) => deliveredIds(r).length >= 4, 'four events at the handler', 60_000);
    const posted = handler.requests.find((r) => LocalHandler.header(r, 'X-Relay-Event-Id') === 'evt_matrix');
    expect(posted?.body.toString()).toBe(body);
    for (const request of handler.requests) {
      expect(LocalHandler.header(request, 'X-MyOperator-Signature')).toBe(createHmac('sha256', banner.secret).update(request.body).digest('hex'));
    }
    expect(handler.requests.filter((r) => LocalHandler.header(r, 'X-Relay-Synthetic') === '1')).toHaveLength(3);
    await expect
      .poll(async () => {
        const deliveries = await fetch(`${server.url}/api/events/myoperator/evt_matrix/deliveries`, { headers: { authorization: `Bearer ${banner.adminToken}` } });
        return ((await deliveries.json()) as { attempts: { outcome: string | null }[] }).attempts.map((a) => a.outcome);
      }, { timeout: 20_000 })
      .toEqual(['acked']);
    expect((await client.stop()).code).toBe(130);
    expect((await server.stop(20_000)).code).toBe(0);
  });
});
