import { json, line, table } from '@myop-relay/cli-support';
import { describeActor, recordAdminAction, type AuditAction, type AuditLogger } from '../audit.js';
import { RelayError } from '../errors.js';
import type { Store } from '../store/store.js';

/** Records an admin action done from the command line; see {@link cliAuditor}. */
export type Auditor = (action: AuditAction, target: string, detail?: Record<string, unknown>) => Promise<void>;

/**
 * The command line's audit recorder: actions are recorded with the actor `cli`. The command's own
 * output already says what it did, so only a failure to record is printed, on standard error.
 */
export function cliAuditor(store: Store, stderr: NodeJS.WritableStream): Auditor {
  const log: AuditLogger = {
    info: () => undefined,
    warn: (_fields, message) => line(stderr, `warning: ${message}`),
  };
  return (action, target, detail) => recordAdminAction(store, log, { actor: { kind: 'cli' }, action, target, ...(detail ? { detail } : {}) });
}

/** `relay-server audit`: the newest admin actions, newest first. */
export async function listAuditCommand(store: Store, out: NodeJS.WritableStream, limit: number, asJson: boolean): Promise<void> {
  if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new RelayError('RELAY_E_CONFIG_INVALID', `--limit: expected a whole number from 1 to 1000, got "${limit}"`);
  const entries = await store.listAudit(limit);
  if (asJson) {
    json(out, entries.map((e) => ({ at: e.at.toISOString(), actor: e.actor, action: e.action, target: e.target, detail: e.detail })));
    return;
  }
  if (entries.length === 0) {
    line(out, 'No admin actions recorded yet.');
    return;
  }
  table(
    out,
    ['AT', 'WHO', 'ACTION', 'TARGET', 'DETAIL'],
    entries.map((e) => [e.at.toISOString(), describeActor(e.actor), e.action, e.target, Object.entries(e.detail).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')]),
  );
}
