import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../../test/support/cleanup.js';
import { createTestSchema } from '../../test/support/postgres.js';
import type { Channel } from '../src/channel.js';
import { HEARD_CHANNEL_TTL_MS, PostgresChannelCache, UNHEARD_CHANNEL_TTL_MS } from '../src/store/postgres-channel-cache.js';
import { PostgresStatistics } from '../src/store/postgres-statistics.js';
import { openPostgresStore, type PostgresStore } from '../src/store/postgres-store.js';
import { openConformanceStore } from './postgres-conformance.js';
import { describeStoreConformance, newEvent, plainChannel } from './store-conformance.js';

// The whole contract again with the settings a team behind PgBouncer in transaction mode, or one
// that trades Postgres-crash redeliveries for speed, would use.
describeStoreConformance('postgres', () => openConformanceStore({ preparedStatements: false, asyncDeliveryCommit: false }), 'plain statements, delivery state committed synchronously');

const disposers = cleanupAfterEach();

describe('PostgresChannelCache', () => {
  function cacheOver(channels: Map<string, Channel>) {
    const clock = { now: 0, listening: false, reads: 0 };
    const cache = new PostgresChannelCache(
      async (name) => {
        clock.reads += 1;
        return channels.get(name);
      },
      () => clock.listening,
      () => clock.now,
    );
    return { cache, clock };
  }

  it('shares one read among concurrent lookups of a channel, and keeps no missing channel', async () => {
    const { cache, clock } = cacheOver(new Map([['sales', plainChannel('sales')]]));
    const [a, b] = await Promise.all([cache.get('sales'), cache.get('sales')]);
    expect(a?.name).toBe('sales');
    expect(b).toBe(a);
    expect(clock.reads).toBe(1);
    expect(await cache.get('ops')).toBeUndefined();
    expect(await cache.get('ops')).toBeUndefined();
    expect(clock.reads).toBe(3);
  });

  it('serves settings a short while without LISTEN, up to the longer bound while it hears changes, and never after forget', async () => {
    const channels = new Map([['sales', plainChannel('sales')]]);
    const { cache, clock } = cacheOver(channels);
    await cache.get('sales');
    clock.now = UNHEARD_CHANNEL_TTL_MS - 1;
    await cache.get('sales');
    expect(clock.reads).toBe(1);
    clock.now = UNHEARD_CHANNEL_TTL_MS;
    await cache.get('sales');
    expect(clock.reads).toBe(2);

    clock.listening = true;
    cache.forget();
    const readAt = clock.now;
    await cache.get('sales');
    clock.now = readAt + HEARD_CHANNEL_TTL_MS - 1;
    await cache.get('sales');
    expect(clock.reads).toBe(3);
    clock.now = readAt + HEARD_CHANNEL_TTL_MS;
    await cache.get('sales');
    expect(clock.reads).toBe(4);

    cache.forget();
    await cache.get('sales');
    expect(clock.reads).toBe(5);
    // Read while LISTEN was up, but LISTEN is gone now: only the short bound holds.
    clock.listening = false;
    clock.now += UNHEARD_CHANNEL_TTL_MS;
    await cache.get('sales');
    expect(clock.reads).toBe(6);
  });

  it('does not keep a read that a change overtook', async () => {
    const channels = new Map([['sales', plainChannel('sales')]]);
    let release: () => void = () => undefined;
    let reads = 0;
    const cache = new PostgresChannelCache(
      async (name) => {
        reads += 1;
        const read = channels.get(name);
        if (reads === 1) await new Promise<void>((resolve) => (release = resolve));
        return read;
      },
      () => true,
      () => 0,
    );
    const first = cache.get('sales');
    await new Promise((resolve) => setImmediate(resolve));
    channels.set('sales', { ...plainChannel('sales'), maxBodyBytes: 1234 });
    cache.forget();
    release();
    expect((await first)?.maxBodyBytes).not.toBe(1234);
    expect((await cache.get('sales'))?.maxBodyBytes).toBe(1234);
    expect(reads).toBe(2);
  });
});

describe('PostgresStore channel settings across processes', () => {
  async function listeningStore(url: string): Promise<PostgresStore> {
    const store = await openPostgresStore({ url, poolSize: 2 });
    disposers.push(() => store.close());
    store.onRemoteEvent(() => undefined);
    await store.whenListening();
    return store;
  }

  it('sees another process change a channel, by its NOTIFY, although it keeps settings in memory', async () => {
    const schema = await createTestSchema();
    disposers.push(() => schema.drop());
    const a = await listeningStore(schema.url);
    const b = await listeningStore(schema.url);
    await a.createChannel(plainChannel('sales'));
    expect((await b.getChannel('sales'))?.maxBodyBytes).toBe(plainChannel('sales').maxBodyBytes);
    await a.updateChannel({ ...plainChannel('sales'), maxBodyBytes: 4321 });
    // Until B has heard the NOTIFY it may answer from memory; it hears it within the test's time.
    while ((await b.getChannel('sales'))?.maxBodyBytes !== 4321) await new Promise((resolve) => setImmediate(resolve));
    await a.removeChannel('sales');
    while ((await b.getChannel('sales')) !== undefined) await new Promise((resolve) => setImmediate(resolve));
    expect(await a.getChannel('sales')).toBeUndefined();
  });
});

describe('PostgresStatistics', () => {
  it('analyzes the hot tables that changed enough since their last ANALYZE, once, and leaves the others', async () => {
    const schema = await createTestSchema();
    disposers.push(() => schema.drop());
    // Two stores of 450 appends each: neither reaches its own first look (every 500 appends).
    const stores = [await openPostgresStore({ url: schema.url, poolSize: 2 }), await openPostgresStore({ url: schema.url, poolSize: 2 })];
    for (const store of stores) disposers.push(() => store.close());
    await stores[0]?.createChannel(plainChannel('sales'));
    for (const [n, store] of stores.entries()) await Promise.all(Array.from({ length: 450 }, (_, i) => store.appendEvent(newEvent('sales', `e${n}-${i}`))));
    // Their connections report their changes as they end.
    for (const store of stores) await store.close();
    const admin = new pg.Client({ connectionString: schema.url });
    await admin.connect();
    disposers.push(() => admin.end());
    // Postgres counts a backend's changes once it has reported them.
    const changed = async (): Promise<number> =>
      (await admin.query<{ n: string }>("SELECT n_mod_since_analyze AS n FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = 'events'")).rows.map((r) => Number(r.n))[0] ?? 0;
    while ((await changed()) < 900) await new Promise((resolve) => setTimeout(resolve, 50));
    const pool = new pg.Pool({ connectionString: schema.url, max: 1 });
    disposers.push(() => pool.end());
    const statistics = new PostgresStatistics(pool, schema.name, (error) => {
      throw error;
    });
    expect(await statistics.refresh()).toEqual(['events']);
    expect(await changed()).toBe(0);
    expect(await statistics.refresh()).toEqual([]);
  });
});
