import { renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../../test/support/cleanup.js';
import { RelayError } from '../src/errors.js';
import { betterSqliteDriver } from '../src/store/sqlite-better.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import { sign, startRelay, tempDir, TEST_SECRET, type TestRelay } from './harness.js';
import { rejectionOf } from './store-conformance.js';

const disposers = cleanupAfterEach();

async function relay(): Promise<TestRelay> {
  const started = await startRelay({ logLevel: 'silent' });
  disposers.push(() => started.close());
  return started;
}

/** Another process's connection to the relay's file, as an admin command or a sqlite3 shell opens it. */
function peer(path: string): Database.Database {
  const db = new Database(path);
  disposers.push(() => void db.close());
  return db;
}

async function readyz(url: string): Promise<{ status: number; code: string | undefined; message: string | undefined; reason: string | undefined }> {
  const res = await fetch(`${url}/readyz`);
  const body = (await res.json()) as { error?: { code: string; message: string }; reason?: string };
  return { status: res.status, code: body.error?.code, message: body.error?.message, reason: body.reason };
}

describe('SQLite readiness', () => {
  it('answers /readyz 503 while another process holds the write lock, and 200 once it lets go', async () => {
    const r = await relay();
    const shell = peer(r.dbPath);
    shell.exec('BEGIN IMMEDIATE');
    const unready = await readyz(r.url);
    expect(unready).toMatchObject({ status: 503, code: 'RELAY_E_STORE_UNAVAILABLE' });
    expect(unready.reason).toBe('locked');
    await expect(r.store.checkWritable()).rejects.toThrow('another process holds the write lock');
    shell.exec('ROLLBACK');
    expect(await readyz(r.url)).toMatchObject({ status: 200 });
    const body = '{"id":"after-the-lock"}';
    expect((await r.post('myoperator', body, { 'x-myoperator-signature': sign(body, TEST_SECRET) })).status).toBe(200);
  });

  it('answers /readyz 503 naming the tables that were dropped', async () => {
    const r = await relay();
    peer(r.dbPath).exec('DROP TABLE attempts');
    const unready = await readyz(r.url);
    expect(unready).toMatchObject({ status: 503, code: 'RELAY_E_STORE_UNAVAILABLE' });
    expect(unready.reason).toBe('schema-missing');
    expect(unready.message).not.toContain('relay.db');
    await expect(r.store.checkWritable()).rejects.toThrow(/tables missing from .*relay\.db: attempts;/);
  });

  it('answers /readyz 503 once the database file was removed or replaced under it', async () => {
    const r = await relay();
    expect(await readyz(r.url)).toMatchObject({ status: 200 });
    rmSync(r.dbPath);
    const removed = await readyz(r.url);
    expect(removed).toMatchObject({ status: 503, code: 'RELAY_E_STORE_UNAVAILABLE' });
    expect(removed.reason).toBe('file-replaced');
    await expect(r.store.checkWritable()).rejects.toThrow('was removed or replaced');
    // A new file at the same path is not the one the relay writes to either.
    peer(r.dbPath).exec('CREATE TABLE t (x)');
    expect(await readyz(r.url)).toMatchObject({ status: 503, code: 'RELAY_E_STORE_UNAVAILABLE' });
  });

  it('reports the store full while the file system has less room than the reserve', async () => {
    const dir = tempDir();
    disposers.push(dir.remove);
    const path = join(dir.path, 'relay.db');
    const store = new SqliteStore({ path, driver: betterSqliteDriver, minFreeBytes: Number.MAX_SAFE_INTEGER });
    disposers.push(() => store.close());
    const error = await rejectionOf(store.checkWritable());
    expect(error).toBeInstanceOf(RelayError);
    if (error instanceof RelayError) {
      expect(error.code).toBe('RELAY_E_STORE_FULL');
      expect(error.message).toMatch(/\d+ bytes free on the file system of /);
    }
    const roomy = new SqliteStore({ path: join(dir.path, 'other.db'), driver: betterSqliteDriver, minFreeBytes: 1 });
    disposers.push(() => roomy.close());
    await expect(roomy.checkWritable()).resolves.toBeUndefined();
  });

  it('keeps a file moved aside and back as the same store', async () => {
    const r = await relay();
    renameSync(r.dbPath, `${r.dbPath}.moved`);
    expect(await readyz(r.url)).toMatchObject({ status: 503 });
    renameSync(`${r.dbPath}.moved`, r.dbPath);
    expect(await readyz(r.url)).toMatchObject({ status: 200 });
  });
});
