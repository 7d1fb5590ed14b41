import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Channel } from '../channel.js';
import { RelayError } from '../errors.js';
import type { Store } from '../store/store.js';
import { readBody } from './body.js';
import { UNKNOWN_CHANNEL_KEY, type IngestCounters } from './counters.js';
import { storedHeaders } from './headers.js';
import { identifyJsonEvent, identifyLegacyForm, type EventIdentity } from './identity.js';
import type { RateLimiter } from './rate-limit.js';
import { credentialHeaders, verifyBeforeBody, verifyBody, type VerifiableRequest } from './verify.js';

/** Dependencies of the ingest plugin. */
export interface IngestPluginOptions {
  store: Store;
  counters: IngestCounters;
  /** Per channel name. */
  channelLimiter: RateLimiter;
  /** Per source address. */
  ipLimiter: RateLimiter;
  /** Called after a new (not duplicate) event is durable, to wake its consumers. */
  onStored: (channel: string) => void;
}

/** The body of a 200 answer to MyOperator. */
export interface IngestAnswer {
  accepted: true;
  channel: string;
  id: string;
  seq: number;
  duplicate: boolean;
}

interface IngestState {
  channel: Channel;
  kind: 'json' | 'form';
  verifiable: VerifiableRequest;
}

const states = new WeakMap<FastifyRequest, IngestState>();
/** The channel a request was addressed to, once known, so refusals are counted against it. */
const channelOf = new WeakMap<FastifyRequest, string>();

const JSON_MEDIA = /^application\/(?:[a-z0-9.+-]+\+)?json$/;
const FORM_MEDIA = 'application/x-www-form-urlencoded';

function bodyKind(contentType: string | undefined, channel: Channel): 'json' | 'form' {
  const media = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (JSON_MEDIA.test(media)) return 'json';
  if (media === FORM_MEDIA && channel.acceptLegacyForm) return 'form';
  throw new RelayError('RELAY_E_UNSUPPORTED_CONTENT_TYPE', `(got ${media ? `"${media}"` : 'no Content-Type'})`);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function identify(kind: 'json' | 'form', body: Uint8Array): EventIdentity {
  if (kind === 'form') {
    const identity = identifyLegacyForm(body);
    if (!identity) throw new RelayError('RELAY_E_INVALID_LEGACY_FORM');
    return identity;
  }
  let value: unknown;
  try {
    value = JSON.parse(strictUtf8.decode(body));
  } catch (error) {
    throw new RelayError('RELAY_E_INVALID_JSON', error instanceof SyntaxError ? `(${error.message})` : '(not UTF-8)');
  }
  return identifyJsonEvent(value, body);
}

/**
 * `POST /hooks/:channel`: admits, verifies and durably stores MyOperator webhooks, answering
 * 200 only once the event is on disk. Checks run cheapest first, and everything that does not
 * need the body runs before the body is read.
 */
export const ingestPlugin: FastifyPluginAsync<IngestPluginOptions> = async (app, options) => {
  const { store, counters, channelLimiter, ipLimiter, onStored } = options;

  async function admit(request: FastifyRequest<{ Params: { channel: string } }>): Promise<void> {
    // The per-address limit comes first so a flood of junk never reaches the store.
    if (!ipLimiter.take(request.ip)) throw new RelayError('RELAY_E_RATE_LIMITED_IP');
    const channel = await store.getChannel(request.params.channel);
    if (!channel) throw new RelayError('RELAY_E_UNKNOWN_CHANNEL', `(channel "${request.params.channel}")`);
    channelOf.set(request, channel.name);
    if (!channelLimiter.take(channel.name)) throw new RelayError('RELAY_E_RATE_LIMITED_CHANNEL');
    const kind = bodyKind(request.headers['content-type'], channel);
    const queryStart = request.url.indexOf('?');
    const verifiable: VerifiableRequest = {
      headers: request.headers,
      query: new URLSearchParams(queryStart < 0 ? '' : request.url.slice(queryStart + 1)),
      sourceIp: request.ip,
    };
    verifyBeforeBody(channel, verifiable);
    states.set(request, { channel, kind, verifiable });
  }

  // The raw bytes are the event: no parser may touch them, so one reader takes every media type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', async (request: FastifyRequest, payload: NodeJS.ReadableStream) => {
    const state = states.get(request);
    if (!state) throw new RelayError('RELAY_E_INTERNAL', '(body read before admission)');
    const declared = request.headers['content-length'];
    return readBody(payload as import('node:stream').Readable, state.channel.maxBodyBytes, declared === undefined ? undefined : Number(declared));
  });

  app.setErrorHandler((error: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const relayError = toIngestError(error);
    const channel = channelOf.get(request) ?? UNKNOWN_CHANNEL_KEY;
    counters.rejected(channel, relayError.code);
    if (relayError.status >= 500) request.log.error({ err: error, code: relayError.code, channel }, 'event not stored');
    else request.log.info({ code: relayError.code, channel }, 'webhook rejected');
    // An unread body must not be parsed as the next request on this connection.
    if (relayError.code === 'RELAY_E_BODY_TOO_LARGE') reply.header('connection', 'close');
    return reply.code(relayError.status).send(relayError.toBody());
  });

  app.post<{ Params: { channel: string }; Body: Buffer | undefined }>(
    '/hooks/:channel',
    { onRequest: admit },
    async (request, reply): Promise<IngestAnswer> => {
      const state = states.get(request);
      if (!state) throw new RelayError('RELAY_E_INTERNAL', '(request was not admitted)');
      const body = request.body ?? Buffer.alloc(0);
      verifyBody(state.channel, state.verifiable, body);
      const identity = identify(state.kind, body);
      const result = await store.appendEvent({
        channel: state.channel.name,
        eventId: identity.id,
        eventType: identity.type,
        body,
        headers: storedHeaders(request.raw.rawHeaders, credentialHeaders(state.channel)),
        receivedAt: new Date(),
        sourceIp: request.ip,
        synthetic: false,
      });
      if (!result.ok) throw new RelayError('RELAY_E_UNKNOWN_CHANNEL', `(channel "${state.channel.name}" was removed)`);
      counters.accepted(state.channel.name, result.duplicate);
      if (!result.duplicate) onStored(state.channel.name);
      request.log.info(
        { channel: state.channel.name, seq: result.seq, type: identity.type, eventId: identity.id, duplicate: result.duplicate },
        result.duplicate ? 'duplicate event acknowledged' : 'event stored',
      );
      reply.code(200);
      return { accepted: true, channel: state.channel.name, id: identity.id, seq: result.seq, duplicate: result.duplicate };
    },
  );

  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE'],
    url: '/hooks/:channel',
    handler: async () => {
      throw new RelayError('RELAY_E_METHOD_NOT_ALLOWED');
    },
  });
};

/** Maps framework errors met while reading a request to the catalogue. */
function toIngestError(error: unknown): RelayError {
  if (error instanceof RelayError) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'FST_ERR_CTP_INVALID_CONTENT_LENGTH' || code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE') {
    return new RelayError('RELAY_E_BODY_INCOMPLETE');
  }
  return new RelayError('RELAY_E_INTERNAL', undefined, { cause: error });
}
