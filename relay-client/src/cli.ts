import { homedir } from 'node:os';
import { ignoreClosedPipe } from '@myop-relay/cli-support';
import { createNodeSocket } from './adapters/node-websocket.js';
import { runCli } from './cli/main.js';
import { tuneHeap } from './heap.js';

tuneHeap();
ignoreClosedPipe(process.stdout);
ignoreClosedPipe(process.stderr);

await runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  homeDir: homedir(),
  createSocket: createNodeSocket,
  onShutdownSignal(handler) {
    const once = (signal: NodeJS.Signals): void => {
      process.off('SIGINT', once);
      process.off('SIGTERM', once);
      handler(signal);
    };
    process.on('SIGINT', once);
    process.on('SIGTERM', once);
  },
});
