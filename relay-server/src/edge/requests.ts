import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { RelayError } from '../errors.js';
import type { ResponsesInFlight } from './client-error.js';
import { MAX_URL_LENGTH } from './limits.js';
import { writeAnswer } from './socket-answer.js';

/**
 * The first `onRequest` hook: remembers the request's response for the client-error handler and
 * refuses, from the catalogue, what Node and the router let through but the relay does not serve.
 */
export function edgeOnRequest(inFlight: ResponsesInFlight): (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => void {
  // A callback hook: it runs on every request, ingest's included, and has nothing to await.
  return (request, reply, done) => {
    // Deno's Node layer may hand requests no socket object; its parser reports no client errors.
    if (typeof request.raw.socket === 'object' && request.raw.socket !== null) inFlight.begin(request.raw.socket, reply.raw);
    if ((request.raw.url ?? '').length > MAX_URL_LENGTH) return done(new RelayError('RELAY_E_URL_TOO_LONG'));
    // Node's own check answers an empty 400; it is turned off so that this answer is coded.
    if (request.raw.httpVersion === '1.1' && request.headers.host === undefined) return done(new RelayError('RELAY_E_HOST_REQUIRED'));
    done();
  };
}

/** The catalogue entry for an error the router raises before any route or hook runs. */
function frameworkRelayError(error: FastifyError): RelayError {
  switch (error.code) {
    case 'FST_ERR_BAD_URL':
      return new RelayError('RELAY_E_BAD_URL');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new RelayError('RELAY_E_PATH_SEGMENT_TOO_LONG');
    default:
      return new RelayError('RELAY_E_INTERNAL', undefined, { cause: error });
  }
}

/**
 * Fastify's `frameworkErrors`: answers a URL the router cannot match (bad percent-encoding, a
 * segment longer than any name) from the catalogue. The path is not repeated: it is the sender's.
 */
export function answerFrameworkError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const relayError = frameworkRelayError(error);
  if (relayError.status >= 500) request.log.error({ err: error, code: relayError.code }, 'request failed');
  void reply.code(relayError.status).send(relayError.toBody());
}

/**
 * Node's `checkExpectation` listener, for an `Expect` other than `100-continue` (which Node
 * answers itself). Without it Node answers an empty 417.
 */
export function answerExpectation(_request: IncomingMessage, response: ServerResponse): void {
  const error = new RelayError('RELAY_E_EXPECTATION_FAILED');
  writeAnswer(response, { status: error.status, body: error.toBody() });
}
