import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalHandler, consumerConnected, deliveredIds, freePort, startClient, type ClientProcess } from './support/client.js';
import { killAllChildren, runCli, startRelayServer, tempDir, type RelayServerProcess } from './support/processes.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  await killAllChildren();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Setup {
  server: RelayServerProcess;
  dataDir: string;
  secret: string;
  token: string;
  handler: LocalHandler;
}

const SERVER_ARGS = ['--rate-limit-channel', '0', '--rate-limit-ip', '0', '--log-level', 'warn', '--retry-initial', '100ms', '--retry-max', '400ms', '--heartbeat-interval', '1s'];

async function setup(options: { port?: number } = {}): Promise<Setup> {
  const dir = tempDir('relay-listen-');
  cleanups.push(dir.remove);
  const server = await startRelayServer({
    dataDir: dir.path,
    args: [...SERVER_ARGS, ...(options.port ? ['--port', String(options.port), '--host', '127.0.0.1'] : [])],
    defaults: options.port === undefined,
  });
  if (!server.banner) throw new Error('first start printed no banner');
  const handler = new LocalHandler();
  await handler.start();
  cleanups.push(() => handler.stop());
  return { server, dataDir: dir.path, secret: server.banner.secret, token: server.banner.adminToken, handler };
}

function listen(s: Setup, extra: readonly string[] = [], relayUrl = s.server.url): ClientProcess {
  return startClient(['listen', '--relay', relayUrl, '--token', s.token, '--channel', 'myoperator', '--forward-to', s.handler.url, '--json', ...extra]);
}

/** A v2-style event body with some bytes a re-serializing relay would change. */
function eventBody(id: string, type = 'call.answered'): string {
  return `{"event_id":"${id}", "event_type":"${type}","payload":{"note":"caf\\u00e9 \\/ नमस्ते","n":1.50}}`;
}

async function post(url: string, secret: string, body: string, extraHeaders: Record<string, string> = {}): Promise<number> {
  const res = await fetch(`${url}/hooks/myoperator`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-MyOperator-Signature': createHmac('sha256', secret).update(body).digest('hex'), ...extraHeaders },
    body,
  });
  await res.arrayBuffer();
  return res.status;
}

async function postMany(s: Setup, count: number, prefix: string, type = 'call.answered', url = s.server.url): Promise<string[]> {
  const ids = Array.from({ length: count }, (_, i) => `${prefix}_${i}`);
  for (let i = 0; i < ids.length; i += 50) {
    const statuses = await Promise.all(ids.slice(i, i + 50).map((id) => post(url, s.secret, eventBody(id, type))));
    expect(statuses.every((st) => st === 200)).toBe(true);
  }
  return ids;
}

async function attempts(s: Setup, id: string): Promise<{ attempt: number; status: number | null; outcome: string | null; consumer: string }[]> {
  const res = await fetch(`${s.server.url}/api/events/myoperator/${id}/deliveries`, { headers: { authorization: `Bearer ${s.token}` } });
  return ((await res.json()) as { attempts: { attempt: number; status: number | null; outcome: string | null; consumer: string }[] }).attempts;
}

