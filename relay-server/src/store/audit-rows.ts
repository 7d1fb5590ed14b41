import type { AuditActor, AuditEntry } from './store.js';

/** How an actor is kept in the audit table's text column: `cli` or `token:<name>`. */
export function actorText(actor: AuditActor): string {
  return actor.kind === 'cli' ? 'cli' : `token:${actor.name}`;
}

/** The inverse of {@link actorText}. */
export function actorOf(text: string): AuditActor {
  return text.startsWith('token:') ? { kind: 'token', name: text.slice('token:'.length) } : { kind: 'cli' };
}

/** An audit row as both engines read it back (the time in ms or as a Date, the detail as JSON text or parsed). */
export interface AuditRow {
  at: number | Date;
  actor: string;
  action: string;
  target: string;
  detail: string | Record<string, unknown>;
}

/** An audit row as an {@link AuditEntry}. */
export function toAuditEntry(row: AuditRow): AuditEntry {
  return {
    at: row.at instanceof Date ? row.at : new Date(Number(row.at)),
    actor: actorOf(row.actor),
    action: row.action,
    target: row.target,
    detail: typeof row.detail === 'string' ? (JSON.parse(row.detail) as Record<string, unknown>) : row.detail,
  };
}
