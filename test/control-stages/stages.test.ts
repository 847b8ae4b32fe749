import { describe, expect, it } from "vitest";
import {
  advanceIntent,
  computeDeadline,
  INTENT_KINDS,
  intentDeadlineMs,
  isTerminalStage,
  type IntentKind,
  type IntentStage,
  type IntentView,
  type Observation,
  type PolledEvent,
  type PollFacts,
} from "../../src/control/stages";

const REQUESTED_AT = "2026-11-24T07:00:00.000Z";
const DEADLINE = "2026-11-24T07:01:00.000Z";
const BEFORE = new Date("2026-11-24T07:00:30.000Z");
const AFTER = new Date("2026-11-24T07:01:00.001Z");

function intent(kind: IntentKind, stage: IntentStage, patch: Partial<IntentView> = {}): IntentView {
  return {
    kind,
    stage,
    requestedAt: REQUESTED_AT,
    dispatchedAt: stage === "REQUESTED" ? null : "2026-11-24T07:00:01.400Z",
    acceptedAt: null,
    deadlineAt: DEADLINE,
    resumeAfterApprove: false,
    ...patch,
  };
}

const QUIET: PollFacts = {
  stateExists: true,
  stateActive: true,
  activeRunExists: true,
  processStopped: false,
  processAlive: true,
  newEvents: [],
  lastSummaryCompletionOk: false,
};

function ev(line: number, name: string, status: string | null = null, timestamp = "2026-11-24T07:00:05Z"): PolledEvent {
  return { line, name, status, timestamp, data: status ? { status } : null };
}

function poll(facts: Partial<PollFacts>, now = BEFORE): Observation {
  return { type: "poll", now, facts: { ...QUIET, ...facts } };
}

const ok = (result: { exitCode: number | null; pid?: number; signalDelivered?: boolean }): Observation => ({
  type: "dispatch_ok",
  at: "2026-11-24T07:00:01.500Z",
  result,
});

interface Row {
  name: string;
  intent: IntentView;
  observation: Observation;
  /** the stages passed through, in order; [] = no change (null) */
  path: IntentStage[];
  error?: string;
}

