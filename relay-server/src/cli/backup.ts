import { resolve } from 'node:path';
import { json, line } from '@myop-relay/cli-support';
import { resolveServerConfig } from '../config.js';
import { RelayError } from '../errors.js';
import { sqlitePath } from '../store/open.js';
import { backupSqliteStore, verifySqliteBackup, type BackupReport } from '../store/sqlite-backup.js';
import type { CliRuntime } from './runtime.js';

/** The flags of `relay-server backup`, as yargs hands them over. */
export interface BackupArgs {
  to?: string | undefined;
  verify?: string | undefined;
  dataDir?: unknown;
  databaseUrl?: unknown;
  json: boolean;
}

const MIB = 1024 * 1024;

function size(bytes: number): string {
  return bytes >= MIB ? `${(bytes / MIB).toFixed(1)} MiB` : `${(bytes / 1024).toFixed(1)} KiB`;
}

/**
 * `relay-server backup --to FILE` copies the embedded store while the relay runs, with progress
 * on standard error; `relay-server backup --verify FILE` checks a copy before it is relied on.
 */
export async function runBackup(args: BackupArgs, runtime: CliRuntime): Promise<void> {
  if ((args.to === undefined) === (args.verify === undefined)) {
    throw new RelayError('RELAY_E_CONFIG_INVALID', '--to, --verify: give one of them: --to FILE makes a backup, --verify FILE checks one.');
  }
  if (args.verify !== undefined) return printReport(verifySqliteBackup(runtime.sqliteDriver, resolve(args.verify)), args.json, runtime);

  const config = resolveServerConfig({ dataDir: args.dataDir, databaseUrl: args.databaseUrl });
  if (config.databaseUrl !== undefined) {
    throw new RelayError('RELAY_E_CONFIG_INVALID', '--database-url: a Postgres store is backed up with pg_dump; docs/deployment.md#backups gives the steps.');
  }
  const source = sqlitePath(config.dataDir);
  let reported = -1;
  const result = await backupSqliteStore(runtime.sqliteDriver, source, resolve(args.to ?? ''), ({ totalPages, remainingPages }) => {
    // A line per tenth is enough to see it move without flooding a terminal or a log.
    const tenth = totalPages === 0 ? 10 : Math.floor(((totalPages - remainingPages) / totalPages) * 10);
    if (tenth === reported) return;
    reported = tenth;
    line(runtime.stderr, `backup: ${tenth * 10}% (${totalPages - remainingPages} of ${totalPages} pages)`);
  });
  if (args.json) {
    json(runtime.stdout, { source, path: result.path, bytes: result.bytes, pages: result.pages, elapsedMs: Math.round(result.elapsedMs) });
    return;
  }
  line(runtime.stdout, `backed up ${source} to ${result.path} (${size(result.bytes)}, ${result.pages} pages, ${(result.elapsedMs / 1000).toFixed(1)} s)`);
  line(runtime.stdout, `check it with: relay-server backup --verify ${result.path}`);
}

function printReport(report: BackupReport, asJson: boolean, runtime: CliRuntime): void {
  if (asJson) {
    json(runtime.stdout, {
      ok: true,
      ...report,
      oldestEventAt: report.oldestEventAt?.toISOString() ?? null,
      newestEventAt: report.newestEventAt?.toISOString() ?? null,
    });
    return;
  }
  const span = report.oldestEventAt && report.newestEventAt ? ` from ${report.oldestEventAt.toISOString()} to ${report.newestEventAt.toISOString()}` : '';
  line(runtime.stdout, `ok: ${report.path} is a sound relay store (${size(report.bytes)}, integrity_check ok, schema version ${report.schemaVersion})`);
  line(runtime.stdout, `  ${report.channels} channels, ${report.tokens} tokens, ${report.consumers} consumers, ${report.events} events${span}`);
  line(runtime.stdout, '  restore: copy it as relay.db into an empty data dir and start relay-server there');
}
