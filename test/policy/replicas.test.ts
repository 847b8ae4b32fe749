import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { createTestDatabase } from "../support/db";
import { register, waitFor } from "../support/runs";
import { emptyRepo, killSims, runState, startControlServer, startSim, TOKENS } from "../control/helpers";
import { candidates, policyIntents, setPolicy, STALE_RULE } from "./helpers";

// Two replicas in cluster mode on one database: one policy engine evaluates (the lease), and a candidate is
// executed exactly once whoever asks: two operators on two replicas at the same instant, or both engines.

let a: RunningServer;
let b: RunningServer;

beforeAll(async () => {
  process.env["SIM_STEP_MS"] = "30";
  const db = await createTestDatabase();
  const env = { DATABASE_URL: db, OPS_CLUSTER: "on", OPS_POLICY_TICK_MS: "100", OPS_LEASE_TTL_MS: "2000", OPS_LEASE_RENEW_MS: "500" };
  a = await startControlServer({ ...env, OPS_REPLICA_ID: "policy-a" });
  b = await startControlServer({ ...env, OPS_REPLICA_ID: "policy-b" });
});
afterAll(async () => {
  await a?.close();
  await b?.close();
  killSims();
});

async function hangingRun(name: string) {
  const repo = emptyRepo();
  startSim(repo, { SIM_OUTCOME: "hang" });
  const run = await register(a, name, repo, "demo-loop", TOKENS.admin);
  await waitFor(
    () => runState(a, run.id),
    (r) => r.state === "RUNNING",
    15_000,
    `${name} RUNNING`,
  );
  return run;
}

const execute = (server: RunningServer, id: string) =>
  gql(server.url, `mutation($id: ID!) { executeCandidate(id: $id) { __typename ... on PolicyCandidate { executedBy } ... on CandidateNotOpen { status } } }`, { id }, TOKENS.op);

describe("two replicas", () => {
  it("one engine holds the lease; a candidate executed on both replicas at once becomes one intent", async () => {
    await setPolicy(a, { mode: "advisory", rules: [{ ...STALE_RULE, mode: "advisory" }] });
    await waitFor(
      async () => [a.app.policy.isLeader, b.app.policy.isLeader],
      (l) => l.filter(Boolean).length === 1,
      10_000,
      "one leader",
    );
    const runs = await Promise.all(["rep-1", "rep-2", "rep-3"].map(hangingRun));
    for (const run of runs) {
      const open = (
        await waitFor(
          () => candidates(b, run.id, ["open"]),
          (c) => c.length === 1,
          20_000,
          "an open candidate",
        )
      )[0];
      const [x, y] = await Promise.all([execute(a, open.id), execute(b, open.id)]);
      const kinds = [x.data!.executeCandidate.__typename, y.data!.executeCandidate.__typename].sort();
      expect(kinds).toEqual(["CandidateNotOpen", "PolicyCandidate"]);
      expect(await policyIntents(a, run.raw)).toHaveLength(1);
    }
  });

  it("in guarded_auto both engines ticking at once still cancel each run once", async () => {
    await setPolicy(a, {
      mode: "guarded_auto",
      allowlist: { actions: ["CANCEL"] },
      limits: { maxPerRun: 5, maxPerSprite: 5, maxTotal: 50, cooldownMs: 0 },
      rules: [{ ...STALE_RULE, mode: "guarded_auto" }],
    });
    const runs = await Promise.all(["rep-4", "rep-5"].map(hangingRun));
    // both replicas try, repeatedly, while the episodes are open
    for (let i = 0; i < 20; i++) await Promise.all([a.app.policy.tick(), b.app.policy.tick()]);
    for (const run of runs) {
      const intents = await waitFor(
        () => policyIntents(a, run.raw),
        (i) => i.length >= 1 && i[0].stage === "CONFIRMED",
        20_000,
        "the automatic cancel",
      );
      expect(intents).toHaveLength(1);
      const done = (await candidates(a, run.id, ["executed"]))[0];
      expect(done.executedAuto).toBe(true);
    }
  });
});
