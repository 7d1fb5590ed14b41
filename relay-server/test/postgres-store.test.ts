import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../../test/support/cleanup.js';
import { adminQuery, freshSchema, TEST_DATABASE_URL, type TestSchema, urlWithSchema } from '../../test/support/postgres.js';
import { resolveServerConfig } from '../src/config.js';
import { RelayError } from '../src/errors.js';
import { expectConfigInvalid } from './harness.js';
import { buildServer } from '../src/server.js';
import { describeDatabaseUrl } from '../src/store/postgres-connection.js';
import { globToLike } from '../src/store/postgres-delivery.js';
import { notifyChannel, openPostgresStore, PostgresStore, type PostgresStoreOptions } from '../src/store/postgres-store.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../src/store/postgres-schema.js';
import type { ClaimRequest, Delivery, Store } from '../src/store/store.js';
import { openConformanceStore } from './postgres-conformance.js';
import { describeStoreConformance, expectRelayError, newEvent, plainChannel, rejectionOf, seqOf, T0 } from './store-conformance.js';

/** Every migration this relay-server applies to a new schema, as a migration report lists them. */
const ALL_MIGRATIONS = MIGRATIONS.map(({ version, name }) => ({ version, name }));

describeStoreConformance('postgres', () => openConformanceStore());

// Disposers of the current test, run newest first: stores close before their schema is dropped.
const disposers = cleanupAfterEach();

/** A store on `schema`, as one relay-server process would open it; closed after the test. */
async function instance(schema: TestSchema, options: Partial<PostgresStoreOptions> = {}): Promise<PostgresStore> {
  const store = await openPostgresStore({ url: schema.url, poolSize: 4, ...options });
  disposers.push(() => store.close());
  return store;
}

/** `count` processes sharing one fresh schema that holds the channel `sales`. */
async function instances(count: number, options: Partial<PostgresStoreOptions> = {}): Promise<{ schema: TestSchema; stores: PostgresStore[] }> {
  const schema = await freshSchema(disposers);
  const stores: PostgresStore[] = [];
  for (let i = 0; i < count; i++) stores.push(await instance(schema, options));
  await stores[0]?.createChannel(plainChannel('sales'));
  return { schema, stores };
}

function the<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`missing ${what}`);
  return value;
}

function claimRequest(session: string, fields: Partial<ClaimRequest> = {}): ClaimRequest {
  return { channel: 'sales', consumer: 'shared', session, limit: 5, ordered: false, now: new Date(T0), leaseMs: 60_000, ...fields };
}

async function ack(store: Store, session: string, delivery: Delivery, now = new Date(T0)): Promise<boolean> {
  return store.ackDelivery({ channel: 'sales', consumer: 'shared', seq: delivery.event.seq, attempt: delivery.attempt, session, now, latencyMs: 1, status: 200 });
}

describe('Postgres settings', () => {
  it('reads the URL, notifications and pool size, and names a bad setting without repeating the password', () => {
    expect(resolveServerConfig({ databaseUrl: 'postgresql://relay:pw@db:5432/relay', pgNotify: 'false', pgPoolSize: '4' })).toMatchObject({
      databaseUrl: 'postgresql://relay:pw@db:5432/relay',
      pgNotify: false,
      pgPoolSize: 4,
    });
    expect(resolveServerConfig({})).toMatchObject({ databaseUrl: undefined, pgNotify: true, pgPoolSize: 10, pgPreparedStatements: true, pgAsyncDeliveryCommit: true });
    expect(resolveServerConfig({ pgPreparedStatements: 'false', pgAsyncDeliveryCommit: 'false' })).toMatchObject({ pgPreparedStatements: false, pgAsyncDeliveryCommit: false });
    const invalid: [Record<string, unknown>, string][] = [
      [{ databaseUrl: 'mysql://relay:sekrit@db/relay' }, '--database-url'],
      [{ databaseUrl: 'db.example.com sekrit' }, '--database-url'],
      [{ databaseUrl: 'postgres://relay:sekrit@db/relay', maxDbSize: '1GiB' }, '--max-db-size'],
      [{ pgNotify: 'maybe' }, '--pg-notify'],
      [{ pgPoolSize: 0 }, '--pg-pool-size'],
      [{ pgPreparedStatements: 'sometimes' }, '--pg-prepared-statements'],
      [{ pgAsyncDeliveryCommit: 'maybe' }, '--pg-async-delivery-commit'],
    ];
    for (const [input, setting] of invalid) expect(expectConfigInvalid(input, setting).message).not.toContain('sekrit');
  });

  it('describes the store without the password or the query string', () => {
    expect(describeDatabaseUrl('postgres://relay:sekrit@db.internal:5432/relay?options=-c%20search_path%3Dx&password=other')).toBe('postgres://relay@db.internal:5432/relay');
  });
});


