import { Buffer } from 'node:buffer';
import { createHmac } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { DeliveryListView } from '@myop-relay/protocol';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { consumerConnected, runClient, startClient } from './support/client.js';
import { killAllChildren, startRelayServer, tempDir, type RelayServerProcess } from './support/processes.js';

const noConfig = tempDir('relay-answers-config-');

const cleanups: (() => void | Promise<void>)[] = [];
afterAll(() => noConfig.remove());
afterEach(async () => {
  await killAllChildren();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** The handler's failing answer: 60 headers and a 10 KiB body whose first line says what broke. */
const FIRST_LINE = 'boom: database is down';
const FAILING_BODY = Buffer.concat([Buffer.from(`\n${FIRST_LINE}\n    at query (db.js:12)\n`), Buffer.alloc(10 * 1024, 'x')]);

interface Setup {
  server: RelayServerProcess;
  secret: string;
  token: string;
  handlerUrl: string;
  /** Statuses the handler answers with, in order; 200 once they run out. */
  statuses: number[];
}

/** @param retry - the relay's redelivery delay (`--retry-initial` and `--retry-max`). */
async function setup(retry = '100ms'): Promise<Setup> {
  const dir = tempDir('relay-answers-');
  cleanups.push(dir.remove);
  const server = await startRelayServer({ dataDir: dir.path, args: ['--rate-limit-channel', '0', '--rate-limit-ip', '0', '--log-level', 'warn', '--retry-initial', retry, '--retry-max', retry] });
  if (!server.banner) throw new Error('first start printed no banner');
  const statuses: number[] = [];
  const handler: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const status = statuses.shift() ?? 200;
      if (status === 200) {
        res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
        return;
      }
      const headers: [string, string][] = [['Content-Type', 'text/plain']];
      for (let i = 0; i < 60; i++) headers.push([`X-Trace-${i}`, `value-${i}`]);
      res.writeHead(status, headers.flat());
      res.end(FAILING_BODY);
    });
  });
  handler.listen(0, '127.0.0.1');
  await once(handler, 'listening');
  cleanups.push(async () => {
    handler.closeAllConnections();
    handler.close();
    await once(handler, 'close');
  });
  const handlerUrl = `http://127.0.0.1:${(handler.address() as AddressInfo).port}/webhooks/myoperator`;
  return { server, secret: server.banner.secret, token: server.banner.adminToken, handlerUrl, statuses };
}

async function post(s: Setup, id: string): Promise<void> {
  const body = JSON.stringify({ event_id: id, event_type: 'call.end' });
  const res = await fetch(`${s.server.url}/hooks/myoperator`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-MyOperator-Signature': createHmac('sha256', s.secret).update(body).digest('hex') },
    body,
  });
  await res.arrayBuffer();
  expect(res.status).toBe(200);
}

async function deliveries(s: Setup, id: string): Promise<DeliveryListView> {
  const res = await fetch(`${s.server.url}/api/events/myoperator/${id}/deliveries`, { headers: { authorization: `Bearer ${s.token}` } });
  return (await res.json()) as DeliveryListView;
}

