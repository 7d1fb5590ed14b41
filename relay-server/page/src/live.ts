import type { StreamMessages } from '@myop-relay/protocol';

/** Where the live feed stands, for the indicator in the top bar. */
export type LiveState = 'connecting' | 'live' | 'offline';

/** What the live feed reports. */
export interface LiveHandlers {
  /** Channels with new events since the last message. */
  onEvents(channels: readonly string[]): void;
  /** The stream is open again after a gap: events may have been missed. */
  onReconnected(): void;
  onState(state: LiveState): void;
  /** The relay refused the token (401) or revoked it on the open stream. */
  onSignedOut(): void;
}

const MAX_BACKOFF_MS = 15_000;

/**
 * `GET /api/stream` read with `fetch`, so the token travels in the Authorization header (an
 * EventSource could only put it in the URL). Reconnects with a growing delay; a 401, or the
 * relay's `signed-out` message, signs the page out.
 */
export class LiveFeed {
  private controller: AbortController | undefined;
  private stopped = false;
  private backoffMs = 1_000;
  private everOpen = false;

  constructor(
    private readonly authorization: Record<string, string>,
    private readonly handlers: LiveHandlers,
  ) {}

  start(): void {
    this.stopped = false;
    void this.run();
  }

  stop(): void {
    this.stopped = true;
    this.controller?.abort();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.handlers.onState('connecting');
      const controller = new AbortController();
      this.controller = controller;
      try {
        const res = await fetch('/api/stream', { headers: this.authorization, signal: controller.signal, cache: 'no-store', credentials: 'omit' });
        if (res.status === 401) {
          this.handlers.onSignedOut();
          return;
        }
        if (!res.ok || !res.body) throw new Error(`stream answered ${res.status}`);
        if (await this.read(res.body)) return;
      } catch {
        // Network trouble or the relay restarting: try again after the delay.
      }
      if (this.stopped) return;
      this.handlers.onState('offline');
      await new Promise((resolve) => setTimeout(resolve, this.backoffMs));
      this.backoffMs = Math.min(MAX_BACKOFF_MS, this.backoffMs * 2);
    }
  }

  /** Reads messages until the stream ends; true when the page was signed out. */
  private async read(body: ReadableStream<Uint8Array>): Promise<boolean> {
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return false;
      buffer += decoder.decode(value, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (this.dispatch(block)) return true;
      }
    }
  }

  private dispatch(block: string): boolean {
    let event = 'message';
    let data = '';
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data += data === '' ? value : `\n${value}`;
    }
    if (event === 'ready') {
      this.backoffMs = 1_000;
      this.handlers.onState('live');
      if (this.everOpen) this.handlers.onReconnected();
      this.everOpen = true;
    } else if (event === 'events') {
      const message = JSON.parse(data) as StreamMessages['events'];
      this.handlers.onEvents(message.channels);
    } else if (event === 'signed-out') {
      this.handlers.onSignedOut();
      return true;
    }
    return false;
  }
}
