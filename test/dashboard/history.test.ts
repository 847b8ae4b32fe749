import { describe, expect, it } from "vitest";
import { deriveAttempts, restartCount, type AttemptEvent } from "../../src/history/attempts";
import { deriveRoleSpans, type RoleEvent } from "../../src/history/role-spans";
import { deriveSignOff, verdictOf } from "../../src/history/sign-off";
import { deriveStateSpans } from "../../src/history/state-spans";
import { activeAck, ackHolds } from "../../src/interventions/ack";
import { completionMarks } from "../../web/src/marks";

// The dashboard's derivations, as tables: attempts (runtime invocations), the role swimlane, the sign-off of a
// completion, state spans for the fleet timeline, and when an acknowledgement holds.

const T = (s: number) => new Date(Date.UTC(2026, 10, 30, 0, 0, s));
let line = 0;
const ev = (name: string, s: number, extra: Partial<AttemptEvent> = {}): AttemptEvent => ({
  line: ++line,
  name,
  timestamp: T(s),
  ingestedAt: T(s),
  runtimeRunId: `r-${s}`,
  iteration: 1,
  status: null,
  payload: {},
  ...extra,
});

describe("attempts", () => {
  it("crash, restart by an operator, complete: three facts, not one COMPLETE", () => {
    line = 0;
    const events = [ev("loop_start", 0, { payload: { max_iterations: 3 } }), ev("loop_start", 100, { payload: { max_iterations: 3 } }), ev("loop_complete", 150)];
    const attempts = deriveAttempts({
      events,
      iterations: [
        { line: 1, iteration: 1 },
        { line: 2, iteration: 1 },
        { line: 2, iteration: 2 },
      ],
      transitions: [
        { to: "RUNNING", reason: "running", trigger: "ingest", actor: null, at: T(1) },
        { to: "FAILED", reason: "runtime_died", trigger: "ingest", actor: null, at: T(20) },
        { to: "RUNNING", reason: "running", trigger: "ingest", actor: null, at: T(101) },
        { to: "COMPLETE", reason: "loop_complete", trigger: "ingest", actor: null, at: T(151) },
      ],
      intents: [{ id: "i1", kind: "START", stage: "CONFIRMED", requestedBy: "alice", note: null, requestedAt: T(90) }],
      current: { state: "COMPLETE", reason: "loop_complete" },
    });
    expect(attempts.map((a) => [a.index, a.outcome, a.stopReason, a.startedBy, a.restart])).toEqual([
      [1, "FAILED", "runtime_died", "runtime", false],
      [2, "COMPLETE", "loop_complete", "alice", true],
    ]);
    expect(attempts[0].endedAt).toEqual(T(20));
    expect(attempts[1].intentId).toBe("i1");
    expect(attempts[1].lastIteration).toBe(2);
    expect(attempts[1].maxIterations).toBe(3);
    expect(restartCount(attempts)).toBe(1);
  });

  it("approval then resume is two attempts and no restart; an open one is RUNNING", () => {
    line = 0;
    const a = deriveAttempts({
      events: [ev("loop_start", 0), ev("approval_requested", 10), ev("loop_start", 50)],
      transitions: [{ to: "AWAITING_APPROVAL", reason: "approval_pending", trigger: "ingest", actor: null, at: T(11) }],
      intents: [
        { id: "i1", kind: "APPROVE", stage: "CONFIRMED", requestedBy: "bob", note: "ok", requestedAt: T(40) },
        { id: "i2", kind: "START", stage: "ACCEPTED", requestedBy: "bob", note: null, requestedAt: T(41) },
        { id: "i3", kind: "START", stage: "REJECTED", requestedBy: "eve", note: null, requestedAt: T(42) },
      ],
      current: { state: "RUNNING", reason: "running" },
    });
    expect(a.map((x) => [x.outcome, x.stopReason, x.startedBy, x.restart, x.endedAt])).toEqual([
      ["AWAITING_APPROVAL", "approval_requested", "runtime", false, T(10)],
      ["RUNNING", null, "bob", false, null],
    ]);
    expect(restartCount(a)).toBe(0);
  });

  it("loop_stop carries its reason; a cancel by an operator says who", () => {
    line = 0;
    const a = deriveAttempts({
      events: [ev("loop_start", 0), ev("loop_stop", 5, { payload: { reason: "max_iterations" } }), ev("loop_start", 10)],
      transitions: [{ to: "STOPPED", reason: "cancelled", trigger: "control", actor: "carol", at: T(12) }],
      intents: [],
      current: { state: "STOPPED", reason: "cancelled" },
    });
    expect(a.map((x) => [x.outcome, x.stopReason, x.stoppedBy, x.restart])).toEqual([
      ["STOPPED", "max_iterations", null, false],
      ["STOPPED", "cancelled", "carol", true],
    ]);
  });

  it("a crash committed before its loop_start was stored still ends that attempt, not the restart", () => {
    line = 0;
    const a = deriveAttempts({
      // the poll saw the dead process first (FAILED at 5 s) and stored the loop_start line at 6 s
      events: [ev("loop_start", 0, { ingestedAt: T(6) }), ev("loop_start", 100, { ingestedAt: T(100) })],
      transitions: [
        { to: "FAILED", reason: "runtime_died", trigger: "ingest", actor: null, at: T(5) },
        { to: "RUNNING", reason: "starting", trigger: "ingest", actor: null, at: T(100) },
        { to: "FAILED", reason: "runtime_died", trigger: "ingest", actor: null, at: T(120) },
      ],
      intents: [{ id: "i1", kind: "START", stage: "CONFIRMED", requestedBy: "alice", note: null, requestedAt: T(90) }],
      current: { state: "FAILED", reason: "runtime_died" },
    });
    expect(a.map((x) => [x.outcome, x.stopReason, x.startedBy, x.restart])).toEqual([
      ["FAILED", "runtime_died", "runtime", false],
      ["FAILED", "runtime_died", "alice", true],
    ]);
    expect(a[0].endedAt).toEqual(T(5));
  });

  it("an attempt ended by an event takes its own transition along: the next attempt does not end with it", () => {
    line = 0;
    const a = deriveAttempts({
      events: [ev("loop_start", 0), ev("approval_requested", 10), ev("loop_start", 50)],
      transitions: [{ to: "AWAITING_APPROVAL", reason: "awaiting_approval", trigger: "ingest", actor: null, at: T(11) }],
      intents: [],
      current: { state: "RUNNING", reason: "running" },
    });
    expect(a.map((x) => x.outcome)).toEqual(["AWAITING_APPROVAL", "RUNNING"]);
  });

  it("a restart's own cancel, stored before the new loop_start, does not end the new running attempt", () => {
    line = 0;
    const a = deriveAttempts({
      events: [ev("loop_start", 0), ev("loop_start", 100)],
      transitions: [
        { to: "FAILED", reason: "runtime_died", trigger: "ingest", actor: null, at: T(5) },
        { to: "STOPPED", reason: "cancelled", trigger: "control", actor: "alice", at: T(95) },
        { to: "RUNNING", reason: "running", trigger: "ingest", actor: null, at: T(100) },
      ],
      intents: [{ id: "i1", kind: "RESTART", stage: "CONFIRMED", requestedBy: "alice", note: null, requestedAt: T(90) }],
      current: { state: "RUNNING", reason: "running" },
    });
    expect(a.map((x) => [x.outcome, x.startedBy, x.intentKind, x.restart])).toEqual([
      ["FAILED", "runtime", null, false],
      ["RUNNING", "alice", "RESTART", true],
    ]);
  });

  it("a poll that could not tell (UNKNOWN) before the runtime's death does not end the attempt: FAILED does", () => {
    line = 0;
    const a = deriveAttempts({
      // the poll read events.jsonl's loop_start before state.json said active (UNKNOWN), the next one the death
      events: [ev("loop_start", 0, { ingestedAt: T(1) }), ev("loop_start", 100), ev("loop_complete", 101)],
      transitions: [
        { to: "UNKNOWN", reason: "unknown", trigger: "ingest", actor: null, at: T(1) },
        { to: "FAILED", reason: "runtime_died", trigger: "ingest", actor: null, at: T(2) },
        { to: "RUNNING", reason: "starting", trigger: "control", actor: "alice", at: T(99) },
        { to: "COMPLETE", reason: "completed", trigger: "ingest", actor: null, at: T(101) },
      ],
      intents: [{ id: "i1", kind: "RESTART", stage: "CONFIRMED", requestedBy: "alice", note: null, requestedAt: T(90) }],
      current: { state: "COMPLETE", reason: "completed" },
    });
    expect(a.map((x) => [x.outcome, x.stopReason, x.startedBy, x.restart])).toEqual([
      ["FAILED", "runtime_died", "runtime", false],
      ["COMPLETE", "loop_complete", "alice", true],
    ]);
    expect(a[0].endedAt).toEqual(T(2));
    // With nothing after it, UNKNOWN is all there is to say.
    line = 0;
    const open = deriveAttempts({
      events: [ev("loop_start", 0)],
      transitions: [{ to: "UNKNOWN", reason: "unknown", trigger: "ingest", actor: null, at: T(1) }],
      intents: [],
      current: { state: "UNKNOWN", reason: "unknown" },
    });
    expect(open.map((x) => [x.outcome, x.stopReason])).toEqual([["UNKNOWN", "unknown"]]);
  });

  it("no loop_start: no attempts", () => {
    expect(deriveAttempts({ events: [], transitions: [], intents: [], current: { state: "IDLE", reason: "not_started" } })).toEqual([]);
  });
});

