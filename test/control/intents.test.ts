import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { collect, gql, sse, wsClient } from "../support/clients";
import { repoFromRecording } from "../support/fixtures";
import { register, waitFor } from "../support/runs";
import { emptyRepo, INTENT, intentById, killSims, mutate, runState, startControlServer, startSim, TOKENS, wsCloseCode } from "./helpers";

// Control intents end to end: a real server, the simulator as SUPERLOOP_BIN writing real artifacts, the poller
// confirming from what it reads, and every stage observed over graphql-ws.

let server: RunningServer;
const clients: ReturnType<typeof wsClient>[] = [];

beforeAll(async () => {
  process.env["SIM_STEP_MS"] = "30";
  server = await startControlServer();
});
afterAll(async () => {
  for (const c of clients) await c.dispose();
  await server?.close();
  killSims();
});

function viewerSocket() {
  const c = wsClient(server.url, TOKENS.viewer);
  clients.push(c);
  return c;
}

async function registered(name: string, repo: string, expectState: string) {
  const run = await register(server, name, repo, "demo-loop", TOKENS.admin);
  await waitFor(
    () => runState(server, run.id),
    (r) => r.state === expectState,
    15_000,
    `${name} ${expectState}`,
  );
  return run;
}

type Intent = { id: string; stage: string; stages: { stage: string; evidence: Record<string, unknown> }[]; [k: string]: unknown };

