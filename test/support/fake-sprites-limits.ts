// The fake Sprites API's per-organisation limits (docs/sprites.md): how many Sprites may be running at once, and
// how many may be awake at all (warm or running). A request that would wake a Sprite beyond a limit is refused
// with HTTP 429, Retry-After and the body the official JS SDK parses (parseAPIError: `{error, message, limit,
// current_count, retry_after_seconds}`); `concurrent_sprite_limit_exceeded` is the SDK's code for the running
// limit, `warm_sprite_limit_exceeded` the fake's for the warm one. Reading a Sprite's record never wakes it and
// is never refused.

export interface OrgLimits {
  /** Sprites running at once (null = no limit). */
  running: number | null;
  /** Sprites awake at once, warm or running (null = no limit). */
  warm: number | null;
  /** Seconds the refusal asks the client to wait. */
  retryAfterSeconds: number;
}

export interface LimitRefusal {
  status: 429;
  headers: Record<string, string>;
  body: { error: string; message: string; limit: number; current_count: number; retry_after_seconds: number };
}

type Status = "cold" | "warm" | "running";

/** The refusal for waking `target` (status `from`) among `all` Sprites' statuses, or null when it may wake. */
export function wakeRefusal(limits: OrgLimits, from: Status, others: readonly Status[]): LimitRefusal | null {
  if (from === "running") return null;
  const running = others.filter((s) => s === "running").length;
  const awake = others.filter((s) => s !== "cold").length;
  const refuse = (error: string, what: string, limit: number, current: number): LimitRefusal => ({
    status: 429,
    headers: { "retry-after": String(limits.retryAfterSeconds) },
    body: { error, message: `organization limit of ${limit} ${what} reached`, limit, current_count: current, retry_after_seconds: limits.retryAfterSeconds },
  });
  if (limits.running !== null && running >= limits.running) return refuse("concurrent_sprite_limit_exceeded", "running sprites", limits.running, running);
  if (from === "cold" && limits.warm !== null && awake >= limits.warm) return refuse("warm_sprite_limit_exceeded", "warm sprites", limits.warm, awake);
  return null;
}
