import type { StageStamp } from "../control/stages";
import type pg from "pg";
import { ingestBatches, ingestEvents } from "../observability/metrics";
import { insertEvents, isDuplicateLine } from "../events/insert";
import type { EventRow } from "./rows";

// The one write path for events, cursors and run projections (invariant 2 of docs/architecture.md): everything a poll
// learned is committed in one transaction or not at all, guarded by the cursor the poll started from.

export interface CursorState {
  line: number;
  byteOffset: number;
  lastLineHash: string | null;
}

export interface ProjectionColumns {
  state: string;
  stateReason: string;
  runtimeRunId: string | null;
  iteration: number | null;
  divergence: unknown;
  health: string;
  healthReasons: unknown;
  approval: unknown;
  gates: unknown;
  stuck: unknown;
  lastEventName: string | null;
  lastEventAt: Date | null;
  facts: unknown;
  ingestStatus: string;
  ingestError: string | null;
  needsIntervention: boolean;
}

export interface TransitionRow {
  from: string | null;
  to: string;
  reason: string;
  trigger: string;
  actor: string | null;
  evidence: unknown;
}

export interface IntentUpdate {
  id: string;
  /** The stage the poll saw: the update applies only if the intent is still there (no lost writes). */
  expectedStage: string;
  stage: string;
  /** Last event line offered to the intent as evidence (see ControlIntent.observedLine). */
  observedLine: number | null;
  /** stage timestamp column to set: dispatchedAt | acceptedAt | confirmedAt | endedAt */
  stamps: StageStamp[];
  evidence: unknown;
  error: string | null;
  /** the stage machine asks for a follow-up action after commit (approve with resumeAfterApprove → start) */
  followUp?: "START" | null;
}

export interface CommitInput {
  runId: string;
  /** The cursor line the poll started from; the commit fails if the stored one moved since. */
  expectedLine: number;
  /** The run's seq when the poll read it: any other writer since (a cursor reset, an intent stage change)
   * makes this poll's view stale, even when the line count is unchanged, so the commit fails and the run is
   * re-read. */
  expectedSeq: number;
  events: readonly EventRow[];
  cursor: CursorState;
  projection: ProjectionColumns;
  stateChanged: boolean;
  transition: TransitionRow | null;
  intents: readonly IntentUpdate[];
  /** Lease fencing (scale-out): the commit fails unless this replica still holds the run's lease. */
  fence?: { owner: string; token: number } | null;
}

export class CursorConflict extends Error {}

export interface CommitResult {
  seq: number;
  inserted: number;
}

export async function commitPoll(pool: pg.Pool, input: CommitInput): Promise<CommitResult> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    if (input.fence) {
      const lease = await client.query(`SELECT 1 FROM "RunLease" WHERE "runId" = $1 AND owner = $2 AND token = $3 AND "expiresAt" > now()`, [input.runId, input.fence.owner, input.fence.token]);
      if (lease.rowCount !== 1) throw new CursorConflict(`lease for run ${input.runId} is no longer held by ${input.fence.owner}`);
    }
    const current = await client.query<{ cursorLine: number; seq: number }>(`SELECT "cursorLine", seq FROM "Run" WHERE id = $1 FOR UPDATE`, [input.runId]);
    const row = current.rows[0];
    if (!row) throw new CursorConflict(`run ${input.runId} no longer exists`);
    if (row.seq !== input.expectedSeq) {
      throw new CursorConflict(`run ${input.runId}: changed since this poll read it (seq ${row.seq}, poll saw ${input.expectedSeq})`);
    }
    if (row.cursorLine !== input.expectedLine) {
      throw new CursorConflict(`run ${input.runId}: stored cursor is at line ${row.cursorLine}, this poll started at ${input.expectedLine}`);
    }
    // The page's events (src/events/insert.ts): all of them or none, with the cursor below, in this transaction.
    let inserted = 0;
    try {
      inserted = await insertEvents(client, input.runId, input.events);
    } catch (e) {
      if (isDuplicateLine(e)) {
        const lines = input.events.length ? `lines ${input.events[0].line}-${input.events[input.events.length - 1].line}` : "no lines";
        throw new CursorConflict(`run ${input.runId}: some of ${lines} were already stored`);
      }
      throw e;
    }
    if (inserted !== input.events.length) throw new Error(`run ${input.runId}: stored ${inserted} of ${input.events.length} events`);
    const seq = row.seq + 1;
    const p = input.projection;
    await client.query(
      `UPDATE "Run" SET "cursorLine"=$2, "cursorByteOffset"=$3, "cursorLineHash"=$4, state=$5::"LifecycleState", "stateReason"=$6,
        "stateSince"=CASE WHEN $7 THEN now() ELSE "stateSince" END, "runtimeRunId"=$8, iteration=$9, divergence=$10::jsonb,
        health=$11::"HealthStatus", "healthReasons"=$12::jsonb, approval=$13::jsonb, gates=$14::jsonb, stuck=$15::jsonb,
        "lastEventName"=$16, "lastEventAt"=$17, facts=$18::jsonb, "ingestStatus"=$19::"IngestStatus", "ingestError"=$20,
        "lastPolledAt"=now(), seq=$21, "needsIntervention"=$22, "updatedAt"=now() WHERE id=$1`,
      [
        input.runId,
        input.cursor.line,
        input.cursor.byteOffset,
        input.cursor.lastLineHash,
        p.state,
        p.stateReason,
        input.stateChanged,
        p.runtimeRunId,
        p.iteration,
        JSON.stringify(p.divergence),
        p.health,
        JSON.stringify(p.healthReasons),
        p.approval === null ? null : JSON.stringify(p.approval),
        p.gates === null ? null : JSON.stringify(p.gates),
        p.stuck === null ? null : JSON.stringify(p.stuck),
        p.lastEventName,
        p.lastEventAt,
        JSON.stringify(p.facts),
        p.ingestStatus,
        p.ingestError,
        seq,
        p.needsIntervention,
      ],
    );
    if (input.transition) {
      const t = input.transition;
      await client.query(
        `INSERT INTO "LifecycleTransition" ("runId", seq, "from", "to", reason, trigger, actor, evidence) VALUES ($1,$2,$3::"LifecycleState",$4::"LifecycleState",$5,$6,$7,$8::jsonb)`,
        [input.runId, seq, t.from, t.to, t.reason, t.trigger, t.actor, JSON.stringify(t.evidence)],
      );
    }
    for (const u of input.intents) {
      const stamps = u.stamps.map((s) => `, "${s}" = COALESCE("${s}", now())`).join("");
      await client.query(
        `UPDATE "ControlIntent" SET stage=$2::"IntentStage", evidence=$3::jsonb, error=COALESCE($4, error), "observedLine"=COALESCE($5, "observedLine"), "updatedAt"=now()${stamps}
         WHERE id=$1 AND stage=$6::"IntentStage"`,
        [u.id, u.stage, JSON.stringify(u.evidence), u.error, u.observedLine, u.expectedStage],
      );
    }
    await client.query("COMMIT");
    ingestBatches.inc();
    ingestEvents.inc(inserted);
    return { seq, inserted };
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {});
    throw e;
  } finally {
    client.release();
  }
}