const ROWS: readonly Row[] = [
  // dispatch
  { name: "dispatch started", intent: intent("CANCEL", "REQUESTED"), observation: { type: "dispatch_started", at: REQUESTED_AT }, path: ["DISPATCHED"] },
  {
    name: "precondition failed → REJECTED",
    intent: intent("APPROVE", "REQUESTED"),
    observation: { type: "precondition_failed", at: REQUESTED_AT, error: "PreconditionFailed", message: "no pending approval" },
    path: ["REJECTED"],
    error: "PreconditionFailed",
  },
  {
    name: "precondition failure after dispatch is ignored",
    intent: intent("APPROVE", "DISPATCHED"),
    observation: { type: "precondition_failed", at: REQUESTED_AT, error: "PreconditionFailed", message: "x" },
    path: [],
  },
  {
    name: "transport error → FAILED",
    intent: intent("CANCEL", "REQUESTED"),
    observation: { type: "dispatch_failed", at: REQUESTED_AT, error: "ECONNREFUSED" },
    path: ["FAILED"],
    error: "dispatch_failed",
  },
  {
    name: "transport error after dispatch → FAILED",
    intent: intent("START", "DISPATCHED"),
    observation: { type: "dispatch_failed", at: REQUESTED_AT, error: "timeout" },
    path: ["FAILED"],
    error: "dispatch_failed",
  },
  // cancel
  { name: "cancel exit 0 → accepted", intent: intent("CANCEL", "REQUESTED"), observation: ok({ exitCode: 0 }), path: ["DISPATCHED", "ACCEPTED"] },
  { name: "cancel exit 1 → failed_command", intent: intent("CANCEL", "DISPATCHED"), observation: ok({ exitCode: 1 }), path: ["FAILED"], error: "failed_command" },
  {
    name: "cancel confirmed: state and active-run gone",
    intent: intent("CANCEL", "ACCEPTED"),
    observation: poll({ stateExists: false, stateActive: false, activeRunExists: false, processAlive: null }),
    path: ["CONFIRMED"],
  },
  {
    name: "cancel confirmed: state inactive, active-run gone",
    intent: intent("CANCEL", "ACCEPTED"),
    observation: poll({ stateActive: false, activeRunExists: false, processAlive: null }),
    path: ["CONFIRMED"],
  },
  { name: "cancel not confirmed while active-run.json remains", intent: intent("CANCEL", "ACCEPTED"), observation: poll({ stateExists: false, stateActive: false }), path: [] },
  { name: "cancel not confirmed while state is active", intent: intent("CANCEL", "ACCEPTED"), observation: poll({ activeRunExists: false, processAlive: null }), path: [] },
  {
    name: "a vanished run does not confirm a cancel with no exit code",
    intent: intent("CANCEL", "DISPATCHED"),
    observation: poll({ stateExists: false, stateActive: false, activeRunExists: false }),
    path: [],
  },
  // approve
  { name: "approve exit 0 waits for the decision event", intent: intent("APPROVE", "DISPATCHED"), observation: ok({ exitCode: 0 }), path: [] },
  { name: "approve decision observed → accepted", intent: intent("APPROVE", "DISPATCHED"), observation: poll({ newEvents: [ev(27, "approval_decision", "approved")] }), path: ["ACCEPTED"] },
  {
    name: "approve decision + consumed in one batch → accepted, confirmed",
    intent: intent("APPROVE", "DISPATCHED"),
    observation: poll({ newEvents: [ev(27, "approval_decision", "approved"), ev(28, "loop_start"), ev(29, "approval_consumed")] }),
    path: ["ACCEPTED", "CONFIRMED"],
  },
  {
    name: "approve: a consumed before the decision line does not count",
    intent: intent("APPROVE", "DISPATCHED"),
    observation: poll({ newEvents: [ev(26, "approval_consumed"), ev(27, "approval_decision", "approved")] }),
    path: ["ACCEPTED"],
  },
  { name: "approve accepted, loop_complete → confirmed", intent: intent("APPROVE", "ACCEPTED"), observation: poll({ newEvents: [ev(30, "loop_complete")] }), path: ["CONFIRMED"] },
  { name: "approve accepted, completion_ok in the summary → confirmed", intent: intent("APPROVE", "ACCEPTED"), observation: poll({ lastSummaryCompletionOk: true }), path: ["CONFIRMED"] },
  { name: "a rejected decision does not accept an approve", intent: intent("APPROVE", "DISPATCHED"), observation: poll({ newEvents: [ev(27, "approval_decision", "rejected")] }), path: [] },
  // reject
  {
    name: "reject decision → accepted and confirmed at once",
    intent: intent("REJECT", "DISPATCHED"),
    observation: poll({ newEvents: [ev(27, "approval_decision", "rejected")] }),
    path: ["ACCEPTED", "CONFIRMED"],
  },
  {
    name: "reject decision read from data.status",
    intent: intent("REJECT", "DISPATCHED"),
    observation: poll({ newEvents: [{ line: 27, name: "approval_decision", status: null, timestamp: "2026-11-24T07:00:05Z", data: { status: "rejected" } }] }),
    path: ["ACCEPTED", "CONFIRMED"],
  },
  { name: "reject: unrelated events change nothing", intent: intent("REJECT", "DISPATCHED"), observation: poll({ newEvents: [ev(27, "role_start")] }), path: [] },
  // pause / resume
  { name: "pause signal delivered → accepted", intent: intent("PAUSE", "DISPATCHED"), observation: ok({ exitCode: 0, signalDelivered: true }), path: ["ACCEPTED"] },
  { name: "pause signal not delivered → failed", intent: intent("PAUSE", "DISPATCHED"), observation: ok({ exitCode: null, signalDelivered: false }), path: ["FAILED"], error: "signal_not_delivered" },
  { name: "pause confirmed when stopped", intent: intent("PAUSE", "ACCEPTED"), observation: poll({ processStopped: true }), path: ["CONFIRMED"] },
  { name: "pause: still running", intent: intent("PAUSE", "ACCEPTED"), observation: poll({}), path: [] },
  { name: "pause: stop state unknown", intent: intent("PAUSE", "ACCEPTED"), observation: poll({ processStopped: null }), path: [] },
  { name: "resume signal delivered → accepted", intent: intent("RESUME", "DISPATCHED"), observation: ok({ exitCode: 0, signalDelivered: true }), path: ["ACCEPTED"] },
  { name: "resume confirmed when running again", intent: intent("RESUME", "ACCEPTED"), observation: poll({ processStopped: false }), path: ["CONFIRMED"] },
  {
    name: "resume confirmed by a fresh active-phase event when the stop flag is unknown",
    intent: intent("RESUME", "ACCEPTED"),
    observation: poll({ processStopped: null, newEvents: [ev(40, "role_end")] }),
    path: ["CONFIRMED"],
  },
  { name: "resume: still stopped", intent: intent("RESUME", "ACCEPTED"), observation: poll({ processStopped: true }), path: [] },
  { name: "resume: process died", intent: intent("RESUME", "ACCEPTED"), observation: poll({ processStopped: false, processAlive: false }), path: [] },
  // start
  { name: "start with a pid → accepted", intent: intent("START", "REQUESTED"), observation: ok({ exitCode: null, pid: 777 }), path: ["DISPATCHED", "ACCEPTED"] },
  { name: "start without a pid stays dispatched", intent: intent("START", "DISPATCHED"), observation: ok({ exitCode: 0 }), path: [] },
  { name: "start exit 2 → failed", intent: intent("START", "DISPATCHED"), observation: ok({ exitCode: 2 }), path: ["FAILED"], error: "failed_command" },
  { name: "start accepted, loop_start → confirmed", intent: intent("START", "ACCEPTED"), observation: poll({ newEvents: [ev(31, "loop_start")] }), path: ["CONFIRMED"] },
  {
    name: "start: loop_start in the same second as the dispatch counts",
    intent: intent("START", "ACCEPTED"),
    observation: poll({ newEvents: [ev(31, "loop_start", null, "2026-11-24T07:00:01Z")] }),
    path: ["CONFIRMED"],
  },
  {
    name: "start: a loop_start from before the dispatch does not count",
    intent: intent("START", "ACCEPTED"),
    observation: poll({ newEvents: [ev(31, "loop_start", null, "2026-11-24T06:59:00Z")] }),
    path: [],
  },
  {
    name: "start accepted, launched process gone, no run on disk, no loop_start → AMBIGUOUS at once",
    intent: intent("START", "ACCEPTED"),
    observation: poll({ launchAlive: false, stateExists: false, stateActive: false, activeRunExists: false, processAlive: null }),
    path: ["AMBIGUOUS"],
    error: "exited_before_loop_start",
  },
  {
    name: "start accepted, launched process gone but state.json remains → waits (loop_start may be read next poll)",
    intent: intent("START", "ACCEPTED"),
    observation: poll({ launchAlive: false, stateExists: true, activeRunExists: false }),
    path: [],
  },
  {
    name: "start accepted, launch still alive, nothing on disk yet → waits",
    intent: intent("START", "ACCEPTED"),
    observation: poll({ launchAlive: true, stateExists: false, stateActive: false, activeRunExists: false }),
    path: [],
  },
  {
    name: "start dispatched without pid, loop_start → accepted, confirmed",
    intent: intent("START", "DISPATCHED"),
    observation: poll({ newEvents: [ev(31, "loop_start")] }),
    path: ["ACCEPTED", "CONFIRMED"],
  },
  // recorded dispatch result judged on the next poll
  {
    name: "a stored exit-0 cancel result is judged on poll",
    intent: intent("CANCEL", "DISPATCHED", { dispatchResult: { exitCode: 0 } }),
    observation: poll({ stateExists: false, stateActive: false, activeRunExists: false, processAlive: null }),
    path: ["ACCEPTED", "CONFIRMED"],
  },
  // deadline
  { name: "tick before the deadline", intent: intent("CANCEL", "ACCEPTED"), observation: { type: "tick", now: BEFORE }, path: [] },
  { name: "tick exactly at the deadline", intent: intent("CANCEL", "ACCEPTED"), observation: { type: "tick", now: new Date(DEADLINE) }, path: [] },
  { name: "tick past the deadline, accepted cancel → AMBIGUOUS", intent: intent("CANCEL", "ACCEPTED"), observation: { type: "tick", now: AFTER }, path: ["AMBIGUOUS"], error: "deadline_exceeded" },
  {
    name: "tick past the deadline, dispatched approve → AMBIGUOUS",
    intent: intent("APPROVE", "DISPATCHED"),
    observation: { type: "tick", now: AFTER },
    path: ["AMBIGUOUS"],
    error: "deadline_exceeded",
  },
  { name: "tick past the deadline, never dispatched → AMBIGUOUS", intent: intent("START", "REQUESTED"), observation: { type: "tick", now: AFTER }, path: ["AMBIGUOUS"] },
  { name: "accepted approve without resume waits for a run, no deadline", intent: intent("APPROVE", "ACCEPTED"), observation: { type: "tick", now: AFTER }, path: [] },
  { name: "accepted approve with resume does expire", intent: intent("APPROVE", "ACCEPTED", { resumeAfterApprove: true }), observation: { type: "tick", now: AFTER }, path: ["AMBIGUOUS"] },
  { name: "poll past the deadline without evidence → AMBIGUOUS", intent: intent("PAUSE", "ACCEPTED"), observation: poll({}, AFTER), path: ["AMBIGUOUS"] },
  { name: "evidence in the same poll as the deadline wins", intent: intent("PAUSE", "ACCEPTED"), observation: poll({ processStopped: true }, AFTER), path: ["CONFIRMED"] },
  { name: "acceptance but no confirmation by the deadline → AMBIGUOUS", intent: intent("REJECT", "DISPATCHED"), observation: poll({ newEvents: [ev(5, "role_end")] }, AFTER), path: ["AMBIGUOUS"] },
];

