import Fastify, { type FastifyBaseLogger } from 'fastify';
import { describe, expect, it } from 'vitest';
import { cleanupAfterEach } from '../../test/support/cleanup.js';
import { RetentionPruner, type RetentionOptions } from '../src/retention.js';
import type { SqliteStore } from '../src/store/sqlite-store.js';
import type { NewEvent, Store } from '../src/store/store.js';
import { tempSqliteStore } from './harness.js';
import { newEvent, plainChannel, seqOf, T0 } from './store-conformance.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** A policy that never removes anything by age. */
const FOREVER = 100 * 365 * 24 * HOUR;

const disposers = cleanupAfterEach();

/** A real SQLite store with the given channels, closed and removed after the test. */
async function storeWith(...channels: string[]): Promise<SqliteStore> {
  // Appends answer one turn after their commit instead of after a disk flush, whose time varies:
  // these tests are about how pruning and ingest take turns, not about durability.
  const { store, remove } = tempSqliteStore({ syncWal: (_fd, done) => setImmediate(() => done(null)) });
  disposers.push(remove, () => store.close());
  for (const name of channels) await store.createChannel(plainChannel(name));
  return store;
}

/** Fastify's logger with logging off: a real FastifyBaseLogger that writes nowhere. */
function silentLog(): FastifyBaseLogger {
  const app = Fastify({ logger: false });
  disposers.push(() => app.close());
  return app.log;
}

function pruner(options: Omit<RetentionOptions, 'log' | 'intervalMs'> & { intervalMs?: number }): RetentionPruner {
  const p = new RetentionPruner({ intervalMs: HOUR, log: silentLog(), ...options });
  disposers.push(() => p.stop());
  return p;
}

async function appendAll(store: Store, events: NewEvent[]): Promise<void> {
  for (const e of events) seqOf(await store.appendEvent(e));
}

async function idsOf(store: Store, channel: string): Promise<string[]> {
  return (await store.listEvents({ visibleChannels: null, channel, limit: 1000 })).events.map((e) => e.id);
}

/**
 * The same store, except that each prune starts on a later turn of the event loop, as it would on
 * an engine reached over the network. It makes "stop() waits for the pass" observable.
 */
