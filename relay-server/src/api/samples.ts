import type { HeaderPairs, SampleCatalogue, TriggerResult } from '@myop-relay/protocol';
import type { FastifyPluginAsync } from 'fastify';
import { createHmac } from 'node:crypto';
import type { Channel } from '../channel.js';
import { RelayError } from '../errors.js';
import { acceptWebhook, type AcceptDeps } from '../ingest/accept.js';
import { SAMPLE_FLOWS, SAMPLE_TYPES, generateSamples } from '../samples/index.js';
import type { Store } from '../store/store.js';
import { SERVER_VERSION } from '../version.js';
import { readableChannel } from './access.js';
import { triggerRequest } from './bodies.js';
import { requestToken } from './token.js';

/** Dependencies of the sample routes. */
export interface SampleRoutesOptions {
  accept: AcceptDeps;
  store: Store;
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

/** Sample events on demand (`trigger`) and the sample catalogue. */
export const sampleRoutes: FastifyPluginAsync<SampleRoutesOptions> = async (app, { accept, store }) => {
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
};
