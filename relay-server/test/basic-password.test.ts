import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../../test/support/cleanup.js';
import { createTestSchema } from '../../test/support/postgres.js';
import { applyChannelSettings } from '../src/channel-settings.js';
import type { Channel } from '../src/channel.js';
import { resolveServerConfig } from '../src/config.js';
import { RelayError } from '../src/errors.js';
import { BasicAuthVerifier } from '../src/ingest/basic-auth.js';
import { hashPassword, verifyPassword } from '../src/passwords.js';
import { sha256Hex } from '../src/secrets.js';
import { buildServer } from '../src/server.js';
import { openPostgresStore } from '../src/store/postgres-store.js';
import { betterSqliteDriver } from '../src/store/sqlite-better.js';
import { SqliteStore } from '../src/store/sqlite-store.js';
import { tempDir } from './harness.js';
import { MIGRATIONS } from '../src/store/postgres-schema.js';
import { SCHEMA_VERSION as SQLITE_SCHEMA_VERSION } from '../src/store/sqlite-schema.js';

const PASSWORD = 'correct-horse-battery';
const SCRYPT_HASH = /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/;

const disposers = cleanupAfterEach();

function storedHash(channel: Channel | undefined): string {
  if (channel?.verification.mode !== 'basic') throw new Error('not a Basic channel');
  return channel.verification.passwordHash;
}

/** The channel as relay-server wrote it before scrypt: the password's unsalted SHA-256 in hex. */
function legacyChannelJson(name: string): string {
  return JSON.stringify({
    name,
    verification: { mode: 'basic', user: 'myop', passwordHash: sha256Hex(PASSWORD) },
    maxBodyBytes: 1048576,
    acceptLegacyForm: false,
    allowIps: [],
    createdAt: '2024-05-01T10:00:00.000Z',
  });
}

describe('password hashes', () => {
  it('are salted scrypt strings that name their cost, and check the password they were made from', async () => {
    const first = hashPassword(PASSWORD);
    const second = hashPassword(PASSWORD);
    expect(first).toMatch(SCRYPT_HASH);
    expect(second).not.toBe(first);
    expect(first).not.toContain(sha256Hex(PASSWORD));
    expect(await verifyPassword(PASSWORD, first)).toBe(true);
    expect(await verifyPassword(PASSWORD, second)).toBe(true);
    expect(await verifyPassword(`${PASSWORD}!`, first)).toBe(false);
    expect(await verifyPassword('', first)).toBe(false);
  });

  it('refuses stored strings that are not a hash it reads, including a cost too high to compute', async () => {
    const [, , r, p, salt, key] = hashPassword(PASSWORD).split('$');
    for (const damaged of [sha256Hex(PASSWORD), '', 'scrypt$', `scrypt$${2 ** 30}$${r}$${p}$${salt}$${key}`, `scrypt$1000$${r}$${p}$${salt}$${key}`, `bcrypt$32768$${r}$${p}$${salt}$${key}`]) {
      await expect(verifyPassword(PASSWORD, damaged), damaged).rejects.toBeInstanceOf(RelayError);
    }
  });

  it('are what channel settings store for --basic', () => {
    const { channel } = applyChannelSettings('support', { verify: 'basic', basic: `myop:${PASSWORD}` });
    expect(storedHash(channel)).toMatch(SCRYPT_HASH);
    expect(JSON.stringify(channel)).not.toContain(PASSWORD);
  });
});

describe('BasicAuthVerifier', () => {
  it('remembers credentials that matched, and only for the hash they matched', async () => {
    const stored = { user: 'myop', passwordHash: hashPassword(PASSWORD) };
    const verifier = new BasicAuthVerifier({ concurrency: 1, maxWaiting: 0 });
    expect(await verifier.verify(stored, 'myop', PASSWORD)).toBe(true);
    // A wrong guess holds the one scrypt turn; nothing may wait for it.
    const guess = verifier.verify(stored, 'myop', 'wrong-guess');
    // The remembered sender needs no turn; a credential not remembered is refused for now.
    expect(await verifier.verify(stored, 'myop', PASSWORD)).toBe(true);
    await expect(verifier.verify(stored, 'other', PASSWORD)).rejects.toMatchObject({ code: 'RELAY_E_BASIC_AUTH_BUSY' });
    expect(await guess).toBe(false);
    // The turn is free again, and a wrong user fails even with the right password.
    expect(await verifier.verify(stored, 'other', PASSWORD)).toBe(false);
    // A new password is a new hash: what matched the old one is not taken for it.
    const changed = { user: 'myop', passwordHash: hashPassword('a-new-password') };
    expect(await verifier.verify(changed, 'myop', PASSWORD)).toBe(false);
    expect(await verifier.verify(changed, 'myop', 'a-new-password')).toBe(true);
  });
});

