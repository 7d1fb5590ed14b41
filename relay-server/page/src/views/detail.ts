import type { DeliveryListView, EventDetailView } from '@myop-relay/protocol';
import type { EventFilters } from '../api.js';
import { bodyFileName, decodeBase64, rawView, readBody } from '../body.js';
import type { PageContext } from '../context.js';
import { curlCommand } from '../curl.js';
import { h, replace } from '../dom.js';
import { bytes, localTime } from '../format.js';
import { deliveryBadges, errorText, verificationText } from '../widgets.js';
import { renderSession } from './session.js';
import { timeline } from './timeline.js';

/** Bodies above this go to curl as a file (`--data-binary @file`) rather than on its command line. */
const INLINE_BODY_LIMIT = 64 * 1024;

type BodyMode = 'pretty' | 'raw' | 'form';

/** One event: metadata, how it was verified, headers, body, its call, and every delivery attempt. */
export class DetailView {
  readonly root: HTMLElement;
  private selected: { channel: string; id: string } | undefined;
  private filters: EventFilters = {};
  private event: EventDetailView | undefined;
  private deliveries: DeliveryListView | undefined;
  private bodyMode: BodyMode = 'pretty';
  private readonly timelineBox = h('div', { id: 'timeline' });
  private generation = 0;
  private follow: number | undefined;

  constructor(private readonly ctx: PageContext) {
    this.root = h('aside', { class: 'detail', id: 'detail', 'aria-live': 'polite' }, h('p', { class: 'muted placeholder' }, 'Select an event to see its headers, body and deliveries.'));
  }

  show(selected: { channel: string; id: string } | undefined, filters: EventFilters): void {
    this.filters = filters;
    if (selected?.channel === this.selected?.channel && selected?.id === this.selected?.id) return;
    this.selected = selected;
    window.clearTimeout(this.follow);
    this.event = undefined;
    this.deliveries = undefined;
    this.bodyMode = 'pretty';
    if (!selected) {
      replace(this.root, h('p', { class: 'muted placeholder' }, 'Select an event to see its headers, body and deliveries.'));
      return;
    }
    void this.load(selected);
  }

  onEvents(channels: readonly string[]): void {
    if (this.selected && channels.includes(this.selected.channel)) this.refresh();
  }

  /** Fetches the attempts again (the poll and the live feed call this). */
  refresh(): void {
    const selected = this.selected;
    if (!selected || !this.event) return;
    const generation = this.generation;
    this.ctx.api.deliveries(selected.channel, selected.id).then(
      (deliveries) => {
        if (generation !== this.generation) return;
        this.deliveries = deliveries;
        replace(this.timelineBox, timeline(deliveries));
        this.followPending();
      },
      // The next poll tries again; a 401 has signed the page out already.
      () => undefined,
    );
  }

  /**
   * While a delivery of the open event is still to happen (pending, or an attempt in flight),
   * its timeline is asked for again every 2 s: attempts make no stream message, only new events do.
   */
  private followPending(): void {
    window.clearTimeout(this.follow);
    const deliveries = this.deliveries;
    if (!deliveries) return;
    const waiting = deliveries.consumers.some((c) => c.state === 'pending') || deliveries.attempts.some((a) => a.outcome === null);
    if (waiting) this.follow = window.setTimeout(() => this.refresh(), 2_000);
  }

  private async load(selected: { channel: string; id: string }): Promise<void> {
    const generation = ++this.generation;
    replace(this.root, h('p', { class: 'muted' }, 'Loading…'));
    try {
      const [event, deliveries] = await Promise.all([this.ctx.api.event(selected.channel, selected.id), this.ctx.api.deliveries(selected.channel, selected.id)]);
      if (generation !== this.generation) return;
      this.event = event;
      this.deliveries = deliveries;
      this.render();
      this.followPending();
    } catch (error) {
      if (generation !== this.generation) return;
      replace(this.root, this.closeButton(), h('p', { class: 'error', role: 'alert' }, errorText(error)));
    }
  }

