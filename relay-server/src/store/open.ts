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
      `--data-dir: no relay store at ${sqlitePath(location.dataDir)}. Point --data-dir at the relay's data dir, or create it with \`relay-server init --data-dir ${location.dataDir}\`.`,
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

/** Which engine to open, from the validated configuration: Postgres when a database URL is set. */
export interface StoreConfig extends StoreLocation {
  /** `postgres://` URL; when set, the data dir is not used. */
  databaseUrl?: string | undefined;
  /** Postgres only: NOTIFY/LISTEN between processes. Default true. */
  pgNotify?: boolean;
  /** Postgres only: most pooled connections. Default 10. */
  pgPoolSize?: number;
  /** Postgres only: hot statements prepared once per connection. Default true. */
  pgPreparedStatements?: boolean;
  /** Postgres only: delivery state committed asynchronously. Default true. */
  pgAsyncDeliveryCommit?: boolean;
  /** Postgres only: `statement_timeout` of every pooled connection; 0 sets none. Default 2 s. */
  pgStatementTimeoutMs?: number;
  /** Postgres only: `lock_timeout` of every pooled connection; 0 sets none. Default 1 s. */
  pgLockTimeoutMs?: number;
  /** Postgres only: longest wait to open a connection or get a free pooled one. Default 2 s. */
  pgConnectTimeoutMs?: number;
}

/** An opened store and where it lives, as the banner names it (never with a password). */
export interface ConfiguredStore {
  store: Store;
  description: string;
}

/**
 * Opens the configured engine: the Postgres store at `databaseUrl` (applying migrations) or the
 * embedded SQLite store in the data dir. `create` false (admin commands) refuses a store that does
 * not exist yet, for either engine. `onWarning` hears trouble the Postgres store recovers from.
 */
export async function openConfiguredStore(
  config: StoreConfig,
  driver: SqliteDriver,
  options: { create?: boolean; onWarning?: (message: string, error: Error) => void } = {},
): Promise<ConfiguredStore> {
  const create = options.create ?? true;
  if (config.databaseUrl === undefined) return { store: openStore(config, driver, create), description: sqlitePath(config.dataDir) };
  // Loaded only when asked for, so SQLite relays never load the Postgres driver.
  const { openPostgresStore } = await import('./postgres-store.js');
  const store = await openPostgresStore(
    {
      url: config.databaseUrl,
      ...(config.pgNotify !== undefined ? { notify: config.pgNotify } : {}),
      ...(config.pgPoolSize !== undefined ? { poolSize: config.pgPoolSize } : {}),
      ...(config.pgPreparedStatements !== undefined ? { preparedStatements: config.pgPreparedStatements } : {}),
      ...(config.pgAsyncDeliveryCommit !== undefined ? { asyncDeliveryCommit: config.pgAsyncDeliveryCommit } : {}),
      timeouts: {
        ...(config.pgStatementTimeoutMs !== undefined ? { statementMs: config.pgStatementTimeoutMs } : {}),
        ...(config.pgLockTimeoutMs !== undefined ? { lockMs: config.pgLockTimeoutMs } : {}),
        ...(config.pgConnectTimeoutMs !== undefined ? { connectMs: config.pgConnectTimeoutMs } : {}),
      },
      ...(options.onWarning ? { onWarning: options.onWarning } : {}),
    },
    create,
  );
  return { store, description: store.description };
}
