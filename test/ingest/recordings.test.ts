import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { fileLines, RECORDINGS, repoFromRecording } from "../support/fixtures";
import { register, sync } from "../support/runs";
import { startTestServer } from "../support/server";
import { originalLine } from "../../src/events/stored-event";

// Ground truth from test/fixtures/recordings/README.md, through the whole pipeline:
// local transport → ingest transaction → projection → GraphQL.
const TRUTH: Record<string, { state: string; reason: string; needsIntervention: boolean; runtimeRunId: string; iteration: number }> = {
  approval: { state: "AWAITING_APPROVAL", reason: "awaiting_approval", needsIntervention: true, runtimeRunId: "2026-11-24T06:54:18Z", iteration: 1 },
  approved: { state: "IDLE", reason: "approved_pending_run", needsIntervention: true, runtimeRunId: "2026-11-24T06:54:18Z", iteration: 1 },
  "approved-complete": { state: "COMPLETE", reason: "completed", needsIntervention: false, runtimeRunId: "2026-11-24T06:58:10Z", iteration: 1 },
  rejected: { state: "AWAITING_APPROVAL", reason: "awaiting_approval", needsIntervention: true, runtimeRunId: "2026-11-24T06:58:14Z", iteration: 1 },
  complete: { state: "COMPLETE", reason: "completed", needsIntervention: false, runtimeRunId: "2026-11-24T06:54:25Z", iteration: 1 },
  maxiter: { state: "STOPPED", reason: "max_iterations", needsIntervention: true, runtimeRunId: "2026-11-24T06:54:32Z", iteration: 2 },
  failure: { state: "FAILED", reason: "runtime_died", needsIntervention: true, runtimeRunId: "2026-11-24T06:54:43Z", iteration: 1 },
};

let server: RunningServer;
beforeAll(async () => {
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "60000" });
});
afterAll(() => server?.close());

describe("every recording of the real runtime", () => {
  it("has a ground truth here", () => expect(Object.keys(TRUTH).sort()).toEqual(RECORDINGS));

  it.each(RECORDINGS)("%s: projects the ground-truth state and stores every line exactly once", async (rec) => {
    const repo = repoFromRecording(rec);
    const run = await register(server, `rec-${rec}`, repo);
    const s = await sync(server, run.id);
    const t = TRUTH[rec];
    expect({ state: s.state, reason: s.stateReason, runtimeRunId: s.runtimeRunId, iteration: s.iteration }).toEqual({
      state: t.state,
      reason: t.reason,
      runtimeRunId: t.runtimeRunId,
      iteration: t.iteration,
    });
    expect(s.state).not.toBe("RUNNING");
    const lines = fileLines(repo);
    expect(s.ingest).toEqual({ status: "OK", cursorLine: lines.length, lastError: null });
    const stored = await server.app.db.event.findMany({ where: { runId: run.raw }, orderBy: { line: "asc" } });
    expect(stored.map((e) => e.line)).toEqual(lines.map((_, i) => i + 1));
    expect(stored.map((e) => originalLine(e))).toEqual(lines);
    const row = await server.app.db.run.findUniqueOrThrow({ where: { id: run.raw } });
    expect(row.needsIntervention).toBe(t.needsIntervention);
    const transitions = await server.app.db.lifecycleTransition.findMany({ where: { runId: run.raw }, orderBy: { seq: "asc" } });
    expect(transitions.map((x) => [x.from, x.to, x.reason, x.trigger])).toEqual([
      [null, "IDLE", "not_started", "register"],
      ["IDLE", t.state, t.reason, "ingest"],
    ]);
  });

  it("lists the runs that need an operator, with suggested actions", async () => {
    const r = await gql(server.url, `{ interventions { severity reasons { code severity } suggestedActions run { loopId sprite { name } state } } }`);
    expect(r.errors).toBeUndefined();
    const byName = new Map(r.data!.interventions.map((i: { run: { sprite: { name: string } } }) => [i.run.sprite.name, i]));
    expect(byName.get("rec-approval")).toMatchObject({ suggestedActions: expect.arrayContaining(["APPROVE", "REJECT"]), reasons: [{ code: "approval_pending" }] });
    // after a crash a plain run is refused over the stale state (docs/runtime.md): RESTART
    expect(byName.get("rec-failure")).toMatchObject({ severity: "critical", suggestedActions: expect.arrayContaining(["RESTART"]) });
    expect(byName.has("rec-complete")).toBe(false);
    expect(byName.has("rec-approved-complete")).toBe(false);
    const filtered = await gql(server.url, `{ runs(filter: { needsIntervention: false }) { edges { node { sprite { name } } } } }`);
    const calm = filtered.data!.runs.edges.map((e: { node: { sprite: { name: string } } }) => e.node.sprite.name).sort();
    expect(calm).toEqual(["rec-approved-complete", "rec-complete"]);
  });
});
