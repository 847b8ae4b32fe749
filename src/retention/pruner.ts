import type pg from "pg";
import type { Logger } from "../util/log";
import { ageCutoff, effectivePolicy, keepFrom, type RetentionPolicy } from "./policy";
import { parsePolicy, readFleetRetention } from "./store";

// The retention worker: every interval, prunes the oldest events of runs whose policy (or archive) allows it, a
// bounded number per tick, each DELETE of at most CHUNK rows in its own short transaction. It holds the run's row
// lock only for one chunk, so an ingest commit of that run waits milliseconds at most, and other runs not at all.
// In cluster mode only the holder of the "retention" lease prunes (src/alerts/lease.ts).

const CHUNK = 1_000;

export interface PruneOutcome {
  runs: number;
  pruned: number;
}

interface Candidate {
  id: string;
  cursorLine: number;
  eventsRetainedFrom: number;
  policy: RetentionPolicy | null;
  archivedLines: number | null;
}

/** Archived runs keep only what came after their archive (and the cursor's line). */
function archivedLinesOf(archive: unknown): number | null {
  const lines = (archive as { lines?: unknown } | null)?.lines;
  return typeof lines === "number" && Number.isInteger(lines) && lines > 0 ? lines : null;
}

async function candidates(pool: pg.Pool): Promise<Candidate[]> {
  const fleet = (await readFleetRetention(pool)).policy;
  const rows = await pool.query<{ id: string; cursorLine: number; eventsRetainedFrom: number; retention: unknown; archive: unknown }>(
    `SELECT r.id, r."cursorLine", r."eventsRetainedFrom", s.retention, r.archive FROM "Run" r JOIN "Sprite" s ON s.id = r."spriteId"
      WHERE r."cursorLine" > r."eventsRetainedFrom" AND r."ingestStatus" = 'OK' AND (r.archive IS NOT NULL OR s.retention IS NOT NULL OR $1)
      ORDER BY r."cursorLine" - r."eventsRetainedFrom" DESC`,
    [fleet !== null],
  );
  return rows.rows
    .map((r) => ({ id: r.id, cursorLine: r.cursorLine, eventsRetainedFrom: r.eventsRetainedFrom, policy: effectivePolicy(fleet, parsePolicy(r.retention)), archivedLines: archivedLinesOf(r.archive) }))
    .filter((c) => c.policy !== null || c.archivedLines !== null);
}

/**
 * Prunes one chunk of one run, under its row lock: re-reads the cursor, the ingest status and the open intents
 * in the same transaction, so nothing an intent or a fork check needs can go between the decision and the DELETE.
 * Returns the number of events deleted.
 */
export async function pruneChunk(pool: pg.Pool, c: Candidate, now: Date, max: number): Promise<number> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const run = await client.query<{ cursorLine: number; eventsRetainedFrom: number; ingestStatus: string }>(
      `SELECT "cursorLine", "eventsRetainedFrom", "ingestStatus" FROM "Run" WHERE id = $1 FOR NO KEY UPDATE`,
      [c.id],
    );
    const row = run.rows[0];
    if (!row) {
      await client.query("ROLLBACK");
      return 0;
    }
    const intents = await client.query<{ observedLine: number | null }>(`SELECT "observedLine" FROM "ControlIntent" WHERE "runId" = $1 AND stage IN ('REQUESTED', 'DISPATCHED', 'ACCEPTED')`, [c.id]);
    const guard = { cursorLine: row.cursorLine, ingestUnresolved: row.ingestStatus !== "OK", openIntents: intents.rows };
    const window = Math.min(max, CHUNK);
    // The furthest any rule may go: the cursor's line and every open intent's evidence stay.
    const guardKeep = keepFrom({ maxEventsPerRun: 1 }, guard, null);
    let policyKeep = 1;
    if (c.policy) {
      let firstYoung: number | null = null;
      const cutoff = ageCutoff(c.policy, now);
      if (cutoff) {
        // Only the next `window` lines can go in this chunk: look for the first young one among them.
        const young = await client.query<{ line: number | null }>(
          `SELECT min(line) AS line FROM (SELECT line, "timestamp" FROM "Event" WHERE "runId" = $1 AND line >= $2 ORDER BY line LIMIT $3) w WHERE "timestamp" >= $4`,
          [c.id, row.eventsRetainedFrom, window, cutoff],
        );
        firstYoung = young.rows[0]?.line ?? row.eventsRetainedFrom + window;
      }
      policyKeep = keepFrom(c.policy, guard, firstYoung);
    }
    // An archived run keeps only what came after its archive.
    const archiveKeep = c.archivedLines !== null ? Math.min(c.archivedLines + 1, guardKeep) : 1;
    const keep = Math.max(policyKeep, archiveKeep);
    const upTo = Math.min(keep, row.eventsRetainedFrom + window);
    if (upTo <= row.eventsRetainedFrom) {
      await client.query("ROLLBACK");
      return 0;
    }
    const del = await client.query(`DELETE FROM "Event" WHERE "runId" = $1 AND line < $2`, [c.id, upTo]);
    await client.query(`UPDATE "Run" SET "eventsRetainedFrom" = $2 WHERE id = $1`, [c.id, upTo]);
    await client.query("COMMIT");
    return del.rowCount ?? 0;
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}

