import { runCli } from './cli/main.js';
import { processRuntime } from './cli/node-runtime.js';
import { nodeSqliteDriver } from './store/sqlite-node.js';

// Deno entry: Deno cannot load better-sqlite3, so the embedded store runs on its built-in node:sqlite.
await runCli(process.argv.slice(2), processRuntime(nodeSqliteDriver));
