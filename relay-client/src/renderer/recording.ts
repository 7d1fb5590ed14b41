import type { Renderer } from './renderer.js';

/** The argument of each {@link Renderer} method, by method name. */
export type RendererEventMap = { [K in keyof Renderer]: Parameters<Renderer[K]>[0] };

/** One recorded call. */
export type RecordedEvent = { [K in keyof Renderer]: { type: K; info: RendererEventMap[K] } }[keyof Renderer];

interface Waiter {
  type: keyof Renderer;
  matches: (info: never) => boolean;
  resolve: (info: never) => void;
}

/**
 * A renderer that keeps every call, for tests: assert on what happened rather than on output
 * text, and await a happening instead of sleeping.
 */
export class RecordingRenderer implements Renderer {
  /** Every call so far, in order. */
  readonly events: RecordedEvent[] = [];
  #waiters: Waiter[] = [];

  /** The recorded arguments of one method, in order. */
  of<K extends keyof Renderer>(type: K): RendererEventMap[K][] {
    // The filter keeps only calls of `type`, whose argument is RendererEventMap[K]; TS cannot follow that.
    return this.events.filter((e) => e.type === type).map((e) => e.info as RendererEventMap[K]);
  }

  /**
   * Resolves with the first call of `type` whose argument satisfies `matches`, counting calls
   * already recorded.
   */
  waitFor<K extends keyof Renderer>(type: K, matches: (info: RendererEventMap[K]) => boolean = () => true): Promise<RendererEventMap[K]> {
    const seen = this.of(type).find(matches);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve) => this.#waiters.push({ type, matches: matches as (info: never) => boolean, resolve: resolve as (info: never) => void }));
  }

  #record(event: RecordedEvent): void {
    this.events.push(event);
    this.#waiters = this.#waiters.filter((w) => {
      if (w.type !== event.type || !w.matches(event.info as never)) return true;
      w.resolve(event.info as never);
      return false;
    });
  }

  starting(info: RendererEventMap['starting']): void {
    this.#record({ type: 'starting', info });
  }
  connecting(info: RendererEventMap['connecting']): void {
    this.#record({ type: 'connecting', info });
  }
  connected(info: RendererEventMap['connected']): void {
    this.#record({ type: 'connected', info });
  }
  subscribed(info: RendererEventMap['subscribed']): void {
    this.#record({ type: 'subscribed', info });
  }
  reconnecting(info: RendererEventMap['reconnecting']): void {
    this.#record({ type: 'reconnecting', info });
  }
  eventReceived(info: RendererEventMap['eventReceived']): void {
    this.#record({ type: 'eventReceived', info });
  }
  forwarded(info: RendererEventMap['forwarded']): void {
    this.#record({ type: 'forwarded', info });
  }
  backlog(info: RendererEventMap['backlog']): void {
    this.#record({ type: 'backlog', info });
  }
  hint(info: RendererEventMap['hint']): void {
    this.#record({ type: 'hint', info });
  }
  error(info: RendererEventMap['error']): void {
    this.#record({ type: 'error', info });
  }
  stopping(info: RendererEventMap['stopping']): void {
    this.#record({ type: 'stopping', info });
  }
  summary(info: RendererEventMap['summary']): void {
    this.#record({ type: 'summary', info });
  }
}
