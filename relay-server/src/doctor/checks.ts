import { statfsSync } from 'node:fs';
import type { ServerConfig } from '../config.js';
import { RelayError } from '../errors.js';
import { openConfiguredStore, sqlitePath } from '../store/open.js';
import type { SqliteDriver } from '../store/sqlite-driver.js';
import type { Store } from '../store/store.js';
import { formatDuration } from '../units.js';
import { inspectSqlite, type StoreInspection } from './inspect.js';

/** `ok`: fine; `warn`: worth a look, the relay works; `fail`: the relay cannot work as it should. */
export type CheckStatus = 'ok' | 'warn' | 'fail';

/** One finding of {@link runDoctor}. */
export interface DoctorCheck {
  name: string;
  status: CheckStatus;
  detail: string;
  /** The figure behind the check, for scripts: bytes (size, free disk), ms (oldest event's age, clock difference), consumers failing. */
  value?: number;
}

/** Everything {@link runDoctor} found; `ok` is false when any check failed. */
export interface DoctorReport {
  engine: 'sqlite' | 'postgres';
  /** The store's file, or the Postgres URL without its password. */
  store: string;
  checks: DoctorCheck[];
  ok: boolean;
}

/** Thresholds, in one place so the docs can name them. */
export const DOCTOR_LIMITS = Object.freeze({
  /** Free disk below this is a warning: a backup or a burst of events needs room. */
  freeDiskWarnBytes: 1024 ** 3,
  /** Free disk below this fails: SQLite may soon answer SQLITE_FULL. */
  freeDiskFailBytes: 64 * 1024 ** 2,
  /** Share of --max-db-size above which the size is a warning. */
  capWarnShare: 0.8,
  /** Clock difference to Postgres above which leases and retry times drift (warning, failure). */
  clockWarnMs: 1_000,
  clockFailMs: 10_000,
});

const MIB = 1024 * 1024;

function bytes(n: number): string {
  return n >= 1024 * MIB ? `${(n / 1024 / MIB).toFixed(1)} GiB` : `${(n / MIB).toFixed(1)} MiB`;
}

