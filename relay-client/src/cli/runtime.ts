import type { SocketFactory } from '../socket.js';

/** What the CLI gets from the runtime it runs on (Node or Deno), chosen by the entry file. */
export interface CliRuntime {
  /** Event lines and the summary; `isTTY` decides colours. */
  stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Usage errors, warnings and connection trouble. */
  stderr: NodeJS.WritableStream;
  /** Environment, for `RELAY_*` settings, `NO_COLOR` and the default config file location. */
  env: Readonly<Record<string, string | undefined>>;
  /** The home directory, for `~/.config/myop-relay/client.json`. */
  homeDir: string;
  /** Opens WebSockets. */
  createSocket: SocketFactory;
  /** HTTP requests to the relay's API. Default: the runtime's global `fetch`. */
  fetch?: typeof fetch;
  /**
   * Registers a handler for the first SIGINT/SIGTERM. A second signal is left to the runtime's
   * default (ending the process), so a user who does not want to wait for in-flight forwards can
   * press Ctrl-C again.
   */
  onShutdownSignal(handler: (signal: string) => void): void;
  /**
   * Check the command line only: when it parses, this is called with the command words
   * (`['events', 'show']`) and nothing runs. For tests that every quoted command parses.
   */
  parseOnly?: (command: readonly string[]) => void;
}
