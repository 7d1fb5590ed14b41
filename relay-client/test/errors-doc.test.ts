import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { CLIENT_ERRORS } from '../src/errors.js';

it('docs/errors.md lists exactly the client catalogue, with the same exit codes', () => {
  const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
  const section = doc.split(/^## /m).find((s) => s.startsWith('relay-client')) ?? '';
  const documented = [...section.matchAll(/^\| `(RELAY_E_[A-Z0-9_]+)` \| (\d) \|/gm)].map((m) => [m[1], m[2]]);
  const catalogue = Object.entries(CLIENT_ERRORS).map(([code, e]) => [code, String(e.exitCode)]);
  expect(documented.sort()).toEqual(catalogue.sort());
});