  private closeButton(): HTMLElement {
    return h('button', { type: 'button', class: 'quiet close', 'aria-label': 'Close the event', on: { click: () => this.ctx.navigate({ view: 'events', filters: this.filters }) } }, '×');
  }

  private render(): void {
    const event = this.event;
    if (!event || !this.deliveries) return;
    replace(this.timelineBox, timeline(this.deliveries));
    const sessionBox = h('section', { class: 'session', id: 'session' });
    replace(
      this.root,
      h('header', { class: 'detail-head' }, h('h2', { id: 'detail-type' }, event.type), this.closeButton()),
      h('div', { class: 'mono detail-id', id: 'detail-id' }, event.id),
      this.actions(event),
      this.meta(event),
      event.session === null ? null : sessionBox,
      h('section', { class: 'body' }, h('h3', null, 'Body'), this.bodyView(event)),
      h('section', null, h('h3', null, `Headers (${event.headers.length})`), this.headersTable(event)),
      h('section', { class: 'deliveries' }, h('h3', null, 'Deliveries'), this.timelineBox),
    );
    if (event.session !== null) void renderSession(this.ctx, sessionBox, event, this.filters);
  }

  private meta(event: EventDetailView): HTMLElement {
    const row = (label: string, ...value: (Node | string)[]): HTMLElement[] => [h('dt', null, label), h('dd', null, ...value)];
    return h(
      'dl',
      { class: 'meta' },
      ...row('Channel', event.channel),
      ...row('Seq', String(event.seq)),
      ...row('Received', h('span', { title: event.receivedAt }, `${localTime(event.receivedAt)} (${event.receivedAt})`)),
      ...row('From', event.synthetic ? `${event.sourceIp} (sample made by the relay)` : event.sourceIp),
      ...row('Size', bytes(event.size)),
      ...row('Verified', verificationText(event.verification)),
      ...row('Delivery', deliveryBadges(event.deliveries)),
      ...(event.session === null ? [] : row('Session', h('span', { class: 'mono' }, event.session))),
    );
  }

  private headersTable(event: EventDetailView): HTMLElement {
    if (event.headers.length === 0) return h('p', { class: 'muted' }, 'No headers were kept.');
    return h('table', { class: 'headers', id: 'detail-headers' }, h('tbody', null, ...event.headers.map(([name, value]) => h('tr', null, h('th', null, name), h('td', null, value)))));
  }

  private bodyView(event: EventDetailView): HTMLElement {
    const contentType = event.headers.find(([n]) => n.toLowerCase() === 'content-type')?.[1];
    const reading = readBody(event.bodyText, contentType);
    const body = decodeBase64(event.bodyBase64);
    const modes: [BodyMode, string][] = [];
    if (reading.kind === 'json') modes.push(['pretty', 'Pretty JSON']);
    if (reading.kind === 'form') modes.push(['form', 'Form decoded']);
    modes.push(['raw', 'Raw bytes']);
    const mode = modes.some(([m]) => m === this.bodyMode) ? this.bodyMode : (modes[0]?.[0] ?? 'raw');
    const content =
      mode === 'pretty' && reading.kind === 'json'
        ? h('pre', { class: 'code', id: 'body-pretty' }, reading.pretty)
        : mode === 'form' && reading.kind === 'form'
          ? h(
              'div',
              { id: 'body-form' },
              h('table', { class: 'headers' }, h('tbody', null, ...reading.fields.map(([n, v]) => h('tr', null, h('th', null, n), h('td', null, v))))),
              reading.myoperator === undefined ? null : h('pre', { class: 'code' }, reading.myoperator),
            )
          : h('pre', { class: 'code', id: 'body-raw' }, rawView(body, event.bodyText));
    const note =
      mode === 'raw'
        ? `${bytes(body.length)}, exactly as stored${event.bodyText === null ? '; not UTF-8, bytes shown as \\xNN' : ''}`
        : 're-indented for reading; the stored bytes are unchanged (see Raw bytes)';
    return h(
      'div',
      null,
      h(
        'div',
        { class: 'toggle', role: 'group', 'aria-label': 'Body view' },
        ...modes.map(([m, label]) =>
          h(
            'button',
            {
              type: 'button',
              class: m === mode ? 'on' : '',
              'aria-pressed': m === mode ? 'true' : 'false',
              data: { mode: m },
              on: {
                click: () => {
                  this.bodyMode = m;
                  this.render();
                },
              },
            },
            label,
          ),
        ),
      ),
      h('p', { class: 'muted small' }, note),
      content,
    );
  }

