import { runCli } from './cli/main.js';
import { betterSqliteDriver } from './store/sqlite-better.js';

await runCli(process.argv.slice(2), {
  sqliteDriver: betterSqliteDriver,
  stdout: process.stdout,
  stderr: process.stderr,
  onShutdownSignal(handler) {
    process.on('SIGINT', () => handler('SIGINT'));
    process.on('SIGTERM', () => handler('SIGTERM'));
  },
});
