/** Formats of times, sizes and durations shown on the page. */

const timeOfDay = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
const dateAndTime = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });

/** Local time of day with milliseconds, and the date too when it is not today. */
export function localTime(iso: string, now = new Date()): string {
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  const ms = String(at.getMilliseconds()).padStart(3, '0');
  const sameDay = at.toDateString() === now.toDateString();
  return `${sameDay ? timeOfDay.format(at) : dateAndTime.format(at)}.${ms}`;
}

/** "12 s ago", "in 3 min": how far a time is from now, roughly. */
export function relative(iso: string, now = Date.now()): string {
  const diff = new Date(iso).getTime() - now;
  const text = duration(Math.abs(diff));
  return diff >= 0 ? `in ${text}` : `${text} ago`;
}

/** A duration in the largest unit that keeps it readable: 850 ms, 12 s, 3 min, 2 h, 4 d. */
export function duration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${Math.round(s)} s`;
  const min = s / 60;
  if (min < 60) return `${Math.round(min)} min`;
  const hours = min / 60;
  if (hours < 48) return `${Math.round(hours)} h`;
  return `${Math.round(hours / 24)} d`;
}

/** Bytes as B, KiB or MiB. */
export function bytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** Latency of an attempt: whole milliseconds, or one decimal under 10 ms. */
export function latency(ms: number): string {
  return ms < 10 ? `${ms.toFixed(1)} ms` : `${Math.round(ms)} ms`;
}
