import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { register, waitFor } from "../support/runs";
import { emptyRepo, killSims, mutate, runState, startControlServer, startSim, TOKENS } from "../control/helpers";
import { CANDIDATE, candidates, policyIntents, setPolicy, STALE_RULE, ticks, waitCandidate, type Candidate } from "./helpers";

// The policy engine over real runs: the simulator hangs mid-iteration (a stale RUNNING run), the engine
// evaluates every 200 ms, and what it does is read back through GraphQL and the intents it created.

let server: RunningServer;

beforeAll(async () => {
  process.env["SIM_STEP_MS"] = "30";
  // every `superloop run` the manager starts (START) hangs too
  process.env["SIM_OUTCOME"] = "hang";
  server = await startControlServer({ OPS_POLICY_TICK_MS: "200" });
});
afterAll(async () => {
  await server?.close();
  killSims();
});

async function hangingRun(name: string) {
  const repo = emptyRepo();
  startSim(repo, { SIM_OUTCOME: "hang" });
  const run = await register(server, name, repo, "demo-loop", TOKENS.admin);
  await waitFor(
    () => runState(server, run.id),
    (r) => r.state === "RUNNING",
    15_000,
    `${name} RUNNING`,
  );
  return run;
}

const open = (cs: Candidate[]) => cs.find((c) => c.status === "open");
const codes = (c: Candidate | undefined) => (c?.reasons ?? []).map((r) => r.code);
const GUARDED = { mode: "guarded_auto", allowlist: { actions: ["CANCEL"] }, rules: [{ ...STALE_RULE, mode: "guarded_auto" }] };

async function mutation(name: string, args: string, decl: string, vars: Record<string, unknown>, token: string, fields = `... on PolicyRuntime { killSwitch killSwitchSource paused }`) {
  const r = await gql(server.url, `mutation(${decl}) { r: ${name}(${args}) { __typename ${fields} ... on Error { message } } }`, vars, token);
  if (r.errors) throw new Error(JSON.stringify(r.errors));
  return r.data!.r;
}

describe("advisory", () => {
  it("a stale-running rule proposes CANCEL and does nothing; an operator can suppress or execute it", async () => {
    const p = await setPolicy(server, { mode: "advisory", rules: [{ ...STALE_RULE, mode: "advisory" }] });
    expect(p).toMatchObject({ __typename: "Policy", mode: "advisory", effectiveMode: "advisory" });
    const run = await hangingRun("adv-1");
    const cs = await waitCandidate(server, run.id, (c) => open(c) !== undefined, "an open candidate");
    expect(open(cs)).toMatchObject({ rule: "stale-cancel", action: "CANCEL", eligible: false });
    expect(codes(open(cs))).toContain("mode_advisory");
    await ticks(server, 5);
    expect(await policyIntents(server, run.raw)).toHaveLength(0);
    expect((await runState(server, run.id)).state).toBe("RUNNING");

    // suppress: who, why, until; it stays out of automatic execution
    const s = await mutation("suppressCandidate", "id: $id, note: $n", "$id: ID!, $n: String!", { id: open(cs)!.id, n: "investigating" }, TOKENS.op, `... on PolicyCandidate { ${CANDIDATE} }`);
    expect(s).toMatchObject({ __typename: "PolicyCandidate", status: "suppressed", suppressedBy: "alice", suppressedNote: "investigating" });
    await ticks(server, 2);
    expect(codes((await candidates(server, run.id)).find((c) => c.id === s.id))).toContain("suppressed");
    // a viewer cannot execute; a suppressed candidate is not open
    expect((await mutation("executeCandidate", "id: $id", "$id: ID!", { id: s.id }, TOKENS.viewer, "")).__typename).toBe("Unauthorized");
    expect(await mutation("executeCandidate", "id: $id", "$id: ID!", { id: s.id }, TOKENS.op, "... on CandidateNotOpen { status }")).toMatchObject({
      __typename: "CandidateNotOpen",
      status: "suppressed",
    });

    // another run: the operator executes the proposal, which becomes an ordinary intent by policy:<rule>
    const run2 = await hangingRun("adv-2");
    const c2 = open(await waitCandidate(server, run2.id, (c) => open(c) !== undefined, "an open candidate"))!;
    const ex = await mutation("executeCandidate", "id: $id, note: $n", "$id: ID!, $n: String", { id: c2.id, n: "looks dead" }, TOKENS.op, `... on PolicyCandidate { ${CANDIDATE} }`);
    expect(ex).toMatchObject({ __typename: "PolicyCandidate", status: "executed", executedBy: "alice", executedAuto: false });
    expect(ex.intent).toMatchObject({ kind: "CANCEL", requestedBy: "policy:stale-cancel" });
    expect(ex.intent.note).toContain("executed by alice: looks dead");
    await waitFor(
      () => runState(server, run2.id),
      (r) => r.state === "STOPPED" && r.stateReason === "cancelled",
      15_000,
      "cancelled",
    );
    expect(await mutation("executeCandidate", "id: $id", "$id: ID!", { id: c2.id }, TOKENS.op, "... on CandidateNotOpen { status }")).toMatchObject({
      __typename: "CandidateNotOpen",
      status: "executed",
    });
    // free the first run for the next tests
    await mutate(server, "cancelRun", "runId: $runId", { runId: run.id });
  });
});

