import type { EventListView, EventSummaryView } from '@myop-relay/protocol';
import type { EventFilters } from '../api.js';
import type { PageContext } from '../context.js';
import { h, replace } from '../dom.js';
import { bytes, localTime } from '../format.js';
import { STATES, deliveryBadges, errorText } from '../widgets.js';
import { DetailView } from './detail.js';

/** Time ranges the filter offers, as `since` durations. */
const RANGES: readonly [string, string][] = [
  ['', 'Any time'],
  ['15m', 'Last 15 minutes'],
  ['1h', 'Last hour'],
  ['24h', 'Last 24 hours'],
  ['7d', 'Last 7 days'],
  ['custom', 'Between…'],
];

const PAGE_SIZE = 50;

function keyOf(event: Pick<EventSummaryView, 'channel' | 'id'>): string {
  return `${event.channel}/${event.id}`;
}

/** An ISO time as a `datetime-local` value (local time, minutes), and back. */
function toLocalInput(iso: string | undefined): string {
  if (iso === undefined) return '';
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return '';
  return new Date(at.getTime() - at.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}
function fromLocalInput(value: string): string | undefined {
  if (value === '') return undefined;
  const at = new Date(value);
  return Number.isNaN(at.getTime()) ? undefined : at.toISOString();
}

function sameFilters(a: EventFilters, b: EventFilters): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]) as Set<keyof EventFilters>;
  for (const key of keys) if ((a[key] ?? '') !== (b[key] ?? '')) return false;
  return true;
}

/**
 * The events list: filters (all applied by the relay), newest first, paged from the relay with
 * its cursor, kept current by the live feed; and the selected event's detail beside it.
 */
export class EventsView {
  readonly root: HTMLElement;
  private readonly detail: DetailView;
  private readonly inputs: {
    channel: HTMLSelectElement;
    type: HTMLInputElement;
    state: HTMLSelectElement;
    consumer: HTMLInputElement;
    range: HTMLSelectElement;
    from: HTMLInputElement;
    to: HTMLInputElement;
    q: HTMLInputElement;
  };
  private readonly customRange: HTMLElement;
  private readonly sessionChip: HTMLElement;
  private readonly consumerNames: HTMLDataListElement;
  private readonly thead: HTMLTableSectionElement;
  private readonly tbody: HTMLTableSectionElement;
  private readonly footer: HTMLElement;
  private filters: EventFilters = {};
  private rows: EventSummaryView[] = [];
  private cursor: string | null = null;
  private scanLimited = false;
  private loaded = false;
  private selectedKey: string | undefined;
  /** Answers to older requests are dropped: only the latest listing may show. */
  private generation = 0;
  private typing: number | undefined;

