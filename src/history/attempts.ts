// Attempts: each `superloop run` invocation inside one managed Run. A run that crashed, was started again by an
// operator and then completed is three facts (attempt 1 FAILED, attempt 2 started by alice, COMPLETE), not one
// COMPLETE. Pure: derived from stored rows (loop_start events open an attempt; terminal events, then lifecycle
// transitions, close it; START/RESTART intents say who started it), so it can be table-tested.
//
// Two clocks are involved: event lines order events among themselves, and the manager's clock (an event's
// ingestedAt, a transition's `at`, an intent's requestedAt) orders events against transitions and intents. Runtime
// timestamps are shown, never compared with the manager's clock (a Sprite's clock may be off).

export interface AttemptEvent {
  line: number;
  name: string;
  /** runtime clock, as written in the line */
  timestamp: Date;
  /** manager clock: when the line was stored */
  ingestedAt: Date;
  runtimeRunId: string | null;
  iteration: number | null;
  status: string | null;
  payload: unknown;
}

export interface AttemptTransition {
  to: string;
  reason: string;
  trigger: string;
  actor: string | null;
  at: Date;
}

export interface AttemptIntent {
  id: string;
  kind: string;
  stage: string;
  requestedBy: string;
  note: string | null;
  requestedAt: Date;
}

export interface Attempt {
  /** 1-based, in the order the runtime started them */
  index: number;
  runtimeRunId: string | null;
  startedAt: Date;
  endedAt: Date | null;
  /** COMPLETE | STOPPED | AWAITING_APPROVAL | FAILED | RUNNING (still going) | PAUSED | UNKNOWN (no end seen) */
  outcome: string;
  /** machine-readable: loop_complete, max_iterations, runtime_died, approval_requested, cancelled, ... */
  stopReason: string | null;
  /** who stopped it, when an operator did */
  stoppedBy: string | null;
  /** an operator's name, or "runtime" when it was not started through this manager */
  startedBy: string;
  /** the START / RESTART intent that started it */
  intentId: string | null;
  intentKind: string | null;
  /** true when the previous attempt ended FAILED or STOPPED without completing: this one is a restart */
  restart: boolean;
  firstIteration: number | null;
  lastIteration: number | null;
  maxIterations: number | null;
}

/** Events whose line closes an attempt, with the outcome they mean. */
const END_EVENTS: Record<string, { outcome: string; reason: (e: AttemptEvent) => string }> = {
  loop_complete: { outcome: "COMPLETE", reason: () => "loop_complete" },
  loop_stop: { outcome: "STOPPED", reason: (e) => stringField(e.payload, "reason") ?? "loop_stop" },
  rate_limit_stop: { outcome: "STOPPED", reason: () => "rate_limited" },
  approval_requested: { outcome: "AWAITING_APPROVAL", reason: () => "approval_requested" },
  approval_wait: { outcome: "AWAITING_APPROVAL", reason: () => "approval_wait" },
};
export const ATTEMPT_EVENT_NAMES = ["loop_start", ...Object.keys(END_EVENTS)];

/** Intent kinds that start a runtime invocation. */
const STARTERS = new Set(["START", "RESTART"]);
const OPEN_STATES = new Set(["RUNNING", "PAUSED"]);
const ENDED_BADLY = new Set(["FAILED", "STOPPED"]);

function stringField(v: unknown, key: string): string | null {
  if (typeof v !== "object" || v === null) return null;
  const x = (v as Record<string, unknown>)[key];
  return typeof x === "string" ? x : null;
}

function numberField(v: unknown, key: string): number | null {
  if (typeof v !== "object" || v === null) return null;
  const x = (v as Record<string, unknown>)[key];
  return typeof x === "number" && Number.isFinite(x) ? x : null;
}

export interface AttemptInput {
  /** loop_start and END_EVENTS lines, any order */
  events: AttemptEvent[];
  /** the run's highest iteration per runtime run id is not needed: iterations come from the events */
  iterations?: { line: number; iteration: number }[];
  transitions: AttemptTransition[];
  intents: AttemptIntent[];
  /** the run's current state, for the last attempt when nothing closed it */
  current: { state: string; reason: string };
}