describe("an executor that died between the claim and its result", () => {
  it("is finished by the engine: the intent is requested once (same idempotency key), never left 'executing'", async () => {
    await setPolicy(server, { mode: "advisory", rules: [{ ...STALE_RULE, mode: "advisory" }] });
    const run = await hangingRun("crash-1");
    const c = open(await waitCandidate(server, run.id, (cs) => open(cs) !== undefined, "an open candidate"))!;
    // what a kill -9 right after claimCandidate leaves: claimed, no intent, no result
    const claim = `UPDATE "PolicyCandidate" SET status = 'executing', "executedBy" = 'alice', "executedAuto" = false, "executedAt" = now() - interval '1 hour' WHERE id = $1`;
    await server.app.pool.query(claim, [c.id]);
    await ticks(server, 2);
    const done = (await candidates(server, run.id)).find((x) => x.id === c.id)!;
    expect(done).toMatchObject({ status: "executed", executedBy: "alice", intent: { kind: "CANCEL", requestedBy: "policy:stale-cancel" } });
    await waitFor(
      () => runState(server, run.id),
      (r) => r.state === "STOPPED" && r.stateReason === "cancelled",
      15_000,
      "cancelled",
    );
    // interrupted again after its intent existed: performing it again replays that intent, no second one
    await server.app.pool.query(claim, [c.id]);
    await ticks(server, 2);
    expect((await candidates(server, run.id)).find((x) => x.id === c.id)).toMatchObject({ status: "executed", intent: { id: done.intent!.id } });
    expect(await policyIntents(server, run.raw)).toHaveLength(1);
  });
});

