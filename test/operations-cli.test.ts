import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { killAllChildren, runCli, startRelayServer, tempDir } from './support/processes.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  await killAllChildren();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describe('operating a running relay-server from the command line', () => {
  it('serves metrics on --metrics-listen and passes doctor while it runs; doctor exits 1 without a store', async () => {
    const dir = tempDir('relay-ops-');
    cleanups.push(dir.remove);
    const dataDir = join(dir.path, 'data');
    const server = await startRelayServer({ dataDir, args: ['--metrics-listen', '127.0.0.1:0', '--log-level', 'warn'] });
    const metricsUrl = /^relay-server metrics: (http:\/\/127\.0\.0\.1:\d+\/metrics)$/m.exec(server.stdout())?.[1];
    expect(metricsUrl, server.stdout()).toBeDefined();
    const scrape = await fetch(metricsUrl ?? '');
    expect(scrape.status).toBe(200);
    expect(await scrape.text()).toMatch(/^relay_store_up 1$/m);

    const healthy = await runCli(['doctor', '--data-dir', dataDir, '--json']);
    expect(healthy.code, healthy.stderr).toBe(0);
    const report = JSON.parse(healthy.stdout) as { ok: boolean; checks: { name: string; status: string }[] };
    expect(report.ok).toBe(true);
    expect(report.checks.filter((c) => c.status !== 'ok')).toEqual([]);

    const missing = await runCli(['doctor', '--data-dir', join(dir.path, 'nothing-here')]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(/^ {2}fail {2}schema +no relay store at /m);
    await server.stop();
  });
});
