/**
 * Shapes of the relay-server's HTTP read API (`/api/...`), shared by the server that sends them
 * and the clients that read them. Times are ISO-8601 strings.
 */

/** How a channel verifies webhooks, without any secret. */
export type ChannelVerificationView =
  | { mode: 'hmac'; header: string; activeSecrets: number }
  | { mode: 'basic'; user: string }
  | { mode: 'apikey'; location: 'header' | 'query'; name: string }
  | { mode: 'none' };

/** One entry of `GET /api/channels`. */
export interface ChannelInfo {
  name: string;
  /** Path MyOperator posts to, e.g. `/hooks/myoperator`. */
  ingestPath: string;
  verification: ChannelVerificationView;
  maxBodyBytes: number;
  acceptLegacyForm: boolean;
  allowIps: string[];
  createdAt: string;
  /** Events currently stored (after retention). */
  events: number;
  /** Highest sequence number ever given on this channel. */
  lastSeq: number;
  lastReceivedAt: string | null;
  /** Outcomes since this server process started. */
  ingest: {
    accepted: number;
    duplicates: number;
    /** Refused requests by error code. */
    rejected: Record<string, number>;
  };
}

/** `GET /api/channels`. */
export interface ChannelList {
  channels: ChannelInfo[];
}

/**
 * Where an event stands with one consumer: `delivered` (its handler answered 2xx), `pending`
 * (not sent yet, in flight, or queued again by a replay), `failing` (the last attempt failed and
 * another will follow) or `parked` (failed as many times as the consumer allows; only a replay
 * sends it again).
 */
export type DeliveryState = 'delivered' | 'pending' | 'failing' | 'parked';

/** Every {@link DeliveryState}, in the order a listing shows them. */
export const DELIVERY_STATES: readonly DeliveryState[] = ['delivered', 'pending', 'failing', 'parked'];

/** One consumer's state for one event. */
export interface ConsumerDeliveryView {
  consumer: string;
  state: DeliveryState;
  /** Attempts made so far. */
  attempts: number;
  /** When the next attempt may go (a retry's time, or when the lease of the attempt in flight ends); null when none is due. */
  nextAttemptAt: string | null;
}

/** One event in a listing, without body and headers. */
export interface EventSummaryView {
  channel: string;
  seq: number;
  id: string;
  type: string;
  receivedAt: string;
  sourceIp: string;
  /** Body size in bytes. */
  size: number;
  synthetic: boolean;
  /** Webhook v2 `session_id`: the call or WhatsApp chat the event belongs to; null for other shapes. */
  session: string | null;
  /** The event's state with each consumer it is for; empty when no consumer takes it. */
  deliveries: ConsumerDeliveryView[];
}

/** `GET /api/events`: newest first; pass `nextCursor` back as `cursor` for older events. */
export interface EventListView {
  events: EventSummaryView[];
  nextCursor: string | null;
  /**
   * True when the filters that read each event (type globs, delivery state, consumer, body text)
   * looked at as many events as one request may and the page is not full: `nextCursor` continues
   * the search with older events.
   */
  scanLimited: boolean;
}

/** How ingest checked the sender of a stored event. */
export type EventVerificationView = (
  | { by: 'hmac'; header: string }
  | { by: 'basic'; user: string }
  | { by: 'apikey'; location: 'header' | 'query'; name: string }
  /** A sample made through the API: the bearer token admitted it (Basic and API-key channels). */
  | { by: 'api-token' }
  | { by: 'none' }
) & {
  /** The channel's IP allow-list admitted the source address. */
  allowList: boolean;
};

/** `GET /api/events/<channel>/<id>`. */
export interface EventDetailView extends EventSummaryView {
  /** Request headers in received order and spelling; hop-by-hop and credential headers removed. */
  headers: [string, string][];
  /** The exact stored body, base64. */
  bodyBase64: string;
  /** The body as text when it is valid UTF-8, else null. */
  bodyText: string | null;
  /** How ingest verified the event; null for events stored before relay-server recorded it. */
  verification: EventVerificationView | null;
}

/** Every error answer of the HTTP API. */
export interface ErrorBody {
  error: { code: string; message: string };
}

/** One consumer in `GET /api/consumers?channel=`. */
export interface ConsumerView {
  channel: string;
  name: string;
  createdAt: string;
  /** Event-type globs it receives; empty means all. */
  filter: string[];
  maxAttempts: number | null;
  /** Sessions subscribed as this consumer on the relay-server that answered. */
  connectedSessions: number;
  /** Events in flight, waiting for a retry, or not yet sent. */
  pending: number;
  /** Age in milliseconds of the oldest pending event; null when none is pending. */
  oldestPendingAgeMs: number | null;
  lastAckAt: string | null;
  /** Events whose last attempt failed and that will be tried again. */
  failing: number;
  /** Events parked after max attempts. */
  failed: number;
  /** The latest failed attempt of an event still failing or parked; null when there is none. */
  lastFailure: ConsumerFailureView | null;
}

