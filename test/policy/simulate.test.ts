import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { collect, gql, wsClient } from "../support/clients";
import { repoFromRecording } from "../support/fixtures";
import { register, waitFor } from "../support/runs";
import { emptyRepo, killSims, mutate, runState, startControlServer, startSim, TOKENS } from "../control/helpers";
import { candidates, setPolicy, STALE_RULE, ticks, type Candidate } from "./helpers";

// simulatePolicy replays what was stored (transitions, events, intents) and must find exactly the candidates
// the live engine proposed while the same rules were in force: a stale run cancelled by hand (stale, then
// stopped), a run waiting for approval, a failed run. The live candidates also arrive over graphql-ws.

let server: RunningServer;
const clients: ReturnType<typeof wsClient>[] = [];
const RULES = [
  { ...STALE_RULE, mode: "advisory" },
  { id: "stopped-alert", condition: { type: "state", states: ["STOPPED", "FAILED"] }, action: "ALERT", mode: "advisory" },
  { id: "approval-wait", condition: { type: "awaiting_approval", forMs: 500 }, action: "REJECT", mode: "advisory" },
];

beforeAll(async () => {
  process.env["SIM_STEP_MS"] = "30";
  server = await startControlServer({ OPS_POLICY_TICK_MS: "150" });
  await setPolicy(server, { mode: "advisory", rules: RULES }, { rationale: "rules under trial" });
});
afterAll(async () => {
  for (const c of clients) await c.dispose();
  await server?.close();
  killSims();
});

const key = (c: { rule: string; runId: string; episodeKey: string }) => `${c.rule}|${c.runId}|${c.episodeKey}`;

describe("simulatePolicy", () => {
  it("over the recorded history gives the same candidates as the live engine", async () => {
    const ws = wsClient(server.url, TOKENS.viewer);
    clients.push(ws);
    const sub = collect<{ policyCandidatesChanged: Candidate[] }>(ws, `subscription { policyCandidatesChanged { id rule runId status reasons { code } } }`);

    const repo = emptyRepo();
    startSim(repo, { SIM_OUTCOME: "hang" });
    const hung = await register(server, "sim-hung", repo, "demo-loop", TOKENS.admin);
    const approval = await register(server, "sim-approval", repoFromRecording("approval"), "demo-loop", TOKENS.admin);
    const failed = await register(server, "sim-failed", repoFromRecording("failure"), "demo-loop", TOKENS.admin);
    await waitFor(
      () => candidates(server, hung.id),
      (c) => c.some((x) => x.rule === "stale-cancel"),
      20_000,
      "the stale candidate",
    );
    await waitFor(
      async () => sub.items,
      (items) => items.some((i) => i.data?.policyCandidatesChanged.some((c) => c.rule === "stale-cancel")),
      10_000,
      "the subscription",
    );
    await mutate(server, "cancelRun", "runId: $runId", { runId: hung.id });
    await waitFor(
      () => runState(server, hung.id),
      (r) => r.state === "STOPPED",
      15_000,
      "STOPPED",
    );
    await waitFor(
      () => candidates(server, hung.id),
      (c) => c.some((x) => x.rule === "stopped-alert"),
      10_000,
      "the stopped candidate",
    );
    await waitFor(
      () => candidates(server, approval.id),
      (c) => c.some((x) => x.rule === "approval-wait"),
      10_000,
      "the approval candidate",
    );
    await waitFor(
      () => candidates(server, failed.id),
      (c) => c.some((x) => x.rule === "stopped-alert"),
      10_000,
      "the failed candidate",
    );
    await ticks(server, 3);

    const live = (await Promise.all([hung, approval, failed].map((r) => candidates(server, r.id)))).flat();
    const r = await gql(
      server.url,
      `query { simulatePolicy(window: { days: 1 }) { __typename ... on PolicySimulation { from to skippedRules candidates { rule runId episodeKey action at } } } }`,
      {},
      TOKENS.viewer,
    );
    if (r.errors) throw new Error(JSON.stringify(r.errors));
    const simulated = r.data!.simulatePolicy.candidates as { rule: string; runId: string; episodeKey: string; action: string }[];
    expect(simulated.map(key).sort()).toEqual(live.map(key).sort());
    expect(new Set(live.map((c) => c.rule))).toEqual(new Set(["approval-wait", "stale-cancel", "stopped-alert"]));
    expect(live.filter((c) => c.rule === "stopped-alert").map((c) => c.runId)).toEqual(expect.arrayContaining([hung.raw, failed.raw]));
    expect(simulated.find((c) => c.rule === "stale-cancel")!.action).toBe("CANCEL");

    // rules passed in are simulated instead of the ones in force; a health-reason rule cannot be replayed
    const tuned = await gql(
      server.url,
      `query($r: JSON) { simulatePolicy(rules: $r) { ... on PolicySimulation { skippedRules candidates { rule runId } } ... on Error { message } } }`,
      {
        r: [
          { id: "only-failed", condition: { type: "state", states: ["FAILED"] }, action: "ALERT" },
          { id: "h", condition: { type: "health_reason", codes: ["ingest_stale"] }, action: "ALERT" },
        ],
      },
      TOKENS.viewer,
    );
    // (the cancelled run may pass through FAILED/killed on its way to STOPPED/cancelled: also an episode)
    expect(tuned.data!.simulatePolicy.skippedRules).toEqual(["h"]);
    expect(tuned.data!.simulatePolicy.candidates).toContainEqual({ rule: "only-failed", runId: failed.raw });
    expect(new Set(tuned.data!.simulatePolicy.candidates.map((c: { rule: string }) => c.rule))).toEqual(new Set(["only-failed"]));
    const bad = await gql(server.url, `query($r: JSON) { simulatePolicy(rules: $r) { __typename ... on Error { message } } }`, { r: [{ id: "x", action: "APPROVE" }] }, TOKENS.viewer);
    expect(bad.data!.simulatePolicy.__typename).toBe("InvalidInput");
  });
});
