import { createHash } from 'node:crypto';
import pg from 'pg';
import { clientConfig } from './postgres-connection.js';

/** Prefix of the NOTIFY channel; the schema is appended so relays in other schemas are not woken. */
export const NOTIFY_PREFIX = 'myop_relay_events';

/**
 * The payload that says a channel's settings changed. Channel names never hold a space, so no
 * channel's wake-up reads like it; relay-servers from before it find no consumer of that name.
 */
export const SETTINGS_PAYLOAD = 'channel settings';

/** The NOTIFY channel of a schema; longer names than Postgres keeps (63 bytes) are shortened with a hash. */
export function notifyChannel(schema: string): string {
  const full = schema === 'public' ? NOTIFY_PREFIX : `${NOTIFY_PREFIX}:${schema}`;
  if (Buffer.byteLength(full) <= 63) return full;
  return `${NOTIFY_PREFIX}:${createHash('sha256').update(schema).digest('hex').slice(0, 32)}`;
}

/** Settings of {@link NotificationListener}. */
export interface ListenerOptions {
  url: string;
  /** The NOTIFY channel to LISTEN on. */
  channel: string;
  /** Called with each notification's payload and the backend pid of the connection that sent it. */
  onNotification: (payload: string, senderPid: number) => void;
  /** Hears connection failures; the listener reconnects by itself. */
  onError: (error: Error) => void;
  /** Hears LISTEN becoming active and being lost: notifications sent while it was not may be missed. */
  onListening?: (listening: boolean) => void;
  /** First reconnect delay, doubling per failure. Default 100 ms. */
  minDelayMs?: number;
  /** Longest reconnect delay. Default 5 s. */
  maxDelayMs?: number;
}

/**
 * One dedicated connection that LISTENs (a pooled connection cannot: the pool hands it to other
 * work and may close it). When the connection drops it reconnects with backoff; notifications
 * sent meanwhile are lost, which the delivery hub's poll makes up for.
 */
export class NotificationListener {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private delayMs: number;
  private stopped = false;
  #listening = false;
  private waiters: (() => void)[] = [];

  /** Whether LISTEN is active now. */
  get listening(): boolean {
    return this.#listening;
  }

  constructor(private readonly options: ListenerOptions) {
    this.delayMs = options.minDelayMs ?? 100;
  }

  /** Connects and starts listening; idempotent. */
  start(): void {
    if (this.client === undefined && this.timer === undefined && !this.stopped) this.connect();
  }

  /** Resolves once LISTEN is active (at once if it already is); after {@link stop}, never. */
  whenListening(): Promise<void> {
    if (this.#listening) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private connect(): void {
    this.timer = undefined;
    const client = new pg.Client(clientConfig(this.options.url));
    this.client = client;
    client.on('notification', (message: pg.Notification) => {
      if (message.payload !== undefined) this.options.onNotification(message.payload, message.processId);
    });
    // Stays attached for the client's whole life: an 'error' without a listener would crash the process.
    client.on('error', (error: Error) => this.lost(client, error));
    client.on('end', () => this.lost(client, new Error('LISTEN connection ended')));
    client
      .connect()
      .then(() => client.query(`LISTEN ${pg.escapeIdentifier(this.options.channel)}`))
      .then(
        () => {
          if (this.client !== client) return;
          this.delayMs = this.options.minDelayMs ?? 100;
          this.#listening = true;
          this.options.onListening?.(true);
          for (const wake of this.waiters.splice(0)) wake();
        },
        (error: unknown) => this.lost(client, error instanceof Error ? error : new Error(String(error))),
      );
  }

  /** Drops a failed connection and schedules the next one; later events of the same client are ignored. */
  private lost(client: pg.Client, error: Error): void {
    if (this.client !== client) return;
    this.client = undefined;
    const was = this.#listening;
    this.#listening = false;
    if (was) this.options.onListening?.(false);
    client.end().catch(() => undefined);
    if (this.stopped) return;
    this.options.onError(error);
    this.timer = setTimeout(() => this.connect(), this.delayMs);
    this.timer.unref();
    this.delayMs = Math.min(this.delayMs * 2, this.options.maxDelayMs ?? 5_000);
  }

  /** Closes the connection and stops reconnecting. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.#listening = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}