describe("advanceIntent", () => {
  it.each(ROWS)("$intent.kind $intent.stage: $name → $path", (row) => {
    const transitions = advanceIntent(row.intent, row.observation);
    if (row.path.length === 0) {
      expect(transitions).toBeNull();
      return;
    }
    expect(transitions?.map((t) => t.to)).toEqual(row.path);
    // transitions chain: each starts where the previous one ended
    expect(transitions?.map((t) => t.from)).toEqual([row.intent.stage, ...row.path.slice(0, -1)]);
    for (const t of transitions ?? []) {
      expect(t.observation.length).toBeGreaterThan(0);
      expect(typeof t.at).toBe("string");
    }
    if (row.error) expect(transitions?.at(-1)?.error).toBe(row.error);
  });

  const TERMINAL: IntentStage[] = ["CONFIRMED", "FAILED", "AMBIGUOUS", "REJECTED"];
  const OBSERVATIONS: Observation[] = [
    { type: "dispatch_started", at: REQUESTED_AT },
    ok({ exitCode: 0, pid: 1, signalDelivered: true }),
    { type: "dispatch_failed", at: REQUESTED_AT, error: "x" },
    { type: "precondition_failed", at: REQUESTED_AT, error: "ControlFrozen", message: "x" },
    poll(
      {
        stateExists: false,
        stateActive: false,
        activeRunExists: false,
        processStopped: true,
        lastSummaryCompletionOk: true,
        newEvents: [ev(1, "approval_decision", "approved"), ev(2, "approval_decision", "rejected"), ev(3, "loop_start"), ev(4, "approval_consumed")],
      },
      AFTER,
    ),
    { type: "tick", now: AFTER },
  ];
  const terminalRows = INTENT_KINDS.flatMap((kind) => TERMINAL.flatMap((stage) => OBSERVATIONS.map((observation) => ({ kind, stage, type: observation.type, observation }))));
  it.each(terminalRows)("terminal never changes: $kind $stage + $type", ({ kind, stage, observation }) => {
    expect(isTerminalStage(stage)).toBe(true);
    expect(advanceIntent(intent(kind, stage), observation)).toBeNull();
  });

  it("an accepted approve with resumeAfterApprove asks for a START follow-up", () => {
    const transitions = advanceIntent(intent("APPROVE", "DISPATCHED", { resumeAfterApprove: true }), poll({ newEvents: [ev(27, "approval_decision", "approved")] }));
    expect(transitions).toEqual([expect.objectContaining({ to: "ACCEPTED", followUp: "START" })]);
    const plain = advanceIntent(intent("APPROVE", "DISPATCHED"), poll({ newEvents: [ev(27, "approval_decision", "approved")] }));
    expect(plain?.[0]?.followUp).toBeUndefined();
  });

  it("records the evidence: event line for event proof, dispatch result for dispatch proof", () => {
    const byEvent = advanceIntent(intent("START", "ACCEPTED"), poll({ newEvents: [ev(31, "loop_start")] }));
    expect(byEvent?.[0]?.evidence).toMatchObject({ event: "loop_start", line: 31 });
    expect(byEvent?.[0]?.at).toBe(BEFORE.toISOString());
    const byDispatch = advanceIntent(intent("START", "REQUESTED"), ok({ exitCode: null, pid: 777 }));
    expect(byDispatch?.map((t) => t.evidence)).toEqual([{ result: { exitCode: null, pid: 777, signalDelivered: null } }, { result: { exitCode: null, pid: 777, signalDelivered: null } }]);
    expect(byDispatch?.[1]?.at).toBe("2026-11-24T07:00:01.500Z");
  });

  it("does not mutate the intent it is given", () => {
    const view = intent("REJECT", "DISPATCHED");
    const copy = structuredClone(view);
    advanceIntent(view, poll({ newEvents: [ev(27, "approval_decision", "rejected")] }));
    expect(view).toEqual(copy);
  });
});

