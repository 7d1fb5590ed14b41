/**
 * Durations, as every setting, flag and `since` value writes them: one or more parts of a number
 * (decimals allowed) and a unit, each unit at most once, largest first: `500ms`, `30s`, `1.5h`,
 * `1h30m`, `7d`, `2w`. Units: `w`, `d`, `h`, `m`, `s`, `ms`.
 *
 * A bare number never silently means milliseconds: for settings it is refused with a suggestion
 * (`30` → "write 30s or 30ms"), except `0`, which needs no unit; for `since` values it is a
 * sequence number (see `parseSince`).
 */

const UNITS = ['w', 'd', 'h', 'm', 's', 'ms'] as const;
type DurationUnit = (typeof UNITS)[number];
const UNIT_MS: Readonly<Record<DurationUnit, number>> = { w: 604_800_000, d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

// `ms` before `m` and `s`, so the alternation takes the longer unit.
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|w|d|h|m|s)/gy;
const BARE_NUMBER = /^\d+(?:\.\d+)?$/;

/** Result of {@link readDuration}: milliseconds, or why the text is not a duration. */
export type DurationResult = { ok: true; ms: number } | { ok: false; reason: string };

/**
 * Reads a duration (see the module comment). Surrounding spaces are ignored. A JSON number from a
 * config file is read like the same digits typed on the command line.
 */
export function readDuration(input: string | number): DurationResult {
  const text = String(input).trim();
  if (text === '0') return { ok: true, ms: 0 };
  if (BARE_NUMBER.test(text)) return { ok: false, reason: `"${text}" has no unit: write ${text}s for seconds or ${text}ms for milliseconds` };
  DURATION_PART.lastIndex = 0;
  let total = 0;
  let consumed = 0;
  let lastUnit = -1;
  for (let m = DURATION_PART.exec(text); m; m = DURATION_PART.exec(text)) {
    const unit = m[2] as DurationUnit;
    const order = UNITS.indexOf(unit);
    if (order <= lastUnit) return { ok: false, reason: `"${text}" must list each unit once, largest first (w, d, h, m, s, ms), e.g. 1h30m` };
    lastUnit = order;
    total += Number(m[1]) * UNIT_MS[unit];
    consumed = DURATION_PART.lastIndex;
  }
  if (consumed === 0 || consumed !== text.length) return { ok: false, reason: `"${text.slice(0, 64)}" is not a duration such as 500ms, 30s, 1.5h or 1h30m` };
  const ms = Math.round(total);
  if (!Number.isSafeInteger(ms)) return { ok: false, reason: `"${text.slice(0, 64)}" is longer than any duration the relay keeps` };
  return { ok: true, ms };
}

/** {@link readDuration}'s milliseconds, or `undefined` when the text is not a duration. */
export function parseDuration(input: string | number): number | undefined {
  const result = readDuration(input);
  return result.ok ? result.ms : undefined;
}

/** Writes milliseconds the way {@link readDuration} reads them back: `7d`, `1h30m`, `1s500ms`, `250ms` (never weeks). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  let rest = Math.round(ms);
  let out = '';
  for (const unit of UNITS.slice(1)) {
    const size = UNIT_MS[unit];
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out;
}
