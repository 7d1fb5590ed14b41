/**
 * `relay-client replay`: stored events queued again for a consumer, so a handler that was fixed
 * can take them once more. A running `relay-client listen` of that consumer receives them at once,
 * marked `X-Relay-Replay: 1`; otherwise they wait for its next start.
 */
import type { ReplayRequest, ReplayResult } from '@myop-relay/protocol';
import { clean } from '../format.js';
import type { RelayApi } from '../relay-api.js';
import { writeJson, writeLines, type CommandOutput } from './output.js';

/** What to replay, to whom. */
export interface ReplayOptions {
  channel: string;
  /** Consumer to queue the events for (a `listen --consumer` name). */
  consumer: string;
  /** Event ids; exclusive with `since`. */
  ids?: readonly string[];
  /** Start of a time range: ISO time or a duration back from now (`2h`); exclusive with `ids`. */
  since?: string;
  /** End of the time range (exclusive), same forms as `since`. */
  before?: string;
  /** Only events of this type within the time range. */
  type?: string;
}

/**
 * Queues the events again and prints how many were queued and which ids the relay does not hold.
 *
 * @returns the relay's answer; the CLI exits 1 when ids are missing.
 */
export async function runReplay(api: RelayApi, options: ReplayOptions, output: CommandOutput, json: boolean): Promise<ReplayResult> {
  const request: ReplayRequest = {};
  if (options.ids !== undefined && options.ids.length > 0) request.ids = [...options.ids];
  else {
    if (options.since !== undefined) request.since = options.since;
    if (options.before !== undefined) request.before = options.before;
    if (options.type !== undefined) request.type = options.type;
  }
  const result = await api.replay(options.channel, options.consumer, request);
  if (json) {
    writeJson(output.out, result);
    return result;
  }
  const consumer = clean(result.consumer);
  const lines = [`queued ${result.queued} event${result.queued === 1 ? '' : 's'} again for consumer ${consumer} on channel ${clean(result.channel)}`];
  if (result.missing.length > 0) lines.push(`missing (not stored on this channel, or pruned): ${result.missing.map((id) => clean(id, 100)).join(', ')}`);
  writeLines(output.out, lines);
  if (result.queued > 0) writeLines(output.err, [`relay-client listen --consumer ${consumer} receives them now if it runs (marked X-Relay-Replay: 1), else on its next start.`]);
  else if (result.missing.length === 0) writeLines(output.err, ['no stored event matched; see `relay-client events list`']);
  return result;
}
