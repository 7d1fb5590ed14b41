import { RelayError } from '../errors.js';
import { newSampleContext } from './call-context.js';
import { SAMPLE_TYPES, buildSample, type SampleShape } from './shapes.js';

export { SAMPLE_TYPES, type SampleShape } from './shapes.js';

/** Whole sequences `trigger --flow` can emit, per shape. */
export const SAMPLE_FLOWS: Readonly<Record<string, Partial<Record<SampleShape, readonly string[]>>>> = {
  call: {
    v2: ['call.initiated', 'call.dial_begin', 'call.answered', 'call.end', 'call.summary', 'call.disposition'],
    seed: ['call.started', 'call.answered', 'call.ended'],
  },
  whatsapp: {
    v2: ['message.received', 'conversation.assign', 'message.sent', 'message.delivered', 'message.read', 'conversation.close'],
  },
};

/** What to generate: one type, or a whole flow; `set` overrides fields by dotted path. */
export interface SampleRequest {
  type?: string;
  flow?: string;
  shape?: SampleShape;
  /** `payload.status` → `"missed"`; values that parse as JSON are taken as JSON. */
  set?: Record<string, string>;
}

/** A generated webhook, serialised exactly as MyOperator would send it. */
export interface GeneratedSample {
  type: string;
  contentType: string;
  body: Buffer;
}

function allTypes(): string {
  return (Object.entries(SAMPLE_TYPES) as [SampleShape, readonly string[]][]).map(([shape, types]) => `${shape}: ${types.join(', ')}`).join('; ');
}

function shapeFor(type: string, requested: SampleShape | undefined): SampleShape {
  if (requested !== undefined) {
    if (!SAMPLE_TYPES[requested]?.includes(type)) {
      throw new RelayError('RELAY_E_UNKNOWN_EVENT_TYPE', `("${type}" in shape ${requested}; valid types are ${allTypes()})`);
    }
    return requested;
  }
  const shape = (['v2', 'seed', 'v1'] as const).find((s) => SAMPLE_TYPES[s].includes(type));
  if (!shape) throw new RelayError('RELAY_E_UNKNOWN_EVENT_TYPE', `("${type}"; valid types are ${allTypes()})`);
  return shape;
}

/** Sets `value` at a dotted path, creating objects on the way; refuses to walk through non-objects. */
function setPath(target: Record<string, unknown>, path: string, raw: string): void {
  const keys = path.split('.');
  if (keys.some((k) => k === '' || k === '__proto__' || k === 'constructor' || k === 'prototype')) {
    throw new RelayError('RELAY_E_INVALID_SAMPLE_FIELD', `("${path}" is not a dotted field path)`);
  }
  let node: Record<string, unknown> = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (next === undefined || next === null) node[key] = {};
    else if (typeof next !== 'object' || Array.isArray(next)) throw new RelayError('RELAY_E_INVALID_SAMPLE_FIELD', `("${path}": "${key}" is not an object)`);
    node = node[key] as Record<string, unknown>;
  }
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    // Not JSON: the text itself is the value.
  }
  node[keys[keys.length - 1] ?? ''] = value;
}

/**
 * Generates realistic MyOperator webhooks: one event, or a flow whose events share one call or
 * chat (session id, numbers, agent) and whose legs and timestamps agree.
 */
export function generateSamples(request: SampleRequest, now = new Date()): GeneratedSample[] {
  let shape: SampleShape;
  let types: readonly string[];
  if (request.flow !== undefined) {
    const flow = SAMPLE_FLOWS[request.flow];
    if (!flow) throw new RelayError('RELAY_E_UNKNOWN_EVENT_TYPE', `(flow "${request.flow}"; flows are ${Object.keys(SAMPLE_FLOWS).join(', ')})`);
    shape = request.shape ?? 'v2';
    const sequence = flow[shape];
    if (!sequence) throw new RelayError('RELAY_E_UNKNOWN_EVENT_TYPE', `(flow "${request.flow}" has no ${shape} shape)`);
    types = sequence;
  } else if (request.type !== undefined) {
    shape = shapeFor(request.type, request.shape);
    types = [request.type];
  } else {
    throw new RelayError('RELAY_E_UNKNOWN_EVENT_TYPE', `(name an event type or a flow; valid types are ${allTypes()})`);
  }
  const context = newSampleContext(now);
  return types.map((type, index) => {
    const sample = buildSample(shape, type, context, index + 1);
    for (const [path, value] of Object.entries(request.set ?? {})) setPath(sample.json, path, value);
    const text = JSON.stringify(sample.json);
    return sample.form
      ? { type, contentType: 'application/x-www-form-urlencoded', body: Buffer.from(`myoperator=${encodeURIComponent(text)}`) }
      : { type, contentType: 'application/json', body: Buffer.from(text) };
  });
}
