// How long the manager's own requests keep a Sprite awake (docs/sprites.md: a Sprite goes warm ~30 s after its last
// activity, and every fs/exec request, or request to a service in it, is activity). An estimate, not a bill: each
// request is taken to keep the Sprite awake one idle period after it; overlapping periods count once.

export const SPRITE_IDLE_MS = 30_000;

export class AwakeMeter {
  private until = 0;
  private pendingMs = 0;

  constructor(private readonly windowMs = SPRITE_IDLE_MS) {}

  /** A request that reached the Sprite at `at`. */
  touch(at = Date.now()): void {
    const end = at + this.windowMs;
    if (end <= this.until) return;
    this.pendingMs += end - Math.max(at, this.until);
    this.until = end;
  }

  /** Milliseconds accrued since the last call (the caller adds them to the Sprite's total). */
  take(): number {
    const ms = this.pendingMs;
    this.pendingMs = 0;
    return ms;
  }
}
