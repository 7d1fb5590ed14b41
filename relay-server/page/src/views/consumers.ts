import type { ConsumerView } from '@myop-relay/protocol';
import type { PageContext } from '../context.js';
import { h, replace } from '../dom.js';
import { duration, localTime, relative } from '../format.js';
import { errorText } from '../widgets.js';

/**
 * Consumers of a channel: connected sessions, pending, oldest pending age, failing, parked,
 * last ack; parked events can be replayed and a consumer deleted (after a second click).
 */
export class ConsumersView {
  readonly root: HTMLElement;
  private readonly select: HTMLSelectElement;
  private readonly body = h('div', { id: 'consumers' });
  private channel = '';
  /** The consumer whose Delete was clicked once and waits for the confirming click. */
  private confirming: string | undefined;
  private generation = 0;

  constructor(private readonly ctx: PageContext) {
    this.select = h(
      'select',
      { id: 'consumers-channel', 'aria-label': 'Channel', on: { change: () => this.ctx.navigate({ view: 'consumers', channel: this.select.value }) } },
      ...ctx.channels.map((c) => h('option', { value: c.name }, c.name)),
    );
    this.root = h('section', { class: 'consumers-view' }, h('div', { class: 'filters' }, h('span', { class: 'field' }, h('label', { for: 'consumers-channel' }, 'Channel'), this.select)), this.body);
  }

  show(channel: string | undefined): void {
    const chosen = channel ?? this.busiestChannel();
    if (chosen !== this.channel) this.confirming = undefined;
    this.channel = chosen;
    this.select.value = chosen;
    void this.refresh();
  }

  /** Without a choice: the channel that received an event last, where a consumer is most likely wanted. */
  private busiestChannel(): string {
    const latest = [...this.ctx.channels].sort((a, b) => (b.lastReceivedAt ?? '').localeCompare(a.lastReceivedAt ?? ''))[0];
    return latest?.name ?? '';
  }

  async refresh(): Promise<void> {
    if (this.channel === '') {
      replace(this.body, h('p', { class: 'muted' }, 'This token may read no channel.'));
      return;
    }
    const generation = ++this.generation;
    try {
      const { consumers } = await this.ctx.api.consumers(this.channel);
      if (generation !== this.generation) return;
      replace(this.body, consumers.length === 0 ? h('p', { class: 'muted' }, 'No consumer yet: relay-client listen creates one.') : this.table(consumers));
    } catch (error) {
      if (generation !== this.generation) return;
      replace(this.body, h('p', { class: 'error', role: 'alert' }, errorText(error)));
    }
  }

  private table(consumers: readonly ConsumerView[]): HTMLElement {
    return h(
      'table',
      { class: 'consumers' },
      h(
        'thead',
        null,
        h('tr', null, ...['Consumer', 'Takes', 'Connected', 'Pending', 'Oldest pending', 'Failing', 'Parked', 'Last ack', ''].map((t) => h('th', null, t))),
      ),
      h('tbody', null, ...consumers.map((c) => this.row(c))),
    );
  }

  private row(c: ConsumerView): HTMLElement {
    const events = (state: string): void => this.ctx.navigate({ view: 'events', filters: { channel: c.channel, consumer: c.name, state } });
    const actions = h('td', { class: 'row-actions' });
    if (c.failing > 0) actions.appendChild(h('button', { type: 'button', class: 'quiet', on: { click: () => events('failing') } }, 'Show failing'));
    if (c.failed > 0) {
      actions.appendChild(h('button', { type: 'button', class: 'quiet', on: { click: () => events('parked') } }, 'Show parked'));
      actions.appendChild(h('button', { type: 'button', data: { action: 'replay-parked' }, on: { click: () => void this.replayParked(c) } }, `Replay ${c.failed} parked`));
    }
    actions.appendChild(
      this.confirming === c.name
        ? h(
            'span',
            { class: 'confirm' },
            `Delete ${c.name} and its delivery state?`,
            h('button', { type: 'button', class: 'danger', data: { action: 'confirm-delete' }, on: { click: () => void this.remove(c) } }, 'Delete'),
            h('button', { type: 'button', class: 'quiet', on: { click: () => this.cancel() } }, 'Keep'),
          )
        : h('button', { type: 'button', class: 'quiet danger', data: { action: 'delete' }, on: { click: () => this.ask(c) } }, 'Delete…'),
    );
    return h(
      'tr',
      { data: { consumer: c.name } },
      h('td', { class: 'mono' }, c.name),
      h('td', null, c.filter.length === 0 ? 'every type' : c.filter.join(', ')),
      h('td', { class: 'num' }, String(c.connectedSessions)),
      h('td', { class: 'num' }, String(c.pending)),
      h('td', null, c.oldestPendingAgeMs === null ? '–' : duration(c.oldestPendingAgeMs)),
      h('td', { class: c.failing > 0 ? 'num warn' : 'num' }, String(c.failing)),
      h('td', { class: c.failed > 0 ? 'num bad' : 'num' }, String(c.failed)),
      h('td', null, c.lastAckAt === null ? 'never' : h('span', { title: localTime(c.lastAckAt) }, relative(c.lastAckAt))),
      actions,
    );
  }

  private ask(c: ConsumerView): void {
    this.confirming = c.name;
    void this.refresh();
  }

  private cancel(): void {
    this.confirming = undefined;
    void this.refresh();
  }

  private async replayParked(c: ConsumerView): Promise<void> {
    try {
      const result = await this.ctx.api.replay(c.channel, c.name, { state: 'parked' });
      this.ctx.notify(`Queued ${result.queued} parked event${result.queued === 1 ? '' : 's'} again for ${c.name}.`);
    } catch (error) {
      this.ctx.notify(errorText(error), 'error');
    }
    await this.refresh();
  }

  private async remove(c: ConsumerView): Promise<void> {
    this.confirming = undefined;
    try {
      await this.ctx.api.deleteConsumer(c.channel, c.name);
      this.ctx.notify(`Deleted the consumer ${c.name}.`);
    } catch (error) {
      this.ctx.notify(errorText(error), 'error');
    }
    await this.refresh();
  }
}
