import type pg from "pg";
import type { IntentStageChange } from "../control/stage-write";
import { modelColumns, rowQuery } from "../db/model-rows";
import { inOpenTransaction, inTransaction } from "../db/transaction";
import type { Run } from "../generated/prisma/client";
import type { LifecycleState } from "../generated/prisma/enums";
import type { OpsBus } from "../pubsub/topics";
import type { Logger } from "../util/log";
import { runChanged, type RunHead } from "./changed";

// The run writer: the one way anything changes a run's row (invariant 2 of docs/architecture.md). It takes the
// run's row lock (so the poller's commit, a cursor reset, a control intent and a control-mode switch never
// interleave), bumps Run.seq, writes the caller's columns, its transition and its intent stage changes with that
// seq, commits, and then publishes what changed: one `run` message (src/runs/changed.ts), one `intent` message per
// intent, and asks for an approve's follow-up start. Every reader (subscriptions, the cluster fan-out, a stale
// poll's commit) orders changes by that seq.

/** The locked run as the writer reads it before the caller's change. */
export interface LockedRun extends RunHead {
  cursorLine: number;
  removedAt: Date | null;
}

/** A LifecycleTransition row, written with the change's seq. */
export interface TransitionRow {
  from: LifecycleState | null;
  to: LifecycleState;
  reason: string;
  trigger: string;
  actor: string | null;
  evidence: unknown;
}

/** What a caller changes about a locked run. */
export interface RunChange<T> {
  /** Nothing to write (the caller's check refused, or there is nothing new): no seq, no message. */
  unchanged?: boolean;
  /** Further Run columns written with the seq: SQL assignments whose placeholders start at $3 ($1 id, $2 seq). */
  columns?: { set: string; values: readonly unknown[] };
  transition?: TransitionRow | null;
  intents?: readonly IntentStageChange[];
  /** Intents this change created or touched otherwise (not a stage change): announced on `intent` too. */
  touchedIntents?: readonly string[];
  /** Publish a `run` message. Default: when the change writes run columns or records a transition. */
  announce?: boolean;
  /** Event lines this change stored: an `events` notice precedes the run message. */
  events?: { fromLine: number; toLine: number } | null;
  result: T;
}

/** `seq` is the run's new position, or null when the change was `unchanged`. */
export interface RunWritten<T> {
  before: LockedRun;
  seq: number | null;
  /** The run's row as this change committed it (null when `unchanged`). */
  after: Run | null;
  change: RunChange<T>;
  result: T;
}

/** Runs inside the lock: `seq` is the position this change will have if it writes anything. */
export type RunBody<T> = (c: pg.PoolClient, run: LockedRun, seq: number) => Promise<RunChange<T>>;

/** The change lost a race: another writer moved the run, or this replica no longer holds its lease. */
export class RunConflict extends Error {}

export interface WriteOptions {
  /** Lease fencing (scale-out): the write fails with RunConflict unless this replica still holds the run's lease. */
  fence?: { owner: string; token: number } | null;
  /**
   * A transaction already begun, holding work of the caller's done before the lock (a catch-up page's rows:
   * src/ingest/staged-page.ts): the change goes on in it and commits it, or rolls it back. Default: a new one.
   */
  begun?: () => Promise<pg.PoolClient>;
}

const RUN = modelColumns<Run>("Run");

// FOR NO KEY UPDATE: writers still exclude each other, but rows that only reference the run (a catch-up page's
// events inserted ahead of its lock: src/ingest/staged-page.ts) do not wait for the lock, nor it for them.
const LOCK = `SELECT id, "spriteId", seq, state::text AS state, "stateReason", "cursorLine", "removedAt" FROM "Run" WHERE id = $1 FOR NO KEY UPDATE`;

const INSERT_TRANSITION = `INSERT INTO "LifecycleTransition" ("runId", seq, "from", "to", reason, trigger, actor, evidence)
  VALUES ($1, $2, $3::"LifecycleState", $4::"LifecycleState", $5, $6, $7, $8::jsonb)`;

/** Records a transition at `seq`. Also used by the registry for a run's first row, written with the run itself. */
export function insertTransition(exec: (sql: string, values: unknown[]) => Promise<unknown>, runId: string, seq: number, t: TransitionRow): Promise<unknown> {
  return exec(INSERT_TRANSITION, [runId, seq, t.from, t.to, t.reason, t.trigger, t.actor, JSON.stringify(t.evidence)]);
}

