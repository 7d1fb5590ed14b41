const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * Parses a duration such as `500ms`, `10s`, `2m` or `1m30s` into milliseconds; a bare number is
 * milliseconds, as in relay-server's settings. Returns `undefined` when the text is not one.
 */
export function parseDuration(text: string | number): number | undefined {
  if (typeof text === 'number') return Number.isFinite(text) && text >= 0 ? text : undefined;
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  DURATION_PART.lastIndex = 0;
  let total = 0;
  let consumed = 0;
  for (let m = DURATION_PART.exec(trimmed); m !== null; m = DURATION_PART.exec(trimmed)) {
    total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? Number.NaN);
    consumed = DURATION_PART.lastIndex;
  }
  return consumed === trimmed.length && consumed > 0 && Number.isFinite(total) ? total : undefined;
}

/** Formats an exact duration for people: `500ms`, `10s`, `1.5s`, `2m`. */
export function formatDuration(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000}s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(1)}s`;
  return `${Math.round(ms)}ms`;
}

/** Formats a delay for people, rounded to what matters: `~0.3s`, `~2s`, `~1m`. */
export function formatDelay(ms: number): string {
  if (ms < 950) return `~${(Math.max(ms, 0) / 1000).toFixed(1)}s`;
  if (ms < 59_500) return `~${Math.round(ms / 1000)}s`;
  return `~${Math.round(ms / 60_000)}m`;
}
