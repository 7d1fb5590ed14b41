import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../../test/support/cleanup.js';
import { freshSchema, TEST_DATABASE_URL, type TestSchema } from '../../test/support/postgres.js';
import { applyChannelSettings } from '../src/channel-settings.js';
import { resolveServerConfig } from '../src/config.js';
import { buildServer } from '../src/server.js';
import { createPool, type PostgresTimeouts } from '../src/store/postgres-connection.js';
import { openPostgresStore, type PostgresStore } from '../src/store/postgres-store.js';
import { expectConfigInvalid, sign } from './harness.js';
import { newEvent, rejectionOf } from './store-conformance.js';

const SECRET = 'whsec_bounds_0123456789abcdef';

/** Short bounds, so the tests spend little time waiting on them. */
const TIMEOUTS: PostgresTimeouts = { statementMs: 1_000, lockMs: 300, connectMs: 500 };

// Disposers of the current test, run newest first: servers close before stores, stores before their schema.
const disposers = cleanupAfterEach();

async function openStore(url: string): Promise<PostgresStore> {
  const store = await openPostgresStore({ url, poolSize: 4, timeouts: TIMEOUTS });
  disposers.push(() => store.close());
  await store.createChannel(applyChannelSettings('sales', { verify: 'hmac', secret: [SECRET] }).channel);
  return store;
}

interface Answer {
  status: number;
  code: string | undefined;
  message: string | undefined;
  /** `/readyz`'s category of why the store cannot take a write. */
  reason: string | undefined;
}

/** A relay-server on port 0 over `store`, with a signed webhook sender and a /readyz reader. */
async function serve(store: PostgresStore): Promise<{ post: (id: string) => Promise<Answer>; ready: () => Promise<Answer> }> {
  const app = await buildServer({
    config: resolveServerConfig({ host: '127.0.0.1', port: 0, logLevel: 'silent', rateLimitChannel: 0, rateLimitIp: 0 }),
    store,
    retention: false,
  });
  disposers.push(() => app.close());
  await app.listen({ host: '127.0.0.1', port: 0 });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const answer = async (res: Response): Promise<Answer> => {
    const body = (await res.json()) as { error?: { code: string; message: string }; reason?: string };
    return { status: res.status, code: body.error?.code, message: body.error?.message, reason: body.reason };
  };
  return {
    post: async (id) => {
      const body = JSON.stringify({ event_id: id, event_type: 'call.end' });
      const headers = { 'content-type': 'application/json', 'x-myoperator-signature': sign(body, SECRET) };
      return answer(await fetch(`${base}/hooks/sales`, { method: 'POST', headers, body }));
    },
    ready: async () => answer(await fetch(`${base}/readyz`)),
  };
}

/** A second session on the schema, as an operator's psql or a migration would hold it. */
async function session(schema: TestSchema): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: schema.url });
  await client.connect();
  disposers.push(() => client.end());
  return client;
}

async function storedIds(store: PostgresStore): Promise<string[]> {
  return (await store.listEvents({ visibleChannels: null, limit: 100 })).events.map((e) => e.id).sort();
}

const UNAVAILABLE = { status: 503, code: 'RELAY_E_STORE_UNAVAILABLE' };

describe('Postgres connections', () => {
  it('carry the statement and lock bounds, and no JIT compilation, whatever the server sets', async () => {
    const pool = createPool({ url: TEST_DATABASE_URL, size: 1, timeouts: TIMEOUTS, onIdleError: () => undefined });
    disposers.push(() => pool.end());
    const { rows } = await pool.query<{ statement_timeout: string; lock_timeout: string; jit: string }>(
      "SELECT current_setting('statement_timeout') AS statement_timeout, current_setting('lock_timeout') AS lock_timeout, current_setting('jit') AS jit",
    );
    expect(rows).toEqual([{ statement_timeout: '1s', lock_timeout: '300ms', jit: 'off' }]);
  });
});

describe('Postgres timeout settings', () => {
  it('defaults to bounds well under a few seconds, reads durations, and names a bad setting', () => {
    expect(resolveServerConfig({})).toMatchObject({ pgStatementTimeoutMs: 2_000, pgLockTimeoutMs: 1_000, pgConnectTimeoutMs: 2_000 });
    expect(resolveServerConfig({ pgStatementTimeout: '5s', pgLockTimeout: '500ms', pgConnectTimeout: '3s' })).toMatchObject({
      pgStatementTimeoutMs: 5_000,
      pgLockTimeoutMs: 500,
      pgConnectTimeoutMs: 3_000,
    });
    const invalid: [Record<string, unknown>, string][] = [
      [{ pgStatementTimeout: 'soon' }, '--pg-statement-timeout'],
      [{ pgStatementTimeout: '0s' }, '--pg-statement-timeout'],
      [{ pgLockTimeout: '0' }, '--pg-lock-timeout'],
      [{ pgStatementTimeout: '1s', pgLockTimeout: '2s' }, '--pg-lock-timeout'],
      [{ pgConnectTimeout: '0ms' }, '--pg-connect-timeout'],
    ];
    for (const [input, setting] of invalid) expectConfigInvalid(input, setting);
  });
});

