import type { Readable } from 'node:stream';
import { RelayError } from '../errors.js';

/**
 * Reads a request body into one buffer, refusing it with RELAY_E_BODY_TOO_LARGE as soon as it
 * passes `limit` bytes, so an oversized upload is never held in memory.
 */
export function readBody(stream: Readable, limit: number, declaredLength: number | undefined): Promise<Buffer> {
  if (declaredLength !== undefined && declaredLength > limit) {
    return Promise.reject(new RelayError('RELAY_E_BODY_TOO_LARGE', `(${declaredLength} bytes declared, limit ${limit})`));
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        // Stop reading; the response goes out and the connection is closed behind it.
        stream.pause();
        reject(new RelayError('RELAY_E_BODY_TOO_LARGE', `(more than ${limit} bytes)`));
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const cleanup = (): void => {
      stream.off('data', onData);
      stream.off('end', onEnd);
      stream.off('error', onError);
    };
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('error', onError);
  });
}
