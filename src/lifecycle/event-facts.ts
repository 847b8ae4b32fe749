import type { EventFacts } from "./types";

/** One ingested event, as much of it as the lifecycle needs. */
export interface EventRecord {
  name: string;
  status: string | null;
  /** ISO-8601; a Date is rendered with toISOString, only for the events whose time the facts keep. */
  timestamp: string | Date;
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
  if (events.length === 0) return previous;
  // A log with a loop_start keeps that run's id whatever comes after: after an approval the completing
  // events carry the original run id while loop_start carries the new one (docs/runtime.md).
  // One copy for the whole page, and times rendered only for the events whose time is kept: a catch-up folds
  // thousands of events at once (bench:ingest).
  const facts = { ...previous };
  let loopStart: EventRecord | null = null;
  let activePhase: EventRecord | null = null;
  for (const event of events) {
    if (event.name === "loop_start") {
      facts.latestRunId = event.runId;
      loopStart = event;
    } else if (facts.latestLoopStartAt === null && loopStart === null && event.runId !== null) {
      facts.latestRunId = event.runId;
    }
    if (event.name === "iteration_start" && event.iteration !== null) {
      facts.latestIteration = event.iteration;
    } else if (facts.latestIteration === null && event.iteration !== null) {
      facts.latestIteration = event.iteration;
    }
    if (isActivePhaseEvent(event.name)) activePhase = event;
    if (event.name === "loop_stop") facts.stopReason = stringField(event.data, "reason");
  }
  if (loopStart) facts.latestLoopStartAt = isoOf(loopStart.timestamp);
  if (activePhase) facts.lastActivePhaseEventAt = isoOf(activePhase.timestamp);
  const last = events[events.length - 1];
  facts.count = previous.count + events.length;
  facts.last = { name: last.name, status: last.status, timestamp: isoOf(last.timestamp), runId: last.runId, iteration: last.iteration };
  return facts;
}

function isoOf(t: string | Date): string {
  return typeof t === "string" ? t : t.toISOString();
}

export function summarizeEvents(events: readonly EventRecord[]): EventFacts {
  return foldEventFacts(emptyEventFacts(), events);
}
