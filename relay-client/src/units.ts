import { formatDuration, parseDuration } from '@myop-relay/protocol';

export { formatDuration, parseDuration };

/** Formats a delay for people, rounded to what matters: `~0.3s`, `~2s`, `~1m`. */
export function formatDelay(ms: number): string {
  if (ms < 950) return `~${(Math.max(ms, 0) / 1000).toFixed(1)}s`;
  if (ms < 59_500) return `~${Math.round(ms / 1000)}s`;
  return `~${Math.round(ms / 60_000)}m`;
}
