import { parseDuration } from '@myop-relay/protocol';

export { parseDuration };

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
