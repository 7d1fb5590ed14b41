import type { ConsumerDeliveryView, DeliveryState, EventVerificationView } from '@myop-relay/protocol';
import { ApiError } from './api.js';
import { h } from './dom.js';

/** Every delivery state, in the order the filter offers them. */
export const STATES = ['delivered', 'pending', 'failing', 'parked'] as const satisfies readonly DeliveryState[];

const STATE_LABELS: Record<DeliveryState, string> = {
  delivered: 'delivered',
  pending: 'pending',
  failing: 'failing',
  parked: 'parked',
};

/** One consumer's state of an event, as a badge. */
export function stateBadge(delivery: Pick<ConsumerDeliveryView, 'consumer' | 'state'>): HTMLElement {
  return h('span', { class: `badge state-${delivery.state}`, title: `${delivery.consumer}: ${STATE_LABELS[delivery.state]}` }, `${delivery.consumer} · ${STATE_LABELS[delivery.state]}`);
}

/** The states of an event with each consumer; a quiet note when no consumer takes it. */
export function deliveryBadges(deliveries: readonly ConsumerDeliveryView[]): HTMLElement {
  if (deliveries.length === 0) return h('span', { class: 'muted' }, 'no consumer');
  return h('span', { class: 'badges' }, ...deliveries.map(stateBadge));
}

/** How ingest verified an event, in words. */
export function verificationText(v: EventVerificationView | null): string {
  if (v === null) return 'not recorded (stored before relay-server kept it)';
  const allow = v.allowList ? '; source address on the allow-list' : '';
  switch (v.by) {
    case 'hmac':
      return `HMAC-SHA256 signature in ${v.header}, checked over the exact bytes${allow}`;
    case 'basic':
      return `Basic auth as ${v.user}${allow}`;
    case 'apikey':
      return `API key in ${v.location === 'header' ? 'header' : 'query parameter'} ${v.name}${allow}`;
    case 'api-token':
      return 'sample made through the API: admitted by a relay token';
    case 'none':
      return `none: the channel verifies nothing${allow}`;
  }
}

/** An error as the page shows it: the relay's code and message when it sent them. */
export function errorText(error: unknown): string {
  if (error instanceof ApiError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
