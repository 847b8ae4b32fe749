import { afterAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { waitFor } from "../support/runs";
import { demoRuns, startDemoServer } from "./demo-server";

// Control intents against demo runs go through SUPERLOOP_BIN = the simulator, as they would through
// superloop.sh: approve with resume completes the waiting loop, cancel ends the stuck one. The crashed one
// shows the runtime's truth (docs/runtime.md): its state.json still says active, so a START is refused by the runtime
// and ends FAILED with its message within seconds; RESTART (cancel, check cleared, run) revives it.

const servers: RunningServer[] = [];
afterAll(async () => {
  for (const s of servers) await s.close();
});

const INTENTS = `query($id: ID!) { run(id: $id) { ... on Run { state stateReason intents(first: 10) { edges { node { kind stage error stages { stage observation } } } } } } }`;

async function runWithIntents(server: RunningServer, id: string) {
  const r = await gql<{ run: { state: string; stateReason: string; intents: { edges: { node: { kind: string; stage: string } }[] } } }>(server.url, INTENTS, { id });
  return r.data!.run;
}

async function mutate(server: RunningServer, field: string, args: string, vars: Record<string, unknown>) {
  const r = await gql(server.url, `mutation($runId: ID!) { r: ${field}(runId: $runId${args}) { __typename ... on ControlIntent { stage } ... on Error { message } } }`, vars);
  return r.data?.r as { __typename: string; stage?: string; message?: string };
}

describe("control intents on the demo fleet", () => {
  it("approve (resume) completes demo-approval; start over demo-crash's stale state fails at once, restart revives it; cancel stops demo-stuck", async () => {
    const { server } = await startDemoServer();
    servers.push(server);
    const runs = await waitFor(
      () => demoRuns(server),
      (m) => m.get("demo-approval")?.state === "AWAITING_APPROVAL" && m.get("demo-crash")?.stateReason === "runtime_died" && m.get("demo-stuck")?.state === "RUNNING",
      30_000,
      "demo states",
    );
    const approval = runs.get("demo-approval")!.id;
    const crash = runs.get("demo-crash")!.id;
    const stuck = runs.get("demo-stuck")!.id;

    expect(await mutate(server, "approveRun", ', resumeAfterApprove: true, note: "ok"', { runId: approval })).toMatchObject({ __typename: "ControlIntent" });
    expect(await mutate(server, "cancelRun", "", { runId: stuck })).toMatchObject({ __typename: "ControlIntent" });

    const started = Date.now();
    const start = await mutate(server, "startRun", "", { runId: crash });
    expect(start).toMatchObject({ __typename: "ControlIntent", stage: "FAILED" });
    expect(Date.now() - started).toBeLessThan(15_000);
    const refused = (await runWithIntents(server, crash)).intents.edges
      .map((e) => e.node as { kind: string; stage: string; error: string | null; stages: { observation: string }[] })
      .find((i) => i.kind === "START")!;
    expect(refused.error).toBe("runtime_refused");
    expect(refused.stages.at(-1)!.observation).toMatch(/reentrant run blocked/);
    const restarted = await mutate(server, "restartRun", "", { runId: crash });
    expect(restarted, restarted.message).toMatchObject({ __typename: "ControlIntent" });

    const done = (r: { state: string }) => r.state === "COMPLETE";
    await waitFor(() => runWithIntents(server, approval), done, 30_000, "demo-approval COMPLETE after approve + resume");
    await waitFor(() => runWithIntents(server, crash), done, 30_000, "demo-crash COMPLETE after restart");
    const restart = (await runWithIntents(server, crash)).intents.edges.map((e) => e.node).find((i) => i.kind === "RESTART");
    expect(restart?.stage).toBe("CONFIRMED");
    await waitFor(
      () => runWithIntents(server, stuck),
      (r) => r.state === "STOPPED" && r.stateReason === "cancelled",
      30_000,
      "demo-stuck cancelled",
    );
    const approvals = (await runWithIntents(server, approval)).intents.edges.map((e) => e.node);
    expect(approvals.find((i) => i.kind === "APPROVE")?.stage).toBe("CONFIRMED");
    expect(approvals.find((i) => i.kind === "START")?.stage).toBe("CONFIRMED");
  }, 90_000);
});
