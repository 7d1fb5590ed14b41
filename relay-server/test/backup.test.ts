import { closeSync, existsSync, openSync, readdirSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { backupSqliteStore, verifySqliteBackup } from '../src/store/sqlite-backup.js';
import { betterSqliteDriver } from '../src/store/sqlite-better.js';
import { expectRelayError, newEvent, plainChannel, rejectionOf, seqOf } from './store-conformance.js';
import { tempSqliteStore } from './harness.js';
import { SCHEMA_VERSION } from '../src/store/sqlite-schema.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A store file with a channel and `events` events, closed. */
async function storeFile(events: number): Promise<{ path: string; dir: string }> {
  const { store, path, dir, remove } = tempSqliteStore();
  cleanups.push(remove);
  await store.createChannel(plainChannel('sales'));
  for (let i = 0; i < events; i++) seqOf(await store.appendEvent(newEvent('sales', `e${i}`, { body: new Uint8Array(2048).fill(i % 256) })));
  await store.close();
  return { path, dir };
}

function throws(work: () => unknown): unknown {
  try {
    work();
  } catch (error) {
    return error;
  }
  throw new Error('expected an error');
}

describe('backupSqliteStore', () => {
  it('writes an owner-only, single-file copy that verifies, and leaves no temporary file', async () => {
    const { path, dir } = await storeFile(50);
    const to = join(dir, 'copy.db');
    const progress: number[] = [];
    const result = await backupSqliteStore(betterSqliteDriver, path, to, (p) => progress.push(p.remainingPages));
    expect(progress.at(-1)).toBe(0);
    expect(statSync(to).mode & 0o777).toBe(0o600);
    expect(result.bytes).toBe(statSync(to).size);
    const copy = new Database(to, { readonly: true });
    expect(copy.prepare('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'delete' });
    copy.close();
    expect(verifySqliteBackup(betterSqliteDriver, to)).toMatchObject({ schemaVersion: SCHEMA_VERSION, channels: 1, events: 50, tokens: 0, consumers: 0 });
    // Nothing beside the copy: no temporary file, no -wal or -shm of its own.
    expect(readdirSync(dir).filter((name) => !name.startsWith('relay.db'))).toEqual(['copy.db']);
  });

  it('refuses a runtime whose binding has no backup API, naming it', async () => {
    const { path, dir } = await storeFile(1);
    const error = await rejectionOf(backupSqliteStore({ ...betterSqliteDriver, name: 'old-binding', backup: undefined }, path, join(dir, 'copy.db')));
    expect(error).toMatchObject({ code: 'RELAY_E_BACKUP_UNSUPPORTED', message: expect.stringContaining('old-binding') });
    expect(existsSync(join(dir, 'copy.db'))).toBe(false);
  });

  it('refuses a destination in a directory that does not exist', async () => {
    const { path, dir } = await storeFile(1);
    await expectRelayError(backupSqliteStore(betterSqliteDriver, path, join(dir, 'missing', 'copy.db')), 'RELAY_E_CONFIG_INVALID');
  });
});

describe('verifySqliteBackup', () => {
  it('refuses a file that is not an SQLite database', async () => {
    const { dir } = await storeFile(0);
    const junk = join(dir, 'junk.db');
    writeFileSync(junk, 'this is not a database, just some text that is long enough to be read as a header');
    expect(throws(() => verifySqliteBackup(betterSqliteDriver, junk))).toMatchObject({ code: 'RELAY_E_BACKUP_INVALID' });
  });

  it('refuses an SQLite database that is not a relay store', async () => {
    const { dir } = await storeFile(0);
    const other = join(dir, 'other.db');
    const db = new Database(other);
    db.exec('CREATE TABLE notes (text TEXT)');
    db.close();
    expect(throws(() => verifySqliteBackup(betterSqliteDriver, other))).toMatchObject({ code: 'RELAY_E_BACKUP_INVALID', message: expect.stringContaining('not a relay store') });
  });

  it('refuses a store written by a newer relay-server with RELAY_E_STORE_VERSION', async () => {
    const { path } = await storeFile(0);
    const db = new Database(path);
    db.prepare("UPDATE meta SET value = '99' WHERE key = 'schema_version'").run();
    db.close();
    expect(throws(() => verifySqliteBackup(betterSqliteDriver, path))).toMatchObject({ code: 'RELAY_E_STORE_VERSION' });
  });

  it('refuses a file whose pages were damaged', async () => {
    const { path } = await storeFile(200);
    // Overwrite the middle of the file, where event pages are, as a bad disk block would.
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(8192, 0xa5), 0, 8192, Math.floor(statSync(path).size / 2 / 4096) * 4096);
    closeSync(fd);
    expect(throws(() => verifySqliteBackup(betterSqliteDriver, path))).toMatchObject({ code: 'RELAY_E_BACKUP_INVALID' });
  });
});
