import { describe, expect, it } from "vitest";
import { detectDivergence, hasDivergence, raisedFlags } from "../../src/lifecycle/divergence";
import { projectLifecycle } from "../../src/lifecycle/project";
import type { DivergenceFlagName } from "../../src/lifecycle/types";
import { LOOP_ID, makeFacts, recordingFacts, type FactsPatch } from "./support/facts";

const INACTIVE = { active: false, current_loop_id: LOOP_ID, updated_at: "2026-11-24T06:54:23Z" };

const ROWS: readonly { name: string; patch: FactsPatch; raised: DivergenceFlagName[]; evidence?: Record<string, unknown> }[] = [
  { name: "nothing", patch: {}, raised: [] },
  {
    name: "inactive state, active-phase event after its updated_at",
    patch: { runtime: { state: INACTIVE }, events: { lastActivePhaseEventAt: "2026-11-24T06:55:00Z" } },
    raised: ["activeMismatch"],
    evidence: { "runtime.state.active": false, "runtime.state.updated_at": INACTIVE.updated_at, "events.lastActivePhaseEventAt": "2026-11-24T06:55:00Z" },
  },
  { name: "inactive state, active-phase event in the same second", patch: { runtime: { state: INACTIVE }, events: { lastActivePhaseEventAt: INACTIVE.updated_at } }, raised: [] },
  { name: "inactive state, active-phase event before it", patch: { runtime: { state: INACTIVE }, events: { lastActivePhaseEventAt: "2026-11-24T06:54:21Z" } }, raised: [] },
  { name: "active state, later events are normal", patch: { runtime: { state: { ...INACTIVE, active: true } }, events: { lastActivePhaseEventAt: "2026-11-24T06:55:00Z" } }, raised: [] },
  { name: "no state.json at all", patch: { events: { lastActivePhaseEventAt: "2026-11-24T06:55:00Z" } }, raised: [] },
  { name: "inactive state without updated_at cannot be compared", patch: { runtime: { state: { active: false } }, events: { lastActivePhaseEventAt: "2026-11-24T06:55:00Z" } }, raised: [] },
  {
    name: "approval pending while completion_ok",
    patch: { runtime: { approval: { status: "pending", run_id: "r", iteration: 2 }, lastSummary: { run_id: "r", iteration: 2, completion_ok: true } } },
    raised: ["approvalCompletionConflict"],
    evidence: { "runtime.approval.status": "pending", "runtime.lastSummary.completion_ok": true, "runtime.approval.run_id": "r", "runtime.lastSummary.iteration": 2 },
  },
  { name: "approval approved while completion_ok is no conflict", patch: { runtime: { approval: { status: "approved" }, lastSummary: { completion_ok: true } } }, raised: [] },
  { name: "approval pending, completion false", patch: { runtime: { approval: { status: "pending" }, lastSummary: { completion_ok: false } } }, raised: [] },
  {
    name: "event log shorter than what was ingested",
    patch: { ingest: { status: "FORKED", error: "events.jsonl has 10 lines, 26 ingested", regression: { storedLines: 26, fileLines: 10 } } },
    raised: ["cursorRegression"],
    evidence: { "ingest.regression.storedLines": 26, "ingest.regression.fileLines": 10, "ingest.status": "FORKED" },
  },
  {
    name: "all three at once",
    patch: {
      runtime: { state: INACTIVE, approval: { status: "pending" }, lastSummary: { completion_ok: true } },
      events: { lastActivePhaseEventAt: "2026-11-24T06:59:00Z" },
      ingest: { regression: { storedLines: 5, fileLines: 1 } },
    },
    raised: ["activeMismatch", "approvalCompletionConflict", "cursorRegression"],
  },
];

describe("divergence flags", () => {
  it.each(ROWS)("$name → [$raised]", (row) => {
    const divergence = detectDivergence(makeFacts(row.patch));
    expect(raisedFlags(divergence)).toEqual(row.raised);
    expect(hasDivergence(divergence)).toBe(row.raised.length > 0);
    if (row.evidence) expect(divergence[row.raised[0]]?.evidence).toMatchObject(row.evidence);
  });

  it("the approval recording plus a late role_start raises activeMismatch next to its state", () => {
    const facts = recordingFacts("approval", { events: { lastActivePhaseEventAt: "2026-11-24T06:54:30Z" } });
    const projection = projectLifecycle(facts);
    expect(projection.state).toBe("AWAITING_APPROVAL");
    expect(projection.divergence.activeMismatch).not.toBeNull();
  });
});
