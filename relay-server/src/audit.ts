import type { AuditActor, AuditEntry, Store } from './store/store.js';

/** The admin actions the audit log records. */
export const AUDIT_ACTIONS = [
  'channel.add',
  'channel.update',
  'channel.rotate-secret',
  'channel.remove',
  'token.create',
  'token.update',
  'token.revoke',
  'consumer.delete',
  'consumer.replay',
] as const;

/** One of {@link AUDIT_ACTIONS}. */
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

/** Where an admin action is logged: the server's pino logger, or the command line's stand-in. */
export interface AuditLogger {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** An admin action about to be recorded. `detail` must hold no secret: setting names, roles and counts only. */
export interface AdminAction {
  actor: AuditActor;
  action: AuditAction;
  target: string;
  detail?: Record<string, unknown>;
}

/** How an actor reads in logs and listings: `token asha` or `cli`. */
export function describeActor(actor: AuditActor): string {
  return actor.kind === 'cli' ? 'cli' : `token ${actor.name}`;
}

/**
 * Logs an admin action that has been done at info, and appends it to the store's audit log. The
 * action stands whether or not it could be recorded, so a failure to record is a warning, not an
 * error: reporting the action as failed would make its author repeat it.
 */
export async function recordAdminAction(store: Store, log: AuditLogger, action: AdminAction): Promise<void> {
  const entry: AuditEntry = { at: new Date(), actor: action.actor, action: action.action, target: action.target, detail: action.detail ?? {} };
  const fields = { audit: { actor: describeActor(entry.actor), action: entry.action, target: entry.target, ...entry.detail } };
  log.info(fields, 'admin action');
  try {
    await store.appendAudit(entry);
  } catch (error) {
    log.warn({ ...fields, err: error }, 'admin action done, but not recorded in the audit log');
  }
}