describe('PostgresStore migrations', () => {
  it('records the schema version and applies nothing on the next open', async () => {
    const schema = await freshSchema(disposers);
    const first = await PostgresStore.open({ url: schema.url, poolSize: 1 });
    await first.store.close();
    expect(first.migration).toEqual({ schema: schema.name, version: SCHEMA_VERSION, applied: ALL_MIGRATIONS });
    const second = await PostgresStore.open({ url: schema.url, poolSize: 1 });
    await second.store.close();
    expect(second.migration.applied).toEqual([]);
    expect(await schema.query('SELECT version FROM schema_migrations ORDER BY version')).toEqual(ALL_MIGRATIONS.map(({ version }) => ({ version })));
  });

  it('plans the append once per connection, not on every call (its array parameters would make each plan a custom one)', async () => {
    const schema = await freshSchema(disposers);
    await (await instance(schema)).close();
    const functions = await schema.query(
      "SELECT p.proname AS name, p.proconfig AS config FROM pg_proc p WHERE p.pronamespace = current_schema()::regnamespace AND p.proname LIKE 'relay\\_%' ORDER BY p.proname",
    );
    expect(functions).toEqual([
      { name: 'relay_append_events', config: ['plan_cache_mode=force_generic_plan'] },
      { name: 'relay_consumer_turn', config: null },
      { name: 'relay_like_patterns', config: null },
    ]);
  });

  it('lets one of several processes starting together apply each migration, without errors', async () => {
    const schema = await freshSchema(disposers);
    const opened = await Promise.all(Array.from({ length: 6 }, () => PostgresStore.open({ url: schema.url, poolSize: 1 })));
    for (const { store } of opened) await store.close();
    expect(opened.flatMap((o) => o.migration.applied)).toEqual(ALL_MIGRATIONS);
  });

  it('refuses a schema written by a newer relay-server with RELAY_E_STORE_VERSION and leaves it untouched', async () => {
    const schema = await freshSchema(disposers);
    await (await instance(schema)).close();
    await schema.query("INSERT INTO schema_migrations (version, name) VALUES (99, 'from the future')");
    await expectRelayError(openPostgresStore({ url: schema.url }), 'RELAY_E_STORE_VERSION');
    expect(await schema.query('SELECT version FROM schema_migrations ORDER BY version')).toEqual([...ALL_MIGRATIONS.map(({ version }) => ({ version })), { version: 99 }]);
  });

  it('upgrades a version 1 schema, reading the sessions of stored v2 events from their bodies', async () => {
    const schema = await freshSchema(disposers);
    const initial = MIGRATIONS.find((m) => m.version === 1);
    await schema.query(`${initial?.sql ?? ''}
      CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
      INSERT INTO schema_migrations (version, name) VALUES (1, 'initial schema');
      INSERT INTO channels (name, config, last_seq, created_at) VALUES ('sales', '{}', 0, now());`);
    const bodies: Record<string, Buffer> = {
      v2: Buffer.from('{"event_id":"v2","event_type":"call.answered","session_id":"call-1"}'),
      numeric: Buffer.from('{"event_id":7,"session_id":42}'),
      seed: Buffer.from('{"id":"seed","type":"call.answered","session_id":"call-1"}'),
      broken: Buffer.from('{"event_id":"broken","session_id":'),
      latin1: Buffer.from([0x7b, 0x22, 0x73, 0x65, 0x73, 0x73, 0x69, 0x6f, 0x6e, 0x5f, 0x69, 0x64, 0x22, 0x3a, 0xff, 0x7d]),
    };
    let seq = 0;
    for (const [id, body] of Object.entries(bodies)) {
      seq += 1;
      await schema.query(
        `INSERT INTO events (channel, seq, event_id, event_type, received_at, source_ip, headers, body) VALUES ('sales', $1, $2, 'x', now(), '127.0.0.1', '[]', $3)`,
        [seq, id, body],
      );
    }
    const { store, migration } = await PostgresStore.open({ url: schema.url, poolSize: 1 });
    disposers.push(() => store.close());
    expect(migration.applied).toEqual(ALL_MIGRATIONS.slice(1));
    const sessions = Object.fromEntries((await store.listEvents({ visibleChannels: null, limit: 10 })).events.map((e) => [e.id, e.session]));
    expect(sessions).toEqual({ v2: 'call-1', numeric: '42', seed: null, broken: null, latin1: null });
    expect((await store.listEvents({ visibleChannels: null, session: 'call-1', limit: 10 })).events.map((e) => e.id)).toEqual(['v2']);
    expect((await store.getEvent('sales', 'v2'))?.verification).toBeNull();
  });

  it('refuses an empty schema when asked not to create (admin commands), and a search_path naming no schema', async () => {
    const schema = await freshSchema(disposers);
    await expectRelayError(openPostgresStore({ url: schema.url }, false), 'RELAY_E_CONFIG_INVALID');
    expect(await schema.query("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")).toEqual([]);
    await expectRelayError(openPostgresStore({ url: urlWithSchema(`${schema.name}_missing`) }), 'RELAY_E_CONFIG_INVALID');
  });
});

