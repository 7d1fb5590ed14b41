import { FILTER_NAMES, type EventFilters } from './api.js';

/** Where the page is: its URL fragment, which holds no token, only what is on screen. */
export type Route =
  | { view: 'events'; filters: EventFilters; selected?: { channel: string; id: string } }
  | { view: 'consumers'; channel?: string };

/** Reads `#/events?channel=…&event=<channel>/<id>` or `#/consumers?channel=…`. */
export function parseRoute(hash: string): Route {
  const [path = '', query = ''] = hash.replace(/^#/, '').split('?', 2);
  const params = new URLSearchParams(query);
  if (path === '/consumers') {
    const channel = params.get('channel');
    return channel ? { view: 'consumers', channel } : { view: 'consumers' };
  }
  const filters: EventFilters = {};
  for (const name of FILTER_NAMES) {
    const value = params.get(name);
    if (value !== null && value !== '') filters[name] = value;
  }
  const selected = params.get('event');
  const slash = selected === null ? -1 : selected.indexOf('/');
  if (selected !== null && slash > 0) return { view: 'events', filters, selected: { channel: selected.slice(0, slash), id: selected.slice(slash + 1) } };
  return { view: 'events', filters };
}

/** The fragment for `route`. */
export function formatRoute(route: Route): string {
  const params = new URLSearchParams();
  if (route.view === 'consumers') {
    if (route.channel) params.set('channel', route.channel);
    const query = params.toString();
    return `#/consumers${query ? `?${query}` : ''}`;
  }
  for (const name of FILTER_NAMES) {
    const value = route.filters[name];
    if (value !== undefined && value !== '') params.set(name, value);
  }
  if (route.selected) params.set('event', `${route.selected.channel}/${route.selected.id}`);
  const query = params.toString();
  return `#/events${query ? `?${query}` : ''}`;
}