describe("the handler's answers", () => {
  it('are named in listen\'s result lines with the first line of a failure, and recorded per attempt within their bounds', async () => {
    const s = await setup();
    s.statuses.push(500);
    const client = startClient(['listen', '--relay', s.server.url, '--token', s.token, '--channel', 'myoperator', '--forward-to', s.handlerUrl, '--consumer', 'laptop']);
    await consumerConnected(s.server.url, s.token, 'myoperator', 'laptop');
    await post(s, 'evt_answer');

    const failed = await client.line(/<-- \[500\]/);
    expect(failed).toMatch(/<-- \[500\] call\.end {2}evt_answer {2}\d+ ms {2}next attempt in /);
    await client.line(/<-- \[200\] call\.end {2}evt_answer {2}\d+ ms$/);
    const lines = client.stdout().split('\n');
    expect(lines[lines.indexOf(failed) + 1]?.trim()).toBe(FIRST_LINE);

    await expect.poll(async () => (await deliveries(s, 'evt_answer')).attempts.map((a) => a.outcome)).toEqual(['retry', 'acked']);
    const [first, second] = (await deliveries(s, 'evt_answer')).attempts;
    expect(first).toMatchObject({ status: 500, responseBytes: FAILING_BODY.length, responseBodyTruncated: true });
    expect(Buffer.from(first?.responseBody ?? '', 'base64').equals(FAILING_BODY.subarray(0, 4096))).toBe(true);
    // Node adds Date, Connection, Keep-Alive and Content-Length; the report stops at 50 pairs.
    expect(first?.responseHeaders).toHaveLength(50);
    expect(first?.responseHeaders?.slice(0, 2)).toEqual([
      ['Content-Type', 'text/plain'],
      ['X-Trace-0', 'value-0'],
    ]);
    expect(second).toMatchObject({ status: 200, responseBody: Buffer.from('ok').toString('base64'), responseBytes: 2, responseBodyTruncated: false });
    expect(second?.responseHeaders).toContainEqual(['Content-Type', 'text/plain']);
    await client.stop();

    const shown = await runClient(['events', 'show', 'evt_answer', '--relay', s.server.url, '--token', s.token], { env: { XDG_CONFIG_HOME: noConfig.path } });
    expect(shown.code, shown.stderr).toBe(0);
    const out = shown.stdout.split('\n');
    const answer = out.indexOf(`answer to laptop, attempt 1 (500, body 10.0 KiB, first 4.0 KiB recorded):`);
    expect(answer, shown.stdout).toBeGreaterThan(0);
    expect(out.slice(answer + 1, answer + 3)).toEqual(['  Content-Type: text/plain', '  X-Trace-0: value-0']);
    expect(out.slice(answer)).toContain(`    ${FIRST_LINE}`);
    expect(out).toContain('answer to laptop, attempt 2 (200, body 2 B):');
  });

  it('make status fail while a consumer has failing events, naming the last error', async () => {
    // No second attempt comes during the test: the event stays failing, not in flight.
    const s = await setup('1h');
    s.statuses.push(500);
    const client = startClient(['listen', '--relay', s.server.url, '--token', s.token, '--channel', 'myoperator', '--forward-to', s.handlerUrl, '--consumer', 'laptop']);
    await consumerConnected(s.server.url, s.token, 'myoperator', 'laptop');
    await post(s, 'evt_failing');
    await client.line(/<-- \[500\] call\.end {2}evt_failing/);
    await client.stop();

    const status = await runClient(['status', '--relay', s.server.url, '--token', s.token, '--consumer', 'laptop'], { env: { XDG_CONFIG_HOME: noConfig.path } });
    expect(status.code, status.stdout).toBe(1);
    expect(status.stdout).toMatch(/channel myoperator, consumer laptop: 1 event failing \(retried\); last error: call\.end evt_failing attempt \d+ at .+: HTTP 500 boom: database is down/);
    expect(status.stdout).toContain('status: 1 problem');
  });

  it('are not recorded with --capture-bytes 0, but their status still is', async () => {
    const s = await setup();
    const client = startClient(['listen', '--relay', s.server.url, '--token', s.token, '--channel', 'myoperator', '--forward-to', s.handlerUrl, '--consumer', 'laptop', '--capture-bytes', '0']);
    await consumerConnected(s.server.url, s.token, 'myoperator', 'laptop');
    await post(s, 'evt_quiet');
    await client.line(/<-- \[200\] call\.end {2}evt_quiet/);
    await expect.poll(async () => (await deliveries(s, 'evt_quiet')).attempts.map((a) => a.outcome)).toEqual(['acked']);
    const [attempt] = (await deliveries(s, 'evt_quiet')).attempts;
    expect(attempt?.status).toBe(200);
    expect(attempt).not.toHaveProperty('responseBody');
    expect(attempt).not.toHaveProperty('responseHeaders');
    await client.stop();
  });
});
