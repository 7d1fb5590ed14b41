import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestSchema } from '../../test/support/postgres.js';
import { resolveServerConfig, type ServerConfigInput } from '../src/config.js';
import { DOCTOR_LIMITS, clockCheck, runDoctor, type DoctorReport } from '../src/doctor/checks.js';
import { openPostgresStore } from '../src/store/postgres-store.js';
import { betterSqliteDriver } from '../src/store/sqlite-better.js';
import type { Store } from '../src/store/store.js';
import { tempDir, tempSqliteStore } from './harness.js';
import { newEvent, plainChannel, seqOf } from './store-conformance.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A closed SQLite store with a channel, prepared by `fill`; returns its data dir. */
async function sqliteStore(fill: (store: Store, path: string) => Promise<void> = async () => undefined): Promise<string> {
  const { store, dir, path, remove } = tempSqliteStore();
  cleanups.push(remove);
  await store.createChannel(plainChannel('sales'));
  await fill(store, path);
  await store.close();
  return dir;
}

function doctor(input: ServerConfigInput): Promise<DoctorReport> {
  return runDoctor(resolveServerConfig(input), betterSqliteDriver);
}

const statuses = (report: DoctorReport): Record<string, string> => Object.fromEntries(report.checks.map((c) => [c.name, c.status]));

