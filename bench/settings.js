// The BENCH_* settings every bench script reads from the environment, and how a bad one is
// reported: one line on standard error naming the variable, exit code 1, no stack trace.

/** A bad BENCH_* variable. */
export class SettingError extends Error {}

/** The variable's text, or undefined when it is unset or blank. */
function textOf(/** @type {string} */ name) {
  const text = process.env[name];
  return text === undefined || text.trim() === '' ? undefined : text;
}

/**
 * A number above 0 (or 0 when `allowZero`), a whole one when `integer`.
 *
 * @param {string} name
 * @param {number} fallback  when the variable is unset or blank
 * @param {{ allowZero?: boolean, integer?: boolean, example?: string }} [rules]
 */
export function numberFromEnv(name, fallback, { allowZero = false, integer = false, example } = {}) {
  const text = textOf(name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || (value === 0 && !allowZero) || (integer && !Number.isInteger(value))) {
    const kind = integer ? 'whole number' : 'number';
    const hint = example === undefined ? '' : `, e.g. ${example}`;
    throw new SettingError(`bench: ${name}="${text}" is not a valid ${kind} (expected ${allowZero ? '0 or more' : 'more than 0'}${hint})`);
  }
  return value;
}

/** A number of seconds, e.g. `5` or `0.5`. */
export function secondsFromEnv(/** @type {string} */ name, /** @type {number} */ fallback, { allowZero = false } = {}) {
  return numberFromEnv(name, fallback, { allowZero, example: '5 or 0.5' });
}

/** Whole numbers of 1 or more separated by commas, e.g. `2,10,20`; empty when unset. */
export function numbersFromEnv(/** @type {string} */ name) {
  const text = textOf(name);
  if (text === undefined) return [];
  const values = text.split(',').map((part) => Number(part.trim()));
  if (values.some((v) => !Number.isInteger(v) || v < 1)) throw new SettingError(`bench: ${name} must list whole numbers of 1 or more separated by commas, e.g. "2,10"; got "${text}"`);
  return values;
}

/**
 * Some of `choices`, separated by commas (any case); all of them when unset.
 *
 * @param {string} name
 * @param {readonly string[]} choices
 * @param {string} what  what the choices are, for the error, e.g. `section numbers 1-5`
 */
export function choicesFromEnv(name, choices, what) {
  const text = textOf(name);
  if (text === undefined) return new Set(choices);
  const picked = text.split(',').map((part) => part.trim().toLowerCase());
  if (picked.some((part) => !choices.includes(part))) {
    throw new SettingError(`bench: ${name} must list ${what} separated by commas, e.g. "${choices.slice(0, 2).join(',')}"; got "${text}"`);
  }
  return new Set(picked);
}

/** Words separated by white space (command-line flags); empty when unset. */
export function wordsFromEnv(/** @type {string} */ name) {
  return (process.env[name] ?? '').split(/\s+/).filter((word) => word !== '');
}

/** Runs a bench script's `main`; a {@link SettingError} ends it with its one line and exit code 1. */
export async function runBench(/** @type {() => Promise<void>} */ main) {
  try {
    await main();
  } catch (error) {
    if (!(error instanceof SettingError)) throw error;
    process.stderr.write(`${error.message}\n`);
    process.exitCode = 1;
  }
}
