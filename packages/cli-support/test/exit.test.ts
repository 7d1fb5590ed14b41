import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { CLI_ERRORS, EXIT_CODES } from '../src/exit.js';

const doc = readFileSync(new URL('../../../docs/errors.md', import.meta.url), 'utf8');

function section(heading: string): string {
  return doc.split(/^## /m).find((s) => s.startsWith(heading)) ?? '';
}

it('docs/errors.md has one row per exit code, and no other', () => {
  const documented = [...section('Exit codes').matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
  expect(documented).toEqual(Object.values(EXIT_CODES));
});

it('docs/errors.md lists exactly the command-line catalogue, with the same exit codes and messages', () => {
  const documented = [...section('Command line').matchAll(/^\| `(RELAY_E_[A-Z0-9_]+)` \| (\d+) \| (.+) \|$/gm)].map((m) => [m[1], Number(m[2]), m[3]]);
  expect(documented.map(([code, exit]) => [code, exit])).toEqual(Object.entries(CLI_ERRORS).map(([code, e]) => [code, e.exitCode]));
  for (const [code, , text] of documented) expect(String(text)).toContain(CLI_ERRORS[code as keyof typeof CLI_ERRORS].message);
});
