import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { SERVER_ERRORS } from '../src/errors.js';

/** Rows of the first markdown table under `heading`: [code, status]. */
function tableRows(markdown: string, heading: string): [string, string][] {
  const section = markdown.split(/^## /m).find((s) => s.startsWith(heading)) ?? '';
  return [...section.matchAll(/^\| `(RELAY_E_[A-Z0-9_]+)` \| (\d+) \|/gm)].map((m) => [m[1] ?? '', m[2] ?? '']);
}

it('docs/errors.md lists exactly the server catalogue, with the same statuses', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const documented = tableRows(doc, 'relay-server (HTTP)');
  const catalogue = Object.entries(SERVER_ERRORS).map(([code, e]): [string, string] => [code, String(e.status)]);
  expect(documented.sort()).toEqual(catalogue.sort());
});

it('gives every cause its own message', () => {
  const messages = Object.values(SERVER_ERRORS).map((e) => e.message);
  expect(new Set(messages).size).toBe(messages.length);
});
