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

/** How far an online backup has come, as SQLite counts it. */
export interface BackupProgress {
  totalPages: number;
  remainingPages: number;
}

/** What differs between runtimes: opening a file, reading an error, copying a live database. Chosen at the entry point. */
export interface SqliteDriver {
  /** Short name for logs, e.g. `better-sqlite3`. */
  readonly name: string;
  open(path: string): SqliteDatabase;
  /** Opens an existing file without the right to change it; fails when it does not exist. */
  openReadOnly(path: string): SqliteDatabase;
  errorKind(error: unknown): SqliteErrorKind;
  /**
   * Copies `source` (a connection from this driver) into the file `destination` with SQLite's
   * online backup API, calling `onProgress` between steps, and resolves when the copy is whole.
   * The copy is one consistent state of the database: commits other connections make while it
   * runs restart it, or are not in it. Absent when the runtime's binding has no backup API.
   */
  backup?(source: SqliteDatabase, destination: string, onProgress: (progress: BackupProgress) => void): Promise<void>;
}
