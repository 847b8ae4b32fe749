import type { EventFacts } from "./types";

/** One ingested event, as much of it as the lifecycle needs. */
export interface EventRecord {
  name: string;
  status: string | null;
  timestamp: string;
  runId: string | null;
  iteration: number | null;
  data?: Record<string, unknown> | null;
}

// Events the runtime only emits while a `superloop run` process is working on an iteration. Seeing one of
// these after state.json said "inactive" means the state file and the event log disagree (activeMismatch).
// `loop_start` is left out on purpose: it precedes the state write, so a fresh run would flag itself.
const ACTIVE_PHASE_EVENTS = new Set(["iteration_start", "iteration_end", "role_start", "role_end", "promise_checked", "gates_evaluated", "stuck_checked"]);
const GATE_PHASES = new Set(["checklist", "tests", "validation", "prerequisites", "evidence", "lifecycle"]);

export function isActivePhaseEvent(name: string): boolean {
  if (ACTIVE_PHASE_EVENTS.has(name)) return true;
  const match = /^(.+)_(start|end)$/.exec(name);
  return match !== null && GATE_PHASES.has(match[1] ?? "");
}

/** Events after which the runtime process has ended the loop on its own. */
export const STOP_EVENTS = ["loop_stop", "rate_limit_stop", "no_progress_stop"] as const;

export function emptyEventFacts(): EventFacts {
  return {
    count: 0,
    last: null,
    latestRunId: null,
    latestIteration: null,
    latestLoopStartAt: null,
    lastActivePhaseEventAt: null,
    stopReason: null,
  };
}

function stringField(data: Record<string, unknown> | null | undefined, key: string): string | null {
  const value = data?.[key];
  return typeof value === "string" && value !== "" ? value : null;
}

/**
 * Folds newly ingested events (in line order) into the running `EventFacts`, so ingest can keep the facts
 * incrementally instead of rescanning the whole log on every poll.
 */
export function foldEventFacts(previous: EventFacts, events: readonly EventRecord[]): EventFacts {
  // A log with a loop_start keeps that run's id whatever comes after: after an approval the completing
  // events carry the original run id while loop_start carries the new one (docs/runtime.md).
  let facts = { ...previous };
  // Whether the previous latestRunId came from a loop_start; a later non-loop_start event must not override it.
  for (const event of events) {
    const last = {
      name: event.name,
      status: event.status,
      timestamp: event.timestamp,
      runId: event.runId,
      iteration: event.iteration,
    };
    facts = { ...facts, count: facts.count + 1, last };
    if (event.name === "loop_start") {
      facts.latestRunId = event.runId;
      facts.latestLoopStartAt = event.timestamp;
    } else if (facts.latestLoopStartAt === null && event.runId !== null) {
      facts.latestRunId = event.runId;
    }
    if (event.name === "iteration_start" && event.iteration !== null) {
      facts.latestIteration = event.iteration;
    } else if (facts.latestIteration === null && event.iteration !== null) {
      facts.latestIteration = event.iteration;
    }
    if (isActivePhaseEvent(event.name)) facts.lastActivePhaseEventAt = event.timestamp;
    if (event.name === "loop_stop") facts.stopReason = stringField(event.data, "reason");
  }
  return facts;
}

export function summarizeEvents(events: readonly EventRecord[]): EventFacts {
  return foldEventFacts(emptyEventFacts(), events);
}
