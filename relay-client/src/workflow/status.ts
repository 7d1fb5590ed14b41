/**
 * `relay-client status`: is the relay reachable and ready, is the token accepted, and how are my
 * consumers doing (waiting, failed, connected, last ack). Every check runs even when an earlier
 * one failed where it can, so one run shows everything that is wrong.
 */
import { Buffer } from 'node:buffer';
import type { ChannelInfo, ConsumerFailureView, ConsumerView } from '@myop-relay/protocol';
import { ClientError } from '../errors.js';
import { clean, firstLine, formatAge, localTime } from '../format.js';
import { RelayApiError, RelayUnreachableError, type ProbeResult, type RelayApi } from '../relay-api.js';
import { writeJson, writeLines, type CommandOutput } from './output.js';

/** What to check. */
export interface StatusOptions {
  /** Channels to report on. Default: every channel the token may read. */
  channels?: readonly string[];
  /** Consumer names to report on in each channel (usually the listen default, `<user>@<hostname>`). */
  consumers: readonly string[];
  /** Whether a token was given; without one only reachability is checked. */
  hasToken: boolean;
}

/** One health endpoint's answer. */
export interface ProbeStatus {
  ok: boolean;
  /** HTTP status, when the relay answered. */
  status?: number;
  /** The relay's error code or the system error code. */
  code?: string;
  message?: string;
}

/** A consumer as status reports it. */
export interface ConsumerStatus {
  name: string;
  /** Whether the relay knows this consumer (it is created by the first `listen`). */
  exists: boolean;
  /** The relay's view of it, when it exists. */
  consumer?: ConsumerView;
}

/** A channel as status reports it. */
export interface ChannelStatus {
  name: string;
  /** Whether the token may read it (and it exists). */
  visible: boolean;
  events?: number;
  lastReceivedAt?: string | null;
  consumers: ConsumerStatus[];
}

/** Everything `status` found; `problems` decide the exit code, `warnings` do not. */
export interface StatusReport {
  /** True when there are no problems. */
  ok: boolean;
  /** The relay's base URL. */
  relay: string;
  healthz: ProbeStatus;
  readyz: ProbeStatus;
  token: ProbeStatus & { channelsVisible?: number };
  channels: ChannelStatus[];
  /** Things that need fixing: unreachable, not ready, token refused, channel not visible, failed events. */
  problems: string[];
  /** Worth knowing, not broken: no consumer yet, events waiting for a consumer that is not connected. */
  warnings: string[];
}

function probeStatus(result: ProbeResult): ProbeStatus {
  if (result.status >= 200 && result.status < 300) return { ok: true, status: result.status };
  const body = result.body;
  const error = typeof body === 'object' && body !== null && 'error' in body ? (body as { error: unknown }).error : undefined;
  const code = typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
  const message = typeof error === 'object' && error !== null && 'message' in error && typeof error.message === 'string' ? error.message : undefined;
  return { ok: false, status: result.status, ...(code === undefined ? {} : { code }), ...(message === undefined ? {} : { message }) };
}

function errorStatus(error: unknown): ProbeStatus {
  if (error instanceof RelayUnreachableError) return { ok: false, ...(error.code === undefined ? {} : { code: error.code }), message: error.message };
  if (error instanceof RelayApiError) return { ok: false, status: error.status, code: error.code, message: error.message };
  if (error instanceof ClientError) return { ok: false, code: error.code, message: error.message };
  throw error;
}

async function probe(api: RelayApi, path: '/healthz' | '/readyz'): Promise<ProbeStatus> {
  try {
    return probeStatus(await api.probe(path));
  } catch (error) {
    return errorStatus(error);
  }
}

