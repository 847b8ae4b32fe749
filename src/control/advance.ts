import type pg from "pg";
import type { ControlIntent } from "../generated/prisma/client";
import type { RunWriter } from "../runs/writer";
import { recordStages } from "./stage-write";
import { isTerminalStage, type StageTransition } from "./stages";

// The control service's intent stage changes (a dispatch's outcome, an interrupted dispatch), computed under the
// run's row lock and written by the run writer: the same writer, the same stamps and the same guard as the
// poller's (src/control/stage-write.ts), so the two never interleave and never lose each other's write.

/** What a dispatch learned about an intent: its transitions, and the last stored event line it has offered it. */
export interface StageStep {
  transitions: StageTransition[];
  observedLine?: number;
}

/** The locked run as a stage step sees it (its stored runtime facts and when the poller last read it). */
export interface RunFactsRow {
  facts: unknown;
  lastPolledAt: Date | null;
}

export type StageBuild = (intent: ControlIntent, c: pg.PoolClient, run: RunFactsRow) => Promise<StageStep>;

/**
 * Applies the transitions `build` computes from the intent as stored and the locked run; a step with neither a
 * transition nor an observed line changes nothing. `dispatchedAt` is the dispatch's start, for its stamp.
 */
export async function writeStageStep(runs: RunWriter, pool: pg.Pool, intentId: string, dispatchedAt: Date | undefined, build: StageBuild): Promise<void> {
  const owner = await pool.query<{ runId: string }>(`SELECT "runId" FROM "ControlIntent" WHERE id = $1`, [intentId]);
  const runId = owner.rows[0]?.runId;
  if (!runId) return;
  await runs.write(runId, async (c) => {
    const run = (await c.query<RunFactsRow>(`SELECT facts, "lastPolledAt" FROM "Run" WHERE id = $1`, [runId])).rows[0];
    const current = (await c.query<ControlIntent>(`SELECT * FROM "ControlIntent" WHERE id = $1`, [intentId])).rows[0];
    if (!current || isTerminalStage(current.stage)) return { unchanged: true, result: null };
    const step = await build(current, c, run);
    if (!step.transitions.length && step.observedLine === undefined) return { unchanged: true, result: null };
    const change = recordStages(current, step.transitions, dispatchedAt);
    return { intents: [step.observedLine === undefined ? change : { ...change, observedLine: step.observedLine }], result: null };
  });
}
