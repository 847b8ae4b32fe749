// Runtime timestamps are ISO strings with second precision; a malformed one must not throw inside a pure
// projection, so parsing yields null and callers treat "unknown time" explicitly.

export function toMs(value: string | null | undefined): number | null {
  if (value === null || value === undefined || value === "") return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/** true when `a` is strictly later than `b`; false when either is unknown. */
export function isAfter(a: string | null | undefined, b: string | null | undefined): boolean {
  const am = toMs(a);
  const bm = toMs(b);
  return am !== null && bm !== null && am > bm;
}

/** milliseconds from `at` to `now`, or null when `at` is unknown. */
export function ageMs(now: Date, at: string | null | undefined): number | null {
  const ms = toMs(at);
  return ms === null ? null : now.getTime() - ms;
}

export function addMs(at: string, ms: number): string | null {
  const base = toMs(at);
  return base === null ? null : new Date(base + ms).toISOString();
}
