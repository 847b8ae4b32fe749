import type pg from "pg";
import type { IntentStageChange } from "../control/stage-write";
import type { Run } from "../generated/prisma/client";
import type { LifecycleState } from "../generated/prisma/enums";
import { insertEvents as copyEvents, isDuplicateLine } from "../events/insert";
import { ingestBatches, ingestEvents } from "../observability/metrics";
import { RunConflict, RunWriter, type RunBody, type TransitionRow } from "../runs/writer";
import type { EventRow } from "./rows";

export type { TransitionRow };

// The one write path for events, cursors and run projections (invariant 2 of docs/architecture.md): everything a poll
// learned is committed in one transaction or not at all, guarded by the cursor the poll started from.

export interface CursorState {
  line: number;
  byteOffset: number;
  lastLineHash: string | null;
}

export interface ProjectionColumns {
  state: LifecycleState;
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

/** An intent stage change the poll's evidence caused (built by ./intents.ts). */
export type IntentUpdate = IntentStageChange;

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
  /** `events` already COPYed in a transaction of their own (a catch-up page): the commit goes on in it. */
  staged?: StagedRows | null;
}

/** Rows COPYed ahead of their commit, in a transaction the commit takes over (src/ingest/staged-page.ts). */
export interface StagedRows {
  readonly rows: readonly EventRow[];
  /** The transaction's connection, the rows in it; throws what their COPY failed with. */
  take(): Promise<pg.PoolClient>;
}

/** The stored cursor or seq moved since the poll read the run, or the lease moved: nothing of the poll is stored. */
export { RunConflict as CursorConflict };

export interface CommitResult {
  seq: number;
  inserted: number;
  /** The run's row as committed. */
  run: Run;
}

/**
 * Stores a poll's new event rows inside the commit's transaction (one COPY: src/events/insert.ts); returns how
 * many. A line already stored means another writer got there first: RunConflict, so the whole commit rolls back.
 */
export async function insertEvents(client: pg.PoolClient, runId: string, events: readonly EventRow[]): Promise<number> {
  let inserted: number;
  try {
    inserted = await copyEvents(client, runId, events);
  } catch (e) {
    if (isDuplicateLine(e)) throw new RunConflict(`run ${runId}: some of lines ${events[0].line}-${events[events.length - 1].line} were already stored`);
    throw e;
  }
  if (inserted !== events.length) throw new Error(`run ${runId}: stored ${inserted} of ${events.length} events`);
  return inserted;
}

/** The run columns a poll's projection writes (placeholders from $3: the writer's $1 is the id, $2 the seq). */
const PROJECTION_SET = `"cursorLine"=$3, "cursorByteOffset"=$4, "cursorLineHash"=$5, state=$6::"LifecycleState", "stateReason"=$7,
  "stateSince"=CASE WHEN $8 THEN now() ELSE "stateSince" END, "runtimeRunId"=$9, iteration=$10, divergence=$11::jsonb,
  health=$12::"HealthStatus", "healthReasons"=$13::jsonb, approval=$14::jsonb, gates=$15::jsonb, stuck=$16::jsonb,
  "lastEventName"=$17, "lastEventAt"=$18, facts=$19::jsonb, "ingestStatus"=$20::"IngestStatus", "ingestError"=$21,
  "lastPolledAt"=now(), "needsIntervention"=$22, "updatedAt"=now()`;

function projectionValues(input: CommitInput): unknown[] {
  const p = input.projection;
  const json = (v: unknown) => (v === null ? null : JSON.stringify(v));
  return [
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
    json(p.approval),
    json(p.gates),
    json(p.stuck),
    p.lastEventName,
    p.lastEventAt,
    JSON.stringify(p.facts),
    p.ingestStatus,
    p.ingestError,
    p.needsIntervention,
  ];
}

/** A poll's commit as a change for the run writer: guarded by the seq and cursor the poll started from. */
export function pollChange(input: CommitInput): RunBody<Omit<CommitResult, "run">> {
  return async (client, run, seq) => {
    if (run.seq !== input.expectedSeq) {
      throw new RunConflict(`run ${input.runId}: changed since this poll read it (seq ${run.seq}, poll saw ${input.expectedSeq})`);
    }
    if (run.cursorLine !== input.expectedLine) {
      throw new RunConflict(`run ${input.runId}: stored cursor is at line ${run.cursorLine}, this poll started at ${input.expectedLine}`);
    }
    if (input.staged && input.staged.rows !== input.events) throw new Error(`run ${input.runId}: the staged rows are not this commit's`);
    const inserted = input.staged ? input.events.length : await insertEvents(client, input.runId, input.events);
    const events = input.events.length ? { fromLine: input.events[0].line, toLine: input.events[input.events.length - 1].line } : null;
    const columns = { set: PROJECTION_SET, values: projectionValues(input) };
    return { columns, transition: input.transition, intents: input.intents, events, announce: true, result: { seq, inserted } };
  };
}

/**
 * Commits one poll through the run writer (which publishes it), or, given the pool, without publishing (a test
 * committing by hand). Throws RunConflict when the run moved since the poll read it.
 */
export async function commitPoll(runs: RunWriter | pg.Pool, input: CommitInput): Promise<CommitResult> {
  const writer = runs instanceof RunWriter ? runs : new RunWriter({ pool: runs, bus: null });
  const staged = input.staged;
  const written = await writer.write(input.runId, pollChange(input), { fence: input.fence ?? null, begun: staged ? () => staged.take() : undefined });
  if (!written?.after) throw new RunConflict(`run ${input.runId} no longer exists`);
  ingestBatches.inc();
  ingestEvents.inc(written.result.inserted);
  return { ...written.result, run: written.after };
}
