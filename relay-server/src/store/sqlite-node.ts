import { DatabaseSync } from 'node:sqlite';
import type { SqliteDatabase, SqliteDriver, SqliteErrorKind } from './sqlite-driver.js';

/**
 * The driver for runtimes with a built-in `node:sqlite` (Deno 2, Node 22.5+). better-sqlite3
 * is a native addon on the legacy V8 ABI, which Deno cannot load.
 */
export const nodeSqliteDriver: SqliteDriver = {
  name: 'node:sqlite',
  open(path: string): SqliteDatabase {
    return new DatabaseSync(path) as unknown as SqliteDatabase;
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
};
