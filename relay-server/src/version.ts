import { readFileSync } from 'node:fs';

/** This relay-server's version, from its package.json (read once, at start-up). */
export const SERVER_VERSION: string = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