describe('relay-client listen', () => {
  it('delivers the exact bytes and headers, so the handler verifies the real signature', async () => {
    const s = await setup();
    listen(s, ['--consumer', 'laptop']);
    await consumerConnected(s.server.url, s.token, 'myoperator', 'laptop');
    const body = eventBody('evt_exact');
    expect(await post(s.server.url, s.secret, body, { 'X-Source': 'myoperator' })).toBe(200);
    await s.handler.until((r) => r.length >= 1, 'the event at the handler');
    const [request] = s.handler.requests;
    if (!request) throw new Error('no request');
    expect(request.method).toBe('POST');
    expect(request.url).toBe('/webhooks/myoperator?source=relay');
    expect(request.body.toString()).toBe(body);
    const signature = LocalHandler.header(request, 'X-MyOperator-Signature');
    expect(signature).toBe(createHmac('sha256', s.secret).update(request.body).digest('hex'));
    expect(LocalHandler.header(request, 'X-Source')).toBe('myoperator');
    expect(LocalHandler.header(request, 'Content-Length')).toBe(String(Buffer.byteLength(body)));
    expect(LocalHandler.header(request, 'Host')).toBe(`127.0.0.1:${s.handler.port}`);
    expect(LocalHandler.header(request, 'X-Relay-Event-Id')).toBe('evt_exact');
    expect(LocalHandler.header(request, 'X-Relay-Channel')).toBe('myoperator');
    expect(LocalHandler.header(request, 'X-Relay-Seq')).toBe('1');
    expect(LocalHandler.header(request, 'X-Relay-Attempt')).toBe('1');
    expect(Date.parse(LocalHandler.header(request, 'X-Relay-Received-At') ?? '')).not.toBeNaN();
    await expect.poll(async () => (await attempts(s, 'evt_exact')).map((a) => a.outcome)).toEqual(['acked']);
  });

  it('retries a failing handler and acks once: 500 three times, then 200, four attempts recorded', async () => {
    const s = await setup();
    s.handler.setPolicy((_r, index) => (index < 3 ? 500 : 200));
    listen(s, ['--consumer', 'laptop']);
    await consumerConnected(s.server.url, s.token, 'myoperator', 'laptop');
    await post(s.server.url, s.secret, eventBody('evt_flaky'));
    await s.handler.until((r) => r.length >= 4, 'four attempts');
    expect(s.handler.requests.map((r) => LocalHandler.header(r, 'X-Relay-Attempt'))).toEqual(['1', '2', '3', '4']);
    expect(new Set(s.handler.requests.map((r) => LocalHandler.header(r, 'X-Relay-Event-Id')))).toEqual(new Set(['evt_flaky']));
    await expect.poll(async () => (await attempts(s, 'evt_flaky')).map((a) => [a.attempt, a.status, a.outcome])).toEqual([
      [1, 500, 'retry'],
      [2, 500, 'retry'],
      [3, 500, 'retry'],
      [4, 200, 'acked'],
    ]);
    expect(s.handler.requests).toHaveLength(4);
  });

  it('delivers everything once a handler that was down comes back', async () => {
    const s = await setup();
    listen(s, ['--consumer', 'laptop']);
    await consumerConnected(s.server.url, s.token, 'myoperator', 'laptop');
    await s.handler.stop();
    const ids = await postMany(s, 20, 'down');
    await expect.poll(async () => (await attempts(s, 'down_0')).length, { timeout: 10_000 }).toBeGreaterThan(1);
    await s.handler.start();
    await s.handler.until((r) => new Set(deliveredIds(r)).size >= 20, 'all 20 events after the handler came back');
    expect(new Set(deliveredIds(s.handler.requests))).toEqual(new Set(ids));
  });

  it('redelivers with the same id when the client dies after the local 2xx but before its ack', async () => {
    const s = await setup();
    const client = listen(s, ['--consumer', 'laptop']);
    await consumerConnected(s.server.url, s.token, 'myoperator', 'laptop');
    // Freeze the client the moment the handler has the request: the 200 goes out, the ack never does.
    s.handler.onRequest = () => {
      s.handler.onRequest = undefined;
      client.child.kill('SIGSTOP');
    };
    await post(s.server.url, s.secret, eventBody('evt_lost_ack'));
    await s.handler.until((r) => r.length >= 1, 'the first delivery');
    await client.kill('SIGKILL');
    listen(s, ['--consumer', 'laptop']);
    await s.handler.until((r) => r.length >= 2, 'the redelivery');
    const [first, second] = s.handler.requests;
    expect(LocalHandler.header(second!, 'X-Relay-Event-Id')).toBe(LocalHandler.header(first!, 'X-Relay-Event-Id'));
    expect(Number(LocalHandler.header(second!, 'X-Relay-Attempt'))).toBeGreaterThan(1);
    expect(second!.body.equals(first!.body)).toBe(true);
  });

  it('on Ctrl-C while the handler is still answering, acks that event and never delivers it again', async () => {
    const s = await setup();
    let answer!: () => void;
    const answerGiven = new Promise<void>((resolve) => (answer = resolve));
    s.handler.setPolicy(async (_r, index) => {
      if (index === 0) await answerGiven;
      return 200;
    });
    const client = listen(s, ['--consumer', 'laptop']);
    await consumerConnected(s.server.url, s.token, 'myoperator', 'laptop');
    const arrived = new Promise<void>((resolve) => (s.handler.onRequest = () => resolve()));
    await post(s.server.url, s.secret, eventBody('evt_ctrl_c'));
    await arrived;
    client.child.kill('SIGINT');
    // The client has taken the stop (and told the relay) while the handler still holds the request.
    await client.line(/"type":"stopping"/);
    answer();
    // 130: interrupted (docs/errors.md, exit codes), after the event in flight was acked.
    expect((await client.exited).code).toBe(130);
    const summary = JSON.parse(await client.line(/"type":"summary"/)) as { delivered: number; pending: number };
    expect(summary).toMatchObject({ delivered: 1, pending: 0 });
    expect((await attempts(s, 'evt_ctrl_c')).map((a) => [a.attempt, a.status, a.outcome])).toEqual([[1, 200, 'acked']]);

    // The next listen gets the next event, and the acked one does not come back before or with it.
    listen(s, ['--consumer', 'laptop']);
    await consumerConnected(s.server.url, s.token, 'myoperator', 'laptop');
    await post(s.server.url, s.secret, eventBody('evt_after'));
    await s.handler.until((r) => deliveredIds(r).includes('evt_after'), 'the next event');
    expect(s.handler.requests.map((r) => LocalHandler.header(r, 'X-Relay-Event-Id'))).toEqual(['evt_ctrl_c', 'evt_after']);
  });

  it('quits at once on a second Ctrl-C, and the relay delivers the unanswered event again', async () => {
    const s = await setup();
    const never = new Promise<number>(() => undefined);
    s.handler.setPolicy((_r, index) => (index === 0 ? never : 200));
    const client = listen(s, ['--consumer', 'laptop']);
    await consumerConnected(s.server.url, s.token, 'myoperator', 'laptop');
    const arrived = new Promise<void>((resolve) => (s.handler.onRequest = () => resolve()));
    await post(s.server.url, s.secret, eventBody('evt_forced'));
    await arrived;
    client.child.kill('SIGINT');
    await client.line(/"type":"stopping"/);
    client.child.kill('SIGINT');
    expect((await client.exited).signal).toBe('SIGINT');

    listen(s, ['--consumer', 'laptop']);
    await s.handler.until((r) => deliveredIds(r).includes('evt_forced'), 'the redelivery');
    await expect.poll(async () => (await attempts(s, 'evt_forced')).map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'abandoned'],
      [2, 'acked'],
    ]);
  });

  it('catches up on 1000 events that arrived while the client was offline', async () => {
    const s = await setup();
    const first = listen(s, ['--consumer', 'laptop']);
    await consumerConnected(s.server.url, s.token, 'myoperator', 'laptop');
    expect((await first.stop()).code).toBe(130);
    const ids = await postMany(s, 1000, 'offline');
    listen(s, ['--consumer', 'laptop', '--window', '64']);
    await s.handler.until((r) => new Set(deliveredIds(r)).size >= 1000, '1000 events after reconnecting', 60_000);
    expect(new Set(deliveredIds(s.handler.requests))).toEqual(new Set(ids));
  });

  it('reconnects after the relay-server is killed and restarted, losing nothing', async () => {
    const port = await freePort();
    const s = await setup({ port });
    listen(s, ['--consumer', 'laptop']);
    await consumerConnected(s.server.url, s.token, 'myoperator', 'laptop');
    const before = await postMany(s, 10, 'before');
    await s.server.kill();
    const restarted = await startRelayServer({ dataDir: s.dataDir, args: [...SERVER_ARGS, '--port', String(port), '--host', '127.0.0.1'], defaults: false });
    const after = await postMany(s, 10, 'after', 'call.answered', restarted.url);
    await s.handler.until((r) => new Set(deliveredIds(r)).size >= 20, 'all events across the restart', 60_000);
    expect(new Set(deliveredIds(s.handler.requests))).toEqual(new Set([...before, ...after]));
  });

  it('gives two consumers every event, and two sessions of one consumer each event once', async () => {
    const s = await setup();
    const other = new LocalHandler();
    await other.start();
    cleanups.push(() => other.stop());
    listen(s, ['--consumer', 'alice']);
    startClient(['listen', '--relay', s.server.url, '--token', s.token, '--consumer', 'bob', '--forward-to', other.url, '--json']);
    await consumerConnected(s.server.url, s.token, 'myoperator', 'alice');
    await consumerConnected(s.server.url, s.token, 'myoperator', 'bob');
    const ids = await postMany(s, 30, 'fan');
    await s.handler.until((r) => deliveredIds(r).length >= 30, 'alice gets all');
    await other.until((r) => deliveredIds(r).length >= 30, 'bob gets all');
    expect(new Set(deliveredIds(s.handler.requests))).toEqual(new Set(ids));
    expect(new Set(deliveredIds(other.requests))).toEqual(new Set(ids));

    const shared = new LocalHandler();
    await shared.start();
    cleanups.push(() => shared.stop());
    const sharedArgs = ['listen', '--relay', s.server.url, '--token', s.token, '--consumer', 'team', '--forward-to', shared.url, '--json', '--window', '2'];
    startClient(sharedArgs);
    startClient(sharedArgs);
    await consumerConnected(s.server.url, s.token, 'myoperator', 'team', 2);
    const teamIds = await postMany(s, 40, 'team');
    await shared.until((r) => new Set(deliveredIds(r).filter((id) => id.startsWith('team_'))).size >= 40, 'the team gets all');
    const teamDeliveries = deliveredIds(shared.requests).filter((id) => id.startsWith('team_'));
    expect(teamDeliveries.sort()).toEqual([...teamIds].sort());
  });

  it('filters by event type, starts at --since, and keeps order with --ordered', async () => {
    const s = await setup();
    await postMany(s, 3, 'early');
    listen(s, ['--consumer', 'from-2', '--since', '2']);
    await s.handler.until((r) => deliveredIds(r).length >= 2, 'events from seq 2');
    expect(deliveredIds(s.handler.requests).sort()).toEqual(['early_1', 'early_2']);

    const filtered = new LocalHandler();
    await filtered.start();
    cleanups.push(() => filtered.stop());
    startClient(['listen', '--relay', s.server.url, '--token', s.token, '--consumer', 'ends', '--events', 'call.end,message.*', '--forward-to', filtered.url, '--json']);
    await consumerConnected(s.server.url, s.token, 'myoperator', 'ends');
    const ordered = new LocalHandler((_r, i) => (i === 1 ? 503 : 200));
    await ordered.start();
    cleanups.push(() => ordered.stop());
    startClient(['listen', '--relay', s.server.url, '--token', s.token, '--consumer', 'in-order', '--ordered', '--forward-to', ordered.url, '--json']);
    await consumerConnected(s.server.url, s.token, 'myoperator', 'in-order');

    await postMany(s, 2, 'answered', 'call.answered');
    await postMany(s, 2, 'ended', 'call.end');
    await postMany(s, 1, 'msg', 'message.received');
    await filtered.until((r) => deliveredIds(r).length >= 3, 'the filtered events');
    expect(deliveredIds(filtered.requests).sort()).toEqual(['ended_0', 'ended_1', 'msg_0']);
    await ordered.until((r) => deliveredIds(r).length >= 5, 'the ordered events');
    const seen = ordered.requests.map((r) => `${LocalHandler.header(r, 'X-Relay-Seq')}#${LocalHandler.header(r, 'X-Relay-Attempt')}`);
    expect(seen).toEqual(['4#1', '5#1', '5#2', '6#1', '7#1', '8#1']);
  });

  it('refuses a bad token before any event, with exit code 2', async () => {
    const s = await setup();
    await postMany(s, 2, 'secret');
    const client = startClient(['listen', '--relay', s.server.url, '--token', 'mrt_not-a-token', '--since', '1', '--forward-to', s.handler.url, '--json']);
    expect((await client.exited).code).toBe(2);
    expect(s.handler.requests).toEqual([]);
    expect(client.stdout() + client.stderr()).not.toContain('mrt_not-a-token');
  });

  it('refuses a developer token on a channel it lacks', async () => {
    const s = await setup();
    await runCli(['channel', 'add', 'sales', '--data-dir', s.dataDir]);
    const created = await runCli(['token', 'create', '--name', 'dev', '--channels', 'sales', '--json', '--data-dir', s.dataDir]);
    const { token } = JSON.parse(created.stdout) as { token: string };
    await postMany(s, 1, 'private');
    const client = startClient(['listen', '--relay', s.server.url, '--token', token, '--channel', 'myoperator', '--since', '1', '--forward-to', s.handler.url, '--json']);
    const { code } = await client.exited;
    expect(code).not.toBe(0);
    expect(client.stdout() + client.stderr()).toContain('RELAY_E_WS_CHANNEL_FORBIDDEN');
    expect(s.handler.requests).toEqual([]);
  });
});
