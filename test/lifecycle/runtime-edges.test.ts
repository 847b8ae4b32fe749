import { describe, expect, it } from "vitest";
import { projectHealth } from "../../src/lifecycle/health";
import { needsIntervention } from "../../src/lifecycle/interventions";
import { isStale, projectLifecycle } from "../../src/lifecycle/project";
import { resolveThresholds } from "../../src/lifecycle/thresholds";
import { LOOP_ID, makeFacts, NOW } from "./support/facts";

// The runtime edges (docs/runtime.md) that are not a single rule row: how long a usage-limit wait may be silent, what a rate-limit
// stop tells the operator, and recovery escalations in the intervention queue.

const ACTIVE = { active: true, current_loop_id: LOOP_ID, iteration: 1, updated_at: "2026-11-24T05:00:00Z" };
const waiting = (ageSec: number, usageWaitMaxSeconds: number | null) =>
  makeFacts({
    runtime: { loopDirExists: true, eventsFileExists: true, state: ACTIVE, activeRun: { pid: 4242, pgid: 4242, loop_id: LOOP_ID }, activeRunAlive: true, usageWaitMaxSeconds },
    events: {
      count: 5,
      last: { name: "usage_limit_blocked", status: "error", timestamp: new Date(NOW.getTime() - ageSec * 1000).toISOString(), runId: "r1", iteration: 1 },
    },
    staleAfterMs: 600_000,
  });

describe("waiting on a usage limit", () => {
  it("is RUNNING/waiting_usage_limit and not stale until max_wait_seconds is over", () => {
    expect(projectLifecycle(waiting(3600, 7200))).toMatchObject({ state: "RUNNING", reason: "waiting_usage_limit", stale: false });
    expect(projectLifecycle(waiting(7300, 7200))).toMatchObject({ state: "RUNNING", reason: "waiting_usage_limit", stale: true });
    // max_wait_seconds 0: the runtime waits forever, so silence is never staleness
    expect(isStale(waiting(10 * 86400, 0), "RUNNING", "waiting_usage_limit")).toBe(false);
    // a plain running run with the same silence is stale after the normal threshold
    expect(isStale(waiting(3600, 7200), "RUNNING", "running")).toBe(true);
  });

  it("raises no ingest_stale health reason during the wait", () => {
    const thresholds = resolveThresholds("strict");
    const base = {
      now: NOW,
      state: "RUNNING" as const,
      lastEventAt: new Date(NOW.getTime() - 3600_000).toISOString(),
      heartbeatAt: null,
      transport: { failureStreak: 0, failingSince: null },
      ingest: { status: "OK" as const, error: null },
      divergence: { activeMismatch: null, approvalCompletionConflict: null, cursorRegression: null },
      lastIntent: null,
      spriteStatus: "RUNNING" as const,
      thresholds,
    };
    expect(projectHealth({ ...base, quietUntil: new Date(NOW.getTime() + 3600_000).toISOString() }).reasons).toEqual([]);
    expect(projectHealth({ ...base, quietUntil: "never" }).reasons).toEqual([]);
    expect(projectHealth({ ...base, quietUntil: null }).reasons.map((r) => r.code)).toEqual(["ingest_stale"]);
  });
});

describe("interventions for the runtime's edges", () => {
  const health = { status: "HEALTHY" as const, reasons: [] };
  const divergence = { activeMismatch: null, approvalCompletionConflict: null, cursorRegression: null };
  const base = { health, divergence, ingestStatus: "OK" as const, approvalPending: false, stateSince: NOW.toISOString() };

  it("a rate-limit stop names the rate limit and the provider's message, and suggests RESTART", () => {
    const i = needsIntervention({ ...base, state: "STOPPED", reason: "rate_limited", runtime: { rateLimit: { role: "planner", message: "Rate limit exceeded" } } });
    expect(i?.reasons[0]?.message).toBe("stopped: rate_limited (planner: Rate limit exceeded); the runtime never resumes by itself: RESTART (cancel, then run)");
    expect(i?.suggestedActions).toContain("RESTART");
  });

  it("a killed run suggests RESTART", () => {
    const i = needsIntervention({ ...base, state: "FAILED", reason: "killed" });
    expect(i?.reasons[0]).toMatchObject({ code: "run_failed", severity: "critical" });
    expect(i?.suggestedActions).toEqual(expect.arrayContaining(["RESTART", "INSPECT"]));
  });

  it("a stuck stop says the next run will be refused", () => {
    const i = needsIntervention({ ...base, state: "STOPPED", reason: "stuck", runtime: { stuck: { streak: 2, threshold: 2, reason: "no_change" } } });
    expect(i?.reasons[0]?.message).toMatch(/stuck\.json.*refused/);
  });

  it("a pending recovery escalation is an attention item with its proposal and reason, on a healthy running run", () => {
    const escalation = {
      status: "pending",
      type: "recovery_approval_required",
      proposal: "rm -rf node_modules && npm install",
      reason: "unknown command requires approval",
      timestamp: "2026-11-24T06:58:00Z",
    };
    const i = needsIntervention({ ...base, state: "RUNNING", reason: "running", runtime: { escalation } });
    expect(i?.reasons).toEqual([
      {
        code: "recovery_escalated",
        severity: "warning",
        since: "2026-11-24T06:58:00Z",
        message: "recovery escalated: unknown command requires approval; proposal: rm -rf node_modules && npm install",
      },
    ]);
    expect(i?.suggestedActions).toEqual(["INSPECT"]);
    // it clears when the file goes (or is no longer pending)
    expect(needsIntervention({ ...base, state: "RUNNING", reason: "running", runtime: { escalation: null } })).toBeNull();
    expect(needsIntervention({ ...base, state: "RUNNING", reason: "running", runtime: { escalation: { ...escalation, status: "approved" } } })).toBeNull();
  });
});