/** {@link ConsumerView.lastFailure}. */
export interface ConsumerFailureView {
  id: string;
  type: string;
  seq: number;
  attempt: number;
  /** When the attempt ended. */
  at: string;
  /** The handler's status, when it answered. */
  status: number | null;
  /** Why there was no usable answer, when there was none. */
  error: string | null;
  /** Base64 of the start of the handler's answer body, when relay-client reported it. */
  responseBody?: string;
}

/** `GET /api/consumers?channel=`. */
export interface ConsumerListView {
  consumers: ConsumerView[];
}

/** One attempt in `GET /api/events/<channel>/<id>/deliveries`. */
export interface DeliveryAttemptView {
  consumer: string;
  attempt: number;
  session: string;
  startedAt: string;
  finishedAt: string | null;
  /** Local handler's HTTP status, when it answered. */
  status: number | null;
  latencyMs: number | null;
  error: string | null;
  /** `acked`, `retry` (failed, tried again later), `failed` (parked), `abandoned` (no answer), null while in flight. */
  outcome: 'acked' | 'retry' | 'failed' | 'abandoned' | null;
  /** The handler's answer headers as relay-client reported them (bounded); absent when it reported none. */
  responseHeaders?: [name: string, value: string][];
  /** Base64 of the first bytes of the answer body (at most 4 KiB); absent when none were reported. */
  responseBody?: string;
  /** Whether `responseBody` holds less than the whole body; present with `responseBody`. */
  responseBodyTruncated?: boolean;
  /** Body bytes the handler sent in all; present with `responseBody`. */
  responseBytes?: number;
}

/** `GET /api/events/<channel>/<id>/deliveries`. */
export interface DeliveryListView {
  channel: string;
  id: string;
  attempts: DeliveryAttemptView[];
  /** The event's state with each consumer it is for. */
  consumers: ConsumerDeliveryView[];
}

/** `GET /api/whoami`: the token the request carried. */
export interface WhoAmIView {
  name: string;
  role: 'admin' | 'developer';
  /** Channels a developer token may read; null means every channel. */
  channels: string[] | null;
}

/**
 * Messages of `GET /api/stream` (Server-Sent Events), by event name: `ready` once the stream is
 * open, `events` when channels have new events (at most once per channel per
 * {@link STREAM_COALESCE_MS}), `signed-out` just before the relay ends a stream whose token was
 * revoked.
 */
export interface StreamMessages {
  ready: { token: string };
  events: { channels: string[] };
  'signed-out': { code: string };
}

/** Shortest time between two `events` messages of one stream: 200 ms. */
export const STREAM_COALESCE_MS = 200;
/** How often an open stream checks that its token still exists: 20 s. */
export const STREAM_TOKEN_CHECK_MS = 20_000;

/** `POST /api/channels/<channel>/trigger` request: one sample type, or a whole flow. */
export interface TriggerRequest {
  type?: string;
  flow?: string;
  /** `v2` (default), `seed` or `v1` (legacy form bodies). */
  shape?: 'v2' | 'seed' | 'v1';
  /** Field overrides by dotted path, e.g. `{ "payload.status": "missed" }`; values that parse as JSON are JSON. */
  set?: Record<string, string>;
}

/** `POST /api/channels/<channel>/trigger` answer: the stored sample events, in order. */
export interface TriggerResult {
  channel: string;
  events: { type: string; id: string; seq: number; duplicate: boolean }[];
}

/** `GET /api/samples`: what `trigger` can generate. */
export interface SampleCatalogue {
  /** Event types per payload shape. */
  shapes: Record<string, string[]>;
  /** Flow name → shape → event types in order. */
  flows: Record<string, Record<string, string[]>>;
}

/** `POST /api/consumers/<channel>/<name>/replay` request: event ids, or a time range with an optional type. */
export interface ReplayRequest {
  ids?: string[];
  /** ISO time or a duration back from now (`2h`). */
  since?: string;
  before?: string;
  type?: string;
  /** `parked`: every event parked for this consumer (instead of ids or a time range). */
  state?: 'parked';
}

/** `POST /api/consumers/<channel>/<name>/replay` answer. */
export interface ReplayResult {
  channel: string;
  consumer: string;
  /** Events queued again. */
  queued: number;
  /** Requested ids that are not stored (never received, or pruned). */
  missing: string[];
}
