import { readFileSync } from 'node:fs';

/**
 * Version of relay-client, sent in `hello.agent` and printed by `relay-client --version`: the one
 * in its package.json (read once, at start-up), so a release changes it in one place.
 */
export const CLIENT_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/**
 * The `hello.agent` text: software and runtime, e.g. `relay-client/0.1.0 node/20.11.0`. Only for
 * the relay's logs, so it names nothing about the user.
 *
 * @param runtime - runtime name and version; default the running Node.js.
 */
export function userAgent(runtime = `node/${process.versions.node}`): string {
  return `relay-client/${CLIENT_VERSION} ${runtime}`;
}
