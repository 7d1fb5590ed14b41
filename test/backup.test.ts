import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL, adminQuery, createTestSchema, urlWithSchema } from './support/postgres.js';
import { killAllChildren, runCli, runCliJson, sign, startRelayServer, tempDir, type RelayServerProcess } from './support/processes.js';
import { SCHEMA_VERSION as SQLITE_SCHEMA_VERSION } from '../relay-server/src/store/sqlite-schema.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  await killAllChildren();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Bodies big enough that the store spans many backup steps while the loop keeps writing. */
const PADDING = 'x'.repeat(24 * 1024);

/**
 * Posts signed events from `workers` concurrent senders until `stop()` is called, `maxEvents`
 * are acked or `maxMs` passes. Every id answered 200 is recorded, in the order the answers came.
 */
function ingestLoop(server: RelayServerProcess, secret: string, options: { workers: number; maxEvents: number; maxMs: number }) {
  const acked: string[] = [];
  const deadline = Date.now() + options.maxMs;
  let next = 0;
  let stopped = false;
  let firstAcks: { count: number; resolve: () => void } | undefined;
  const worker = async (): Promise<void> => {
    while (!stopped && Date.now() < deadline && next < options.maxEvents) {
      const id = `evt_load_${next++}`;
      const body = JSON.stringify({ event_id: id, event_type: 'call.answered', payload: { padding: PADDING } });
      const res = await fetch(`${server.url}/hooks/myoperator`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-myoperator-signature': sign(body, secret) },
        body,
      });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`ingest answered ${res.status} for ${id}`);
      acked.push(id);
      if (firstAcks && acked.length >= firstAcks.count) firstAcks.resolve();
    }
  };
  const done = Promise.all(Array.from({ length: options.workers }, worker));
  return {
    acked,
    done,
    /** Resolves once `count` events are acked (rejects if the loop ends first). */
    ackedAtLeast(count: number): Promise<void> {
      return new Promise((resolve, reject) => {
        if (acked.length >= count) return resolve();
        firstAcks = { count, resolve };
        done.then(() => reject(new Error(`the loop ended after ${acked.length} acks, before ${count}`)), reject);
      });
    },
    stop(): void {
      stopped = true;
    },
  };
}

describe('relay-server backup', () => {
  it('copies a running, ingesting relay: every event acked before it began, integrity ok, and the copy starts as a relay', async () => {
    const dir = tempDir('relay-backup-');
    cleanups.push(dir.remove);
    const dataDir = join(dir.path, 'data');
    const server = await startRelayServer({ dataDir, args: ['--rate-limit-channel', '0', '--rate-limit-ip', '0', '--log-level', 'warn'] });
    const banner = server.banner;
    if (!banner) throw new Error('no first-start banner');

    const load = ingestLoop(server, banner.secret, { workers: 4, maxEvents: 20_000, maxMs: 60_000 });
    // About 10 MiB of events before the backup, so the copy takes several steps while writes go on.
    await load.ackedAtLeast(400);
    const ackedBefore = [...load.acked];
    const backupFile = join(dir.path, 'relay-backup.db');
    const backup = await runCli(['backup', '--data-dir', dataDir, '--to', backupFile], { timeoutMs: 60_000 });
    const ackedDuring = load.acked.length - ackedBefore.length;
    load.stop();
    await load.done;
    expect(backup.code, backup.stderr).toBe(0);
    expect(backup.stderr).toMatch(/^backup: 100% \((\d+) of \1 pages\)$/m);
    // The relay kept taking webhooks while the copy ran.
    expect(ackedDuring).toBeGreaterThan(0);

    const report = (await runCliJson(['backup', '--verify', backupFile, '--json'])) as { ok: boolean; schemaVersion: number; events: number; channels: number; tokens: number };
    expect(report).toMatchObject({ ok: true, schemaVersion: SQLITE_SCHEMA_VERSION, channels: 1, tokens: 1 });
    expect(report.events).toBeGreaterThanOrEqual(ackedBefore.length);

    const copy = new Database(backupFile, { readonly: true, fileMustExist: true });
    try {
      expect(copy.prepare('PRAGMA integrity_check').all()).toEqual([{ integrity_check: 'ok' }]);
      const stored = new Set((copy.prepare("SELECT event_id FROM events WHERE channel = 'myoperator'").all() as { event_id: string }[]).map((r) => r.event_id));
      expect(ackedBefore.filter((id) => !stored.has(id))).toEqual([]);
    } finally {
      copy.close();
    }
    await server.stop();

    // Restore: the file as relay.db of an empty data dir.
    const restoredDir = join(dir.path, 'restored');
    mkdirSync(restoredDir, { mode: 0o700 });
    copyFileSync(backupFile, join(restoredDir, 'relay.db'));
    const restored = await startRelayServer({ dataDir: restoredDir, args: ['--log-level', 'warn'] });
    expect(restored.banner).toBeUndefined();
    const sample = [ackedBefore[0], ackedBefore[Math.floor(ackedBefore.length / 2)], ackedBefore[ackedBefore.length - 1]];
    for (const id of sample) {
      const res = await fetch(`${restored.url}/api/events/myoperator/${id}`, { headers: { authorization: `Bearer ${banner.adminToken}` } });
      expect(res.status, id).toBe(200);
      const event = (await res.json()) as { id: string; bodyText: string };
      expect(event.id).toBe(id);
      expect(JSON.parse(event.bodyText)).toEqual({ event_id: id, event_type: 'call.answered', payload: { padding: PADDING } });
    }
    await restored.stop();
  });

  it('refuses to overwrite a file, and a Postgres store, with coded errors', async () => {
    const dir = tempDir('relay-backup-');
    cleanups.push(dir.remove);
    const dataDir = join(dir.path, 'data');
    const server = await startRelayServer({ dataDir, args: ['--log-level', 'warn'] });
    await server.stop();
    const taken = join(dir.path, 'taken.db');
    copyFileSync(join(dataDir, 'relay.db'), taken);
    const overwrite = await runCli(['backup', '--data-dir', dataDir, '--to', taken]);
    expect([overwrite.code, overwrite.stderr]).toEqual([2, expect.stringMatching(/^error RELAY_E_CONFIG_INVALID: .*--to: .* exists/)]);
    const postgres = await runCli(['backup', '--database-url', 'postgres://127.0.0.1/none', '--to', join(dir.path, 'pg.db')]);
    expect([postgres.code, postgres.stderr]).toEqual([2, expect.stringMatching(/^error RELAY_E_CONFIG_INVALID: .*pg_dump/)]);
    const neither = await runCli(['backup', '--data-dir', dataDir]);
    expect([neither.code, neither.stderr]).toEqual([2, expect.stringMatching(/^error RELAY_E_CONFIG_INVALID: .*--to, --verify/)]);
  });
});

