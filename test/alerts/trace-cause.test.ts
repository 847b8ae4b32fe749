import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { startReceiver, type Receiver } from "../support/alert-receiver";
import { repoFromRecording } from "../support/fixtures";
import { register, waitFor } from "../support/runs";
import { emptyRepo, killSims, runState, startControlServer, startSim, TOKENS } from "../control/helpers";

// A run-state alert caused by a request carries that request's trace id: a CANCEL sent with X-Trace-Id stops the
// run (the simulator as SUPERLOOP_BIN, the poller confirming what it reads), and the run_stopped webhook a real
// receiver gets names the same trace id. A condition no request caused keeps a generated one.

let server: RunningServer;
let rx: Receiver;

beforeAll(async () => {
  process.env["SIM_STEP_MS"] = "30";
  rx = await startReceiver();
  const dir = mkdtempSync(path.join(tmpdir(), "ops-alerts-trace-"));
  const file = path.join(dir, "fleet.json");
  writeFileSync(
    file,
    JSON.stringify({
      sprites: [],
      alerts: {
        sinks: { hook: { type: "webhook", url: `${rx.url}/hook` } },
        routing: { routes: [{ category: ["run_stopped", "awaiting_approval"], sinks: ["hook"], minSeverity: "info" }] },
      },
    }),
  );
  server = await startControlServer({ OPS_FLEET_FILE: file });
});
afterAll(async () => {
  await server?.close();
  await rx?.close();
  killSims();
});

const hook = (condition: string, runId: string) => rx.requests.filter((r) => r.path === "/hook" && r.json?.condition === condition && r.json?.run?.id === runId);

describe("trace ids of run-state alerts", () => {
  it("a CANCEL requested with X-Trace-Id T stops the run and the run_stopped alert carries T", async () => {
    const repo = emptyRepo();
    startSim(repo, { SIM_OUTCOME: "hang" });
    const run = await register(server, "trace-cancel", repo, "demo-loop", TOKENS.admin);
    await waitFor(
      () => runState(server, run.id),
      (r) => r.state === "RUNNING",
      15_000,
      "RUNNING",
    );
    const trace = "trace-cancel-from-caller-0001";
    const res = await fetch(server.url, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${TOKENS.op}`, "x-trace-id": trace },
      body: JSON.stringify({
        query: `mutation($runId: ID!) { cancelRun(runId: $runId, note: "traced") { __typename ... on ControlIntent { id traceId } ... on Error { message } } }`,
        variables: { runId: run.id },
      }),
    });
    const body = (await res.json()) as { data: { cancelRun: { __typename: string; traceId: string } } };
    expect(body.data.cancelRun).toMatchObject({ __typename: "ControlIntent", traceId: trace });

    await rx.waitFor(() => hook("run_stopped", run.raw).length > 0, 20_000, "the run_stopped alert");
    const [alert] = hook("run_stopped", run.raw);
    expect(alert.json).toMatchObject({ event: "trigger", condition: "run_stopped", traceId: trace, details: { stateReason: "cancelled" } });
  });

  it("a condition no request caused (a run found waiting for approval) carries a generated trace id", async () => {
    const run = await register(server, "trace-own", repoFromRecording("approval"), "demo-loop", TOKENS.admin);
    await rx.waitFor(() => hook("awaiting_approval", run.raw).length > 0, 20_000, "the awaiting_approval alert");
    const [alert] = hook("awaiting_approval", run.raw);
    expect(alert.json.traceId).toMatch(/^[0-9a-f]{32}$/);
  });
});
