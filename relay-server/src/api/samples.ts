import type { ReplayResult, SampleCatalogue, TriggerResult } from '@myop-relay/protocol';
import type { FastifyPluginAsync } from 'fastify';
import { createHmac } from 'node:crypto';
import type { Channel } from '../channel.js';
import type { DeliveryHub } from '../delivery/hub.js';
import { RelayError } from '../errors.js';
import { acceptWebhook, type AcceptDeps } from '../ingest/accept.js';
import type { HeaderPairs } from '@myop-relay/protocol';
import { SAMPLE_FLOWS, SAMPLE_TYPES, generateSamples } from '../samples/index.js';
import type { Store } from '../store/store.js';
import { mayReadChannel } from '../tokens.js';
import { SERVER_VERSION } from '../version.js';
import { replayRequest, triggerRequest } from './bodies.js';
import { channelParam, consumerParam } from './params.js';
import { requestToken } from './token.js';

/** Dependencies of the developer-workflow routes. */
export interface WorkflowRoutesOptions {
  accept: AcceptDeps;
  store: Store;
  hub: DeliveryHub;
}

async function readableChannel(store: Store, token: Parameters<typeof mayReadChannel>[0], name: string): Promise<Channel> {
  channelParam('channel', name);
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

/**
 * Routes of the debug loop: sample events on demand (`trigger`), the sample catalogue, and
 * replays of stored events to a consumer.
 */
export const workflowRoutes: FastifyPluginAsync<WorkflowRoutesOptions> = async (app, { accept, store, hub }) => {
  app.get('/api/samples', async (): Promise<SampleCatalogue> => ({
    shapes: Object.fromEntries(Object.entries(SAMPLE_TYPES).map(([shape, types]) => [shape, [...types]])),
    flows: Object.fromEntries(Object.entries(SAMPLE_FLOWS).map(([flow, shapes]) => [flow, Object.fromEntries(Object.entries(shapes).map(([s, t]) => [s, [...(t ?? [])]]))])),
  }));

  app.post<{ Params: { channel: string }; Body: unknown }>('/api/channels/:channel/trigger', async (request): Promise<TriggerResult> => {
    const channel = await readableChannel(store, requestToken(request), request.params.channel);
    const samples = generateSamples(triggerRequest(request.body));
    if (samples.some((s) => s.contentType !== 'application/json') && !channel.acceptLegacyForm) throw new RelayError('RELAY_E_LEGACY_FORM_REFUSED');
    // Checked for every sample before any is stored, so a flow is stored whole or not at all.
    const oversized = samples.find((s) => s.body.length > channel.maxBodyBytes);
    if (oversized) {
      throw new RelayError('RELAY_E_BODY_TOO_LARGE', `(the ${oversized.type} sample is ${oversized.body.length} bytes, limit ${channel.maxBodyBytes})`);
    }
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

  app.post<{ Params: { channel: string; name: string }; Body: unknown }>('/api/consumers/:channel/:name/replay', async (request): Promise<ReplayResult> => {
    const channel = (await readableChannel(store, requestToken(request), request.params.channel)).name;
    const name = consumerParam('consumer', request.params.name);
    const selection = replayRequest(request.body, new Date());
    const seqs: number[] = [];
    const missing: string[] = [];
    if ('ids' in selection) {
      for (const id of selection.ids) {
        const event = await store.getEvent(channel, id);
        if (event) seqs.push(event.seq);
        else missing.push(id);
      }
    } else {
      let cursor: string | undefined;
      do {
        const page = await store.listEvents({
          visibleChannels: [channel],
          channel,
          since: selection.since,
          ...(selection.before ? { before: selection.before } : {}),
          ...(selection.type !== undefined ? { type: selection.type } : {}),
          ...(cursor ? { cursor } : {}),
          limit: 1000,
        });
        seqs.push(...page.events.map((e) => e.seq));
        cursor = page.nextCursor;
      } while (cursor && seqs.length < 100_000);
    }
    const queued = await store.requeueDeliveries(channel, name, seqs.sort((a, b) => a - b), new Date());
    hub.notify(channel);
    return { channel, consumer: name, queued, missing };
  });
};