describe('Postgres with the events table locked', () => {
  it('answers webhooks 503 while the lock is held, /readyz 503 with the reason, and both recover when it goes', async () => {
    const schema = await freshSchema(disposers);
    const store = await openStore(schema.url);
    const relay = await serve(store);
    const locker = await session(schema);
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE events IN ACCESS EXCLUSIVE MODE');

    // Several at once: one commit waits on the lock, the others queue behind it. The lock is
    // released only after every answer came back, so none of them is a late 200.
    const answers = await Promise.all(['locked-1', 'locked-2', 'locked-3', 'locked-4'].map((id) => relay.post(id)));
    for (const answer of answers) expect(answer).toMatchObject(UNAVAILABLE);
    // The sender learns nothing of the database; the operator's detail is in the error the log gets.
    expect(answers[0]?.message).not.toMatch(/lock|postgres/);
    await expect(store.appendEvent(newEvent('sales', 'direct'))).rejects.toThrow(/lock timeout.*--pg-lock-timeout/);
    const unready = await relay.ready();
    expect(unready).toMatchObject({ ...UNAVAILABLE, reason: 'locked' });
    await expect(store.checkWritable()).rejects.toThrow(/could not obtain lock on relation "[^"]*events": another session holds a lock that blocks appends/);

    await locker.query('ROLLBACK');
    expect(await relay.ready()).toMatchObject({ status: 200 });
    expect(await relay.post('after')).toMatchObject({ status: 200 });
    // A 503 stored nothing: the sender's retry is the only copy.
    expect(await storedIds(store)).toEqual(['after']);
  });

  it('refuses the appends queued behind a commit that met the lock with it, instead of holding them for another bound', async () => {
    const schema = await freshSchema(disposers);
    const store = await openStore(schema.url);
    const locker = await session(schema);
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE events IN ACCESS EXCLUSIVE MODE');
    const first = rejectionOf(store.appendEvent(newEvent('sales', 'waits-on-the-lock')));
    const waiting = (): Promise<unknown> =>
      schema.query<{ n: number }>(
        `SELECT COUNT(*)::int AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
         WHERE NOT l.granted AND c.relname = 'events' AND c.relnamespace = $1::regnamespace`,
        [schema.name],
      ).then((r) => r[0]?.n);
    await expect.poll(waiting, { timeout: 5_000 }).toBe(1);
    const queued = rejectionOf(store.appendEvent(newEvent('sales', 'queued-behind')));
    expect(await first).toMatchObject({ code: 'RELAY_E_STORE_UNAVAILABLE' });
    // Released at once: had the queued append gone on to a commit of its own, it would now succeed.
    await locker.query('ROLLBACK');
    expect(await queued).toMatchObject({ code: 'RELAY_E_STORE_UNAVAILABLE' });
    expect(await storedIds(store)).toEqual([]);
  });

  it('reports a lock on the channels table too, which every append updates', async () => {
    const schema = await freshSchema(disposers);
    const store = await openStore(schema.url);
    const relay = await serve(store);
    const locker = await session(schema);
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE channels IN SHARE MODE');
    const unready = await relay.ready();
    expect(unready).toMatchObject({ ...UNAVAILABLE, reason: 'locked' });
    await expect(store.checkWritable()).rejects.toThrow(/could not obtain lock on relation "[^"]*channels"/);
    expect(await relay.post('locked')).toMatchObject(UNAVAILABLE);
    await locker.query('ROLLBACK');
    expect(await relay.ready()).toMatchObject({ status: 200 });
  });

  it('stays ready while other sessions read events and write other tables', async () => {
    const schema = await freshSchema(disposers);
    const store = await openStore(schema.url);
    const relay = await serve(store);
    const reader = await session(schema);
    await reader.query('BEGIN');
    await reader.query('SELECT * FROM events');
    await reader.query("INSERT INTO meta (key, value) VALUES ('reader', 'in a transaction')");
    expect(await relay.ready()).toMatchObject({ status: 200 });
    expect(await relay.post('alongside')).toMatchObject({ status: 200 });
    await reader.query('ROLLBACK');
  });
});

