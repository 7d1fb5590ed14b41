import { Worker } from 'node:worker_threads';
import type { AppendRow } from './sqlite-append.js';
import type { SqliteErrorKind } from './sqlite-driver.js';
import type { AppendResult } from './store.js';

/** What the writer thread needs to open its own connection. */
export interface WriterSetup {
  path: string;
  /** Module URL and export name of the driver, which cannot be passed to a thread as an object. */
  driverModule: string;
  driverExport: string;
  maxPageCount: number | undefined;
}

/**
 * The compiled twin of a module URL. Worker threads run plain JavaScript, but tests load this
 * package from its TypeScript sources; they then start the worker (and its driver) from dist/,
 * which `npm test` builds first.
 */
export function compiledUrl(url: string): string {
  return url.endsWith('.ts') ? url.replace(/\/src\/(?!.*\/src\/)/, '/dist/').replace(/\.ts$/, '.js') : url;
}

/** Main thread → writer. */
export type WriterRequest = { type: 'append'; id: number; rows: AppendRow[] } | { type: 'close' };

/** Writer → main thread. */
export type WriterResponse =
  | { id: number; results: AppendResult[] }
  | { id: number; error: { kind: SqliteErrorKind; message: string } }
  | { id: 0; ready: true };

/** Why a batch was not committed. */
export class WriterError extends Error {
  constructor(
    readonly kind: SqliteErrorKind,
    message: string,
  ) {
    super(message);
    this.name = 'WriterError';
  }
}

/**
 * A thread that owns the connection appends go through. A commit with `synchronous=FULL` waits
 * for the disk; on the main thread that wait would stop every request from being read. Here it
 * overlaps with reading the next batch, which also makes batches larger.
 */
export class SqliteWriter {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: (results: AppendResult[]) => void; reject: (error: Error) => void }>();
  private nextId = 1;
  private failure: Error | undefined;
  private readonly exited: Promise<void>;

  constructor(setup: WriterSetup) {
    const workerUrl = compiledUrl(import.meta.url.replace(/sqlite-writer\.(ts|js)$/, 'sqlite-writer-worker.$1'));
    this.worker = new Worker(new URL(workerUrl), { workerData: { ...setup, driverModule: compiledUrl(setup.driverModule) } });
    this.worker.on('message', (response: WriterResponse) => {
      if ('ready' in response) return;
      const waiter = this.waiting.get(response.id);
      this.waiting.delete(response.id);
      if (!waiter) return;
      if ('error' in response) waiter.reject(new WriterError(response.error.kind, response.error.message));
      else waiter.resolve(response.results);
    });
    this.worker.on('error', (error) => this.fail(error));
    this.exited = new Promise((resolve) =>
      this.worker.once('exit', () => {
        this.fail(new WriterError('other', 'the SQLite writer thread stopped'));
        resolve();
      }),
    );
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiting.values()) waiter.reject(error);
    this.waiting.clear();
  }

  /** Commits the rows in one transaction; resolves after the commit is on disk. */
  append(rows: AppendRow[]): Promise<AppendResult[]> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ type: 'append', id, rows } satisfies WriterRequest);
    });
  }

  /** Closes the writer's connection and ends the thread, after batches already sent. */
  async close(): Promise<void> {
    if (!this.failure) this.worker.postMessage({ type: 'close' } satisfies WriterRequest);
    await this.exited;
  }
}
