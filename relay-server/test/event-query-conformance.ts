import { describe, expect, it } from 'vitest';
import type { ClaimRequest, EventQuery, Store } from '../src/store/store.js';
import { T0, newEvent, plainChannel, seqOf, storeRunner, type OpenStore } from './store-conformance.js';

const SECOND = 1000;

/**
 * The event listing's filters beyond channel and time (type globs, body text, session, delivery
 * state, consumer), the bound on how many events one call reads, and each consumer's state of
 * an event. Runs against every engine, like the rest of the conformance suite.
 */
export function describeEventQueryConformance(engine: string, open: OpenStore): void {
  const withStore = storeRunner(open);

  async function ids(store: Store, query: Partial<EventQuery>): Promise<string[]> {
    return (await store.listEvents({ visibleChannels: null, limit: 100, ...query })).events.map((e) => e.id);
  }

  const text = (s: string): Uint8Array => new TextEncoder().encode(s);

  describe(`Event query conformance: ${engine}`, () => {
    it('filters by event-type globs, any one matching, with * ? and literal [ % _', () =>
      withStore(async (store) => {
        await store.createChannel(plainChannel('sales'));
        const types = ['call.answered', 'call.end', 'message.received', 'call.ivr.input', 'a[b]', '100%', 'x_y', 'xzy'];
        for (const [i, type] of types.entries()) seqOf(await store.appendEvent(newEvent('sales', `e${i}`, { eventType: type })));
        expect(await ids(store, { types: ['call.*'] })).toEqual(['e3', 'e1', 'e0']);
        expect(await ids(store, { types: ['call.e??', 'message.*'] })).toEqual(['e2', 'e1']);
        expect(await ids(store, { types: ['a[b]'] })).toEqual(['e4']);
        expect(await ids(store, { types: ['100%'] })).toEqual(['e5']);
        expect(await ids(store, { types: ['x_y'] })).toEqual(['e6']);
        expect(await ids(store, { types: ['call.answered'] })).toEqual(['e0']);
        expect(await ids(store, { types: ['CALL.*'] })).toEqual([]);
      }));

    it('finds events whose stored body contains the text, byte for byte, case-sensitively', () =>
      withStore(async (store) => {
        await store.createChannel(plainChannel('sales'));
        await store.createChannel(plainChannel('hidden'));
        seqOf(await store.appendEvent(newEvent('sales', 'a', { body: text('{"customer_number":"+919876543210","note":"Café 100%"}') })));
        seqOf(await store.appendEvent(newEvent('sales', 'b', { body: text('{"customer_number":"+911234567890"}') })));
        seqOf(await store.appendEvent(newEvent('sales', 'bin', { body: new Uint8Array([0xff, 0x00, 0x39, 0x38, 0x37, 0xfe]) })));
        seqOf(await store.appendEvent(newEvent('hidden', 'h', { body: text('{"customer_number":"+919876543210"}') })));
        expect(await ids(store, { text: '9876543' })).toEqual(['h', 'a']);
        expect(await ids(store, { text: '9876543', visibleChannels: ['sales'] })).toEqual(['a']);
        expect(await ids(store, { text: 'Café 100%' })).toEqual(['a']);
        expect(await ids(store, { text: 'café' })).toEqual([]);
        expect(await ids(store, { text: '_number' })).toEqual(['h', 'b', 'a']);
        expect(await ids(store, { text: '987', channel: 'sales' })).toEqual(['bin', 'a']);
      }));

    it('lists the events of one session, across channels only where visible', () =>
      withStore(async (store) => {
        await store.createChannel(plainChannel('sales'));
        await store.createChannel(plainChannel('support'));
        seqOf(await store.appendEvent(newEvent('sales', 'i', { session: 'call-1' })));
        seqOf(await store.appendEvent(newEvent('sales', 'other', { session: 'call-2' })));
        seqOf(await store.appendEvent(newEvent('sales', 'plain')));
        seqOf(await store.appendEvent(newEvent('support', 's', { session: 'call-1' })));
        seqOf(await store.appendEvent(newEvent('sales', 'e', { session: 'call-1' })));
        expect(await ids(store, { session: 'call-1' })).toEqual(['e', 's', 'i']);
        expect(await ids(store, { session: 'call-1', channel: 'sales' })).toEqual(['e', 'i']);
        expect(await ids(store, { session: 'call-1', visibleChannels: ['support'] })).toEqual(['s']);
        expect((await store.listEvents({ visibleChannels: null, session: 'call-1', limit: 2 })).nextCursor).toBeDefined();
      }));

    /**
     * Consumer `c` (at most 2 attempts) takes everything; `calls` takes `call.*` and has claimed
     * nothing; `late` started after the events. For `c`: e1 delivered, e2 failing, e3 parked,
     * e4 in flight, e5 not sent yet, e6 delivered and then queued again by a replay.
     */
    async function deliveryScene(store: Store): Promise<{ retryAt: Date }> {
      await store.createChannel(plainChannel('sales'));
      const types = ['call.answered', 'message.received', 'call.end', 'message.sent', 'call.summary', 'message.read'];
      for (const [i, type] of types.entries()) seqOf(await store.appendEvent(newEvent('sales', `e${i + 1}`, { eventType: type, receivedAt: new Date(T0 + i * SECOND) })));
      const opened = new Date(T0 + 10 * SECOND);
      await store.openConsumer({ channel: 'sales', name: 'c', start: { kind: 'seq', seq: 1 }, filter: [], maxAttempts: 2 }, opened);
      await store.openConsumer({ channel: 'sales', name: 'calls', start: { kind: 'seq', seq: 1 }, filter: ['call.*'], maxAttempts: null }, opened);
      await store.openConsumer({ channel: 'sales', name: 'late', start: { kind: 'now' }, filter: [], maxAttempts: null }, opened);
      const claim = (fields: Partial<ClaimRequest>) =>
        store.claimDeliveries({ channel: 'sales', consumer: 'c', session: 'S1', limit: 4, ordered: false, now: new Date(T0 + 20 * SECOND), leaseMs: 30 * SECOND, ...fields });
      const outcome = (seq: number, attempt: number, at: number, status: number) => ({ channel: 'sales', consumer: 'c', seq, attempt, session: 'S1', now: new Date(at), latencyMs: 4, status });
      expect((await claim({})).map((d) => d.event.seq)).toEqual([1, 2, 3, 4]);
      await store.ackDelivery(outcome(1, 1, T0 + 21 * SECOND, 200));
      const retryAt = new Date(T0 + 60 * SECOND);
      await store.nackDelivery(outcome(2, 1, T0 + 21 * SECOND, 500), retryAt);
      await store.nackDelivery(outcome(3, 1, T0 + 21 * SECOND, 500), new Date(T0 + 22 * SECOND));
      // e3's retry is due (e2's is not): its second attempt fails too, and parks it.
      expect((await claim({ limit: 1, now: new Date(T0 + 23 * SECOND) })).map((d) => [d.event.seq, d.attempt])).toEqual([[3, 2]]);
      await store.nackDelivery(outcome(3, 2, T0 + 24 * SECOND, 503), new Date(T0 + 90 * SECOND));
      // e6 is delivered, then replayed; e5 stays unsent.
      await store.requeueDeliveries('sales', 'c', [6], new Date(T0 + 25 * SECOND));
      expect((await claim({ limit: 1, now: new Date(T0 + 26 * SECOND) })).map((d) => d.event.seq)).toEqual([6]);
      await store.ackDelivery(outcome(6, 1, T0 + 27 * SECOND, 200));
      await store.requeueDeliveries('sales', 'c', [6], new Date(T0 + 28 * SECOND));
      return { retryAt };
    }

    it("gives each event's state with every consumer it is for", () =>
      withStore(async (store) => {
        const { retryAt } = await deliveryScene(store);
        const states = await store.deliveryStates('sales', [1, 2, 3, 4, 5, 6]);
        expect(states.map((s) => [s.seq, s.consumer, s.state, s.attempts])).toEqual([
          [1, 'c', 'delivered', 1],
          [1, 'calls', 'pending', 0],
          [2, 'c', 'failing', 1],
          [3, 'c', 'parked', 2],
          [3, 'calls', 'pending', 0],
          [4, 'c', 'pending', 1],
          [5, 'c', 'pending', 0],
          [5, 'calls', 'pending', 0],
          [6, 'c', 'pending', 1],
        ]);
        expect(states.find((s) => s.seq === 2)?.nextAttemptAt?.getTime()).toBe(retryAt.getTime());
        // The attempt in flight is due when its lease ends.
        expect(states.find((s) => s.seq === 4)?.nextAttemptAt?.getTime()).toBe(T0 + 50 * SECOND);
        expect(states.find((s) => s.seq === 1)?.nextAttemptAt).toBeNull();
        expect(await store.deliveryStates('sales', [])).toEqual([]);
        expect(await store.deliveryStates('nope', [1])).toEqual([]);
        const consumers = await store.listConsumers('sales');
        expect(consumers.map((c) => [c.name, c.pending, c.failing, c.failed])).toEqual([
          ['c', 4, 1, 1],
          ['calls', 3, 0, 0],
          ['late', 0, 0, 0],
        ]);
      }));

    it('filters by delivery state and consumer', () =>
      withStore(async (store) => {
        await deliveryScene(store);
        expect(await ids(store, { state: 'delivered' })).toEqual(['e1']);
        expect(await ids(store, { state: 'failing' })).toEqual(['e2']);
        expect(await ids(store, { state: 'parked' })).toEqual(['e3']);
        expect(await ids(store, { state: 'pending' })).toEqual(['e6', 'e5', 'e4', 'e3', 'e1']);
        expect(await ids(store, { state: 'pending', consumer: 'c' })).toEqual(['e6', 'e5', 'e4']);
        expect(await ids(store, { state: 'parked', consumer: 'calls' })).toEqual([]);
        expect(await ids(store, { consumer: 'calls' })).toEqual(['e5', 'e3', 'e1']);
        expect(await ids(store, { consumer: 'late' })).toEqual([]);
        expect(await ids(store, { consumer: 'nobody' })).toEqual([]);
        expect(await ids(store, { state: 'pending', consumer: 'c', types: ['call.*'] })).toEqual(['e5']);
        expect(await ids(store, { state: 'delivered', visibleChannels: ['other'] })).toEqual([]);
      }));

    it('reads at most scanLimit events per call and says where to go on', () =>
      withStore(async (store) => {
        await store.createChannel(plainChannel('sales'));
        for (let i = 1; i <= 30; i++) {
          const body = text(i <= 3 ? `{"n":${i},"needle":true}` : `{"n":${i}}`);
          seqOf(await store.appendEvent(newEvent('sales', `e${i}`, { body })));
        }
        const first = await store.listEvents({ visibleChannels: null, text: 'needle', scanLimit: 10, limit: 5 });
        expect(first.events).toEqual([]);
        expect(first.scanLimited).toBe(true);
        expect(first.nextCursor).toBeDefined();
        const found: string[] = [];
        let cursor = first.nextCursor;
        let calls = 1;
        while (cursor !== undefined && calls < 10) {
          const page = await store.listEvents({ visibleChannels: null, text: 'needle', scanLimit: 10, limit: 5, cursor });
          found.push(...page.events.map((e) => e.id));
          cursor = page.nextCursor;
          calls += 1;
        }
        expect(found).toEqual(['e3', 'e2', 'e1']);
        expect(calls).toBeLessThanOrEqual(4);
        // A page that fills within the bound is an ordinary page.
        const full = await store.listEvents({ visibleChannels: null, text: '"n"', scanLimit: 10, limit: 4 });
        expect(full.events.map((e) => e.id)).toEqual(['e30', 'e29', 'e28', 'e27']);
        expect(full.scanLimited).toBeUndefined();
        // Without reading filters the bound does not apply.
        expect((await store.listEvents({ visibleChannels: null, scanLimit: 10, limit: 30 })).events).toHaveLength(30);
      }));
  });
}
