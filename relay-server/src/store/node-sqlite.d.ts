// Types for the part of `node:sqlite` the relay uses. Node 22.5+ and Deno 2 ship the module;
// @types/node 20 does not describe it.
declare module 'node:sqlite' {
  export interface StatementResultingChanges {
    changes: number | bigint;
    lastInsertRowid: number | bigint;
  }
  export class StatementSync {
    run(...params: unknown[]): StatementResultingChanges;
    get(...params: unknown[]): unknown;
    all(...params: unknown[]): unknown[];
  }
  export class DatabaseSync {
    constructor(path: string, options?: { open?: boolean; readOnly?: boolean });
    exec(sql: string): void;
    prepare(sql: string): StatementSync;
    close(): void;
  }
  /** Node 22.16+ and Deno 2; absent in older Node releases. Resolves with the number of pages copied. */
  export const backup: ((source: DatabaseSync, path: string, options?: { rate?: number; progress?: (progress: { totalPages: number; remainingPages: number }) => void }) => Promise<number>) | undefined;
}
