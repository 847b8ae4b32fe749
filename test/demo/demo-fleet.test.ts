import { execFileSync, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEMO_SUPERLOOP_BIN } from "../../demo/driver";
import { DEMO_FLEET } from "../../demo/fleet";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { waitFor } from "../support/runs";
import { demoRuns, startDemoServer, type DemoRun } from "./demo-server";

// The demo fleet in a real manager: every scripted story ends up as the state an operator should see, the
// simulator is the runtime of the demo Sprites only (Sprite.demo), and starting the demo again on the same data dir resets it.

const servers: RunningServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

const settled = (runs: Map<string, DemoRun>) => {
  const s = (name: string) => runs.get(name);
  return (
    s("demo-complete")?.state === "COMPLETE" &&
    s("demo-approval")?.state === "AWAITING_APPROVAL" &&
    s("demo-crash")?.stateReason === "runtime_died" &&
    s("demo-maxiter")?.stateReason === "max_iterations" &&
    s("demo-stuck")?.health.reasons.some((r) => r.code === "ingest_stale") === true
  );
};

describe("demo fleet", () => {
  let first: { server: RunningServer; dataDir: string; databaseUrl: string };

  it("registers every demo Sprite (demo: true) with a LOCAL repo under OPS_DATA_DIR/demo, leaving SUPERLOOP_BIN alone", async () => {
    first = await startDemoServer();
    servers.push(first.server);
    const { server, dataDir } = first;
    // The simulator is a per-Sprite runtime now: the manager's own SUPERLOOP_BIN (for real Sprites) is untouched.
    expect(server.app.config.SUPERLOOP_BIN).not.toBe(DEMO_SUPERLOOP_BIN);
    expect(server.demo?.root).toBe(path.resolve(dataDir, "demo"));
    expect(server.demo?.sprites.map((s) => s.name)).toEqual(DEMO_FLEET.map((s) => s.name));
    const r = await gql<{ sprites: { edges: { node: { name: string; transport: string; demo: boolean; run: { repoPath: string } } }[] } }>(
      server.url,
      `{ sprites(first: 50) { edges { node { name transport demo run { repoPath } } } } }`,
    );
    const sprites = r.data!.sprites.edges.map((e) => e.node);
    expect(sprites.map((s) => s.name).sort()).toEqual(DEMO_FLEET.map((s) => s.name).sort());
    for (const s of sprites) {
      expect(s.transport).toBe("LOCAL");
      expect(s.demo).toBe(true);
      expect(s.run.repoPath).toBe(path.join(dataDir, "demo", s.name));
      expect(existsSync(path.join(s.run.repoPath, ".superloop", "config.json"))).toBe(true);
    }
  });

  it("plays every story: complete, awaiting approval, running, stale, runtime_died, max_iterations", async () => {
    const runs = await waitFor(() => demoRuns(first.server), settled, 40_000, "the demo stories to settle");
    expect(runs.get("demo-complete")).toMatchObject({ state: "COMPLETE", stateReason: "completed", lastEventName: "loop_complete" });
    expect(runs.get("demo-approval")).toMatchObject({ state: "AWAITING_APPROVAL", lastEventName: "approval_requested" });
    expect(runs.get("demo-crash")).toMatchObject({ state: "FAILED", stateReason: "runtime_died" });
    expect(runs.get("demo-maxiter")).toMatchObject({ state: "STOPPED", stateReason: "max_iterations", lastEventName: "loop_stop" });
    // stuck: a live process that stopped writing stays RUNNING (the state is a fact) but its health says stale
    expect(runs.get("demo-stuck")).toMatchObject({ state: "RUNNING" });
    expect(runs.get("demo-stuck")!.health.status).not.toBe("HEALTHY");

    const q = await gql<{ interventions: { run: { sprite: { name: string } }; reasons: { code: string }[]; suggestedActions: string[] }[] }>(
      first.server.url,
      `{ interventions { run { sprite { name } } reasons { code } suggestedActions } }`,
    );
    const byName = new Map(q.data!.interventions.map((i) => [i.run.sprite.name, i]));
    expect(byName.get("demo-approval")?.reasons.map((r) => r.code)).toContain("approval_pending");
    expect(byName.get("demo-approval")?.suggestedActions).toContain("APPROVE");
    expect(byName.get("demo-stuck")?.reasons.map((r) => r.code)).toContain("stale_running");
    expect(byName.get("demo-crash")?.reasons.map((r) => r.code)).toContain("run_failed");
    expect(byName.has("demo-complete")).toBe(false);
  }, 60_000);

  it("starting the demo again on the same data dir resets it: no duplicate-name failure, leftover simulators killed", async () => {
    const stuckRepo = path.join(first.dataDir, "demo", "demo-stuck");
    await first.server.close();
    servers.splice(servers.indexOf(first.server), 1);

    // A simulator left running (e.g. by a manager killed with -9) in a demo repo. Like the real runtime, the
    // simulator refuses to run over the stuck run's stale `state.active`: clear it the runtime's way first.
    execFileSync(process.execPath, [DEMO_SUPERLOOP_BIN, "cancel", "--repo", stuckRepo], { stdio: "ignore" });
    const leftover = spawn(process.execPath, [DEMO_SUPERLOOP_BIN, "run", "--repo", stuckRepo], { detached: true, stdio: "ignore" });
    await waitFor(
      async () => (existsSync(path.join(stuckRepo, ".superloop", "active-run.json")) ? readFileSync(path.join(stuckRepo, ".superloop", "active-run.json"), "utf8") : ""),
      (s) => s.includes(`"pid": ${leftover.pid}`),
      5000,
      "the leftover simulator to write active-run.json",
    );

    const second = await startDemoServer({ dataDir: first.dataDir, databaseUrl: first.databaseUrl });
    servers.push(second.server);
    await waitFor(
      async () => alive(leftover.pid!) && leftover.exitCode === null && leftover.signalCode === null,
      (a) => !a,
      5000,
      "the leftover to be killed",
    );

    const runs = await demoRuns(second.server);
    expect([...runs.keys()].sort()).toEqual(DEMO_FLEET.map((s) => s.name).sort());
    // Fresh history: the reset purged the old runs (their transitions start again at registration).
    const r = await gql<{ run: { transitions: { edges: { node: { trigger: string; actor: string | null } }[] } } }>(
      second.server.url,
      `query($id: ID!) { run(id: $id) { ... on Run { transitions(first: 1) { edges { node { trigger actor } } } } } }`,
      { id: runs.get("demo-complete")!.id },
    );
    expect(r.data!.run.transitions.edges[0].node).toMatchObject({ trigger: "register", actor: "demo" });
    await waitFor(() => demoRuns(second.server), settled, 40_000, "the demo stories to settle again");
  }, 90_000);
});
