import { ignoreClosedPipe } from '@myop-relay/cli-support';
import type { SqliteDriver } from '../store/sqlite-driver.js';
import type { CliRuntime } from './runtime.js';

/** The process-level half of a CLI runtime, the same on Node and Deno (through its Node APIs). */
export function processRuntime(sqliteDriver: SqliteDriver): CliRuntime {
  ignoreClosedPipe(process.stdout);
  ignoreClosedPipe(process.stderr);
  return {
    sqliteDriver,
    stdout: process.stdout,
    stderr: process.stderr,
    onShutdownSignal(handler) {
      process.on('SIGINT', () => handler('SIGINT'));
      process.on('SIGTERM', () => handler('SIGTERM'));
    },
  };
}
