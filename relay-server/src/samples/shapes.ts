import { randomBytes } from 'node:crypto';
import { at, type SampleContext } from './call-context.js';

/** A generated webhook body before serialisation, and its content type. */
export interface SampleBody {
  type: string;
  json: Record<string, unknown>;
  /** Legacy v1 samples are sent as `myoperator=<json>` forms. */
  form: boolean;
}

function eventId(): string {
  return `evt_${randomBytes(10).toString('hex')}`;
}

// ---------------------------------------------------------------------------------------------
// Webhook v2 envelope

/** Seconds after the call start at which each call event happens. */
function callOffsets(c: SampleContext): Record<string, number> {
  return {
    'call.initiated': 0,
    'call.ivr_started': 1,
    'call.dial_begin': 2,
    'call.answered': 2 + c.ringSeconds,
    'call.end': 2 + c.ringSeconds + c.talkSeconds,
    'call.summary': 3 + c.ringSeconds + c.talkSeconds,
    'call.disposition': 30 + c.ringSeconds + c.talkSeconds,
  };
}

/** The two legs of an answered call: the customer's and the agent's, matching `call.answered`. */
function legs(c: SampleContext): Record<string, unknown>[] {
  return [
    { leg_index: 0, uid: `${c.callId}-0`, type: 'customer', phone_number: c.customer, result: 'connected', dial_status: 'ANSWER', ring_duration: 0, talk_duration: c.talkSeconds + c.ringSeconds, agent: null, dept_id: c.deptId },
    { leg_index: 1, uid: `${c.callId}-1`, type: 'agent', phone_number: c.agent.contact, result: 'answered', dial_status: 'ANSWER', ring_duration: c.ringSeconds, talk_duration: c.talkSeconds, agent: c.agent, dept_id: c.deptId },
  ];
}

function callPayload(type: string, c: SampleContext): Record<string, unknown> {
  const o = callOffsets(c);
  const base = { id: c.callId, did: c.did, direction: 'incoming', customer_number: c.customer, category: 'incoming', ref_id: c.callId, client_ref_id: null };
  switch (type) {
    case 'call.initiated':
    case 'call.ivr_started':
      return { ...base, status: 'initiated', started_at: at(c.startedAt, 0) };
    case 'call.dial_begin':
      return { ...base, status: 'ringing', started_at: at(c.startedAt, 0), legs: [{ leg_index: 1, uid: `${c.callId}-1`, type: 'agent', phone_number: c.agent.contact, agent: c.agent, dept_id: c.deptId }] };
    case 'call.answered':
      return { ...base, status: 'bridged', started_at: at(c.startedAt, 0), answered_at: at(c.startedAt, o['call.answered'] ?? 0), legs: [legs(c)[1]] };
    case 'call.end':
    case 'call.summary':
      return {
        ...base,
        status: 'bridged',
        started_at: at(c.startedAt, 0),
        ended_at: at(c.startedAt, o['call.end'] ?? 0),
        duration: (o['call.end'] ?? 0) - (o['call.initiated'] ?? 0),
        billable: true,
        recording_filename: `${c.callId}.mp3`,
        obd_campaign: null,
        legs: legs(c),
      };
    default:
      return { ...base, disposition: 'Interested', notes: 'Asked for a call back next week', agent: c.agent };
  }
}

const V2_CALL_TYPES = ['call.initiated', 'call.ivr_started', 'call.dial_begin', 'call.answered', 'call.end', 'call.summary', 'call.disposition'] as const;
const V2_WHATSAPP_TYPES = [
  'message.received',
  'conversation.assign',
  'message.sent',
  'message.delivered',
  'message.read',
  'message.link_tracking',
  'message.failed',
  'conversation.close',
] as const;

function whatsappPayload(type: string, c: SampleContext): Record<string, unknown> {
  const id = `wamid.${randomBytes(12).toString('hex')}`;
  switch (type) {
    case 'message.received':
      return { id, status: 'received', data: { type: 'text', context: { body: 'Hi, I would like to know my order status.' } } };
    case 'message.sent':
      return { id, status: 'sent', data: { type: 'text', context: { body: `Hello! This is ${c.agent.name}, let me check that for you.` } } };
    case 'message.delivered':
    case 'message.read':
      return { id, status: type.slice('message.'.length), data: { type: 'text', context: { body: `Hello! This is ${c.agent.name}, let me check that for you.` } } };
    case 'message.failed':
      return { id, status: 'failed', data: { type: 'text', context: { body: 'Your order has shipped.' } }, error: { code: 131047, title: 'Re-engagement message' } };
    case 'message.link_tracking':
      return { id, status: 'clicked', data: { type: 'link', context: { body: 'https://example.com/track/ORD-1042' } } };
    case 'conversation.assign':
      return { id: c.sessionId, status: 'assigned', data: { type: 'assignment', context: { body: c.agent.name } }, agent: c.agent };
    default:
      return { id: c.sessionId, status: 'closed', data: { type: 'closure', context: { body: 'Resolved' } } };
  }
}

