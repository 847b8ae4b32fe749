import type pg from "pg";
import type { Config } from "../config/config";
import { awaitsEvidence, isTerminalStage } from "../control/stages";
import { modelColumns, rowQuery } from "../db/model-rows";
import type { ControlIntent, Run } from "../generated/prisma/client";
import { readRunsById } from "../runs/run-reads";
import { readEventPage } from "../events/page";
import { foldEventFacts, type EventRecord } from "../lifecycle/event-facts";
import { withTrace } from "../observability/trace";
import type { RunWriter } from "../runs/writer";
import type { Logger } from "../util/log";
import { commitPoll, CursorConflict, type CommitInput } from "./commit";
import type { Entry, Fence } from "./entry";
import { yieldToLoop } from "./entry";
import { evaluateRun, type Evaluation } from "./evaluate";
import { packedRow, type EventRow } from "./rows";
import type { RunWithIntents } from "./run-row";
import { StagedPage } from "./staged-page";
import { parseStoredFacts, type toRuntimeFacts, type StoredFacts } from "./stored-facts";

// The end of every poll: what it saw is evaluated against the stored run (src/ingest/evaluate.ts) and, if
// anything changed, committed through the run writer (src/runs/writer.ts), which publishes it.

export interface PollCommitDeps {
  /** Raw driver pool: the run reads of every poll and commit (plain SQL: Prisma's per-query compilation was a
   * tenth of a bulk ingest's CPU). */
  pool: pg.Pool;
  runs: RunWriter;
  log: Logger;
  config: Pick<Config, "OPS_POLL_INTERVAL_MS" | "OPS_STALE_AFTER_MS" | "OPS_HEALTH_PROFILE">;
  /** The commit lost a race: poll the run again at once. */
  retry: (runId: string) => void;
}

/** What went wrong with this poll, or that it succeeded (clears an earlier failure). */
export interface PollProblem {
  fork?: string;
  forkDetails?: Record<string, unknown>;
  ingestError?: string;
  transportError?: string;
  pollSucceeded?: boolean;
  agentIncompatible?: string;
}

const INTENT = modelColumns<ControlIntent>("ControlIntent");

/**
 * A row as the lifecycle's fold reads it. A class, its payload a getter of its prototype: the fold reads the
 * payload of a few events only (a row parses it when asked: src/ingest/rows.ts), and an object literal with a
 * getter of its own cost a catch-up page of 5,000 rows about 10 ms before its commit could start (bench:ingest).
 */
class RowEvent implements EventRecord {
  readonly name: string;
  readonly status: string | null;
  readonly timestamp: Date;
  readonly runId: string | null;
  readonly iteration: number | null;

  constructor(private readonly row: EventRow) {
    this.name = row.name;
    this.status = row.status;
    this.timestamp = row.timestamp;
    this.runId = row.runtimeRunId;
    this.iteration = row.iteration;
  }

  get data(): Record<string, unknown> | null {
    return this.row.payload;
  }
}

export class PollCommitter {
  constructor(private readonly deps: PollCommitDeps) {}

  /** The run as a poll reads it: with its Sprite and its latest intents. */
  async loadRun(runId: string): Promise<RunWithIntents | null> {
    const run = (await readRunsById(this.deps.pool, [runId], true)).get(runId);
    if (!run?.sprite) return null;
    return { ...run, sprite: run.sprite, intents: await this.loadIntents(runId) };
  }

  private async loadIntents(runId: string): Promise<ControlIntent[]> {
    const intents = await rowQuery(this.deps.pool, `SELECT ${INTENT.select("i")} FROM "ControlIntent" i WHERE i."runId" = $1 ORDER BY i."requestedAt" DESC LIMIT 20`, [runId]);
    return intents.map((r) => INTENT.read(r));
  }

  /**
   * A catch-up page's rows COPYed ahead of its commit, after the page before's COPY (src/ingest/staged-page.ts),
   * or null: no connection to spare.
   */
  stage(runId: string, rows: readonly EventRow[], after?: Promise<unknown>): StagedPage | null {
    return StagedPage.start(this.deps.pool, runId, rows, after);
  }

  /** Stored events an open intent has not been offered yet (dispatch still in flight when they were ingested). */
  private async intentBacklog(run: RunWithIntents): Promise<EventRow[]> {
    const marks = run.intents.filter((i) => awaitsEvidence(i.stage) && i.observedLine !== null && i.observedLine < run.cursorLine).map((i) => i.observedLine!);
    if (!marks.length) return [];
    const rows = await readEventPage(this.deps.pool, { runId: run.id, after: Math.min(...marks), before: run.cursorLine + 1, limit: 5000, descending: false });
    // Each line unpacked and its payload parsed only if an intent's evidence reads them (src/ingest/rows.ts).
    return rows.map((e) => packedRow(e, e.packed));
  }

