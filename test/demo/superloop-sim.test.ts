import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { executeControl } from "../../agent/control";
import { DEMO_SUPERLOOP_BIN } from "../../demo/driver";

// The simulator against the artifact contract the recordings show: what each command writes, and what it
// must not write (cancel: no event; approve: no completion until another run).

const run = promisify(execFile);

interface SimConfig {
  approval?: boolean;
  invocations?: string[];
  maxIterations?: number;
  passOn?: number;
}

function repo(cfg: SimConfig = {}): string {
  const dir = mkdtempSync(path.join(tmpdir(), "sim-"));
  mkdirSync(path.join(dir, ".superloop"), { recursive: true });
  const loop = {
    id: "demo-loop",
    max_iterations: cfg.maxIterations ?? 3,
    approval: { enabled: cfg.approval ?? false },
    simulator: { step_ms: 5, pass_on_iteration: cfg.passOn ?? 1, invocations: cfg.invocations ?? [] },
  };
  writeFileSync(path.join(dir, ".superloop", "config.json"), JSON.stringify({ loops: [loop] }));
  return dir;
}

const sim = (...args: string[]) => run(DEMO_SUPERLOOP_BIN, args);
const file = (r: string, rel: string) => path.join(r, ".superloop", rel);
const json = (r: string, rel: string) => JSON.parse(readFileSync(file(r, rel), "utf8")) as Record<string, unknown>;
const events = (r: string) =>
  readFileSync(file(r, "loops/demo-loop/events.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { event: string; run_id: string; status?: string; role?: string; data: Record<string, unknown> });
const names = (r: string) => events(r).map((e) => e.event);

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(pred: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("superloop-sim", () => {
  it("completes without approval like the `complete` recording", async () => {
    const r = repo();
    await sim("run", "--repo", r, "--loop", "demo-loop");
    const n = names(r);
    expect(n[0]).toBe("loop_start");
    expect(n.slice(-3)).toEqual(["gates_evaluated", "iteration_end", "loop_complete"]);
    // the real runtime keeps the loop id after a plain completion (test/fixtures/runtime/success)
    expect(json(r, "state.json")).toMatchObject({ active: false, current_loop_id: "demo-loop" });
    expect(existsSync(file(r, "active-run.json"))).toBe(false);
    const summary = json(r, "loops/demo-loop/run-summary.json") as { entries: { completion_ok: boolean }[] };
    expect(summary.entries.at(-1)?.completion_ok).toBe(true);
  });

  it("approval: pending, approve writes the decision but no completion, the next run consumes it under the original run id", async () => {
    const r = repo({ approval: true });
    await sim("run", "--repo", r);
    expect(json(r, "loops/demo-loop/approval.json")).toMatchObject({ status: "pending", loop_id: "demo-loop" });
    expect(names(r).at(-1)).toBe("approval_requested");
    const firstRunId = events(r)[0].run_id;

    // a run while approval is pending only says so, like the real runtime (test/fixtures/runtime/approval-wait):
    // loop_start, approval_wait, state inactive, exit 0; approval.json untouched
    await sim("run", "--repo", r, "--loop", "demo-loop");
    expect(names(r).slice(-2)).toEqual(["loop_start", "approval_wait"]);
    expect(events(r).at(-1)!.data).toMatchObject({ status: "pending", approval_file: ".superloop/loops/demo-loop/approval.json" });
    expect(json(r, "state.json")).toMatchObject({ active: false });
    expect(json(r, "loops/demo-loop/approval.json")).toMatchObject({ status: "pending" });

    await sim("approve", "--repo", r, "--loop", "demo-loop", "--by", "alice", "--note", "ship it");
    const decision = events(r).at(-1)!;
    expect(decision).toMatchObject({ event: "approval_decision", role: "human", status: "approved", run_id: firstRunId });
    expect(decision.data).toMatchObject({ status: "approved", by: "alice", note: "ship it" });
    expect(json(r, "loops/demo-loop/approval.json")).toMatchObject({ status: "approved", decided_by: "alice" });
    expect((json(r, "loops/demo-loop/run-summary.json") as { entries: { completion_ok: boolean }[] }).entries.at(-1)?.completion_ok).toBe(false);

    await sim("run", "--repo", r, "--loop", "demo-loop");
    const tail = events(r).slice(-3);
    expect(tail.map((e) => e.event)).toEqual(["loop_start", "approval_consumed", "loop_complete"]);
    expect(tail[1].run_id).toBe(firstRunId);
    expect(tail[2].run_id).toBe(firstRunId);
    expect(existsSync(file(r, "loops/demo-loop/approval.json"))).toBe(false);
    expect(json(r, "state.json")).toMatchObject({ active: false, current_loop_id: "demo-loop" });
  });

  it("reject: the next run emits approval_rejected, iterates again and asks again", async () => {
    const r = repo({ approval: true });
    await sim("run", "--repo", r);
    await sim("approve", "--repo", r, "--loop", "demo-loop", "--by", "bob", "--reject");
    expect(events(r).at(-1)).toMatchObject({ event: "approval_decision", status: "rejected" });
    await sim("run", "--repo", r);
    const n = names(r);
    const secondStart = n.lastIndexOf("loop_start");
    expect(n.slice(secondStart, secondStart + 3)).toEqual(["loop_start", "approval_rejected", "iteration_start"]);
    expect(n.at(-1)).toBe("approval_requested");
    expect(json(r, "loops/demo-loop/approval.json")).toMatchObject({ status: "pending" });
  });

  it("approve without a pending approval fails", async () => {
    const r = repo();
    await expect(sim("approve", "--repo", r, "--loop", "demo-loop", "--by", "x")).rejects.toMatchObject({ code: 1 });
  });

  it("maxiter stops with loop_stop max_iterations", async () => {
    const r = repo({ invocations: ["maxiter"], maxIterations: 2 });
    // the real runtime exits 1 when it stops at max_iterations (test/fixtures/runtime/max-iterations)
    await expect(sim("run", "--repo", r)).rejects.toMatchObject({ code: 1 });
    expect(events(r).at(-1)).toMatchObject({ event: "loop_stop", data: { reason: "max_iterations", max_iterations: 2 } });
    expect(json(r, "state.json")).toMatchObject({ active: false, iteration: 3 });
  });

  it("crash leaves state.active=true without active-run.json (like the `failure` recording); the next run is refused until a cancel", async () => {
    const r = repo({ invocations: ["crash"] });
    await expect(sim("run", "--repo", r)).rejects.toMatchObject({ code: 1 });
    expect(names(r).at(-1)).toBe("role_start");
    expect(events(r).at(-1)!.role).toBe("planner");
    expect(json(r, "state.json")).toMatchObject({ active: true, current_loop_id: "demo-loop" });
    expect(existsSync(file(r, "active-run.json"))).toBe(false);
    // over the stale state the real runtime refuses: exit 1, no event (test/fixtures/runtime/start-refused-stale)
    const count = names(r).length;
    const refused = await sim("run", "--repo", r, "--loop", "demo-loop").then(
      () => null,
      (e: unknown) => e as { code: number; stderr: string },
    );
    expect(refused).toMatchObject({ code: 1 });
    expect(refused!.stderr).toMatch(/^Error: loop 'demo-loop' is already running \(reentrant run blocked\)/);
    expect(names(r).length).toBe(count);
    // the way out is cancel (clears state.json), then run
    expect((await sim("cancel", "--repo", r)).stdout).toBe("Cancelled loop state.\n");
    await sim("run", "--repo", r, "--loop", "demo-loop");
    expect(names(r).at(-1)).toBe("loop_complete");
  });

  it("cancel before the run has written anything finds nothing, and the run goes on (the startup race)", async () => {
    const r = repo({ invocations: ["stuck"] });
    const child = spawn(process.execPath, [DEMO_SUPERLOOP_BIN, "run", "--repo", r, "--loop", "demo-loop"], { detached: true, stdio: "ignore", env: { ...process.env, SIM_STARTUP_MS: "1500" } });
    try {
      await new Promise((res) => setTimeout(res, 200));
      expect((await sim("cancel", "--repo", r)).stdout).toBe("No active state file found.\n");
      await until(() => existsSync(file(r, "active-run.json")), 10_000);
      expect(alive(child.pid!)).toBe(true);
    } finally {
      process.kill(-child.pid!, "SIGKILL");
    }
  });

  it("stuck keeps a live process group that writes nothing; cancel kills it, deletes state and active-run, writes no event", async () => {
    const r = repo({ invocations: ["stuck"] });
    const child = spawn(process.execPath, [DEMO_SUPERLOOP_BIN, "run", "--repo", r], { detached: true, stdio: "ignore" });
    await until(() => existsSync(file(r, "loops/demo-loop/events.jsonl")) && names(r).includes("role_start") && events(r).at(-1)?.role === "implementer");
    const active = json(r, "active-run.json") as { pid: number; pgid: number; stage: string };
    expect(active.pid).toBe(child.pid);
    expect(active.pgid).toBe(child.pid); // detached: its own group, so pause/resume signal only it
    // like the runtime's: only ever run_start or loop_start, never the role
    expect(active.stage).toBe("loop_start");
    const count = names(r).length;
    await new Promise((res) => setTimeout(res, 300));
    expect(names(r).length).toBe(count);
    expect(alive(child.pid!)).toBe(true);

    await sim("cancel", "--repo", r);
    await until(() => !alive(child.pid!) || child.exitCode !== null || child.signalCode !== null);
    expect(names(r).length).toBe(count);
    expect(existsSync(file(r, "state.json"))).toBe(false);
    expect(existsSync(file(r, "active-run.json"))).toBe(false);
  });

  it("works as the manager's SUPERLOOP_BIN: approve then a detached start complete the loop", async () => {
    const r = repo({ approval: true });
    await sim("run", "--repo", r);
    const approve = await executeControl({ repoPath: r, loopId: "demo-loop", intent: "approve", by: "ops", superloopBin: DEMO_SUPERLOOP_BIN });
    expect(approve.ok).toBe(true);
    const start = await executeControl({ repoPath: r, loopId: "demo-loop", intent: "start", superloopBin: DEMO_SUPERLOOP_BIN, startGraceMs: 100 });
    expect(start.ok).toBe(true);
    await until(() => names(r).at(-1) === "loop_complete");
  });
});
