import { createHash, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Channel } from '../src/channel.js';
import { applyChannelSettings } from '../src/channel-settings.js';
import { RelayError, type ServerErrorCode } from '../src/errors.js';
import type { HeaderPairs } from '@myop-relay/protocol';
import type { AppendResult, EventQuery, EventSummary, NewEvent, Store, TokenRecord } from '../src/store/store.js';
import { describeDeliveryConformance } from './delivery-conformance.js';
import { describeOperationsConformance } from './operations-conformance.js';
import { describeEventQueryConformance } from './event-query-conformance.js';

/** A freshly opened, empty store and the way to dispose of it. */
export interface OpenedStore {
  store: Store;
  /** Closes the store (it may already be closed) and removes whatever `open` created. */
  cleanup: () => Promise<void>;
}

/** Opens an empty store of the engine under test. Called once per test. */
export type OpenStore = () => Promise<OpenedStore>;

/** 2024-05-01T10:00:00Z: a fixed clock, so times in assertions are exact. */
export const T0 = Date.UTC(2024, 4, 1, 10, 0, 0);
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** A channel that verifies nothing: the store does not care how a channel verifies. */
export function plainChannel(name: string): Channel {
  return applyChannelSettings(name, { verify: 'none' }).channel;
}

/** An event with sensible defaults; `fields` overrides any of them. */
export function newEvent(channel: string, eventId: string, fields: Partial<NewEvent> = {}): NewEvent {
  return {
    channel,
    eventId,
    eventType: 'call.answered',
    body: new TextEncoder().encode(`{"id":"${eventId}","channel":"${channel}"}`),
    headers: [['Content-Type', 'application/json']],
    receivedAt: new Date(T0),
    sourceIp: '203.0.113.7',
    synthetic: false,
    ...fields,
  };
}

/** The seq of an accepted append; fails the test when the append was refused. */
export function seqOf(result: AppendResult): number {
  if (!result.ok) throw new Error(`append was refused: ${result.reason}`);
  return result.seq;
}

/** Lowercase hex of the bytes, so byte comparisons print readably when they fail. */
export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

/** Resolves with the rejection of `promise`; fails the test when it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    (value: unknown) => {
      throw new Error(`expected a rejection, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}

/** Asserts that `promise` rejects with a `RelayError` carrying `code`. */
export async function expectRelayError(promise: Promise<unknown>, code: ServerErrorCode): Promise<void> {
  const error = await rejectionOf(promise);
  expect(error).toBeInstanceOf(RelayError);
  if (error instanceof RelayError) expect(error.code).toBe(code);
}

/** Walks every page of a listing; fails when the cursor does not make progress. */
export async function listAllPages(store: Store, query: Omit<EventQuery, 'cursor'>): Promise<EventSummary[][]> {
  const pages: EventSummary[][] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await store.listEvents(cursor === undefined ? query : { ...query, cursor });
    pages.push(page.events);
    if (page.nextCursor === undefined) return pages;
    if (pages.length > 10_000) throw new Error('pagination does not end');
    cursor = page.nextCursor;
  }
}

/** `channel/id` of each event, in listing order. */
function keys(events: readonly EventSummary[]): string[] {
  return events.map((e) => `${e.channel}/${e.id}`);
}

function tokenRecord(name: string, fields: Partial<TokenRecord> = {}): TokenRecord {
  return {
    name,
    hash: createHash('sha256').update(`token-of-${name}`).digest('hex'),
    role: 'developer',
    channels: null,
    createdAt: new Date(T0 + 1234),
    ...fields,
  };
}

const ALL_CHANNELS: Pick<EventQuery, 'visibleChannels'> = { visibleChannels: null };

/** A runner of `work` on a fresh store from `open`, which disposes of the store whatever happens. */
export function storeRunner(open: OpenStore): (work: (store: Store) => Promise<void>) => Promise<void> {
  return async (work) => {
    const { store, cleanup } = await open();
    try {
      await work(store);
    } finally {
      await cleanup();
    }
  };
}

/**
 * Declares the behaviour every {@link Store} engine must have. The tests use only the `Store`
 * interface, so a new engine passes by calling this with its own `open`; `variant` names the
 * settings when one engine runs it more than once.
 */