/** Runs every check and returns the findings; throws only for bugs, never for what it checks. */
export async function checkStatus(api: RelayApi, options: StatusOptions): Promise<StatusReport> {
  const relay = api.base.href.replace(/\/$/, '');
  const problems: string[] = [];
  const warnings: string[] = [];
  const report: StatusReport = { ok: false, relay, healthz: { ok: false }, readyz: { ok: false }, token: { ok: false }, channels: [], problems, warnings };

  report.healthz = await probe(api, '/healthz');
  if (!report.healthz.ok) {
    problems.push(report.healthz.message ?? `${api.url('/healthz')} answered HTTP ${report.healthz.status ?? '?'}; is --relay the relay-server's URL?`);
    // Nothing further can answer when the process does not.
    report.token = { ok: false, message: 'not checked: the relay is unreachable' };
    return report;
  }
  report.readyz = await probe(api, '/readyz');
  if (!report.readyz.ok) problems.push(`the relay is up but not ready: ${report.readyz.code ?? `HTTP ${report.readyz.status ?? '?'}`} ${report.readyz.message ?? ''}`.trim());

  if (!options.hasToken) {
    report.token = { ok: false, code: 'RELAY_E_CLIENT_CONFIG_INVALID', message: 'no token: create one on the relay host with `relay-server token create --name <you>` and pass it with --token or RELAY_TOKEN' };
    problems.push(report.token.message ?? '');
    return report;
  }
  let visible: ChannelInfo[];
  try {
    visible = (await api.channels()).channels;
    report.token = { ok: true, channelsVisible: visible.length };
  } catch (error) {
    report.token = errorStatus(error);
    problems.push(`token: ${report.token.message ?? report.token.code ?? 'refused'}`);
    return report;
  }

  const names = options.channels ?? visible.map((c) => c.name);
  for (const name of names) {
    const info = visible.find((c) => c.name === name);
    if (info === undefined) {
      report.channels.push({ name, visible: false, consumers: [] });
      problems.push(`channel ${name}: this token may not read it, or it does not exist (relay-server channel list shows the channels)`);
      continue;
    }
    const channel: ChannelStatus = { name, visible: true, events: info.events, lastReceivedAt: info.lastReceivedAt, consumers: [] };
    report.channels.push(channel);
    let consumers: ConsumerView[];
    try {
      consumers = (await api.consumers(name)).consumers;
    } catch (error) {
      const failed = errorStatus(error);
      problems.push(`channel ${name}: consumers could not be read (${failed.code ?? ''} ${failed.message ?? ''})`.trim());
      continue;
    }
    for (const consumerName of options.consumers) {
      const consumer = consumers.find((c) => c.name === consumerName);
      if (consumer === undefined) {
        channel.consumers.push({ name: consumerName, exists: false });
        warnings.push(`channel ${name}: no consumer ${consumerName} yet; \`relay-client listen --channel ${name}\` creates it`);
        continue;
      }
      channel.consumers.push({ name: consumerName, exists: true, consumer });
      const failure = failureProblem(name, consumer);
      if (failure !== undefined) problems.push(failure);
      if (consumer.pending > 0 && consumer.connectedSessions === 0) {
        warnings.push(`channel ${name}, consumer ${consumerName}: ${consumer.pending} event${consumer.pending === 1 ? '' : 's'} waiting and no listen connected`);
      }
      if (consumer.connectedSessions > 1) {
        warnings.push(
          `channel ${name}, consumer ${consumerName}: ${consumer.connectedSessions} sessions connected; the relay splits the events between them (give a listen its own --consumer to get a copy of every event)`,
        );
      }
    }
  }
  report.ok = problems.length === 0;
  return report;
}

/**
 * What is wrong with a consumer whose handler fails: how many events are failing (retried) and
 * parked (max attempts reached), and the last error, so the fix can start without `events show`.
 * Undefined when nothing fails. `failing` and `lastFailure` are missing from older relays.
 */