function withAsyncPrune(store: Store): Store {
  return new Proxy(store, {
    get(target, property) {
      if (property === 'prune') {
        return async (...args: Parameters<Store['prune']>): Promise<number> => {
          await new Promise((resolve) => setImmediate(resolve));
          return target.prune(...args);
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

describe('RetentionPruner', () => {
  it('removes events older than maxAgeMs (by the given clock) and trims each channel to its newest events', async () => {
    const store = await storeWith('sales', 'ops');
    const now = new Date(T0 + 10 * HOUR);
    const old = (id: string): NewEvent => newEvent('sales', id, { receivedAt: new Date(now.getTime() - 2 * HOUR) });
    const fresh = (channel: string, id: string): NewEvent => newEvent(channel, id, { receivedAt: new Date(now.getTime() - MINUTE) });
    await appendAll(store, [old('old-1'), old('old-2'), old('old-3')]);
    await appendAll(store, ['f1', 'f2', 'f3', 'f4', 'f5', 'f6'].map((id) => fresh('sales', id)));
    await appendAll(store, [fresh('ops', 'o1'), fresh('ops', 'o2')]);

    const removed = await pruner({ store, policy: { maxAgeMs: HOUR, maxEventsPerChannel: 4 }, now: () => now }).runOnce();

    expect(removed).toBe(3 + 2);
    expect(await idsOf(store, 'sales')).toEqual(['f6', 'f5', 'f4', 'f3']);
    expect(await idsOf(store, 'ops')).toEqual(['o2', 'o1']);
    expect(await store.channelStats('sales')).toMatchObject({ events: 4, lastSeq: 9 });
  });

  it.each([35, 30, 9])('removes all %i excess events in one runOnce with batchSize 10', async (excess) => {
    const store = await storeWith('sales');
    await appendAll(store, Array.from({ length: 5 + excess }, (_, i) => newEvent('sales', `e${i}`)));

    const removed = await pruner({ store, policy: { maxAgeMs: FOREVER, maxEventsPerChannel: 5 }, batchSize: 10, now: () => new Date(T0) }).runOnce();

    expect(removed).toBe(excess);
    expect(await idsOf(store, 'sales')).toEqual(Array.from({ length: 5 }, (_, i) => `e${excess + 4 - i}`));
  });

  it('removes all 35 too-old events across channels in one runOnce with batchSize 10', async () => {
    const store = await storeWith('sales', 'ops');
    const now = new Date(T0 + 24 * HOUR);
    await appendAll(store, Array.from({ length: 35 }, (_, i) => newEvent(i % 2 ? 'sales' : 'ops', `old-${i}`, { receivedAt: new Date(T0 + i) })));
    await appendAll(store, [newEvent('sales', 'fresh', { receivedAt: now })]);

    const removed = await pruner({ store, policy: { maxAgeMs: HOUR, maxEventsPerChannel: 1000 }, batchSize: 10, now: () => now }).runOnce();

    expect(removed).toBe(35);
    expect(await idsOf(store, 'sales')).toEqual(['fresh']);
    expect(await idsOf(store, 'ops')).toEqual([]);
  });

  it('shares one pass between concurrent runOnce calls', async () => {
    const store = await storeWith('sales');
    await appendAll(store, Array.from({ length: 25 }, (_, i) => newEvent('sales', `e${i}`)));
    const p = pruner({ store, policy: { maxAgeMs: FOREVER, maxEventsPerChannel: 5 }, batchSize: 10, now: () => new Date(T0) });

    expect(await Promise.all([p.runOnce(), p.runOnce()])).toEqual([20, 20]);
    expect(await store.channelStats('sales')).toMatchObject({ events: 5 });
  });

  it('runs a pass on start(), and stop() resolves only after that pass finished', async () => {
    const store = await storeWith('sales');
    await appendAll(store, Array.from({ length: 8 }, (_, i) => newEvent('sales', `e${i}`)));
    const p = pruner({ store: withAsyncPrune(store), policy: { maxAgeMs: FOREVER, maxEventsPerChannel: 3 }, now: () => new Date(T0) });

    p.start();
    // The first prune has not started yet: it waits for the next turn of the event loop.
    expect(await store.channelStats('sales')).toMatchObject({ events: 8 });
    await p.stop();

    expect(await idsOf(store, 'sales')).toEqual(['e7', 'e6', 'e5']);
  });

  it('lets appends issued during a pass all succeed', async () => {
    const store = await storeWith('sales');
    await appendAll(store, Array.from({ length: 300 }, (_, i) => newEvent('sales', `old-${i}`, { receivedAt: new Date(T0) })));
    const p = pruner({ store, policy: { maxAgeMs: HOUR, maxEventsPerChannel: 100_000 }, batchSize: 10 });
    const timeline: string[] = [];

    const pass = p.runOnce().then((removed) => {
      timeline.push('pass done');
      return removed;
    });
    const appends: Promise<number>[] = [];
    for (let wave = 0; wave < 20; wave++) {
      for (let i = 0; i < 5; i++) {
        appends.push(
          store.appendEvent(newEvent('sales', `new-${wave}-${i}`, { receivedAt: new Date() })).then((result) => {
            timeline.push('append');
            return seqOf(result);
          }),
        );
      }
      // Let the pruner take its next batch between waves of ingest.
      await new Promise((resolve) => setImmediate(resolve));
    }
    const seqs = await Promise.all(appends);
    expect(await pass).toBe(300);

    expect(timeline.indexOf('append')).toBeLessThan(timeline.indexOf('pass done'));
    expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => 301 + i));
    const remaining = await idsOf(store, 'sales');
    expect(remaining).toHaveLength(100);
    expect(remaining.every((id) => id.startsWith('new-'))).toBe(true);
  });

  it('resolves runOnce instead of throwing when the store fails, so the background loop survives', async () => {
    const store = await storeWith('sales');
    await appendAll(store, [newEvent('sales', 'e1')]);
    await store.close();
    const p = pruner({ store, policy: { maxAgeMs: FOREVER, maxEventsPerChannel: 0 }, now: () => new Date(T0) });

    await expect(p.runOnce()).resolves.toBe(0);
  });
});
