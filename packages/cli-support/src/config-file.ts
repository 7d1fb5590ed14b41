import { readFileSync } from 'node:fs';
import { closest } from './suggest.js';

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** What {@link readConfigFile} found: the settings, or why the file cannot be used. */
export type ConfigFileResult = { ok: true; settings: Record<string, unknown> } | { ok: false; problem: string };

/**
 * Reads a `--config` JSON file: an object whose keys are long option names, kebab- or camelCase.
 * A key no command of the CLI knows is a problem, named with the closest known key, so a typo
 * is not silently ignored.
 *
 * @param knownKeys - every long option name (kebab-case) the file may set.
 */
export function readConfigFile(path: string, knownKeys: Iterable<string>): ConfigFileResult {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'a directory, not a file' : (code ?? String(error));
    return { ok: false, problem: `cannot read "${path}" (${why})` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, problem: `"${path}" is not JSON (${(error as Error).message})` };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, problem: `"${path}" must hold a JSON object of settings, e.g. {"data-dir": "/var/lib/relay"}` };
  const known = new Set(knownKeys);
  const unknown = Object.keys(value).filter((key) => !known.has(kebab(key)));
  if (unknown.length > 0) {
    const named = unknown.map((key) => {
      const suggestion = closest(kebab(key), known);
      return `"${key.slice(0, 60)}"${suggestion === undefined ? '' : ` (did you mean "${suggestion}"?)`}`;
    });
    return { ok: false, problem: `"${path}" has unknown key${unknown.length > 1 ? 's' : ''} ${named.join(', ')}; keys are long option names` };
  }
  return { ok: true, settings: value as Record<string, unknown> };
}

/**
 * The `--config` path typed on the command line (`--config x.json` or `--config=x.json`, the last
 * one wins), up to a `--`. yargs reads config files through a callback whose errors it replaces
 * with its own text, so the CLIs read the file themselves before parsing.
 */
export function configPathFromArgv(argv: readonly string[]): string | undefined {
  let path: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--') break;
    if (arg === '--config') path = argv[i + 1];
    else if (arg.startsWith('--config=')) path = arg.slice('--config='.length);
  }
  return path;
}
