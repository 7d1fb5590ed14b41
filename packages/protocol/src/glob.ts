/**
 * Event-type filters for `subscribe.events`. The server applies them before delivery; the client
 * validates the user's patterns with the same rules before it sends them.
 */
import { MAX_NAME_LENGTH, validateText } from './messages.js';

/** Longest event-type glob pattern, in characters: 128. */
export const MAX_EVENT_PATTERN_LENGTH = MAX_NAME_LENGTH;

/**
 * Why `pattern` is not a valid event-type glob, or `undefined` when it is: 1-128 characters, no
 * control characters. Every other character is allowed; only `*` and `?` are special.
 */
export function validateEventPattern(pattern: string): string | undefined {
  return validateText(pattern, MAX_EVENT_PATTERN_LENGTH);
}

/**
 * Builds a predicate telling whether an event type matches any of `patterns`.
 *
 * `*` matches any run of characters, dots included, so `call.*` matches `call.answered` and
 * `call.ivr.input`; `?` matches exactly one character; everything else matches itself,
 * case-sensitively. Splitting a comma-separated list is the CLI's job.
 *
 * @param patterns - globs; `undefined` or an empty list matches every event type (the default).
 * @throws RangeError when a pattern fails {@link validateEventPattern}; decoded `subscribe`
 *   messages never contain such patterns.
 */
export function compileEventFilter(patterns: readonly string[] | undefined): (eventType: string) => boolean {
  if (patterns === undefined || patterns.length === 0) return () => true;
  const compiled = patterns.map((pattern) => {
    const problem = validateEventPattern(pattern);
    if (problem !== undefined) throw new RangeError(`Event pattern ${JSON.stringify(pattern)} ${problem}`);
    return Array.from(pattern);
  });
  return (eventType) => {
    const subject = Array.from(eventType);
    return compiled.some((glob) => globMatch(glob, subject));
  };
}

/*
 * Iterative matcher that remembers only the latest `*`: O(pattern × subject) in the worst case,
 * where a regular expression built from the glob could backtrack exponentially on patterns such
 * as `*a*a*a*a*b`. Works on code points so `?` matches one character, not one UTF-16 unit.
 */
function globMatch(glob: readonly string[], subject: readonly string[]): boolean {
  let g = 0;
  let s = 0;
  let starG = -1;
  let starS = 0;
  while (s < subject.length) {
    const c = glob[g];
    if (c === '*') {
      starG = g++;
      starS = s;
    } else if (c !== undefined && (c === '?' || c === subject[s])) {
      g++;
      s++;
    } else if (starG !== -1) {
      // Let the last star swallow one more character and retry the rest of the glob from there.
      g = starG + 1;
      s = ++starS;
    } else {
      return false;
    }
  }
  while (glob[g] === '*') g++;
  return g === glob.length;
}