/**
 * Whether a run may have anything to prune, without locking it: most runs of a large fleet have nothing (their
 * history is within the count, their oldest line is young), and need no row lock each pass to find that out.
 */
async function worthAChunk(pool: pg.Pool, c: Candidate, now: Date): Promise<boolean> {
  if (c.archivedLines !== null && c.archivedLines >= c.eventsRetainedFrom) return true;
  if (!c.policy) return false;
  if (c.policy.maxEventsPerRun !== undefined && c.cursorLine - c.eventsRetainedFrom + 1 > c.policy.maxEventsPerRun) return true;
  const cutoff = ageCutoff(c.policy, now);
  if (!cutoff) return false;
  const oldest = await pool.query<{ old: boolean }>(`SELECT "timestamp" < $3 AS old FROM "Event" WHERE "runId" = $1 AND line = $2`, [c.id, c.eventsRetainedFrom, cutoff]);
  return oldest.rows[0]?.old ?? false;
}

/** One pass: at most `budget` events over all runs, largest backlog first. */
export async function pruneOnce(pool: pg.Pool, budget: number, now = new Date()): Promise<PruneOutcome> {
  let pruned = 0;
  let runs = 0;
  for (const c of await candidates(pool)) {
    if (!(await worthAChunk(pool, c, now))) continue;
    let touched = false;
    while (pruned < budget) {
      const n = await pruneChunk(pool, c, now, budget - pruned);
      if (n === 0) break;
      pruned += n;
      touched = true;
    }
    if (touched) runs++;
    if (pruned >= budget) break;
  }
  return { runs, pruned };
}

export interface RetentionWorkerOptions {
  pool: pg.Pool;
  log: Logger;
  intervalMs: number;
  budget: number;
  /** cluster mode: prune only while holding this lease */
  lease: { refresh(): Promise<boolean>; release(): Promise<void> } | null;
}

export class RetentionWorker {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<PruneOutcome> | null = null;
  private stopped = false;
  lastOutcome: PruneOutcome | null = null;

  constructor(private readonly opts: RetentionWorkerOptions) {}

  start(): void {
    const loop = () => {
      if (this.stopped) return;
      this.timer = setTimeout(() => {
        void this.tick()
          .catch((e: unknown) => this.opts.log.warn("retention pass failed", { error: (e as Error).message }))
          .finally(loop);
      }, this.opts.intervalMs);
      this.timer.unref();
    };
    loop();
  }

  /** One pass now (also what the interval runs); concurrent calls share the pass in flight. */
  tick(): Promise<PruneOutcome> {
    this.running ??= (async () => {
      if (this.opts.lease && !(await this.opts.lease.refresh())) return { runs: 0, pruned: 0 };
      const outcome = await pruneOnce(this.opts.pool, this.opts.budget);
      if (outcome.pruned) this.opts.log.info("retention pruned events", { ...outcome });
      this.lastOutcome = outcome;
      return outcome;
    })().finally(() => (this.running = null));
    return this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => {});
    await this.opts.lease?.release().catch(() => {});
  }
}
