import { describe, expect, it } from 'vitest';
import type { ClaimRequest, Delivery, Store } from '../src/store/store.js';
import { T0, expectRelayError, newEvent, plainChannel, seqOf, storeRunner, type OpenStore } from './store-conformance.js';

const SECOND = 1000;

/**
 * The delivery half of the Store contract: consumers, leased claims, acks, nacks, releases,
 * replays and the attempt log. Runs against every engine, like the rest of the conformance suite.
 */
export function describeDeliveryConformance(engine: string, open: OpenStore): void {
  const withStore = storeRunner(open);

  /** A channel `sales` with `count` events of the given types (cycled), received one second apart. */
  async function seed(store: Store, count: number, types: string[] = ['call.answered']): Promise<void> {
    await store.createChannel(plainChannel('sales'));
    for (let i = 1; i <= count; i++) {
      seqOf(await store.appendEvent(newEvent('sales', `e${i}`, { eventType: types[(i - 1) % types.length] ?? 'x', receivedAt: new Date(T0 + i * SECOND) })));
    }
  }

  function claim(store: Store, fields: Partial<ClaimRequest> = {}): Promise<Delivery[]> {
    return store.claimDeliveries({ channel: 'sales', consumer: 'c', session: 'S1', limit: 10, ordered: false, now: new Date(T0 + 100 * SECOND), leaseMs: 30 * SECOND, ...fields });
  }

  function outcome(seq: number, attempt: number, at: number, fields: { status?: number; error?: string; session?: string } = {}) {
    return { channel: 'sales', consumer: 'c', seq, attempt, session: 'S1', now: new Date(at), latencyMs: 5, ...fields };
  }

  const seqs = (deliveries: Delivery[]): number[] => deliveries.map((d) => d.event.seq);

  describe(`Delivery conformance: ${engine}`, () => {
    it('creates a consumer once and starts it where asked', () =>
      withStore(async (store) => {
        await seed(store, 5);
        const start = new Date(T0 + 200 * SECOND);
        expect(await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'now' }, filter: [], maxAttempts: null }, start)).toEqual({ created: true });
        expect(await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, start)).toEqual({ created: false });
        expect(await claim(store)).toEqual([]);
        await store.openConsumer({ channel: 'sales', name: 'from3', start: { kind: 'seq', seq: 3 }, filter: [], maxAttempts: null }, start);
        expect(seqs(await claim(store, { consumer: 'from3' }))).toEqual([3, 4, 5]);
        await store.openConsumer({ channel: 'sales', name: 'timed', start: { kind: 'time', at: new Date(T0 + 4 * SECOND) }, filter: [], maxAttempts: null }, start);
        expect(seqs(await claim(store, { consumer: 'timed' }))).toEqual([4, 5]);
        seqOf(await store.appendEvent(newEvent('sales', 'e6')));
        expect(seqs(await claim(store))).toEqual([6]);
      }));

    it('hands out events in order, up to the limit, each once, with their bytes', () =>
      withStore(async (store) => {
        await seed(store, 5);
        await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
        const first = await claim(store, { limit: 2 });
        expect(seqs(first)).toEqual([1, 2]);
        expect(first[0]).toMatchObject({ attempt: 1, replay: false, event: { id: 'e1', channel: 'sales' } });
        expect(new TextDecoder().decode(first[0]?.event.body)).toBe('{"id":"e1","channel":"sales"}');
        expect(seqs(await claim(store, { session: 'S2', limit: 10 }))).toEqual([3, 4, 5]);
        expect(await claim(store)).toEqual([]);
      }));

    it('stops a claim at its byte budget, always taking the first event, and resumes after the cut', () =>
      withStore(async (store) => {
        await store.createChannel(plainChannel('sales'));
        // Each event counts as its body (1000 bytes) plus its stored headers.
        const headers: [string, string][] = [['Content-Type', 'application/json']];
        const size = 1000 + JSON.stringify(headers).length;
        for (let i = 1; i <= 6; i++) seqOf(await store.appendEvent(newEvent('sales', `e${i}`, { body: new Uint8Array(1000).fill(0x61), headers })));
        await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
        expect(seqs(await claim(store, { maxBytes: 2 * size + 1 }))).toEqual([1, 2]);
        // One event larger than the whole budget still goes out, alone.
        expect(seqs(await claim(store, { maxBytes: 10 }))).toEqual([3]);
        expect(seqs(await claim(store, { maxBytes: 3 * size }))).toEqual([4, 5, 6]);
        // Due events count too: after the leases end, the budget cuts them as it cut new ones.
        const later = new Date(T0 + 200 * SECOND);
        expect((await claim(store, { now: later, maxBytes: 2 * size })).map((d) => [d.event.seq, d.attempt])).toEqual([
          [1, 2],
          [2, 2],
        ]);
        expect(seqs(await claim(store, { now: later }))).toEqual([3, 4, 5, 6]);
        expect(await claim(store, { now: later })).toEqual([]);
      }));

    it('refuses a new consumer past the creating token\'s limit, but not an existing one or another token\'s', () =>
      withStore(async (store) => {
        await seed(store, 1);
        const spec = { channel: 'sales', start: { kind: 'now' }, filter: [], maxAttempts: null, maxCreatedBy: 2 } as const;
        const at = new Date(T0);
        expect(await store.openConsumer({ ...spec, name: 'a1', createdBy: 'alice' }, at)).toEqual({ created: true });
        expect(await store.openConsumer({ ...spec, name: 'a2', createdBy: 'alice' }, at)).toEqual({ created: true });
        expect(await store.openConsumer({ ...spec, name: 'a3', createdBy: 'alice' }, at)).toEqual({ refused: 'consumer-limit' });
        expect(await store.openConsumer({ ...spec, name: 'a1', createdBy: 'alice' }, at)).toEqual({ created: false });
        expect(await store.openConsumer({ ...spec, name: 'b1', createdBy: 'bob' }, at)).toEqual({ created: true });
        expect((await store.listConsumers('sales')).map((c) => c.name)).toEqual(['a1', 'a2', 'b1']);
        // A deleted consumer frees its place.
        expect(await store.deleteConsumer('sales', 'a2')).toBe(true);
        expect(await store.openConsumer({ ...spec, name: 'a3', createdBy: 'alice' }, at)).toEqual({ created: true });
      }));

    it('filters by event-type globs, and filtered events are not pending', () =>
      withStore(async (store) => {
        await seed(store, 6, ['call.answered', 'call.end', 'message.received']);
        await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: ['call.e*', 'message.*'], maxAttempts: null }, new Date(T0));
        expect((await store.listConsumers('sales'))[0]?.pending).toBe(4);
        expect(seqs(await claim(store))).toEqual([2, 3, 5, 6]);
        await store.openConsumer({ channel: 'sales', name: 'lit', start: { kind: 'seq', seq: 1 }, filter: ['call.[ab]nswered', 'call_end', 'call%'], maxAttempts: null }, new Date(T0));
        expect(await claim(store, { consumer: 'lit' })).toEqual([]);
      }));

    it('acks settle an event; pending, last ack and attempts reflect it', () =>
      withStore(async (store) => {
        await seed(store, 2);
        await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
        await claim(store);
        expect(await store.ackDelivery(outcome(1, 1, T0 + 101 * SECOND, { status: 200 }))).toBe(true);
        expect(await store.ackDelivery(outcome(1, 1, T0 + 102 * SECOND, { status: 200 }))).toBe(false);
        const [info] = await store.listConsumers('sales');
        expect(info).toMatchObject({ name: 'c', pending: 1, failed: 0, lastAckAt: new Date(T0 + 101 * SECOND) });
        expect(await store.listAttempts('sales', 'e1')).toEqual([
          { consumer: 'c', attempt: 1, session: 'S1', startedAt: new Date(T0 + 100 * SECOND), finishedAt: new Date(T0 + 101 * SECOND), status: 200, latencyMs: 5, error: null, outcome: 'acked', answer: null },
        ]);
        expect(await store.listAttempts('sales', 'nope')).toBeUndefined();
      }));

    it("keeps the handler's answer with each attempt, bytes exact, and none for an abandoned one", () =>
      withStore(async (store) => {
        await seed(store, 1);
        await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
        await claim(store);
        const failing = { headers: [['Content-Type', 'text/plain'], ['X-Trace', 'a'], ['x-trace', 'b']] as [string, string][], body: new Uint8Array([0, 0xff, 0x41]), bytes: 10_240, truncated: true };
        await store.nackDelivery({ ...outcome(1, 1, T0 + 101 * SECOND, { status: 500 }), answer: failing }, new Date(T0 + 102 * SECOND));
        await claim(store, { now: new Date(T0 + 102 * SECOND) });
        await store.releaseSession('S1', new Date(T0 + 103 * SECOND), 'connection closed');
        await claim(store, { now: new Date(T0 + 104 * SECOND) });
        const empty = { headers: [], body: new Uint8Array(0), bytes: 0, truncated: false };
        await store.ackDelivery({ ...outcome(1, 3, T0 + 105 * SECOND, { status: 204 }), answer: empty });
        expect((await store.listAttempts('sales', 'e1'))?.map((a) => [a.attempt, a.outcome, a.answer])).toEqual([
          [1, 'retry', failing],
          [2, 'abandoned', null],
          [3, 'acked', empty],
        ]);
      }));

    it('nacks schedule a retry that falls due later, with the next attempt number', () =>
      withStore(async (store) => {
        await seed(store, 1);
        await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
        await claim(store);
        const retryAt = new Date(T0 + 110 * SECOND);
        expect(await store.nackDelivery(outcome(1, 1, T0 + 101 * SECOND, { status: 500 }), retryAt)).toEqual({ state: 'retry', nextAttemptAt: retryAt });
        expect(await store.nextDueAt('sales', 'c')).toEqual(retryAt);
        expect(await claim(store, { now: new Date(T0 + 109 * SECOND) })).toEqual([]);
        const again = await claim(store, { now: new Date(T0 + 110 * SECOND) });
        expect(again.map((d) => [d.event.seq, d.attempt])).toEqual([[1, 2]]);
        expect(await store.nackDelivery(outcome(1, 1, T0 + 111 * SECOND, { error: 'stale' }), retryAt)).toEqual({ state: 'ignored' });
        expect((await store.listAttempts('sales', 'e1'))?.map((a) => [a.attempt, a.outcome, a.status, a.error])).toEqual([
          [1, 'retry', 500, null],
          [2, null, null, null],
        ]);
      }));

    it('parks an event as failed after max attempts', () =>
      withStore(async (store) => {
        await seed(store, 2);
        await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: 2 }, new Date(T0));
        await claim(store, { limit: 1 });
        await store.nackDelivery(outcome(1, 1, T0 + 101 * SECOND, { error: 'ECONNREFUSED' }), new Date(T0 + 101 * SECOND));
        expect(seqs(await claim(store, { now: new Date(T0 + 102 * SECOND), limit: 1 }))).toEqual([1]);
        expect(await store.nackDelivery(outcome(1, 2, T0 + 103 * SECOND, { status: 502 }), new Date(T0 + 104 * SECOND))).toEqual({ state: 'failed' });
        expect(seqs(await claim(store, { now: new Date(T0 + 200 * SECOND) }))).toEqual([2]);
        expect((await store.listConsumers('sales'))[0]).toMatchObject({ failed: 1, pending: 1 });
      }));

    it('counts events failing and parked, and names the latest failure of those not yet delivered', () =>
      withStore(async (store) => {
        await seed(store, 3);
        await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: 2 }, new Date(T0));
        await claim(store);
        const body = new TextEncoder().encode('boom');
        await store.nackDelivery({ ...outcome(1, 1, T0 + 101 * SECOND, { status: 500 }), answer: { headers: [], body, bytes: 4, truncated: false } }, new Date(T0 + 150 * SECOND));
        await store.nackDelivery(outcome(2, 1, T0 + 102 * SECOND, { error: 'ECONNREFUSED' }), new Date(T0 + 150 * SECOND));
        // Seq 3 goes back because its connection closed: a retry, but not a failing one.
        await store.releaseSession('S1', new Date(T0 + 103 * SECOND), 'connection closed');
        expect((await store.listConsumers('sales'))[0]).toMatchObject({
          failing: 2,
          failed: 0,
          lastFailure: { eventId: 'e2', eventType: 'call.answered', seq: 2, attempt: 1, at: new Date(T0 + 102 * SECOND), status: null, error: 'ECONNREFUSED', responseBody: null },
        });
        // Seq 2 is delivered and seq 1 parked: the failure named is the parked one's.
        await claim(store, { now: new Date(T0 + 150 * SECOND) });
        await store.ackDelivery(outcome(2, 2, T0 + 151 * SECOND, { status: 200 }));
        await store.nackDelivery({ ...outcome(1, 2, T0 + 152 * SECOND, { status: 503 }), answer: { headers: [], body, bytes: 4, truncated: false } }, new Date(T0 + 200 * SECOND));
        await store.ackDelivery(outcome(3, 2, T0 + 153 * SECOND, { status: 200 }));
        const [info] = await store.listConsumers('sales');
        expect(info).toMatchObject({ failing: 0, failed: 1, lastFailure: { eventId: 'e1', attempt: 2, status: 503, error: null, responseBody: body } });
        await store.requeueDeliveries('sales', 'c', [1], new Date(T0 + 300 * SECOND));
        expect((await store.listConsumers('sales'))[0]).toMatchObject({ failing: 0, failed: 0, lastFailure: null });
      }));

    it('gives an expired lease to another session, and a released session\'s events at once', () =>
      withStore(async (store) => {
        await seed(store, 2);
        await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
        await claim(store, { limit: 1, leaseMs: 10 * SECOND });
        expect(await store.nextDueAt('sales', 'c')).toEqual(new Date(T0 + 110 * SECOND));
        expect(seqs(await claim(store, { session: 'S2', now: new Date(T0 + 105 * SECOND) }))).toEqual([2]);
        const taken = await claim(store, { session: 'S2', now: new Date(T0 + 110 * SECOND) });
        expect(taken.map((d) => [d.event.seq, d.attempt])).toEqual([[1, 2]]);
        expect(await store.releaseSession('S2', new Date(T0 + 111 * SECOND), 'connection closed')).toBe(2);
        expect(seqs(await claim(store, { session: 'S3', now: new Date(T0 + 111 * SECOND) }))).toEqual([1, 2]);
        expect((await store.listAttempts('sales', 'e1'))?.map((a) => [a.session, a.outcome])).toEqual([
          ['S1', 'abandoned'],
          ['S2', 'abandoned'],
          ['S3', null],
        ]);
      }));

    it('takes a late ack as delivered and still records the attempt that took over the lease', () =>
      withStore(async (store) => {
        await seed(store, 2);
        await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
        await claim(store, { leaseMs: 10 * SECOND });
        // Both leases ran out; S2 takes both events over, then S1's handler answers after all.
        expect((await claim(store, { session: 'S2', now: new Date(T0 + 110 * SECOND) })).map((d) => [d.event.seq, d.attempt])).toEqual([
          [1, 2],
          [2, 2],
        ]);
        expect(await store.ackDelivery(outcome(1, 1, T0 + 111 * SECOND, { status: 200 }))).toBe(true);
        expect(await store.ackDelivery(outcome(2, 1, T0 + 111 * SECOND, { status: 200 }))).toBe(true);
        const attempts = async (id: string) => (await store.listAttempts('sales', id))?.map((a) => [a.attempt, a.session, a.outcome]);
        expect(await attempts('e1')).toEqual([
          [1, 'S1', 'abandoned'],
          [2, 'S2', null],
        ]);
        // S2's answers come too: already delivered, but each attempt is recorded as it ended.
        expect(await store.ackDelivery(outcome(1, 2, T0 + 112 * SECOND, { status: 200, session: 'S2' }))).toBe(false);
        expect(await store.nackDelivery(outcome(2, 2, T0 + 112 * SECOND, { status: 503, session: 'S2' }), new Date(T0 + 200 * SECOND))).toEqual({ state: 'ignored' });
        expect(await attempts('e1')).toEqual([
          [1, 'S1', 'abandoned'],
          [2, 'S2', 'acked'],
        ]);
        expect(await attempts('e2')).toEqual([
          [1, 'S1', 'abandoned'],
          [2, 'S2', 'retry'],
        ]);
        expect(await claim(store, { session: 'S3', now: new Date(T0 + 300 * SECOND) })).toEqual([]);
        expect((await store.listConsumers('sales'))[0]).toMatchObject({ pending: 0, failed: 0 });
      }));

    it('keeps one event open at a time in ordered mode', () =>
      withStore(async (store) => {
        await seed(store, 3);
        await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
        expect(seqs(await claim(store, { ordered: true }))).toEqual([1]);
        expect(await claim(store, { ordered: true, session: 'S2' })).toEqual([]);
        await store.nackDelivery(outcome(1, 1, T0 + 101 * SECOND, { status: 500 }), new Date(T0 + 105 * SECOND));
        expect(await claim(store, { ordered: true, now: new Date(T0 + 102 * SECOND) })).toEqual([]);
        expect(seqs(await claim(store, { ordered: true, now: new Date(T0 + 105 * SECOND) }))).toEqual([1]);
        await store.ackDelivery(outcome(1, 2, T0 + 106 * SECOND, { status: 200 }));
        expect(seqs(await claim(store, { ordered: true, now: new Date(T0 + 106 * SECOND) }))).toEqual([2]);
      }));

    it('lets a claim asked for right after an answer, without waiting for it, see that answer', () =>
      withStore(async (store) => {
        await seed(store, 3);
        await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
        expect(seqs(await claim(store, { ordered: true }))).toEqual([1]);
        // The delivery hub relies on this: it asks for the next claim without waiting for the ack.
        const acked = store.ackDelivery(outcome(1, 1, T0 + 101 * SECOND, { status: 200 }));
        const next = claim(store, { ordered: true, now: new Date(T0 + 101 * SECOND) });
        const nacked = store.nackDelivery(outcome(2, 1, T0 + 102 * SECOND, { status: 500 }), new Date(T0 + 200 * SECOND));
        const afterNack = claim(store, { ordered: true, now: new Date(T0 + 102 * SECOND) });
        expect(await acked).toBe(true);
        expect(seqs(await next)).toEqual([2]);
        expect(await nacked).toMatchObject({ state: 'retry' });
        // The retry of 2 is not due yet, and ordered mode waits for it.
        expect(await afterNack).toEqual([]);
      }));

    it('requeues events as replays with the next attempt number, and refuses an unknown consumer', () =>
      withStore(async (store) => {
        await seed(store, 3);
        await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
        await claim(store, { limit: 1 });
        await store.ackDelivery(outcome(1, 1, T0 + 101 * SECOND, { status: 200 }));
        expect(await store.requeueDeliveries('sales', 'c', [1, 3, 99], new Date(T0 + 102 * SECOND))).toBe(2);
        const replayed = await claim(store, { now: new Date(T0 + 102 * SECOND) });
        expect(replayed.map((d) => [d.event.seq, d.attempt, d.replay])).toEqual([
          [1, 2, true],
          [3, 1, true],
          [2, 1, false],
        ]);
        expect(await claim(store, { now: new Date(T0 + 103 * SECOND) })).toEqual([]);
        await expectRelayError(store.requeueDeliveries('sales', 'nobody', [1], new Date(T0)), 'RELAY_E_CONSUMER_NOT_FOUND');
      }));

    it('records an attempt in flight as abandoned when its event is replayed', () =>
      withStore(async (store) => {
        await seed(store, 1);
        await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
        await claim(store);
        expect(await store.requeueDeliveries('sales', 'c', [1], new Date(T0 + 101 * SECOND))).toBe(1);
        expect((await store.listAttempts('sales', 'e1'))?.map((a) => [a.attempt, a.outcome, a.error, a.finishedAt?.getTime()])).toEqual([
          [1, 'abandoned', 'queued again by a replay', T0 + 101 * SECOND],
        ]);
        expect((await claim(store, { now: new Date(T0 + 102 * SECOND) })).map((d) => [d.event.seq, d.attempt, d.replay])).toEqual([[1, 2, true]]);
        expect((await store.listAttempts('sales', 'e1'))?.map((a) => [a.attempt, a.outcome])).toEqual([
          [1, 'abandoned'],
          [2, null],
        ]);
      }));

    it('deletes a consumer with its state, and prunes delivery state with its events', () =>
      withStore(async (store) => {
        await seed(store, 3);
        await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: null }, new Date(T0));
        await claim(store);
        expect(await store.prune({ maxAgeMs: 1e12, maxEventsPerChannel: 1 }, new Date(T0), 100)).toBe(2);
        expect(await store.listAttempts('sales', 'e1')).toBeUndefined();
        expect((await store.listConsumers('sales'))[0]?.pending).toBe(1);
        expect(await store.deleteConsumer('sales', 'c')).toBe(true);
        expect(await store.deleteConsumer('sales', 'c')).toBe(false);
        expect(await store.listConsumers('sales')).toEqual([]);
        expect(await store.listAttempts('sales', 'e3')).toEqual([]);
      }));
  });
}
