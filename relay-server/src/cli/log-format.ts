/**
 * `--log-format`: the relay logs JSON lines (pino) for log collectors, and readable lines for a
 * person watching a terminal: `10:03:59 WARN  webhook rejected  code=RELAY_E_SIGNATURE_MISMATCH channel=sales`.
 */
import { Writable } from 'node:stream';
import { RelayError } from '../errors.js';

/** Log formats `relay-server start` writes. */
export const LOG_FORMATS = ['text', 'json'] as const;

/** One of {@link LOG_FORMATS}. */
export type LogFormat = (typeof LOG_FORMATS)[number];

/**
 * The format `--log-format` names; default `text` when the logs go to a terminal, else `json`.
 *
 * @throws RelayError `RELAY_E_CONFIG_INVALID` naming `--log-format`.
 */
export function resolveLogFormat(value: unknown, toTerminal: boolean): LogFormat {
  if (value === undefined || value === null || value === '') return toTerminal ? 'text' : 'json';
  const format = LOG_FORMATS.find((f) => f === value);
  if (format === undefined) throw new RelayError('RELAY_E_CONFIG_INVALID', `--log-format: expected ${LOG_FORMATS.join(' or ')}, got "${String(value).slice(0, 40)}"`);
  return format;
}

const LEVELS: Readonly<Record<number, string>> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** Fields every line has, or that say nothing to a person reading one relay's log. */
const SKIPPED = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'reqId']);

function value(field: unknown): string {
  if (typeof field === 'string') return /[\s"=]/.test(field) || field === '' ? JSON.stringify(field) : field;
  if (typeof field === 'number' || typeof field === 'boolean' || field === null) return String(field);
  return JSON.stringify(field);
}

function pad2(n: number): string {
  return String(n).padStart(2, '0');
}

/** One pino JSON line as a readable line; a line that is not pino's JSON is passed on as it is. */
export function textLogLine(json: string): string {
  let record: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(json);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return json.trimEnd();
    record = parsed as Record<string, unknown>;
  } catch {
    return json.trimEnd();
  }
  const time = typeof record['time'] === 'number' ? new Date(record['time']) : new Date();
  const clock = `${pad2(time.getHours())}:${pad2(time.getMinutes())}:${pad2(time.getSeconds())}`;
  const level = (typeof record['level'] === 'number' ? LEVELS[record['level']] : undefined) ?? 'INFO';
  const fields: string[] = [];
  for (const [key, field] of Object.entries(record)) {
    if (SKIPPED.has(key) || field === undefined) continue;
    if (key === 'err' && typeof field === 'object' && field !== null) {
      const err = field as { type?: unknown; message?: unknown; code?: unknown };
      fields.push(`error=${value(`${typeof err.code === 'string' ? `${err.code} ` : ''}${String(err.message ?? err.type ?? '')}`)}`);
      continue;
    }
    fields.push(`${key}=${value(field)}`);
  }
  const message = typeof record['msg'] === 'string' ? record['msg'] : '';
  return `${clock} ${level.padEnd(5)} ${message}${fields.length > 0 ? `  ${fields.join(' ')}` : ''}`;
}

/** A stream for pino that writes each record (pino writes one per call) to `out` as {@link textLogLine}. */
export function textLogStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer | string, _encoding, done): void {
      out.write(`${textLogLine(chunk.toString())}\n`);
      done();
    },
  });
}
