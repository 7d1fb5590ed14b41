/** Where the workflow commands write, and how. */
import type { OutputStream } from '../renderer/text.js';

export type { OutputStream } from '../renderer/text.js';

/** The two streams of a command: data on `out`, notes and hints for people on `err`. */
export interface CommandOutput {
  /** What the command produces: lines of text, or JSON with `--json`. */
  out: OutputStream;
  /** Progress, hints and warnings, kept off `out` so its data can be piped. */
  err: OutputStream;
}

/** Writes each line followed by a newline. */
export function writeLines(stream: OutputStream, lines: readonly string[]): void {
  if (lines.length > 0) stream.write(`${lines.join('\n')}\n`);
}

/** Writes a value as indented JSON, for commands whose `--json` output is one document. */
export function writeJson(stream: OutputStream, value: unknown): void {
  stream.write(`${JSON.stringify(value, null, 2)}\n`);
}
