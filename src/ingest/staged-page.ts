import type pg from "pg";
import { insertEvents, type StagedRows } from "./commit";
import type { EventRow } from "./rows";

// A catch-up page's rows COPYed into a transaction of their own on a second connection while the page before
// is still committing on the first. The rest of the page's commit (the run's lock, the seq, cursor and lease
// checks, the projection) then happens in that same transaction once the page before has committed
// (src/runs/writer.ts `begun`): the page's events, cursor and projection still commit together or not at all,
// and a page whose checks fail rolls its rows back with everything else. What this buys: the database inserts
// the next page during the previous page's lock, update, commit and evaluation instead of after them
// (bench:ingest: the median of runs went from 0.80 to 0.85 of the raw insert).
// Inserting before the run's lock is safe: rows of another page do not conflict with these, the run writers
// lock the run FOR NO KEY UPDATE (which the rows' foreign key check does not wait for, nor it for them), and
// two writers of the same lines meet at the unique index: the later one waits for the first and then fails
// as a cursor conflict, or, when the first is waiting for the run's lock the later one holds, PostgreSQL ends
// one of them as a deadlock, which the writer reports as a lost race too.

type Stage = "staged" | "taken" | "aborted";

/**
 * Pages being staged (started, not yet taken by their commit or aborted) per pool. At most a quarter of the
 * pool's connections: a staged page waits for the commit before it, which may itself wait for a connection of
 * the pool (a poll's first page, a page that was not staged, the intents read after a commit), so the pool must
 * keep connections for them and for every other user. A pool of fewer than 4 stages nothing.
 */
const staging = new WeakMap<pg.Pool, number>();
const STAGING_SHARE = 4;

export class StagedPage implements StagedRows {
  private stage: Stage = "staged";
  /** Counts this page out of the pool's staging pages. */
  private readonly settle: () => void;
  private readonly client: Promise<pg.PoolClient>;
  /** How many rows the transaction holds once they are in it, or why they are not (the COPY's error). */
  readonly copied: Promise<number>;

  private constructor(
    pool: pg.Pool,
    runId: string,
    /** The rows in the transaction: the commit that takes it must be committing exactly these. */
    readonly rows: readonly EventRow[],
    /** The page before's COPY: one COPY of a run at a time (two at once slowed each other and the rest). */
    after: Promise<unknown>,
  ) {
    staging.set(pool, (staging.get(pool) ?? 0) + 1);
    this.settle = () => staging.set(pool, (staging.get(pool) ?? 1) - 1);
    const connect = () => pool.connect();
    this.client = after.then(connect, connect);
    this.copied = this.client.then(async (c) => {
      await c.query("BEGIN");
      return insertEvents(c, runId, rows);
    });
    // Observed by take or abort; never an unhandled rejection meanwhile.
    this.copied.catch(() => {});
    this.client.catch(() => {});
  }

  /**
   * Stages `rows` for run `runId`: COPYed once `after` (the page before's COPY) has settled. Null when the pool
   * has no connection to spare or its share for staging is taken: the page then commits as usual.
   */
  static start(pool: pg.Pool, runId: string, rows: readonly EventRow[], after: Promise<unknown> = Promise.resolve()): StagedPage | null {
    const max = pool.options.max ?? 10;
    if (rows.length === 0 || pool.waitingCount > 0 || (staging.get(pool) ?? 0) >= Math.floor(max / STAGING_SHARE)) return null;
    if (pool.idleCount === 0 && pool.totalCount >= max) return null;
    return new StagedPage(pool, runId, rows, after);
  }

  /**
   * The connection, its transaction holding the page's rows, for the commit to go on in (and end: commit or
   * roll back, then release). Throws what the COPY failed with, the transaction rolled back.
   */
  async take(): Promise<pg.PoolClient> {
    if (this.stage !== "staged") throw new Error(`staged page already ${this.stage}`);
    this.stage = "taken";
    this.settle();
    const client = await this.client;
    try {
      await this.copied;
      return client;
    } catch (e) {
      await endUnused(client);
      throw e;
    }
  }

  /** The page is not committed from this transaction (its commit did not happen, or took another way): rolled back. */
  async abort(): Promise<void> {
    if (this.stage !== "staged") return;
    this.stage = "aborted";
    this.settle();
    const client = await this.client.catch(() => null);
    if (!client) return;
    await this.copied.catch(() => {});
    await endUnused(client);
  }
}

async function endUnused(client: pg.PoolClient): Promise<void> {
  try {
    await client.query("ROLLBACK");
    client.release();
  } catch (e) {
    // A connection that cannot roll back is not handed to anyone else.
    client.release(e instanceof Error ? e : new Error(String(e)));
  }
}
