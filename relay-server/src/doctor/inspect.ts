import { existsSync } from 'node:fs';
import type { SqliteDriver } from '../store/sqlite-driver.js';
import { SCHEMA_VERSION } from '../store/sqlite-schema.js';

/**
 * What a store's own tables say, read without opening it as a store: opening one migrates it,
 * which `doctor` must never do to a store a running (older or newer) relay-server holds.
 */
export interface StoreInspection {
  /** The newest schema version this relay-server reads for that engine. */
  supportedVersion: number;
  /** The schema version written in the store; null when it holds no relay store. */
  schemaVersion: number | null;
  oldestEventAt: Date | null;
  /** Postgres only: the database's clock, and the local times just before and after asking for it (ms). */
  clock?: { databaseNow: number; askedAt: number; answeredAt: number };
}

/** Reads the embedded store's file read-only. */
export function inspectSqlite(driver: SqliteDriver, path: string): StoreInspection {
  const empty = { supportedVersion: SCHEMA_VERSION, schemaVersion: null, oldestEventAt: null };
  if (!existsSync(path)) return empty;
  const db = driver.openReadOnly(path);
  try {
    db.exec('PRAGMA busy_timeout = 5000');
    const hasTable = (name: string): boolean => db.prepare("SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
    if (!hasTable('meta')) return empty;
    const version = (db.prepare("SELECT value FROM meta WHERE key = 'schema_version'").get() as { value: string } | undefined)?.value;
    const oldest = hasTable('events') ? (db.prepare('SELECT MIN(received_at) AS at FROM events').get() as { at: number | null }).at : null;
    return { ...empty, schemaVersion: version === undefined ? null : Number(version), oldestEventAt: oldest === null ? null : new Date(Number(oldest)) };
  } finally {
    db.close();
  }
}
