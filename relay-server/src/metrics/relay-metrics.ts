import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AttemptResult, DeliveryObserver } from '../delivery/observer.js';
import type { IngestOutcome } from '../ingest/counters.js';
import type { ConsumerInfo, Store } from '../store/store.js';

/** What {@link RelayMetrics} reads at scrape time. */
export interface RelayMetricsSources {
  store: Store;
  /** Subscriptions of a consumer on this process (the hub's count). */
  connected: (channel: string, consumer: string) => number;
  /** The open WebSocket sessions (only the count is read). */
  sessions: { readonly size: number };
  /** relay-server's version, for `relay_build_info`. */
  version: string;
}

/** One scrape's view of the store, shared by the gauges that read it. */
interface StoreSnapshot {
  consumers: ConsumerInfo[];
  bytes: number;
}

/** Histogram buckets in seconds: ingest answers and store flushes take milliseconds; deliveries up to the retry horizon. */
const INGEST_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const FLUSH_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
const DELIVERY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

/**
 * The relay's Prometheus metrics, in a registry of their own so that several servers in one
 * process stay apart. Counters and histograms are fed by the ingest, delivery, store and
 * retention hooks as things happen; gauges of consumers and the store are read from the store
 * when scraped, so they are fleet-wide on Postgres and cost nothing between scrapes. Every label
 * comes from configuration (channel, consumer) or a fixed list (outcome, status class), never
 * from an event. Names and labels are documented in docs/deployment.md.
 */
export class RelayMetrics implements DeliveryObserver {
  /** The registry `GET /metrics` renders. */
  readonly registry = new Registry();
  private readonly ingestRequests: Counter<'channel' | 'outcome'>;
  private readonly ingestDuration: Histogram<'status'>;
  private readonly flushDuration: Histogram;
  private readonly deliveryAttempts: Counter<'channel' | 'consumer' | 'outcome'>;
  private readonly receiveToAck: Histogram<'channel' | 'consumer'>;
  private readonly retentionDeleted: Counter;
  private snapshot: Promise<StoreSnapshot | undefined> | undefined;

