import { readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { writeRecordingStub } from "../agent/agent-client";
import { emptyRepo, killSims, startSim } from "../control/helpers";
import { gql } from "../support/clients";
import { register, waitFor } from "../support/runs";
import { demoRuns, startDemoServer } from "./demo-server";

// Demo mode must never act on the operator's own Sprites: the simulator is the runtime of demo Sprites only
// (Sprite.demo), so approving a Sprite registered by hand runs SUPERLOOP_BIN (here a recording stub standing for
// the real superloop.sh), and nothing is written into that repo by the simulator.

const servers: RunningServer[] = [];
afterAll(async () => {
  killSims();
  for (const s of servers) await s.close();
});

const APPROVE = `mutation($runId: ID!) { r: approveRun(runId: $runId, note: "ok") { __typename ... on ControlIntent { id stage } ... on Error { message } } }`;

describe("demo isolation", () => {
  it("approve on a non-demo Sprite in demo mode runs the real binary path, not the simulator", async () => {
    const stub = await writeRecordingStub();
    const { server } = await startDemoServer({ env: { SUPERLOOP_BIN: stub.bin } });
    servers.push(server);

    // The operator's own repo, waiting for approval (written by a hand-started simulator run, not by the manager).
    const repo = emptyRepo();
    startSim(repo, { SIM_APPROVAL: "1" });
    const events = path.join(repo, ".superloop", "loops", "demo-loop", "events.jsonl");
    const mine = await register(server, "mine", repo);
    await waitFor(
      async () => (await gql<{ run: { state: string } }>(server.url, `query($id: ID!) { run(id: $id) { ... on Run { state } } }`, { id: mine.id })).data!.run.state,
      (s) => s === "AWAITING_APPROVAL",
      20_000,
      "the hand-registered run to await approval",
    );
    const sprites = await gql<{ sprites: { edges: { node: { name: string; demo: boolean } }[] } }>(server.url, `{ sprites(first: 50) { edges { node { name demo } } } }`);
    const demoByName = new Map(sprites.data!.sprites.edges.map((e) => [e.node.name, e.node.demo]));
    expect(demoByName.get("mine")).toBe(false);
    expect(demoByName.get("demo-approval")).toBe(true);

    const r = await gql<{ r: { __typename: string } }>(server.url, APPROVE, { runId: mine.id });
    expect(r.data!.r.__typename).toBe("ControlIntent");
    const calls = await waitFor(
      () => stub.calls(),
      (c) => c.some((a) => a.includes("approve")),
      20_000,
      "SUPERLOOP_BIN to be run for approve",
    );
    const approve = calls.find((a) => a.includes("approve"))!;
    expect(approve).toContain(repo);
    // The simulator would have consumed the approval; the stub does nothing, so no such event is in the repo.
    expect(readFileSync(events, "utf8")).not.toContain("approval_consumed");

    // And the demo Sprite next to it still runs the simulator: its approval completes the loop.
    const runs = await waitFor(
      () => demoRuns(server),
      (m) => m.get("demo-approval")?.state === "AWAITING_APPROVAL",
      30_000,
      "demo-approval waiting",
    );
    const demoApprove = await gql<{ r: { __typename: string } }>(server.url, APPROVE.replace('note: "ok"', 'note: "ok", resumeAfterApprove: true'), { runId: runs.get("demo-approval")!.id });
    expect(demoApprove.data!.r.__typename).toBe("ControlIntent");
    await waitFor(
      () => demoRuns(server),
      (m) => m.get("demo-approval")?.state === "COMPLETE",
      30_000,
      "demo-approval COMPLETE through the simulator",
    );
    expect((await stub.calls()).every((a) => !a.some((x) => x.includes(path.join("demo", "demo-approval"))))).toBe(true);
  }, 90_000);
});
