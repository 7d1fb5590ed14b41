import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { RelayError } from '../errors.js';
import type { BackupProgress, SqliteDatabase, SqliteDriver } from './sqlite-driver.js';
import { SCHEMA_VERSION } from './sqlite-schema.js';

/** What {@link backupSqliteStore} made. */
export interface BackupResult {
  path: string;
  bytes: number;
  pages: number;
  /** Time the copy took, in ms. */
  elapsedMs: number;
}

/**
 * Copies the embedded store at `source` (a data dir's `relay.db`, which a running relay-server
 * may be writing) to the new file `destination` with SQLite's online backup API. The copy is one
 * consistent state of the store, holding every event committed before the backup began; it is
 * written under a temporary name and renamed when whole, with mode 0600 (it holds signing
 * secrets), and in rollback-journal mode so it is one self-contained file. Restore it by copying
 * it into an empty data dir as `relay.db`.
 */
export async function backupSqliteStore(
  driver: SqliteDriver,
  source: string,
  destination: string,
  onProgress: (progress: BackupProgress) => void = () => undefined,
): Promise<BackupResult> {
  if (!driver.backup) throw new RelayError('RELAY_E_BACKUP_UNSUPPORTED', `(${driver.name})`);
  if (!existsSync(source)) throw new RelayError('RELAY_E_CONFIG_INVALID', `--data-dir: no relay store at ${source}.`);
  if (existsSync(destination)) throw new RelayError('RELAY_E_CONFIG_INVALID', `--to: ${destination} exists; name a new file (a backup never overwrites one).`);
  if (!existsSync(dirname(destination))) throw new RelayError('RELAY_E_CONFIG_INVALID', `--to: the directory ${dirname(destination)} does not exist.`);

  const partial = join(dirname(destination), `.${basename(destination)}.${process.pid}.partial`);
  const started = performance.now();
  // Created empty and owner-only before SQLite writes a byte of the secrets into it.
  closeSync(openSync(partial, 'wx', 0o600));
  try {
    const db = openSource(driver, source);
    try {
      await driver.backup(db, partial, onProgress);
    } finally {
      db.close();
    }
    const copy = driver.open(partial);
    let pages: number;
    try {
      // A WAL-mode copy would grow -wal and -shm files beside it when opened; a backup is one file.
      copy.exec('PRAGMA journal_mode = DELETE');
      pages = Number((copy.prepare('PRAGMA page_count').get() as { page_count: number }).page_count);
    } finally {
      copy.close();
    }
    syncFile(partial);
    renameSync(partial, destination);
    syncFile(dirname(destination));
    return { path: destination, bytes: statSync(destination).size, pages, elapsedMs: performance.now() - started };
  } catch (error) {
    rmSync(partial, { force: true });
    throw error instanceof RelayError ? error : new RelayError('RELAY_E_STORE_UNAVAILABLE', `(backup of ${source}: ${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
}

function openSource(driver: SqliteDriver, source: string): SqliteDatabase {
  const db = driver.openReadOnly(source);
  try {
    // The relay may hold the write lock for a moment; wait for it rather than fail.
    db.exec('PRAGMA busy_timeout = 5000');
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

function syncFile(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** What {@link verifySqliteBackup} found in a sound backup. */
export interface BackupReport {
  path: string;
  bytes: number;
  schemaVersion: number;
  channels: number;
  tokens: number;
  events: number;
  consumers: number;
  oldestEventAt: Date | null;
  newestEventAt: Date | null;
}

/**
 * Checks that `path` is a relay store this relay-server can start from: SQLite's
 * `integrity_check` passes, the meta table names a schema version it supports, and the tables
 * can be read. Opens the file read-only. Rejects with `RELAY_E_BACKUP_INVALID` (or
 * `RELAY_E_STORE_VERSION` for a store from a newer relay-server) saying what is wrong.
 */
export function verifySqliteBackup(driver: SqliteDriver, path: string): BackupReport {
  if (!existsSync(path)) throw new RelayError('RELAY_E_CONFIG_INVALID', `--verify: ${path} does not exist.`);
  let db: SqliteDatabase;
  try {
    db = driver.openReadOnly(path);
  } catch (error) {
    throw new RelayError('RELAY_E_BACKUP_INVALID', `(${path} cannot be opened: ${error instanceof Error ? error.message : String(error)})`, { cause: error });
  }
  try {
    return inspect(db, path);
  } catch (error) {
    if (error instanceof RelayError) throw error;
    throw new RelayError('RELAY_E_BACKUP_INVALID', `(${path}: ${error instanceof Error ? error.message : String(error)})`, { cause: error });
  } finally {
    db.close();
  }
}

function inspect(db: SqliteDatabase, path: string): BackupReport {
  const problems = (db.prepare('PRAGMA integrity_check').all() as { integrity_check: string }[]).map((r) => r.integrity_check);
  if (problems.length !== 1 || problems[0] !== 'ok') {
    throw new RelayError('RELAY_E_BACKUP_INVALID', `(integrity_check: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''})`);
  }
  const hasMeta = db.prepare("SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get() !== undefined;
  const version = hasMeta ? (db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined)?.value : undefined;
  if (version === undefined) throw new RelayError('RELAY_E_BACKUP_INVALID', `(${path} is an SQLite database but not a relay store: it has no schema version)`);
  const schemaVersion = Number(version);
  if (!Number.isInteger(schemaVersion) || schemaVersion < 1) throw new RelayError('RELAY_E_BACKUP_INVALID', `(schema version "${version}" is not one relay-server writes)`);
  if (schemaVersion > SCHEMA_VERSION) throw new RelayError('RELAY_E_STORE_VERSION', `(the backup is at schema version ${schemaVersion}; this relay-server supports up to ${SCHEMA_VERSION})`);
  const count = (table: string): number => Number((db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n);
  const range = db.prepare('SELECT MIN(received_at) AS oldest, MAX(received_at) AS newest FROM events').get() as { oldest: number | null; newest: number | null };
  return {
    path,
    bytes: statSync(path).size,
    schemaVersion,
    channels: count('channels'),
    tokens: count('tokens'),
    events: count('events'),
    consumers: count('consumers'),
    oldestEventAt: range.oldest === null ? null : new Date(Number(range.oldest)),
    newestEventAt: range.newest === null ? null : new Date(Number(range.newest)),
  };
}