// The deadline rule production uses (ControlService): OPS_INTENT_DEADLINE_MS for every kind, unless
// OPS_INTENT_DEADLINES_MS names the kind.
const DEFAULT_INTENT_DEADLINE_MS = 60_000;

describe("deadlines", () => {
  it.each(INTENT_KINDS.map((kind) => [kind, DEFAULT_INTENT_DEADLINE_MS] as const))("%s → %i ms by default", (kind, ms) => expect(intentDeadlineMs(kind, DEFAULT_INTENT_DEADLINE_MS)).toBe(ms));

  it("a per-intent override map replaces the defaults", () => {
    expect(intentDeadlineMs("CANCEL", DEFAULT_INTENT_DEADLINE_MS, { CANCEL: 5_000 })).toBe(5_000);
    expect(intentDeadlineMs("APPROVE", DEFAULT_INTENT_DEADLINE_MS, { CANCEL: 5_000 })).toBe(DEFAULT_INTENT_DEADLINE_MS);
  });

  it("computeDeadline adds the deadline to the request time", () => {
    expect(computeDeadline("START", new Date(REQUESTED_AT), DEFAULT_INTENT_DEADLINE_MS).toISOString()).toBe(DEADLINE);
    expect(computeDeadline("START", new Date(REQUESTED_AT), DEFAULT_INTENT_DEADLINE_MS, { START: 1_000 }).toISOString()).toBe("2026-11-24T07:00:01.000Z");
  });
});