  constructor(private readonly ctx: PageContext) {
    const channelOptions = [h('option', { value: '' }, 'All channels'), ...ctx.channels.map((c) => h('option', { value: c.name }, c.name))];
    this.inputs = {
      channel: h('select', { id: 'filter-channel', name: 'channel', on: { change: () => this.apply() } }, ...channelOptions),
      type: h('input', { id: 'filter-type', name: 'type', type: 'text', placeholder: 'call.*, message.received', autocomplete: 'off', spellcheck: false, on: { input: () => this.applySoon() } }),
      state: h(
        'select',
        { id: 'filter-state', name: 'state', on: { change: () => this.apply() } },
        h('option', { value: '' }, 'Any state'),
        ...STATES.map((s) => h('option', { value: s }, s)),
      ),
      consumer: h('input', { id: 'filter-consumer', name: 'consumer', type: 'text', list: 'consumer-names', placeholder: 'any consumer', autocomplete: 'off', spellcheck: false, on: { input: () => this.applySoon() } }),
      range: h('select', { id: 'filter-range', name: 'range', on: { change: () => this.apply() } }, ...RANGES.map(([value, label]) => h('option', { value }, label))),
      from: h('input', { id: 'filter-from', name: 'from', type: 'datetime-local', on: { change: () => this.apply() } }),
      to: h('input', { id: 'filter-to', name: 'to', type: 'datetime-local', on: { change: () => this.apply() } }),
      q: h('input', { id: 'filter-q', name: 'q', type: 'search', placeholder: 'text in the body, e.g. +9198…', autocomplete: 'off', spellcheck: false, on: { input: () => this.applySoon() } }),
    };
    this.consumerNames = h('datalist', { id: 'consumer-names' });
    this.customRange = h('span', { class: 'custom-range hidden' }, h('label', { for: 'filter-from' }, 'from'), this.inputs.from, h('label', { for: 'filter-to' }, 'to'), this.inputs.to);
    this.sessionChip = h('span', { class: 'session-chip hidden' });
    const field = (label: string, id: string, input: HTMLElement): HTMLElement => h('span', { class: 'field' }, h('label', { for: id }, label), input);
    const form = h(
      'form',
      { class: 'filters', role: 'search', on: { submit: (e) => e.preventDefault() } },
      field('Channel', 'filter-channel', this.inputs.channel),
      field('Type', 'filter-type', this.inputs.type),
      field('State', 'filter-state', this.inputs.state),
      field('Consumer', 'filter-consumer', this.inputs.consumer),
      field('Received', 'filter-range', this.inputs.range),
      this.customRange,
      field('Search', 'filter-q', this.inputs.q),
      this.sessionChip,
      h('button', { type: 'button', class: 'quiet', on: { click: () => this.ctx.navigate({ view: 'events', filters: {} }) } }, 'Clear'),
      this.consumerNames,
    );
    this.tbody = h('tbody', { id: 'event-rows' });
    this.thead = h('thead');
    this.footer = h('div', { class: 'list-footer' });
    const table = h('table', { class: 'events', 'aria-label': 'Events, newest first' }, this.thead, this.tbody);
    this.detail = new DetailView(ctx);
    this.root = h('section', { class: 'events-view' }, form, h('div', { class: 'split' }, h('div', { class: 'list' }, table, this.footer), this.detail.root));
    void this.loadConsumerNames();
  }

  /** Shows `filters` (reloading when they changed) and the selected event. */
  show(filters: EventFilters, selected: { channel: string; id: string } | undefined): void {
    if (!this.loaded || !sameFilters(filters, this.filters)) {
      this.filters = { ...filters };
      this.syncInputs();
      void this.load();
    }
    this.selectedKey = selected ? keyOf(selected) : undefined;
    this.markSelected();
    this.detail.show(selected, this.filters);
  }

  /** The live feed says these channels have new events. */
  onEvents(channels: readonly string[]): void {
    if (this.filters.channel === undefined || channels.includes(this.filters.channel)) void this.refresh();
    this.detail.onEvents(channels);
  }

  /** Fetches the newest page again and merges it in; used by the live feed and the poll. */
  async refresh(): Promise<void> {
    if (!this.loaded) return;
    const generation = this.generation;
    let page: EventListView;
    try {
      page = await this.ctx.api.events(this.filters, undefined, PAGE_SIZE);
    } catch (error) {
      this.ctx.notify(errorText(error), 'error');
      return;
    }
    if (generation !== this.generation) return;
    const oldKeys = new Set(this.rows.map(keyOf));
    const last = page.events[page.events.length - 1];
    const at = last === undefined ? -1 : this.rows.findIndex((r) => keyOf(r) === keyOf(last));
    if (at >= 0) {
      this.rows = [...page.events, ...this.rows.slice(at + 1)];
    } else {
      // More arrived than one page, or nothing overlaps: start again from the newest page.
      this.rows = page.events;
      this.cursor = page.nextCursor;
      this.scanLimited = page.scanLimited;
    }
    this.renderRows(oldKeys.size > 0 ? new Set(this.rows.map(keyOf).filter((k) => !oldKeys.has(k))) : new Set());
    this.detail.refresh();
  }