describe('a store written before scrypt', () => {
  it('SQLite: migrates the old SHA-256 on open, and Basic webhooks still get in with the same password', async () => {
    const dir = tempDir();
    disposers.push(dir.remove);
    const path = join(dir.path, 'relay.db');
    await new SqliteStore({ path, driver: betterSqliteDriver }).close();
    const old = new Database(path);
    old.prepare('INSERT INTO channels (name, config, created_at) VALUES (?, ?, ?)').run('support', legacyChannelJson('support'), '2024-05-01T10:00:00.000Z');
    old.prepare("UPDATE meta SET value = '2' WHERE key = 'schema_version'").run();
    old.close();

    const store = new SqliteStore({ path, driver: betterSqliteDriver });
    const app = await buildServer({ config: resolveServerConfig({ host: '127.0.0.1', port: 0, logLevel: 'warn', rateLimitChannel: 0, rateLimitIp: 0 }), store, retention: false });
    disposers.push(() => app.close());
    expect(await store.getMeta('schema_version')).toBe(String(SQLITE_SCHEMA_VERSION));
    expect(storedHash(await store.getChannel('support'))).toMatch(/^scrypt-sha256\$32768\$8\$1\$/);
    const look = new Database(path, { readonly: true });
    const raw = (look.prepare('SELECT config FROM channels').all() as { config: string }[]).map((r) => r.config).join('\n');
    look.close();
    expect(raw).not.toContain(sha256Hex(PASSWORD));

    await app.listen({ host: '127.0.0.1', port: 0 });
    const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}/hooks/support`;
    const post = async (password: string, id: string): Promise<{ status: number; code?: string }> => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Basic ${Buffer.from(`myop:${password}`).toString('base64')}` },
        body: JSON.stringify({ event_id: id, event_type: 'call.answered' }),
      });
      return { status: res.status, ...(res.status === 200 ? {} : { code: ((await res.json()) as { error: { code: string } }).error.code }) };
    };
    expect(await post(PASSWORD, 'e1')).toEqual({ status: 200 });
    expect(await post(PASSWORD, 'e2')).toEqual({ status: 200 });
    expect(await post('not-the-password', 'e3')).toEqual({ status: 401, code: 'RELAY_E_BASIC_AUTH_INVALID' });
    expect(await post(sha256Hex(PASSWORD), 'e4')).toEqual({ status: 401, code: 'RELAY_E_BASIC_AUTH_INVALID' });
    expect((await store.channelStats('support')).events).toBe(2);
  });

  it('Postgres: migration 2 rewrites the old SHA-256, and the same password still checks', async () => {
    const schema = await createTestSchema();
    disposers.push(() => schema.drop());
    // The schema as version 1 left it, with a Basic channel it wrote.
    await schema.query(`${MIGRATIONS.find((m) => m.version === 1)?.sql ?? ''}
      CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
      INSERT INTO schema_migrations (version, name) VALUES (1, 'initial schema');`);
    await schema.query("INSERT INTO channels (name, config, created_at) VALUES ('support', $1::jsonb, now())", [legacyChannelJson('support')]);

    const store = await openPostgresStore({ url: schema.url, poolSize: 1 });
    disposers.push(() => store.close());
    const hash = storedHash(await store.getChannel('support'));
    expect(hash).toMatch(/^scrypt-sha256\$32768\$8\$1\$/);
    expect(JSON.stringify(await schema.query('SELECT config FROM channels'))).not.toContain(sha256Hex(PASSWORD));
    expect(await verifyPassword(PASSWORD, hash)).toBe(true);
    expect(await verifyPassword(sha256Hex(PASSWORD), hash)).toBe(false);
  });
});