/** Opens a consumer of `sales` and fails one attempt, so one event waits for its retry. */
async function failOneDelivery(store: Store): Promise<void> {
  const now = new Date();
  seqOf(await store.appendEvent(newEvent('sales', 'e1', { receivedAt: now })));
  await store.openConsumer({ channel: 'sales', name: 'laptop', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, now);
  await store.claimDeliveries({ channel: 'sales', consumer: 'laptop', session: 'S', limit: 1, ordered: false, now, leaseMs: 30_000 });
  await store.nackDelivery({ channel: 'sales', consumer: 'laptop', seq: 1, attempt: 1, session: 'S', now, latencyMs: 2, status: 500 }, new Date(now.getTime() + 3_600_000));
}

describe('relay-server doctor on SQLite', () => {
  it('passes every check of a healthy store, and records its write', async () => {
    const dataDir = await sqliteStore(async (store) => void seqOf(await store.appendEvent(newEvent('sales', 'e1', { receivedAt: new Date(Date.now() - 60_000) }))));
    const report = await doctor({ dataDir });
    expect(report.ok).toBe(true);
    expect(statuses(report)).toEqual({ schema: 'ok', store: 'ok', writable: 'ok', size: 'ok', consumers: 'ok', 'free disk': 'ok', 'oldest event': 'ok' });
    expect(report.checks.find((c) => c.name === 'size')?.value).toBeGreaterThan(0);
    const db = new Database(`${dataDir}/relay.db`, { readonly: true });
    expect((db.prepare("SELECT value FROM meta WHERE key = 'doctor_checked_at'").get() as { value: string }).value).toMatch(/^\d{4}-\d\d-\d\dT/);
    db.close();
  });

  it('fails when there is no store, and creates none', async () => {
    const dir = tempDir();
    cleanups.push(dir.remove);
    const report = await doctor({ dataDir: dir.path });
    expect([report.ok, statuses(report)]).toEqual([false, { schema: 'fail' }]);
    const again = await doctor({ dataDir: dir.path });
    expect(again.checks[0]?.detail).toContain('no relay store');
  });

  it('fails on a store from a newer relay-server, and warns on an older one, without migrating either', async () => {
    for (const [version, status] of [
      ['99', 'fail'],
      ['1', 'warn'],
    ] as const) {
      const dataDir = await sqliteStore();
      const db = new Database(`${dataDir}/relay.db`);
      db.prepare("UPDATE meta SET value = ? WHERE key = 'schema_version'").run(version);
      db.close();
      const report = await doctor({ dataDir });
      expect(report.checks[0]).toMatchObject({ name: 'schema', status });
      expect(report.checks.map((c) => c.name)).not.toContain('writable');
      const after = new Database(`${dataDir}/relay.db`, { readonly: true });
      expect(after.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get()).toEqual({ value: version });
      after.close();
    }
  });

  it('names the consumers whose deliveries fail', async () => {
    const dataDir = await sqliteStore(failOneDelivery);
    const report = await doctor({ dataDir });
    const consumers = report.checks.find((c) => c.name === 'consumers');
    expect(consumers).toMatchObject({ status: 'warn', value: 1, detail: expect.stringContaining('sales/laptop: 1 waiting for a retry, 0 parked') });
    // A warning is not a failure.
    expect(report.ok).toBe(true);
  });

  it('warns when the oldest event outlived retention, and when the store nears --max-db-size', async () => {
    const dataDir = await sqliteStore(async (store, path) => {
      seqOf(await store.appendEvent(newEvent('sales', 'old', { receivedAt: new Date(Date.now() - 30 * 86_400_000) })));
      // Between the warning share of the 1 MiB cap and the cap itself, as the file will be once
      // its WAL is checkpointed at close (page_count counts the pages still in the WAL).
      const peer = new Database(path, { readonly: true });
      const fileBytes = (): number => Number((peer.prepare('PRAGMA page_count').get() as { page_count: number }).page_count) * 4096;
      for (let i = 0; i < 100 && fileBytes() < 0.88 * 1024 * 1024; i++) {
        seqOf(await store.appendEvent(newEvent('sales', `big${i}`, { body: new Uint8Array(16 * 1024).fill(i), receivedAt: new Date() })));
      }
      peer.close();
    });
    const report = await doctor({ dataDir, retentionMaxAge: '7d', maxDbSize: '1MiB' });
    expect(statuses(report)).toMatchObject({ 'oldest event': 'warn', size: 'warn' });
    expect(report.checks.find((c) => c.name === 'oldest event')?.detail).toContain('retention is not removing old events');
    expect(statuses(await doctor({ dataDir, retentionMaxAge: '60d' }))).toMatchObject({ 'oldest event': 'ok', size: 'ok' });
  });
});

describe('relay-server doctor on Postgres', () => {
  it('passes a healthy schema, with the clock difference measured', async () => {
    const schema = await createTestSchema('relay_doctor');
    cleanups.push(() => schema.drop());
    const store = await openPostgresStore({ url: schema.url, poolSize: 2, notify: false });
    await store.createChannel(plainChannel('sales'));
    await failOneDelivery(store);
    await store.close();
    const report = await doctor({ databaseUrl: schema.url });
    expect(report.store).not.toContain('options');
    expect(statuses(report)).toEqual({ schema: 'ok', store: 'ok', writable: 'ok', size: 'ok', consumers: 'warn', 'oldest event': 'ok', clock: 'ok' });
    expect(Math.abs(report.checks.find((c) => c.name === 'clock')?.value ?? Infinity)).toBeLessThan(DOCTOR_LIMITS.clockWarnMs);
  });

  it('fails, without throwing, when Postgres does not answer', async () => {
    const report = await doctor({ databaseUrl: 'postgres://postgres:secret@127.0.0.1:1/none' });
    expect([report.ok, statuses(report)]).toEqual([false, { store: 'fail' }]);
    expect(JSON.stringify(report)).not.toContain('secret');
  });

  it('judges the clock difference against its thresholds, within the query\'s own uncertainty', () => {
    const at = (skewMs: number) => clockCheck({ askedAt: 1_000_000, answeredAt: 1_000_010, databaseNow: 1_000_005 + skewMs });
    expect([at(0), at(-2_000), at(15_000)].map((c) => [c.status, c.value])).toEqual([
      ['ok', 0],
      ['warn', -2_000],
      ['fail', 15_000],
    ]);
    expect(at(-2_000).detail).toBe('Postgres is 2000 ms behind this host (±5 ms): keep the clocks in sync (NTP)');
  });
});
