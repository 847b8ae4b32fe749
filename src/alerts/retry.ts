// Retry policy, pure. Connection errors, timeouts, 408, 429 and 5xx are worth another try (after
// Retry-After when the receiver gives one); any other answer is final: 2xx delivered, the rest dead at once
// (a 400 or 403 will not get better by waiting).

export type Outcome = { kind: "delivered" } | { kind: "retry"; retryAfterMs: number | null } | { kind: "dead" };

export function classify(status: number | null, retryAfter: string | null, now: Date = new Date()): Outcome {
  if (status === null) return { kind: "retry", retryAfterMs: null };
  if (status >= 200 && status < 300) return { kind: "delivered" };
  if (status === 408 || status === 429 || status >= 500) return { kind: "retry", retryAfterMs: parseRetryAfter(retryAfter, now) };
  return { kind: "dead" };
}

/** Retry-After: delta-seconds or an HTTP-date; null when absent or unreadable. */
export function parseRetryAfter(value: string | null, now: Date): number | null {
  if (!value) return null;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  return Number.isNaN(t) ? null : Math.max(0, t - now.getTime());
}

/**
 * Delay before attempt `attempt + 1` (attempt = tries so far, ≥ 1): exponential with "equal jitter" (half fixed,
 * half random) so a burst of failures does not retry in lockstep; Retry-After wins when longer, capped by maxMs
 * at most an hour.
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, retryAfterMs: number | null, random: () => number = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = exp / 2 + (random() * exp) / 2;
  if (retryAfterMs === null) return Math.round(jittered);
  return Math.round(Math.min(Math.max(retryAfterMs, jittered), Math.max(maxMs, 3_600_000)));
}
