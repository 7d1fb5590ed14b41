import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalHandler, consumerConnected, deliveredIds, freePort, startClient, type ReceivedRequest } from './support/client.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../relay-server/src/store/postgres-schema.js';
import { createTestSchema, type TestSchema } from './support/postgres.js';
import { killAllChildren, runCliJson, startRelayServer, withTimeout, type RelayServerProcess } from './support/processes.js';

/** Every migration this relay-server applies to a new schema, as a migration report lists them. */
const ALL_MIGRATIONS = MIGRATIONS.map(({ version, name }) => ({ version, name }));

/**
 * Scale-out, end to end: several relay-server processes share one Postgres schema. Events posted
 * to any instance reach consumers connected to the others, nothing acknowledged is lost while
 * instances are SIGKILLed and restarted, and each consumer acks each event exactly once.
 */

const CHANNEL = 'myoperator';
const SECRET = 'whsec_multi_instance_secret_0123456789';
const SERVER_ARGS = [
  '--rate-limit-channel', '0',
  '--rate-limit-ip', '0',
  '--log-level', 'warn',
  '--ack-timeout', '2s',
  '--retry-initial', '100ms',
  '--retry-max', '500ms',
  '--heartbeat-interval', '1s',
];

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  await killAllChildren();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** N relay-server processes on fixed ports (clients reconnect to the same URL after a restart), sharing one schema. */
interface Cluster {
  schema: TestSchema;
  token: string;
  /** HMAC secret of the channel `myoperator`. */
  secret: string;
  servers: (RelayServerProcess | undefined)[];
  url(index: number): string;
  /** SIGKILLs instance `index` and starts it again on its port. */
  restart(index: number): Promise<void>;
}

/**
 * Starts `count` instances on a fresh schema. `prepared`: the admin CLI migrates it and creates
 * the channel and a token first; otherwise the instances start together on the empty schema and
 * one of them bootstraps it.
 */
async function startCluster(count: number, extraArgs: readonly string[], prepared: boolean): Promise<Cluster> {
  const schema = await createTestSchema('relay_multi');
  cleanups.push(() => schema.drop());
  let token = '';
  if (prepared) {
    const migration = await runCliJson(['migrate', '--database-url', schema.url, '--json']);
    expect(migration).toEqual({ engine: 'postgres', schema: schema.name, version: SCHEMA_VERSION, applied: ALL_MIGRATIONS });
    await runCliJson(['channel', 'add', CHANNEL, '--verify', 'hmac', '--secret', SECRET, '--json', '--database-url', schema.url]);
    token = ((await runCliJson(['token', 'create', '--name', 'admin', '--role', 'admin', '--json', '--database-url', schema.url])) as { token: string }).token;
  }

  const ports: number[] = [];
  while (ports.length < count) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  const start = (index: number): Promise<RelayServerProcess> =>
    startRelayServer({
      defaults: false,
      args: ['--port', String(ports[index]), '--host', '127.0.0.1', '--database-url', schema.url, ...SERVER_ARGS, ...extraArgs],
    });
  const servers: (RelayServerProcess | undefined)[] = await Promise.all(ports.map((_, i) => start(i)));
  const banners = servers.flatMap((server) => (server?.banner ? [server.banner] : []));
  // Exactly one instance bootstraps an empty store, however many start at once.
  expect(banners).toHaveLength(prepared ? 0 : 1);
  for (const server of servers) expect(server?.stdout()).toContain(`store postgres://postgres@127.0.0.1:5432/test schema ${schema.name}`);
  return {
    schema,
    token: banners[0]?.adminToken ?? token,
    secret: banners[0]?.secret ?? SECRET,
    servers,
    url: (index) => `http://127.0.0.1:${String(ports[index])}`,
    async restart(index) {
      const running = servers[index];
      servers[index] = undefined;
      expect((await running?.kill())?.signal).toBe('SIGKILL');
      servers[index] = await start(index);
    },
  };
}

/** A v2-style body whose bytes a re-serializing relay would change. */
function eventBody(id: string): string {
  return `{"event_id":"${id}", "event_type":"call.completed","payload":{"agent":"अमित","n":1.50}}`;
}

interface Accepted {
  seq: number;
  duplicate: boolean;
}

