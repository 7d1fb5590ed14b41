import { MAX_PATH_SEGMENT_LENGTH, MAX_URL_LENGTH } from './edge/limits.js';

/**
 * The relay-server's error catalogue: every error a client of the HTTP API or an operator can
 * meet, with a stable code, its HTTP status and a message that says what to do.
 *
 * `docs/errors.md` lists the same codes; a test keeps the two in step.
 */
export const SERVER_ERRORS = {
  RELAY_E_UNKNOWN_CHANNEL: {
    status: 404,
    message: 'No channel with this name exists on this relay. Check the URL path /hooks/<channel> or create the channel with `relay-server channel add <name>`.',
  },
  RELAY_E_CREDENTIALS_MISSING: {
    status: 401,
    message: 'The request carries none of the credentials this channel requires (signature header, Basic auth or API key). Configure the webhook in MyOperator with the channel\'s credentials.',
  },
  RELAY_E_SIGNATURE_MALFORMED: {
    status: 401,
    message: 'The signature header is not a 64-character hex HMAC-SHA256 digest.',
  },
  RELAY_E_SIGNATURE_MISMATCH: {
    status: 401,
    message: 'The signature does not match the body for any active secret of this channel. Check that MyOperator and the relay use the same signing secret.',
  },
  RELAY_E_BASIC_AUTH_INVALID: {
    status: 401,
    message: 'The Basic auth user name or password is wrong for this channel.',
  },
  RELAY_E_BASIC_AUTH_BUSY: {
    status: 503,
    message: 'Too many Basic auth passwords are waiting to be checked; nothing was stored. The sender should retry.',
  },
  RELAY_E_API_KEY_INVALID: {
    status: 401,
    message: 'The API key is wrong for this channel.',
  },
  RELAY_E_IP_NOT_ALLOWED: {
    status: 403,
    message: 'The source address is not in this channel\'s IP allow-list.',
  },
  RELAY_E_UNSUPPORTED_CONTENT_TYPE: {
    status: 415,
    message: 'The body must be sent as application/json (application/x-www-form-urlencoded only on channels that accept legacy v1 forms).',
  },
  RELAY_E_INVALID_JSON: {
    status: 400,
    message: 'The body is not valid UTF-8 JSON.',
  },
  RELAY_E_INVALID_LEGACY_FORM: {
    status: 400,
    message: 'The legacy v1 form body has no `myoperator` field holding a JSON object.',
  },
  RELAY_E_BODY_TOO_LARGE: {
    status: 413,
    message: 'The body is larger than this channel\'s limit (see `relay-server channel show <name>`, change with --max-body).',
  },
  RELAY_E_TOO_MANY_HEADERS: {
    status: 431,
    message: 'The request has more headers than the relay stores and forwards (200).',
  },
  RELAY_E_BODY_INCOMPLETE: {
    status: 400,
    message: 'The body ended before its declared Content-Length; nothing was stored.',
  },
  RELAY_E_RATE_LIMITED_CHANNEL: {
    status: 429,
    message: 'This channel receives more events per second than its configured rate limit. Retry later or raise --rate-limit-channel.',
  },
  RELAY_E_RATE_LIMITED_IP: {
    status: 429,
    message: 'This source address sends more requests per second than its configured rate limit. Retry later or raise --rate-limit-ip.',
  },
  RELAY_E_STORE_UNAVAILABLE: {
    status: 503,
    message: 'The event store cannot be reached or written right now. Nothing was stored (webhooks get 503, so MyOperator retries); check the database or the data dir.',
  },
  RELAY_E_STORE_FULL: {
    status: 503,
    message: 'The event store is full (disk or --max-db-size reached); the event was not stored. Free space or raise the limit.',
  },
  RELAY_E_STORE_VERSION: {
    status: 500,
    message: 'The database was written by a newer relay-server. Upgrade relay-server, or restore a backup made by this version.',
  },
  RELAY_E_SHUTTING_DOWN: {
    status: 503,
    message: 'The relay is shutting down and accepts no new events; the sender should retry.',
  },
  RELAY_E_AUTH_REQUIRED: {
    status: 401,
    message: 'This API needs `Authorization: Bearer <token>`. Create a token with `relay-server token create --name <you>`.',
  },
  RELAY_E_TOKEN_INVALID: {
    status: 401,
    message: 'The bearer token is unknown or revoked.',
  },
  RELAY_E_CHANNEL_FORBIDDEN: {
    status: 403,
    message: 'This token may not read that channel. Ask an admin for a token that includes it.',
  },
  RELAY_E_ADMIN_REQUIRED: {
    status: 403,
    message: 'This needs an admin token; developer tokens read events only. Use a token made with `relay-server token create --name <name> --role admin`.',
  },
  RELAY_E_EVENT_NOT_FOUND: {
    status: 404,
    message: 'No stored event with this id on this channel (it may have been pruned by retention).',
  },
  RELAY_E_CONSUMER_NOT_FOUND: {
    status: 404,
    message: 'No consumer with this name on this channel. See GET /api/consumers?channel=<channel>.',
  },
  RELAY_E_INVALID_QUERY: {
    status: 400,
    message: 'A query parameter or a name in the URL path is invalid; the one named here says what it takes.',
  },
  RELAY_E_INVALID_BODY: {
    status: 400,
    message: 'A field of the JSON request body is missing, unknown or of the wrong kind; the one named here says what it takes.',
  },
  RELAY_E_API_CONTENT_TYPE: {
    status: 415,
    message: 'API request bodies must be sent as application/json.',
  },
  RELAY_E_API_BODY_TOO_LARGE: {
    status: 413,
    message: 'The API request body is larger than the API takes.',
  },
  RELAY_E_NOT_FOUND: {
    status: 404,
    message: 'No such route. Webhooks go to POST /hooks/<channel>; the API lives under /api.',
  },
  RELAY_E_METHOD_NOT_ALLOWED: {
    status: 405,
    message: 'This route does not accept that method; the Allow header names the one it does.',
  },
  RELAY_E_REQUEST_TIMEOUT: {
    status: 408,
    message: 'The request was not received completely in time (see --headers-timeout and --request-timeout).',
  },
  RELAY_E_MALFORMED_REQUEST: {
    status: 400,
    message: 'The request is not valid HTTP/1.1 (the reason follows); nothing was read from it. Check the client or proxy that sent it.',
  },
  RELAY_E_HEADERS_TOO_LARGE: {
    status: 431,
    message: 'The request line and headers together are larger than 16 KiB.',
  },
  RELAY_E_URL_TOO_LONG: {
    status: 414,
    message: `The URL is longer than ${MAX_URL_LENGTH} characters.`,
  },
  RELAY_E_PATH_SEGMENT_TOO_LONG: {
    status: 414,
    message: `A path segment is longer than ${MAX_PATH_SEGMENT_LENGTH} characters; no channel, consumer or event id is that long, even percent-encoded.`,
  },
  RELAY_E_BAD_URL: {
    status: 400,
    message: 'The URL path is not valid percent-encoding: each % must start a UTF-8 byte written as two hex digits.',
  },
  RELAY_E_HOST_REQUIRED: {
    status: 400,
    message: 'An HTTP/1.1 request must carry a Host header.',
  },
  RELAY_E_EXPECTATION_FAILED: {
    status: 417,
    message: 'The relay meets no Expect header but `Expect: 100-continue`.',
  },
  RELAY_E_UPGRADE_UNSUPPORTED: {
    status: 400,
    message: 'Only /ws accepts a protocol upgrade, and only to WebSocket. Send other requests without an Upgrade header.',
  },
  RELAY_E_UPGRADE_INVALID: {
    status: 400,
    message: 'The WebSocket handshake is invalid (the reason follows). relay-client sends a valid one; check any proxy between the client and the relay.',
  },
  RELAY_E_UNKNOWN_EVENT_TYPE: {
    status: 400,
    message: 'The relay cannot generate a sample of that event type or flow; the valid ones are listed here.',
  },
  RELAY_E_INVALID_SAMPLE_FIELD: {
    status: 400,
    message: 'A --set field path cannot be applied to the sample event.',
  },
  RELAY_E_LEGACY_FORM_REFUSED: {
    status: 400,
    message: 'Legacy v1 samples are form bodies, and this channel refuses them. Enable --accept-legacy-form on the channel or pick a v2 or seed type.',
  },
  RELAY_E_CONFIG_INVALID: {
    status: 400,
    message: 'A setting is invalid; fix the setting named here and start again.',
  },
  RELAY_E_CHANNEL_INVALID: {
    status: 400,
    message: 'The channel settings are invalid; fix the option named here.',
  },
  RELAY_E_CHANNEL_EXISTS: {
    status: 409,
    message: 'A channel with this name already exists. Use `relay-server channel update <name>` to change it.',
  },
  RELAY_E_TOKEN_NOT_FOUND: {
    status: 404,
    message: 'No token with this name exists. See `relay-server token list`.',
  },
  RELAY_E_TOKEN_EXISTS: {
    status: 409,
    message: 'A token with this name already exists. Revoke it first or choose another name.',
  },
  RELAY_E_PORT_IN_USE: {
    status: 500,
    message: 'Another process already listens on this address and port. Stop it (an earlier relay-server?) or start with another --port; --port 0 picks a free one.',
  },
  RELAY_E_LISTEN_FAILED: {
    status: 500,
    message: 'relay-server cannot listen on --host and --port (the detail says why). Fix --host or --port and start again.',
  },
  RELAY_E_BACKUP_INVALID: {
    status: 422,
    message: 'The file is not a sound backup of a relay store; do not restore it. Make a new one with `relay-server backup --to FILE`.',
  },
  RELAY_E_BACKUP_UNSUPPORTED: {
    status: 501,
    message: 'This runtime\'s SQLite binding has no online backup API. Run `relay-server backup` with Node.js (better-sqlite3), Deno 2, or Node 22.16 or newer.',
  },
  RELAY_E_INTERNAL: {
    status: 500,
    message: 'The relay hit an unexpected error; nothing was stored. The sender should retry.',
  },
} as const satisfies Record<string, { status: number; message: string }>;

