import { sha256Hex } from '../secrets.js';

/** The id and type the relay files an event under, and which MyOperator payload shape it came in. */
export interface EventIdentity {
  /** Dedup key within a channel: MyOperator retries reuse it. */
  id: string;
  type: string;
  shape: 'v2' | 'seed' | 'legacy-v1' | 'unrecognised';
  /** Webhook v2 `session_id`: groups the events of one call or WhatsApp chat. */
  session?: string;
}

/** Longest event id the relay files an event under, in characters: 256. Longer ids fall back to the body hash. */
export const MAX_EVENT_ID_LENGTH = 256;

function scalarId(value: unknown): string | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'string' && value.length > 0 && value.length <= MAX_EVENT_ID_LENGTH) return value;
  return undefined;
}

function typeName(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= 128 ? value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The fallback id: the body's SHA-256, so a byte-identical retry still deduplicates. */
function bodyHashId(body: Uint8Array): string {
  return `sha256:${sha256Hex(body)}`;
}

/**
 * Names a parsed JSON webhook. The v2 envelope (`event_id`/`event_type`) wins over the seed
 * article's shape (`id`/`type`); anything else is filed under the body hash and type `unknown`.
 */
export function identifyJsonEvent(value: unknown, body: Uint8Array): EventIdentity {
  if (isRecord(value)) {
    const v2Id = scalarId(value['event_id']);
    if (v2Id !== undefined) {
      const session = scalarId(value['session_id']);
      return { id: v2Id, type: typeName(value['event_type']) ?? 'unknown', shape: 'v2', ...(session !== undefined ? { session } : {}) };
    }
    const seedId = scalarId(value['id']);
    if (seedId !== undefined) return { id: seedId, type: typeName(value['type']) ?? 'unknown', shape: 'seed' };
    const legacy = identifyLegacyObject(value);
    if (legacy) return legacy;
  }
  return { id: bodyHashId(body), type: 'unknown', shape: 'unrecognised' };
}

const LEGACY_RECORD_TYPES: Record<string, string> = { '1': 'legacy.call', '2': 'legacy.sms' };
const LEGACY_LIVE_EVENTS: Record<string, string> = { '1': 'legacy.call.start', '2': 'legacy.call.update' };

/**
 * Legacy v1 objects come in two kinds: the call/SMS record keyed by `_ai` (type from `_ty`),
 * and the in-call notification keyed by `uid`. In-call notifications of one call share their
 * `uid` (start, then ringing → answered updates), so their id also carries `event` and
 * `call_state`; otherwise the answered update would be dropped as a retry of the ringing one.
 */
function identifyLegacyObject(value: Record<string, unknown>): EventIdentity | undefined {
  const recordId = scalarId(value['_ai']);
  if (recordId !== undefined) {
    return { id: recordId, type: LEGACY_RECORD_TYPES[String(value['_ty'])] ?? 'legacy.record', shape: 'legacy-v1' };
  }
  const uid = scalarId(value['uid']);
  if (uid !== undefined) {
    const event = scalarId(value['event']) ?? '';
    const state = scalarId(value['call_state']) ?? '';
    return { id: `${uid}:${event}:${state}`, type: LEGACY_LIVE_EVENTS[event] ?? 'legacy.call', shape: 'legacy-v1' };
  }
  return undefined;
}

/**
 * Names a legacy v1 form body (`myoperator=<json>`). Returns undefined when the form has no
 * `myoperator` field with a JSON object in it. Bytes that are not UTF-8 survive in the stored
 * body; only this parse sees them as U+FFFD.
 */
export function identifyLegacyForm(body: Uint8Array): EventIdentity | undefined {
  const form = new URLSearchParams(new TextDecoder().decode(body));
  const json = form.get('myoperator');
  if (json === null) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (!isRecord(value)) return undefined;
  return identifyLegacyObject(value) ?? { id: bodyHashId(body), type: 'legacy.unknown', shape: 'legacy-v1' };
}
