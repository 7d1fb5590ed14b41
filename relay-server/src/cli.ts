import { runCli } from './cli/main.js';
import { processRuntime } from './cli/node-runtime.js';
import { betterSqliteDriver } from './store/sqlite-better.js';

// Node entry: the embedded store runs on better-sqlite3.
await runCli(process.argv.slice(2), processRuntime(betterSqliteDriver));
