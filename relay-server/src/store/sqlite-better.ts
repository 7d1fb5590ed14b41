import Database from 'better-sqlite3';
import type { BackupProgress, SqliteDatabase, SqliteDriver, SqliteErrorKind } from './sqlite-driver.js';

/** Pages copied per backup step (4 MiB at SQLite's default page size): progress shows, and each step is short. */
const BACKUP_STEP_PAGES = 1024;

/** The Node driver: better-sqlite3 (12.x), a native addon that Deno cannot load. */
export const betterSqliteDriver: SqliteDriver = {
  name: 'better-sqlite3',
  open(path: string): SqliteDatabase {
    return new Database(path) as unknown as SqliteDatabase;
  },
  openReadOnly(path: string): SqliteDatabase {
    return new Database(path, { readonly: true, fileMustExist: true }) as unknown as SqliteDatabase;
  },
  errorKind(error: unknown): SqliteErrorKind {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code !== 'string') return 'other';
    if (code === 'SQLITE_FULL') return 'full';
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) return 'busy';
    return 'other';
  },
  async backup(source: SqliteDatabase, destination: string, onProgress: (progress: BackupProgress) => void): Promise<void> {
    let previous = Number.POSITIVE_INFINITY;
    let oneStep = false;
    const done = await (source as unknown as Database.Database).backup(destination, {
      progress({ totalPages, remainingPages }) {
        onProgress({ totalPages, remainingPages });
        // A commit by another connection (the running relay) between two steps starts the copy
        // over. Under steady ingest that could repeat forever, so the rest goes in one step: it
        // holds a read transaction throughout, which in WAL mode does not stop the relay writing.
        if (remainingPages >= previous) oneStep = true;
        previous = remainingPages;
        return oneStep ? 0x7fffffff : BACKUP_STEP_PAGES;
      },
    });
    onProgress(done);
  },
};
