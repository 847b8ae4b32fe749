import { appendFileSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { collect, gql, wsClient } from "../support/clients";
import { register, sync, waitFor } from "../support/runs";
import { startTestServer } from "../support/server";

// The API behind the dashboard's pictures, on a real server reading a real repo: an approval followed by a resume
// is two attempts with the approver on the sign-off; the swimlane pairs role events; an acknowledged intervention
// leaves the queue and is recorded; runLifecycleChanged resumes from afterSeq without a gap or a duplicate.

let server: RunningServer;
beforeAll(async () => {
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "60000" });
});
afterAll(() => server?.close());

let n = 0;
function line(name: string, runId: string, extra: Record<string, unknown> = {}): string {
  n++;
  return JSON.stringify({ timestamp: new Date(Date.UTC(2026, 10, 24, 9, 0, n)).toISOString(), event: name, loop_id: "demo-loop", run_id: runId, iteration: 1, ...extra }) + "\n";
}
function writeJson(file: string, value: unknown) {
  writeFileSync(`${file}.tmp`, JSON.stringify(value));
  renameSync(`${file}.tmp`, file);
}
const ROLES = ["planner", "implementer", "tester", "reviewer"];
const GATES = { tests: "skipped", validation: "skipped", checklist: "ok", lifecycle: "ok" };

function repoAwaitingApproval(): { repo: string; events: string; loopDir: string } {
  const repo = mkdtempSync(path.join(tmpdir(), "ops-dash-"));
  const loopDir = path.join(repo, ".superloop", "loops", "demo-loop");
  mkdirSync(loopDir, { recursive: true });
  const events = path.join(loopDir, "events.jsonl");
  let text = line("loop_start", "r-1", { data: { max_iterations: 3, tests_mode: "disabled" } }) + line("iteration_start", "r-1");
  for (const role of ROLES) text += line("role_start", "r-1", { role }) + line("role_end", "r-1", { role });
  text += line("promise_checked", "r-1", { data: { expected: "SUPERLOOP_COMPLETE", text: "SUPERLOOP_COMPLETE", matched: true } });
  text += line("tests_start", "r-1", { data: { mode: "disabled" } });
  text += line("gates_evaluated", "r-1", { data: { promise: true, ...GATES, approval: "pending" } });
  text += line("approval_requested", "r-1", { data: { approval_file: "x" } });
  appendFileSync(events, text);
  writeJson(path.join(loopDir, "approval.json"), { status: "pending", loop_id: "demo-loop", run_id: "r-1", iteration: 1, requested_at: "2026-11-24T09:00:20Z" });
  writeJson(path.join(loopDir, "run-summary.json"), { version: 1, loop_id: "demo-loop", entries: [{ run_id: "r-1", iteration: 1, gates: { ...GATES, approval: "pending" }, completion_ok: false }] });
  writeJson(path.join(repo, ".superloop", "state.json"), { active: false, loop_index: 0, iteration: 1, current_loop_id: "demo-loop" });
  return { repo, events, loopDir };
}

const HISTORY = `query($id: ID!) { run(id: $id) { ... on Run {
  state seq restartCount maxIterations
  attempts { index runtimeRunId outcome stopReason startedBy restart }
  roleSpans { iteration role status durationMs }
  signOff { allGreen promiseMatched testsMode approvalSkipped completionOk gates { name status verdict } approval { status by note source } }
  eventRate(buckets: 5, bucketSeconds: 60)
  stateSpans(hours: 24) { state to }
} } }`;