  private syncInputs(): void {
    const f = this.filters;
    this.inputs.channel.value = f.channel ?? '';
    this.inputs.type.value = f.type ?? '';
    this.inputs.state.value = f.state ?? '';
    this.inputs.consumer.value = f.consumer ?? '';
    this.inputs.q.value = f.q ?? '';
    const preset = RANGES.some(([value]) => value !== 'custom' && value !== '' && value === f.since) && f.before === undefined;
    const custom = !preset && (f.since !== undefined || f.before !== undefined);
    this.inputs.range.value = custom ? 'custom' : (f.since ?? '');
    this.inputs.from.value = custom ? toLocalInput(f.since) : '';
    this.inputs.to.value = custom ? toLocalInput(f.before) : '';
    this.customRange.classList.toggle('hidden', !custom);
    if (f.session !== undefined) {
      replace(
        this.sessionChip,
        `session ${f.session}`,
        h('button', { type: 'button', class: 'chip-close', 'aria-label': 'Show every session', on: { click: () => this.ctx.navigate({ view: 'events', filters: { ...this.filters, session: undefined } }) } }, '×'),
      );
    }
    this.sessionChip.classList.toggle('hidden', f.session === undefined);
  }

  private readInputs(): EventFilters {
    const i = this.inputs;
    const range = i.range.value;
    const custom = range === 'custom';
    this.customRange.classList.toggle('hidden', !custom);
    const filters: EventFilters = {
      channel: i.channel.value || undefined,
      type: i.type.value.trim() || undefined,
      state: i.state.value || undefined,
      consumer: i.consumer.value.trim() || undefined,
      since: custom ? fromLocalInput(i.from.value) : range || undefined,
      before: custom ? fromLocalInput(i.to.value) : undefined,
      q: i.q.value || undefined,
      session: this.filters.session,
    };
    for (const key of Object.keys(filters) as (keyof EventFilters)[]) if (filters[key] === undefined) delete filters[key];
    return filters;
  }

  private applySoon(): void {
    window.clearTimeout(this.typing);
    this.typing = window.setTimeout(() => this.apply(), 300);
  }

  private apply(): void {
    window.clearTimeout(this.typing);
    // "Between…" waits for a time: until then the range stays as it was.
    if (this.inputs.range.value === 'custom' && this.inputs.from.value === '' && this.inputs.to.value === '') {
      this.customRange.classList.remove('hidden');
      return;
    }
    const filters = this.readInputs();
    if (this.inputs.channel.value !== (this.filters.channel ?? '')) void this.loadConsumerNames(this.inputs.channel.value);
    this.ctx.navigate({ view: 'events', filters, ...(this.selectedKey ? { selected: this.selectedFromKey() } : {}) });
  }

  private selectedFromKey(): { channel: string; id: string } {
    const key = this.selectedKey ?? '/';
    const slash = key.indexOf('/');
    return { channel: key.slice(0, slash), id: key.slice(slash + 1) };
  }

  /** Consumer names for the filter's suggestions: of the chosen channel, or of every visible one. */
  private async loadConsumerNames(channel = this.filters.channel ?? ''): Promise<void> {
    const channels = channel ? [channel] : this.ctx.channels.map((c) => c.name);
    const names = new Set<string>();
    for (const name of channels.slice(0, 20)) {
      try {
        for (const c of (await this.ctx.api.consumers(name)).consumers) names.add(c.name);
      } catch {
        // Suggestions only: a channel that cannot be listed offers none.
      }
    }
    replace(this.consumerNames, ...[...names].sort().map((n) => h('option', { value: n })));
  }

  private async load(): Promise<void> {
    const generation = ++this.generation;
    this.loaded = true;
    replace(this.footer, h('span', { class: 'muted' }, 'Loading…'));
    try {
      const page = await this.ctx.api.events(this.filters, undefined, PAGE_SIZE);
      if (generation !== this.generation) return;
      this.rows = page.events;
      this.cursor = page.nextCursor;
      this.scanLimited = page.scanLimited;
      this.renderRows(new Set());
    } catch (error) {
      if (generation !== this.generation) return;
      this.rows = [];
      this.cursor = null;
      this.renderRows(new Set());
      replace(this.footer, h('span', { class: 'error', role: 'alert' }, errorText(error)));
    }
  }

