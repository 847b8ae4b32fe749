import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cancelConfirmed, CANCEL_SETTLE_MS, type PollFacts } from "../../src/control/evidence";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { alive } from "../support/embedded-dirs";
import { register, waitFor } from "../support/runs";
import { emptyRepo, intentById, killSims, mutate, runState, startControlServer, startSim, TOKENS } from "./helpers";

// The truths of issue 19 through GraphQL, on the simulator (made faithful to recordings of the real runtime,
// test/sim/conformance.test.ts): a cancel in the first second of a run only confirms once the run is gone; a
// START over a dead run's stale state is FAILED at once with the runtime's refusal; RESTART brings it back; a
// rate-limit stop names the rate limit; a SIGKILLed runtime is FAILED/killed within one poll interval.

const POLL_MS = 500;
let server: RunningServer;

beforeAll(async () => {
  // a startup window long enough to land a cancel inside it (the real runtime's is ~1-2 s)
  process.env["SIM_STARTUP_MS"] = "2500";
  process.env["SIM_STEP_MS"] = "30";
  server = await startControlServer({ OPS_POLL_INTERVAL_MS: String(POLL_MS) });
});
afterAll(async () => {
  await server?.close();
  killSims();
  delete process.env["SIM_STARTUP_MS"];
});

/** A repo whose loop the simulator scripts: the outcome of its 1st, 2nd, ... run (docs/runtime.md edges). */
function scriptedRepo(invocations: string[]): string {
  const repo = emptyRepo();
  mkdirSync(path.join(repo, ".superloop"), { recursive: true });
  const loop = { id: "demo-loop", max_iterations: 2, approval: { enabled: false }, simulator: { step_ms: 20, pass_on_iteration: 1, invocations } };
  writeFileSync(path.join(repo, ".superloop", "config.json"), JSON.stringify({ loops: [loop] }));
  return repo;
}

const eventNames = (repo: string) => {
  const file = path.join(repo, ".superloop", "loops", "demo-loop", "events.jsonl");
  return existsSync(file)
    ? readFileSync(file, "utf8")
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { event: string }).event)
    : [];
};
type Intent = { id: string; kind: string; stage: string; error: string | null; stages: { stage: string; observation: string; evidence: Record<string, unknown> }[] };

async function intentStage(id: string, stages: string[], timeoutMs = 30_000): Promise<Intent> {
  return waitFor(
    () => intentById(server, id) as Promise<Intent>,
    (i) => stages.includes(i.stage),
    timeoutMs,
    `intent ${id} in ${stages.join("/")}`,
  );
}

