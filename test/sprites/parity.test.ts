import { randomUUID } from "node:crypto";
import { appendFileSync, copyFileSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentServer, type AgentServer, type ControlResult } from "../../agent";
import type { RunningServer } from "../../src/server";
import { LocalTransport } from "../../src/transports/local";
import { SpritesApiTransport } from "../../src/transports/sprites-api";
import { SpriteServiceTransport } from "../../src/transports/sprite-service";
import type { Transport } from "../../src/transports/transport";
import { writeRecordingStub } from "../agent/agent-client";
import { gql } from "../support/clients";
import { startFakeSpritesApi, type FakeSpritesApi } from "../support/fake-sprites-api";
import { eventsPath, FIXTURES, repoFromRecording } from "../support/fixtures";
import { startTestServer } from "../support/server";

// Invariant 6 of docs/architecture.md: the same scenario through LOCAL, SPRITE_SERVICE and SPRITES_API must store the
// same events, project the same states and move the same intents. Scenario: the `approval` recording, an
// approve intent dispatched through each transport, then the lines of `approved-complete` landing a few at a
// time, then its final state.json/run-summary.json (approval.json consumed).

const KINDS = ["LOCAL", "SPRITE_SERVICE", "SPRITES_API"] as const;
type Kind = (typeof KINDS)[number];

let server: RunningServer;
let agent: AgentServer;
let api: FakeSpritesApi;
let stub: Awaited<ReturnType<typeof writeRecordingStub>>;
const repos = {} as Record<Kind, string>;
const runIds = {} as Record<Kind, string>;
const transports = {} as Record<Kind, Transport>;

beforeAll(async () => {
  stub = await writeRecordingStub();
  for (const k of KINDS) repos[k] = repoFromRecording("approval");
  agent = createAgentServer({ repoPath: repos.SPRITE_SERVICE, token: "parity-agent", port: 0, superloopBin: stub.bin });
  const { port } = await agent.listen();
  api = await startFakeSpritesApi();
  api.create("par-api", { dir: repos.SPRITES_API });
  process.env.PARITY_AGENT_TOKEN = "parity-agent";
  process.env.PARITY_SPRITES_TOKEN = api.token;
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "60000", SPRITES_API_URL: api.url, SUPERLOOP_BIN: stub.bin });
  const inputs: Record<Kind, Record<string, unknown>> = {
    LOCAL: { name: "par-local", transport: "LOCAL" },
    SPRITE_SERVICE: { name: "par-svc", transport: "SPRITE_SERVICE", agentUrl: `http://127.0.0.1:${port}`, agentTokenEnv: "PARITY_AGENT_TOKEN" },
    SPRITES_API: { name: "par-api", transport: "SPRITES_API", spritesApiTokenEnv: "PARITY_SPRITES_TOKEN" },
  };
  for (const k of KINDS) {
    const r = await gql(server.url, `mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { ... on RegisterSpritePayload { run { id } } ... on Error { message } } }`, {
      i: { ...inputs[k], repoPath: repos[k], loopId: "demo-loop" },
    });
    runIds[k] = Buffer.from(r.data!.registerSprite.run.id as string, "base64")
      .toString()
      .split(":")[1]!;
  }
  transports.LOCAL = new LocalTransport({ superloopBin: stub.bin, logDir: path.join(repos.LOCAL, ".superloop", "logs") });
  transports.SPRITE_SERVICE = new SpriteServiceTransport({ agentUrl: `http://127.0.0.1:${port}`, tokenEnv: "PARITY_AGENT_TOKEN" });
  transports.SPRITES_API = new SpritesApiTransport({ baseUrl: api.url, spriteName: "par-api", tokenEnv: "PARITY_SPRITES_TOKEN", superloopBin: stub.bin });
});
afterAll(async () => {
  await server?.close();
  await agent?.close();
  await api?.close();
});

const syncAll = () => Promise.all(KINDS.map((k) => server.app.ingestor.syncRun(runIds[k])));

