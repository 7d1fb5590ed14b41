import { MAX_HEADERS } from '@myop-relay/protocol';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Channel } from '../channel.js';
import { RelayError } from '../errors.js';
import type { Store } from '../store/store.js';
import { BasicAuthVerifier } from './basic-auth.js';
import { readBody } from './body.js';
import { UNKNOWN_CHANNEL_KEY, type IngestCounters } from './counters.js';
import { acceptWebhook, bodyKind, type IngestAnswer } from './accept.js';
import { storedHeaders } from './headers.js';
import type { RateLimiter } from './rate-limit.js';
import { credentialHeaders, verifyBeforeBody, type VerifiableRequest } from './verify.js';

/** Dependencies of the ingest plugin. */
export interface IngestPluginOptions {
  store: Store;
  counters: IngestCounters;
  /** Per channel name. */
  channelLimiter: RateLimiter;
  /** Per source address. */
  ipLimiter: RateLimiter;
}

interface IngestState {
  channel: Channel;
  kind: 'json' | 'form';
  verifiable: VerifiableRequest;
}

const states = new WeakMap<FastifyRequest, IngestState>();
/** The channel a request was addressed to, once known, so refusals are counted against it. */
const channelOf = new WeakMap<FastifyRequest, string>();

/**
 * `POST /hooks/:channel`: admits, verifies and durably stores MyOperator webhooks, answering
 * 200 only once the event is on disk. Checks run cheapest first, and everything that does not
 * need the body runs before the body is read.
 */
export const ingestPlugin: FastifyPluginAsync<IngestPluginOptions> = async (app, options) => {
  const { store, counters, channelLimiter, ipLimiter } = options;
  const deps = { store, counters };
  const basicAuth = new BasicAuthVerifier();

  async function admit(request: FastifyRequest<{ Params: { channel: string } }>): Promise<void> {
    // Read once, now: the address of a socket that is reset later can no longer be read.
    const sourceIp: string | undefined = request.ip;
    if (sourceIp === undefined) throw new RelayError('RELAY_E_BODY_INCOMPLETE', '(the connection closed before the request was read)');
    // The per-address limit comes first so a flood of junk never reaches the store.
    if (!ipLimiter.take(sourceIp)) throw new RelayError('RELAY_E_RATE_LIMITED_IP');
    // Stored headers travel to relay-client, whose protocol carries at most MAX_HEADERS of them.
    if (request.raw.rawHeaders.length / 2 > MAX_HEADERS) throw new RelayError('RELAY_E_TOO_MANY_HEADERS', `(${request.raw.rawHeaders.length / 2} headers)`);
    const channel = await store.getChannel(request.params.channel);
    if (!channel) throw new RelayError('RELAY_E_UNKNOWN_CHANNEL', `(channel "${request.params.channel}")`);
    channelOf.set(request, channel.name);
    if (!channelLimiter.take(channel.name)) throw new RelayError('RELAY_E_RATE_LIMITED_CHANNEL');
    const kind = bodyKind(request.headers['content-type'], channel);
    const queryStart = request.url.indexOf('?');
    const verifiable: VerifiableRequest = {
      headers: request.headers,
      query: new URLSearchParams(queryStart < 0 ? '' : request.url.slice(queryStart + 1)),
      sourceIp,
    };
    await verifyBeforeBody(channel, verifiable, basicAuth);
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
    else request.log.warn({ code: relayError.code, channel }, 'webhook rejected');
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
      const answer = await acceptWebhook(deps, {
        channel: state.channel,
        kind: state.kind,
        verifiable: state.verifiable,
        headers: storedHeaders(request.raw.rawHeaders, credentialHeaders(state.channel)),
        body: request.body ?? Buffer.alloc(0),
        sourceIp: state.verifiable.sourceIp,
        synthetic: false,
        log: request.log,
      });
      reply.code(200);
      return answer;
    },
  );

  app.route({
    method: ['GET', 'PUT', 'PATCH', 'DELETE'],
    url: '/hooks/:channel',
    // Refused before any body is read: this route has no channel to read it for.
    onRequest: async (_request, reply) => {
      reply.header('allow', 'POST');
      throw new RelayError('RELAY_E_METHOD_NOT_ALLOWED', '(/hooks/<channel> takes POST)');
    },
    handler: async () => {
      throw new RelayError('RELAY_E_INTERNAL', '(a refused method reached its handler)');
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