describe("cancel in the first second of a run", () => {
  it("is CONFIRMED only when the run's processes are gone, and the run does not go on", async () => {
    const repo = scriptedRepo(["stuck"]);
    const run = await register(server, "truth-cancel-early", repo, "demo-loop", TOKENS.admin);
    await waitFor(
      () => runState(server, run.id),
      (r) => r.stateReason === "not_started",
      15_000,
      "not_started",
    );

    // START (not awaited: its dispatch waits for the runtime's answer), then CANCEL while the run is starting
    const start = mutate(server, "startRun", "runId: $runId", { runId: run.id });
    const launched = await waitFor(
      async () => {
        try {
          return JSON.parse(readFileSync(path.join(repo, ".superloop", "ops-agent", "launched-demo-loop.json"), "utf8")) as { pid: number };
        } catch {
          return null;
        }
      },
      (r) => r !== null,
      10_000,
      "the launch record",
    );
    await waitFor(
      () => runState(server, run.id),
      (r) => r.state === "RUNNING",
      10_000,
      "RUNNING/starting",
    );
    expect(existsSync(path.join(repo, ".superloop", "active-run.json"))).toBe(false); // still in the startup window
    const cancel = await mutate(server, "cancelRun", "runId: $runId", { runId: run.id });
    expect(cancel.__typename).toBe("ControlIntent");

    const confirmed = await intentStage(cancel.id, ["CONFIRMED", "AMBIGUOUS", "FAILED"]);
    expect(confirmed.stage).toBe("CONFIRMED");
    // confirmed means gone: the launched process group has no process left
    expect(alive(launched!.pid)).toBe(false);
    const accepted = confirmed.stages.find((s) => s.stage === "ACCEPTED")!;
    expect((accepted.evidence["result"] as Record<string, unknown>)["exitCode"]).toBe(0);
    const dispatch = confirmed.stages.find((s) => s.stage === "DISPATCHED")!.evidence["dispatch"] as { verified?: { runGone?: boolean } };
    expect(dispatch.verified?.runGone).toBe(true);

    // the run never got to write anything: no active-run.json, no loop_start, even after its startup window
    await new Promise((r) => setTimeout(r, 3000));
    expect(existsSync(path.join(repo, ".superloop", "active-run.json"))).toBe(false);
    expect(eventNames(repo)).not.toContain("loop_start");
    expect(await runState(server, run.id)).toMatchObject({ state: "STOPPED", stateReason: "cancelled" });
    await start;
  }, 60_000);

  it("the evidence rule: never confirmed while a process of the run lives, nor before the startup window has passed", () => {
    const quiet: PollFacts = {
      stateExists: false,
      stateActive: false,
      activeRunExists: false,
      processStopped: null,
      processAlive: null,
      launchAlive: false,
      newEvents: [],
      lastSummaryCompletionOk: null,
    };
    const acceptedAt = "2026-11-30T01:00:00.000Z";
    const later = new Date(Date.parse(acceptedAt) + CANCEL_SETTLE_MS + 1);
    expect(cancelConfirmed(quiet, acceptedAt, later)).not.toBeNull();
    // files gone but the launched group still has the run: not cancelled (the startup race)
    expect(cancelConfirmed({ ...quiet, launchAlive: true }, acceptedAt, later)).toBeNull();
    // active-run.json's pid is the run
    expect(cancelConfirmed({ ...quiet, processAlive: true }, acceptedAt, later)).toBeNull();
    expect(cancelConfirmed({ ...quiet, activeRunExists: true }, acceptedAt, later)).toBeNull();
    // missing files right after the cancel prove nothing yet: a run launched by hand may still be starting
    expect(cancelConfirmed(quiet, acceptedAt, new Date(Date.parse(acceptedAt) + 500))).toBeNull();
  });
});

describe("START over a dead run's stale state, then RESTART", () => {
  it("START is FAILED/runtime_refused in seconds with the runtime's message; RESTART cancels, runs and completes", async () => {
    const repo = scriptedRepo(["crash", "pass"]);
    const run = await register(server, "truth-restart", repo, "demo-loop", TOKENS.admin);
    await waitFor(
      () => runState(server, run.id),
      (r) => r.stateReason === "not_started",
      15_000,
      "not_started",
    );
    const first = await mutate(server, "startRun", "runId: $runId", { runId: run.id });
    await intentStage(first.id, ["CONFIRMED"]);
    await waitFor(
      () => runState(server, run.id),
      (r) => r.state === "FAILED" && r.stateReason === "runtime_died",
      20_000,
      "FAILED/runtime_died",
    );

    const t0 = Date.now();
    const again = await mutate(server, "startRun", "runId: $runId", { runId: run.id });
    const refused = await intentStage(again.id, ["FAILED", "CONFIRMED", "AMBIGUOUS"], 15_000);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(refused).toMatchObject({ stage: "FAILED", error: "runtime_refused" });
    expect(refused.stages.at(-1)!.observation).toMatch(/runtime refused the run \(exit 1\): Error: loop 'demo-loop' is already running \(reentrant run blocked\)/);
    // RUNNING/starting while the start was in flight; the next poll shows the dead run again
    await waitFor(
      () => runState(server, run.id),
      (r) => r.state === "FAILED" && r.stateReason === "runtime_died",
      10_000,
      "FAILED/runtime_died again",
    );

    const restart = await mutate(server, "restartRun", "runId: $runId", { runId: run.id });
    expect(restart.__typename).toBe("ControlIntent");
    const done = await intentStage(restart.id, ["CONFIRMED", "FAILED", "AMBIGUOUS"]);
    expect(done.stage).toBe("CONFIRMED");
    const dispatched = done.stages.find((s) => s.stage === "DISPATCHED")!.evidence["dispatch"] as Record<string, Record<string, unknown>>;
    expect(dispatched["cancel"]["exitCode"]).toBe(0);
    expect(dispatched["cleared"]).toMatchObject({ stateActive: false, activeRunExists: false });
    expect(dispatched["start"]["pid"]).toEqual(expect.any(Number));
    await waitFor(
      () => runState(server, run.id),
      (r) => r.state === "COMPLETE",
      20_000,
      "COMPLETE after restart",
    );
  }, 90_000);

  it("RESTART is refused (PreconditionFailed) over a live run", async () => {
    const repo = emptyRepo();
    startSim(repo, { SIM_OUTCOME: "hang", SIM_STARTUP_MS: "0" });
    const run = await register(server, "truth-restart-live", repo, "demo-loop", TOKENS.admin);
    await waitFor(
      () => runState(server, run.id),
      (r) => r.state === "RUNNING" && r.stateReason === "running",
      15_000,
      "RUNNING",
    );
    const refused = await mutate(server, "restartRun", "runId: $runId", { runId: run.id });
    expect(refused).toMatchObject({ __typename: "PreconditionFailed", intent: { stage: "REJECTED" } });
  }, 30_000);
});