/** POSTs a signed event; rejects on a network failure (the instance is down or was killed mid-request). */
async function post(url: string, secret: string, id: string): Promise<{ status: number; accepted?: Accepted }> {
  const body = eventBody(id);
  const res = await fetch(`${url}/hooks/${CHANNEL}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-myoperator-signature': createHmac('sha256', secret).update(body).digest('hex') },
    body,
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  return res.ok ? { status: res.status, accepted: JSON.parse(text) as Accepted } : { status: res.status };
}

async function startHandler(): Promise<LocalHandler> {
  const handler = new LocalHandler();
  await handler.start();
  cleanups.push(() => handler.stop());
  return handler;
}

function listen(relayUrl: string, token: string, consumer: string, handler: LocalHandler): void {
  startClient(['listen', '--relay', relayUrl, '--token', token, '--channel', CHANNEL, '--consumer', consumer, '--since', '1', '--forward-to', handler.url, '--json']);
}

/** The first 2xx-answered request of each event id. */
function firstDeliveries(requests: readonly ReceivedRequest[]): Map<string, ReceivedRequest> {
  const byId = new Map<string, ReceivedRequest>();
  for (const r of requests) {
    const id = LocalHandler.header(r, 'X-Relay-Event-Id');
    if (id !== undefined && r.status >= 200 && r.status < 300 && !byId.has(id)) byId.set(id, r);
  }
  return byId;
}

/** Backends whose last statement was a LISTEN on this schema's wake-up channel. */
async function listenConnections(schema: TestSchema): Promise<number> {
  const rows = await schema.query<{ n: number }>(
    "SELECT COUNT(*)::int AS n FROM pg_stat_activity WHERE query LIKE 'LISTEN %' AND strpos(query, $1) > 0",
    [schema.name],
  );
  return rows[0]?.n ?? 0;
}

describe('several relay-server instances on one Postgres schema', () => {
  it('delivers every acknowledged event to every consumer, acked once each, while instances are SIGKILLed', { timeout: 180_000 }, async () => {
    const TOTAL = 300;
    const SENDERS = 4;
    const KILLS = 4;
    const cluster = await startCluster(3, ['--poll-interval', '1s'], true);
    const consumers = ['laptop-a', 'laptop-b'] as const;
    const handlers = [await startHandler(), await startHandler()];
    // The consumers sit on instances 0 and 1; events go to all three.
    listen(cluster.url(0), cluster.token, consumers[0], handlers[0] as LocalHandler);
    listen(cluster.url(1), cluster.token, consumers[1], handlers[1] as LocalHandler);
    await consumerConnected(cluster.url(0), cluster.token, CHANNEL, consumers[0]);
    await consumerConnected(cluster.url(1), cluster.token, CHANNEL, consumers[1]);
    // Each instance holds one LISTEN connection for this schema's wake-ups.
    await expect.poll(() => listenConnections(cluster.schema), { timeout: 10_000 }).toBe(3);

    const accepted = new Map<string, Accepted[]>();
    const unexpected: string[] = [];
    let networkFailures = 0;
    let progressWaiters: (() => void)[] = [];
    const reached = (count: number): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (accepted.size >= count) resolve();
          else progressWaiters.push(check);
        };
        check();
      });

    let nextEvent = 0;
    let turn = 0;
    const sender = async (): Promise<void> => {
      while (nextEvent < TOTAL) {
        const id = `evt_${String(nextEvent++).padStart(4, '0')}`;
        // Like MyOperator: an event that got no 2xx is sent again, here to the next instance.
        for (let attempt = 0; attempt < 50 && !accepted.has(id); attempt++) {
          const index = turn++ % 3;
          if (cluster.servers[index] === undefined) continue;
          try {
            const reply = await post(cluster.url(index), cluster.secret, id);
            if (reply.accepted) {
              accepted.set(id, [...(accepted.get(id) ?? []), reply.accepted]);
              for (const wake of progressWaiters.splice(0)) wake();
            } else if (reply.status !== 503) {
              unexpected.push(`${id}: HTTP ${reply.status} from instance ${index}`);
            }
          } catch {
            networkFailures++;
          }
        }
        if (!accepted.has(id)) unexpected.push(`${id}: never accepted`);
      }
    };
    const chaos = async (): Promise<void> => {
      for (let kill = 0; kill < KILLS; kill++) {
        await reached(Math.floor(((kill + 1) * TOTAL) / (KILLS + 1)));
        await cluster.restart(kill % 3);
      }
    };
    await withTimeout(Promise.all([chaos(), ...Array.from({ length: SENDERS }, () => sender())]), 120_000, 'posting with kills');
    progressWaiters = [];
    expect(unexpected).toEqual([]);
    expect(accepted.size).toBe(TOTAL);
    const ids = [...accepted.keys()].sort();

    // Every accepted event reaches both consumers' handlers, byte for byte.
    for (const handler of handlers) {
      await handler.until((requests) => new Set(deliveredIds(requests)).size >= TOTAL, 'every event at the handler', 60_000);
      const first = firstDeliveries(handler.requests);
      expect([...first.keys()].sort()).toEqual(ids);
      for (const id of ids) expect(first.get(id)?.body.toString('utf8'), id).toBe(eventBody(id));
    }

    // Stored once, at the seq every 2xx named.
    const rows = await cluster.schema.query<{ event_id: string; seq: number }>('SELECT event_id, seq::int AS seq FROM events');
    expect(rows.map((r) => r.event_id).sort()).toEqual(ids);
    expect(new Set(rows.map((r) => r.seq)).size).toBe(TOTAL);
    const seqById = new Map(rows.map((r) => [r.event_id, r.seq]));
    for (const [id, answers] of accepted) for (const answer of answers) expect(answer.seq, id).toBe(seqById.get(id));

    // Each consumer acked each event exactly once, as the API of an instance without consumers shows.
    const ackCounts = async (id: string): Promise<Record<string, number>> => {
      const res = await fetch(`${cluster.url(2)}/api/events/${CHANNEL}/${id}/deliveries`, { headers: { authorization: `Bearer ${cluster.token}` } });
      const { attempts } = (await res.json()) as { attempts: { consumer: string; outcome: string | null }[] };
      const counts: Record<string, number> = { [consumers[0]]: 0, [consumers[1]]: 0 };
      for (const a of attempts) if (a.outcome === 'acked') counts[a.consumer] = (counts[a.consumer] ?? 0) + 1;
      return counts;
    };
    // A handler's 2xx comes before the client's ack reaches the relay: wait for the last acks.
    await expect
      .poll(async () => (await cluster.schema.query<{ n: number }>("SELECT COUNT(*)::int AS n FROM deliveries WHERE state = 'acked'"))[0]?.n, { timeout: 30_000 })
      .toBe(2 * TOTAL);
    for (let i = 0; i < ids.length; i += 25) {
      const batch = ids.slice(i, i + 25);
      const counts = await Promise.all(batch.map(ackCounts));
      batch.forEach((id, j) => expect(counts[j], id).toEqual({ [consumers[0]]: 1, [consumers[1]]: 1 }));
    }
    const redelivered = handlers.map((h) => h.requests.length - TOTAL);
    console.info(`multi-instance: ${TOTAL} events, ${KILLS} SIGKILLs, ${networkFailures} requests cut, redeliveries per consumer ${redelivered.join('/')}`);
  });

  it('starts instances together on an empty schema, and delivers across them by polling alone with --pg-notify false', { timeout: 90_000 }, async () => {
    const POLL_MS = 500;
    // Both start together on an empty schema: one migrates and bootstraps, the other waits its turn.
    const cluster = await startCluster(2, ['--pg-notify', 'false', '--poll-interval', `${POLL_MS}ms`], false);
    const handler = await startHandler();
    listen(cluster.url(0), cluster.token, 'poller', handler);
    await consumerConnected(cluster.url(0), cluster.token, CHANNEL, 'poller');

    const latencies: number[] = [];
    for (let i = 0; i < 10; i++) {
      const id = `poll_${i}`;
      const reply = await post(cluster.url(1), cluster.secret, id);
      expect(reply.status).toBe(200);
      const stored = Date.now();
      await handler.until((requests) => deliveredIds(requests).includes(id), `${id} at the handler`, 10_000);
      latencies.push(Date.now() - stored);
    }
    // Nothing LISTENs: the events came through the poll. Arrival within a few poll intervals,
    // far below the 5 s default, shows the poll setting is what found them.
    expect(await listenConnections(cluster.schema)).toBe(0);
    expect(Math.max(...latencies)).toBeLessThan(POLL_MS * 5);
    console.info(`pg-notify false: delivery latencies ${latencies.join(', ')} ms with a ${POLL_MS} ms poll`);
  });
});
