import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { projectLifecycle } from "../../src/lifecycle/project";
import type { LifecycleState, RunFacts } from "../../src/lifecycle/types";
import { LOOP_ID, makeFacts, RECORDINGS_DIR, recordingFacts, REFERENCE_DIR } from "./support/facts";

// Ground truth from test/fixtures/recordings/README.md, one row per recording of the real runtime.
const GROUND_TRUTH: readonly {
  recording: string;
  state: LifecycleState;
  reason: string;
  ruleId: string;
  runtimeRunId: string;
  iteration: number;
}[] = [
  { recording: "approval", state: "AWAITING_APPROVAL", reason: "awaiting_approval", ruleId: "approval_pending", runtimeRunId: "2026-11-24T06:54:18Z", iteration: 1 },
  // approve accepted, not yet complete: the runtime must run again
  { recording: "approved", state: "IDLE", reason: "approved_pending_run", ruleId: "approved_pending_run", runtimeRunId: "2026-11-24T06:54:18Z", iteration: 1 },
  // the completing events carry the original run id; the identity follows the newest loop_start
  { recording: "approved-complete", state: "COMPLETE", reason: "completed", ruleId: "completed", runtimeRunId: "2026-11-24T06:58:10Z", iteration: 1 },
  { recording: "rejected", state: "AWAITING_APPROVAL", reason: "awaiting_approval", ruleId: "approval_pending", runtimeRunId: "2026-11-24T06:58:14Z", iteration: 1 },
  { recording: "complete", state: "COMPLETE", reason: "completed", ruleId: "completed", runtimeRunId: "2026-11-24T06:54:25Z", iteration: 1 },
  // loop_stop carries iteration 3 (max + 1); two iterations ran
  { recording: "maxiter", state: "STOPPED", reason: "max_iterations", ruleId: "stop_event", runtimeRunId: "2026-11-24T06:54:32Z", iteration: 2 },
  { recording: "failure", state: "FAILED", reason: "runtime_died", ruleId: "runtime_died", runtimeRunId: "2026-11-24T06:54:43Z", iteration: 1 },
];

const NO_DIVERGENCE = { activeMismatch: null, approvalCompletionConflict: null, cursorRegression: null };

describe("recordings of the real runtime", () => {
  it("covers every recording folder", () => {
    const folders = readdirSync(RECORDINGS_DIR).filter((name) => statSync(path.join(RECORDINGS_DIR, name)).isDirectory());
    expect(GROUND_TRUTH.map((row) => row.recording).sort()).toEqual(folders.sort());
  });

  it.each(GROUND_TRUTH)("$recording → $state/$reason", (row) => {
    const projection = projectLifecycle(recordingFacts(row.recording));
    expect(projection).toMatchObject({
      state: row.state,
      reason: row.reason,
      ruleId: row.ruleId,
      runtimeRunId: row.runtimeRunId,
      iteration: row.iteration,
      divergence: NO_DIVERGENCE,
      stale: false,
    });
  });

  it.each(GROUND_TRUTH)("$recording is unchanged by a COLD (hibernated) or UNREACHABLE sprite", (row) => {
    for (const sprite of ["COLD", "UNREACHABLE", "RUNNING", "UNKNOWN"] as const) {
      const projection = projectLifecycle(recordingFacts(row.recording, { sprite }));
      expect([projection.state, projection.reason]).toEqual([row.state, row.reason]);
    }
  });

  const MISSING: readonly [string, LifecycleState, string][] = [
    ["approval", "FAILED", "sprite_missing"],
    ["approved", "FAILED", "sprite_missing"],
    ["rejected", "FAILED", "sprite_missing"],
    ["failure", "FAILED", "sprite_missing"],
    // a run the runtime already finished keeps its outcome
    ["complete", "COMPLETE", "completed"],
    ["approved-complete", "COMPLETE", "completed"],
    ["maxiter", "STOPPED", "max_iterations"],
  ];
  it.each(MISSING)("%s with a MISSING sprite → %s/%s", (recording, state, reason) => {
    const projection = projectLifecycle(recordingFacts(recording, { sprite: "MISSING" }));
    expect([projection.state, projection.reason]).toEqual([state, reason]);
  });

  it("records the deciding facts as evidence (failure: active state, no active-run.json)", () => {
    const projection = projectLifecycle(recordingFacts("failure"));
    expect(projection.evidence).toMatchObject({
      "runtime.state.active": true,
      "runtime.state.current_loop_id": LOOP_ID,
      "runtime.activeRun": null,
      "events.last.name": "role_start",
    });
  });
});

