import type { EventSummaryView } from '@myop-relay/protocol';
import type { EventFilters } from '../api.js';
import { sessionOrder } from '../body.js';
import type { PageContext } from '../context.js';
import { h, replace } from '../dom.js';
import { localTime } from '../format.js';
import { deliveryBadges, errorText } from '../widgets.js';

/** Most events of one session the page shows; a call has about seven, a chat some dozens. */
const MAX_SESSION_EVENTS = 100;
/** Bodies read to order them by `event_sequence`; beyond this the arrival order stands. */
const MAX_BODIES = 50;

interface Entry {
  event: EventSummaryView;
  sequence: number | undefined;
  timestamp: string | undefined;
}

/** Reads bodies a few at a time, so a long chat does not flood the relay with requests. */
async function readOrder(ctx: PageContext, events: readonly EventSummaryView[]): Promise<Entry[]> {
  const entries: Entry[] = events.map((event) => ({ event, sequence: undefined, timestamp: undefined }));
  if (events.length > MAX_BODIES) return entries;
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < entries.length) {
      const entry = entries[next++];
      if (!entry) return;
      try {
        const detail = await ctx.api.event(entry.event.channel, entry.event.id);
        Object.assign(entry, sessionOrder(detail.bodyText));
      } catch {
        // Pruned meanwhile, or unreadable: it keeps its arrival place.
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  return entries;
}

/** MyOperator's order within a session (`event_sequence`; disposition events have none), then the event's own time, then arrival. */
function compare(a: Entry, b: Entry): number {
  const sa = a.sequence ?? Number.POSITIVE_INFINITY;
  const sb = b.sequence ?? Number.POSITIVE_INFINITY;
  if (sa !== sb) return sa - sb;
  const ta = a.timestamp ?? a.event.receivedAt;
  const tb = b.timestamp ?? b.event.receivedAt;
  if (ta !== tb) return ta < tb ? -1 : 1;
  return a.event.seq - b.event.seq;
}

/**
 * A call at a glance: the Webhook v2 events of one `session_id` (a call, or a WhatsApp chat)
 * together, in MyOperator's order, each with its delivery state; one click opens any of them.
 */
export async function renderSession(ctx: PageContext, target: HTMLElement, current: EventSummaryView, filters: EventFilters): Promise<void> {
  const session = current.session;
  if (session === null) return;
  replace(target, h('h3', null, 'This call at a glance'), h('p', { class: 'muted' }, 'Loading…'));
  try {
    const page = await ctx.api.events({ channel: current.channel, session }, undefined, MAX_SESSION_EVENTS);
    const entries = (await readOrder(ctx, page.events)).sort(compare);
    const kind = entries.some((e) => e.event.type.startsWith('message.') || e.event.type.startsWith('conversation.')) ? 'chat' : 'call';
    replace(
      target,
      h('h3', null, kind === 'chat' ? 'This chat at a glance' : 'This call at a glance'),
      h('p', { class: 'muted' }, `session ${session} · ${entries.length} event${entries.length === 1 ? '' : 's'}${page.nextCursor ? ` (the first ${MAX_SESSION_EVENTS} shown)` : ''}`),
      h(
        'ol',
        { class: 'session-events', id: 'session-events' },
        ...entries.map(({ event, sequence, timestamp }) =>
          h(
            'li',
            { class: event.id === current.id ? 'current' : '', data: { key: `${event.channel}/${event.id}` } },
            h(
              'a',
              { href: `#/events?${new URLSearchParams({ ...stringFilters(filters), event: `${event.channel}/${event.id}` }).toString()}` },
              h('span', { class: 'seq' }, sequence === undefined ? '·' : `#${sequence}`),
              h('span', { class: 'type' }, event.type),
              h('span', { class: 'time', title: timestamp ?? event.receivedAt }, localTime(timestamp ?? event.receivedAt)),
            ),
            deliveryBadges(event.deliveries),
          ),
        ),
      ),
    );
  } catch (error) {
    replace(target, h('h3', null, 'This call at a glance'), h('p', { class: 'error' }, errorText(error)));
  }
}

function stringFilters(filters: EventFilters): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(filters)) if (typeof value === 'string' && value !== '') out[name] = value;
  return out;
}