describe('PostgresStore appends', () => {
  /** The schema that holds pg_walinspect (Postgres 15 and later): one made for the test's schema, or one already in the database. */
  async function walInspect(schema: TestSchema): Promise<string> {
    const existing = await schema.query<{ ns: string }>("SELECT extnamespace::regnamespace::text AS ns FROM pg_extension WHERE extname = 'pg_walinspect'");
    if (existing[0] !== undefined) return existing[0].ns;
    // Dropped with the schema.
    await schema.query(`CREATE EXTENSION pg_walinspect SCHEMA ${pg.escapeIdentifier(schema.name)}`);
    return pg.escapeIdentifier(schema.name);
  }

  it('sends an event to consumers once committed, and answers its append only after a synchronous commit made after it', async () => {
    const schema = await freshSchema(disposers);
    const store = await instance(schema);
    await store.createChannel(plainChannel('sales'));
    const inspect = await walInspect(schema);
    const [{ start }] = (await schema.query<{ start: string }>('SELECT pg_current_wal_insert_lsn()::text AS start')) as [{ start: string }];
    const order: string[] = [];
    disposers.push(store.onCommitted((channel) => order.push(`committed ${channel}`)));
    const result = await store.appendEvent(newEvent('sales', 'evt_durable'));
    order.push('answered');
    const [{ flushed }] = (await schema.query<{ flushed: string }>('SELECT pg_current_wal_flush_lsn()::text AS flushed')) as [{ flushed: string }];
    expect(result).toEqual({ ok: true, seq: 1, duplicate: false });
    expect(order).toEqual(['committed sales', 'answered']);
    // The WAL flushed by then (pg_walinspect reads no further) holds the event's commit, and after
    // it a commit of the relay's own message, the synchronous commit the append waited for.
    const records = await schema.query<{ kind: string }>(
      `WITH wal AS (SELECT * FROM ${inspect}.pg_get_wal_records_info($1::pg_lsn, $2::pg_lsn)),
        event_commit AS (SELECT w.end_lsn FROM wal w WHERE w.record_type = 'COMMIT' AND w.xid = (SELECT xmin::text::xid FROM events WHERE event_id = 'evt_durable'))
      SELECT 'event' AS kind FROM event_commit
      UNION ALL SELECT 'flush' FROM wal m JOIN wal c ON c.xid = m.xid AND c.record_type = 'COMMIT'
        WHERE m.resource_manager = 'LogicalMessage' AND m.description LIKE '%myop-relay%' AND m.start_lsn >= (SELECT end_lsn FROM event_commit)`,
      [start, flushed],
    );
    expect(records).toEqual([{ kind: 'event' }, { kind: 'flush' }]);
  });
});