/** A stable error code of the relay-server's HTTP surface. */
export type ServerErrorCode = keyof typeof SERVER_ERRORS;

/**
 * Why the store cannot take a write, as `GET /readyz` names it to anyone who asks: a category,
 * never a file name, schema or driver text (those go to the log).
 */
export type StoreUnreadyReason =
  | 'unreachable'
  | 'timeout'
  | 'locked'
  | 'schema-missing'
  | 'read-only'
  | 'file-replaced'
  | 'disk-full'
  | 'flush-failed'
  | 'store-error';

/** An error that maps to one catalogue entry; `detail` adds facts about this occurrence. */
export class RelayError extends Error {
  /** The stable code from {@link SERVER_ERRORS}. */
  readonly code: ServerErrorCode;
  /** HTTP status to answer with. */
  readonly status: number;
  /** Extra facts for this occurrence (never secrets). */
  readonly detail: string | undefined;
  /** For store errors: the category `/readyz` answers with. */
  readonly reason: StoreUnreadyReason | undefined;

  constructor(code: ServerErrorCode, detail?: string, options?: { cause?: unknown; reason?: StoreUnreadyReason }) {
    super(detail ? `${SERVER_ERRORS[code].message} ${detail}` : SERVER_ERRORS[code].message, options);
    this.name = 'RelayError';
    this.code = code;
    this.status = SERVER_ERRORS[code].status;
    this.detail = detail;
    this.reason = options?.reason;
  }

  /**
   * The JSON body sent to HTTP clients. Server errors (5xx) carry the catalogue message only:
   * their detail names engines, files or driver text, which is for the log, not for whoever sent
   * the request.
   */
  toBody(): { error: { code: ServerErrorCode; message: string } } {
    return { error: { code: this.code, message: this.status >= 500 ? SERVER_ERRORS[this.code].message : this.message } };
  }
}
