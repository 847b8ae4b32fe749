import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACCEPTED_AGENT_PROTOCOLS, AGENT_PROTOCOL, agentIncompatibility } from "../../src/contract";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { fileLines, repoFromRecording } from "../support/fixtures";
import { waitFor } from "../support/runs";
import { startTestServer } from "../support/server";
import { TOKENS, OPS_TOKENS } from "../control/helpers";

// Issue 18: the in-Sprite agent reports its protocol version in /healthz; the manager reads nothing from, and
// sends no control to, an agent whose protocol it does not accept, and says so with the agent_incompatible health
// reason naming the versions it accepts.

const ROOT = path.resolve(import.meta.dirname, "../..");
let server: RunningServer;
let agent: ChildProcess;
let agentUrl: string;
const foreignRequests: string[] = [];
let foreign: http.Server;

beforeAll(async () => {
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "100", OPS_TOKENS });
  // A real agent process (the same entry point a Sprite runs), on loopback without a token.
  agent = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "agent/cli.ts"), "serve", "--repo", repoFromRecording("complete"), "--port", "0"], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: agent.stdout! }).once("line", resolve);
    agent.once("exit", (code) => reject(new Error(`agent exited ${code}`)));
  });
  agentUrl = `http://127.0.0.1:${(JSON.parse(first) as { port: number }).port}`;
  // An agent from the future: it answers /healthz with a protocol this manager does not speak.
  foreign = http.createServer((req, res) => {
    if (req.url === "/healthz") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ok: true, service: "superloop-ops-agent", agentProtocol: 99, agentVersion: "9.1.0" }));
      return;
    }
    foreignRequests.push(`${req.method} ${req.url}`);
    res.writeHead(500).end();
  });
  await new Promise<void>((r) => foreign.listen(0, "127.0.0.1", r));
}, 60_000);

afterAll(async () => {
  agent?.kill("SIGTERM");
  await new Promise((r) => foreign?.close(r));
  await server?.close();
});

async function registerService(name: string, url: string): Promise<string> {
  const r = await gql(
    server.url,
    `mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { __typename ... on RegisterSpritePayload { run { id } } ... on Error { message } } }`,
    { i: { name, transport: "SPRITE_SERVICE", repoPath: "/srv/repo", loopId: "demo-loop", agentUrl: url } },
    TOKENS.admin,
  );
  const p = (r.data as { registerSprite: { __typename: string; run?: { id: string }; message?: string } }).registerSprite;
  if (!p.run) throw new Error(`register failed: ${JSON.stringify(r)}`);
  return p.run.id;
}

const RUN = `query($id: ID!) { run(id: $id) { ... on Run { state ingest { cursorLine } health { status reasons { code severity message } } } } }`;
type RunView = { state: string; ingest: { cursorLine: number }; health: { status: string; reasons: { code: string; severity: string; message: string }[] } };
const runOf = async (id: string) => ((await gql(server.url, RUN, { id }, TOKENS.viewer)).data as { run: RunView }).run;

describe("agent/manager protocol compatibility", () => {
  it("pure: the protocols accepted, a missing version (agents before versioning) is protocol 1, others are refused by name", () => {
    expect(ACCEPTED_AGENT_PROTOCOLS).toContain(AGENT_PROTOCOL);
    expect(agentIncompatibility({ ok: true })).toBeNull();
    expect(agentIncompatibility({ ok: true, agentProtocol: AGENT_PROTOCOL })).toBeNull();
    expect(agentIncompatibility({ ok: true, agentProtocol: 2, agentVersion: "0.2.0" })).toMatch(/protocol 2 \(agent version 0\.2\.0\); this manager accepts protocol 1/);
    // Peer text that is not a plain version is withheld.
    expect(agentIncompatibility({ ok: true, agentProtocol: 0, agentVersion: "<script>alert(1)</script>" })).toMatch(/agent version unknown/);
  });

  it("a real agent process reports its protocol and is read as usual", async () => {
    const health = (await (await fetch(`${agentUrl}/healthz`)).json()) as Record<string, unknown>;
    expect(health).toMatchObject({ ok: true, agentProtocol: AGENT_PROTOCOL, agentVersion: expect.any(String) });
    const id = await registerService("agent-ok", agentUrl);
    const total = fileLines(repoFromRecording("complete")).length;
    const run = await waitFor(
      () => runOf(id),
      (r) => r.ingest.cursorLine === total,
      20_000,
      "the real agent's events ingested",
    );
    expect(run.health.reasons.map((r) => r.code)).not.toContain("agent_incompatible");
  });

  it("an agent claiming an incompatible protocol: agent_incompatible (critical, naming what is accepted), nothing read, control refused", async () => {
    const id = await registerService("agent-future", `http://127.0.0.1:${(foreign.address() as AddressInfo).port}`);
    const run = await waitFor(
      () => runOf(id),
      (r) => r.health.reasons.some((x) => x.code === "agent_incompatible"),
      20_000,
      "agent_incompatible",
    );
    const reason = run.health.reasons.find((x) => x.code === "agent_incompatible")!;
    expect(run.health.status).toBe("CRITICAL");
    expect(reason.severity).toBe("critical");
    expect(reason.message).toMatch(/agent speaks protocol 99 \(agent version 9\.1\.0\); this manager accepts protocol 1/);
    expect(run.ingest.cursorLine).toBe(0);
    // It is in the operators' queue, with what to do about it.
    const iv = await gql(server.url, `{ interventions { run { sprite { name } } reasons { code message } suggestedActions } }`, {}, TOKENS.viewer);
    const mine = (iv.data as { interventions: { run: { sprite: { name: string } }; reasons: { code: string; message: string }[]; suggestedActions: string[] }[] }).interventions.find(
      (i) => i.run.sprite.name === "agent-future",
    );
    expect(mine?.reasons.map((r) => r.code)).toContain("agent_incompatible");
    expect(mine?.suggestedActions).toContain("INSPECT");
    // A control intent never reaches it: the dispatch fails with the same reason.
    const r = await gql(
      server.url,
      `mutation($id: ID!) { r: requestControl(input: { runId: $id, intent: START }) { __typename ... on ControlIntent { id } ... on Error { message } } }`,
      { id },
      TOKENS.op,
    );
    const intentId = (r.data as { r: { __typename: string; id: string } }).r.id;
    expect((r.data as { r: { __typename: string } }).r.__typename, JSON.stringify(r)).toBe("ControlIntent");
    const intent = await waitFor(
      async () =>
        (
          (await gql(server.url, `query($id: ID!) { node(id: $id) { ... on ControlIntent { stage error stages { stage observation evidence } } } }`, { id: intentId }, TOKENS.viewer)).data as {
            node: { stage: string; error: string | null; stages: unknown[] };
          }
        ).node,
      (i) => i.stage === "FAILED",
      20_000,
      "the START to fail",
    );
    expect(intent.error).toBe("dispatch_failed");
    expect(JSON.stringify(intent.stages)).toMatch(/agent speaks protocol 99/);
    expect(foreignRequests).toEqual([]);
  });
});
