import type { ServerResponse } from 'node:http';
import type { StreamMessages } from '@myop-relay/protocol';

/** What a {@link LiveStream} needs. */
export interface LiveStreamOptions {
  /** The hijacked response the stream writes to; its headers are already sent. */
  response: ServerResponse;
  /** True when the stream's token may read the channel. */
  mayRead: (channel: string) => boolean;
  /** Resolves false once the stream's token no longer exists (revoked). */
  tokenValid: () => Promise<boolean>;
  /** Shortest time between two `events` messages. */
  coalesceMs: number;
  /** How often the token is checked. */
  tokenCheckMs: number;
  /** How often a comment line keeps proxies from closing an idle stream. */
  keepAliveMs: number;
  /** Called once when the stream has ended, whoever ended it. */
  onClose: () => void;
}

/** Keep-alive periods a reader may leave the stream's buffer full before it is cut off: 4. */
const STALLED_BEATS = 4;

/**
 * One open `GET /api/stream`: Server-Sent Events telling a page which channels have new
 * events, so it fetches them. What a reader can make the relay hold is bounded: channels with
 * news are kept as a set (one entry per channel, however many events arrive), nothing is written
 * while the socket's buffer is full, and a reader that leaves it full for {@link STALLED_BEATS}
 * keep-alive periods is disconnected.
 */
export class LiveStream {
  private readonly dirty = new Set<string>();
  private flushTimer: NodeJS.Timeout | undefined;
  private waitingForDrain = false;
  private lastFlushAt = 0;
  private stalledBeats = 0;
  private readonly keepAlive: NodeJS.Timeout;
  private readonly tokenCheck: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly options: LiveStreamOptions) {
    options.response.on('close', () => this.close());
    this.keepAlive = setInterval(() => this.beat(), options.keepAliveMs);
    this.tokenCheck = setInterval(() => void this.checkToken(), options.tokenCheckMs);
  }

  /** Writes one message; callers check the buffer first where a message may wait. */
  send<K extends keyof StreamMessages>(event: K, data: StreamMessages[K]): void {
    if (this.closed) return;
    this.options.response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  /** `channel` has new events: the stream says so within the coalescing window. */
  channelChanged(channel: string): void {
    if (this.closed || !this.options.mayRead(channel)) return;
    this.dirty.add(channel);
    this.schedule();
  }

  private schedule(): void {
    if (this.flushTimer !== undefined || this.waitingForDrain || this.closed) return;
    const wait = Math.max(0, this.lastFlushAt + this.options.coalesceMs - Date.now());
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flush();
    }, wait);
  }

  private flush(): void {
    if (this.closed || this.dirty.size === 0) return;
    const response = this.options.response;
    if (response.writableNeedDrain) {
      this.waitingForDrain = true;
      response.once('drain', () => {
        this.waitingForDrain = false;
        this.schedule();
      });
      return;
    }
    const channels = [...this.dirty].sort();
    this.dirty.clear();
    this.lastFlushAt = Date.now();
    this.send('events', { channels });
  }

  private beat(): void {
    if (this.options.response.writableNeedDrain) {
      this.stalledBeats += 1;
      if (this.stalledBeats >= STALLED_BEATS) this.options.response.destroy();
      return;
    }
    this.stalledBeats = 0;
    if (!this.closed) this.options.response.write(': keep-alive\n\n');
  }

  private async checkToken(): Promise<void> {
    let valid: boolean;
    try {
      valid = await this.options.tokenValid();
    } catch {
      // The store could not answer: the next check decides, the stream stays meanwhile.
      return;
    }
    if (valid || this.closed) return;
    this.send('signed-out', { code: 'RELAY_E_TOKEN_INVALID' });
    this.end();
  }

  /** Ends the stream from the relay's side. */
  end(): void {
    if (!this.closed) this.options.response.end();
    this.close();
  }

  private close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.keepAlive);
    clearInterval(this.tokenCheck);
    if (this.flushTimer !== undefined) clearTimeout(this.flushTimer);
    this.options.onClose();
  }
}
