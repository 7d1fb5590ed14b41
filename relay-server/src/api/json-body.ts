import type { FastifyInstance } from 'fastify';
import { RelayError } from '../errors.js';

/** Largest API request body: 1 MiB, room for a replay of 1000 ids of the longest kind. */
export const MAX_API_BODY_BYTES = 1024 * 1024;

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Parses an API request body: strict UTF-8 JSON; an empty body is no body. */
function parseJsonBody(bytes: Buffer): unknown {
  if (bytes.length === 0) return undefined;
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    throw new RelayError('RELAY_E_INVALID_JSON', '(not UTF-8)');
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new RelayError('RELAY_E_INVALID_JSON', error instanceof SyntaxError ? `(${error.message})` : undefined);
  }
}

/** Fastify's refusals while reading a body, in the catalogue's words; anything else unchanged. */
function toApiError(error: unknown): unknown {
  if (error instanceof RelayError) return error;
  switch ((error as { code?: unknown } | null)?.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new RelayError('RELAY_E_API_CONTENT_TYPE');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new RelayError('RELAY_E_API_BODY_TOO_LARGE', `(limit ${MAX_API_BODY_BYTES} bytes)`);
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new RelayError('RELAY_E_BODY_INCOMPLETE');
    default:
      return error;
  }
}

/**
 * Makes the API context read JSON bodies only, with its own parser, so a body that does not parse
 * or is not JSON gets a catalogue code instead of Fastify's own error. The refusals then go on to
 * the server's error handler, which answers every route alike.
 */
export function acceptJsonBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: MAX_API_BODY_BYTES }, async (_request: unknown, body: Buffer) => parseJsonBody(body));
  app.setErrorHandler((error) => {
    throw toApiError(error);
  });
}
