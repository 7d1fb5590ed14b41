import { describe, expect, it } from 'vitest';
import { JsonRenderer } from '../src/renderer/json.js';
import { quietRenderer } from '../src/renderer/quiet.js';
import { RecordingRenderer } from '../src/renderer/recording.js';
import type { DeliveryInfo, ForwardedInfo, Renderer } from '../src/renderer/renderer.js';
import { createPlainRenderer, createPrettyRenderer, shouldColor } from '../src/renderer/text.js';

class Sink {
  text = '';
  isTTY?: boolean;
  constructor(isTTY?: boolean) {
    if (isTTY !== undefined) this.isTTY = isTTY;
  }
  write(chunk: string): boolean {
    this.text += chunk;
    return true;
  }
  get lines(): string[] {
    return this.text.split('\n').filter(Boolean);
  }
}

// 10:03:59 local time, so the time column reads the same in every time zone.
const at = new Date(2025, 7, 26, 10, 3, 59);
const now = (): Date => at;
const ESC = '\u001b[';

const delivery: DeliveryInfo = {
  channel: 'myoperator',
  seq: 42,
  id: 'evt_01JABCXYZ123',
  eventType: 'call.answered',
  attempt: 1,
  receivedAt: '2025-08-26T10:03:59.000Z',
  synthetic: false,
  replay: false,
};
const url = 'http://localhost:3000/webhooks/myoperator';
const delivered: ForwardedInfo = { ...delivery, method: 'POST', url, outcome: { ok: true, status: 200, latencyMs: 12.4 }, answer: 'ack' };
const failed: ForwardedInfo = {
  ...delivery,
  attempt: 2,
  method: 'POST',
  url,
  outcome: { ok: false, status: 500, latencyMs: 31, responseBody: '\ndb down\u001b[2J\n    at query (db.js:12)\n' },
  answer: 'nack',
  nextAttemptMs: 2000,
};
const refused: ForwardedInfo = { ...delivery, method: 'POST', url, outcome: { ok: false, error: 'ECONNREFUSED', latencyMs: 0.8 }, answer: 'nack', nextAttemptMs: 1000 };

/** Feeds a renderer one of everything. */
function script(r: Renderer): void {
  r.starting({ relay: 'wss://relay.example.com/ws', forwardTo: url, channels: ['myoperator'], consumer: 'asha@laptop' });
  r.connecting({ url: 'wss://relay.example.com/ws', attempt: 1 });
  r.connected({ url: 'wss://relay.example.com/ws', session: 'ws_01', server: '0.1.0' });
  r.subscribed({ channel: 'myoperator', consumer: 'asha@laptop', created: false, pending: 5000 });
  r.backlog({ channel: 'myoperator', delivered: 1200, total: 5000 });
  r.eventReceived({ ...delivery, bytes: 120 });
  r.forwarded(delivered);
  r.forwarded(failed);
  r.forwarded(refused);
  r.reconnecting({ failure: { kind: 'unreachable', fatal: false, message: 'relay unreachable at wss://relay.example.com/ws (ECONNREFUSED)', code: 'ECONNREFUSED' }, delayMs: 2600, attempt: 2 });
  r.error({ code: 'RELAY_E_WS_NOT_IN_FLIGHT', message: 'ignored', fatal: false });
  r.stopping({ inFlight: 2, timeoutMs: 10_000 });
  r.summary({ connected: true, delivered: 12, failed: 3, pending: 1, pendingFrom: 'relay' });
}

