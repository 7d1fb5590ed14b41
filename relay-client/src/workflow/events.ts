/**
 * `relay-client events list` and `events show`: what the relay stored, and what happened to each
 * delivery of it, without opening the relay's database.
 */
import type { DeliveryAttemptView, EventDetailView, EventListView } from '@myop-relay/protocol';
import { clean, formatBytes, headerValue, localTime, prettyJson, tableLines, viewBody } from '../format.js';
import { RelayApiError, type EventQuery, type RelayApi } from '../relay-api.js';
import { writeJson, writeLines, type CommandOutput } from './output.js';

/** Lists stored events, newest first, as a table (or the API's JSON answer). */
export async function runEventsList(api: RelayApi, query: EventQuery, output: CommandOutput, json: boolean): Promise<EventListView> {
  const page = await api.events(query);
  if (json) {
    writeJson(output.out, page);
    return page;
  }
  if (page.events.length === 0) {
    writeLines(output.err, ['no stored events match; trigger a sample with `relay-client trigger call.answered`']);
    return page;
  }
  writeLines(
    output.out,
    tableLines(
      ['TIME', 'CHANNEL', 'SEQ', 'TYPE', 'ID', 'SIZE', 'SOURCE'],
      page.events.map((e) => [localTime(e.receivedAt), e.channel, String(e.seq), e.type, e.id, formatBytes(e.size), e.synthetic ? 'synthetic' : e.sourceIp]),
    ),
  );
  if (page.nextCursor !== null) {
    const oldest = page.events[page.events.length - 1]?.receivedAt ?? '';
    writeLines(output.err, [`older events exist: raise --limit, or add --before ${oldest}`]);
  }
  return page;
}

/**
 * `events show --json`: the stored event, its body parsed, and its delivery attempts. Shares its
 * field names with `events tail --json` lines ({@link TailedEvent}).
 */
export interface EventShowView extends EventDetailView {
  /** The body parsed as JSON (legacy form bodies: their fields), or null. */
  json: unknown;
  /** Every delivery attempt, oldest first; `latencyMs` in whole milliseconds. */
  attempts: DeliveryAttemptView[];
}

/** The body as `--json` output carries it parsed: JSON as JSON, a legacy form as its fields, else null. */
export function parsedBody(bodyBase64: string, headers: readonly (readonly [string, string])[]): unknown {
  const view = viewBody(Buffer.from(bodyBase64, 'base64'), headerValue(headers, 'content-type'));
  return view.json !== undefined ? view.json : view.form !== undefined ? Object.fromEntries(view.form) : null;
}

/** The channel holding event `id`, looked for in every channel the token may read. */
async function channelOf(api: RelayApi, id: string): Promise<{ channel: string; event: EventDetailView }> {
  const { channels } = await api.channels();
  for (const { name } of channels) {
    try {
      return { channel: name, event: await api.event(name, id) };
    } catch (error) {
      if (error instanceof RelayApiError && error.code === 'RELAY_E_EVENT_NOT_FOUND') continue;
      throw error;
    }
  }
  const searched = channels.length === 0 ? 'this token may read no channel' : `looked in ${channels.map((c) => clean(c.name)).join(', ')}`;
  throw new RelayApiError('RELAY_E_EVENT_NOT_FOUND', `No stored event with id "${clean(id, 100)}" in any channel this token may read (${searched}); it may have been pruned by retention.`, 404, 'GET', api.url('/api/events'));
}

function attemptRows(attempts: readonly DeliveryAttemptView[]): string[][] {
  return attempts.map((a) => [
    a.consumer,
    String(a.attempt),
    localTime(a.startedAt),
    a.status === null ? '-' : String(a.status),
    a.latencyMs === null ? '-' : `${Math.round(a.latencyMs)} ms`,
    a.outcome ?? 'in flight',
    a.error ?? '',
  ]);
}

