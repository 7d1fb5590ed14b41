import { json, line } from '@myop-relay/cli-support';
import { resolveServerConfig } from '../config.js';
import { runDoctor, type DoctorReport } from '../doctor/checks.js';
import type { CliRuntime } from './runtime.js';

/** The flags of `relay-server doctor`, as yargs hands them over. */
export interface DoctorArgs {
  dataDir?: unknown;
  databaseUrl?: unknown;
  maxDbSize?: unknown;
  retentionMaxAge?: unknown;
  retentionInterval?: unknown;
  json: boolean;
}

/**
 * `relay-server doctor`: runs the host checks against the store the flags name and prints one
 * line per check. Exits 0 when no check failed (warnings included), 1 when one did.
 */
export async function runDoctorCommand(args: DoctorArgs, runtime: CliRuntime): Promise<void> {
  const config = resolveServerConfig({
    dataDir: args.dataDir,
    databaseUrl: args.databaseUrl,
    maxDbSize: args.maxDbSize,
    retentionMaxAge: args.retentionMaxAge,
    retentionInterval: args.retentionInterval,
  });
  const report = await runDoctor(config, runtime.sqliteDriver);
  if (!report.ok) process.exitCode = 1;
  if (args.json) json(runtime.stdout, report);
  else print(report, runtime.stdout);
}

function print(report: DoctorReport, out: NodeJS.WritableStream): void {
  line(out, `relay-server doctor: ${report.store} (${report.engine})`);
  const width = Math.max(...report.checks.map((c) => c.name.length));
  for (const check of report.checks) line(out, `  ${check.status.padEnd(4)}  ${check.name.padEnd(width)}  ${check.detail}`);
  const count = (status: string): number => report.checks.filter((c) => c.status === status).length;
  const [warnings, failures] = [count('warn'), count('fail')];
  line(out, `${failures} failed, ${warnings} warning${warnings === 1 ? '' : 's'}${report.ok ? '' : ': the relay cannot work as it should'}`);
}