export function describeStoreConformance(engine: string, open: OpenStore, variant?: string): void {
  const withStore = storeRunner(open);

  describe(`Store conformance: ${engine}${variant === undefined ? '' : ` (${variant})`}`, () => {
    it('reports its engine name', () =>
      withStore(async (store) => {
        expect(store.engine).toBe(engine);
      }));

    describe('meta', () => {
      it('returns undefined for an unset key, then what was set, then the overwritten value', () =>
        withStore(async (store) => {
          expect(await store.getMeta('relay_id')).toBeUndefined();
          await store.setMeta('relay_id', 'first');
          await store.setMeta('other', 'untouched');
          expect(await store.getMeta('relay_id')).toBe('first');
          await store.setMeta('relay_id', 'second ü "quoted"\n');
          expect(await store.getMeta('relay_id')).toBe('second ü "quoted"\n');
          expect(await store.getMeta('other')).toBe('untouched');
        }));
    });

    describe('channels', () => {
      it('creates a channel and gets every setting back', () =>
        withStore(async (store) => {
          const { channel } = applyChannelSettings('sales', {
            verify: 'hmac',
            secret: ['whsec_first_secret_0123456789', 'whsec_second_secret_0123456789'],
            signatureHeader: 'X-Custom-Signature',
            maxBody: '256KiB',
            acceptLegacyForm: true,
            allowIp: ['203.0.113.0/24', '2001:db8::/32'],
          });
          await store.createChannel(channel);
          expect(await store.getChannel('sales')).toEqual(channel);
          expect(await store.getChannel('Sales')).toBeUndefined();
          expect(await store.getChannel('unknown')).toBeUndefined();
        }));

      it('lists channels sorted by name, whatever the creation order', () =>
        withStore(async (store) => {
          expect(await store.listChannels()).toEqual([]);
          for (const name of ['sales', 'billing', 'ops', 'marketing']) await store.createChannel(plainChannel(name));
          const listed = await store.listChannels();
          expect(listed.map((c) => c.name)).toEqual(['billing', 'marketing', 'ops', 'sales']);
          expect(listed[0]).toEqual(await store.getChannel('billing'));
        }));

      it('rejects a taken name with RELAY_E_CHANNEL_EXISTS and keeps the original settings', () =>
        withStore(async (store) => {
          const original = plainChannel('sales');
          await store.createChannel(original);
          const { channel: other } = applyChannelSettings('sales', { verify: 'basic', basic: 'user:long-password' });
          await expectRelayError(store.createChannel(other), 'RELAY_E_CHANNEL_EXISTS');
          expect(await store.getChannel('sales')).toEqual(original);
          expect(await store.listChannels()).toHaveLength(1);
        }));

      it('replaces settings on update and keeps the channel\'s events and seq', () =>
        withStore(async (store) => {
          const original = plainChannel('sales');
          const ops = plainChannel('ops');
          await store.createChannel(original);
          await store.createChannel(ops);
          expect(seqOf(await store.appendEvent(newEvent('sales', 'e1')))).toBe(1);
          const { channel: updated } = applyChannelSettings('sales', { maxBody: 4096, allowIp: ['198.51.100.0/24'] }, original);
          expect(updated).not.toEqual(original);
          await store.updateChannel(updated);
          expect(await store.getChannel('sales')).toEqual(updated);
          expect(await store.getChannel('ops')).toEqual(ops);
          expect((await store.listChannels()).find((c) => c.name === 'sales')).toEqual(updated);
          expect((await store.getEvent('sales', 'e1'))?.seq).toBe(1);
          expect(seqOf(await store.appendEvent(newEvent('sales', 'e2')))).toBe(2);
        }));

      it('rejects updating an unknown channel with RELAY_E_UNKNOWN_CHANNEL and does not create it', () =>
        withStore(async (store) => {
          await expectRelayError(store.updateChannel(plainChannel('ghost')), 'RELAY_E_UNKNOWN_CHANNEL');
          expect(await store.getChannel('ghost')).toBeUndefined();
          expect(await store.listChannels()).toEqual([]);
        }));

      it('removes a channel with all its events and leaves other channels alone', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          await store.createChannel(plainChannel('ops'));
          for (const id of ['s1', 's2', 's3']) seqOf(await store.appendEvent(newEvent('sales', id)));
          seqOf(await store.appendEvent(newEvent('ops', 'o1')));

          expect(await store.removeChannel('sales')).toBe(true);

          expect(await store.getChannel('sales')).toBeUndefined();
          expect((await store.listChannels()).map((c) => c.name)).toEqual(['ops']);
          expect(await store.getEvent('sales', 's1')).toBeUndefined();
          expect((await store.listEvents({ ...ALL_CHANNELS, limit: 1000 })).events.map((e) => e.id)).toEqual(['o1']);
          expect(await store.channelStats('sales')).toEqual({ events: 0, lastSeq: 0, lastReceivedAt: null });
          expect((await store.channelStats('ops')).events).toBe(1);
          // A channel created again under the old name starts empty: old events do not resurface.
          await store.createChannel(plainChannel('sales'));
          expect((await store.listEvents({ ...ALL_CHANNELS, channel: 'sales', limit: 1000 })).events).toEqual([]);
          expect(await store.getEvent('sales', 's2')).toBeUndefined();
        }));

      it('answers false when removing a channel that does not exist', () =>
        withStore(async (store) => {
          expect(await store.removeChannel('ghost')).toBe(false);
          await store.createChannel(plainChannel('sales'));
          expect(await store.removeChannel('sales')).toBe(true);
          expect(await store.removeChannel('sales')).toBe(false);
        }));
    });

    describe('tokens', () => {
      it('creates a token and finds it by hash with every field intact', () =>
        withStore(async (store) => {
          const admin = tokenRecord('ops-admin', { role: 'admin', channels: null });
          await store.createToken(admin);
          expect(await store.findTokenByHash(admin.hash)).toEqual(admin);
          expect(await store.findTokenByHash(createHash('sha256').update('nobody').digest('hex'))).toBeUndefined();
        }));

      it('keeps channels null, empty and listed apart', () =>
        withStore(async (store) => {
          const all = tokenRecord('all', { channels: null });
          const none = tokenRecord('none', { channels: [] });
          const some = tokenRecord('some', { channels: ['sales', 'ops.in_1'] });
          for (const t of [all, none, some]) await store.createToken(t);
          expect((await store.findTokenByHash(all.hash))?.channels).toBeNull();
          expect((await store.findTokenByHash(none.hash))?.channels).toEqual([]);
          expect((await store.findTokenByHash(some.hash))?.channels).toEqual(['sales', 'ops.in_1']);
        }));

      it('lists every token and forgets a revoked one', () =>
        withStore(async (store) => {
          expect(await store.listTokens()).toEqual([]);
          const tokens = [tokenRecord('zoe@laptop'), tokenRecord('admin', { role: 'admin' }), tokenRecord('ci-bot', { channels: ['sales'] })];
          for (const t of tokens) await store.createToken(t);
          const byName = (a: TokenRecord, b: TokenRecord): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
          expect([...(await store.listTokens())].sort(byName)).toEqual([...tokens].sort(byName));

          expect(await store.revokeToken('ci-bot')).toBe(true);
          expect(await store.findTokenByHash(tokenRecord('ci-bot').hash)).toBeUndefined();
          expect((await store.listTokens()).map((t) => t.name).sort()).toEqual(['admin', 'zoe@laptop']);
          expect(await store.revokeToken('ci-bot')).toBe(false);
          expect(await store.revokeToken('never-existed')).toBe(false);
        }));

      it('changes the channels of a token without changing the token', () =>
        withStore(async (store) => {
          const original = tokenRecord('asha', { channels: ['sales'] });
          await store.createToken(original);
          expect(await store.updateTokenChannels('asha', ['sales', 'support'])).toBe(true);
          expect(await store.findTokenByHash(original.hash)).toEqual({ ...original, channels: ['sales', 'support'] });
          expect(await store.updateTokenChannels('asha', null)).toBe(true);
          expect((await store.findTokenByHash(original.hash))?.channels).toBeNull();
          expect(await store.updateTokenChannels('never-existed', ['sales'])).toBe(false);
        }));

      it('rejects a taken token name with RELAY_E_TOKEN_EXISTS and keeps the original', () =>
        withStore(async (store) => {
          const original = tokenRecord('asha');
          await store.createToken(original);
          const impostor = tokenRecord('asha', { hash: createHash('sha256').update('another token').digest('hex'), role: 'admin' });
          await expectRelayError(store.createToken(impostor), 'RELAY_E_TOKEN_EXISTS');
          expect(await store.findTokenByHash(original.hash)).toEqual(original);
          expect(await store.findTokenByHash(impostor.hash)).toBeUndefined();
          expect(await store.listTokens()).toHaveLength(1);
        }));
    });

    describe('appendEvent', () => {
      it('numbers events from 1 per channel, independently across channels', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          await store.createChannel(plainChannel('ops'));
          const order: [string, string][] = [
            ['sales', 'a'],
            ['ops', 'b'],
            ['sales', 'c'],
            ['sales', 'd'],
            ['ops', 'e'],
          ];
          const seqs: number[] = [];
          for (const [channel, id] of order) seqs.push(seqOf(await store.appendEvent(newEvent(channel, id))));
          expect(seqs).toEqual([1, 1, 2, 3, 2]);
          expect((await store.getEvent('sales', 'd'))?.seq).toBe(3);
          expect((await store.getEvent('ops', 'e'))?.seq).toBe(2);
        }));

      it('answers duplicate: false for a new event', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          expect(await store.appendEvent(newEvent('sales', 'e1'))).toEqual({ ok: true, seq: 1, duplicate: false });
        }));

      it('returns every one of the 256 byte values exactly', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          const body = Uint8Array.from({ length: 512 }, (_, i) => (i * 7 + 3) % 256);
          expect(new Set(body).size).toBe(256);
          seqOf(await store.appendEvent(newEvent('sales', 'bytes', { body })));
          const stored = await store.getEvent('sales', 'bytes');
          expect(stored?.body).toBeInstanceOf(Uint8Array);
          expect(hex(stored?.body ?? new Uint8Array())).toBe(hex(body));
          expect(stored?.size).toBe(512);
        }));

      it('stores only the viewed bytes of a body that is a view into a larger buffer', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          const backing = Uint8Array.from({ length: 64 }, (_, i) => i + 1);
          const body = backing.subarray(10, 20);
          seqOf(await store.appendEvent(newEvent('sales', 'view', { body })));
          const stored = await store.getEvent('sales', 'view');
          expect(hex(stored?.body ?? new Uint8Array())).toBe(hex(Uint8Array.from({ length: 10 }, (_, i) => i + 11)));
          expect(stored?.size).toBe(10);
        }));

      it('stores an empty body as zero bytes', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          seqOf(await store.appendEvent(newEvent('sales', 'empty', { body: new Uint8Array(0) })));
          const stored = await store.getEvent('sales', 'empty');
          expect(stored?.body).toBeInstanceOf(Uint8Array);
          expect(stored?.body.byteLength).toBe(0);
          expect(stored?.size).toBe(0);
          expect((await store.listEvents({ ...ALL_CHANNELS, limit: 10 })).events[0]?.size).toBe(0);
        }));

      it('keeps bodies that are not valid UTF-8 byte for byte', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          const bodies: Record<string, number[]> = {
            'lone-ff': [0xff, 0xfe, 0x7b, 0x7d],
            'lone-continuation': [0x7b, 0x80, 0x7d],
            'truncated-euro': [0x22, 0xe2, 0x82],
            'overlong-slash': [0xc0, 0xaf],
            'encoded-surrogate': [0xed, 0xa0, 0x80],
            'nul-inside': [0x7b, 0x00, 0x00, 0x7d],
            'latin1-u-umlaut': [0x7b, 0x22, 0xfc, 0x22, 0x7d],
            'bom-then-json': [0xef, 0xbb, 0xbf, 0x7b, 0x7d],
          };
          for (const [id, bytes] of Object.entries(bodies)) {
            seqOf(await store.appendEvent(newEvent('sales', id, { body: Uint8Array.from(bytes) })));
          }
          for (const [id, bytes] of Object.entries(bodies)) {
            const stored = await store.getEvent('sales', id);
            expect(hex(stored?.body ?? new Uint8Array()), id).toBe(hex(Uint8Array.from(bytes)));
            expect(stored?.size, id).toBe(bytes.length);
          }
        }));

      it('keeps a 1 MiB random body exactly', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          const body = new Uint8Array(randomBytes(1024 * 1024));
          seqOf(await store.appendEvent(newEvent('sales', 'big', { body })));
          const stored = await store.getEvent('sales', 'big');
          expect(stored?.size).toBe(body.byteLength);
          expect(hex(stored?.body ?? new Uint8Array())).toBe(hex(body));
        }));

      it('keeps headers in order, with their original case, duplicates and odd values', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          const headers: HeaderPairs = [
            ['Host', 'relay.example.com'],
            ['X-MyOperator-Signature', 'ab12cd'],
            ['content-type', 'application/json; charset=utf-8'],
            ['X-Dup', 'one'],
            ['x-dup', 'two'],
            ['X-DUP', 'three, four'],
            ['X-Empty', ''],
            ['X-Latin1', 'caf\u00e9 \u00fc'],
            ['X-Punct', '"quoted" \\ back\tslash {json:[1]}'],
            ['Content-Type', 'text/plain'],
          ];
          seqOf(await store.appendEvent(newEvent('sales', 'h', { headers })));
          expect((await store.getEvent('sales', 'h'))?.headers).toEqual(headers);
          seqOf(await store.appendEvent(newEvent('sales', 'no-headers', { headers: [] })));
          expect((await store.getEvent('sales', 'no-headers'))?.headers).toEqual([]);
        }));

      it('keeps receivedAt to the millisecond, sourceIp, synthetic, type, id, session and verification', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          const real = newEvent('sales', 'evt_01HX.real', {
            eventType: 'call.missed',
            receivedAt: new Date(T0 + 987),
            sourceIp: '2001:db8::42',
            synthetic: false,
            session: 'call-7f3a',
            verification: { by: 'hmac', header: 'X-MyOperator-Signature', allowList: true },
          });
          const sample = newEvent('sales', 'sample-1', {
            eventType: 'relay.sample',
            receivedAt: new Date(T0 + 1001),
            sourceIp: '127.0.0.1',
            synthetic: true,
          });
          const realSeq = seqOf(await store.appendEvent(real));
          const sampleSeq = seqOf(await store.appendEvent(sample));
          const expected = (e: NewEvent, seq: number): EventSummary => ({
            channel: e.channel,
            seq,
            id: e.eventId,
            type: e.eventType,
            receivedAt: e.receivedAt,
            sourceIp: e.sourceIp,
            size: e.body.byteLength,
            synthetic: e.synthetic,
            session: e.session ?? null,
          });
          expect(await store.getEvent('sales', real.eventId)).toEqual({ ...expected(real, realSeq), headers: real.headers, body: real.body, verification: real.verification });
          expect((await store.getEvent('sales', sample.eventId))?.verification).toBeNull();
          expect(await store.getEvent('sales', sample.eventId)).toMatchObject(expected(sample, sampleSeq));
          const listed = (await store.listEvents({ ...ALL_CHANNELS, limit: 10 })).events;
          expect(listed).toHaveLength(2);
          expect(listed[0]).toMatchObject(expected(sample, sampleSeq));
          expect(listed[1]).toMatchObject(expected(real, realSeq));
          expect(listed[0]?.receivedAt).toBeInstanceOf(Date);
        }));

      it('answers undefined for an event that was never stored', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          seqOf(await store.appendEvent(newEvent('sales', 'e1')));
          expect(await store.getEvent('sales', 'e2')).toBeUndefined();
          expect(await store.getEvent('ops', 'e1')).toBeUndefined();
        }));
    });

    describe('dedup', () => {
      it('answers the first seq with duplicate: true and stores nothing new', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          const first = newEvent('sales', 'evt-1', { body: Uint8Array.from([1, 2, 3]), eventType: 'call.answered' });
          const retry = newEvent('sales', 'evt-1', { body: Uint8Array.from([9, 9]), eventType: 'call.retried', receivedAt: new Date(T0 + HOUR) });
          expect(await store.appendEvent(first)).toEqual({ ok: true, seq: 1, duplicate: false });
          expect(await store.appendEvent(retry)).toEqual({ ok: true, seq: 1, duplicate: true });

          const stored = await store.getEvent('sales', 'evt-1');
          expect(hex(stored?.body ?? new Uint8Array())).toBe('010203');
          expect(stored?.type).toBe('call.answered');
          expect(stored?.receivedAt).toEqual(new Date(T0));
          expect(await store.channelStats('sales')).toEqual({ events: 1, lastSeq: 1, lastReceivedAt: new Date(T0) });
          expect((await store.listEvents({ ...ALL_CHANNELS, limit: 10 })).events).toHaveLength(1);
          // A duplicate consumes no seq.
          expect(seqOf(await store.appendEvent(newEvent('sales', 'evt-2')))).toBe(2);
        }));

      it('stores one copy when both appends are issued together (one group-commit batch)', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          const a = newEvent('sales', 'evt-1', { body: Uint8Array.from([0xaa]) });
          const b = newEvent('sales', 'evt-1', { body: Uint8Array.from([0xbb]) });
          const other = newEvent('sales', 'evt-2');
          const results = await Promise.all([store.appendEvent(a), store.appendEvent(b), store.appendEvent(other)]);
          const [ra, rb, rother] = results;
          if (!ra?.ok || !rb?.ok || !rother?.ok) throw new Error(`refused: ${JSON.stringify(results)}`);
          expect(ra.seq).toBe(rb.seq);
          expect([ra.duplicate, rb.duplicate].sort()).toEqual([false, true]);
          expect(new Set([ra.seq, rother.seq])).toEqual(new Set([1, 2]));
          const winner = ra.duplicate ? b : a;
          expect(hex((await store.getEvent('sales', 'evt-1'))?.body ?? new Uint8Array())).toBe(hex(winner.body));
          expect(await store.channelStats('sales')).toMatchObject({ events: 2, lastSeq: 2 });
        }));

      it('does not treat the same event id on another channel as a duplicate', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          await store.createChannel(plainChannel('ops'));
          const onSales = newEvent('sales', 'shared-id', { body: Uint8Array.from([1]) });
          const onOps = newEvent('ops', 'shared-id', { body: Uint8Array.from([2]) });
          expect(await store.appendEvent(onSales)).toEqual({ ok: true, seq: 1, duplicate: false });
          expect(await store.appendEvent(onOps)).toEqual({ ok: true, seq: 1, duplicate: false });
          expect(hex((await store.getEvent('sales', 'shared-id'))?.body ?? new Uint8Array())).toBe('01');
          expect(hex((await store.getEvent('ops', 'shared-id'))?.body ?? new Uint8Array())).toBe('02');
        }));
    });

    describe('unknown channels', () => {
      it('answers unknown-channel and stores nothing', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          expect(await store.appendEvent(newEvent('ghost', 'e1'))).toEqual({ ok: false, reason: 'unknown-channel' });
          expect(await store.getEvent('ghost', 'e1')).toBeUndefined();
          expect((await store.listEvents({ ...ALL_CHANNELS, limit: 10 })).events).toEqual([]);
          expect(await store.channelStats('ghost')).toEqual({ events: 0, lastSeq: 0, lastReceivedAt: null });
        }));

      it('does not disturb other events committed in the same batch', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          await store.createChannel(plainChannel('ops'));
          const events = [
            newEvent('sales', 's1'),
            newEvent('ghost', 'g1'),
            newEvent('sales', 's2'),
            newEvent('ops', 'o1'),
            newEvent('ghost', 'g2'),
            newEvent('sales', 's3'),
          ];
          const results = await Promise.all(events.map((e) => store.appendEvent(e)));
          expect(results[1]).toEqual({ ok: false, reason: 'unknown-channel' });
          expect(results[4]).toEqual({ ok: false, reason: 'unknown-channel' });
          const salesSeqs = results.filter((_, i) => events[i]?.channel === 'sales').map(seqOf);
          expect([...salesSeqs].sort()).toEqual([1, 2, 3]);
          expect(results[3]).toEqual({ ok: true, seq: 1, duplicate: false });
          for (const e of events.filter((x) => x.channel !== 'ghost')) {
            expect(hex((await store.getEvent(e.channel, e.eventId))?.body ?? new Uint8Array()), e.eventId).toBe(hex(e.body));
          }
          expect(keys((await store.listEvents({ ...ALL_CHANNELS, limit: 100 })).events).sort()).toEqual(['ops/o1', 'sales/s1', 'sales/s2', 'sales/s3']);
        }));
    });

    describe('sequence numbers', () => {
      it('gives 500 concurrent appends distinct, gap-free seqs 1..500', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          const events = Array.from({ length: 500 }, (_, i) => newEvent('sales', `evt-${i}`, { body: new TextEncoder().encode(`body ${i}`) }));
          const results = await Promise.all(events.map((e) => store.appendEvent(e)));
          const seqs = results.map(seqOf);
          expect(results.every((r) => r.ok && !r.duplicate)).toBe(true);
          expect([...seqs].sort((a, b) => a - b)).toEqual(Array.from({ length: 500 }, (_, i) => i + 1));
          expect(await store.channelStats('sales')).toMatchObject({ events: 500, lastSeq: 500 });
          // Every answer names the event that really sits at that seq.
          const listed = (await store.listEvents({ ...ALL_CHANNELS, limit: 1000 })).events;
          const seqById = new Map(listed.map((e) => [e.id, e.seq]));
          expect(seqById.size).toBe(500);
          events.forEach((e, i) => expect(seqById.get(e.eventId), e.eventId).toBe(seqs[i]));
        }));

      it('does not reuse seqs after every event of the channel was pruned', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          for (const id of ['a', 'b', 'c']) seqOf(await store.appendEvent(newEvent('sales', id)));
          expect(await store.prune({ maxAgeMs: HOUR, maxEventsPerChannel: 1000 }, new Date(T0 + 24 * HOUR), 100)).toBe(3);
          expect(await store.channelStats('sales')).toEqual({ events: 0, lastSeq: 3, lastReceivedAt: null });
          expect(seqOf(await store.appendEvent(newEvent('sales', 'd', { receivedAt: new Date(T0 + 24 * HOUR) })))).toBe(4);
        }));

      it('does not reuse seqs after the channel\'s newest events were pruned', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          const now = new Date(T0 + 2 * HOUR);
          // seq 1 and 2 are recent; seq 3 and 4 carry old receive times, so age pruning removes the newest seqs.
          seqOf(await store.appendEvent(newEvent('sales', 'new-1', { receivedAt: new Date(T0 + 2 * HOUR - MINUTE) })));
          seqOf(await store.appendEvent(newEvent('sales', 'new-2', { receivedAt: new Date(T0 + 2 * HOUR - MINUTE) })));
          seqOf(await store.appendEvent(newEvent('sales', 'old-3', { receivedAt: new Date(T0) })));
          seqOf(await store.appendEvent(newEvent('sales', 'old-4', { receivedAt: new Date(T0) })));
          expect(await store.prune({ maxAgeMs: HOUR, maxEventsPerChannel: 1000 }, now, 100)).toBe(2);
          expect(await store.getEvent('sales', 'old-4')).toBeUndefined();
          expect(seqOf(await store.appendEvent(newEvent('sales', 'next', { receivedAt: now })))).toBe(5);
          expect(await store.channelStats('sales')).toMatchObject({ events: 3, lastSeq: 5 });
        }));
    });

    describe('listEvents', () => {
      /** sales and ops events, one second apart: sales/s0 (oldest) … ops/o3 (newest). */
      async function seed(store: Store): Promise<NewEvent[]> {
        await store.createChannel(plainChannel('sales'));
        await store.createChannel(plainChannel('ops'));
        await store.createChannel(plainChannel('quiet'));
        const spec: [string, string, string][] = [
          ['sales', 's0', 'call.answered'],
          ['ops', 'o0', 'call.missed'],
          ['sales', 's1', 'call.missed'],
          ['sales', 's2', 'call.answered'],
          ['ops', 'o1', 'call.answered'],
          ['ops', 'o2', 'sms.received'],
          ['sales', 's3', 'sms.received'],
          ['ops', 'o3', 'call.answered'],
        ];
        const events = spec.map(([channel, id, eventType], i) => newEvent(channel, id, { eventType, receivedAt: new Date(T0 + i * 1000) }));
        for (const e of events) seqOf(await store.appendEvent(e));
        return events;
      }

      it('returns events newest first with their summaries', () =>
        withStore(async (store) => {
          const events = await seed(store);
          const page = await store.listEvents({ ...ALL_CHANNELS, limit: 1000 });
          expect(keys(page.events)).toEqual(events.map((e) => `${e.channel}/${e.eventId}`).reverse());
          expect(page.nextCursor).toBeUndefined();
          expect(page.events[0]).toMatchObject({ channel: 'ops', id: 'o3', seq: 4, type: 'call.answered', receivedAt: new Date(T0 + 7000) });
        }));

      it('filters by channel, type, since (inclusive) and before (exclusive)', () =>
        withStore(async (store) => {
          await seed(store);
          const list = async (filters: Partial<EventQuery>): Promise<string[]> =>
            keys((await store.listEvents({ ...ALL_CHANNELS, limit: 1000, ...filters })).events);
          expect(await list({ channel: 'sales' })).toEqual(['sales/s3', 'sales/s2', 'sales/s1', 'sales/s0']);
          expect(await list({ channel: 'quiet' })).toEqual([]);
          expect(await list({ channel: 'ghost' })).toEqual([]);
          expect(await list({ type: 'call.answered' })).toEqual(['ops/o3', 'ops/o1', 'sales/s2', 'sales/s0']);
          expect(await list({ type: 'call' })).toEqual([]);
          // Globs, as listen --events takes them; other characters match themselves.
          expect(await list({ types: ['call.*'] })).toEqual(['ops/o3', 'ops/o1', 'sales/s2', 'sales/s1', 'ops/o0', 'sales/s0']);
          expect(await list({ types: ['call.m?ssed'] })).toEqual(['sales/s1', 'ops/o0']);
          expect(await list({ types: ['*.received'] })).toEqual(['sales/s3', 'ops/o2']);
          expect(await list({ types: ['call_answered'] })).toEqual([]);
          expect(await list({ types: ['call.answere%'] })).toEqual([]);
          expect(await list({ since: new Date(T0 + 5000) })).toEqual(['ops/o3', 'sales/s3', 'ops/o2']);
          expect(await list({ since: new Date(T0 + 4500) })).toEqual(['ops/o3', 'sales/s3', 'ops/o2']);
          expect(await list({ before: new Date(T0 + 2000) })).toEqual(['ops/o0', 'sales/s0']);
          expect(await list({ before: new Date(T0 + 2500) })).toEqual(['sales/s1', 'ops/o0', 'sales/s0']);
          expect(await list({ since: new Date(T0 + 1000), before: new Date(T0 + 5000), channel: 'ops' })).toEqual(['ops/o1', 'ops/o0']);
          expect(await list({ channel: 'sales', type: 'call.missed' })).toEqual(['sales/s1']);
          expect(await list({ since: new Date(T0 + 8000) })).toEqual([]);
        }));

      it('shows only visible channels: null is all, [] is nothing, a list restricts', () =>
        withStore(async (store) => {
          await seed(store);
          const list = async (query: Partial<EventQuery> & Pick<EventQuery, 'visibleChannels'>): Promise<string[]> =>
            keys((await store.listEvents({ limit: 1000, ...query })).events);
          expect(await list({ visibleChannels: null })).toHaveLength(8);
          expect(await list({ visibleChannels: [] })).toEqual([]);
          expect(await list({ visibleChannels: [], channel: 'sales' })).toEqual([]);
          expect(await list({ visibleChannels: ['sales'] })).toEqual(['sales/s3', 'sales/s2', 'sales/s1', 'sales/s0']);
          expect(await list({ visibleChannels: ['quiet', 'ghost'] })).toEqual([]);
          expect(await list({ visibleChannels: ['ops', 'sales'] })).toHaveLength(8);
          // Asking for a channel outside the visible ones shows nothing rather than widening access.
          expect(await list({ visibleChannels: ['sales'], channel: 'ops' })).toEqual([]);
          expect(await list({ visibleChannels: ['sales'], type: 'sms.received' })).toEqual(['sales/s3']);
        }));

      it('pages with limit and cursor through every event exactly once', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          await store.createChannel(plainChannel('ops'));
          for (let i = 0; i < 23; i++) seqOf(await store.appendEvent(newEvent(i % 3 === 0 ? 'ops' : 'sales', `e${i}`, { receivedAt: new Date(T0 + i) })));
          const everything = keys((await store.listEvents({ ...ALL_CHANNELS, limit: 1000 })).events);
          expect(everything).toHaveLength(23);

          for (const limit of [1, 5, 7, 23, 24]) {
            const pages = await listAllPages(store, { ...ALL_CHANNELS, limit });
            expect(pages.map((p) => p.length), `limit ${limit}`).toEqual(
              Array.from({ length: Math.ceil(23 / limit) }, (_, i) => Math.min(limit, 23 - i * limit)),
            );
            expect(pages.flatMap(keys), `limit ${limit}`).toEqual(everything);
          }
        }));

      it('gives no cursor on a last page that is exactly full', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          for (let i = 0; i < 20; i++) seqOf(await store.appendEvent(newEvent('sales', `e${i}`)));
          const pages = await listAllPages(store, { ...ALL_CHANNELS, limit: 5 });
          expect(pages.map((p) => p.length)).toEqual([5, 5, 5, 5]);
        }));

      it('keeps filters across pages', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          await store.createChannel(plainChannel('ops'));
          for (let i = 0; i < 30; i++) {
            seqOf(await store.appendEvent(newEvent(i % 2 ? 'ops' : 'sales', `e${i}`, { eventType: i % 3 ? 'call.answered' : 'sms.received' })));
          }
          const query = { visibleChannels: ['sales'], type: 'call.answered', limit: 3 };
          const expected = keys((await store.listEvents({ ...query, limit: 1000 })).events);
          expect(expected).toHaveLength(10);
          const pages = await listAllPages(store, query);
          expect(pages.flatMap(keys)).toEqual(expected);
          expect(pages.flat().every((e) => e.channel === 'sales' && e.type === 'call.answered')).toBe(true);
        }));

      it('continues from the cursor without overlaps when new events arrive between pages', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          for (let i = 0; i < 10; i++) seqOf(await store.appendEvent(newEvent('sales', `old-${i}`)));
          const first = await store.listEvents({ ...ALL_CHANNELS, limit: 4 });
          expect(first.events.map((e) => e.id)).toEqual(['old-9', 'old-8', 'old-7', 'old-6']);
          for (let i = 0; i < 5; i++) seqOf(await store.appendEvent(newEvent('sales', `new-${i}`)));
          const older: string[] = [];
          let cursor = first.nextCursor;
          expect(cursor).toBeDefined();
          while (cursor !== undefined) {
            const page = await store.listEvents({ ...ALL_CHANNELS, limit: 4, cursor });
            older.push(...page.events.map((e) => e.id));
            cursor = page.nextCursor;
          }
          expect(older).toEqual(['old-5', 'old-4', 'old-3', 'old-2', 'old-1', 'old-0']);
        }));
    });

    describe('channelStats', () => {
      it('counts events and reports the last seq and receive time', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          await store.createChannel(plainChannel('ops'));
          expect(await store.channelStats('sales')).toEqual({ events: 0, lastSeq: 0, lastReceivedAt: null });
          for (let i = 0; i < 4; i++) seqOf(await store.appendEvent(newEvent('sales', `s${i}`, { receivedAt: new Date(T0 + i * MINUTE) })));
          seqOf(await store.appendEvent(newEvent('ops', 'o0', { receivedAt: new Date(T0 + HOUR) })));
          const stats = await store.channelStats('sales');
          expect(stats).toEqual({ events: 4, lastSeq: 4, lastReceivedAt: new Date(T0 + 3 * MINUTE) });
          expect(stats.lastReceivedAt).toBeInstanceOf(Date);
          expect(await store.channelStats('ops')).toEqual({ events: 1, lastSeq: 1, lastReceivedAt: new Date(T0 + HOUR) });
          expect(await store.channelStats('ghost')).toEqual({ events: 0, lastSeq: 0, lastReceivedAt: null });
        }));
    });

    describe('prune', () => {
      it('removes events older than maxAgeMs and keeps one exactly that old', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          await store.createChannel(plainChannel('ops'));
          const now = new Date(T0 + 10 * HOUR);
          const ages: [string, string, number][] = [
            ['sales', 'ancient', 9 * HOUR],
            ['ops', 'old', 2 * HOUR + 1],
            ['sales', 'edge', 2 * HOUR],
            ['ops', 'fresh', MINUTE],
            ['sales', 'future', -MINUTE],
          ];
          for (const [channel, id, age] of ages) seqOf(await store.appendEvent(newEvent(channel, id, { receivedAt: new Date(now.getTime() - age) })));
          expect(await store.prune({ maxAgeMs: 2 * HOUR, maxEventsPerChannel: 1000 }, now, 100)).toBe(2);
          expect(keys((await store.listEvents({ ...ALL_CHANNELS, limit: 100 })).events).sort()).toEqual(['ops/fresh', 'sales/edge', 'sales/future']);
          expect(await store.prune({ maxAgeMs: 2 * HOUR, maxEventsPerChannel: 1000 }, now, 100)).toBe(0);
        }));

      it('keeps only the newest maxEventsPerChannel events of each channel', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          await store.createChannel(plainChannel('ops'));
          await store.createChannel(plainChannel('quiet'));
          for (let i = 1; i <= 12; i++) seqOf(await store.appendEvent(newEvent('sales', `s${i}`)));
          for (let i = 1; i <= 9; i++) seqOf(await store.appendEvent(newEvent('ops', `o${i}`)));
          for (let i = 1; i <= 3; i++) seqOf(await store.appendEvent(newEvent('quiet', `q${i}`)));
          expect(await store.prune({ maxAgeMs: 365 * 24 * HOUR, maxEventsPerChannel: 4 }, new Date(T0), 1000)).toBe(8 + 5);
          const seqs = async (channel: string): Promise<number[]> =>
            (await store.listEvents({ ...ALL_CHANNELS, channel, limit: 100 })).events.map((e) => e.seq);
          expect(await seqs('sales')).toEqual([12, 11, 10, 9]);
          expect(await seqs('ops')).toEqual([9, 8, 7, 6]);
          expect(await seqs('quiet')).toEqual([3, 2, 1]);
        }));

      it('removes at most batchSize per call by age; repeated calls finish the job', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          for (let i = 0; i < 25; i++) seqOf(await store.appendEvent(newEvent('sales', `old-${i}`, { receivedAt: new Date(T0 + i) })));
          for (let i = 0; i < 3; i++) seqOf(await store.appendEvent(newEvent('sales', `new-${i}`, { receivedAt: new Date(T0 + 5 * HOUR) })));
          const policy = { maxAgeMs: HOUR, maxEventsPerChannel: 1000 };
          const now = new Date(T0 + 5 * HOUR);
          const removed: number[] = [];
          for (let call = 0; call < 4; call++) removed.push(await store.prune(policy, now, 10));
          expect(removed).toEqual([10, 10, 5, 0]);
          expect((await store.listEvents({ ...ALL_CHANNELS, limit: 100 })).events.map((e) => e.id)).toEqual(['new-2', 'new-1', 'new-0']);
        }));

      it('removes at most batchSize per call by count; repeated calls finish the job', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          await store.createChannel(plainChannel('ops'));
          for (let i = 1; i <= 12; i++) seqOf(await store.appendEvent(newEvent('sales', `s${i}`)));
          for (let i = 1; i <= 9; i++) seqOf(await store.appendEvent(newEvent('ops', `o${i}`)));
          const policy = { maxAgeMs: 365 * 24 * HOUR, maxEventsPerChannel: 4 };
          const removed: number[] = [];
          for (let call = 0; call < 4; call++) removed.push(await store.prune(policy, new Date(T0), 5));
          expect(removed).toEqual([5, 5, 3, 0]);
          expect(await store.channelStats('sales')).toMatchObject({ events: 4, lastSeq: 12 });
          expect(await store.channelStats('ops')).toMatchObject({ events: 4, lastSeq: 9 });
          expect((await store.getEvent('sales', 's9'))?.seq).toBe(9);
          expect(await store.getEvent('sales', 's8')).toBeUndefined();
        }));

      it('counts age and count removals together against batchSize', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          const now = new Date(T0 + 10 * HOUR);
          for (let i = 0; i < 8; i++) seqOf(await store.appendEvent(newEvent('sales', `old-${i}`, { receivedAt: new Date(T0) })));
          for (let i = 0; i < 12; i++) seqOf(await store.appendEvent(newEvent('sales', `new-${i}`, { receivedAt: now })));
          // 8 too old, then 7 more over the per-channel limit of 5.
          const policy = { maxAgeMs: HOUR, maxEventsPerChannel: 5 };
          const removed: number[] = [];
          for (let call = 0; call < 3; call++) removed.push(await store.prune(policy, now, 10));
          expect(removed).toEqual([10, 5, 0]);
          expect((await store.listEvents({ ...ALL_CHANNELS, limit: 100 })).events.map((e) => e.id)).toEqual(
            ['new-11', 'new-10', 'new-9', 'new-8', 'new-7'],
          );
        }));
    });

    describe('lifecycle', () => {
      it('reports itself writable', () =>
        withStore(async (store) => {
          await expect(store.checkWritable()).resolves.toBeUndefined();
        }));

      it('finishes appends issued before close(), then refuses with RELAY_E_STORE_UNAVAILABLE', () =>
        withStore(async (store) => {
          await store.createChannel(plainChannel('sales'));
          const pending = [store.appendEvent(newEvent('sales', 'e1')), store.appendEvent(newEvent('sales', 'e2'))];
          const closing = store.close();
          expect((await Promise.all(pending)).map(seqOf).sort()).toEqual([1, 2]);
          await closing;
          await expectRelayError(store.appendEvent(newEvent('sales', 'e3')), 'RELAY_E_STORE_UNAVAILABLE');
          await expectRelayError(store.checkWritable(), 'RELAY_E_STORE_UNAVAILABLE');
          // Closing twice is harmless (shutdown paths may overlap).
          await expect(store.close()).resolves.toBeUndefined();
        }));
    });
  });
  describeDeliveryConformance(engine, open);
  describeOperationsConformance(engine, open);
  describeEventQueryConformance(engine, open);
}
