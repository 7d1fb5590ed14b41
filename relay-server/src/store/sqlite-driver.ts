/** Values SQLite statements bind and return. */
export type SqliteValue = string | number | bigint | Uint8Array | null;

/** A prepared statement, in the subset shared by better-sqlite3 and `node:sqlite`. */
export interface SqliteStatement {
  run(...params: SqliteValue[]): { changes: number | bigint; lastInsertRowid: number | bigint };
  get(...params: SqliteValue[]): unknown;
  all(...params: SqliteValue[]): unknown[];
}

/** A synchronous SQLite connection, in the subset shared by better-sqlite3 and `node:sqlite`. */
export interface SqliteDatabase {
  exec(sql: string): void;
  prepare(sql: string): SqliteStatement;
  close(): void;
}

/** How a driver reports an engine error, so the store can answer with the right code. */
export type SqliteErrorKind = 'full' | 'busy' | 'other';

/** What differs between runtimes: opening a file and reading an error. Chosen at the entry point. */
export interface SqliteDriver {
  /** Short name for logs, e.g. `better-sqlite3`. */
  readonly name: string;
  open(path: string): SqliteDatabase;
  errorKind(error: unknown): SqliteErrorKind;
}
