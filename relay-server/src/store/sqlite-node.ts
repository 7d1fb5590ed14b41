import * as sqlite from 'node:sqlite';
import type { BackupProgress, SqliteDatabase, SqliteDriver, SqliteErrorKind } from './sqlite-driver.js';

/**
 * The driver for runtimes with a built-in `node:sqlite` (Deno 2, Node 22.5+). better-sqlite3
 * is a native addon on the legacy V8 ABI, which Deno cannot load.
 */
export const nodeSqliteDriver: SqliteDriver = {
  name: 'node:sqlite',
  open(path: string): SqliteDatabase {
    return new sqlite.DatabaseSync(path) as unknown as SqliteDatabase;
  },
  openReadOnly(path: string): SqliteDatabase {
    return new sqlite.DatabaseSync(path, { readOnly: true }) as unknown as SqliteDatabase;
  },
  errorKind(error: unknown): SqliteErrorKind {
    // node:sqlite reports SQLite's primary result code as `errcode` (SQLITE_FULL = 13,
    // SQLITE_BUSY = 5, SQLITE_LOCKED = 6); extended codes keep it in the low byte.
    const errcode = (error as { errcode?: unknown } | null)?.errcode;
    if (typeof errcode !== 'number') return 'other';
    const primary = errcode & 0xff;
    if (primary === 13) return 'full';
    if (primary === 5 || primary === 6) return 'busy';
    return 'other';
  },
  // node:sqlite has backup() from Node 22.16 and in Deno 2; older bindings leave the driver without one.
  ...(typeof sqlite.backup === 'function' ? { backup: nodeBackup } : {}),
};

async function nodeBackup(source: SqliteDatabase, destination: string, onProgress: (progress: BackupProgress) => void): Promise<void> {
  const totalPages = Number((source.prepare('PRAGMA page_count').get() as { page_count: number }).page_count);
  onProgress({ totalPages, remainingPages: totalPages });
  // One step: node:sqlite's step size is fixed, and a copy in steps would start over after every
  // commit of the running relay. One step holds a read transaction, which does not stop WAL writers.
  await sqlite.backup?.(source as unknown as sqlite.DatabaseSync, destination, { rate: -1 });
  onProgress({ totalPages, remainingPages: 0 });
}
