import { createHash, randomBytes } from 'node:crypto';
import { fdatasync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../../test/support/cleanup.js';
import { RelayError } from '../src/errors.js';
import { betterSqliteDriver } from '../src/store/sqlite-better.js';
import type { SqliteDatabase, SqliteDriver } from '../src/store/sqlite-driver.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import type { SyncFile } from '../src/store/wal-sync.js';
import type { NewEvent, TokenRecord } from '../src/store/store.js';
import { tempDir, tempSqliteStore } from './harness.js';
import { describeStoreConformance, expectRelayError, hex, newEvent, plainChannel, rejectionOf, seqOf, T0 } from './store-conformance.js';
import { SCHEMA_VERSION } from '../src/store/sqlite-schema.js';

describeStoreConformance('sqlite', async () => {
  const { store, remove } = tempSqliteStore();
  return {
    store,
    cleanup: async () => {
      await store.close();
      remove();
    },
  };
});

// Disposers of the current test, run newest first so connections close before their directory goes.
const disposers = cleanupAfterEach();

/** A store in a fresh temp dir, closed and removed after the test. */
function openTemp(options: { maxBytes?: number } = {}): ReturnType<typeof tempSqliteStore> {
  const opened = tempSqliteStore(options);
  disposers.push(opened.remove, () => opened.store.close());
  return opened;
}

/** Another store on the same file, as an admin CLI process opens it; closed after the test. */
function openAgain(path: string, options: { maxBytes?: number } = {}): SqliteStore {
  const store = new SqliteStore({ path, driver: betterSqliteDriver, ...options });
  disposers.push(() => store.close());
  return store;
}

/** A plain better-sqlite3 connection to the file, for looking at it from outside the store. */
function peer(path: string): Database.Database {
  const db = new Database(path);
  disposers.push(() => {
    db.close();
  });
  return db;
}

/** The real driver, keeping hold of the connections it opens so a test can ask them per-connection pragmas. */
function recordingDriver(): { driver: SqliteDriver; connections: SqliteDatabase[] } {
  const connections: SqliteDatabase[] = [];
  const driver: SqliteDriver = {
    name: betterSqliteDriver.name,
    open(path: string): SqliteDatabase {
      const db = betterSqliteDriver.open(path);
      connections.push(db);
      return db;
    },
    openReadOnly: (path: string) => betterSqliteDriver.openReadOnly(path),
    errorKind: (error: unknown) => betterSqliteDriver.errorKind(error),
  };
  return { driver, connections };
}

/**
 * Lets the event loop go round once. The store asks whether another process changed channel
 * settings once per turn, and an admin command's change always arrives in a later turn than the
 * request it might race with; in one test process both sides share a turn unless it is ended.
 */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Resolves once `condition` holds, checking every few milliseconds; fails after 5 s. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** The single value a one-column pragma row holds. */
function pragmaValue(row: unknown): unknown {
  if (typeof row !== 'object' || row === null) throw new Error(`not a pragma row: ${String(row)}`);
  const values = Object.values(row);
  if (values.length !== 1) throw new Error(`expected one column, got ${JSON.stringify(row)}`);
  return values[0];
}

function token(name: string): TokenRecord {
  return {
    name,
    hash: createHash('sha256').update(`token-of-${name}`).digest('hex'),
    role: 'developer',
    channels: ['sales'],
    createdAt: new Date(T0),
  };
}

/** `count` events with random bodies of `bytes` each. */
function bigEvents(prefix: string, count: number, bytes: number): NewEvent[] {
  return Array.from({ length: count }, (_, i) => newEvent('sales', `${prefix}-${i}`, { body: new Uint8Array(randomBytes(bytes)) }));
}

describe('SqliteStore', () => {
  describe('durability settings', () => {
    it('keeps the file in WAL mode', async () => {
      const { store, path } = openTemp();
      await store.createChannel(plainChannel('sales'));
      expect(peer(path).pragma('journal_mode', { simple: true })).toBe('wal');
    });

    it('commits with synchronous=NORMAL and a busy timeout on its own connection', () => {
      // synchronous is per connection, so it is read on the store's connection itself. NORMAL
      // does not flush the WAL on commit; appends wait for the store's own flush (below).
      const dir = tempDir();
      disposers.push(dir.remove);
      const { driver, connections } = recordingDriver();
      const store = new SqliteStore({ path: join(dir.path, 'relay.db'), driver });
      disposers.push(() => store.close());
      expect(connections).toHaveLength(1);
      const connection = connections[0];
      if (connection === undefined) throw new Error('the store opened no connection');
      const NORMAL = 1;
      expect(pragmaValue(connection.prepare('PRAGMA synchronous').get())).toBe(NORMAL);
      expect(pragmaValue(connection.prepare('PRAGMA journal_mode').get())).toBe('wal');
      expect(pragmaValue(connection.prepare('PRAGMA busy_timeout').get())).toBe(5000);
    });

    it('answers an append only after a flush of the WAL file that began after its commit', async () => {
      const dir = tempDir();
      disposers.push(dir.remove);
      const path = join(dir.path, 'relay.db');
      const flushes: { storedAtStart: number; finished: boolean; file: string }[] = [];
      let reader: Database.Database | undefined;
      const syncWal: SyncFile = (fd, done) => {
        // What a reader sees when the flush starts is what the flush makes durable.
        const storedAtStart = reader === undefined ? -1 : Number((reader.prepare('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n);
        const flush = { storedAtStart, finished: false, file: realpathSync(`/proc/self/fd/${fd}`) };
        flushes.push(flush);
        fdatasync(fd, (error) => {
          flush.finished = true;
          done(error);
        });
      };
      const store = new SqliteStore({ path, driver: betterSqliteDriver, syncWal });
      disposers.push(() => store.close());
      await store.createChannel(plainChannel('sales'));
      reader = peer(path);
      const result = await store.appendEvent(newEvent('sales', 'evt-1'));
      expect(result).toMatchObject({ ok: true, seq: 1, duplicate: false });
      expect(flushes).toHaveLength(1);
      expect(flushes[0]).toEqual({ storedAtStart: 1, finished: true, file: realpathSync(`${path}-wal`) });
    });

    it('holds the appends that arrive while the WAL is flushed and commits them together after it', async () => {
      const dir = tempDir();
      disposers.push(dir.remove);
      const path = join(dir.path, 'relay.db');
      const started: number[] = [];
      const release: (() => void)[] = [];
      const syncWal: SyncFile = (fd, done) => {
        started.push(Date.now());
        // Each flush waits for the test's go-ahead, so appends pile up behind it.
        release.push(() => fdatasync(fd, done));
      };
      const store = new SqliteStore({ path, driver: betterSqliteDriver, syncWal });
      disposers.push(async () => {
        for (const go of release.splice(0)) go();
        await store.close();
      });
      await store.createChannel(plainChannel('sales'));
      const answered: string[] = [];
      const append = (id: string): Promise<void> => store.appendEvent(newEvent('sales', id)).then(() => void answered.push(id));
      const first = append('a');
      await until(() => started.length === 1);
      // Two more appends while the first flush runs. The store takes an append into a commit on
      // the event-loop turn after it arrives (setImmediate), so two turns after each append is
      // when a store that did not wait for the flush would have committed it.
      const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
      const second = append('b');
      await turn();
      await turn();
      const third = append('c');
      await turn();
      await turn();
      expect(started).toHaveLength(1);
      expect(answered).toEqual([]);
      expect(peer(path).prepare('SELECT event_id FROM events ORDER BY seq').pluck().all()).toEqual(['a']);
      release.shift()?.();
      await first;
      expect(answered).toEqual(['a']);
      await until(() => started.length === 2);
      expect(answered).toEqual(['a']);
      release.shift()?.();
      await Promise.all([second, third]);
      expect(answered).toEqual(['a', 'b', 'c']);
      expect(started).toHaveLength(2);
    });

    it('refuses an append whose flush failed, then every append until a restart, which finds the event stored', async () => {
      const dir = tempDir();
      disposers.push(dir.remove);
      const path = join(dir.path, 'relay.db');
      const flushes: string[] = [];
      const held: (() => void)[] = [];
      const syncWal: SyncFile = (fd, done) => {
        flushes.push('flush');
        // The first flush fails with EIO once the test lets it end; later ones would succeed.
        if (flushes.length === 1) held.push(() => done(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' })));
        else fdatasync(fd, done);
      };
      const store = new SqliteStore({ path, driver: betterSqliteDriver, syncWal });
      await store.createChannel(plainChannel('sales'));
      const first = store.appendEvent(newEvent('sales', 'evt-1'));
      await until(() => held.length === 1);
      // Waits for the failing flush, so it is refused with it.
      const waiting = store.appendEvent(newEvent('sales', 'evt-2'));
      held.shift()?.();
      await expectRelayError(first, 'RELAY_E_STORE_UNAVAILABLE');
      await expectRelayError(waiting, 'RELAY_E_STORE_UNAVAILABLE');
      // Refused at once, without touching the disk: a flush that works now proves nothing about the pages lost.
      const later = store.appendEvent(newEvent('sales', 'evt-3'));
      await expect(later).rejects.toThrow(/restart relay-server/);
      await expectRelayError(store.checkWritable(), 'RELAY_E_STORE_UNAVAILABLE');
      expect(flushes).toEqual(['flush']);
      await store.close();

      // After the restart, MyOperator's retry of evt-1 finds it (its commit did reach the disk here).
      const reopened = new SqliteStore({ path, driver: betterSqliteDriver });
      disposers.push(() => reopened.close());
      await reopened.checkWritable();
      expect(await reopened.appendEvent(newEvent('sales', 'evt-1'))).toEqual({ ok: true, seq: 1, duplicate: true });
      expect(await reopened.appendEvent(newEvent('sales', 'evt-2'))).toEqual({ ok: true, seq: 2, duplicate: false });
    });

    it('answers STORE_FULL when the flush fails for lack of space, and goes on refusing', async () => {
      const dir = tempDir();
      disposers.push(dir.remove);
      let failed = false;
      const syncWal: SyncFile = (fd, done) => {
        if (failed) return fdatasync(fd, done);
        failed = true;
        done(Object.assign(new Error('ENOSPC: no space left on device, fdatasync'), { code: 'ENOSPC' }));
      };
      const store = new SqliteStore({ path: join(dir.path, 'relay.db'), driver: betterSqliteDriver, syncWal });
      disposers.push(() => store.close());
      await store.createChannel(plainChannel('sales'));
      await expectRelayError(store.appendEvent(newEvent('sales', 'evt-1')), 'RELAY_E_STORE_FULL');
      // The next flush would work, but the pages of the failed one may be gone: still refused.
      await expectRelayError(store.appendEvent(newEvent('sales', 'evt-2')), 'RELAY_E_STORE_FULL');
    });
  });

  describe('restart', () => {
    it('gives back channels, tokens, meta and exact events after close and reopen', async () => {
      const { store, path } = openTemp();
      const channel = plainChannel('sales');
      await store.createChannel(channel);
      await store.createToken(token('asha'));
      await store.setMeta('relay_id', 'relay-123');
      const events = [
        newEvent('sales', 'all-bytes', {
          body: Uint8Array.from({ length: 256 }, (_, i) => i),
          headers: [
            ['X-Dup', 'a'],
            ['x-dup', 'b'],
          ],
          receivedAt: new Date(T0 + 7),
          synthetic: true,
        }),
        newEvent('sales', 'empty', { body: new Uint8Array(0), sourceIp: '2001:db8::1' }),
        newEvent('sales', 'bad-utf8', { body: Uint8Array.from([0xff, 0xc0, 0xaf, 0xed, 0xa0, 0x80]) }),
      ];
      for (const e of events) seqOf(await store.appendEvent(e));
      await store.close();

      const reopened = openAgain(path);
      expect(await reopened.getChannel('sales')).toEqual(channel);
      expect(await reopened.findTokenByHash(token('asha').hash)).toEqual(token('asha'));
      expect(await reopened.getMeta('relay_id')).toBe('relay-123');
      for (const [i, e] of events.entries()) {
        const stored = await reopened.getEvent('sales', e.eventId);
        expect(stored, e.eventId).toMatchObject({ seq: i + 1, receivedAt: e.receivedAt, sourceIp: e.sourceIp, synthetic: e.synthetic, headers: e.headers });
        expect(hex(stored?.body ?? Uint8Array.from([0xde, 0xad])), e.eventId).toBe(hex(e.body));
      }
      // MyOperator retries across a relay restart: the retry is still recognised.
      expect(await reopened.appendEvent(newEvent('sales', 'all-bytes'))).toEqual({ ok: true, seq: 1, duplicate: true });
      expect(seqOf(await reopened.appendEvent(newEvent('sales', 'after-restart')))).toBe(4);
    });

    it('has written the appends that were pending when close() was called', async () => {
      const { store, path } = openTemp();
      await store.createChannel(plainChannel('sales'));
      const events = bigEvents('pending', 20, 100);
      const pending = events.map((e) => store.appendEvent(e));
      await store.close();
      expect((await Promise.all(pending)).map(seqOf).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));

      const reopened = openAgain(path);
      for (const e of events) expect(hex((await reopened.getEvent('sales', e.eventId))?.body ?? new Uint8Array()), e.eventId).toBe(hex(e.body));
    });

    it('upgrades a schema version 1 file, moving attempts in flight into their delivery rows', async () => {
      const { store, path } = openTemp();
      await store.createChannel(plainChannel('sales'));
      for (const id of ['e1', 'e2', 'e3']) seqOf(await store.appendEvent(newEvent('sales', id)));
      await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
      await store.close();
      // The delivery tables as version 1 wrote them: seq 1 acked by a late answer to attempt 1 while
      // attempt 2 still runs, 2 in flight on its second attempt, 3 waiting for a retry.
      const v1 = peer(path);
      v1.exec(`
        DROP TABLE deliveries;
        DROP TABLE attempts;
        CREATE TABLE deliveries (channel TEXT NOT NULL, consumer TEXT NOT NULL, seq INTEGER NOT NULL, state TEXT NOT NULL, attempts INTEGER NOT NULL,
          session TEXT, lease_expires_at INTEGER, next_attempt_at INTEGER, replay INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (channel, consumer, seq));
        CREATE INDEX deliveries_session ON deliveries (session) WHERE session IS NOT NULL;
        CREATE INDEX deliveries_failed ON deliveries (channel, consumer) WHERE state = 'failed';
        CREATE INDEX deliveries_pending ON deliveries (channel, consumer, seq) WHERE state IN ('inflight', 'retry');
        CREATE TABLE attempts (id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, consumer TEXT NOT NULL, seq INTEGER NOT NULL, attempt INTEGER NOT NULL,
          session TEXT NOT NULL, started_at INTEGER NOT NULL, finished_at INTEGER, status INTEGER, latency_ms REAL, error TEXT, outcome TEXT);
        CREATE INDEX attempts_event ON attempts (channel, seq);
        DROP INDEX events_session;
        DROP INDEX events_channel_id;
        ALTER TABLE events DROP COLUMN session_id;
        ALTER TABLE events DROP COLUMN verification;
        CREATE INDEX events_channel_type ON events (channel, event_type, id);
        UPDATE meta SET value = '1' WHERE key = 'schema_version';
        UPDATE consumers SET next_seq = 4;
        INSERT INTO deliveries VALUES ('sales', 'c', 1, 'acked', 2, NULL, NULL, NULL, 0);
        INSERT INTO deliveries VALUES ('sales', 'c', 2, 'inflight', 2, 'S1', ${T0 + 50_000}, NULL, 0);
        INSERT INTO deliveries VALUES ('sales', 'c', 3, 'retry', 1, NULL, NULL, ${T0 + 10_000}, 0);
        INSERT INTO attempts (channel, consumer, seq, attempt, session, started_at, finished_at, status, latency_ms, error, outcome) VALUES
          ('sales', 'c', 1, 1, 'S1', ${T0}, ${T0 + 30_000}, NULL, NULL, 'no ack before the lease ended', 'abandoned'),
          ('sales', 'c', 1, 2, 'S2', ${T0 + 30_000}, NULL, NULL, NULL, NULL, NULL),
          ('sales', 'c', 2, 1, 'S1', ${T0}, ${T0 + 7}, 500, 7, NULL, 'retry'),
          ('sales', 'c', 3, 1, 'S1', ${T0}, ${T0 + 9}, 503, 9, NULL, 'retry'),
          ('sales', 'c', 2, 2, 'S1', ${T0 + 20_000}, NULL, NULL, NULL, NULL, NULL);
      `);
      v1.close();

      const upgraded = openAgain(path);
      expect(await upgraded.getMeta('schema_version')).toBe(String(SCHEMA_VERSION));
      expect((await upgraded.listAttempts('sales', 'e2'))?.map((a) => [a.attempt, a.session, a.startedAt.getTime(), a.status, a.outcome])).toEqual([
        [1, 'S1', T0, 500, 'retry'],
        [2, 'S1', T0 + 20_000, null, null],
      ]);
      expect((await upgraded.listConsumers('sales')).map((c) => [c.name, c.pending])).toEqual([['c', 2]]);
      // The lease of 2 has run out and the retry of 3 is due: both go out again with the next attempt numbers.
      const claimed = await upgraded.claimDeliveries({ channel: 'sales', consumer: 'c', session: 'S2', limit: 10, ordered: false, now: new Date(T0 + 100_000), leaseMs: 30_000 });
      expect(claimed.map((d) => [d.event.seq, d.attempt])).toEqual([
        [2, 3],
        [3, 2],
      ]);
      expect((await upgraded.listAttempts('sales', 'e2'))?.map((a) => [a.attempt, a.outcome])).toEqual([
        [1, 'retry'],
        [2, 'abandoned'],
        [3, null],
      ]);
      expect(await upgraded.ackDelivery({ channel: 'sales', consumer: 'c', seq: 2, attempt: 3, session: 'S2', now: new Date(T0 + 101_000), latencyMs: 3, status: 200 })).toBe(true);
      // The attempt that outlived seq 1's delivery still ends on the record.
      expect((await upgraded.listAttempts('sales', 'e1'))?.map((a) => [a.attempt, a.session, a.outcome])).toEqual([
        [1, 'S1', 'abandoned'],
        [2, 'S2', null],
      ]);
      expect(await upgraded.ackDelivery({ channel: 'sales', consumer: 'c', seq: 1, attempt: 2, session: 'S2', now: new Date(T0 + 101_000), latencyMs: 3, status: 200 })).toBe(false);
      expect((await upgraded.listAttempts('sales', 'e1'))?.map((a) => [a.attempt, a.outcome])).toEqual([
        [1, 'abandoned'],
        [2, 'acked'],
      ]);
      const check = peer(path);
      expect(pragmaValue(check.prepare('PRAGMA integrity_check').get())).toBe('ok');
      expect(check.prepare("SELECT name FROM sqlite_master WHERE name LIKE '%_v1' OR name = 'deliveries_session'").all()).toEqual([]);
    });

    it('upgrades a schema version 2 file: its consumers keep working and count for no token', async () => {
      const { store, path } = openTemp();
      await store.createChannel(plainChannel('sales'));
      await store.openConsumer({ channel: 'sales', name: 'old', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
      await store.close();
      const v2 = peer(path);
      v2.exec(`ALTER TABLE consumers DROP COLUMN created_by; UPDATE meta SET value = '2' WHERE key = 'schema_version';`);
      v2.close();

      const upgraded = openAgain(path);
      expect(await upgraded.getMeta('schema_version')).toBe(String(SCHEMA_VERSION));
      const spec = { channel: 'sales', start: { kind: 'now' }, filter: [], maxAttempts: null, createdBy: 'dev', maxCreatedBy: 1 } as const;
      expect(await upgraded.openConsumer({ ...spec, name: 'old' }, new Date(T0))).toEqual({ created: false });
      expect(await upgraded.openConsumer({ ...spec, name: 'new' }, new Date(T0))).toEqual({ created: true });
      expect(await upgraded.openConsumer({ ...spec, name: 'newer' }, new Date(T0))).toEqual({ refused: 'consumer-limit' });
    });

    it('upgrades a schema version 2 file, reading the sessions of stored v2 events from their bodies', async () => {
      const { store, path } = openTemp();
      await store.createChannel(plainChannel('sales'));
      const bodies: Record<string, string> = {
        v2: '{"event_id":"v2","event_type":"call.answered","session_id":"call-1"}',
        numeric: '{"event_id":7,"event_type":"call.end","session_id":42}',
        seed: '{"id":"seed","type":"call.answered","session_id":"call-1"}',
        broken: '{"event_id":"broken","session_id":',
        form: 'myoperator=%7B%22session_id%22%3A%22call-1%22%7D',
      };
      for (const [id, body] of Object.entries(bodies)) seqOf(await store.appendEvent(newEvent('sales', id, { body: new TextEncoder().encode(body) })));
      await store.close();
      const v2 = peer(path);
      v2.exec(`
        DROP INDEX events_session;
        DROP INDEX events_channel_id;
        ALTER TABLE events DROP COLUMN session_id;
        ALTER TABLE events DROP COLUMN verification;
        CREATE INDEX events_channel_type ON events (channel, event_type, id);
        UPDATE meta SET value = '2' WHERE key = 'schema_version';
      `);
      v2.close();

      const upgraded = openAgain(path);
      expect(await upgraded.getMeta('schema_version')).toBe(String(SCHEMA_VERSION));
      const sessions = Object.fromEntries((await upgraded.listEvents({ visibleChannels: null, limit: 10 })).events.map((e) => [e.id, e.session]));
      expect(sessions).toEqual({ v2: 'call-1', numeric: '42', seed: null, broken: null, form: null });
      expect((await upgraded.listEvents({ visibleChannels: null, session: 'call-1', limit: 10 })).events.map((e) => e.id)).toEqual(['v2']);
      expect((await upgraded.getEvent('sales', 'v2'))?.verification).toBeNull();
      const check = peer(path);
      expect(check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE 'events_%' ORDER BY name").all()).toEqual([
        { name: 'events_channel_id' },
        { name: 'events_received_at' },
        { name: 'events_session' },
      ]);
    });

    it("upgrades a schema version 4 file: old attempts have no answer, new ones keep theirs", async () => {
      const { store, path } = openTemp();
      await store.createChannel(plainChannel('sales'));
      seqOf(await store.appendEvent(newEvent('sales', 'e1')));
      await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
      const lease = { channel: 'sales', consumer: 'c', session: 'S1', limit: 1, ordered: false, leaseMs: 30_000 };
      await store.claimDeliveries({ ...lease, now: new Date(T0) });
      await store.nackDelivery({ channel: 'sales', consumer: 'c', seq: 1, attempt: 1, session: 'S1', now: new Date(T0 + 1), latencyMs: 1, status: 500 }, new Date(T0 + 2));
      await store.close();
      const v4 = peer(path);
      v4.exec(`ALTER TABLE attempts DROP COLUMN response_headers; ALTER TABLE attempts DROP COLUMN response_body;
        ALTER TABLE attempts DROP COLUMN response_bytes; ALTER TABLE attempts DROP COLUMN response_truncated;
        UPDATE meta SET value = '4' WHERE key = 'schema_version';`);
      v4.close();

      const upgraded = openAgain(path);
      expect(await upgraded.getMeta('schema_version')).toBe(String(SCHEMA_VERSION));
      await upgraded.claimDeliveries({ ...lease, now: new Date(T0 + 2) });
      const answer = { headers: [['Content-Type', 'text/plain']] as [string, string][], body: new TextEncoder().encode('ok'), bytes: 2, truncated: false };
      await upgraded.ackDelivery({ channel: 'sales', consumer: 'c', seq: 1, attempt: 2, session: 'S1', now: new Date(T0 + 3), latencyMs: 1, status: 200, answer });
      expect((await upgraded.listAttempts('sales', 'e1'))?.map((a) => [a.attempt, a.answer])).toEqual([
        [1, null],
        [2, answer],
      ]);
    });

    it('refuses a file written by a newer schema and leaves it untouched', async () => {
      const { store, path } = openTemp();
      await store.setMeta('schema_version', '99');
      await store.close();
      const refusal = (() => {
        try {
          openAgain(path);
          return undefined;
        } catch (error) {
          return error;
        }
      })();
      expect(refusal).toBeInstanceOf(RelayError);
      if (refusal instanceof RelayError) expect(refusal.code).toBe('RELAY_E_STORE_VERSION');
      expect(pragmaValue(peer(path).prepare("SELECT value FROM meta WHERE key = 'schema_version'").get())).toBe('99');
    });
  });

  describe('channel settings cache', () => {
    it('sees its own changes at once, within the turn that made them', async () => {
      const { store } = openTemp();
      const channel = plainChannel('sales');
      await store.createChannel(channel);
      expect(await store.getChannel('sales')).toEqual(channel);
      const updated = { ...channel, maxBodyBytes: 2048 };
      await store.updateChannel(updated);
      expect(await store.getChannel('sales')).toEqual(updated);
      expect(await store.removeChannel('sales')).toBe(true);
      expect(await store.getChannel('sales')).toBeUndefined();
    });
  });

  describe('commit listeners', () => {
    it('hear each channel with new events once per commit, before the flush ends, and not for duplicates', async () => {
      const dir = tempDir();
      disposers.push(dir.remove);
      const held: (() => void)[] = [];
      const store = new SqliteStore({ path: join(dir.path, 'relay.db'), driver: betterSqliteDriver, syncWal: (fd, done) => held.push(() => fdatasync(fd, done)) });
      disposers.push(async () => {
        for (const go of held.splice(0)) go();
        await store.close();
      });
      await store.createChannel(plainChannel('sales'));
      await store.createChannel(plainChannel('support'));
      const heard: string[] = [];
      const stop = store.onCommitted((channel) => heard.push(channel));
      const first = Promise.all([store.appendEvent(newEvent('sales', 'a')), store.appendEvent(newEvent('sales', 'b')), store.appendEvent(newEvent('support', 'c'))]);
      await until(() => held.length === 1);
      expect(heard.sort()).toEqual(['sales', 'support']);
      held.shift()?.();
      await first;
      const again = store.appendEvent(newEvent('sales', 'a'));
      await until(() => held.length === 1);
      expect(heard).toHaveLength(2);
      held.shift()?.();
      expect(await again).toMatchObject({ duplicate: true });
      stop();
      const later = store.appendEvent(newEvent('sales', 'd'));
      await until(() => held.length === 1);
      held.shift()?.();
      await later;
      expect(heard).toHaveLength(2);
    });
  });

  describe('delivery work', () => {
    it('records the answers and the claims of one turn in one transaction, in the order they were asked for', async () => {
      const dir = tempDir();
      disposers.push(dir.remove);
      const begins: string[] = [];
      const driver: SqliteDriver = {
        ...betterSqliteDriver,
        open(file: string): SqliteDatabase {
          const db = betterSqliteDriver.open(file);
          return {
            exec: (sql) => db.exec(sql),
            prepare(sql) {
              const statement = db.prepare(sql);
              if (!sql.startsWith('BEGIN')) return statement;
              return {
                run: (...params) => (begins.push(sql), statement.run(...params)),
                get: (...params) => statement.get(...params),
                all: (...params) => statement.all(...params),
              };
            },
            close: () => db.close(),
          };
        },
      };
      const store = new SqliteStore({ path: join(dir.path, 'relay.db'), driver });
      disposers.push(() => store.close());
      await store.createChannel(plainChannel('sales'));
      await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
      for (const id of ['e1', 'e2', 'e3']) seqOf(await store.appendEvent(newEvent('sales', id)));
      const claim = (): Promise<{ event: { id: string } }[]> =>
        store.claimDeliveries({ channel: 'sales', consumer: 'c', session: 'S1', limit: 1, ordered: true, now: new Date(T0), leaseMs: 30_000 });
      const [first] = await claim();
      expect(first?.event.id).toBe('e1');

      begins.length = 0;
      // In ordered mode the claim finds e2 only if the ack of e1, asked for first, came before it.
      const acked = store.ackDelivery({ channel: 'sales', consumer: 'c', seq: 1, attempt: 1, session: 'S1', now: new Date(T0), latencyMs: 3, status: 200 });
      const next = claim();
      expect(await acked).toBe(true);
      expect((await next).map((d) => d.event.id)).toEqual(['e2']);
      expect(begins).toHaveLength(1);
    });
  });

  describe('a second connection (admin CLI)', () => {
    it('runs a claim again, locking from the start, when another connection wrote between its reads and its writes', async () => {
      const dir = tempDir();
      disposers.push(dir.remove);
      const path = join(dir.path, 'relay.db');
      let admin: Database.Database | undefined;
      let interruptions = 0;
      // The real driver, except that just before a claim's first write another connection commits.
      const driver: SqliteDriver = {
        ...betterSqliteDriver,
        open(file: string): SqliteDatabase {
          const db = betterSqliteDriver.open(file);
          return {
            exec: (sql) => db.exec(sql),
            close: () => db.close(),
            prepare(sql) {
              const statement = db.prepare(sql);
              if (!/^\s*(INSERT INTO deliveries|UPDATE consumers SET next_seq)/.test(sql)) return statement;
              const interrupt = (): void => {
                if (admin === undefined || interruptions > 0) return;
                interruptions += 1;
                admin.prepare("INSERT INTO meta (key, value) VALUES ('admin', 'was here')").run();
              };
              return {
                run: (...params) => (interrupt(), statement.run(...params)),
                get: (...params) => (interrupt(), statement.get(...params)),
                all: (...params) => statement.all(...params),
              };
            },
          };
        },
      };
      const store = new SqliteStore({ path, driver });
      disposers.push(() => store.close());
      await store.createChannel(plainChannel('sales'));
      await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
      for (const id of ['e1', 'e2']) seqOf(await store.appendEvent(newEvent('sales', id)));
      admin = peer(path);

      const claimed = await store.claimDeliveries({ channel: 'sales', consumer: 'c', session: 'S1', limit: 10, ordered: false, now: new Date(T0), leaseMs: 30_000 });
      expect(interruptions).toBe(1);
      expect(claimed.map((d) => [d.event.id, d.attempt])).toEqual([
        ['e1', 1],
        ['e2', 1],
      ]);
      expect(await store.getMeta('admin')).toBe('was here');
      // Exactly one claim took effect: one attempt each, no event handed out twice.
      expect((await store.listAttempts('sales', 'e1'))?.map((a) => a.attempt)).toEqual([1]);
      expect(await store.claimDeliveries({ channel: 'sales', consumer: 'c', session: 'S2', limit: 10, ordered: false, now: new Date(T0), leaseMs: 30_000 })).toEqual([]);
    });

    it('adds, changes and removes channels that the running store sees without reopening', async () => {
      const { store: server, path } = openTemp();
      const admin = openAgain(path);
      expect(await server.appendEvent(newEvent('sales', 'early'))).toEqual({ ok: false, reason: 'unknown-channel' });

      const channel = plainChannel('sales');
      await admin.createChannel(channel);
      await nextTurn();
      expect(await server.getChannel('sales')).toEqual(channel);
      expect((await server.listChannels()).map((c) => c.name)).toEqual(['sales']);
      expect(await server.appendEvent(newEvent('sales', 'e1'))).toEqual({ ok: true, seq: 1, duplicate: false });
      expect((await admin.getEvent('sales', 'e1'))?.seq).toBe(1);

      const updated = { ...channel, maxBodyBytes: 4096 };
      await admin.updateChannel(updated);
      await nextTurn();
      expect(await server.getChannel('sales')).toEqual(updated);

      await admin.createToken(token('asha'));
      expect(await server.findTokenByHash(token('asha').hash)).toEqual(token('asha'));

      expect(await admin.removeChannel('sales')).toBe(true);
      await nextTurn();
      expect(await server.getChannel('sales')).toBeUndefined();
      expect(await server.appendEvent(newEvent('sales', 'e2'))).toEqual({ ok: false, reason: 'unknown-channel' });
      expect(await server.getEvent('sales', 'e1')).toBeUndefined();
    });

    it('hands out what the file holds when another connection replaced an event the store appended', async () => {
      const { store: server, path } = openTemp();
      await server.createChannel(plainChannel('sales'));
      seqOf(await server.appendEvent(newEvent('sales', 'before', { headers: [['X-Which', 'before']] })));
      // The channel goes and comes back through the admin connection: seq 1 is now another event.
      const admin = openAgain(path);
      expect(await admin.removeChannel('sales')).toBe(true);
      await admin.createChannel(plainChannel('sales'));
      expect(seqOf(await admin.appendEvent(newEvent('sales', 'after', { headers: [['X-Which', 'after']] })))).toBe(1);
      await server.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));

      const claimed = await server.claimDeliveries({ channel: 'sales', consumer: 'c', session: 'S1', limit: 10, ordered: false, now: new Date(T0), leaseMs: 30_000 });
      expect(claimed.map((d) => [d.event.seq, d.event.id, d.event.headersJson, new TextDecoder().decode(d.event.body)])).toEqual([
        [1, 'after', '[["X-Which","after"]]', '{"id":"after","channel":"sales"}'],
      ]);
    });

    it('interleaves its writes with the store\'s batches without losing or renumbering events', async () => {
      const { store: server, path } = openTemp();
      const admin = openAgain(path);
      await admin.createChannel(plainChannel('sales'));
      const first = bigEvents('a', 50, 64).map((e) => server.appendEvent(e));
      await admin.createChannel(plainChannel('ops'));
      const second = bigEvents('b', 50, 64).map((e) => server.appendEvent(e));
      const seqs = (await Promise.all([...first, ...second])).map(seqOf);
      expect(seqs.sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      expect(await admin.channelStats('sales')).toMatchObject({ events: 100, lastSeq: 100 });
      expect(await server.getChannel('ops')).toBeDefined();
    });
  });

  describe('maxBytes', () => {
    // Room for the schema plus a dozen 8 KiB events, so the tests do not depend on the schema's size.
    const MAX = 256 * 1024;

    it('opens and stores events under a cap smaller than the schema itself', async () => {
      // The cap limits events, never start-up: the schema always fits.
      const { store } = openTemp({ maxBytes: 4 * 1024 });
      await store.createChannel(plainChannel('sales'));
      const event = newEvent('sales', 'small', { body: new Uint8Array(randomBytes(1024)) });
      expect(await store.appendEvent(event)).toEqual({ ok: true, seq: 1, duplicate: false });
      expect(hex((await store.getEvent('sales', 'small'))?.body ?? new Uint8Array())).toBe(hex(event.body));
    });

    it('refuses with RELAY_E_STORE_FULL once full, stores nothing of the refused event and keeps the rest intact', async () => {
      const { store, path } = openTemp({ maxBytes: MAX });
      await store.createChannel(plainChannel('sales'));
      const accepted: NewEvent[] = [];
      let refused: { event: NewEvent; error: unknown } | undefined;
      for (const event of bigEvents('big', 64, 8 * 1024)) {
        const outcome = await store.appendEvent(event).then(
          (result) => ({ result }),
          (error: unknown) => ({ error }),
        );
        if ('error' in outcome) {
          refused = { event, error: outcome.error };
          break;
        }
        seqOf(outcome.result);
        accepted.push(event);
      }
      if (refused === undefined) throw new Error(`64 appends of 8 KiB all fit under maxBytes ${MAX}`);
      expect(accepted.length).toBeGreaterThan(1);
      expect(refused.error).toBeInstanceOf(RelayError);
      if (refused.error instanceof RelayError) expect(refused.error.code).toBe('RELAY_E_STORE_FULL');
      expect(accepted.length).toBeGreaterThan(0);

      expect(await store.getEvent('sales', refused.event.eventId)).toBeUndefined();
      for (const e of accepted) expect(hex((await store.getEvent('sales', e.eventId))?.body ?? new Uint8Array()), e.eventId).toBe(hex(e.body));
      // The refused append consumed no seq: the counter rolled back with it.
      expect(await store.channelStats('sales')).toMatchObject({ events: accepted.length, lastSeq: accepted.length });
      await expect(store.checkWritable()).resolves.toBeUndefined();
      // Small writes that fit still work; the store did not wedge.
      await store.setMeta('still', 'writable');

      const outside = peer(path);
      expect(outside.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(pragmaValue(outside.prepare('SELECT COUNT(*) FROM events').get())).toBe(accepted.length);
      expect(pragmaValue(outside.prepare('PRAGMA page_count').get())).toBeLessThanOrEqual(MAX / 4096);
    });

    it('accepts events again after pruning freed space, continuing the seq', async () => {
      const { store } = openTemp({ maxBytes: MAX });
      await store.createChannel(plainChannel('sales'));
      let stored = 0;
      for (const event of bigEvents('fill', 64, 8 * 1024)) {
        const error = await store.appendEvent(event).then(
          () => undefined,
          (e: unknown) => e,
        );
        if (error !== undefined) break;
        stored++;
      }
      await expectRelayError(store.appendEvent(newEvent('sales', 'more', { body: new Uint8Array(randomBytes(8 * 1024)) })), 'RELAY_E_STORE_FULL');
      expect(await store.prune({ maxAgeMs: 365 * 24 * 3600_000, maxEventsPerChannel: 1 }, new Date(T0), 1000)).toBe(stored - 1);
      const again = newEvent('sales', 'again', { body: new Uint8Array(randomBytes(8 * 1024)) });
      expect(await store.appendEvent(again)).toEqual({ ok: true, seq: stored + 1, duplicate: false });
      expect(hex((await store.getEvent('sales', again.eventId))?.body ?? new Uint8Array())).toBe(hex(again.body));
    });

    it('under concurrent load, stores every append that resolved and none that was refused', async () => {
      const { store, path } = openTemp({ maxBytes: MAX });
      await store.createChannel(plainChannel('sales'));
      const events = bigEvents('load', 80, 6 * 1024);
      // Waves of concurrent appends, so several group-commit batches meet the limit at different points.
      const outcomes: PromiseSettledResult<unknown>[] = [];
      for (let wave = 0; wave < 8; wave++) {
        outcomes.push(...(await Promise.allSettled(events.slice(wave * 10, wave * 10 + 10).map((e) => store.appendEvent(e)))));
      }
      let refusedCount = 0;
      for (const [i, outcome] of outcomes.entries()) {
        const event = events[i];
        if (event === undefined) throw new Error('outcome without event');
        const stored = await store.getEvent('sales', event.eventId);
        if (outcome.status === 'fulfilled') {
          expect(hex(stored?.body ?? new Uint8Array()), event.eventId).toBe(hex(event.body));
        } else {
          refusedCount++;
          expect(outcome.reason).toBeInstanceOf(RelayError);
          if (outcome.reason instanceof RelayError) expect(outcome.reason.code).toBe('RELAY_E_STORE_FULL');
          expect(stored, event.eventId).toBeUndefined();
        }
      }
      expect(refusedCount).toBeGreaterThan(0);
      const stats = await store.channelStats('sales');
      expect(stats.events).toBe(outcomes.length - refusedCount);
      expect(stats.lastSeq).toBe(stats.events);
      expect(peer(path).pragma('integrity_check', { simple: true })).toBe('ok');
    });
  });

  it('rejects reads after close() with RELAY_E_STORE_UNAVAILABLE', async () => {
    const { store } = openTemp();
    await store.close();
    for (const call of [store.getMeta('x'), store.listChannels(), store.listEvents({ visibleChannels: null, limit: 1 })]) {
      const error = await rejectionOf(call);
      expect(error).toBeInstanceOf(RelayError);
      if (error instanceof RelayError) expect(error.code).toBe('RELAY_E_STORE_UNAVAILABLE');
    }
  });
});
