import Database from 'better-sqlite3';
import type { SqliteDatabase, SqliteDriver, SqliteErrorKind } from './sqlite-driver.js';

/** The Node driver: better-sqlite3 (12.x), a native addon that Deno cannot load. */
export const betterSqliteDriver: SqliteDriver = {
  name: 'better-sqlite3',
  open(path: string): SqliteDatabase {
    return new Database(path) as unknown as SqliteDatabase;
  },
  errorKind(error: unknown): SqliteErrorKind {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code !== 'string') return 'other';
    if (code === 'SQLITE_FULL') return 'full';
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'busy';
    return 'other';
  },
};