  /**
   * Evaluates the run against what this poll saw and commits it if anything changed. Returns the committed
   * run (for the next batch) or null when the commit lost a race (the next poll starts over from the database).
   * `staged`: `rows` already COPYed (this.stage); the commit goes on in their transaction. The caller aborts it
   * once this returns or throws (a no-op when the commit took it).
   */
  async evaluateAndCommit(
    entry: Entry,
    runtime: ReturnType<typeof toRuntimeFacts> | null,
    rows: EventRow[],
    cursor: { line: number; byteOffset: number; lastLineHash: string | null } | null,
    problem: PollProblem,
    fence: Fence,
    loaded?: RunWithIntents,
    storedIn?: StoredFacts,
    staged?: StagedPage | null,
  ): Promise<{ run: RunWithIntents; stored: StoredFacts } | null> {
    const run = loaded ?? (await this.loadRun(entry.runId));
    if (!run) return null;
    const stored = storedIn ?? parseStoredFacts(run.facts);
    const events = rows.length
      ? foldEventFacts(
          stored.events,
          rows.map((r) => new RowEvent(r)),
        )
      : stored.events;
    const nextStored: StoredFacts = { events, runtime: runtime ?? stored.runtime };
    const evaluation: Evaluation = evaluateRun({
      run,
      sprite: entry.sprite,
      stored: nextStored,
      newRows: rows,
      backlog: await this.intentBacklog(run),
      throughLine: cursor?.line ?? run.cursorLine,
      problem,
      transportFailures: entry.transportFailures,
      now: new Date(),
      config: this.deps.config,
    });
    const spriteChange = entry.spriteChange ?? null;
    if (!evaluation.changed && rows.length === 0 && !cursor && !spriteChange) return { run, stored: nextStored };
    if (rows.length > 0) await yieldToLoop(); // a page: the fold and the evaluation above, the commit's serialization next
    const transition =
      evaluation.transition ??
      (spriteChange
        ? {
            from: run.state,
            to: evaluation.columns.state,
            reason: `sprite_${spriteChange.to.toLowerCase()}`,
            trigger: "sprite",
            actor: null,
            evidence: { sprite: spriteChange },
          }
        : null);

    const input: CommitInput = {
      runId: run.id,
      expectedLine: run.cursorLine,
      expectedSeq: run.seq,
      events: rows,
      cursor: cursor ?? { line: run.cursorLine, byteOffset: Number(run.cursorByteOffset), lastLineHash: run.cursorLineHash },
      projection: evaluation.columns,
      stateChanged: evaluation.transition !== null,
      transition,
      intents: evaluation.intents,
      fence,
      staged,
    };
    let committed: Run;
    try {
      committed = (await commitPoll(this.deps.runs, input)).run;
    } catch (e) {
      if (e instanceof CursorConflict) {
        // Another writer (a reset, an intent, a lease change) moved the run since this poll read it: nothing of
        // this poll is stored; poll again at once from what is committed.
        this.deps.log.debug("ingest commit lost a race; re-reading", { runId: run.id, error: e.message });
        entry.dirty = true;
        this.deps.retry(run.id);
        return null;
      }
      throw e;
    }
    if (spriteChange === entry.spriteChange) entry.spriteChange = null;
    this.logIntents(run, evaluation);
    // The run goes on as committed (a catch-up's next page starts from it) without reading it again: its row came
    // back with the commit, and its intents are read again only when they may have changed. An intent created
    // meanwhile moved the run's seq, so the next commit from this run is refused and the poll starts over.
    const intentsMoved = evaluation.intents.length > 0 || run.intents.some((i) => !isTerminalStage(i.stage));
    const intents = intentsMoved ? await this.loadIntents(run.id) : run.intents;
    return { run: { ...committed, sprite: run.sprite, intents }, stored: nextStored };
  }

  /** An intent's later stages are part of the traced work that created it: logged under its trace id. */
  private logIntents(run: RunWithIntents, evaluation: Evaluation): void {
    for (const i of evaluation.intents) {
      const before = run.intents.find((x) => x.id === i.id);
      if (before && before.stage !== i.stage) {
        withTrace(before.traceId, () =>
          this.deps.log.info("control intent advanced", { intentId: i.id, runId: run.id, kind: before.kind, from: before.stage, to: i.stage, ...(i.error ? { error: i.error } : {}) }),
        );
      }
    }
  }
}
