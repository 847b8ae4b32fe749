import { isDeepStrictEqual } from "node:util";
import type { Config } from "../config/config";
import type { ControlIntent, Sprite } from "../generated/prisma/client";
import { needsIntervention } from "../lifecycle/interventions";
import { projectLifecycle } from "../lifecycle/project";
import type { ControlFacts, RunFacts } from "../lifecycle/types";
import type { IntentUpdate, ProjectionColumns, TransitionRow } from "./commit";
import { advanceIntents } from "./intents";
import { runHealth } from "./run-health";
import type { RunWithIntents } from "./run-row";
import type { EventRow } from "./rows";
import { EMPTY_RUNTIME, type StoredFacts } from "./stored-facts";

// Pure: what one poll means for a run. Builds the projection's RunFacts from stored and fresh facts, projects
// lifecycle and health, advances intents, and says whether anything differs from what is stored.

export interface EvaluateInput {
  run: RunWithIntents;
  sprite: Sprite;
  stored: StoredFacts;
  newRows: readonly EventRow[];
  /** Stored events some open intent has not been offered yet (see ControlIntent.observedLine). */
  backlog?: readonly EventRow[];
  /** The cursor line after this poll's events. */
  throughLine?: number;
  problem: { fork?: string; forkDetails?: Record<string, unknown>; ingestError?: string; transportError?: string; pollSucceeded?: boolean; agentIncompatible?: string };
  transportFailures: number;
  now: Date;
  config: Pick<Config, "OPS_STALE_AFTER_MS" | "OPS_HEALTH_PROFILE">;
}

export interface Evaluation {
  columns: ProjectionColumns;
  transition: TransitionRow | null;
  intents: IntentUpdate[];
  changed: boolean;
}

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);
// Stored JSON comes back from jsonb with its keys reordered and undefined members gone: compare values.
const norm = (v: unknown): unknown => (v === undefined ? null : JSON.parse(JSON.stringify(v)));
const same = (a: unknown, b: unknown) => isDeepStrictEqual(norm(a), norm(b));

export function controlFacts(intents: readonly ControlIntent[]): ControlFacts {
  const latest = (pred: (i: ControlIntent) => boolean) => intents.filter(pred).sort((a, b) => +b.requestedAt - +a.requestedAt)[0] ?? null;
  const cancel = latest((i) => i.kind === "CANCEL" && i.acceptedAt !== null);
  const pause = latest((i) => i.kind === "PAUSE" && i.stage === "CONFIRMED");
  const resume = latest((i) => i.kind === "RESUME" && i.dispatchedAt !== null && i.stage !== "FAILED");
  // An approve with resumeAfterApprove asks for its own START intent (ControlService.followUp): counted there.
  const start = latest((i) => (i.kind === "START" || i.kind === "RESTART") && i.dispatchedAt !== null && !["FAILED", "CONFIRMED", "AMBIGUOUS"].includes(i.stage));
  return {
    cancelAcceptedAt: iso(cancel?.acceptedAt),
    pauseConfirmedAt: pause && !(resume && resume.requestedAt > pause.requestedAt) ? iso(pause.confirmedAt) : null,
    startDispatchedAt: iso(start?.dispatchedAt),
  };
}

/** Prefix of the ingest error a run gets after repeated failed polls (see Ingestor.pollFailed). */
export const POLL_FAILED = "poll_failed: ";

