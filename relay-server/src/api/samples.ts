import type { ReplayRequest, ReplayResult, SampleCatalogue, TriggerRequest, TriggerResult } from '@myop-relay/protocol';
import type { FastifyPluginAsync } from 'fastify';
import { createHmac } from 'node:crypto';
import type { Channel } from '../channel.js';
import type { DeliveryHub } from '../delivery/hub.js';
import { RelayError } from '../errors.js';
import { acceptWebhook, type AcceptDeps } from '../ingest/accept.js';
import type { HeaderPairs } from '../ingest/headers.js';
import { SAMPLE_FLOWS, SAMPLE_TYPES, generateSamples, type SampleShape } from '../samples/index.js';
import type { Store } from '../store/store.js';
import { mayReadChannel } from '../tokens.js';
import { SERVER_VERSION } from '../version.js';
import { requestToken } from './token.js';
import { timeParam } from './params.js';

/** Dependencies of the developer-workflow routes. */
export interface WorkflowRoutesOptions {
  accept: AcceptDeps;
  store: Store;
  hub: DeliveryHub;
}

async function readableChannel(store: Store, token: Parameters<typeof mayReadChannel>[0], name: string): Promise<Channel> {
  if (!mayReadChannel(token, name)) throw new RelayError('RELAY_E_CHANNEL_FORBIDDEN', `(channel "${name}")`);
  const channel = await store.getChannel(name);
  if (!channel) throw new RelayError('RELAY_E_UNKNOWN_CHANNEL', `(channel "${name}")`);
  return channel;
}

/** Headers a sample carries: what MyOperator sends, signed with the channel's newest secret when it verifies HMAC. */
function sampleHeaders(channel: Channel, contentType: string, body: Uint8Array): HeaderPairs {
  const headers: HeaderPairs = [
    ['Content-Type', contentType],
    ['User-Agent', `myop-relay-trigger/${SERVER_VERSION}`],
  ];
  const v = channel.verification;
  if (v.mode === 'hmac' && v.secrets[0] !== undefined) headers.push([v.header, createHmac('sha256', v.secrets[0]).update(body).digest('hex')]);
  return headers;
}

const SHAPES = new Set<string>(['v2', 'seed', 'v1']);

/**
 * Routes of the debug loop: sample events on demand (`trigger`), the sample catalogue, and
 * replays of stored events to a consumer.
 */
export const workflowRoutes: FastifyPluginAsync<WorkflowRoutesOptions> = async (app, { accept, store, hub }) => {
  app.get('/api/samples', async (): Promise<SampleCatalogue> => ({
    shapes: Object.fromEntries(Object.entries(SAMPLE_TYPES).map(([shape, types]) => [shape, [...types]])),
    flows: Object.fromEntries(Object.entries(SAMPLE_FLOWS).map(([flow, shapes]) => [flow, Object.fromEntries(Object.entries(shapes).map(([s, t]) => [s, [...(t ?? [])]]))])),
  }));

  app.post<{ Params: { channel: string }; Body: TriggerRequest | undefined }>('/api/channels/:channel/trigger', async (request): Promise<TriggerResult> => {
    const channel = await readableChannel(store, requestToken(request), request.params.channel);
    const body = request.body ?? {};
    if (body.shape !== undefined && !SHAPES.has(body.shape)) throw new RelayError('RELAY_E_INVALID_QUERY', `(shape: expected v2, seed or v1, got "${String(body.shape)}")`);
    const samples = generateSamples({
      ...(typeof body.type === 'string' ? { type: body.type } : {}),
      ...(typeof body.flow === 'string' ? { flow: body.flow } : {}),
      ...(body.shape !== undefined ? { shape: body.shape as SampleShape } : {}),
      ...(body.set !== undefined ? { set: Object.fromEntries(Object.entries(body.set).map(([k, v]) => [k, String(v)])) } : {}),
    });
    if (samples.some((s) => s.contentType !== 'application/json') && !channel.acceptLegacyForm) throw new RelayError('RELAY_E_LEGACY_FORM_REFUSED');
    const events: TriggerResult['events'] = [];
    for (const sample of samples) {
      const headers = sampleHeaders(channel, sample.contentType, sample.body);
      // Basic and API-key credentials are kept only as hashes, so a sample cannot carry them;
      // the bearer token admitted it instead. HMAC samples are signed and verified like real ones.
      const answer = await acceptWebhook(accept, {
        channel,
        kind: sample.contentType === 'application/json' ? 'json' : 'form',
        verifiable: { headers: Object.fromEntries(headers.map(([n, v]) => [n.toLowerCase(), v])), query: new URLSearchParams(), sourceIp: request.ip },
        headers,
        body: sample.body,
        sourceIp: request.ip,
        synthetic: true,
        log: request.log,
      });
      events.push({ type: sample.type, id: answer.id, seq: answer.seq, duplicate: answer.duplicate });
    }
    return { channel: channel.name, events };
  });

  app.post<{ Params: { channel: string; name: string }; Body: ReplayRequest | undefined }>('/api/consumers/:channel/:name/replay', async (request): Promise<ReplayResult> => {
    const { channel, name } = request.params;
    const token = requestToken(request);
    await readableChannel(store, token, channel);
    const body = request.body ?? {};
    const seqs: number[] = [];
    const missing: string[] = [];
    if (Array.isArray(body.ids) && body.ids.length > 0) {
      for (const id of body.ids.map(String)) {
        const event = await store.getEvent(channel, id);
        if (event) seqs.push(event.seq);
        else missing.push(id);
      }
    } else if (body.since !== undefined) {
      const now = new Date();
      const since = timeParam('since', String(body.since), now);
      const before = body.before === undefined ? undefined : timeParam('before', String(body.before), now);
      let cursor: string | undefined;
      do {
        const page = await store.listEvents({
          visibleChannels: [channel],
          channel,
          ...(since ? { since } : {}),
          ...(before ? { before } : {}),
          ...(typeof body.type === 'string' ? { type: body.type } : {}),
          ...(cursor ? { cursor } : {}),
          limit: 1000,
        });
        seqs.push(...page.events.map((e) => e.seq));
        cursor = page.nextCursor;
      } while (cursor && seqs.length < 100_000);
    } else if (body.state === 'parked') {
      let cursor: string | undefined;
      do {
        const page = await store.listEvents({ visibleChannels: [channel], channel, consumer: name, state: 'parked', ...(cursor ? { cursor } : {}), limit: 1000 });
        seqs.push(...page.events.map((e) => e.seq));
        cursor = page.nextCursor;
      } while (cursor && seqs.length < 100_000);
    } else {
      throw new RelayError('RELAY_E_INVALID_QUERY', '(name event ids, since for a time range, or state "parked")');
    }
    const queued = await store.requeueDeliveries(channel, name, seqs.sort((a, b) => a - b), new Date());
    hub.notify(channel);
    return { channel, consumer: name, queued, missing };
  });
};
