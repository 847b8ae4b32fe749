import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentServer, type AgentServer } from "../../agent";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { startFakeSpritesApi, type FakeSpritesApi } from "../support/fake-sprites-api";
import { repoFromRecording } from "../support/fixtures";
import { startTestServer } from "../support/server";
import { startFaultProxy, type FaultProxy } from "./support/fault-proxy";

// 50 Sprites across the three transports (real agents and the fake Sprites API on loopback), with one fault
// injected per faulty Sprite. Each fault must become a health reason on that run only, with the raw reason
// visible; every other run keeps flowing; recovery clears the reason and is recorded as a transition.

const RECORDINGS = ["complete", "approval", "maxiter", "failure", "approved-complete", "rejected"] as const;
const TRUTH: Record<string, string> = {
  complete: "COMPLETE",
  approval: "AWAITING_APPROVAL",
  maxiter: "STOPPED",
  failure: "FAILED",
  "approved-complete": "COMPLETE",
  rejected: "AWAITING_APPROVAL",
};

interface Member {
  name: string;
  kind: "LOCAL" | "SPRITE_SERVICE" | "SPRITES_API";
  recording: (typeof RECORDINGS)[number];
  repo: string;
  runId: string;
  agent?: AgentServer;
  proxy?: FaultProxy;
}

let server: RunningServer;
let api: FakeSpritesApi;
const fleet: Member[] = [];
const byName = (n: string) => fleet.find((m) => m.name === n)!;

beforeAll(async () => {
  api = await startFakeSpritesApi();
  process.env.FLEET_SPRITES_TOKEN = api.token;
  process.env.FLEET_AGENT_TOKEN = "fleet-agent-secret";
  process.env.FLEET_WRONG_TOKEN = "not-the-token";
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "60000", SPRITES_API_URL: api.url, OPS_HEALTH_PROFILE: "strict" });
  const common = { loopId: "demo-loop", requestTimeoutMs: 1500, connectTimeoutMs: 500, retryAttempts: 2 };
  for (let i = 0; i < 50; i++) {
    const kind = i < 17 ? "LOCAL" : i < 34 ? "SPRITE_SERVICE" : "SPRITES_API";
    const recording = RECORDINGS[i % RECORDINGS.length];
    const name = `${kind === "LOCAL" ? "loc" : kind === "SPRITE_SERVICE" ? "svc" : "api"}-${i}`;
    const repo = repoFromRecording(recording);
    const m: Member = { name, kind, recording, repo, runId: "" };
    let extra: Record<string, unknown> = {};
    if (kind === "SPRITE_SERVICE") {
      m.agent = createAgentServer({ repoPath: repo, token: "fleet-agent-secret", port: 0 });
      const { port } = await m.agent.listen();
      m.proxy = await startFaultProxy(`http://127.0.0.1:${port}`);
      extra = { agentUrl: m.proxy.url, agentTokenEnv: "FLEET_AGENT_TOKEN" };
    } else if (kind === "SPRITES_API") {
      api.create(name, { dir: repo });
      extra = { spritesApiTokenEnv: "FLEET_SPRITES_TOKEN" };
    }
    const r = await gql(server.url, `mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { ... on RegisterSpritePayload { run { id } } ... on Error { message } } }`, {
      i: { name, transport: kind, repoPath: repo, ...common, ...extra },
    });
    m.runId = Buffer.from(r.data!.registerSprite.run.id as string, "base64")
      .toString()
      .split(":")[1]!;
    fleet.push(m);
  }
}, 60_000);

afterAll(async () => {
  await server?.close();
  for (const m of fleet) {
    await m.proxy?.close();
    await m.agent?.close();
  }
  await api?.close();
});

async function syncAll(): Promise<void> {
  await Promise.all(fleet.map((m) => server.app.ingestor.syncRun(m.runId)));
}

async function runOf(name: string) {
  const m = byName(name);
  const run = await server.app.db.run.findUniqueOrThrow({ where: { id: m.runId }, include: { sprite: true } });
  const reasons = run.healthReasons as { code: string; severity: string; message: string }[];
  return { state: run.state, stateReason: run.stateReason, health: run.health, ingestStatus: run.ingestStatus, reasons, spriteStatus: run.sprite.status, cursorLine: run.cursorLine };
}

const FAULTY = ["svc-17", "svc-18", "svc-19", "svc-20", "svc-21", "svc-22", "svc-23", "api-34", "api-35", "api-37", "api-38"];