function reason(error: unknown): string {
  if (error instanceof RelayError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

/**
 * The checks an operator runs on the relay's host: the store answers and takes writes, its
 * schema version suits this relay-server, its size and the free disk, the oldest event (is
 * retention running?), consumers whose deliveries fail, and, with Postgres, the clock difference
 * to the database. A store whose schema is not this relay-server's is inspected but not opened,
 * since opening migrates it. Never throws for what it finds; the report says it.
 */
export async function runDoctor(config: ServerConfig, driver: SqliteDriver, now: () => Date = () => new Date()): Promise<DoctorReport> {
  const engine = config.databaseUrl === undefined ? 'sqlite' : 'postgres';
  const report: DoctorReport = { engine, store: sqlitePath(config.dataDir), checks: [], ok: true };
  // The Postgres driver is loaded only for Postgres stores, as everywhere.
  if (config.databaseUrl !== undefined) report.store = (await import('../store/postgres-connection.js')).describeDatabaseUrl(config.databaseUrl);
  const add: Add = (name, status, detail, value) => {
    report.checks.push({ name, status, detail, ...(value !== undefined ? { value } : {}) });
    if (status === 'fail') report.ok = false;
  };

  let inspection: StoreInspection;
  try {
    inspection = config.databaseUrl === undefined ? inspectSqlite(driver, sqlitePath(config.dataDir)) : await (await import('./inspect-postgres.js')).inspectPostgres(config.databaseUrl);
  } catch (error) {
    add('store', 'fail', `cannot read the store: ${reason(error)}`);
    return report;
  }
  const supported = inspection.supportedVersion;
  const version = inspection.schemaVersion;
  if (version === null) {
    add('schema', 'fail', `no relay store at ${report.store}; check --data-dir or --database-url`);
    return report;
  }
  if (version > supported) add('schema', 'fail', `version ${version}, written by a newer relay-server (this one supports up to ${supported}); upgrade relay-server`);
  else if (version < supported) add('schema', 'warn', `version ${version}; this relay-server migrates it to ${supported} when it starts (back up first)`);
  else add('schema', 'ok', `version ${version}`);

  if (version === supported) await storeChecks(config, driver, add, now);
  if (engine === 'sqlite') diskCheck(config, add);
  oldestEventCheck(config, inspection.oldestEventAt, now(), add);
  if (inspection.clock) {
    const clock = clockCheck(inspection.clock);
    add(clock.name, clock.status, clock.detail, clock.value);
  }
  return report;
}

type Add = (name: string, status: CheckStatus, detail: string, value?: number) => void;

async function storeChecks(config: ServerConfig, driver: SqliteDriver, add: Add, now: () => Date): Promise<void> {
  let store: Store;
  try {
    store = (await openConfiguredStore(config, driver, { create: false })).store;
  } catch (error) {
    add('store', 'fail', `cannot open: ${reason(error)}`);
    return;
  }
  try {
    const started = performance.now();
    try {
      await store.checkWritable();
      add('store', 'ok', `can take a write (${(performance.now() - started).toFixed(1)} ms)`);
    } catch (error) {
      add('store', 'fail', reason(error));
      return;
    }
    try {
      await store.setMeta('doctor_checked_at', now().toISOString());
      add('writable', 'ok', 'a write committed');
    } catch (error) {
      add('writable', 'fail', reason(error));
    }
    const size = await store.storageBytes();
    if (config.maxDbBytes === undefined) add('size', 'ok', bytes(size), size);
    else {
      const share = size / config.maxDbBytes;
      const detail = `${bytes(size)}, ${Math.round(share * 100)}% of --max-db-size ${bytes(config.maxDbBytes)}`;
      add('size', share >= 1 ? 'fail' : share >= DOCTOR_LIMITS.capWarnShare ? 'warn' : 'ok', share >= 1 ? `${detail}: ingest answers 503` : detail, size);
    }
    await consumerCheck(store, add, now());
  } catch (error) {
    add('store', 'fail', reason(error));
  } finally {
    await store.close();
  }
}

async function consumerCheck(store: Store, add: Add, now: Date): Promise<void> {
  const failing: string[] = [];
  let count = 0;
  for (const channel of await store.listChannels()) {
    for (const c of await store.listConsumers(channel.name)) {
      count += 1;
      if (c.retrying === 0 && c.failed === 0) continue;
      const age = c.oldestPendingAt ? `, oldest pending ${formatDuration(Math.max(0, now.getTime() - c.oldestPendingAt.getTime()))} old` : '';
      failing.push(`${c.channel}/${c.name}: ${c.retrying} waiting for a retry, ${c.failed} parked${age}`);
    }
  }
  if (failing.length === 0) add('consumers', 'ok', `${count} consumer${count === 1 ? '' : 's'}, none failing`, 0);
  else add('consumers', 'warn', `${failing.length} of ${count} failing: ${failing.join('; ')}`, failing.length);
}

function diskCheck(config: ServerConfig, add: Add): void {
  let free: number;
  try {
    const fs = statfsSync(config.dataDir);
    free = Number(fs.bavail) * Number(fs.bsize);
  } catch (error) {
    add('free disk', 'warn', `cannot be read here: ${reason(error)}`);
    return;
  }
  const detail = `${bytes(free)} free for ${config.dataDir}`;
  const status = free < DOCTOR_LIMITS.freeDiskFailBytes ? 'fail' : free < DOCTOR_LIMITS.freeDiskWarnBytes ? 'warn' : 'ok';
  const why = status === 'fail' ? ': the store will soon be full' : status === 'warn' ? `: less than ${bytes(DOCTOR_LIMITS.freeDiskWarnBytes)}` : '';
  add('free disk', status, `${detail}${why}`, free);
}

function oldestEventCheck(config: ServerConfig, oldest: Date | null, now: Date, add: Add): void {
  if (oldest === null) {
    add('oldest event', 'ok', 'no events stored');
    return;
  }
  const age = Math.max(0, now.getTime() - oldest.getTime());
  const detail = `${oldest.toISOString()} (${formatDuration(age)} old; --retention-max-age ${formatDuration(config.retentionMaxAgeMs)})`;
  // Retention runs every interval; give it two and an hour's slack before calling it stuck.
  const overdue = age > config.retentionMaxAgeMs + 2 * config.retentionIntervalMs + 3_600_000;
  add('oldest event', overdue ? 'warn' : 'ok', overdue ? `${detail}: retention is not removing old events (is relay-server running with this setting?)` : detail, age);
}

/**
 * Judges the clock difference to Postgres from one `SELECT now()`: the database's time against
 * the midpoint of the local times before and after the query, whose half-distance bounds the error.
 */
export function clockCheck(clock: NonNullable<StoreInspection['clock']>): DoctorCheck {
  const skew = clock.databaseNow - (clock.askedAt + clock.answeredAt) / 2;
  const detail = `Postgres is ${Math.abs(skew).toFixed(0)} ms ${skew >= 0 ? 'ahead of' : 'behind'} this host (±${((clock.answeredAt - clock.askedAt) / 2).toFixed(0)} ms)`;
  const value = Math.round(skew);
  if (Math.abs(skew) >= DOCTOR_LIMITS.clockFailMs) return { name: 'clock', status: 'fail', detail: `${detail}: leases and retry times go wrong; sync the clocks (NTP)`, value };
  if (Math.abs(skew) >= DOCTOR_LIMITS.clockWarnMs) return { name: 'clock', status: 'warn', detail: `${detail}: keep the clocks in sync (NTP)`, value };
  return { name: 'clock', status: 'ok', detail, value };
}