export function deriveAttempts(input: AttemptInput): Attempt[] {
  const events = [...input.events].sort((a, b) => a.line - b.line);
  const starts = events.filter((e) => e.name === "loop_start");
  const transitions = [...input.transitions].sort((a, b) => a.at.getTime() - b.at.getTime());
  const intents = input.intents.filter((i) => STARTERS.has(i.kind) && i.stage !== "REJECTED").sort((a, b) => a.requestedAt.getTime() - b.requestedAt.getTime());
  const iterations = input.iterations ?? [];
  const out: Attempt[] = [];

  // Transitions already accounted for by earlier attempts. A poll can commit a run's end before the events of
  // the attempt that ended (it read the files at a moment the process was already gone), so a transition is
  // matched to the first attempt still open, not by comparing it with when loop_start was stored.
  let consumedUntil = -Infinity;
  starts.forEach((start, n) => {
    const next = starts[n + 1] ?? null;
    const prev = starts[n - 1] ?? null;
    const inLines = (line: number) => line > start.line && (next === null || line < next.line);
    const windowStart = start.ingestedAt.getTime();
    const windowEnd = next ? next.ingestedAt.getTime() : Infinity;
    const closing = transitions.filter((x) => x.at.getTime() > consumedUntil && x.at.getTime() < windowEnd && !OPEN_STATES.has(x.to) && x.to !== "IDLE");
    // UNKNOWN is a poll that could not tell (it read the files between two of the runtime's writes: events.jsonl
    // had the loop_start, state.json did not say active yet), not an end: a definite end after it in the same
    // window is how the attempt ended. Only an attempt nothing else ends ends UNKNOWN.
    const terminal = closing.filter((x, i) => x.to !== "UNKNOWN" || !closing.slice(i + 1).some((y) => y.to !== "UNKNOWN"));

    let outcome: string | null;
    let stopReason: string | null;
    let stoppedBy: string | null = null;
    let endedAt: Date | null = null;

    const endEvent = events.find((e) => inLines(e.line) && END_EVENTS[e.name]);
    if (endEvent) {
      const end = END_EVENTS[endEvent.name];
      outcome = end.outcome;
      stopReason = end.reason(endEvent);
      endedAt = endEvent.timestamp;
      // the projection's transition for this end (if one was recorded) belongs to this attempt too
      const t = terminal.find((x) => x.at.getTime() >= windowStart) ?? terminal[0];
      if (t) consumedUntil = t.at.getTime();
    } else {
      // No event closes it (a runner died, a kill, a cancel): the first lifecycle transition out of the running
      // states that no earlier attempt accounts for says how it ended.
      // Prefer one stored after its loop_start; an earlier one only when the run is not running any more (a
      // RESTART's own cancel, recorded before the new loop_start, must not end the new attempt).
      const t = terminal.find((x) => x.at.getTime() >= windowStart) ?? (next !== null || !OPEN_STATES.has(input.current.state) ? terminal[0] : undefined);
      if (t) {
        outcome = t.to;
        stopReason = t.reason;
        stoppedBy = t.actor;
        endedAt = t.at;
        consumedUntil = t.at.getTime();
      } else if (next === null) {
        outcome = OPEN_STATES.has(input.current.state) ? input.current.state : input.current.state === "IDLE" ? "UNKNOWN" : input.current.state;
        stopReason = OPEN_STATES.has(input.current.state) ? null : input.current.reason;
      } else {
        outcome = "UNKNOWN";
        stopReason = "superseded";
        endedAt = next.timestamp;
      }
    }

    // Who started it: the latest START/RESTART requested after the previous attempt started and before this
    // one's loop_start was stored.
    const lower = prev ? prev.ingestedAt.getTime() : -Infinity;
    const starter = [...intents].reverse().find((i) => i.requestedAt.getTime() <= windowStart && i.requestedAt.getTime() > lower) ?? null;

    const its = iterations.filter((i) => i.line >= start.line && (next === null || i.line < next.line)).map((i) => i.iteration);
    const previous = out.at(-1);
    out.push({
      index: n + 1,
      runtimeRunId: start.runtimeRunId,
      startedAt: start.timestamp,
      endedAt,
      outcome,
      stopReason,
      stoppedBy,
      startedBy: starter?.requestedBy ?? "runtime",
      intentId: starter?.id ?? null,
      intentKind: starter?.kind ?? null,
      restart: previous !== undefined && ENDED_BADLY.has(previous.outcome),
      firstIteration: its.length ? Math.min(...its) : (start.iteration ?? null),
      lastIteration: its.length ? Math.max(...its) : (start.iteration ?? null),
      maxIterations: numberField(start.payload, "max_iterations"),
    });
  });
  return out;
}

/** How many attempts began after an attempt that crashed, was killed or was stopped. */
export function restartCount(attempts: readonly Attempt[]): number {
  return attempts.filter((a) => a.restart).length;
}