describe("role spans", () => {
  let l = 0;
  const r = (name: string, s: number, role: string | null, iteration = 1, status: string | null = null): RoleEvent => ({ line: ++l, name, timestamp: T(s), role, iteration, status });
  it("pairs starts and ends per iteration, marks errors, timeouts and roles that died", () => {
    l = 0;
    const spans = deriveRoleSpans(
      [
        r("loop_start", 0, null),
        r("role_start", 0, "planner"),
        r("role_end", 2, "planner"),
        r("role_start", 2, "implementer"),
        r("role_end", 7, "implementer", 1, "error"),
        r("role_start", 7, "tester"),
        r("role_timeout", 9, "tester"),
        r("role_start", 10, "planner", 2),
        r("loop_start", 20, null),
        r("role_start", 20, "planner", 1),
      ],
      true,
    );
    expect(spans.map((s) => [s.attempt, s.iteration, s.role, s.status, s.durationMs])).toEqual([
      [1, 1, "planner", "ok", 2000],
      [1, 1, "implementer", "error", 5000],
      [1, 1, "tester", "timeout", 2000],
      [1, 2, "planner", "died", null],
      [2, 1, "planner", "running", null],
    ]);
    expect(deriveRoleSpans([r("role_start", 0, "planner")], false)[0].status).toBe("died");
  });
});

