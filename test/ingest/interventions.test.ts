import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { collect, gql, sse, wsClient } from "../support/clients";
import { eventsPath, FIXTURES, repoFromRecording } from "../support/fixtures";
import { register, sync } from "../support/runs";
import { spawnFakeRun } from "../support/fake-run";
import { startTestServer } from "../support/server";

let server: RunningServer;
beforeAll(async () => {
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "60000", OPS_HEALTH_PROFILE: "strict" });
});
afterAll(() => server?.close());
const kills: Array<() => void> = [];
afterAll(() => kills.forEach((kill) => kill()));

const CHANGES = `subscription { interventionsChanged { ... on InterventionChange { runId seq intervention { severity reasons { code } suggestedActions run { sprite { name } state stateReason } } } } }`;

describe("the intervention queue", () => {
  it("streams runs entering, changing and leaving the queue", async () => {
    const client = wsClient(server.url);
    const stream = collect(client, CHANGES);
    for (let i = 0; i < 100 && server.app.bus.listenerCount("run", "*") < 1; i++) await new Promise((r) => setTimeout(r, 20));

    const repo = repoFromRecording("approval");
    const run = await register(server, "queue-1", repo);
    await sync(server, run.id);
    const [entered] = await stream.next(1);
    expect(entered.data!.interventionsChanged.intervention).toMatchObject({
      reasons: [{ code: "approval_pending" }],
      suggestedActions: ["APPROVE", "REJECT"],
      run: { sprite: { name: "queue-1" }, state: "AWAITING_APPROVAL" },
    });

    // the operator approved from the CLI: now the loop needs another run
    const sl = path.join(repo, ".superloop");
    cpSync(path.join(FIXTURES, "approved", ".superloop"), sl, { recursive: true });
    await sync(server, run.id);
    const changed = (await stream.next(2))[1].data!.interventionsChanged.intervention;
    expect(changed).toMatchObject({ reasons: [{ code: "approved_pending_run" }], suggestedActions: ["START"] });

    // ... and it ran to completion: the run leaves the queue
    rmSync(path.join(sl, "loops", "demo-loop", "approval.json"));
    cpSync(path.join(FIXTURES, "approved-complete", ".superloop"), sl, { recursive: true });
    await sync(server, run.id);
    const left = (await stream.next(3))[2].data!.interventionsChanged;
    expect(left.intervention).toBeNull();
    expect(left.seq).toBeGreaterThan(entered.data!.interventionsChanged.seq);
    stream.dispose();
    await client.dispose();
  });

  it("flags a RUNNING run whose last event is older than the profile's lag as stale, critical past the second threshold", async () => {
    const repo = mkdtempSync(path.join(tmpdir(), "ops-stale-"));
    mkdirSync(path.join(repo, ".superloop", "loops", "demo-loop"), { recursive: true });
    const old = new Date(Date.now() - 10 * 60_000).toISOString(); // 10 min: past strict's 120 s and 300 s
    writeFileSync(eventsPath(repo), JSON.stringify({ timestamp: old, event: "loop_start", loop_id: "demo-loop", run_id: "s", iteration: 1 }) + "\n");
    writeFileSync(path.join(repo, ".superloop", "state.json"), JSON.stringify({ active: true, loop_index: 0, iteration: 1, current_loop_id: "demo-loop", updated_at: old }));
    // a live process that is this repo's `superloop run` (liveness is checked by command line)
    const live = await spawnFakeRun(repo);
    kills.push(live.kill);
    writeFileSync(path.join(repo, ".superloop", "active-run.json"), JSON.stringify({ repo, pid: live.pid, pgid: live.pid, loop_id: "demo-loop", iteration: 1, stage: "planner", updated_at: old }));
    const run = await register(server, "stale-1", repo);
    const s = await sync(server, run.id);
    expect(s.state).toBe("RUNNING");
    expect(s.health, JSON.stringify(s.health)).toMatchObject({ status: "CRITICAL", reasons: [{ code: "ingest_stale", severity: "critical" }] });

    const q = await gql(server.url, `{ interventions { run { sprite { name } } severity reasons { code } suggestedActions } }`);
    const mine = q.data!.interventions.find((i: { run: { sprite: { name: string } } }) => i.run.sprite.name === "stale-1");
    expect(mine).toMatchObject({ severity: "critical", reasons: [{ code: "stale_running" }], suggestedActions: expect.arrayContaining(["CANCEL"]) });

    // a fresh event clears it
    writeFileSync(eventsPath(repo), JSON.stringify({ timestamp: new Date().toISOString(), event: "iteration_start", loop_id: "demo-loop", run_id: "s", iteration: 1 }) + "\n", { flag: "a" });
    expect((await sync(server, run.id)).health).toEqual({ status: "HEALTHY", reasons: [] });
  });

  it("runEvents works over SSE too", async () => {
    const repo = repoFromRecording("complete");
    const run = await register(server, "sse-events", repo);
    await sync(server, run.id);
    const s = sse(server.url, `subscription($id: ID!) { runEvents(runId: $id, after: "20") { ... on RunEventsBatch { events { line } cursor hasMore } } }`, { id: run.id });
    await s.ready;
    const [batch] = await s.next(1);
    expect(batch.data!.runEvents).toEqual({ events: [21, 22, 23, 24, 25, 26].map((line) => ({ line })), cursor: "26", hasMore: false });
    s.close();
  });
});
