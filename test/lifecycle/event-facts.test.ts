import { describe, expect, it } from "vitest";
import { emptyEventFacts, foldEventFacts, isActivePhaseEvent, summarizeEvents, type EventRecord } from "../../src/lifecycle/event-facts";
import { latestRunIdentity } from "../../src/lifecycle/identity";
import { makeFacts, recordingEvents } from "./support/facts";

function ev(name: string, runId: string | null, iteration: number | null, timestamp: string, data?: Record<string, unknown>): EventRecord {
  return { name, status: null, timestamp, runId, iteration, data: data ?? null };
}

describe("isActivePhaseEvent", () => {
  it.each([
    ["iteration_start", true],
    ["iteration_end", true],
    ["role_start", true],
    ["role_end", true],
    ["tests_start", true],
    ["validation_end", true],
    ["lifecycle_start", true],
    ["checklist_end", true],
    ["promise_checked", true],
    ["gates_evaluated", true],
    ["loop_start", false],
    ["loop_complete", false],
    ["loop_stop", false],
    ["approval_requested", false],
    ["approval_decision", false],
    ["rate_limit_stop", false],
    ["something_start", false],
  ])("%s → %s", (name, expected) => {
    expect(isActivePhaseEvent(name)).toBe(expected);
  });
});

describe("summarizeEvents over the recordings", () => {
  it.each([
    ["approval", 26, "approval_requested", "2026-11-24T06:54:18Z", 1, "2026-11-24T06:54:21Z", null],
    ["approved-complete", 30, "loop_complete", "2026-11-24T06:58:10Z", 1, "2026-11-24T06:54:21Z", null],
    ["rejected", 54, "approval_requested", "2026-11-24T06:58:14Z", 1, "2026-11-24T06:58:18Z", null],
    ["maxiter", 50, "loop_stop", "2026-11-24T06:54:32Z", 2, "2026-11-24T06:54:40Z", "max_iterations"],
    ["failure", 3, "role_start", "2026-11-24T06:54:43Z", 1, "2026-11-24T06:54:43Z", null],
  ] as const)("%s", (recording, count, lastName, runId, iteration, lastActive, stopReason) => {
    const facts = summarizeEvents(recordingEvents(recording));
    expect(facts).toMatchObject({
      count,
      latestRunId: runId,
      latestIteration: iteration,
      lastActivePhaseEventAt: lastActive,
      stopReason,
    });
    expect(facts.last?.name).toBe(lastName);
  });

  it.each(["approval", "approved-complete", "rejected", "maxiter", "complete"])("%s: folding in any two batches equals one pass", (recording) => {
    const all = recordingEvents(recording);
    const whole = summarizeEvents(all);
    for (let split = 0; split <= all.length; split += 1) {
      expect(foldEventFacts(foldEventFacts(emptyEventFacts(), all.slice(0, split)), all.slice(split))).toEqual(whole);
    }
  });
});

describe("run identity", () => {
  it("without any loop_start the last event's run id is used", () => {
    const facts = summarizeEvents([ev("role_start", "a", 1, "2026-01-01T00:00:00Z"), ev("role_end", "b", 1, "2026-01-01T00:00:01Z")]);
    expect(facts.latestRunId).toBe("b");
    expect(latestRunIdentity(makeFacts({ events: facts })).runIdSource).toBe("last_event");
  });

  it("a loop_start pins the run id against later events carrying the original id", () => {
    const facts = summarizeEvents([
      ev("loop_start", "new", 1, "2026-01-01T00:00:00Z"),
      ev("approval_consumed", "orig", 1, "2026-01-01T00:00:01Z"),
      ev("loop_complete", "orig", 1, "2026-01-01T00:00:02Z"),
    ]);
    expect(facts.latestRunId).toBe("new");
    expect(facts.latestLoopStartAt).toBe("2026-01-01T00:00:00Z");
    expect(latestRunIdentity(makeFacts({ events: facts }))).toEqual({ runtimeRunId: "new", runIdSource: "loop_start", iteration: 1 });
  });

  it.each([
    ["approval.json", { approval: { status: "pending", run_id: "ap", iteration: 3 } }, "ap", "approval", 3],
    ["summary", { lastSummary: { run_id: "sum", iteration: 4 } }, "sum", "summary", 4],
    ["nothing", {}, null, null, null],
  ] as const)("with no events falls back to %s", (_label, runtime, runId, source, iteration) => {
    expect(latestRunIdentity(makeFacts({ runtime }))).toEqual({ runtimeRunId: runId, runIdSource: source, iteration });
  });

  it("a live process's iteration wins; state.json iteration 0 is ignored", () => {
    const live = makeFacts({
      runtime: { activeRun: { loop_id: "demo-loop", iteration: 5 }, activeRunAlive: true, state: { active: true, current_loop_id: "demo-loop", iteration: 5 } },
      events: { latestIteration: 4 },
    });
    expect(latestRunIdentity(live).iteration).toBe(5);
    const reset = makeFacts({ runtime: { state: { active: false, current_loop_id: "", iteration: 0 } } });
    expect(latestRunIdentity(reset).iteration).toBeNull();
  });
});
