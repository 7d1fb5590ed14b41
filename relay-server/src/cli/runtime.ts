import type { SqliteDriver } from '../store/sqlite-driver.js';

/** What the CLI gets from the runtime it runs on (Node or Deno), chosen by the entry file. */
export interface CliRuntime {
  sqliteDriver: SqliteDriver;
  /** Where human output goes. */
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  /** Registers a handler for SIGINT/SIGTERM. */
  onShutdownSignal(handler: (signal: string) => void): void;
  /**
   * Check the command line only: when it parses, this is called with the command words
   * (`['token', 'create']`) and nothing runs. For tests that every quoted command parses.
   */
  parseOnly?: (command: readonly string[]) => void;
}
