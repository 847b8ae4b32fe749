import type pg from "pg";

// Sprite.lastSeenAt ("last time the Sprite answered") is refreshed at most once a minute per Sprite while its
// status does not change. One UPDATE per Sprite per minute made every idle poll of a 10,000-run fleet wait on
// the connection pool ~170 times a second (bench:fleet); the refreshes are gathered here and written together,
// one statement per FLUSH_MS for every Sprite seen meanwhile. A status change is still written at once by the
// poller (it becomes a transition of the run).

export const FLUSH_MS = 5_000;
const CHUNK = 5_000;

export class SeenSprites {
  private pending = new Map<string, Date>();
  private timer: NodeJS.Timeout | null = null;
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly pool: pg.Pool,
    private readonly onError: (e: unknown) => void,
    private readonly flushMs = FLUSH_MS,
  ) {}

  /** The Sprite answered at `at`: written with the next flush. */
  mark(spriteId: string, at: Date): void {
    this.pending.set(spriteId, at);
    if (this.timer || this.flushMs <= 0) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.flush().catch(this.onError);
    }, this.flushMs);
    this.timer.unref();
  }

  async flush(): Promise<void> {
    await this.flushing;
    if (!this.pending.size) return;
    const batch = [...this.pending];
    this.pending = new Map();
    this.flushing = (async () => {
      for (let i = 0; i < batch.length; i += CHUNK) {
        const part = batch.slice(i, i + CHUNK);
        // Never moves lastSeenAt backwards (a status change written meanwhile may carry a later time).
        await this.pool.query(
          `UPDATE "Sprite" s SET "lastSeenAt" = v.at FROM unnest($1::text[], $2::timestamptz[]) AS v(id, at)
            WHERE s.id = v.id AND (s."lastSeenAt" IS NULL OR s."lastSeenAt" < v.at)`,
          [part.map(([id]) => id), part.map(([, at]) => at)],
        );
      }
    })().finally(() => (this.flushing = null));
    await this.flushing;
  }

  /** Writes what is pending (at shutdown). */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush();
  }
}
