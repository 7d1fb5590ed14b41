import type { ServerErrorCode } from '../errors.js';

/** What ingest did for one channel since the process started. */
export interface IngestCounts {
  accepted: number;
  duplicates: number;
  /** Refused requests by error code. */
  rejected: Partial<Record<ServerErrorCode, number>>;
}

/** Key under which requests for channels that do not exist are counted; keeps memory bounded. */
export const UNKNOWN_CHANNEL_KEY = '(unknown)';

/** What one ingest request came to: stored (`ok`), stored before (`duplicate`), or refused with a code. */
export type IngestOutcome = 'ok' | 'duplicate' | ServerErrorCode;

/** Hears every outcome as it is counted (metrics). */
export type IngestObserver = (channel: string, outcome: IngestOutcome) => void;

/** In-process counters of ingest outcomes per channel, shown by `GET /api/channels`. */
export class IngestCounters {
  private readonly byChannel = new Map<string, IngestCounts>();

  constructor(private readonly observer?: IngestObserver) {}

  private entry(channel: string): IngestCounts {
    let counts = this.byChannel.get(channel);
    if (!counts) {
      counts = { accepted: 0, duplicates: 0, rejected: {} };
      this.byChannel.set(channel, counts);
    }
    return counts;
  }

  accepted(channel: string, duplicate: boolean): void {
    const counts = this.entry(channel);
    if (duplicate) counts.duplicates += 1;
    else counts.accepted += 1;
    this.observer?.(channel, duplicate ? 'duplicate' : 'ok');
  }

  rejected(channel: string, code: ServerErrorCode): void {
    const counts = this.entry(channel);
    counts.rejected[code] = (counts.rejected[code] ?? 0) + 1;
    this.observer?.(channel, code);
  }

  /** A copy of the counts for `channel` (zeros when nothing happened yet). */
  get(channel: string): IngestCounts {
    const counts = this.byChannel.get(channel);
    return counts ? { accepted: counts.accepted, duplicates: counts.duplicates, rejected: { ...counts.rejected } } : { accepted: 0, duplicates: 0, rejected: {} };
  }
}
