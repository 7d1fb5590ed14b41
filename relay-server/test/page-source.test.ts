import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const PAGE = fileURLToPath(new URL('../page/', import.meta.url));

function files(dir: string, ending: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path, ending) : name.endsWith(ending) ? [path] : [];
  });
}

it('builds the page with DOM calls only: no HTML parsing, no code from strings', () => {
  const sources = files(join(PAGE, 'src'), '.ts');
  expect(sources.length).toBeGreaterThan(5);
  for (const path of sources) {
    const text = readFileSync(path, 'utf8');
    for (const sink of [/\.innerHTML\b/, /\.outerHTML\b/, /insertAdjacentHTML/, /document\.write/, /\beval\(/, /new Function\(/, /\.setHTMLUnsafe\(/, /createContextualFragment/, /DOMParser/]) {
      expect(sink.test(text), `${path} uses ${String(sink)}`).toBe(false);
    }
  }
});

it('keeps styles in the stylesheet: no inline style for the Content-Security-Policy to allow', () => {
  for (const path of [...files(join(PAGE, 'src'), '.ts'), ...files(join(PAGE, 'static'), '.html')]) {
    const text = readFileSync(path, 'utf8');
    expect(/\.style\b|setAttribute\(\s*['"]style|\sstyle=|<style/.test(text), path).toBe(false);
  }
});
