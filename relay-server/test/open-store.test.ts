import { chmodSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { RelayError } from '../src/errors.js';
import { openStore } from '../src/store/open.js';
import { betterSqliteDriver } from '../src/store/sqlite-better.js';
import { tempDir } from './harness.js';

const dirs: { remove: () => void }[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) dir.remove();
});

it('creates the database owner-only, even in a world-readable data dir', async () => {
  const dir = tempDir();
  dirs.push(dir);
  chmodSync(dir.path, 0o755);
  const store = openStore({ dataDir: dir.path }, betterSqliteDriver);
  await store.setMeta('k', 'v');
  expect(statSync(join(dir.path, 'relay.db')).mode & 0o777).toBe(0o600);
  expect(statSync(join(dir.path, 'relay.db-wal')).mode & 0o777).toBe(0o600);
  await store.close();
});

it('creates a missing data dir with mode 0700 for start, and refuses it for admin commands', async () => {
  const dir = tempDir();
  dirs.push(dir);
  const missing = join(dir.path, 'nested', 'data');
  expect(() => openStore({ dataDir: missing }, betterSqliteDriver, false)).toThrow(RelayError);
  const store = openStore({ dataDir: missing }, betterSqliteDriver);
  expect(statSync(missing).mode & 0o777).toBe(0o700);
  await store.close();
});
