import type { ClientError } from './errors.js';
import { failureError } from './failure.js';
import type { Transport } from './transport.js';

/**
 * Runs the transport until the user stops (`signal` aborts), the connection fails for good, or
 * the relay refuses a subscription. Resolves with the error that ended it, undefined on a stop.
 * The transport is still open afterwards: the caller decides how to wind down.
 */
export async function runUntilStopped(transport: Transport, refused: Promise<ClientError>, signal: AbortSignal | undefined): Promise<ClientError | undefined> {
  let onAbort: (() => void) | undefined;
  const stopRequested = new Promise<undefined>((resolve) => {
    onAbort = () => resolve(undefined);
    if (signal?.aborted) resolve(undefined);
    else signal?.addEventListener('abort', onAbort, { once: true });
  });
  const ended = transport.run().then((end) => (end.kind === 'fatal' ? failureError(end.failure) : undefined));
  try {
    return await Promise.race([stopRequested, ended, refused]);
  } finally {
    if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
  }
}
