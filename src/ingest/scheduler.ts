// Decides when each run is polled: on its interval (with jitter, backing off after errors), at once when the
// transport says its files changed, or when someone calls syncRun. Never two polls of one run at a time:
// a request that arrives during a poll runs once more right after it.

export interface SchedulerOptions {
  intervalMs: (runId: string) => number;
  poll: (runId: string) => Promise<void>;
  /** Whether the last poll of the run failed, for backoff; the poll function reports through onResult. */
  maxBackoffMs?: number;
  jitter?: number;
  /**
   * Polls running at once, the rest wait their turn: 10,000 runs registered or started together would otherwise
   * all ask the connection pool at once, and every other user of the pool (the API) would time out behind them.
   */
  maxConcurrent?: number;
  onError?: (runId: string, error: unknown) => void;
}

interface Slot {
  timer: NodeJS.Timeout | null;
  inFlight: Promise<void> | null;
  again: boolean;
  failures: number;
  waiters: (() => void)[];
}

export class Scheduler {
  private slots = new Map<string, Slot>();
  private stopped = false;
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly opts: SchedulerOptions) {}

  get size(): number {
    return this.slots.size;
  }

  has(runId: string): boolean {
    return this.slots.has(runId);
  }

  add(runId: string, { immediate = true } = {}): void {
    if (this.stopped || this.slots.has(runId)) return;
    this.slots.set(runId, { timer: null, inFlight: null, again: false, failures: 0, waiters: [] });
    if (immediate) void this.trigger(runId);
    else this.arm(runId, this.delay(runId, 0));
  }

  remove(runId: string): void {
    const slot = this.slots.get(runId);
    if (!slot) return;
    if (slot.timer) clearTimeout(slot.timer);
    this.slots.delete(runId);
    for (const w of slot.waiters.splice(0)) w();
  }

  /** Poll now (or right after the poll in flight); resolves when a poll that started after this call ends. */
  trigger(runId: string): Promise<void> {
    const slot = this.slots.get(runId);
    if (!slot || this.stopped) return Promise.resolve();
    const done = new Promise<void>((resolve) => slot.waiters.push(resolve));
    if (slot.inFlight) {
      slot.again = true;
      return done;
    }
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = null;
    this.run(runId, slot);
    return done;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    const inFlight: Promise<void>[] = [];
    for (const [, slot] of this.slots) {
      if (slot.timer) clearTimeout(slot.timer);
      if (slot.inFlight) inFlight.push(slot.inFlight);
      for (const w of slot.waiters.splice(0)) w();
    }
    await Promise.allSettled(inFlight);
    this.slots.clear();
  }

  private run(runId: string, slot: Slot): void {
    const waiters = slot.waiters.splice(0);
    slot.inFlight = this.gated(() => this.opts.poll(runId))
      .then(
        () => {
          slot.failures = 0;
        },
        (e: unknown) => {
          slot.failures++;
          this.opts.onError?.(runId, e);
        },
      )
      .finally(() => {
        slot.inFlight = null;
        for (const w of waiters) w();
        if (this.stopped || this.slots.get(runId) !== slot) return;
        if (slot.again) {
          slot.again = false;
          this.run(runId, slot);
        } else {
          this.arm(runId, this.delay(runId, slot.failures));
        }
      });
  }

  /** Runs `poll` once fewer than maxConcurrent polls are running (skipped if the scheduler stopped meanwhile). */
  private async gated(poll: () => Promise<void>): Promise<void> {
    if (this.active >= (this.opts.maxConcurrent ?? Infinity)) await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.stopped) {
      this.waiting.shift()?.();
      return;
    }
    this.active++;
    try {
      await poll();
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }

  private arm(runId: string, ms: number): void {
    const slot = this.slots.get(runId);
    if (!slot || this.stopped) return;
    if (slot.timer) clearTimeout(slot.timer);
    slot.timer = setTimeout(() => {
      slot.timer = null;
      if (!slot.inFlight) this.run(runId, slot);
    }, ms);
    slot.timer.unref();
  }

  private delay(runId: string, failures: number): number {
    const base = this.opts.intervalMs(runId);
    const backoff = Math.min(base * 2 ** Math.min(failures, 10), this.opts.maxBackoffMs ?? 60_000);
    const jitter = this.opts.jitter ?? 0.1;
    return Math.max(10, Math.round(Math.max(base, backoff) * (1 - jitter + Math.random() * 2 * jitter)));
  }
}
