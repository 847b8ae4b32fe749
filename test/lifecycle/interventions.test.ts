import { describe, expect, it } from "vitest";
import type { Health } from "../../src/lifecycle/health";
import { needsIntervention, type InterventionRun, type SuggestedAction } from "../../src/lifecycle/interventions";

const SINCE = "2026-11-24T10:00:00.000Z";
const HEALTHY: Health = { status: "HEALTHY", reasons: [] };
const NO_DIVERGENCE = { activeMismatch: null, approvalCompletionConflict: null, cursorRegression: null };

function run(patch: Partial<InterventionRun>): InterventionRun {
  return {
    state: "RUNNING",
    reason: "running",
    health: HEALTHY,
    divergence: NO_DIVERGENCE,
    ingestStatus: "OK",
    approvalPending: false,
    stateSince: SINCE,
    ...patch,
  };
}

const stale: Health = {
  status: "CRITICAL",
  reasons: [{ code: "ingest_stale", severity: "critical", since: "2026-11-24T11:00:00.000Z", message: "last event is 1000s old" }],
};

const ROWS: readonly { name: string; run: InterventionRun; codes: string[] | null; actions?: SuggestedAction[] }[] = [
  { name: "healthy RUNNING", run: run({}), codes: null },
  { name: "COMPLETE", run: run({ state: "COMPLETE", reason: "completed" }), codes: null },
  { name: "IDLE/not_started", run: run({ state: "IDLE", reason: "not_started" }), codes: null },
  { name: "IDLE/idle", run: run({ state: "IDLE", reason: "idle" }), codes: null },
  { name: "STOPPED/cancelled (deliberate)", run: run({ state: "STOPPED", reason: "cancelled" }), codes: null },
  { name: "RUNNING/starting, fresh", run: run({ reason: "starting" }), codes: null },
  { name: "pending approval", run: run({ state: "AWAITING_APPROVAL", reason: "awaiting_approval", approvalPending: true }), codes: ["approval_pending"], actions: ["APPROVE", "REJECT"] },
  { name: "approved, waiting for a run", run: run({ state: "IDLE", reason: "approved_pending_run" }), codes: ["approved_pending_run"], actions: ["START"] },
  { name: "rejected, waiting for a run", run: run({ state: "IDLE", reason: "rejected_pending_run" }), codes: ["rejected_pending_run"], actions: ["START"] },
  { name: "stale running (health)", run: run({ health: stale }), codes: ["stale_running"], actions: ["CANCEL", "INSPECT"] },
  { name: "stale running (projection flag)", run: run({ stale: true }), codes: ["stale_running"], actions: ["CANCEL", "INSPECT"] },
  { name: "paused", run: run({ state: "PAUSED", reason: "paused" }), codes: ["paused"], actions: ["RESUME"] },
  // the runtime still says active after dying, so a plain START is refused by it: RESTART (cancel, then run)
  { name: "FAILED/runtime_died", run: run({ state: "FAILED", reason: "runtime_died" }), codes: ["run_failed"], actions: ["RESTART", "INSPECT"] },
  { name: "FAILED/timeout", run: run({ state: "FAILED", reason: "timeout" }), codes: ["run_failed"], actions: ["START", "INSPECT"] },
  { name: "FAILED/sprite_missing: nothing to start on", run: run({ state: "FAILED", reason: "sprite_missing" }), codes: ["sprite_missing"], actions: ["INSPECT"] },
  { name: "STOPPED/max_iterations", run: run({ state: "STOPPED", reason: "max_iterations" }), codes: ["run_stopped"], actions: ["START"] },
  { name: "STOPPED/rate_limited", run: run({ state: "STOPPED", reason: "rate_limited" }), codes: ["run_stopped"], actions: ["RESTART"] },
  {
    name: "cursor fork freezes everything but reset/inspect",
    run: run({ state: "FAILED", reason: "runtime_died", ingestStatus: "FORKED" }),
    codes: ["run_failed", "cursor_fork"],
    actions: ["RESET_CURSOR", "INSPECT"],
  },
  { name: "ingest error", run: run({ state: "COMPLETE", reason: "completed", ingestStatus: "ERROR" }), codes: ["ingest_error"], actions: ["INSPECT"] },
  {
    name: "divergence on a pending approval: approve/reject would be refused",
    run: run({ state: "AWAITING_APPROVAL", reason: "awaiting_approval", approvalPending: true, divergence: { ...NO_DIVERGENCE, approvalCompletionConflict: { evidence: {} } } }),
    codes: ["approval_pending", "divergence"],
    actions: ["INSPECT"],
  },
  {
    name: "critical transport failure on a running run",
    run: run({ health: { status: "CRITICAL", reasons: [{ code: "transport_unreachable", severity: "critical", since: SINCE, message: "4 failures" }] } }),
    codes: ["transport_unreachable"],
    actions: ["INSPECT"],
  },
  {
    name: "warning-level transport failure alone needs nobody",
    run: run({ health: { status: "DEGRADED", reasons: [{ code: "transport_unreachable", severity: "warning", since: SINCE, message: "2 failures" }] } }),
    codes: null,
  },
];

describe("needsIntervention", () => {
  it.each(ROWS)("$name → $codes", (row) => {
    const result = needsIntervention(row.run);
    if (row.codes === null) {
      expect(result).toBeNull();
      return;
    }
    expect(result?.reasons.map((reason) => reason.code)).toEqual(row.codes);
    expect(result?.suggestedActions).toEqual(row.actions);
  });

  it("takes since and severity from the health reason it is based on", () => {
    const result = needsIntervention(run({ health: stale }));
    expect(result?.reasons[0]).toMatchObject({ severity: "critical", since: "2026-11-24T11:00:00.000Z", message: "last event is 1000s old" });
  });

  it("state-derived reasons start when the state did", () => {
    const result = needsIntervention(run({ state: "AWAITING_APPROVAL", reason: "awaiting_approval", approvalPending: true }));
    expect(result?.reasons[0]).toMatchObject({ severity: "warning", since: SINCE });
  });
});