/** The handler's answer to one attempt, as relay-client reported it; nothing when none was recorded. */
function answerLines(attempt: DeliveryAttemptView): string[] {
  if (attempt.responseHeaders === undefined && attempt.responseBody === undefined) return [];
  const status = attempt.status === null ? '' : `${attempt.status}, `;
  const body = attempt.responseBody === undefined ? undefined : Buffer.from(attempt.responseBody, 'base64');
  const size = attempt.responseBytes === undefined ? 'body size unknown' : `body ${formatBytes(attempt.responseBytes)}`;
  const kept = body !== undefined && attempt.responseBodyTruncated === true ? `, first ${formatBytes(body.length)} recorded` : '';
  const lines = ['', `answer to ${clean(attempt.consumer)}, attempt ${attempt.attempt} (${status}${size}${kept}):`];
  for (const [name, value] of attempt.responseHeaders ?? []) lines.push(`  ${clean(name, 100)}: ${clean(value, 500)}`);
  if (body === undefined || body.length === 0) return lines;
  const text = capturedText(body, attempt.responseBodyTruncated === true);
  if (text !== undefined) lines.push('  body:', ...text.split('\n').map((l) => `    ${clean(l, 2000)}`));
  else lines.push('  body (not UTF-8 text; base64):', `    ${attempt.responseBody ?? ''}`);
  return lines;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The captured body as text, when it is UTF-8. A cut body may end inside a character: then up to
 * three trailing bytes are left off rather than showing the whole body as base64.
 */
function capturedText(body: Uint8Array, truncated: boolean): string | undefined {
  for (let cut = 0; cut <= (truncated ? Math.min(3, body.length) : 0); cut++) {
    try {
      return strictUtf8.decode(body.subarray(0, body.length - cut));
    } catch {
      // Try one byte shorter.
    }
  }
  return undefined;
}

function bodyLines(event: EventDetailView): string[] {
  const body = Buffer.from(event.bodyBase64, 'base64');
  const view = viewBody(body, headerValue(event.headers, 'content-type'));
  const lines: string[] = [];
  if (view.json !== undefined) {
    lines.push(`body (${formatBytes(view.bytes)}, JSON, re-indented for reading; the stored bytes are unchanged):`, ...prettyJson(view.json));
  } else if (view.form !== undefined) {
    lines.push(`body (${formatBytes(view.bytes)}, form-encoded, as stored):`, `  ${clean(view.text ?? '', 2000)}`, '', 'body, legacy form decoded:');
    for (const [key, value] of view.form) {
      if (typeof value === 'string') lines.push(`  ${clean(key, 100)} = ${clean(value, 2000)}`);
      else lines.push(`  ${clean(key, 100)} =`, ...prettyJson(value, '    '));
    }
  } else if (view.text !== null) {
    lines.push(`body (${formatBytes(view.bytes)}, text):`, ...view.text.split('\n').map((l) => `  ${clean(l, 2000)}`));
  } else {
    lines.push(`body (${formatBytes(view.bytes)}, not UTF-8 text; base64):`, `  ${event.bodyBase64.slice(0, 4000)}${event.bodyBase64.length > 4000 ? '…' : ''}`);
  }
  return lines;
}

/**
 * Shows one event: metadata, headers, the body made readable, and every delivery attempt.
 *
 * @param channel - the event's channel; undefined looks in every channel the token may read.
 */
export async function runEventsShow(api: RelayApi, channel: string | undefined, id: string, output: CommandOutput, json: boolean): Promise<EventShowView> {
  const found = channel === undefined ? await channelOf(api, id) : { channel, event: await api.event(channel, id) };
  const event = found.event;
  const deliveries = await api.deliveries(found.channel, id);
  const attempts = deliveries.attempts.map((a) => ({ ...a, latencyMs: a.latencyMs === null ? null : Math.round(a.latencyMs) }));
  const view: EventShowView = { ...event, json: parsedBody(event.bodyBase64, event.headers), attempts };
  if (json) {
    writeJson(output.out, view);
    return view;
  }
  const lines: string[] = [
    `event ${clean(event.id)}`,
    `  channel      ${clean(event.channel)} (seq ${event.seq})`,
    `  type         ${clean(event.type)}`,
    `  received     ${localTime(event.receivedAt)} (${clean(event.receivedAt, 40)})`,
    `  source       ${event.synthetic ? 'synthetic (relay-client trigger)' : clean(event.sourceIp, 60)}`,
    `  size         ${formatBytes(event.size)}`,
    '',
    'headers:',
    ...event.headers.map(([name, value]) => `  ${clean(name, 100)}: ${clean(value, 500)}`),
    '',
    ...bodyLines(event),
    '',
  ];
  if (deliveries.attempts.length === 0) {
    lines.push('deliveries: none yet (no consumer has received this event)');
  } else {
    lines.push('deliveries:', ...tableLines(['CONSUMER', 'ATTEMPT', 'STARTED', 'STATUS', 'LATENCY', 'OUTCOME', 'ERROR'], attemptRows(deliveries.attempts)).map((l) => `  ${l}`));
  }
  for (const attempt of deliveries.attempts) lines.push(...answerLines(attempt));
  writeLines(output.out, lines);
  return view;
}