/** Whether the Postgres client tools the deployment guide uses are installed. */
function havePgTools(): boolean {
  try {
    execFileSync('pg_dump', ['--version'], { stdio: 'ignore' });
    execFileSync('pg_restore', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe.runIf(havePgTools())('a Postgres store, backed up as docs/deployment.md says', () => {
  it('comes back whole from pg_dump and pg_restore into an empty database, and takes new events', async () => {
    const dir = tempDir('relay-pgdump-');
    cleanups.push(dir.remove);
    const schema = await createTestSchema('relay_dump');
    cleanups.push(() => schema.drop());
    const server = await startRelayServer({ args: ['--database-url', schema.url, '--log-level', 'warn'] });
    const banner = server.banner;
    if (!banner) throw new Error('no first-start banner');
    const post = async (url: string, id: string): Promise<number> => {
      const body = JSON.stringify({ event_id: id, event_type: 'call.answered' });
      const res = await fetch(`${url}/hooks/myoperator`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-myoperator-signature': sign(body, banner.secret) }, body });
      await res.arrayBuffer();
      return res.status;
    };
    for (let i = 0; i < 20; i++) expect(await post(server.url, `evt_pg_${i}`)).toBe(200);

    // The guide's commands, while the relay runs.
    const dump = join(dir.path, 'relay.dump');
    execFileSync('pg_dump', ['--dbname', schema.url, '--schema', schema.name, '--format', 'custom', '--file', dump]);
    await server.stop();
    const database = `${schema.name}_restored`;
    await adminQuery(`CREATE DATABASE ${database}`);
    cleanups.push(() => adminQuery(`DROP DATABASE IF EXISTS ${database}`));
    const restoredBase = new URL(TEST_DATABASE_URL);
    restoredBase.pathname = `/${database}`;
    execFileSync('pg_restore', ['--dbname', restoredBase.toString(), '--no-owner', '--exit-on-error', dump]);

    const restored = await startRelayServer({ args: ['--database-url', urlWithSchema(schema.name, restoredBase.toString()), '--log-level', 'warn'] });
    expect(restored.banner).toBeUndefined();
    const list = await fetch(`${restored.url}/api/events?channel=myoperator&limit=100`, { headers: { authorization: `Bearer ${banner.adminToken}` } });
    expect(list.status).toBe(200);
    const events = ((await list.json()) as { events: { id: string; seq: number }[] }).events;
    expect(events.map((e) => e.id).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `evt_pg_${i}`).sort());
    // Sequences came along: a new event gets the next seq, not a clash.
    expect(await post(restored.url, 'evt_pg_after')).toBe(200);
    const after = await fetch(`${restored.url}/api/events/myoperator/evt_pg_after`, { headers: { authorization: `Bearer ${banner.adminToken}` } });
    expect(((await after.json()) as { seq: number }).seq).toBe(21);
    await restored.stop();
  });
});