  private async more(): Promise<void> {
    if (this.cursor === null) return;
    const generation = this.generation;
    const cursor = this.cursor;
    replace(this.footer, h('span', { class: 'muted' }, 'Loading…'));
    try {
      const page = await this.ctx.api.events(this.filters, cursor, PAGE_SIZE);
      if (generation !== this.generation) return;
      const known = new Set(this.rows.map(keyOf));
      this.rows = [...this.rows, ...page.events.filter((e) => !known.has(keyOf(e)))];
      this.cursor = page.nextCursor;
      this.scanLimited = page.scanLimited;
      this.renderRows(new Set());
    } catch (error) {
      replace(this.footer, h('span', { class: 'error', role: 'alert' }, errorText(error)));
    }
  }

  /** A channel column only when the list may hold several channels. */
  private get showChannel(): boolean {
    return this.filters.channel === undefined && this.ctx.channels.length !== 1;
  }

  private renderRows(fresh: ReadonlySet<string>): void {
    const showChannel = this.showChannel;
    replace(
      this.thead,
      h('tr', null, h('th', null, 'Received'), showChannel ? h('th', null, 'Channel') : null, h('th', null, 'Type'), h('th', null, 'Event id'), h('th', null, 'Delivery'), h('th', { class: 'num' }, 'Size')),
    );
    const rows = this.rows.map((event) => {
      const key = keyOf(event);
      const select = (): void => this.ctx.navigate({ view: 'events', filters: this.filters, selected: { channel: event.channel, id: event.id } });
      return h(
        'tr',
        {
          class: fresh.has(key) ? 'fresh' : '',
          tabindex: 0,
          data: { key },
          on: {
            click: select,
            keydown: (e) => {
              if (e.key === 'Enter' || e.key === ' ') {
                e.preventDefault();
                select();
              }
            },
          },
        },
        h('td', { class: 'time', title: event.receivedAt }, localTime(event.receivedAt)),
        showChannel ? h('td', { class: 'channel' }, event.channel) : null,
        h('td', { class: 'type', title: event.type }, event.type, event.synthetic ? h('span', { class: 'badge sample', title: 'made by the relay (trigger), not by MyOperator' }, 'sample') : null),
        h('td', { class: 'mono id', title: event.id }, event.id),
        h('td', null, deliveryBadges(event.deliveries)),
        h('td', { class: 'num' }, bytes(event.size)),
      );
    });
    if (rows.length === 0) {
      rows.push(h('tr', { class: 'empty' }, h('td', { colspan: showChannel ? 6 : 5 }, this.emptyText())));
    }
    replace(this.tbody, ...rows);
    this.markSelected();
    this.renderFooter();
  }

  private emptyText(): string {
    const filtered = Object.keys(this.filters).length > 0;
    if (this.scanLimited) return 'No match among the newest events searched so far.';
    return filtered ? 'No stored event matches these filters.' : 'No events yet. Point MyOperator at /hooks/<channel>, or run relay-client trigger call.answered.';
  }

  private renderFooter(): void {
    const parts: (HTMLElement | string)[] = [h('span', { class: 'muted', id: 'event-count' }, `${this.rows.length} shown`)];
    if (this.scanLimited) {
      parts.push(h('span', { class: 'note' }, 'The search reads at most 10 000 events per request; older ones are not searched yet.'));
    }
    if (this.cursor !== null) {
      parts.push(h('button', { type: 'button', id: 'load-older', on: { click: () => void this.more() } }, this.scanLimited ? 'Search older events' : 'Load older'));
    }
    replace(this.footer, ...parts);
  }

  private markSelected(): void {
    for (const row of this.tbody.querySelectorAll<HTMLTableRowElement>('tr[data-key]')) {
      const selected = row.dataset['key'] === this.selectedKey;
      row.classList.toggle('selected', selected);
      if (selected) row.setAttribute('aria-selected', 'true');
      else row.removeAttribute('aria-selected');
    }
  }
}
