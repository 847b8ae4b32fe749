import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { repoFromRecording } from "../support/fixtures";
import { register, waitFor } from "../support/runs";
import { intentById, mutate, runState, startControlServer, TOKENS } from "./helpers";

// An approve whose evidence never comes: the CLI exits 0 (here /bin/true, which writes nothing), no
// approval_decision is ever observed, and at the deadline the intent is AMBIGUOUS — never assumed to have worked.
// Also: a second intent of the same kind while one is in flight, and the global passive mode.

let server: RunningServer;
let passive: RunningServer;

beforeAll(async () => {
  [server, passive] = await Promise.all([startControlServer({ SUPERLOOP_BIN: "/bin/true", OPS_INTENT_DEADLINE_MS: "1500" }), startControlServer({ OPS_CONTROL_MODE: "disabled" })]);
});
afterAll(async () => {
  await Promise.all([server?.close(), passive?.close()]);
});

describe("deadlines", () => {
  it("approve without evidence → DISPATCHED, then AMBIGUOUS (deadline_exceeded) once the deadline passes", async () => {
    const run = await register(server, "amb-1", repoFromRecording("approval"), "demo-loop", TOKENS.admin);
    await waitFor(
      () => runState(server, run.id),
      (s) => s.state === "AWAITING_APPROVAL",
      15_000,
      "AWAITING_APPROVAL",
    );
    const r = await mutate(server, "approveRun", "runId: $runId", { runId: run.id });
    expect(r).toMatchObject({ __typename: "ControlIntent", stage: "DISPATCHED" });
    expect(new Date(r.deadlineAt).getTime() - new Date(r.requestedAt).getTime()).toBe(1500);

    // one in flight: a second approve (another key) is refused, and recorded as such
    const second = await mutate(server, "approveRun", "runId: $runId", { runId: run.id });
    expect(second).toMatchObject({ __typename: "PreconditionFailed", intent: { stage: "REJECTED" } });
    expect(second.message).toMatch(/in flight/);

    const done = await waitFor(
      () => intentById(server, r.id),
      (i) => i.stage !== "DISPATCHED",
      10_000,
      "a terminal stage",
    );
    expect(done).toMatchObject({ stage: "AMBIGUOUS", error: "deadline_exceeded" });
    expect(new Date(done.endedAt).getTime()).toBeGreaterThanOrEqual(new Date(r.deadlineAt).getTime());
    expect(done.stages.map((s: { stage: string }) => s.stage)).toEqual(["REQUESTED", "DISPATCHED", "AMBIGUOUS"]);
    // the run is still waiting for a decision: nothing was assumed
    expect(await runState(server, run.id)).toMatchObject({ state: "AWAITING_APPROVAL" });
  });
});

describe("passive mode (OPS_CONTROL_MODE=disabled)", () => {
  it("refuses every intent with ControlDisabled, recorded as REJECTED", async () => {
    const run = await register(passive, "passive-all", repoFromRecording("approval"), "demo-loop", TOKENS.admin);
    await waitFor(
      () => runState(passive, run.id),
      (s) => s.state === "AWAITING_APPROVAL",
      15_000,
      "AWAITING_APPROVAL",
    );
    for (const name of ["approveRun", "rejectRun", "cancelRun", "startRun"]) {
      const r = await mutate(passive, name, "runId: $runId", { runId: run.id });
      expect(r).toMatchObject({ __typename: "ControlDisabled", intent: { stage: "REJECTED", error: "ControlDisabled" } });
    }
  });
});

describe("opsctl exit code for AMBIGUOUS", () => {
  it("approve --wait whose evidence never comes exits 4 (ambiguous)", async () => {
    const { opsctl } = await import("./helpers");
    const run = await register(server, "amb-cli", repoFromRecording("approval"), "demo-loop", TOKENS.admin);
    await waitFor(
      () => runState(server, run.id),
      (s) => s.state === "AWAITING_APPROVAL",
      15_000,
      "AWAITING_APPROVAL",
    );
    const r = await opsctl(server, ["approve", "amb-cli", "--no-resume", "--wait"]);
    expect(r.stdout).toMatch(/AMBIGUOUS \(deadline_exceeded\)/);
    expect(r.code).toBe(4);
  });
});