describe('Postgres readiness', () => {
  it('answers /readyz 503 naming the missing tables once events is dropped', async () => {
    const schema = await freshSchema(disposers);
    const store = await openStore(schema.url);
    const relay = await serve(store);
    expect(await relay.ready()).toMatchObject({ status: 200 });
    await schema.query('DROP TABLE events');
    const unready = await relay.ready();
    expect(unready).toMatchObject(UNAVAILABLE);
    expect(unready.reason).toBe('schema-missing');
    await expect(store.checkWritable()).rejects.toThrow(`the relay's tables are missing from schema "${schema.name}"`);
    expect(await relay.post('nowhere')).toMatchObject(UNAVAILABLE);
  });

  it('answers /readyz 503 once the whole schema is dropped', async () => {
    const schema = await freshSchema(disposers);
    const store = await openStore(schema.url);
    const relay = await serve(store);
    await schema.drop();
    const unready = await relay.ready();
    expect(unready).toMatchObject(UNAVAILABLE);
    expect(unready.reason).toBe('schema-missing');
    await expect(store.checkWritable()).rejects.toThrow(`the relay's tables are missing from schema "${schema.name}"`);
  });

  it('answers /readyz 503 once new sessions are read-only, as on a standby, and 200 when writable again', async () => {
    const schema = await freshSchema(disposers);
    const role = pg.escapeIdentifier(`${schema.name}_relay`);
    await schema.query(`CREATE ROLE ${role} LOGIN`);
    // Runs after the store closed (disposers run newest first).
    disposers.push(() => schema.query(`DROP OWNED BY ${role}; DROP ROLE ${role}`).then(() => undefined));
    await schema.query(`GRANT USAGE, CREATE ON SCHEMA ${pg.escapeIdentifier(schema.name)} TO ${role}`);
    const url = new URL(schema.url);
    url.username = `${schema.name}_relay`;
    const store = await openStore(url.toString());
    const relay = await serve(store);
    expect(await relay.ready()).toMatchObject({ status: 200 });

    // The relay's connections end; the ones the pool opens next start read-only.
    const reconnect = (): Promise<unknown> => schema.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [`${schema.name}_relay`]);
    await schema.query(`ALTER ROLE ${role} SET default_transaction_read_only = on`);
    await reconnect();
    await expect.poll(async () => (await relay.ready()).reason, { timeout: 10_000 }).toBe('read-only');
    expect(await relay.post('refused')).toMatchObject(UNAVAILABLE);

    await schema.query(`ALTER ROLE ${role} RESET default_transaction_read_only`);
    await reconnect();
    await expect.poll(async () => (await relay.ready()).status, { timeout: 10_000 }).toBe(200);
  });
});

/**
 * A TCP proxy in front of the test Postgres that can stop answering without closing anything, as
 * a network that drops packets does: no reset, no FIN, just silence.
 */
async function startSilencingProxy(): Promise<{ port: number; silence: () => void; restore: () => void; close: () => Promise<void> }> {
  const target = new URL(TEST_DATABASE_URL);
  const sockets = new Set<Socket>();
  let silent = false;
  const server: Server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    // While silent, a new connection is accepted and never answered.
    if (silent) return;
    const upstream = connect(Number(target.port || 5432), target.hostname);
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    upstream.on('error', () => upstream.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    const forward = (from: Socket, to: Socket): void => {
      from.on('data', (chunk: Buffer) => {
        if (!silent) to.write(chunk);
      });
    };
    forward(client, upstream);
    forward(upstream, client);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const dropAll = (): void => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    port: (server.address() as AddressInfo).port,
    silence: () => {
      silent = true;
    },
    // The network is back; connections that went silent are long given up, as a real peer's would be.
    restore: () => {
      silent = false;
      dropAll();
    },
    close: async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      dropAll();
      await closed;
    },
  };
}

describe('Postgres that stops answering', () => {
  it('answers webhooks and /readyz 503 within the bounds instead of holding them, and recovers', async () => {
    const schema = await freshSchema(disposers);
    const proxy = await startSilencingProxy();
    disposers.push(proxy.close);
    const url = new URL(schema.url);
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    const store = await openStore(url.toString());
    const relay = await serve(store);
    expect(await relay.post('before')).toMatchObject({ status: 200 });

    proxy.silence();
    // The pooled connection is still open, so only the driver's own bound ends the wait.
    expect(await relay.post('during')).toMatchObject(UNAVAILABLE);
    expect(await relay.ready()).toMatchObject({ ...UNAVAILABLE, reason: expect.stringMatching(/^(unreachable|timeout)$/) });

    proxy.restore();
    await expect.poll(async () => (await relay.ready()).status, { timeout: 10_000 }).toBe(200);
    expect(await relay.post('after')).toMatchObject({ status: 200 });
    expect(await storedIds(store)).toEqual(['after', 'before']);
  });
});