async function writeIntentStage(c: pg.PoolClient, u: IntentStageChange): Promise<void> {
  const stamps = u.stamps.map((s, i) => `, "${s.column}" = COALESCE("${s.column}", $${i + 7})`).join("");
  await c.query(
    `UPDATE "ControlIntent" SET stage=$2::"IntentStage", evidence=$3::jsonb, error=COALESCE($4, error), "observedLine"=COALESCE($5, "observedLine"), "updatedAt"=now()${stamps}
      WHERE id=$1 AND stage=$6::"IntentStage"`,
    [u.id, u.stage, JSON.stringify(u.evidence), u.error, u.observedLine, u.expectedStage, ...u.stamps.map((s) => s.at)],
  );
}

/** The transaction alone (no message): lock, the caller's change, seq, transition, intent stages, commit. Null: no such run. */
export async function writeRun<T>(pool: pg.Pool, runId: string, body: RunBody<T>, opts: WriteOptions = {}): Promise<RunWritten<T> | null> {
  const write = async (c: pg.PoolClient): Promise<RunWritten<T> | null> => {
    if (opts.fence) {
      const lease = await c.query(`SELECT 1 FROM "RunLease" WHERE "runId" = $1 AND owner = $2 AND token = $3 AND "expiresAt" > now()`, [runId, opts.fence.owner, opts.fence.token]);
      if (lease.rowCount !== 1) throw new RunConflict(`lease for run ${runId} is no longer held by ${opts.fence.owner}`);
    }
    const before = (await c.query<LockedRun>(LOCK, [runId])).rows[0];
    if (!before) return null;
    const seq = before.seq + 1;
    const change = await body(c, before, seq);
    // The caller's work before the lock is only ever committed with a change (a staged page with its cursor).
    if (change.unchanged && opts.begun) throw new Error(`run ${runId}: a change begun before the lock wrote nothing`);
    if (change.unchanged) return { before, seq: null, after: null, change, result: change.result };
    const columns = change.columns;
    // The row comes back with the update: a poll catching up page by page goes on from it without reading it again.
    const [row] = await rowQuery(c, `UPDATE "Run" r SET seq = $2${columns ? `, ${columns.set}` : ""} WHERE r.id = $1 RETURNING ${RUN.select("r")}`, [runId, seq, ...(columns?.values ?? [])]);
    if (change.transition) await insertTransition((sql, values) => c.query(sql, values), runId, seq, change.transition);
    for (const u of change.intents ?? []) await writeIntentStage(c, u);
    return { before, seq, after: RUN.read(row), change, result: change.result };
  };
  try {
    return await (opts.begun ? inOpenTransaction(await opts.begun(), write) : inTransaction(pool, write));
  } catch (e) {
    // Two writers that each wait for the other (a staged page's rows and a writer of the same lines holding the
    // run's lock): PostgreSQL ends one of them, which lost a race like any other.
    if ((e as { code?: unknown }).code === "40P01") throw new RunConflict(`run ${runId}: ${(e as Error).message}`);
    throw e;
  }
}

export interface RunWriterDeps {
  pool: pg.Pool;
  /** Null: write without publishing (a test committing a change by hand). */
  bus: OpsBus | null;
  log?: Logger;
  /** An approve accepted with resumeAfterApprove asks for its follow-up START once committed (src/control). */
  onFollowUp?: (runId: string, intentId: string) => Promise<unknown>;
}

export class RunWriter {
  constructor(private readonly deps: RunWriterDeps) {}

  /** Applies `body`'s change under the run's lock, commits, publishes. Null: no such run. */
  async write<T>(runId: string, body: RunBody<T>, opts: WriteOptions = {}): Promise<RunWritten<T> | null> {
    const written = await writeRun(this.deps.pool, runId, body, opts);
    if (written && written.seq !== null) this.publish(written, written.seq);
    return written;
  }

  private publish(w: RunWritten<unknown>, seq: number): void {
    const { change, before } = w;
    const runId = before.id;
    const bus = this.deps.bus;
    if (bus) {
      if (change.events) bus.publish("events", runId, { runId, seq, ...change.events });
      if (change.announce ?? (change.columns !== undefined || !!change.transition)) {
        const t = change.transition ?? null;
        bus.publish("run", runId, runChanged({ ...before, seq }, t && { from: t.from, to: t.to, reason: t.reason, trigger: t.trigger }));
      }
      const intents = new Set([...(change.touchedIntents ?? []), ...(change.intents ?? []).map((i) => i.id)]);
      for (const intentId of intents) bus.publish("intent", runId, { intentId, runId, seq });
    }
    for (const i of change.intents ?? []) {
      if (i.followUp !== "START" || !this.deps.onFollowUp) continue;
      void this.deps.onFollowUp(runId, i.id).catch((e: unknown) => this.deps.log?.warn("follow-up start failed", { runId, intentId: i.id, error: (e as Error).message }));
    }
  }
}