describe("50 sprites, three transports, injected faults", () => {
  it("every run reaches its ground truth through its transport", async () => {
    await syncAll();
    for (const m of fleet) {
      const r = await runOf(m.name);
      expect({ name: m.name, state: r.state, health: r.health, ingest: r.ingestStatus }, JSON.stringify(r.reasons)).toEqual({
        name: m.name,
        state: TRUTH[m.recording],
        health: "HEALTHY",
        ingest: "OK",
      });
    }
    const f = await gql(server.url, `{ fleet { sprites runs byTransport { transport sprites runs } bySpriteStatus { status count } } }`);
    expect(f.data!.fleet).toMatchObject({
      sprites: 50,
      runs: 50,
      byTransport: [
        { transport: "LOCAL", sprites: 17, runs: 17 },
        { transport: "SPRITES_API", sprites: 16, runs: 16 },
        { transport: "SPRITE_SERVICE", sprites: 17, runs: 17 },
      ],
      bySpriteStatus: [{ status: "RUNNING", count: 50 }],
    });
  });

  it("each fault is a health reason on its own run, with the raw reason; the others keep flowing", async () => {
    byName("svc-17").proxy!.fault = { kind: "reset" }; // agent unreachable
    byName("svc-18").proxy!.fault = { kind: "delay", ms: 4000 }; // agent hangs: timeouts
    byName("svc-19").proxy!.fault = { kind: "garbage" }; // a proxy's HTML instead of JSON
    byName("svc-19").proxy!.match = /^\/ops\//;
    byName("svc-20").proxy!.fault = { kind: "rewrite", fn: (b) => ({ ...b, events: (b.events as object[] | undefined)?.map((e) => ({ ...e, schemaVersion: "v2" })) }) };
    byName("svc-20").proxy!.match = /^\/ops\/events/;
    byName("svc-21").proxy!.fault = {
      kind: "rewrite",
      fn: (b) => ({ ...b, events: (b.events as { source: object }[] | undefined)?.map((e) => ({ ...e, source: { ...e.source, loopId: "someone-else" } })) }),
    };
    byName("svc-21").proxy!.match = /^\/ops\/events/;
    await gql(server.url, `mutation { updateSprite(name: "svc-22", input: { agentTokenEnv: "FLEET_WRONG_TOKEN" }) { __typename } }`); // 401
    await gql(server.url, `mutation { updateSprite(name: "svc-23", input: { agentTokenEnv: "FLEET_UNSET_TOKEN" }) { __typename } }`); // no variable
    api.sprites.get("api-34")!.failAlways = { status: 500, body: '{"error":"internal: shard down"}' };
    api.destroy("api-35"); // awaiting approval, then the Sprite is destroyed
    api.sprites.get("api-37")!.delayMs = 3000; // the API hangs
    await gql(server.url, `mutation { updateSprite(name: "api-38", input: { spritesApiTokenEnv: "FLEET_WRONG_TOKEN" }) { __typename } }`);
    // Envelope faults need unread lines: rewind those runs (an operator's replay-from-start) under the fault.
    for (const n of ["svc-20", "svc-21"]) {
      const r = await gql(server.url, `mutation($id: ID!) { resetRunCursor(runId: $id, mode: REPLAY_FROM_START) { __typename } }`, { id: byName(n).runId });
      expect(r.errors).toBeUndefined();
    }

    await syncAll();
    await syncAll();

    const expectReason = async (name: string, code: string, text: RegExp, severity = "critical") => {
      const r = await runOf(name);
      const reason = r.reasons.find((x) => x.code === code);
      expect({ name, reason: reason ? { severity: reason.severity, message: reason.message } : r.reasons }).toEqual({ name, reason: { severity, message: expect.stringMatching(text) } });
      return r;
    };
    expect((await expectReason("svc-17", "transport_unreachable", /last error: .*(unreachable|connection)/)).spriteStatus).toBe("UNREACHABLE");
    await expectReason("svc-18", "transport_unreachable", /last error: .*(timeout|longer than)/);
    expect((await expectReason("svc-19", "invalid_payload", /not JSON/)).ingestStatus).toBe("ERROR");
    expect((await expectReason("svc-20", "invalid_payload", /schemaVersion/)).cursorLine).toBe(0);
    expect((await expectReason("svc-21", "invalid_payload", /wrong_loop_id.*someone-else/)).cursorLine).toBe(0);
    await expectReason("svc-22", "transport_unreachable", /unauthorized: agent refused the token in FLEET_WRONG_TOKEN/);
    await expectReason("svc-23", "transport_unreachable", /FLEET_UNSET_TOKEN.*not set/);
    // a peer's words are never repeated to viewers (issue 13): the status and the body's size, not "shard down"
    await expectReason("api-34", "transport_unreachable", /HTTP 500 \(\d+ bytes\)/);
    const missing = await expectReason("api-35", "sprite_missing", /no longer exists/);
    expect(missing).toMatchObject({ state: "FAILED", stateReason: "sprite_missing", spriteStatus: "MISSING" });
    // A finished run on a Sprite that hibernates: polled as the scheduler does (not a forced sync), the
    // status is recorded without waking it, and the run does not look broken.
    api.hibernate("api-36", 200);
    const requests = api.log.length;
    await server.app.ingestor.poll(byName("api-36").runId);
    await server.app.ingestor.poll(byName("api-36").runId);
    expect(api.log.slice(requests).filter((l) => l.includes("/exec") || l.includes("/fs/"))).toEqual([]);
    expect(api.sprites.get("api-36")!.status).toBe("cold");
    expect(await runOf("api-36")).toMatchObject({ state: "COMPLETE", health: "HEALTHY", spriteStatus: "COLD" });
    const cold = await server.app.db.lifecycleTransition.findMany({ where: { runId: byName("api-36").runId, trigger: "sprite" } });
    expect(cold.map((t) => [t.from, t.to, t.reason])).toEqual([["COMPLETE", "COMPLETE", "sprite_cold"]]);
    await expectReason("api-37", "transport_unreachable", /timeout|longer than/);
    await expectReason("api-38", "transport_unreachable", /unauthorized/);

    for (const m of fleet) {
      if (FAULTY.includes(m.name) || m.name === "api-36") continue;
      const r = await runOf(m.name);
      expect({ name: m.name, health: r.health, state: r.state }).toEqual({ name: m.name, health: "HEALTHY", state: TRUTH[m.recording] });
    }
    const q = await gql(server.url, `{ interventions { severity reasons { code } run { sprite { name } } } }`);
    const queued = new Map(q.data!.interventions.map((i: { run: { sprite: { name: string } }; severity: string }) => [i.run.sprite.name, i.severity]));
    for (const n of FAULTY) expect({ n, severity: queued.get(n) }).toEqual({ n, severity: "critical" });
    const sprite = await gql(server.url, `{ sprite(name: "svc-17") { ... on Sprite { status lastSeenAt health { status reasons { code message } } } } }`);
    expect(sprite.data!.sprite).toMatchObject({ status: "UNREACHABLE", health: { status: "CRITICAL", reasons: [{ code: "transport_unreachable" }] } });
  });

  it("recovery clears each reason and records the transition", async () => {
    for (const n of ["svc-17", "svc-18", "svc-19", "svc-20", "svc-21"]) {
      byName(n).proxy!.fault = { kind: "pass" };
      byName(n).proxy!.match = null;
    }
    await gql(server.url, `mutation { updateSprite(name: "svc-22", input: { agentTokenEnv: "FLEET_AGENT_TOKEN" }) { __typename } }`);
    process.env.FLEET_UNSET_TOKEN = "fleet-agent-secret";
    api.sprites.get("api-34")!.failAlways = null;
    api.sprites.get("api-37")!.delayMs = 0;
    await gql(server.url, `mutation { updateSprite(name: "api-38", input: { spritesApiTokenEnv: "FLEET_SPRITES_TOKEN" }) { __typename } }`);
    // Fail-closed runs stay stopped until an operator decides: replay them.
    for (const n of ["svc-19", "svc-20", "svc-21"]) {
      const r = await gql(server.url, `mutation($id: ID!) { resetRunCursor(runId: $id, mode: REPLAY_FROM_START) { __typename } }`, { id: byName(n).runId });
      expect(r.errors).toBeUndefined();
    }
    await syncAll();
    await syncAll();
    for (const m of fleet) {
      if (m.name === "api-35") continue; // destroyed: stays FAILED/sprite_missing
      const r = await runOf(m.name);
      expect({ name: m.name, health: r.health, state: r.state, ingest: r.ingestStatus, reasons: r.reasons }).toEqual({
        name: m.name,
        health: "HEALTHY",
        state: TRUTH[m.recording],
        ingest: "OK",
        reasons: [],
      });
    }
    const t = await server.app.db.lifecycleTransition.findMany({ where: { runId: byName("svc-17").runId, trigger: "sprite" }, orderBy: { seq: "asc" } });
    expect(t.map((x) => x.reason)).toEqual(["sprite_unreachable", "sprite_running"]);
    const sprite = await server.app.db.sprite.findUniqueOrThrow({ where: { name: "svc-17" } });
    expect(sprite.status).toBe("RUNNING");
    expect(sprite.lastSeenAt!.getTime()).toBeGreaterThan(Date.now() - 60_000);
    // What is left in the queue is what the recordings themselves need (approvals, stops, failures).
    const q = await gql(server.url, `{ interventions { reasons { code } run { sprite { name } } } }`);
    for (const i of q.data!.interventions as { reasons: { code: string }[]; run: { sprite: { name: string } } }[]) {
      if (i.run.sprite.name === "api-35") continue;
      expect({ n: i.run.sprite.name, codes: i.reasons.map((r) => r.code).filter((c) => ["transport_unreachable", "ingest_error", "sprite_missing", "cursor_fork"].includes(c)) }).toEqual({
        n: i.run.sprite.name,
        codes: [],
      });
    }
  });
});