  constructor(private readonly sources: RelayMetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });

    this.ingestRequests = new Counter({
      name: 'relay_ingest_requests_total',
      help: 'Webhook requests by channel ("(unknown)" for names that are not channels) and outcome: ok, duplicate or the RELAY_E_ code of the refusal.',
      labelNames: ['channel', 'outcome'],
      registers,
    });
    this.ingestDuration = new Histogram({
      name: 'relay_ingest_duration_seconds',
      help: 'Time from a webhook request to its answer, by status class (2xx, 4xx, 5xx).',
      labelNames: ['status'],
      buckets: INGEST_BUCKETS,
      registers,
    });
    this.flushDuration = new Histogram({
      name: 'relay_store_flush_duration_seconds',
      help: 'Time of one group commit of received events until it is durable (SQLite: transactions and WAL flush; Postgres: the append transactions and the synchronous commit after them).',
      buckets: FLUSH_BUCKETS,
      registers,
    });
    this.deliveryAttempts = new Counter({
      name: 'relay_delivery_attempts_total',
      help: 'Delivery attempts that ended, by channel, consumer and outcome: acked, retry, parked, ignored (late answer) or expired (no answer within the ack timeout).',
      labelNames: ['channel', 'consumer', 'outcome'],
      registers,
    });
    this.receiveToAck = new Histogram({
      name: 'relay_delivery_receive_to_ack_seconds',
      help: 'Time from the relay receiving an event to the ack of its delivery to the consumer.',
      labelNames: ['channel', 'consumer'],
      buckets: DELIVERY_BUCKETS,
      registers,
    });
    this.retentionDeleted = new Counter({
      name: 'relay_retention_deleted_events_total',
      help: 'Events removed by retention (age or per-channel count) by this process.',
      registers,
    });

    const metrics = this;
    new Gauge({
      name: 'relay_build_info',
      help: 'Always 1; the labels name the relay-server version and the store engine.',
      labelNames: ['version', 'engine'],
      registers,
      collect() {
        this.set({ version: sources.version, engine: sources.store.engine }, 1);
      },
    });
    new Gauge({
      name: 'relay_websocket_sessions',
      help: 'relay-client WebSocket connections open on this process.',
      registers,
      collect() {
        this.set(sources.sessions.size);
      },
    });
    new Gauge({
      name: 'relay_store_up',
      help: '1 when the store answered this scrape\'s queries, 0 when it did not (the store gauges are then left out).',
      registers,
      async collect() {
        this.set((await metrics.storeSnapshot()) ? 1 : 0);
      },
    });
    new Gauge({
      name: 'relay_store_size_bytes',
      help: 'Disk space of the store: SQLite database and WAL files, or the Postgres schema\'s tables with indexes.',
      registers,
      async collect() {
        this.reset();
        const snapshot = await metrics.storeSnapshot();
        if (snapshot) this.set(snapshot.bytes);
      },
    });
    this.consumerGauge('relay_consumer_pending_events', 'Events waiting for the consumer: in flight, waiting for a retry, or not sent yet.', (c) => c.pending);
    this.consumerGauge(
      'relay_consumer_oldest_pending_age_seconds',
      'Age of the oldest event waiting for the consumer (since the relay received it); 0 when none waits.',
      (c, now) => (c.oldestPendingAt ? Math.max(0, (now - c.oldestPendingAt.getTime()) / 1000) : 0),
    );
    this.consumerGauge('relay_consumer_retrying_events', 'Events whose last delivery attempt to the consumer failed, waiting for their retry.', (c) => c.retrying);
    this.consumerGauge('relay_consumer_parked_events', 'Events parked as failed after the consumer\'s max attempts; replay them to deliver again.', (c) => c.failed);
    this.consumerGauge('relay_consumer_sessions', 'Subscriptions of the consumer on this process.', (c) => sources.connected(c.channel, c.name));
  }

  /** A gauge with one series per consumer, read from the scrape's snapshot. */
  private consumerGauge(name: string, help: string, value: (consumer: ConsumerInfo, now: number) => number): void {
    const metrics = this;
    new Gauge({
      name,
      help,
      labelNames: ['channel', 'consumer'],
      registers: [this.registry],
      async collect() {
        // Deleted consumers must not linger as stale series.
        this.reset();
        const snapshot = await metrics.storeSnapshot();
        const now = Date.now();
        for (const consumer of snapshot?.consumers ?? []) this.set({ channel: consumer.channel, consumer: consumer.name }, value(consumer, now));
      },
    });
  }

  /**
   * Reads consumers and size once per scrape: every gauge's collect asks while the first read
   * runs, and the next scrape reads afresh. A store that fails yields no snapshot, so the scrape
   * still answers (with `relay_store_up 0`) instead of failing as a whole.
   */
  private storeSnapshot(): Promise<StoreSnapshot | undefined> {
    this.snapshot ??= this.readStore().finally(() => {
      this.snapshot = undefined;
    });
    return this.snapshot;
  }

  private async readStore(): Promise<StoreSnapshot | undefined> {
    const { store } = this.sources;
    try {
      const consumers: ConsumerInfo[] = [];
      for (const channel of await store.listChannels()) consumers.push(...(await store.listConsumers(channel.name)));
      return { consumers, bytes: await store.storageBytes() };
    } catch {
      return undefined;
    }
  }

  /** Counts one ingest outcome (the ingest counters' observer). */
  readonly ingested = (channel: string, outcome: IngestOutcome): void => {
    this.ingestRequests.inc({ channel, outcome });
  };

  /** Times one answered webhook request. */
  ingestAnswered(statusCode: number, seconds: number): void {
    this.ingestDuration.observe({ status: `${Math.floor(statusCode / 100)}xx` }, seconds);
  }

  /** Times one durable group commit (the store's flush listener). */
  readonly flushed = (_events: number, seconds: number): void => {
    this.flushDuration.observe(seconds);
  };

  /** Counts events removed by retention (the pruner's listener). */
  readonly retentionRemoved = (events: number): void => {
    this.retentionDeleted.inc(events);
  };

  attemptsEnded(channel: string, consumer: string, result: AttemptResult, count: number): void {
    this.deliveryAttempts.inc({ channel, consumer, outcome: result }, count);
  }

  delivered(channel: string, consumer: string, receiveToAckMs: number): void {
    this.receiveToAck.observe({ channel, consumer }, Math.max(0, receiveToAckMs) / 1000);
  }

  /** The Prometheus text exposition of every metric, and its content type. */
  async render(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
