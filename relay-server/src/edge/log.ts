import type { FastifyServerOptions } from 'fastify';
import { SECRET_PREFIX, TOKEN_PREFIX } from '../secrets.js';

/** Levels the relay logs at (pino's). */
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/**
 * Fields that may hold what a sender sent: header values (Authorization, API keys under names
 * each channel chooses), query strings (API keys in the query) and the raw bytes Node keeps of a
 * request it could not parse. None is logged on purpose; redaction keeps it so if one ever is.
 */
const REDACTED_FIELDS = ['headers', 'query', 'rawPacket', 'authorization', 'cookie'];
const REDACTED_PATHS = REDACTED_FIELDS.flatMap((field) => [field, `*.${field}`]);

const QUERY = /(\/[^\s?#"'`<>]*)\?[^\s#"'`<>)]+/g;
const AUTH_SCHEME = /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi;
const KNOWN_SECRET = new RegExp(`\\b(?:${TOKEN_PREFIX}|${SECRET_PREFIX})[A-Za-z0-9_-]+`, 'g');

/**
 * `text` with what could be a credential cut out: query strings after a path, the credentials
 * of an `Authorization` value, and tokens and signing secrets by their prefixes. Framework
 * messages quote the request URL (a reply sent twice names it, query included).
 */
export function scrubCredentials(text: string): string {
  return text.replace(QUERY, '$1?[redacted]').replace(AUTH_SCHEME, '$1 [redacted]').replace(KNOWN_SECRET, '[redacted]');
}

/** The request line as logged: path only, since a query string may carry an API key. */
function requestSummary(request: { method?: string; url?: string; ip?: string }): Record<string, unknown> {
  const url = request.url ?? '';
  const q = url.indexOf('?');
  return { method: request.method, url: q < 0 ? url : `${url.slice(0, q)}?[redacted]`, remoteAddress: request.ip };
}

/** The logged form of an error, as pino's own serializer shapes it. */
interface LoggedError {
  type: string;
  message: string;
  stack: string;
  [field: string]: unknown;
}

/**
 * An error as logged: its name, code, message, stack and causes, scrubbed, and nothing else.
 * pino's own serializer copies every enumerable field, and Node's parser errors carry the raw
 * request bytes in one.
 */
function errorSummary(error: unknown, depth = 0): LoggedError {
  if (!(error instanceof Error)) return { type: typeof error, message: scrubCredentials(String(error)), stack: '' };
  const summary: LoggedError = { type: error.name, message: scrubCredentials(error.message), stack: scrubCredentials(error.stack ?? '') };
  const { code, status, statusCode, errno, syscall } = error as { code?: unknown; status?: unknown; statusCode?: unknown; errno?: unknown; syscall?: unknown };
  for (const [key, value] of Object.entries({ code, status, statusCode, errno, syscall })) {
    if (typeof value === 'string' || typeof value === 'number') summary[key] = value;
  }
  if (depth < 3) {
    if (error.cause !== undefined) summary['cause'] = errorSummary(error.cause, depth + 1);
    if (error instanceof AggregateError) summary['errors'] = error.errors.slice(0, 10).map((e: unknown) => errorSummary(e, depth + 1));
  }
  return summary;
}

/**
 * The relay's pino settings for Fastify: JSON lines at `level` to `stream` (standard output by
 * default), with request lines reduced to the path, errors to their scrubbed essentials, fields
 * that could hold credentials redacted, and every message string scrubbed.
 */
export function loggerOptions(level: LogLevel, stream?: NodeJS.WritableStream): NonNullable<FastifyServerOptions['logger']> {
  return {
    level,
    ...(stream ? { stream } : {}),
    serializers: { req: requestSummary, err: (error: unknown) => errorSummary(error) },
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    hooks: {
      logMethod(args, method) {
        const scrubbed = args.map((arg) => (typeof arg === 'string' ? scrubCredentials(arg) : arg));
        method.apply(this, scrubbed as Parameters<typeof method>);
      },
    },
  };
}
