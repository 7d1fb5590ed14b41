import { RelayError } from '../errors.js';
import { parseDuration } from '../units.js';

/** Reads `since`/`before`: an ISO time, or a duration meaning that long ago. */
export function timeParam(name: string, value: string | undefined, now: Date): Date | undefined {
  if (value === undefined || value === '') return undefined;
  const ago = /^\d+$/.test(value) ? undefined : parseDuration(value);
  if (ago !== undefined) return new Date(now.getTime() - ago);
  const at = new Date(value);
  if (Number.isNaN(at.getTime())) throw new RelayError('RELAY_E_INVALID_QUERY', `(${name}: expected an ISO time or a duration such as 2h, got "${value}")`);
  return at;
}

