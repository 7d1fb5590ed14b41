import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { RelayError } from '../errors.js';
import { join } from 'node:path';
import type { SqliteDriver } from './sqlite-driver.js';
import { SqliteStore } from './sqlite-store.js';
import type { Store } from './store.js';

/** Where the store lives, from the validated configuration. */
export interface StoreLocation {
  dataDir: string;
  maxDbBytes?: number | undefined;
}

/** The embedded store's file inside the data dir. */
export function sqlitePath(dataDir: string): string {
  return join(dataDir, 'relay.db');
}

/**
 * Opens the configured store, creating the data dir (mode 0700: it holds signing secrets) when
 * `create` is true (`relay-server start`). Admin commands pass false, so a mistyped --data-dir
 * is reported instead of silently creating an empty relay.
 */
export function openStore(location: StoreLocation, driver: SqliteDriver, create = true): Store {
  if (!create && !existsSync(sqlitePath(location.dataDir))) {
    throw new RelayError(
      'RELAY_E_CONFIG_INVALID',
      `--data-dir: no relay store at ${sqlitePath(location.dataDir)}. Point --data-dir at the relay's data dir, or run \`relay-server start --data-dir ${location.dataDir}\` once to create it.`,
    );
  }
  mkdirSync(location.dataDir, { recursive: true, mode: 0o700 });
  const path = sqlitePath(location.dataDir);
  // The file holds signing secrets: owner-only, whatever the umask or the data dir's mode.
  // SQLite gives the -wal and -shm files the database file's mode.
  closeSync(openSync(path, 'a', 0o600));
  chmodSync(path, 0o600);
  return new SqliteStore({
    path,
    driver,
    ...(location.maxDbBytes !== undefined ? { maxBytes: location.maxDbBytes } : {}),
  });
}
