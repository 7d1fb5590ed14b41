import { validateEventPattern } from '@myop-relay/protocol';
import { RelayError } from '../errors.js';
import { MAX_EVENT_ID_LENGTH } from '../ingest/identity.js';
import type { SampleRequest, SampleShape } from '../samples/index.js';
import { parseTimeBound, quoted } from './params.js';

function invalid(field: string, problem: string): never {
  throw new RelayError('RELAY_E_INVALID_BODY', `(${field}: ${problem})`);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The body as an object with only `fields`; no body at all reads as `{}`. A misspelt field is
 * refused rather than ignored, so `{"types": [...]}` does not quietly do something else.
 */
function fieldsOf(body: unknown, fields: readonly string[]): Record<string, unknown> {
  if (body === undefined) return {};
  if (!isRecord(body)) invalid('body', 'must be a JSON object');
  for (const key of Object.keys(body)) {
    if (!fields.includes(key)) invalid(key, `unknown field; the fields are ${fields.join(', ')}`);
  }
  return body;
}

function optionalString(body: Record<string, unknown>, field: string): string | undefined {
  const value = body[field];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') invalid(field, 'must be a non-empty string');
  return value;
}

function eventType(body: Record<string, unknown>, field: string): string | undefined {
  const type = optionalString(body, field);
  const problem = type === undefined ? undefined : validateEventPattern(type);
  if (type !== undefined && problem !== undefined) invalid(field, `${quoted(type)} ${problem}`);
  return type;
}

const SHAPES: readonly string[] = ['v2', 'seed', 'v1'];

/** Reads a `POST /api/channels/<channel>/trigger` body (see `TriggerRequest`). */
export function triggerRequest(body: unknown): SampleRequest {
  const fields = fieldsOf(body, ['type', 'flow', 'shape', 'set']);
  const type = eventType(fields, 'type');
  const flow = optionalString(fields, 'flow');
  if (type !== undefined && flow !== undefined) invalid('flow', 'give a type or a flow, not both');
  const shape = optionalString(fields, 'shape');
  if (shape !== undefined && !SHAPES.includes(shape)) invalid('shape', `expected v2, seed or v1, got ${quoted(shape)}`);
  const request: SampleRequest = {
    ...(type !== undefined ? { type } : {}),
    ...(flow !== undefined ? { flow } : {}),
    ...(shape !== undefined ? { shape: shape as SampleShape } : {}),
  };
  const set = fields['set'];
  if (set === undefined) return request;
  if (!isRecord(set)) invalid('set', 'must be an object of field path to value');
  for (const [path, value] of Object.entries(set)) {
    if (typeof value !== 'string') invalid(`set.${path}`, 'the value must be a string (text that parses as JSON is taken as JSON)');
  }
  return { ...request, set: set as Record<string, string> };
}

/** Most event ids one replay may name. */
export const MAX_REPLAY_IDS = 1000;

/** What a replay asks for: named events, a time range with an optional type glob, or the consumer's parked events. */
export type ReplaySelection = { ids: string[] } | { since: Date; before?: Date; type?: string } | { state: 'parked' };

/** Reads a `POST /api/consumers/<channel>/<name>/replay` body (see `ReplayRequest`). */
export function replayRequest(body: unknown, now: Date): ReplaySelection {
  const fields = fieldsOf(body, ['ids', 'since', 'before', 'type', 'state']);
  if (fields['state'] !== undefined) {
    if (fields['state'] !== 'parked') invalid('state', 'only "parked" can be replayed by state');
    if (Object.keys(fields).some((key) => key !== 'state')) invalid('state', 'name the parked events alone, without ids or a time range');
    return { state: 'parked' };
  }
  const ids = fields['ids'];
  if (ids !== undefined) {
    if (fields['since'] !== undefined || fields['before'] !== undefined || fields['type'] !== undefined) {
      invalid('ids', 'name event ids or a time range (since, before, type), not both');
    }
    if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_REPLAY_IDS) invalid('ids', `must be a list of 1-${MAX_REPLAY_IDS} event ids`);
    for (const id of ids) {
      if (typeof id !== 'string' || id === '' || id.length > MAX_EVENT_ID_LENGTH) invalid('ids', `each id must be a string of 1-${MAX_EVENT_ID_LENGTH} characters`);
    }
    return { ids: ids as string[] };
  }
  const since = time(fields, 'since', now);
  if (since === undefined) invalid('since', 'name event ids, or since for a time range');
  const before = time(fields, 'before', now);
  const type = eventType(fields, 'type');
  return { since, ...(before !== undefined ? { before } : {}), ...(type !== undefined ? { type } : {}) };
}

function time(body: Record<string, unknown>, field: string, now: Date): Date | undefined {
  const text = optionalString(body, field);
  if (text === undefined) return undefined;
  const at = parseTimeBound(text, now);
  if (!(at instanceof Date)) invalid(field, at.problem);
  return at;
}
