import { statSync, statfsSync } from 'node:fs';
import { dirname } from 'node:path';
import { RelayError } from '../errors.js';
import type { SqliteDatabase, SqliteDriver, SqliteStatement } from './sqlite-driver.js';

/** The tables appends and deliveries write; without any of them the store cannot take a write. */
const TABLES = ['meta', 'channels', 'tokens', 'events', 'consumers', 'deliveries', 'attempts'] as const;

/** Free space below which the store reports itself full, by default. */
export const DEFAULT_MIN_FREE_BYTES = 16 * 1024 * 1024;

/** What {@link SqliteReadiness} looks at. */
export interface SqliteReadinessOptions {
  db: SqliteDatabase;
  driver: SqliteDriver;
  /** The database file. */
  path: string;
  /** The connection's own busy_timeout, restored after the probe. */
  busyTimeoutMs: number;
  /** Free bytes on the database's file system below which the store counts as full. */
  minFreeBytes: number;
}

/**
 * Whether the SQLite store can take a write now, checked without writing and without waiting:
 * the file is still the one opened, the tables are there, no other process holds the write lock,
 * and the file system has room. Runs on the store's own connection, between its transactions.
 */
export class SqliteReadiness {
  private readonly options: SqliteReadinessOptions;
  /** The file opened; a file removed or replaced since would not keep what is written now. */
  private readonly identity: { dev: number; ino: number };
  private readonly tables: SqliteStatement;
  private readonly begin: SqliteStatement;
  private readonly rollback: SqliteStatement;

  constructor(options: SqliteReadinessOptions) {
    this.options = options;
    const { dev, ino } = statSync(options.path);
    this.identity = { dev, ino };
    this.tables = options.db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name IN (${TABLES.map(() => '?').join(', ')})`);
    this.begin = options.db.prepare('BEGIN IMMEDIATE');
    this.rollback = options.db.prepare('ROLLBACK');
  }

  /** Returns when the store can take a write; throws a RelayError naming the reason otherwise. */
  check(): void {
    this.checkFile();
    this.checkTables();
    this.checkLock();
    this.checkSpace();
  }

  private checkFile(): void {
    const { path } = this.options;
    let current: { dev: number; ino: number } | undefined;
    try {
      current = statSync(path);
    } catch {
      current = undefined;
    }
    if (current?.dev !== this.identity.dev || current.ino !== this.identity.ino) {
      throw new RelayError('RELAY_E_STORE_UNAVAILABLE', `(sqlite: ${path} was removed or replaced since relay-server opened it, so what it writes now would be lost; restart relay-server)`, { reason: 'file-replaced' });
    }
  }

  private checkTables(): void {
    const present = new Set((this.tables.all(...TABLES) as { name: string }[]).map((row) => row.name));
    const missing = TABLES.filter((table) => !present.has(table));
    if (missing.length > 0) {
      throw new RelayError('RELAY_E_STORE_UNAVAILABLE', `(sqlite: tables missing from ${this.options.path}: ${missing.join(', ')}; restore the file from a backup)`, { reason: 'schema-missing' });
    }
  }

  /** Takes the write lock without waiting for it and lets it go at once; nothing is written. */
  private checkLock(): void {
    const { db, driver, busyTimeoutMs } = this.options;
    db.exec('PRAGMA busy_timeout = 0');
    try {
      this.begin.run();
      this.rollback.run();
    } catch (error) {
      if (driver.errorKind(error) === 'busy') {
        throw new RelayError(
          'RELAY_E_STORE_UNAVAILABLE',
          `(sqlite: another process holds the write lock on ${this.options.path}, an admin command or a sqlite3 shell in a transaction; appends wait for it)`,
          { cause: error, reason: 'locked' },
        );
      }
      throw new RelayError('RELAY_E_STORE_UNAVAILABLE', `(${driver.name}: ${error instanceof Error ? error.message : String(error)})`, { cause: error, reason: 'store-error' });
    } finally {
      db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    }
  }

  private checkSpace(): void {
    const dir = dirname(this.options.path);
    let free: number;
    try {
      const stats = statfsSync(dir);
      free = stats.bavail * stats.bsize;
    } catch {
      // A runtime without statfs: appends still answer RELAY_E_STORE_FULL once the disk is full.
      return;
    }
    if (free < this.options.minFreeBytes) {
      throw new RelayError('RELAY_E_STORE_FULL', `(sqlite: ${free} bytes free on the file system of ${dir}, under the ${this.options.minFreeBytes} the store keeps in reserve)`, { reason: 'disk-full' });
    }
  }
}