  private actions(event: EventDetailView): HTMLElement {
    const consumers = [...new Set([...event.deliveries.map((d) => d.consumer), ...(this.deliveries?.attempts.map((a) => a.consumer) ?? [])])];
    const select = h('select', { id: 'replay-consumer', 'aria-label': 'Consumer to replay to' }, ...consumers.map((c) => h('option', { value: c }, c)));
    const output = h('div', { class: 'action-output', id: 'action-output' });
    const replay = async (): Promise<void> => {
      const consumer = select.value;
      if (!consumer) return;
      try {
        const result = await this.ctx.api.replay(event.channel, consumer, { ids: [event.id] });
        this.ctx.notify(result.queued === 1 ? `Queued ${event.id} again for ${consumer}.` : `Not queued: the event is no longer stored.`);
        this.refresh();
      } catch (error) {
        this.ctx.notify(errorText(error), 'error');
      }
    };
    return h(
      'div',
      { class: 'actions' },
      consumers.length > 0
        ? h('span', { class: 'replay' }, select, h('button', { type: 'button', id: 'replay', on: { click: () => void replay() } }, 'Replay'))
        : h('span', { class: 'muted' }, 'No consumer to replay to'),
      h('button', { type: 'button', id: 'copy-curl', on: { click: () => this.showCurl(event, output) } }, 'Copy as curl'),
      h('button', { type: 'button', id: 'download-body', on: { click: () => this.download(event) } }, 'Download body'),
      output,
    );
  }

  private showCurl(event: EventDetailView, output: HTMLElement): void {
    const channel = this.ctx.channels.find((c) => c.name === event.channel);
    const body = decodeBase64(event.bodyBase64);
    const large = body.length > INLINE_BODY_LIMIT;
    const command = curlCommand({
      url: `${location.origin}${channel?.ingestPath ?? `/hooks/${encodeURIComponent(event.channel)}`}`,
      headers: event.headers,
      body,
      ...(large ? { bodyFile: bodyFileName(event.channel, event.id) } : {}),
    });
    const notes: string[] = [];
    if (large) notes.push(`The body (${bytes(body.length)}) is read from ${bodyFileName(event.channel, event.id)}: download it first.`);
    const v = channel?.verification;
    if (v?.mode === 'basic') notes.push(`The channel checks Basic auth, which the relay does not keep: add -u ${v.user}:<password>.`);
    if (v?.mode === 'apikey') {
      notes.push(v.location === 'header' ? `The channel checks an API key, which the relay does not keep: add -H '${v.name}: <key>'.` : `The channel checks an API key, which the relay does not keep: add ?${v.name}=<key> to the URL.`);
    }
    notes.push('Sent to the relay again it is answered as a duplicate; point it at your handler to reproduce the request there.');
    replace(output, h('pre', { class: 'code curl', id: 'curl-command' }, command), ...notes.map((n) => h('p', { class: 'muted small' }, n)));
    // The clipboard exists only in secure contexts (HTTPS, localhost); elsewhere the command is there to select.
    const copied = navigator.clipboard?.writeText(command);
    if (copied === undefined) this.ctx.notify('Select the command below and copy it.');
    else copied.then(() => this.ctx.notify('Copied the curl command.'), () => this.ctx.notify('Select the command below and copy it.'));
  }

  private download(event: EventDetailView): void {
    const url = URL.createObjectURL(new Blob([decodeBase64(event.bodyBase64)], { type: 'application/octet-stream' }));
    const link = h('a', { href: url, download: bodyFileName(event.channel, event.id) });
    document.body.appendChild(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
}