describe('PostgresStore with a role that may not flush', () => {
  it('refuses to open with RELAY_E_CONFIG_INVALID naming pg_logical_emit_message and what to grant', async () => {
    // A database and a role of the test's own: function grants belong to one database.
    const suffix = randomBytes(5).toString('hex');
    const database = `relay_grant_${suffix}`;
    const role = `relay_grant_${suffix}`;
    const urlOf = (user: string, db: string): string => {
      const url = new URL(TEST_DATABASE_URL);
      url.username = user;
      url.pathname = `/${db}`;
      return url.toString();
    };
    await adminQuery(`CREATE DATABASE ${database}`);
    disposers.push(() => adminQuery(`DROP ROLE IF EXISTS ${role}`));
    disposers.push(() => adminQuery(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`));
    await adminQuery(`CREATE ROLE ${role} LOGIN`);
    await adminQuery(
      `CREATE SCHEMA relay AUTHORIZATION ${role}; REVOKE EXECUTE ON FUNCTION pg_logical_emit_message(boolean, text, text) FROM PUBLIC`,
      urlOf(new URL(TEST_DATABASE_URL).username, database),
    );
    const refusal = await rejectionOf(openPostgresStore({ url: urlWithSchema('relay', urlOf(role, database)), poolSize: 1 }));
    expect(refusal).toBeInstanceOf(RelayError);
    expect(refusal).toMatchObject({ code: 'RELAY_E_CONFIG_INVALID' });
    expect((refusal as RelayError).message).toMatch(/pg_logical_emit_message.*GRANT EXECUTE ON FUNCTION pg_logical_emit_message\(boolean, text, text\) TO <role>/);
  });
});

describe('PostgresStore across processes', () => {
  it('gives concurrent appends of one event id from two processes one seq and one duplicate', async () => {
    const { stores } = await instances(2);
    const [a, b] = [the(stores[0], 'a'), the(stores[1], 'b')];
    const ids = Array.from({ length: 60 }, (_, i) => `evt-${i}`);
    // Rounds with different orders, so the two processes' batches meet at different points.
    const results = new Map<string, { seq: number; duplicate: boolean }[]>();
    for (let round = 0; round < 3; round++) {
      const slice = ids.slice(round * 20, round * 20 + 20);
      const fromA = slice.map((id) => a.appendEvent(newEvent('sales', id, { body: Uint8Array.from([1]) })));
      const fromB = [...slice].reverse().map((id) => b.appendEvent(newEvent('sales', id, { body: Uint8Array.from([2]) })));
      const answers = await Promise.all([...fromA, ...fromB]);
      [...slice, ...[...slice].reverse()].forEach((id, i) => {
        const answer = the(answers[i], 'answer');
        if (!answer.ok) throw new Error(`refused: ${answer.reason}`);
        results.set(id, [...(results.get(id) ?? []), { seq: answer.seq, duplicate: answer.duplicate }]);
      });
    }
    for (const [id, answers] of results) {
      expect(new Set(answers.map((r) => r.seq)).size, id).toBe(1);
      expect(answers.map((r) => r.duplicate).sort(), id).toEqual([false, true]);
    }
    expect([...results.values()].map((r) => the(r[0], 'seq').seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    expect(await b.channelStats('sales')).toMatchObject({ events: 60, lastSeq: 60 });
  });

  it('numbers concurrent appends from three processes gap-free', async () => {
    const { stores } = await instances(3);
    const answers = await Promise.all(stores.flatMap((store, s) => Array.from({ length: 100 }, (_, i) => store.appendEvent(newEvent('sales', `p${s}-${i}`)))));
    expect(answers.map(seqOf).sort((x, y) => x - y)).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
  });

  it('commits appends issued together in one transaction', async () => {
    const { schema, stores } = await instances(1);
    const store = the(stores[0], 'store');
    await Promise.all(Array.from({ length: 100 }, (_, i) => store.appendEvent(newEvent('sales', `e${i}`))));
    // Rows written by one transaction share its id (xmin).
    expect(await schema.query('SELECT COUNT(DISTINCT xmin::text)::int AS transactions FROM events')).toEqual([{ transactions: 1 }]);
  });

  it('never hands one event to two sessions when processes claim for one consumer at once', async () => {
    const { stores } = await instances(2);
    const total = 200;
    for (let i = 0; i < total; i++) seqOf(await the(stores[i % 2], 'store').appendEvent(newEvent('sales', `e${i}`)));
    await the(stores[0], 'a').openConsumer({ channel: 'sales', name: 'shared', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
    const claimed: number[] = [];
    // Four claimers per process, each acking what it got, until the consumer has nothing left.
    const claimer = async (store: Store, session: string): Promise<void> => {
      for (let round = 0; round < total; round++) {
        const deliveries = await store.claimDeliveries(claimRequest(session, { limit: 1 + (round % 7) }));
        if (deliveries.length === 0) return;
        for (const d of deliveries) {
          claimed.push(d.event.seq);
          expect(d.attempt).toBe(1);
          expect(await ack(store, session, d)).toBe(true);
        }
      }
    };
    await Promise.all(stores.flatMap((store, s) => Array.from({ length: 4 }, (_, w) => claimer(store, `s${s}-${w}`))));
    expect(claimed.sort((x, y) => x - y)).toEqual(Array.from({ length: total }, (_, i) => i + 1));
    expect((await the(stores[1], 'b').listConsumers('sales'))[0]).toMatchObject({ pending: 0, failed: 0 });
  });

  it('keeps one open delivery per ordered consumer across processes, in seq order', async () => {
    const { stores } = await instances(2);
    for (let i = 0; i < 20; i++) seqOf(await the(stores[0], 'a').appendEvent(newEvent('sales', `e${i}`)));
    await the(stores[1], 'b').openConsumer({ channel: 'sales', name: 'shared', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
    const order: string[] = [];
    for (let round = 0; round < 100 && order.length < 21; round++) {
      const got = (await Promise.all(stores.map((s, i) => s.claimDeliveries(claimRequest(`s${i}-${round}`, { ordered: true, limit: 5 }))))).map((d, i) => ({ store: the(stores[i], 'store'), d }));
      const out = got.flatMap(({ store, d }) => d.map((delivery) => ({ store, delivery })));
      expect(out.length, `round ${round}: at most one open delivery`).toBeLessThanOrEqual(1);
      const next = out[0];
      if (!next) continue;
      const { store, delivery } = next;
      const session = `s${stores.indexOf(store)}-${round}`;
      order.push(`${delivery.event.seq}#${delivery.attempt}`);
      if (delivery.event.seq === 7 && delivery.attempt === 1) {
        // A failure keeps the event first in line: nothing after it goes out before it is done.
        await store.nackDelivery({ channel: 'sales', consumer: 'shared', seq: 7, attempt: 1, session, now: new Date(T0), latencyMs: 1, status: 500 }, new Date(T0));
      } else {
        await ack(store, session, delivery);
      }
    }
    expect(order).toEqual([...Array.from({ length: 7 }, (_, i) => `${i + 1}#1`), '7#2', ...Array.from({ length: 13 }, (_, i) => `${i + 8}#1`)]);
  });

  it('lets another process claim an event once the first process\'s lease ran out', async () => {
    const { stores } = await instances(2);
    const [a, b] = [the(stores[0], 'a'), the(stores[1], 'b')];
    await a.openConsumer({ channel: 'sales', name: 'shared', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
    seqOf(await a.appendEvent(newEvent('sales', 'e1')));
    const lease = { leaseMs: 1_000, limit: 1 };
    expect((await a.claimDeliveries(claimRequest('a', { ...lease, now: new Date(T0) }))).map((d) => d.attempt)).toEqual([1]);
    expect(await b.claimDeliveries(claimRequest('b', { ...lease, now: new Date(T0 + 999) }))).toEqual([]);
    expect(await b.nextDueAt('sales', 'shared')).toEqual(new Date(T0 + 1_000));
    const taken = await b.claimDeliveries(claimRequest('b', { ...lease, now: new Date(T0 + 1_000) }));
    expect(taken.map((d) => [d.event.id, d.attempt])).toEqual([['e1', 2]]);
    expect(await ack(b, 'b', the(taken[0], 'delivery'), new Date(T0 + 1_100))).toBe(true);
    expect((await a.listAttempts('sales', 'e1'))?.map((r) => [r.session, r.outcome])).toEqual([
      ['a', 'abandoned'],
      ['b', 'acked'],
    ]);
  });

  it('hands a closed session\'s events to another process at once and wakes it', async () => {
    const { stores } = await instances(2);
    const [a, b] = [the(stores[0], 'a'), the(stores[1], 'b')];
    await a.openConsumer({ channel: 'sales', name: 'shared', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
    for (const id of ['e1', 'e2']) seqOf(await a.appendEvent(newEvent('sales', id)));
    expect(await a.claimDeliveries(claimRequest('a'))).toHaveLength(2);
    const woken = new Promise<string>((resolve) => b.onRemoteEvent(resolve));
    await b.whenListening();
    expect(await a.releaseSession('a', new Date(T0 + 10), 'connection closed before the ack')).toBe(2);
    expect(await woken).toBe('sales');
    expect((await b.claimDeliveries(claimRequest('b', { now: new Date(T0 + 10) }))).map((d) => [d.event.id, d.attempt])).toEqual([
      ['e1', 2],
      ['e2', 2],
    ]);
  });
});

describe('PostgresStore delivery details', () => {
  it('matches event-type globs as SQLite GLOB does, with LIKE\'s own characters taken literally', async () => {
    expect(globToLike('call.*')).toBe('call.%');
    expect(globToLike('a_b%c\\d?')).toBe('a\\_b\\%c\\\\d_');
    const { stores } = await instances(1);
    const store = the(stores[0], 'store');
    const types = ['call.answered', 'call.end', 'calls', 'a_b', 'axb', '100%', '1000', 'back\\slash', 'backxslash', 'sms.in'];
    for (const [i, eventType] of types.entries()) seqOf(await store.appendEvent(newEvent('sales', `e${i}`, { eventType })));
    await store.openConsumer({ channel: 'sales', name: 'shared', start: { kind: 'seq', seq: 1 }, filter: ['call.*', 'a_b', '100%', 'back\\slash', 'sms.??'], maxAttempts: null }, new Date(T0));
    expect((await store.listConsumers('sales'))[0]?.pending).toBe(6);
    const got = await store.claimDeliveries(claimRequest('s', { limit: 50 }));
    expect(got.map((d) => d.event.type)).toEqual(['call.answered', 'call.end', 'a_b', '100%', 'back\\slash', 'sms.in']);
  });

  it('removes the delivery state of pruned events', async () => {
    const { schema, stores } = await instances(1);
    const store = the(stores[0], 'store');
    await store.openConsumer({ channel: 'sales', name: 'shared', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
    for (let i = 0; i < 5; i++) seqOf(await store.appendEvent(newEvent('sales', `e${i}`)));
    for (const d of await store.claimDeliveries(claimRequest('s'))) await ack(store, 's', d);
    expect(await store.prune({ maxAgeMs: 1_000_000, maxEventsPerChannel: 2 }, new Date(T0), 100)).toBe(3);
    expect(await schema.query('SELECT seq::int FROM deliveries ORDER BY seq')).toEqual([{ seq: 4 }, { seq: 5 }]);
    expect(await schema.query('SELECT seq::int FROM attempts ORDER BY seq')).toEqual([{ seq: 4 }, { seq: 5 }]);
  });
});

describe('PostgresStore notifications', () => {
  it('wakes another process\'s listener after an append commits, and not the appending process\'s own', async () => {
    const { stores } = await instances(2);
    const [a, b] = [the(stores[0], 'a'), the(stores[1], 'b')];
    await a.createChannel(plainChannel('ops'));
    const heardByA: string[] = [];
    const heardByB: string[] = [];
    let wakeA: () => void = () => undefined;
    const aHeardSales = new Promise<void>((resolve) => (wakeA = resolve));
    a.onRemoteEvent((channel) => {
      heardByA.push(channel);
      if (channel === 'sales') wakeA();
    });
    const bHeard = new Promise<void>((resolve) => b.onRemoteEvent((channel) => (heardByB.push(channel), resolve())));
    await Promise.all([a.whenListening(), b.whenListening()]);
    seqOf(await a.appendEvent(newEvent('ops', 'from-a')));
    await bHeard;
    expect(heardByB).toEqual(['ops']);
    seqOf(await b.appendEvent(newEvent('sales', 'from-b')));
    // Notifications arrive in commit order: had A heard its own append, 'ops' would come first.
    await aHeardSales;
    expect(heardByA).toEqual(['sales']);
  });

  it('sends no NOTIFY and opens no LISTEN connection with notifications off', async () => {
    const { schema, stores } = await instances(1, { notify: false });
    const quiet = the(stores[0], 'store');
    const loud = await instance(schema);
    const observer = new pg.Client({ connectionString: TEST_DATABASE_URL });
    await observer.connect();
    disposers.push(() => observer.end());
    const heard: string[] = [];
    const heardLoud = new Promise<void>((resolve) =>
      observer.on('notification', (message) => {
        heard.push(message.payload ?? '');
        if (message.payload === 'ops') resolve();
      }),
    );
    await observer.query(`LISTEN ${pg.escapeIdentifier(notifyChannel(schema.name))}`);
    quiet.onRemoteEvent(() => undefined);
    await expect(quiet.whenListening()).rejects.toThrow('does not LISTEN');
    seqOf(await quiet.appendEvent(newEvent('sales', 'quiet')));
    await loud.createChannel(plainChannel('ops'));
    seqOf(await loud.appendEvent(newEvent('ops', 'loud')));
    await heardLoud;
    // The loud store announces its new channel's settings, then its event; the quiet one nothing.
    expect(heard).toEqual(['channel settings', 'ops']);
  });
});

/** A TCP proxy in front of the test Postgres, so a test can cut the database off and bring it back without touching the shared server. */
async function startProxy(): Promise<{ port: number; cut: () => Promise<void>; restore: () => Promise<void>; close: () => Promise<void> }> {
  const target = new URL(TEST_DATABASE_URL);
  const sockets = new Set<Socket>();
  const track = (socket: Socket): void => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
  };
  let server: Server | undefined;
  const listen = async (port: number): Promise<number> => {
    const s = createServer((client) => {
      const upstream = connect(Number(target.port || 5432), target.hostname);
      track(client);
      track(upstream);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream).pipe(client);
    });
    s.listen(port, '127.0.0.1');
    await once(s, 'listening');
    server = s;
    return (s.address() as AddressInfo).port;
  };
  const cut = async (): Promise<void> => {
    const s = server;
    server = undefined;
    const closed = s ? new Promise((resolve) => s.close(resolve)) : Promise.resolve();
    for (const socket of sockets) socket.destroy();
    await closed;
  };
  const port = await listen(0);
  return { port, cut, restore: async () => void (await listen(port)), close: cut };
}

function throughProxy(schema: TestSchema, port: number): string {
  const url = new URL(schema.url);
  url.hostname = '127.0.0.1';
  url.port = String(port);
  return url.toString();
}

describe('PostgresStore when Postgres is down', () => {
  it('refuses to open with RELAY_E_STORE_UNAVAILABLE and never shows the password', async () => {
    const error = await rejectionOf(openPostgresStore({ url: 'postgres://relay:sekrit-password@127.0.0.1:1/test' }));
    expect(error).toBeInstanceOf(RelayError);
    if (error instanceof RelayError) {
      expect(error.code).toBe('RELAY_E_STORE_UNAVAILABLE');
      expect(error.message).not.toContain('sekrit');
    }
  });

  it('answers 503 on ingest and /readyz while Postgres is unreachable, and recovers by itself', async () => {
    const schema = await freshSchema(disposers);
    const proxy = await startProxy();
    disposers.push(proxy.close);
    let poolWarned: () => void = () => undefined;
    const idleConnectionLost = new Promise<void>((resolve) => (poolWarned = resolve));
    const store = await openPostgresStore({
      url: throughProxy(schema, proxy.port),
      poolSize: 2,
      onWarning: (message) => {
        if (message.includes('pool')) poolWarned();
      },
    });
    await store.createChannel(plainChannel('sales'));
    const app = await buildServer({
      config: resolveServerConfig({ host: '127.0.0.1', port: 0, logLevel: 'silent', rateLimitChannel: 0, rateLimitIp: 0 }),
      store,
      retention: false,
    });
    disposers.push(() => app.close());
    await app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    const post = async (id: string): Promise<{ status: number; code: string | undefined }> => {
      const res = await fetch(`${base}/hooks/sales`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ event_id: id, event_type: 'call.end' }) });
      const body = (await res.json()) as { error?: { code: string } };
      return { status: res.status, code: body.error?.code };
    };
    const ready = async (): Promise<number> => (await fetch(`${base}/readyz`)).status;

    expect(await post('before')).toEqual({ status: 200, code: undefined });
    expect(await ready()).toBe(200);

    await proxy.cut();
    // The pool's idle connections die with the proxy: heard as a warning, not a crash.
    await idleConnectionLost;
    expect(await post('during')).toEqual({ status: 503, code: 'RELAY_E_STORE_UNAVAILABLE' });
    expect(await ready()).toBe(503);

    await proxy.restore();
    await expect.poll(ready, { timeout: 10_000 }).toBe(200);
    expect(await post('after')).toEqual({ status: 200, code: undefined });
    const stored = (await store.listEvents({ visibleChannels: null, limit: 10 })).events.map((e) => e.id);
    expect(stored).toEqual(['after', 'before']);
  });

  it('reconnects its LISTEN connection after losing it and hears other processes again', async () => {
    const schema = await freshSchema(disposers);
    const proxy = await startProxy();
    disposers.push(proxy.close);
    let listenerLost: () => void = () => undefined;
    const lost = new Promise<void>((resolve) => (listenerLost = resolve));
    const cutOff = await instance(schema, {
      url: throughProxy(schema, proxy.port),
      onWarning: (message) => {
        if (message.includes('LISTEN')) listenerLost();
      },
    });
    const direct = await instance(schema);
    await direct.createChannel(plainChannel('sales'));
    let heard: (channel: string) => void = () => undefined;
    cutOff.onRemoteEvent((channel) => heard(channel));
    await cutOff.whenListening();

    await proxy.cut();
    await lost;
    await proxy.restore();
    await cutOff.whenListening();
    const woken = new Promise<string>((resolve) => (heard = resolve));
    seqOf(await direct.appendEvent(newEvent('sales', 'after-reconnect')));
    expect(await woken).toBe('sales');
  });
});
