/**
 * `relay-server init`: creates the store and what the first start would create (the `myoperator`
 * channel, an admin token), without serving, so channels and tokens can be set up before the
 * relay first runs. `start` on an initialised store creates nothing more.
 */
import { json, line } from '@myop-relay/cli-support';
import { bootstrapStore } from '../bootstrap.js';
import { resolveServerConfig, type ServerConfigInput } from '../config.js';
import { openConfiguredStore } from '../store/open.js';
import type { CliRuntime } from './runtime.js';
import { printFirstStart, storeFlags } from './start.js';

/** Runs `relay-server init` with the store flags (and `--public-url`, for the printed URLs) in `input`. */
export async function runInit(input: ServerConfigInput & { json?: unknown }, runtime: CliRuntime): Promise<void> {
  const config = resolveServerConfig(input);
  const { store, description } = await openConfiguredStore(config, runtime.sqliteDriver);
  try {
    const first = await bootstrapStore(store);
    if (input.json === true) {
      json(runtime.stdout, { store: description, created: first !== undefined, ...(first === undefined ? {} : first) });
      return;
    }
    if (first === undefined) {
      line(runtime.stdout, `The store ${description} is already set up; nothing was created. \`relay-server channel list\` and \`relay-server token list\` show what it holds.`);
      return;
    }
    const webhook = config.publicUrl === undefined ? `<relay URL>/hooks/${first.channel}` : `${config.publicUrl}/hooks/${first.channel}`;
    printFirstStart(runtime.stdout, webhook, config.publicUrl, first, storeFlags(config));
    line(runtime.stdout, `Store ${description} is ready; add channels and tokens now, then run \`relay-server start${storeFlags(config)}\`.`);
  } finally {
    await store.close();
  }
}