describe("cases derived from the recordings", () => {
  const derived: readonly { name: string; facts: () => RunFacts; state: LifecycleState; reason: string }[] = [
    {
      name: "failure + cancel accepted, state.json and active-run.json deleted → STOPPED/cancelled",
      facts: () =>
        recordingFacts("failure", {
          runtime: { state: null, activeRun: null },
          control: { cancelAcceptedAt: "2026-11-24T06:55:00Z" },
        }),
      state: "STOPPED",
      reason: "cancelled",
    },
    {
      name: "failure with state.json deleted but no cancel by the manager → UNKNOWN",
      facts: () => recordingFacts("failure", { runtime: { state: null } }),
      state: "UNKNOWN",
      reason: "unknown",
    },
    {
      name: "complete, then a new run is working (state active, live active-run.json) → RUNNING",
      facts: () =>
        recordingFacts("complete", {
          runtime: {
            state: { active: true, current_loop_id: LOOP_ID, iteration: 1, updated_at: "2026-11-24T06:56:00Z" },
            activeRun: { pid: 42, pgid: 42, loop_id: LOOP_ID, iteration: 1, stage: "planner" },
            activeRunAlive: null,
          },
        }),
      state: "RUNNING",
      reason: "running",
    },
    {
      name: "complete, then a new run crashed (state active, no active-run.json) → FAILED/runtime_died",
      facts: () =>
        recordingFacts("complete", {
          runtime: { state: { active: true, current_loop_id: LOOP_ID, iteration: 1, updated_at: "2026-11-24T06:56:00Z" } },
        }),
      state: "FAILED",
      reason: "runtime_died",
    },
    {
      name: "approved + a start dispatched, loop_start not yet seen → RUNNING/starting",
      facts: () => recordingFacts("approved", { control: { startDispatchedAt: "2026-11-24T06:58:09Z" } }),
      state: "RUNNING",
      reason: "starting",
    },
  ];
  it.each(derived)("$name", (row) => {
    const projection = projectLifecycle(row.facts());
    expect([projection.state, projection.reason]).toEqual([row.state, row.reason]);
  });
});

describe("reference snapshot: approval pending while completion_ok is true", () => {
  it("stays AWAITING_APPROVAL and raises approvalCompletionConflict", () => {
    const snapshot = JSON.parse(readFileSync(path.join(REFERENCE_DIR, "snapshot-approval-completion-conflict.v1.json"), "utf8")) as {
      run: { summary: RunFacts["runtime"]["lastSummary"] };
      runtime: { superloopState: RunFacts["runtime"]["state"]; activeRun: RunFacts["runtime"]["activeRun"]; approval: RunFacts["runtime"]["approval"] };
      health: { eventCount: number; lastEventAt: string; lastEventName: string };
    };
    const facts = makeFacts({
      now: new Date("2026-02-22T10:06:00Z"),
      runtime: {
        loopDirExists: true,
        eventsFileExists: true,
        state: snapshot.runtime.superloopState,
        activeRun: snapshot.runtime.activeRun,
        approval: snapshot.runtime.approval,
        lastSummary: snapshot.run.summary,
      },
      events: {
        count: snapshot.health.eventCount,
        last: { name: snapshot.health.lastEventName, status: null, timestamp: snapshot.health.lastEventAt, runId: "run-999", iteration: 5 },
        latestRunId: "run-999",
      },
    });
    const projection = projectLifecycle(facts);
    expect(projection.state).toBe("AWAITING_APPROVAL");
    expect(projection.divergence.approvalCompletionConflict?.evidence).toMatchObject({
      "runtime.approval.status": "pending",
      "runtime.lastSummary.completion_ok": true,
      "runtime.approval.run_id": "run-999",
    });
  });
});