async function untilStage(sub: ReturnType<typeof collect<{ controlIntentUpdated: Intent }>>, id: string, stage: string, timeoutMs = 15_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = sub.items.find((i) => i.data?.controlIntentUpdated.id === id && i.data.controlIntentUpdated.stage === stage);
    if (hit) return hit.data!.controlIntentUpdated;
    if (sub.error) throw new Error(JSON.stringify(sub.error));
    if (Date.now() > deadline) throw new Error(`no ${stage} for ${id}; saw ${JSON.stringify(sub.items.map((i) => i.data?.controlIntentUpdated.stage ?? i.errors))}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const SUB = `subscription($runId: ID, $intentId: ID) { controlIntentUpdated(runId: $runId, intentId: $intentId) { ... on ControlIntent { ${INTENT} } } }`;

describe("cancel", () => {
  it("cancel → ACCEPTED (exit 0) → CONFIRMED, run STOPPED/cancelled, the process group is gone", async () => {
    const repo = emptyRepo();
    const pid = startSim(repo, { SIM_OUTCOME: "hang" });
    const run = await registered("cancel-1", repo, "RUNNING");
    const sub = collect<{ controlIntentUpdated: Intent }>(viewerSocket(), SUB, { runId: run.id });
    await new Promise((r) => setTimeout(r, 100));

    const r = await mutate(server, "cancelRun", "runId: $runId, note: $note", { runId: run.id, note: "wrong branch" });
    expect(r.__typename).toBe("ControlIntent");
    expect(r).toMatchObject({ kind: "CANCEL", requestedBy: "alice", note: "wrong branch" });
    expect(["ACCEPTED", "CONFIRMED"]).toContain(r.stage);

    const confirmed = await untilStage(sub, r.id, "CONFIRMED");
    expect(confirmed.stages.map((s) => s.stage)).toEqual(["REQUESTED", "DISPATCHED", "ACCEPTED", "CONFIRMED"]);
    expect(confirmed.stages[1].evidence).toMatchObject({ result: { exitCode: 0 }, dispatch: { argv: [expect.any(String), "cancel", "--repo", repo] } });
    expect(confirmed.confirmedAt).toBeTruthy();
    await waitFor(
      () => runState(server, run.id),
      (s) => s.state === "STOPPED" && s.stateReason === "cancelled",
      10_000,
      "STOPPED/cancelled",
    );
    expect(() => process.kill(pid, 0)).toThrow();
    expect(existsSync(path.join(repo, ".superloop/state.json"))).toBe(false);
  });
});

describe("approve and reject", () => {
  it("approve with resumeAfterApprove → ACCEPTED → CONFIRMED over graphql-ws, the loop runs again and the run is COMPLETE", async () => {
    const repo = repoFromRecording("approval");
    const run = await registered("approve-1", repo, "AWAITING_APPROVAL");
    const sub = collect<{ controlIntentUpdated: Intent }>(viewerSocket(), SUB, { runId: run.id });
    await new Promise((r) => setTimeout(r, 100));

    const r = await mutate(server, "approveRun", "runId: $runId, note: $note, resumeAfterApprove: $resumeAfterApprove", {
      runId: run.id,
      note: "looks good",
      resumeAfterApprove: true,
    });
    expect(r.__typename).toBe("ControlIntent");
    expect(["DISPATCHED", "ACCEPTED"]).toContain(r.stage);
    expect(r.resumeAfterApprove).toBe(true);

    const accepted = await untilStage(sub, r.id, "ACCEPTED");
    const confirmed = await untilStage(sub, r.id, "CONFIRMED", 20_000);
    expect(sub.items.findIndex((i) => i.data?.controlIntentUpdated === accepted)).toBeLessThan(sub.items.findIndex((i) => i.data?.controlIntentUpdated === confirmed));
    expect(confirmed.stages.map((s) => s.stage)).toEqual(["REQUESTED", "DISPATCHED", "ACCEPTED", "CONFIRMED"]);
    const acceptedRecord = confirmed.stages[2] as { evidence: Record<string, unknown>; followUp?: string };
    expect(acceptedRecord.followUp).toBe("START");
    expect(acceptedRecord.evidence).toMatchObject({ event: "approval_decision", followUpIntentId: expect.any(String) });

    // the follow-up start is an intent of its own, requested once, on behalf of the approver
    const start = await waitFor(
      async () =>
        (await gql(server.url, `query($id: ID!) { run(id: $id) { ... on Run { intents(first: 10) { edges { node { ${INTENT} } } } } } }`, { id: run.id }, TOKENS.viewer)).data!.run.intents.edges.map(
          (e: { node: Intent }) => e.node,
        ),
      (list: Intent[]) => list.some((i) => i.kind === "START" && i.stage === "CONFIRMED"),
      15_000,
      "follow-up START confirmed",
    );
    expect(start.filter((i) => i.kind === "START")).toHaveLength(1);
    expect(start.map((i) => i.kind)).toEqual(["START", "APPROVE"]); // newest first
    expect(start[0]).toMatchObject({ requestedBy: "alice", idempotencyKey: `follow-up:${Buffer.from(r.id, "base64").toString().split(":")[1]}` });
    await waitFor(
      () => runState(server, run.id),
      (s) => s.state === "COMPLETE",
      15_000,
      "COMPLETE",
    );
    expect(existsSync(path.join(repo, ".superloop/loops/demo-loop/approval.json"))).toBe(false);
    const events = readFileSync(path.join(repo, ".superloop/loops/demo-loop/events.jsonl"), "utf8");
    expect(events.match(/"event":"approval_decision".*"by":"alice".*"note":"looks good"/)).not.toBeNull();
  });

  it("reject → CONFIRMED on the approval_decision event", async () => {
    const repo = repoFromRecording("approval");
    const run = await registered("reject-1", repo, "AWAITING_APPROVAL");
    const r = await mutate(server, "rejectRun", "runId: $runId, note: $note", { runId: run.id, note: "tests are thin" });
    expect(r.__typename).toBe("ControlIntent");
    const sub = collect<{ controlIntentUpdated: Intent }>(viewerSocket(), SUB, { intentId: r.id });
    const done = await untilStage(sub, r.id, "CONFIRMED");
    expect(done.stages.map((s) => s.stage)).toEqual(["REQUESTED", "DISPATCHED", "ACCEPTED", "CONFIRMED"]);
    expect(done.stages[3].evidence).toMatchObject({ event: "approval_decision", status: "rejected" });
    await waitFor(async () => sub.done, Boolean, 5000, "the per-intent subscription to end at the terminal stage");
  });

  it("approve without a pending approval → PreconditionFailed with the run's state, recorded as REJECTED", async () => {
    const repo = repoFromRecording("complete");
    const run = await registered("approve-2", repo, "COMPLETE");
    const r = await mutate(server, "approveRun", "runId: $runId", { runId: run.id });
    expect(r).toMatchObject({ __typename: "PreconditionFailed", state: "COMPLETE", intent: { stage: "REJECTED", error: "PreconditionFailed" } });
    expect(r.message).toMatch(/pending approval/);
  });
});

describe("pause and resume", () => {
  it("pause → PAUSED on a real process group (stopped in /proc), resume → RUNNING again", async () => {
    const repo = emptyRepo();
    const pid = startSim(repo, { SIM_OUTCOME: "hang" });
    const run = await registered("pause-1", repo, "RUNNING");
    const sub = collect<{ controlIntentUpdated: Intent }>(viewerSocket(), SUB, { runId: run.id });
    await new Promise((r) => setTimeout(r, 100));
    const procState = () => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ")[0];

    const p = await mutate(server, "pauseRun", "runId: $runId", { runId: run.id });
    expect(p.__typename).toBe("ControlIntent");
    await untilStage(sub, p.id, "CONFIRMED");
    expect(procState()).toBe("T");
    await waitFor(
      () => runState(server, run.id),
      (s) => s.state === "PAUSED",
      10_000,
      "PAUSED",
    );

    const again = await mutate(server, "pauseRun", "runId: $runId", { runId: run.id });
    expect(again).toMatchObject({ __typename: "PreconditionFailed", state: "PAUSED" });

    const r = await mutate(server, "resumeRun", "runId: $runId", { runId: run.id });
    expect(r.__typename).toBe("ControlIntent");
    const resumed = await untilStage(sub, r.id, "CONFIRMED");
    expect(resumed.stages.at(-1)!.evidence).toMatchObject({ processStopped: false });
    expect(procState()).not.toBe("T");
    await waitFor(
      () => runState(server, run.id),
      (s) => s.state === "RUNNING",
      10_000,
      "RUNNING again",
    );
  });
});

describe("idempotency", () => {
  it("10 identical concurrent requests → one intent, one dispatch (the simulator's argv log has one approve)", async () => {
    const log = path.join(emptyRepo(), "argv.log");
    process.env["SIM_ARGV_LOG"] = log;
    try {
      const repo = repoFromRecording("approval");
      const run = await registered("idem-1", repo, "AWAITING_APPROVAL");
      const results = await Promise.all(Array.from({ length: 10 }, () => mutate(server, "approveRun", "runId: $runId, idempotencyKey: $key", { runId: run.id, key: "approve-once-0001" })));
      expect(new Set(results.map((r) => r.__typename))).toEqual(new Set(["ControlIntent"]));
      expect(new Set(results.map((r) => r.id)).size).toBe(1);
      // without resumeAfterApprove an approve ends at ACCEPTED until someone runs the loop again
      await untilIntent(results[0]!.id, (i) => i.stage === "ACCEPTED");
      // and later: the same key still returns the first outcome, without acting again
      const later = await mutate(server, "approveRun", "runId: $runId, idempotencyKey: $key", { runId: run.id, key: "approve-once-0001" });
      expect(later).toMatchObject({ id: results[0]!.id, stage: "ACCEPTED" });
      const lines = readFileSync(log, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as string[]);
      expect(lines.filter((a) => a[0] === "approve")).toHaveLength(1);
    } finally {
      delete process.env["SIM_ARGV_LOG"];
    }
  });

  it("rejects malformed keys and long notes as ValidationError", async () => {
    const r = await mutate(server, "cancelRun", "runId: $runId, idempotencyKey: $key, note: $note", { runId: "x", key: "bad key!", note: "n".repeat(2001) });
    expect(r.__typename).toBe("ValidationError");
    expect(r.issues.map((i: { path: string[] }) => i.path.join("."))).toEqual(expect.arrayContaining(["idempotencyKey", "note"]));
  });
});

async function untilIntent(id: string, pred: (i: Intent) => boolean) {
  return waitFor(() => intentById(server, id) as Promise<Intent>, pred, 15_000, `intent ${id}`);
}

describe("authentication and roles", () => {
  it("a viewer can read but not control: Unauthorized as data", async () => {
    const repo = repoFromRecording("approval");
    const run = await registered("auth-1", repo, "AWAITING_APPROVAL");
    const r = await mutate(server, "approveRun", "runId: $runId", { runId: run.id }, TOKENS.viewer);
    expect(r).toMatchObject({ __typename: "Unauthorized", message: expect.stringMatching(/operator/) });
    // an operator is not an admin: the per-Sprite passive switch is refused as data too
    const sw = await gql(server.url, `mutation { setSpriteControlMode(sprite: "auth-1", mode: DISABLED) { __typename ... on Error { message } } }`, {}, TOKENS.op);
    expect(sw.data!.setSpriteControlMode.__typename).toBe("Unauthorized");
    // no valid token at all: not even the mutation runs (401, UNAUTHENTICATED), nothing is recorded
    const none = await gql(server.url, `mutation($id: ID!) { cancelRun(runId: $id) { __typename } }`, { id: run.id }, "not-a-valid-token");
    expect(none.data ?? null).toBeNull();
    expect(none.errors?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
    const intents = await gql(server.url, `query($id: ID!) { run(id: $id) { ... on Run { intents { edges { node { kind stage requestedBy } } } } } }`, { id: run.id }, TOKENS.viewer);
    expect(intents.data!.run.intents.edges).toEqual([]);
  });

  it("HTTP reads need a valid token", async () => {
    for (const token of [undefined, "wrong-token-123"]) {
      const r = await gql(server.url, `{ runs { edges { node { id } } } }`, {}, token);
      expect(r.data?.runs ?? null).toBeNull();
      expect(r.errors?.[0]?.message).toBeTruthy();
    }
    const ok = await gql(server.url, `{ runs { edges { node { id } } } }`, {}, TOKENS.viewer);
    expect(ok.errors).toBeUndefined();
  });

  it("SSE subscriptions need a valid token", async () => {
    const s = sse(server.url, `subscription { controlIntentUpdated { ... on ControlIntent { id } } }`, {}, "wrong-token-123");
    try {
      const items = await s.next(1, 5000);
      expect(items[0].errors?.[0]?.message).toBeTruthy();
      expect(items[0].data?.controlIntentUpdated ?? null).toBeNull();
    } finally {
      s.close();
    }
  });

  it("a graphql-ws connection without a valid token is closed with 4403", async () => {
    expect((await wsCloseCode(server, {})).code).toBe(4403);
    expect((await wsCloseCode(server, { authorization: "Bearer wrong-token-123" })).code).toBe(4403);
    expect((await wsCloseCode(server, { authorization: `Bearer ${TOKENS.viewer}` })).code).toBe(0);
  });
});

describe("passive mode and audit", () => {
  it("a Sprite switched to DISABLED refuses control with ControlDisabled; the switch and the refusal are in the audit", async () => {
    const repo = repoFromRecording("approval");
    const run = await registered("passive-1", repo, "AWAITING_APPROVAL");
    const sw = await gql(
      server.url,
      `mutation { setSpriteControlMode(sprite: "passive-1", mode: DISABLED, note: "incident 42") { __typename ... on Sprite { controlMode } ... on Error { message } } }`,
      {},
      TOKENS.admin,
    );
    expect(sw.data!.setSpriteControlMode).toEqual({ __typename: "Sprite", controlMode: "DISABLED" });
    const r = await mutate(server, "approveRun", "runId: $runId, note: $note", { runId: run.id, note: "please" });
    expect(r).toMatchObject({ __typename: "ControlDisabled", intent: { stage: "REJECTED", error: "ControlDisabled" } });

    const audit = await gql(
      server.url,
      `query($runId: ID) { audit(runId: $runId, first: 10) { edges { cursor node { source actor action note outcome at intent { id } transition { trigger } } } pageInfo { hasNextPage endCursor } } }`,
      { runId: run.id },
      TOKENS.viewer,
    );
    const nodes = audit.data!.audit.edges.map((e: { node: Record<string, unknown> }) => e.node);
    expect(nodes[0]).toMatchObject({ source: "INTENT", actor: "alice", action: "APPROVE", note: "please", outcome: "REJECTED: ControlDisabled" });
    expect(nodes[1]).toMatchObject({ source: "TRANSITION", actor: "root", action: "control_mode", note: "incident 42", transition: { trigger: "control_mode" } });

    // paging: one at a time gives the same entries in the same order
    const first = await gql(server.url, `{ audit(first: 1) { edges { cursor node { at action } } pageInfo { hasNextPage endCursor } } }`, {}, TOKENS.viewer);
    expect(first.data!.audit.pageInfo.hasNextPage).toBe(true);
    const second = await gql(server.url, `query($a: String) { audit(first: 1, after: $a) { edges { node { at action } } } }`, { a: first.data!.audit.pageInfo.endCursor }, TOKENS.viewer);
    expect(second.data!.audit.edges[0].node.action).toBe("control_mode");
  });
});
