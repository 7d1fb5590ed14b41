/**
 * `relay-client trigger`: sample MyOperator events stored by the relay as if MyOperator had sent
 * them (signed with the channel's secret, marked synthetic), so a handler can be exercised
 * without a real call.
 */
import type { SampleCatalogue, TriggerRequest, TriggerResult } from '@myop-relay/protocol';
import { ClientError } from '../errors.js';
import { clean, tableLines, wrapList } from '../format.js';
import type { RelayApi } from '../relay-api.js';
import { writeJson, writeLines, type CommandOutput } from './output.js';

/** Payload shapes the relay generates: Webhook v2 (default), the seed article's, legacy v1 form bodies. */
export const SAMPLE_SHAPES = ['v2', 'seed', 'v1'] as const;

/** One of {@link SAMPLE_SHAPES}. */
export type SampleShape = (typeof SAMPLE_SHAPES)[number];

/** What to trigger: one event type or a whole flow, on one channel. */
export interface TriggerOptions {
  /** Channel to store the events on. */
  channel: string;
  /** One event type, e.g. `call.answered`; exclusive with `flow`. */
  type?: string;
  /** A whole sequence, `call` or `whatsapp`; exclusive with `type`. */
  flow?: string;
  /** Payload shape. Default: the relay's (`v2`, or the shape that has `type`). */
  shape?: SampleShape;
  /** Field overrides by dotted path, e.g. `{ 'payload.status': 'missed' }`. */
  set?: Readonly<Record<string, string>>;
}

/**
 * Reads `--set path=value` flags into overrides. The value is everything after the first `=`,
 * so values may contain `=`; the relay reads values that parse as JSON as JSON.
 *
 * @throws ClientError `RELAY_E_CLIENT_CONFIG_INVALID` naming `--set`.
 */
export function parseSetFlags(values: readonly string[]): Record<string, string> {
  const set: Record<string, string> = {};
  for (const item of values) {
    const at = item.indexOf('=');
    if (at <= 0) throw new ClientError('RELAY_E_CLIENT_CONFIG_INVALID', `--set: expected path=value, e.g. --set payload.status=missed, got "${item.slice(0, 100)}"`);
    set[item.slice(0, at)] = item.slice(at + 1);
  }
  return set;
}

/** Asks the relay to store the samples, then prints one line per stored event (or the JSON answer). */
export async function runTrigger(api: RelayApi, options: TriggerOptions, output: CommandOutput, json: boolean): Promise<TriggerResult> {
  const request: TriggerRequest = {};
  if (options.type !== undefined) request.type = options.type;
  if (options.flow !== undefined) request.flow = options.flow;
  if (options.shape !== undefined) request.shape = options.shape;
  if (options.set !== undefined && Object.keys(options.set).length > 0) request.set = { ...options.set };
  const result = await api.trigger(options.channel, request);
  if (json) {
    writeJson(output.out, result);
    return result;
  }
  writeLines(
    output.out,
    tableLines(
      ['TYPE', 'ID', 'SEQ', ''],
      result.events.map((e) => [e.type, e.id, String(e.seq), e.duplicate ? '(duplicate: already stored, not delivered again)' : '']),
    ),
  );
  const count = result.events.length;
  writeLines(output.err, [
    `${count} synthetic event${count === 1 ? '' : 's'} stored on channel ${clean(result.channel)}; relay-client listen forwards ${count === 1 ? 'it' : 'them'} with X-Relay-Synthetic: 1.`,
    // A flow's events are stored in order, but listen forwards several at once unless told otherwise.
    ...(options.flow !== undefined && count > 1 ? ['They are stored in order; for your handler to get them in that order, run listen with --ordered (one event at a time).'] : []),
  ]);
  return result;
}

/** Prints what `trigger` can generate: event types per shape, and the flows. */
export async function runTriggerList(api: RelayApi, output: CommandOutput, json: boolean): Promise<SampleCatalogue> {
  const catalogue = await api.samples();
  if (json) {
    writeJson(output.out, catalogue);
    return catalogue;
  }
  const lines: string[] = ['Event types, by payload shape (relay-client trigger <type> [--shape <shape>]):'];
  const shapeWidth = Math.max(...Object.keys(catalogue.shapes).map((s) => s.length));
  for (const [shape, types] of Object.entries(catalogue.shapes)) {
    const wrapped = wrapList(types.map((t) => clean(t, 80)), 100, ' '.repeat(4 + shapeWidth));
    const first = wrapped[0]?.trimStart() ?? '';
    lines.push(`  ${clean(shape, 20).padEnd(shapeWidth)}  ${first}`, ...wrapped.slice(1));
  }
  lines.push('', 'Flows, events in order (relay-client trigger --flow <flow> [--shape <shape>]):');
  const flowWidth = Math.max(...Object.keys(catalogue.flows).map((f) => f.length));
  for (const [flow, shapes] of Object.entries(catalogue.flows)) {
    let head = `  ${clean(flow, 20).padEnd(flowWidth)}  `;
    for (const [shape, types] of Object.entries(shapes)) {
      lines.push(`${head}${clean(shape, 20)}: ${types.map((t) => clean(t, 80)).join(' -> ')}`);
      head = ' '.repeat(head.length);
    }
  }
  lines.push('', 'Default shape: v2. v1 samples are legacy form bodies, accepted only by channels with --accept-legacy-form.');
  writeLines(output.out, lines);
  return catalogue;
}