/** A v2 envelope event; `sequence` orders events within one session. */
function v2(type: string, c: SampleContext, sequence: number): SampleBody {
  const isCall = type.startsWith('call.');
  const disposition = type === 'call.disposition';
  const offsets = callOffsets(c);
  const envelope: Record<string, unknown> = {
    event_id: eventId(),
    company_id: c.companyId,
    event_type: type,
    // Disposition events carry no sequence number (they come after the session).
    ...(disposition ? {} : { event_sequence: sequence }),
    event_version: 1,
    timestamp: isCall ? at(c.startedAt, offsets[type] ?? 0) : at(c.startedAt, sequence * 7),
    channel: isCall ? 'call' : 'whatsapp',
    direction: type === 'message.sent' || type === 'message.delivered' || type === 'message.read' ? 'outgoing' : 'incoming',
    session_id: c.sessionId,
    system_identifier: type === 'call.summary' ? null : isCall ? c.did : c.whatsappNumberId,
    customer_identifier: c.customer,
    payload: isCall ? callPayload(type, c) : whatsappPayload(type, c),
  };
  return { type, json: envelope, form: false };
}

// ---------------------------------------------------------------------------------------------
// The seed article's shape

const SEED_TYPES = ['call.started', 'call.answered', 'call.ended'] as const;

function seed(type: string, c: SampleContext): SampleBody {
  const offsets: Record<string, number> = { 'call.started': 0, 'call.answered': 2 + c.ringSeconds, 'call.ended': 2 + c.ringSeconds + c.talkSeconds };
  const data: Record<string, unknown> = { call_id: c.callId, from: c.customer, to: c.did, direction: 'inbound' };
  if (type === 'call.started') data['queue'] = 'Sales';
  if (type !== 'call.started') Object.assign(data, { agent: c.agent.contact, answered_by: 'agent' });
  if (type === 'call.ended') data['duration_sec'] = c.talkSeconds;
  return { type, json: { id: eventId(), type, created_at: at(c.startedAt, offsets[type] ?? 0), data }, form: false };
}

// ---------------------------------------------------------------------------------------------
// Legacy v1 (form bodies)

const LEGACY_TYPES = ['legacy.call', 'legacy.sms'] as const;

function legacy(type: string, c: SampleContext): SampleBody {
  const start = Math.floor(c.startedAt.getTime() / 1000);
  const json: Record<string, unknown> = {
    _ai: `${start}${c.callId.slice(5)}`,
    _cr: c.customer.slice(1),
    _cl: c.customer,
    _ev: 1,
    _st: start,
    _et: start + c.ringSeconds + c.talkSeconds,
    _su: 1,
    _ty: type === 'legacy.sms' ? 2 : 1,
    ...(type === 'legacy.call' ? { _ld: [{ _ac: c.agent.contact, _st: start + c.ringSeconds, _ds: 'ANSWER' }], _cn: [c.agent.name] } : {}),
  };
  return { type, json, form: true };
}

/** Payload shapes the relay can generate. */
export type SampleShape = 'v2' | 'seed' | 'v1';

/** Every event type per shape, in the order of a whole flow. */
export const SAMPLE_TYPES: Readonly<Record<SampleShape, readonly string[]>> = {
  v2: [...V2_CALL_TYPES, ...V2_WHATSAPP_TYPES],
  seed: SEED_TYPES,
  v1: LEGACY_TYPES,
};

/** Builds one sample of `type` in `shape`; `sequence` is its place in a flow (1 for a lone event). */
export function buildSample(shape: SampleShape, type: string, context: SampleContext, sequence: number): SampleBody {
  if (shape === 'seed') return seed(type, context);
  if (shape === 'v1') return legacy(type, context);
  return v2(type, context, sequence);
}