describe('plain renderer', () => {
  it('prints the event and forward lines in the documented format', () => {
    const out = new Sink();
    const r = createPlainRenderer({ out, now });
    r.eventReceived({ ...delivery, bytes: 120 });
    r.forwarded(delivered);
    expect(out.lines).toEqual([
      '10:03:59  --> call.answered  evt_01JABCXYZ123',
      '10:03:59  <-- [200] call.answered  evt_01JABCXYZ123  12 ms',
    ]);
  });

  it('names the event, shows the status or error of a failure, the next attempt estimate and the first line of the answer, without control characters', () => {
    const out = new Sink();
    const r = createPlainRenderer({ out, err: new Sink(), now });
    r.forwarded(failed);
    r.forwarded(refused);
    r.forwarded({ ...refused, outcome: { ok: false, status: 302, error: 'redirect not followed', latencyMs: 3 }, nextAttemptMs: undefined });
    expect(out.lines).toEqual([
      '10:03:59  <-- [500] call.answered  evt_01JABCXYZ123  31 ms  next attempt in ~2s',
      '          db down [2J',
      '10:03:59  <-- [ECONNREFUSED] call.answered  evt_01JABCXYZ123  1 ms  next attempt in ~1s',
      '10:03:59  <-- [302 redirect not followed] call.answered  evt_01JABCXYZ123  3 ms  no more attempts (--max-attempts reached)',
    ]);
  });

  it('says once, until the handler answers again, that nothing listens on the target', () => {
    const out = new Sink();
    const err = new Sink();
    const r = createPlainRenderer({ out, err, now });
    r.forwarded(refused);
    r.forwarded(refused);
    r.forwarded(delivered);
    r.forwarded(refused);
    const hint = '          nothing listens on localhost:3000: is your handler running? The relay keeps the event and delivers it again.';
    expect(err.lines).toEqual([hint, hint]);
  });

  it('tells how to get events a new consumer does not receive, and that a shared consumer splits events', () => {
    const err = new Sink();
    const r = createPlainRenderer({ out: new Sink(), err, now });
    r.hint({ kind: 'stored-before', channel: 'myoperator', consumer: 'asha@laptop', stored: 7 });
    r.hint({ kind: 'shared-consumer', channel: 'myoperator', consumer: 'asha@laptop', sessions: 2 });
    expect(err.lines[0]).toContain('7 events myoperator already stored are not delivered');
    expect(err.lines[0]).toContain('relay-client replay --since 1h --consumer asha@laptop --channel myoperator');
    expect(err.lines[0]).toContain('--since');
    expect(err.lines[1]).toContain('2 sessions are subscribed to myoperator as asha@laptop');
    expect(err.lines[1]).toContain('--consumer');
  });

  it('says when a run never reached the relay, and whose count pending is', () => {
    const out = new Sink();
    const r = createPlainRenderer({ out, now });
    r.starting({ relay: 'wss://relay.example.com/ws', forwardTo: url, channels: ['myoperator'], consumer: 'c' });
    r.summary({ connected: false, delivered: 0, failed: 0, pending: 0, pendingFrom: 'client' });
    r.summary({ connected: true, delivered: 1, failed: 0, pending: 2, pendingFrom: 'client' });
    expect(out.lines.slice(1)).toEqual([
      'summary: never connected to the relay at wss://relay.example.com/ws; nothing was received or delivered',
      'summary: 1 delivered, 0 failed attempts, 2 received and not done (the relay could not be asked for its count)',
    ]);
  });

  it('prints catching-up progress, the summary, and sends trouble to the error stream', () => {
    const out = new Sink();
    const err = new Sink();
    script(createPlainRenderer({ out, err, now }));
    expect(out.lines).toContain('10:03:59  catching up 1200/5000');
    expect(out.lines.at(-1)).toBe('summary: 12 delivered, 3 failed attempts, 1 pending at the relay');
    expect(err.lines).toEqual([
      '          nothing listens on localhost:3000: is your handler running? The relay keeps the event and delivers it again.',
      '10:03:59  relay unreachable at wss://relay.example.com/ws (ECONNREFUSED); retrying in ~3s (attempt 2)',
      'warning RELAY_E_WS_NOT_IN_FLIGHT: ignored',
    ]);
    expect(out.text + err.text).not.toContain(ESC);
  });

  it('names the channel on each line only when listening to several', () => {
    const out = new Sink();
    const r = createPlainRenderer({ out, now });
    r.starting({ relay: 'ws://x/ws', forwardTo: url, channels: ['myoperator', 'sales'], consumer: 'c' });
    r.eventReceived({ ...delivery, channel: 'sales', attempt: 3, replay: true, bytes: 1 });
    expect(out.lines[1]).toBe('10:03:59  --> [sales] call.answered  evt_01JABCXYZ123  (attempt 3, replay)');
  });
});

describe('pretty renderer', () => {
  it('colours a terminal', () => {
    const out = new Sink(true);
    script(createPrettyRenderer({ out, now, env: {} }));
    expect(out.text).toContain(ESC);
  });

  it('does not colour when stdout is not a terminal, or NO_COLOR is set', () => {
    const piped = new Sink(false);
    script(createPrettyRenderer({ out: piped, now, env: {} }));
    const noColor = new Sink(true);
    script(createPrettyRenderer({ out: noColor, now, env: { NO_COLOR: '1' } }));
    expect(piped.text).not.toContain(ESC);
    expect(noColor.text).not.toContain(ESC);
    expect(shouldColor({ isTTY: true }, { NO_COLOR: '' })).toBe(true);
  });
});

describe('json renderer', () => {
  it('writes one JSON object per line with time and type', () => {
    const out = new Sink();
    script(new JsonRenderer({ out, now }));
    const objects = out.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(objects.map((o) => o['type'])).toEqual([
      'starting',
      'connecting',
      'connected',
      'subscribed',
      'backlog',
      'eventReceived',
      'forwarded',
      'forwarded',
      'forwarded',
      'reconnecting',
      'error',
      'stopping',
      'summary',
    ]);
    expect(objects.every((o) => o['time'] === at.toISOString())).toBe(true);
    expect(objects[6]).toMatchObject({ id: 'evt_01JABCXYZ123', seq: 42, ok: true, status: 200, latencyMs: 12, answer: 'ack' });
    expect(objects[6]).not.toHaveProperty('responseBody');
    expect(objects[7]).toMatchObject({ ok: false, status: 500, nextAttemptMs: 2000, responseBody: '\ndb down\u001b[2J\n    at query (db.js:12)\n' });
    expect(objects[8]).toMatchObject({ ok: false, error: 'ECONNREFUSED' });
    expect(objects[12]).toMatchObject({ delivered: 12, failed: 3, pending: 1 });
  });
});

describe('quiet renderer', () => {
  it('passes on only failures, connection trouble, errors and the summary', () => {
    const inner = new RecordingRenderer();
    script(quietRenderer(inner));
    expect(inner.events.map((e) => e.type)).toEqual(['forwarded', 'forwarded', 'reconnecting', 'error', 'summary']);
    expect(inner.of('forwarded').every((f) => !f.outcome.ok)).toBe(true);
  });
});