describe("sign-off", () => {
  it.each([
    ["ok", "PASS"],
    ["approved", "PASS"],
    ["failed", "FAIL"],
    ["skipped", "SKIPPED"],
    ["pending", "PENDING"],
    ["weird", "UNKNOWN"],
  ])("gate status %s is %s", (s, v) => expect(verdictOf(s)).toBe(v));

  it("approved completion: approver from the runtime's decision, gates in order, not all green when tests were skipped", () => {
    const s = deriveSignOff({
      summaryGates: { tests: "skipped", checklist: "ok", lifecycle: "ok", approval: "approved" },
      gatesEvent: null,
      promise: { expected: "SUPERLOOP_COMPLETE", matched: true },
      testsMode: "disabled",
      decision: { payload: { status: "approved", by: "operator", note: "looks good", at: "2026-11-24T06:58:08Z" }, timestamp: T(0) },
      approveIntent: null,
      completionOk: true,
    })!;
    expect(s.gates.map((g) => `${g.name}:${g.verdict}`)).toEqual(["tests:SKIPPED", "checklist:PASS", "lifecycle:PASS", "approval:PASS"]);
    expect(s).toMatchObject({ allGreen: false, promiseMatched: true, testsMode: "disabled", approvalSkipped: false, completionOk: true });
    expect(s.approval).toEqual({ status: "approved", by: "operator", note: "looks good", at: new Date("2026-11-24T06:58:08Z"), source: "runtime" });
  });

  it("all gates ok without approval: green, approval skipped; the intent is the fallback approver", () => {
    const s = deriveSignOff({
      summaryGates: null,
      gatesEvent: { promise: true, tests: "ok", checklist: "ok", approval: "skipped", stuck: "n/a" },
      promise: null,
      testsMode: null,
      decision: null,
      approveIntent: { kind: "APPROVE", requestedBy: "dave", note: null, requestedAt: T(1) },
      completionOk: null,
    })!;
    expect(s.allGreen).toBe(true);
    expect(s.approvalSkipped).toBe(true);
    expect(s.promiseMatched).toBe(true);
    expect(s.approval?.source).toBe("intent");
    expect(deriveSignOff({ summaryGates: null, gatesEvent: null, promise: null, testsMode: null, decision: null, approveIntent: null, completionOk: null })).toBeNull();
  });
});

