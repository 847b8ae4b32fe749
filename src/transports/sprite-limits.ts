import { retryAfterMs, type HttpResponse } from "./http";

// The Sprites API refuses work beyond the organisation's limits (how many Sprites may run or stay warm at once,
// how fast new ones may be created) with HTTP 429 and a JSON body the official JS SDK (@fly/sprites,
// parseAPIError) reads as `{error: <code>, message, limit, window_seconds, current_count, retry_after_seconds,
// upgrade_url}` next to a Retry-After header. Such a refusal is not a transient rate limit worth retrying within
// a request: the Sprite cannot wake until another one sleeps, so the operator must see which limit it was.
// Only the code (when it is a plain identifier) and the numbers are kept: the API's own words are not repeated
// (docs/sprites.md: a peer's text never reaches viewer-readable fields).

export interface SpriteLimit {
  /** The API's code, e.g. concurrent_sprite_limit_exceeded. */
  code: string;
  /** What is limited, for the operator ("running Sprites"). */
  what: string;
  limit: number | null;
  current: number | null;
  retryAfterSeconds: number | null;
}

/** Codes the SDK names, and the per-org warm limit; any other `*_limit_exceeded` code is kept as a limit too. */
const KNOWN: Record<string, string> = {
  concurrent_sprite_limit_exceeded: "running Sprites",
  warm_sprite_limit_exceeded: "warm Sprites",
  sprite_creation_rate_limited: "Sprite creations",
};
const CODE = /^[a-z][a-z0-9_]{0,63}$/;

const count = (v: unknown): number | null => (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : null);

/** The limit a 429 answer names, or null for any other answer (a plain rate limit is retried as usual). */
export function spriteLimitOf(res: HttpResponse): SpriteLimit | null {
  if (res.status !== 429) return null;
  let body: unknown;
  try {
    body = JSON.parse(res.body.toString("utf8"));
  } catch {
    return null;
  }
  if (typeof body !== "object" || body === null) return null;
  const b = body as Record<string, unknown>;
  const code = typeof b.error === "string" && CODE.test(b.error) ? b.error : null;
  if (code === null || !(code in KNOWN || code.endsWith("_limit_exceeded"))) return null;
  const header = retryAfterMs(res.headers);
  return {
    code,
    what: KNOWN[code] ?? code.replace(/_limit_exceeded$/, "").replace(/_/g, " "),
    limit: count(b.limit),
    current: count(b.current_count),
    retryAfterSeconds: count(b.retry_after_seconds) ?? (header === null ? null : Math.ceil(header / 1000)),
  };
}

/** One line for the intent's observation and the run's health reason. */
export function describeSpriteLimit(l: SpriteLimit, action: string): string {
  const numbers = [l.limit !== null ? `limit ${l.limit}` : null, l.current !== null ? `${l.current} now` : null, l.retryAfterSeconds !== null ? `retry after ${l.retryAfterSeconds} s` : null].filter(
    (x): x is string => x !== null,
  );
  return `the Sprites API refused ${action}: the organisation's limit on ${l.what} is reached (${l.code}${numbers.length ? `; ${numbers.join(", ")}` : ""}); stop or let another Sprite sleep, or raise the limit`;
}