function failureProblem(channel: string, consumer: ConsumerView): string | undefined {
  const failing = consumer.failing ?? 0;
  if (failing === 0 && consumer.failed === 0) return undefined;
  const counts: string[] = [];
  if (failing > 0) counts.push(`${failing} event${failing === 1 ? '' : 's'} failing (retried)`);
  if (consumer.failed > 0) counts.push(`${consumer.failed} event${consumer.failed === 1 ? '' : 's'} failed for good (max attempts reached)`);
  const last = consumer.lastFailure ?? null;
  const lastError = last === null ? '' : `; last error: ${last.type} ${last.id} attempt ${last.attempt} at ${localTime(last.at)}: ${failureText(last)}`;
  const fix = consumer.failed > 0 ? `fix the handler, then \`relay-client replay --since <time> --channel ${channel}\`` : 'fix the handler; the relay keeps delivering them';
  return `channel ${channel}, consumer ${consumer.name}: ${counts.join(', ')}${lastError}; ${fix}`;
}

/** A failed attempt in a few words: the status and the first line of the answer, or the error. */
function failureText(failure: ConsumerFailureView): string {
  const answer = failure.responseBody === undefined ? '' : firstLine(Buffer.from(failure.responseBody, 'base64').toString('utf8'));
  const parts = [failure.status === null ? '' : `HTTP ${failure.status}`, failure.error ?? '', clean(answer, 200)].filter((p) => p !== '');
  return parts.join(' ') || 'no answer';
}

function probeText(status: ProbeStatus): string {
  if (status.ok) return 'ok';
  return [status.code, status.status === undefined ? undefined : `HTTP ${status.status}`].filter(Boolean).join(' ') || 'failed';
}

/** Runs {@link checkStatus} and prints the report. */
export async function runStatus(api: RelayApi, options: StatusOptions, output: CommandOutput, json: boolean): Promise<StatusReport> {
  const report = await checkStatus(api, options);
  if (json) {
    writeJson(output.out, report);
    return report;
  }
  const lines: string[] = [
    `relay    ${report.relay}  ${report.healthz.ok ? 'reachable' : 'UNREACHABLE'} (healthz ${probeText(report.healthz)}, readyz ${report.healthz.ok ? probeText(report.readyz) : 'not checked'})`,
  ];
  if (report.healthz.ok) {
    const token = report.token;
    lines.push(`token    ${token.ok ? `accepted (${token.channelsVisible ?? 0} channel${token.channelsVisible === 1 ? '' : 's'} visible)` : `NOT OK (${token.code ?? 'refused'})`}`);
  }
  for (const channel of report.channels) {
    if (!channel.visible) {
      lines.push(`channel  ${clean(channel.name)}  NOT VISIBLE to this token`);
      continue;
    }
    const last = channel.lastReceivedAt === null || channel.lastReceivedAt === undefined ? 'none received yet' : `last received ${localTime(channel.lastReceivedAt)}`;
    const stored = channel.events ?? 0;
    lines.push(`channel  ${clean(channel.name)}  ${stored} event${stored === 1 ? '' : 's'} stored, ${last}`);
    for (const c of channel.consumers) {
      if (c.consumer === undefined) {
        lines.push(`  consumer ${clean(c.name)}: not created yet`);
        continue;
      }
      const v = c.consumer;
      const sessions = v.connectedSessions === 0 ? 'not connected' : `connected (${v.connectedSessions} session${v.connectedSessions === 1 ? '' : 's'})`;
      const oldest = v.oldestPendingAgeMs === null ? '' : `, oldest ${formatAge(v.oldestPendingAgeMs)}`;
      lines.push(`  consumer ${clean(c.name)}: ${sessions}, pending ${v.pending}${oldest}, failing ${v.failing ?? 0}, failed ${v.failed}, last ack ${v.lastAckAt === null ? 'never' : localTime(v.lastAckAt)}`);
    }
  }
  if (report.problems.length > 0) lines.push('', 'problems:', ...report.problems.map((p) => `  - ${clean(p, 1000)}`));
  if (report.warnings.length > 0) lines.push('', 'warnings:', ...report.warnings.map((w) => `  - ${clean(w, 1000)}`));
  lines.push('', report.ok ? 'status: ok' : `status: ${report.problems.length} problem${report.problems.length === 1 ? '' : 's'}`);
  writeLines(output.out, lines);
  return report;
}