describe("guarded_auto", () => {
  let run: { id: string; raw: string };

  it("cancels once (CONFIRMED) and never twice within the cooldown", async () => {
    await setPolicy(server, { ...GUARDED, limits: { maxPerRun: 5, maxPerSprite: 5, maxTotal: 50, cooldownMs: 600_000 } });
    run = await hangingRun("auto-1");
    const cs = await waitCandidate(server, run.id, (c) => c.some((x) => x.intent?.stage === "CONFIRMED"), "a CONFIRMED automatic cancel");
    const done = cs.find((x) => x.intent?.stage === "CONFIRMED")!;
    expect(done).toMatchObject({ status: "executed", executedAuto: true, executedBy: "policy:stale-cancel", eligible: true, reasons: [] });
    expect(done.intent).toMatchObject({ kind: "CANCEL", requestedBy: "policy:stale-cancel" });
    await waitFor(
      () => runState(server, run.id),
      (r) => r.state === "STOPPED" && r.stateReason === "cancelled",
      15_000,
      "cancelled",
    );

    // started again, it goes stale again: a new episode, held back by the cooldown
    const start = await mutate(server, "startRun", "runId: $runId", { runId: run.id });
    expect(start.__typename).toBe("ControlIntent");
    const again = await waitCandidate(server, run.id, (c) => codes(open(c)).includes("cooldown_active"), "a second episode in cooldown");
    expect(open(again)!.episodeKey).not.toBe(done.episodeKey);
    expect(open(again)!.eligible).toBe(false);
    await ticks(server, 5);
    expect(await policyIntents(server, run.raw)).toHaveLength(1);
  });

  it("caps block with the named reason", async () => {
    await setPolicy(server, { ...GUARDED, limits: { maxPerRun: 1, maxPerSprite: 5, maxTotal: 50, cooldownMs: 0 } });
    const cs = await waitCandidate(server, run.id, (c) => codes(open(c)).join() === "cap_exceeded", "cap_exceeded");
    expect(codes(open(cs))).toEqual(["cap_exceeded"]);
    expect(open(cs)!.reasons[0].message).toContain("per run: 1 of 1");
    await ticks(server, 3);
    expect(await policyIntents(server, run.raw)).toHaveLength(1);
  });

  it("an expired review falls back to advisory and says so", async () => {
    const p = await setPolicy(server, { ...GUARDED, limits: { maxPerRun: 5, maxPerSprite: 5, maxTotal: 50, cooldownMs: 0 } }, { reviewBy: new Date(Date.now() - 1000).toISOString() });
    expect(p).toMatchObject({ mode: "guarded_auto", effectiveMode: "advisory", reviewExpired: true });
    const cs = await waitCandidate(server, run.id, (c) => codes(open(c)).join() === "review_expired", "review_expired");
    expect(codes(open(cs))).toEqual(["review_expired"]);
    await ticks(server, 3);
    expect(await policyIntents(server, run.raw)).toHaveLength(1);
  });

  it("the kill switch blocks with its reason; off again, the candidate is executed", async () => {
    const on = await mutation("setPolicyKillSwitch", "on: true, note: $n", "$n: String", { n: "incident 42" }, TOKENS.admin);
    expect(on).toMatchObject({ __typename: "PolicyRuntime", killSwitch: true });
    expect(on.killSwitchSource).toContain("incident 42");
    expect((await mutation("setPolicyKillSwitch", "on: false, note: $n", "$n: String", {}, TOKENS.op)).__typename).toBe("Unauthorized");
    await setPolicy(server, { ...GUARDED, limits: { maxPerRun: 5, maxPerSprite: 5, maxTotal: 50, cooldownMs: 0 } }, { rationale: "lift the caps for the test" });
    const cs = await waitCandidate(server, run.id, (c) => codes(open(c)).join() === "kill_switch", "kill_switch");
    expect(codes(open(cs))).toEqual(["kill_switch"]);
    await ticks(server, 3);
    expect(await policyIntents(server, run.raw)).toHaveLength(1);

    await mutation("setPolicyKillSwitch", "on: false, note: $n", "$n: String", {}, TOKENS.admin);
    await waitFor(
      () => policyIntents(server, run.raw),
      (i) => i.length === 2 && i[1].stage === "CONFIRMED",
      20_000,
      "the second automatic cancel",
    );

    // every change is in the immutable audit, with before and after
    const audit = await gql(server.url, `{ policyAudit(first: 50) { actor action version rationale before after } }`, {}, TOKENS.viewer);
    const entries = audit.data!.policyAudit as { actor: string; action: string; rationale: string | null; before: unknown; after: { mode?: string } | null }[];
    expect(entries.map((e) => e.action)).toEqual(expect.arrayContaining(["policy_changed", "kill_switch_on", "kill_switch_off"]));
    expect(entries.find((e) => e.rationale === "lift the caps for the test")).toMatchObject({ actor: "root", after: { mode: "guarded_auto" } });
    await expect(server.app.pool.query(`UPDATE "PolicyAudit" SET actor = 'mallory'`)).rejects.toThrow(/immutable/);
    await expect(server.app.pool.query(`DELETE FROM "PolicyVersion"`)).rejects.toThrow(/immutable/);
  });

  it("a policy change needs an admin, a rationale and a valid document", async () => {
    const bad = await gql(
      server.url,
      `mutation($i: SetPolicyInput!) { setPolicy(input: $i) { __typename ... on Error { message } } }`,
      { i: { policy: { rules: [{ id: "x", condition: { type: "sprite_missing" }, action: "APPROVE" }] }, rationale: "", reviewBy: "2030-01-01T00:00:00Z" } },
      TOKENS.admin,
    );
    expect(bad.data!.setPolicy.__typename).toBe("InvalidInput");
    expect(bad.data!.setPolicy.message).toMatch(/rationale/);
    expect(bad.data!.setPolicy.message).toMatch(/APPROVE/);
    const op = await gql(server.url, `mutation($i: SetPolicyInput!) { setPolicy(input: $i) { __typename } }`, { i: { policy: {}, rationale: "why not", reviewBy: "2030-01-01T00:00:00Z" } }, TOKENS.op);
    expect(op.data!.setPolicy.__typename).toBe("Unauthorized");
    // the README's first example, as written (a JSON literal in the document)
    const literal = await gql(
      server.url,
      `mutation { setPolicy(input: { rationale: "runs hung by a dead provider connection; cancel after 20 min", reviewBy: "2030-03-01T00:00:00Z",
         policy: { mode: "advisory", rules: [{ id: "stale-cancel", condition: { type: "stale_running", forMs: 1200000 }, action: "CANCEL" }] } })
         { ... on Policy { effectiveMode rules { id mode action condition } } ... on Error { message } } }`,
      {},
      TOKENS.admin,
    );
    expect(literal.data!.setPolicy).toEqual({ effectiveMode: "advisory", rules: [{ id: "stale-cancel", mode: "advisory", action: "CANCEL", condition: { type: "stale_running", forMs: 1200000 } }] });
  });
});
