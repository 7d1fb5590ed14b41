import { closeSync, fdatasync, openSync } from 'node:fs';

/** Flushes one file to disk; `node:fs`'s `fdatasync` in production. */
export type SyncFile = (fd: number, done: (error: Error | null) => void) => void;

/**
 * Makes SQLite commits durable without blocking the event loop. The connection commits with
 * `synchronous=NORMAL` (the commit is written to the WAL file but not flushed); a caller that
 * must not answer before its commit is on disk then awaits {@link WalSync.afterCommit}, which
 * resolves once an `fdatasync` of the WAL file that *started after that commit* has finished.
 * The flush runs in libuv's thread pool, so the event loop keeps reading requests meanwhile, and
 * every commit made while one flush runs shares the next one (group commit across batches).
 *
 * Why this is as safe as `synchronous=FULL`: a WAL commit is durable once its frames, commit
 * marker included, are on disk, which is what flushing the WAL file after the commit ensures.
 * Checkpoints are unaffected: with NORMAL, SQLite still flushes the WAL before copying it into
 * the database and flushes the database before the WAL is reused.
 */
export class WalSync {
  readonly #path: string;
  readonly #sync: SyncFile;
  #fd: number | undefined;
  #running = false;
  #last: Promise<void> = Promise.resolve();
  #waiting: { resolve: () => void; reject: (error: Error) => void }[] = [];

  /** @param walPath - the `-wal` file next to the database; opened on first use. */
  constructor(walPath: string, sync: SyncFile = fdatasync) {
    this.#path = walPath;
    this.#sync = sync;
  }

  /** Resolves when everything committed before this call is on disk; rejects if the flush failed. */
  afterCommit(): Promise<void> {
    const flushed = new Promise<void>((resolve, reject) => {
      this.#waiting.push({ resolve, reject });
      // A flush already running may have started before the caller's commit: wait for the next.
      if (!this.#running) this.#start();
    });
    // Flushes finish in the order they were asked for, so the newest one settles last.
    this.#last = flushed.catch(() => undefined);
    return flushed;
  }

  #start(): void {
    const batch = this.#waiting.splice(0);
    let fd: number;
    try {
      // SQLite keeps the WAL file (same inode) while any connection has the database open.
      fd = this.#fd ??= openSync(this.#path, 'r+');
    } catch (error) {
      for (const w of batch) w.reject(error as Error);
      return;
    }
    this.#running = true;
    this.#sync(fd, (error) => {
      this.#running = false;
      for (const w of batch) {
        if (error) w.reject(error);
        else w.resolve();
      }
      if (this.#waiting.length > 0) this.#start();
    });
  }

  /** Waits for the flushes asked for so far, then closes the file. */
  async close(): Promise<void> {
    await this.#last;
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
  }
}