async function snapshot(k: Kind) {
  const db = server.app.db;
  const run = await db.run.findUniqueOrThrow({ where: { id: runIds[k] }, include: { intents: true } });
  const events = await db.event.findMany({ where: { runId: runIds[k] }, orderBy: { line: "asc" } });
  const transitions = await db.lifecycleTransition.findMany({ where: { runId: runIds[k] }, orderBy: { seq: "asc" } });
  const repo = repos[k];
  return JSON.parse(
    JSON.stringify({
      run: {
        state: run.state,
        stateReason: run.stateReason,
        runtimeRunId: run.runtimeRunId,
        iteration: run.iteration,
        health: run.health,
        ingestStatus: run.ingestStatus,
        cursor: [run.cursorLine, String(run.cursorByteOffset), run.cursorLineHash],
        approval: run.approval,
        needsIntervention: run.needsIntervention,
      },
      events: events.map(({ id: _id, runId: _r, ingestedAt: _i, ...e }) => e),
      transitions: transitions.map((t) => [t.from, t.to, t.reason, t.trigger]),
      intents: run.intents.map((i) => ({
        kind: i.kind,
        stage: i.stage,
        records: (i.evidence as { stage: string; observation: string }[]).map((r) => [r.stage, r.observation]),
      })),
    }).replaceAll(repo, "<repo>"),
  );
}

describe("one scenario through the three transports", () => {
  it("stores the same events, states and intents", async () => {
    await syncAll();
    const first = await Promise.all(KINDS.map(snapshot));
    expect(first[0].run).toMatchObject({ state: "AWAITING_APPROVAL", ingestStatus: "OK" });
    expect(first[1]).toEqual(first[0]);
    expect(first[2]).toEqual(first[0]);

    // An approve dispatched through each transport: the same command, the same result.
    const results = {} as Record<Kind, ControlResult>;
    for (const k of KINDS) {
      results[k] = await transports[k].control(
        { runId: runIds[k], spriteName: k, repoPath: repos[k], loopId: "demo-loop" },
        { intent: "approve", by: "operator", note: "looks good", idempotencyKey: `k-${k}`, traceId: `t-${k}` },
      );
      const now = new Date();
      await server.app.db.controlIntent.create({
        data: {
          runId: runIds[k],
          kind: "APPROVE",
          stage: "DISPATCHED",
          idempotencyKey: randomUUID(),
          requestedBy: "operator",
          traceId: `t-${k}`,
          deadlineAt: new Date(now.getTime() + 600_000),
          requestedAt: now,
          dispatchedAt: now,
          evidence: [{ stage: "DISPATCHED", at: now.toISOString(), observation: "command sent", evidence: { result: JSON.parse(JSON.stringify(results[k])) } }],
        },
      });
    }
    const norm = (k: Kind) => JSON.parse(JSON.stringify({ ...results[k], pid: undefined }).replaceAll(repos[k], "<repo>"));
    expect(norm("SPRITE_SERVICE")).toEqual(norm("LOCAL"));
    expect(norm("SPRITES_API")).toEqual(norm("LOCAL"));

    // The runtime's answer lands a few lines at a time; every step stores and projects the same everywhere.
    const before = readFileSync(path.join(FIXTURES, "approval/.superloop/loops/demo-loop/events.jsonl"), "utf8").split("\n").filter(Boolean).length;
    const tail = readFileSync(path.join(FIXTURES, "approved-complete/.superloop/loops/demo-loop/events.jsonl"), "utf8").split("\n").filter(Boolean).slice(before);
    expect(tail.length).toBeGreaterThan(2);
    for (let i = 0; i < tail.length; i += 2) {
      for (const k of KINDS)
        appendFileSync(
          eventsPath(repos[k]),
          tail
            .slice(i, i + 2)
            .map((l) => l + "\n")
            .join(""),
        );
      await syncAll();
      const step = await Promise.all(KINDS.map(snapshot));
      expect(step[1]).toEqual(step[0]);
      expect(step[2]).toEqual(step[0]);
    }
    for (const k of KINDS) {
      for (const f of ["state.json", "loops/demo-loop/run-summary.json"]) {
        copyFileSync(path.join(FIXTURES, "approved-complete/.superloop", f), path.join(repos[k], ".superloop", f));
      }
      rmSync(path.join(repos[k], ".superloop/loops/demo-loop/approval.json"));
    }
    await syncAll();
    const last = await Promise.all(KINDS.map(snapshot));
    expect(last[0].run).toMatchObject({ state: "COMPLETE", stateReason: "completed" });
    expect(last[0].intents).toHaveLength(1);
    expect(last[0].intents[0].stage).toBe("CONFIRMED");
    expect(last[1]).toEqual(last[0]);
    expect(last[2]).toEqual(last[0]);
  });
});
