import type {
  ChannelList,
  ConsumerListView,
  DeliveryListView,
  ErrorBody,
  EventDetailView,
  EventListView,
  ReplayRequest,
  ReplayResult,
  WhoAmIView,
} from '@myop-relay/protocol';

/** An answer of the relay other than 2xx, with the relay's error code when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Filters of the event listing, as the page's URL and `GET /api/events` name them. */
export interface EventFilters {
  channel?: string;
  type?: string;
  state?: string;
  consumer?: string;
  since?: string;
  before?: string;
  q?: string;
  session?: string;
}

/** The listing's filter names, in the order the page writes them into its URL. */
export const FILTER_NAMES = ['channel', 'type', 'state', 'consumer', 'since', 'before', 'q', 'session'] as const satisfies readonly (keyof EventFilters)[];

/**
 * The relay's API as the page uses it: same origin, the token in the Authorization header of
 * each request. A cross-site page cannot make the browser add that header (the relay sends no
 * CORS permission), so none of these requests can be forged from elsewhere.
 */
export class RelayApi {
  constructor(
    private readonly token: string,
    /** Called on 401: the token is no longer accepted. */
    private readonly onUnauthorized: (error: ApiError) => void,
  ) {}

  /** Headers every request carries. */
  get authorization(): Record<string, string> {
    return { authorization: `Bearer ${this.token}` };
  }

  private async call<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<T> {
    const res = await fetch(path, {
      method,
      headers: { ...this.authorization, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      cache: 'no-store',
      credentials: 'omit',
    });
    if (res.status === 204) return undefined as T;
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const error = (parsed as Partial<ErrorBody> | undefined)?.error;
      const failure = new ApiError(res.status, error?.code ?? `HTTP_${res.status}`, error?.message ?? `The relay answered ${res.status}.`);
      if (res.status === 401) this.onUnauthorized(failure);
      throw failure;
    }
    return parsed as T;
  }

  whoami(): Promise<WhoAmIView> {
    return this.call('GET', '/api/whoami');
  }

  channels(): Promise<ChannelList> {
    return this.call('GET', '/api/channels');
  }

  events(filters: EventFilters, cursor?: string, limit = 50): Promise<EventListView> {
    const query = new URLSearchParams();
    for (const name of FILTER_NAMES) {
      const value = filters[name];
      if (value !== undefined && value !== '') query.set(name, value);
    }
    if (cursor !== undefined) query.set('cursor', cursor);
    query.set('limit', String(limit));
    return this.call('GET', `/api/events?${query.toString()}`);
  }

  event(channel: string, id: string): Promise<EventDetailView> {
    return this.call('GET', `/api/events/${encodeURIComponent(channel)}/${encodeURIComponent(id)}`);
  }

  deliveries(channel: string, id: string): Promise<DeliveryListView> {
    return this.call('GET', `/api/events/${encodeURIComponent(channel)}/${encodeURIComponent(id)}/deliveries`);
  }

  consumers(channel: string): Promise<ConsumerListView> {
    return this.call('GET', `/api/consumers?channel=${encodeURIComponent(channel)}`);
  }

  replay(channel: string, consumer: string, request: ReplayRequest): Promise<ReplayResult> {
    return this.call('POST', `/api/consumers/${encodeURIComponent(channel)}/${encodeURIComponent(consumer)}/replay`, request);
  }

  deleteConsumer(channel: string, consumer: string): Promise<void> {
    return this.call('DELETE', `/api/consumers/${encodeURIComponent(channel)}/${encodeURIComponent(consumer)}`);
  }
}