export function evaluateRun(input: EvaluateInput): Evaluation {
  const { run, stored, problem, now } = input;
  let ingestStatus = run.ingestStatus;
  let ingestError = run.ingestError;
  if (problem.fork) {
    ingestStatus = "FORKED";
    ingestError = problem.fork;
  } else if (problem.ingestError) {
    ingestStatus = "ERROR";
    ingestError = problem.ingestError;
  } else if (problem.pollSucceeded && ingestStatus === "ERROR" && ingestError?.startsWith(POLL_FAILED)) {
    // a streak of failed polls ended (e.g. the database is back, the file was fixed): not sticky like a bad line
    ingestStatus = "OK";
    ingestError = null;
  }
  const regression =
    problem.fork && problem.forkDetails
      ? { storedLines: run.cursorLine, fileLines: Number(problem.forkDetails.fileLines ?? problem.forkDetails.lineCount ?? 0) }
      : ingestStatus === "FORKED"
        ? ((run.divergence as { cursorRegression?: { evidence?: { storedLines: number; fileLines: number } } }).cursorRegression?.evidence ?? null)
        : null;

  const facts: RunFacts = {
    loopId: run.loopId,
    now,
    runtime: stored.runtime ?? EMPTY_RUNTIME,
    events: stored.events,
    control: controlFacts(run.intents),
    ingest: { status: ingestStatus, error: ingestError, regression },
    sprite: { status: input.sprite.status },
    thresholds: { staleAfterMs: input.config.OPS_STALE_AFTER_MS },
  };
  const projection = projectLifecycle(facts);
  const intents = advanceIntents(run.intents, facts, input.newRows, now, input.backlog ?? [], input.throughLine ?? null);
  const health = runHealth({
    run,
    sprite: input.sprite,
    facts,
    projection,
    intents: run.intents.map((i) => intents.find((u) => u.id === i.id)?.stage ?? i.stage),
    transportFailures: input.transportFailures,
    transportError: problem.transportError ?? null,
    agentIncompatible: problem.agentIncompatible ?? null,
    now,
    defaultProfile: input.config.OPS_HEALTH_PROFILE,
  });

  const runtime = facts.runtime;
  const last = stored.events.last;
  const columns: ProjectionColumns = {
    state: projection.state,
    stateReason: projection.reason,
    runtimeRunId: projection.runtimeRunId,
    iteration: projection.iteration,
    divergence: projection.divergence,
    health: health.status,
    healthReasons: health.reasons,
    approval: runtime.approval ? { ...runtime.approval } : null,
    gates: runtime.lastSummary?.gates ?? null,
    stuck: runtime.lastSummary?.stuck ?? null,
    lastEventName: last?.name ?? null,
    lastEventAt: last ? new Date(last.timestamp) : null,
    facts: stored,
    ingestStatus,
    ingestError,
    needsIntervention:
      needsIntervention({
        state: projection.state,
        reason: projection.reason,
        health,
        divergence: projection.divergence,
        ingestStatus,
        approvalPending: runtime.approval?.status === "pending",
        stateSince: (projection.state === run.state ? run.stateSince : now).toISOString(),
        stale: projection.stale,
        runtime,
      }) !== null,
  };

  const stateChanged = projection.state !== run.state || projection.reason !== run.stateReason;
  const transition: TransitionRow | null = stateChanged
    ? {
        from: run.state,
        to: projection.state,
        reason: projection.reason,
        trigger: problem.fork || problem.ingestError ? "ingest_error" : "ingest",
        actor: null,
        evidence: { rule: projection.ruleId, ...projection.evidence },
      }
    : null;

  const changed =
    stateChanged ||
    intents.length > 0 ||
    ingestStatus !== run.ingestStatus ||
    ingestError !== run.ingestError ||
    columns.health !== run.health ||
    columns.needsIntervention !== run.needsIntervention ||
    !same(columns.healthReasons, run.healthReasons) ||
    !same(columns.divergence, run.divergence) ||
    columns.runtimeRunId !== run.runtimeRunId ||
    columns.iteration !== run.iteration ||
    !same(columns.approval, run.approval ?? null) ||
    !same(columns.gates, run.gates ?? null) ||
    !same(columns.stuck, run.stuck ?? null) ||
    !same(stored.runtime, (run.facts as StoredFacts | null)?.runtime ?? null);

  return { columns, transition, intents, changed };
}
