import type { ConsumerDeliveryView, EventSummaryView } from '@myop-relay/protocol';
import type { EventDeliveryState, EventSummary, Store } from '../store/store.js';

/** An event's listing view, with its state per consumer. */
export function summaryView(event: EventSummary, deliveries: readonly ConsumerDeliveryView[] = []): EventSummaryView {
  return {
    channel: event.channel,
    seq: event.seq,
    id: event.id,
    type: event.type,
    receivedAt: event.receivedAt.toISOString(),
    sourceIp: event.sourceIp,
    size: event.size,
    synthetic: event.synthetic,
    session: event.session,
    deliveries: [...deliveries],
  };
}

/** One consumer's state as the API shows it. */
export function deliveryView(state: EventDeliveryState): ConsumerDeliveryView {
  return { consumer: state.consumer, state: state.state, attempts: state.attempts, nextAttemptAt: state.nextAttemptAt?.toISOString() ?? null };
}

/** The states of events with each consumer, one store call per channel the events are in. */
export async function statesOf(store: Store, events: readonly EventSummary[]): Promise<Map<string, ConsumerDeliveryView[]>> {
  const seqsByChannel = new Map<string, number[]>();
  for (const event of events) {
    const seqs = seqsByChannel.get(event.channel);
    if (seqs) seqs.push(event.seq);
    else seqsByChannel.set(event.channel, [event.seq]);
  }
  const states = new Map<string, ConsumerDeliveryView[]>();
  for (const [channel, seqs] of seqsByChannel) {
    for (const state of await store.deliveryStates(channel, seqs)) {
      const key = eventKey(channel, state.seq);
      const list = states.get(key);
      if (list) list.push(deliveryView(state));
      else states.set(key, [deliveryView(state)]);
    }
  }
  return states;
}

/** Key of an event in {@link statesOf}'s answer. */
export function eventKey(channel: string, seq: number): string {
  return `${channel}\u0000${seq}`;
}

/** Listing views of events with their states per consumer. */
export async function summaryViews(store: Store, events: readonly EventSummary[]): Promise<EventSummaryView[]> {
  const states = await statesOf(store, events);
  return events.map((event) => summaryView(event, states.get(eventKey(event.channel, event.seq))));
}