describe("what the runtime's stops and deaths read as", () => {
  it("a SIGKILLed runtime is FAILED/killed within one poll interval, although no file changes", async () => {
    const repo = emptyRepo();
    const pid = startSim(repo, { SIM_OUTCOME: "hang", SIM_STARTUP_MS: "0" });
    const run = await register(server, "truth-sigkill", repo, "demo-loop", TOKENS.admin);
    await waitFor(
      () => runState(server, run.id),
      (r) => r.state === "RUNNING" && r.stateReason === "running",
      15_000,
      "RUNNING",
    );
    const killedAt = Date.now();
    process.kill(-pid, "SIGKILL");
    await waitFor(
      () => runState(server, run.id),
      (r) => r.state === "FAILED",
      10_000,
      "FAILED",
    );
    // the next poll sees it: one interval, plus the poll itself on a loaded machine
    expect(Date.now() - killedAt).toBeLessThan(POLL_MS * 1.2 + 1000);
    expect(await runState(server, run.id)).toMatchObject({ state: "FAILED", stateReason: "killed" });
    expect(existsSync(path.join(repo, ".superloop", "active-run.json"))).toBe(true); // nothing removed it
  }, 30_000);

  it("a rate-limit stop is STOPPED/rate_limited with the provider's message, and RESTART is suggested", async () => {
    const repo = emptyRepo();
    mkdirSync(path.join(repo, ".superloop"), { recursive: true });
    // the conformance harness's config: the planner's runner prints a provider's rate-limit error, timeouts on
    const mode = (m: string) => ({ command: ["/opt/superloop/tests/helpers/mock-runner.sh", m], args: ["{last_message_file}"], prompt_mode: "stdin" });
    const config = {
      runners: { ok: mode("success"), limited: { command: ["bash", "-c", `echo '{"type":"error","error":{"type":"rate_limit_error","message":"Rate limit exceeded"}}' >&2; exit 1`], args: [] } },
      loops: [
        {
          id: "demo-loop",
          max_iterations: 1,
          timeouts: { enabled: true, default: 600 },
          roles: { planner: { runner: "limited" }, implementer: { runner: "ok" }, tester: { runner: "ok" }, reviewer: { runner: "ok" } },
        },
      ],
    };
    writeFileSync(path.join(repo, ".superloop", "config.json"), JSON.stringify(config));
    const run = await register(server, "truth-rate-limit", repo, "demo-loop", TOKENS.admin);
    await waitFor(
      () => runState(server, run.id),
      (r) => r.stateReason === "not_started",
      15_000,
      "not_started",
    );
    await mutate(server, "startRun", "runId: $runId", { runId: run.id });
    await waitFor(
      () => runState(server, run.id),
      (r) => r.state === "STOPPED",
      20_000,
      "STOPPED",
    );
    expect(await runState(server, run.id)).toMatchObject({ state: "STOPPED", stateReason: "rate_limited" });
    const q = await gql(server.url, `{ interventions { run { id } reasons { code message } suggestedActions } }`, {}, TOKENS.viewer);
    const mine = (q.data!.interventions as { run: { id: string }; reasons: { code: string; message: string }[]; suggestedActions: string[] }[]).find((i) => i.run.id === run.id);
    expect(mine?.reasons[0]).toMatchObject({ code: "run_stopped", message: expect.stringContaining("rate_limited (planner: Rate limit exceeded)") });
    expect(mine?.suggestedActions).toContain("RESTART");
  }, 40_000);
});