describe("dashboard API", () => {
  it("approval, acknowledgement, approve + resume: attempts, swimlane, sign-off, queue and recently resolved", async () => {
    const { repo, events, loopDir } = repoAwaitingApproval();
    const run = await register(server, "dash-approval", repo);
    await waitFor(
      () => sync(server, run.id),
      (r) => r.state === "AWAITING_APPROVAL",
      10_000,
      "AWAITING_APPROVAL",
    );

    const before = (await gql(server.url, HISTORY, { id: run.id })).data!.run;
    expect(before.attempts).toEqual([{ index: 1, runtimeRunId: "r-1", outcome: "AWAITING_APPROVAL", stopReason: "approval_requested", startedBy: "runtime", restart: false }]);
    expect(before.maxIterations).toBe(3);
    expect(before.roleSpans.map((s: { role: string; status: string }) => `${s.role}:${s.status}`)).toEqual(ROLES.map((r) => `${r}:ok`));
    expect(before.signOff).toMatchObject({ promiseMatched: true, testsMode: "disabled", approval: null, approvalSkipped: false });
    expect(before.eventRate).toHaveLength(5);

    // In the queue; acknowledged, it leaves it (and the subscription says so), recorded with who and why.
    const queue = async (all = false) =>
      (await gql(server.url, `query($all: Boolean) { interventions(includeAcknowledged: $all) { run { id } acknowledgement { kind by note } } }`, { all })).data!.interventions as {
        run: { id: string };
        acknowledgement: { kind: string; by: string; note: string } | null;
      }[];
    expect((await queue()).some((i) => i.run.id === run.id)).toBe(true);
    const client = wsClient(server.url);
    const changes = collect(client, `subscription { interventionsChanged { ... on InterventionChange { runId intervention { run { id } } } } }`);
    await waitFor(
      async () => server.app.bus.listenerCount("run", "*"),
      (c) => c >= 1,
      5000,
      "subscriber",
    );
    const ack = await gql(
      server.url,
      `mutation($id: ID!) { acknowledgeIntervention(runId: $id, note: "asking the author") { __typename ... on InterventionAck { kind by note until active reasonCodes } } }`,
      { id: run.id },
    );
    expect(ack.data!.acknowledgeIntervention).toMatchObject({ __typename: "InterventionAck", kind: "ACKNOWLEDGED", note: "asking the author", until: null, active: true });
    expect(ack.data!.acknowledgeIntervention.reasonCodes.length).toBeGreaterThan(0);
    expect((await queue()).some((i) => i.run.id === run.id)).toBe(false);
    expect((await queue(true)).find((i) => i.run.id === run.id)?.acknowledgement).toMatchObject({ kind: "ACKNOWLEDGED", note: "asking the author" });
    await waitFor(
      async () => changes.items.map((c) => c.data!.interventionsChanged),
      (cs) => cs.some((c: { runId: string; intervention: unknown }) => c.runId === run.raw && c.intervention === null),
      5000,
      "left the queue",
    );
    changes.dispose();
    await client.dispose();

    // A snooze replaces it; clearing puts the run back.
    const snooze = await gql(server.url, `mutation($id: ID!) { acknowledgeIntervention(runId: $id, snoozeMinutes: 30) { ... on InterventionAck { kind until } } }`, { id: run.id });
    expect(snooze.data!.acknowledgeIntervention.kind).toBe("SNOOZED");
    expect(Date.parse(snooze.data!.acknowledgeIntervention.until) - Date.now()).toBeGreaterThan(29 * 60_000);
    await gql(server.url, `mutation($id: ID!) { clearInterventionAck(runId: $id) { __typename } }`, { id: run.id });
    expect((await queue()).some((i) => i.run.id === run.id)).toBe(true);

    // The runtime's approval decision, then a second `run`: consumed and complete.
    appendFileSync(events, line("approval_decision", "r-1", { role: "human", status: "approved", data: { status: "approved", by: "operator", note: "looks good", at: "2026-11-24T09:01:00Z" } }));
    appendFileSync(
      events,
      line("loop_start", "r-2", { data: { max_iterations: 3 } }) +
        line("approval_consumed", "r-1", { data: { status: "approved", by: "operator", note: "looks good" } }) +
        line("loop_complete", "r-1"),
    );
    rmSync(path.join(loopDir, "approval.json"));
    writeJson(path.join(loopDir, "run-summary.json"), { version: 1, loop_id: "demo-loop", entries: [{ run_id: "r-1", iteration: 1, gates: { ...GATES, approval: "approved" }, completion_ok: true }] });
    writeJson(path.join(repo, ".superloop", "state.json"), { active: false, loop_index: 1, iteration: 0, current_loop_id: "" });
    await waitFor(
      () => sync(server, run.id),
      (r) => r.state === "COMPLETE",
      10_000,
      "COMPLETE",
    );

    const after = (await gql(server.url, HISTORY, { id: run.id })).data!.run;
    expect(after.attempts.map((a: { outcome: string; runtimeRunId: string }) => [a.outcome, a.runtimeRunId])).toEqual([
      ["AWAITING_APPROVAL", "r-1"],
      ["COMPLETE", "r-2"],
    ]);
    expect(after.restartCount).toBe(0);
    expect(after.signOff).toMatchObject({ allGreen: false, completionOk: true, approval: { status: "approved", by: "operator", note: "looks good", source: "runtime" } });
    expect(after.signOff.gates.find((g: { name: string }) => g.name === "approval")).toEqual({ name: "approval", status: "approved", verdict: "PASS" });
    expect(after.stateSpans.map((s: { state: string }) => s.state)).toEqual(["IDLE", "AWAITING_APPROVAL", "COMPLETE"]);
    expect(after.stateSpans.at(-1).to).toBeNull();

    const resolved = (await gql(server.url, `{ recentlyResolved { kind by note outcome run { id } } }`)).data!.recentlyResolved as {
      kind: string;
      outcome: string;
      note: string | null;
      run: { id: string };
    }[];
    const mine = resolved.filter((r) => r.run.id === run.id);
    expect(mine.map((r) => `${r.kind}:${r.outcome}`)).toEqual(["SNOOZED:CLEARED", "ACKNOWLEDGED:CLEARED"]);
    expect(mine[1].note).toBe("asking the author");
  });

  it("runLifecycleChanged from afterSeq replays the committed changes after it, then live ones, none twice", async () => {
    const { repo } = repoAwaitingApproval();
    const run = await register(server, "dash-resume", repo);
    await waitFor(
      () => sync(server, run.id),
      (r) => r.state === "AWAITING_APPROVAL",
      10_000,
      "AWAITING_APPROVAL",
    );
    const stored = await server.app.db.lifecycleTransition.findMany({ where: { runId: run.raw }, orderBy: { seq: "asc" } });
    expect(stored.map((t) => t.to)).toEqual(["IDLE", "AWAITING_APPROVAL"]);

    const client = wsClient(server.url);
    const SUB = `subscription($f: RunLifecycleFilter, $after: Int) { runLifecycleChanged(filter: $f, afterSeq: $after) { ... on RunLifecycleChange { seq previousState state reason } } }`;
    const resumed = collect(client, SUB, { f: { run: run.id }, after: stored[0].seq });
    const replay = await resumed.next(1, 5000);
    expect(replay[0].data!.runLifecycleChanged).toMatchObject({ seq: stored[1].seq, previousState: "IDLE", state: "AWAITING_APPROVAL" });

    // A live change after the replay, then a no-op publish (same state, same reason) that must not be delivered.
    await waitFor(
      async () => server.app.bus.listenerCount("run", run.raw),
      (c) => c >= 1,
      5000,
      "live subscriber",
    );
    // As a writer does it (seq + 1 under the row lock, a transition row with that seq, one transaction), then the
    // publish a writer makes: the no-op first, then a real change.
    const commit = async (to: string, reason: string) => {
      const seq = await server.app.db.$transaction(async (tx) => {
        const r = await tx.run.update({ where: { id: run.raw }, data: { seq: { increment: 1 } } });
        await tx.lifecycleTransition.create({ data: { runId: run.raw, seq: r.seq, from: "AWAITING_APPROVAL", to: to as "STOPPED", reason, trigger: "test" } });
        return r.seq;
      });
      const cur = await server.app.db.run.findUniqueOrThrow({ where: { id: run.raw } });
      server.app.bus.publish("run", run.raw, {
        runId: run.raw,
        spriteId: cur.spriteId,
        seq,
        previousState: "AWAITING_APPROVAL",
        state: to as "STOPPED",
        reason,
        lifecycleChanged: true,
        at: new Date(),
      });
      return seq;
    };
    const reason = (await server.app.db.run.findUniqueOrThrow({ where: { id: run.raw } })).stateReason;
    await commit("AWAITING_APPROVAL", reason);
    const stopSeq = await commit("STOPPED", "test_stop");
    const all = await resumed.next(2, 5000);
    await new Promise((r) => setTimeout(r, 200)); // a duplicate or the no-op would have arrived by now
    expect(resumed.items.map((i) => i.data!.runLifecycleChanged.state)).toEqual(["AWAITING_APPROVAL", "STOPPED"]);
    expect(all[1].data!.runLifecycleChanged.seq).toBe(stopSeq);

    // afterSeq without a run is refused: seq is a per-run position
    const bad = collect(client, SUB, { f: null, after: 3 });
    await waitFor(async () => bad.error ?? bad.items[0]?.errors, Boolean, 5000, "refusal");
    expect(JSON.stringify(bad.error ?? bad.items[0]?.errors)).toContain("afterSeq needs filter.run");
    resumed.dispose();
    await client.dispose();
  });
});