describe("state spans", () => {
  it("X → X does not split a span; the window clips what started before it", () => {
    const spans = deriveStateSpans(
      "IDLE",
      [
        { from: "IDLE", to: "RUNNING", at: T(10) },
        { from: "RUNNING", to: "RUNNING", at: T(20) },
        { from: "RUNNING", to: "COMPLETE", at: T(30) },
      ],
      T(5),
    );
    expect(spans).toEqual([
      { state: "IDLE", from: T(5), to: T(10) },
      { state: "RUNNING", from: T(10), to: T(30) },
      { state: "COMPLETE", from: T(30), to: null },
    ]);
    expect(deriveStateSpans(null, [{ from: null, to: "IDLE", at: T(10) }], T(0))).toEqual([{ state: "IDLE", from: T(10), to: null }]);
  });
});

describe("acknowledgements", () => {
  const ack = (o: Partial<{ until: Date | null; clearedAt: Date | null; reasonCodes: unknown; createdAt: Date }> = {}) => ({
    id: "a",
    runId: "r",
    kind: "ACKNOWLEDGED",
    by: "x",
    note: null,
    until: null,
    clearedAt: null,
    reasonCodes: ["run_failed"],
    createdAt: T(0),
    ...o,
  });
  it.each([
    ["same reasons", ack(), ["run_failed"], true],
    ["a new reason brings it back", ack(), ["run_failed", "stale_running"], false],
    ["fewer reasons still held", ack({ reasonCodes: ["run_failed", "x"] }), ["run_failed"], true],
    ["snooze not over", ack({ until: T(100) }), ["run_failed"], true],
    ["snooze over", ack({ until: T(50) }), ["run_failed"], false],
    ["cleared", ack({ clearedAt: T(10) }), ["run_failed"], false],
  ])("%s", (_name, a, codes, holds) => expect(ackHolds(a, codes, T(60))).toBe(holds));

  it("the newest row decides", () => {
    expect(activeAck([ack({ createdAt: T(1) }), ack({ createdAt: T(2), clearedAt: T(3) })], ["run_failed"], T(60))).toBeNull();
    expect(activeAck([ack({ createdAt: T(2) }), ack({ createdAt: T(1), clearedAt: T(3) })], ["run_failed"], T(60))?.createdAt).toEqual(T(2));
  });
});

describe("completion marks (fleet row and run page)", () => {
  const so = (allGreen: boolean, approvalSkipped: boolean, gates: { name: string; verdict: string }[]) => ({ allGreen, approvalSkipped, promiseMatched: true, gates });
  it.each([
    [
      "green and approved: no mark",
      "COMPLETE",
      so(true, false, [
        { name: "tests", verdict: "PASS" },
        { name: "approval", verdict: "PASS" },
      ]),
      0,
      [],
    ],
    [
      "skipped tests",
      "COMPLETE",
      so(false, false, [
        { name: "tests", verdict: "SKIPPED" },
        { name: "approval", verdict: "PASS" },
      ]),
      0,
      ["unverified"],
    ],
    [
      "no approval",
      "COMPLETE",
      so(true, true, [
        { name: "tests", verdict: "PASS" },
        { name: "approval", verdict: "SKIPPED" },
      ]),
      0,
      ["no-approval"],
    ],
    ["restarted", "COMPLETE", so(true, false, []), 2, ["restarted"]],
    ["not complete: only restarts", "RUNNING", so(false, true, []), 1, ["restarted"]],
  ] as const)("%s", (_n, state, signOff, restarts, kinds) => {
    expect(completionMarks(state, { ...signOff, gates: [...signOff.gates] }, restarts).map((m) => m.kind)).toEqual(kinds);
  });
  it("says which gates were not green", () => {
    const [m] = completionMarks(
      "COMPLETE",
      so(false, false, [
        { name: "tests", verdict: "SKIPPED" },
        { name: "lifecycle", verdict: "FAIL" },
      ]),
      0,
    );
    expect(m.detail).toBe("Completed, but not every gate passed: tests skipped, lifecycle fail");
  });
});
