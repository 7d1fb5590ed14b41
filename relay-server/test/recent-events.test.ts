import { describe, expect, it } from 'vitest';
import { RecentEvents } from '../src/store/recent-events.js';
import type { DeliveredEvent } from '../src/store/store.js';

function event(channel: string, seq: number, bodyBytes: number): DeliveredEvent {
  return {
    channel,
    seq,
    id: `e${seq}`,
    type: 'call.answered',
    receivedAt: new Date(0),
    sourceIp: '127.0.0.1',
    size: bodyBytes,
    synthetic: false,
    headersJson: '[]',
    body: new Uint8Array(bodyBytes),
  };
}

describe('RecentEvents', () => {
  it('gives an event back only for the row it was stored as', () => {
    const recent = new RecentEvents(10_000);
    const e = event('sales', 1, 10);
    recent.add(7, e);
    expect(recent.get('sales', 1, 7)).toBe(e);
    expect(recent.get('sales', 1, 8)).toBeUndefined();
    expect(recent.get('sales', 2, 7)).toBeUndefined();
    expect(recent.get('other', 1, 7)).toBeUndefined();
  });

  it('keeps at most its byte budget, dropping the oldest first', () => {
    // Each event counts its body and its header text: 98 + 2 = 100 bytes.
    const recent = new RecentEvents(300);
    for (let seq = 1; seq <= 5; seq++) recent.add(seq, event('sales', seq, 98));
    expect([1, 2, 3, 4, 5].map((seq) => recent.get('sales', seq, seq) !== undefined)).toEqual([false, false, true, true, true]);
  });

  it('counts a replaced entry once', () => {
    const recent = new RecentEvents(300);
    for (let round = 0; round < 10; round++) recent.add(100 + round, event('sales', 1, 98));
    recent.add(2, event('sales', 2, 98));
    recent.add(3, event('sales', 3, 98));
    expect(recent.get('sales', 1, 109)?.seq).toBe(1);
    expect(recent.get('sales', 3, 3)?.seq).toBe(3);
  });

  it('does not keep an event larger than the whole budget', () => {
    const recent = new RecentEvents(300);
    recent.add(1, event('sales', 1, 98));
    recent.add(2, event('sales', 2, 1_000));
    expect(recent.get('sales', 2, 2)).toBeUndefined();
    expect(recent.get('sales', 1, 1)?.seq).toBe(1);
  });
});
