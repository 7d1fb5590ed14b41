import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Store } from '../src/store/store.js';
import { T0, newEvent, plainChannel, seqOf, storeRunner, type OpenStore } from './store-conformance.js';

/**
 * What operators read from a store (metrics, `relay-server doctor`): its size on disk, its group
 * commits, and how many of a consumer's events wait for a retry. Runs against every engine.
 */
export function describeOperationsConformance(engine: string, open: OpenStore): void {
  const withStore = storeRunner(open);

  describe(`Operations conformance: ${engine}`, () => {
    it('reports its size on disk, growing as events are stored', () =>
      withStore(async (store) => {
        await store.createChannel(plainChannel('sales'));
        const empty = await store.storageBytes();
        expect(empty).toBeGreaterThan(0);
        // Random bytes: Postgres compresses large values, and these must take their size on disk.
        const body = new Uint8Array(randomBytes(64 * 1024));
        for (let i = 0; i < 20; i++) seqOf(await store.appendEvent(newEvent('sales', `big${i}`, { body })));
        expect(await store.storageBytes()).toBeGreaterThan(empty + 20 * 32 * 1024);
      }));

    it('tells flush listeners about every durable group commit, with its events', () =>
      withStore(async (store) => {
        await store.createChannel(plainChannel('sales'));
        const flushes: [number, number][] = [];
        const stop = store.onAppendFlushed((events, seconds) => flushes.push([events, seconds]));
        expect(stop, 'every engine reports its flushes').toBeTypeOf('function');
        // Issued together, they form one batch; the next append is a commit of its own.
        (await Promise.all([1, 2, 3].map((i) => store.appendEvent(newEvent('sales', `e${i}`))))).forEach(seqOf);
        seqOf(await store.appendEvent(newEvent('sales', 'e4')));
        expect(flushes.map(([events]) => events)).toEqual([3, 1]);
        for (const [, seconds] of flushes) expect(seconds).toBeGreaterThanOrEqual(0);
        stop?.();
        seqOf(await store.appendEvent(newEvent('sales', 'e5')));
        expect(flushes).toHaveLength(2);
      }));

    it('counts the pending events that wait for a retry apart from those in flight', () =>
      withStore(async (store) => {
        await store.createChannel(plainChannel('sales'));
        for (let i = 1; i <= 3; i++) seqOf(await store.appendEvent(newEvent('sales', `e${i}`, { receivedAt: new Date(T0 + i * 1000) })));
        await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
        const now = T0 + 100_000;
        const claimed = await store.claimDeliveries({ channel: 'sales', consumer: 'c', session: 'S1', limit: 2, ordered: false, now: new Date(now), leaseMs: 30_000 });
        expect(claimed.map((d) => d.event.seq)).toEqual([1, 2]);
        const outcome = { channel: 'sales', consumer: 'c', seq: 1, attempt: 1, session: 'S1', now: new Date(now + 1), latencyMs: 3, status: 500 };
        expect((await store.nackDelivery(outcome, new Date(now + 60_000))).state).toBe('retry');
        expect((await store.listConsumers('sales')).map((c) => [c.pending, c.retrying, c.failed])).toEqual([[3, 1, 0]]);
      }));

    it('keeps the audit log newest first, with its actors and details', () =>
      withStore(async (store) => {
        expect(await store.listAudit(10)).toEqual([]);
        const at = (s: number): Date => new Date(T0 + s * 1000);
        await store.appendAudit({ at: at(1), actor: { kind: 'cli' }, action: 'channel.add', target: 'sales', detail: { verify: 'hmac', settings: ['verify'] } });
        await store.appendAudit({ at: at(2), actor: { kind: 'token', name: 'ops@example' }, action: 'consumer.replay', target: 'sales/laptop', detail: { queued: 3, missing: 0 } });
        await store.appendAudit({ at: at(3), actor: { kind: 'token', name: 'cli' }, action: 'token.revoke', target: 'asha', detail: {} });
        const entries = await store.listAudit(10);
        expect(entries).toEqual([
          { at: at(3), actor: { kind: 'token', name: 'cli' }, action: 'token.revoke', target: 'asha', detail: {} },
          { at: at(2), actor: { kind: 'token', name: 'ops@example' }, action: 'consumer.replay', target: 'sales/laptop', detail: { queued: 3, missing: 0 } },
          { at: at(1), actor: { kind: 'cli' }, action: 'channel.add', target: 'sales', detail: { verify: 'hmac', settings: ['verify'] } },
        ]);
        expect((await store.listAudit(2)).map((e) => e.action)).toEqual(['token.revoke', 'consumer.replay']);
      }));
  });
}
