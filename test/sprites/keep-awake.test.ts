import { cpSync, mkdirSync, realpathSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentServer, type AgentServer } from "../../agent";
import type { RunningServer } from "../../src/server";
import { collect, gql, wsClient } from "../support/clients";
import { spawnFakeRun } from "../support/fake-run";
import { startFakeSpritesApi, type FakeSpritesApi } from "../support/fake-sprites-api";
import { repoFromRecording } from "../support/fixtures";
import { startTestServer } from "../support/server";
import { startFaultProxy, type FaultProxy } from "./support/fault-proxy";

// Issue 11, cost-aware polling: the manager keeps a Sprite awake only while its run is live or an operator
// watches the run's event feed (a runEvents subscription), and never otherwise.
// - SPRITES_API, against the fake's lifecycle: a complete run's Sprite stays running while a graphql-ws
//   subscription watches it, and goes warm once the subscription ends.
// - SPRITE_SERVICE: the agent long poll (an open connection to the Sprite, so activity) and even the status
//   request stop for a run that is not live and not watched; a live run, or a watched one, is long-polled.

const IDLE_MS = 3000;
const EVENTS = `subscription($id: ID!) { runEvents(runId: $id, after: "HEAD") { ... on RunEventsBatch { cursor } } }`;

let server: RunningServer;
let api: FakeSpritesApi;

beforeAll(async () => {
  api = await startFakeSpritesApi({ idleMs: IDLE_MS, coldAfterMs: 600_000 });
  process.env.TEST_AWAKE_SPRITES_TOKEN = api.token;
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "250", SPRITES_API_URL: api.url });
}, 60_000);
afterAll(async () => {
  await server?.close();
  await api?.close();
});

async function register(input: Record<string, unknown>): Promise<string> {
  const r = await gql(server.url, `mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { ... on RegisterSpritePayload { run { id } } ... on Error { message } } }`, {
    i: { loopId: "demo-loop", ...input },
  });
  const id = r.data?.registerSprite?.run?.id as string | undefined;
  if (!id) throw new Error(`register failed: ${JSON.stringify(r)}`);
  return id;
}

async function stateOf(id: string): Promise<string> {
  const r = await gql(server.url, `query($id: ID!) { node(id: $id) { ... on Run { state } } }`, { id });
  return r.data!.node.state as string;
}

async function until(what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const rawId = (id: string) => Buffer.from(id, "base64").toString().split(":").slice(1).join(":");

describe("SPRITES_API: a watched run's Sprite is kept awake, and only then", () => {
  it("a complete run's Sprite stays running through several idle periods while a subscription watches, and goes warm after it ends", async () => {
    const sprite = api.create("awake-1");
    const repo = realpathSync(path.join(sprite.dir));
    cpSync(path.join(repoFromRecording("complete"), ".superloop"), path.join(repo, ".superloop"), { recursive: true });
    const id = await register({ name: "awake-1", transport: "SPRITES_API", repoPath: repo, spritesApiTokenEnv: "TEST_AWAKE_SPRITES_TOKEN" });
    await until("COMPLETE", async () => (await stateOf(id)) === "COMPLETE");

    // unwatched and complete: the manager lets it go warm
    await until("warm while unwatched", () => sprite.status === "warm", IDLE_MS * 6);
    // an operator wakes it (an fs read, as a shell would) and starts watching the run's feed
    await fetch(`${api.url}/v1/sprites/awake-1/fs/read?path=${encodeURIComponent(path.join(repo, ".superloop", "state.json"))}&workingDir=${encodeURIComponent(repo)}`, {
      headers: { authorization: `Bearer ${api.token}` },
    });
    expect(sprite.status).toBe("running");
    const client = wsClient(server.url);
    try {
      const sub = collect(client, EVENTS, { id });
      await until("the watcher registered", () => server.app.watchers.isWatched(rawId(id)));
      const watchedFrom = Date.now();
      await new Promise((r) => setTimeout(r, IDLE_MS * 3));
      // running all along, kept so by the manager's own reads (exec/fs), not by the status reads
      expect(sprite.transitions.filter((t) => t.at >= watchedFrom)).toEqual([]);
      expect(sprite.status).toBe("running");
      expect(api.requests.filter((q) => q.at >= watchedFrom && q.path.startsWith("/v1/sprites/awake-1/")).length).toBeGreaterThan(4);
      expect(sub.error).toBeNull();
      sub.dispose();
      await until("the watcher released", () => !server.app.watchers.isWatched(rawId(id)));
    } finally {
      await client.dispose();
    }
    const releasedAt = Date.now();
    await until("warm again after the subscription ended", () => sprite.status === "warm", IDLE_MS * 6);
    // nothing but status reads after the feed was closed (plus at most one read already under way)
    const after = api.requests.filter((q) => q.at >= releasedAt + 500 && q.path.startsWith("/v1/sprites/awake-1/"));
    expect(after).toEqual([]);
  });
});

describe("SPRITE_SERVICE: the long poll and the status requests only for a live or watched run", () => {
  const agents: AgentServer[] = [];
  const proxies: FaultProxy[] = [];
  afterAll(async () => {
    for (const p of proxies) await p.close();
    for (const a of agents) await a.close();
  });

  async function agentFor(repo: string): Promise<FaultProxy> {
    const agent = createAgentServer({ repoPath: repo, token: null, port: 0 });
    agents.push(agent);
    const { port } = await agent.listen();
    const proxy = await startFaultProxy(`http://127.0.0.1:${port}`);
    proxies.push(proxy);
    return proxy;
  }
  const longPolls = (p: FaultProxy, from: number) => p.seen.slice(from).filter((s) => s.path.startsWith("/ops/events") && s.path.includes("waitMs=")).length;

  it("complete: silence (no long poll, no /healthz) until someone watches; watched: long-polled; released: silence again", async () => {
    const proxy = await agentFor(repoFromRecording("complete"));
    const id = await register({ name: "svc-awake-complete", transport: "SPRITE_SERVICE", agentUrl: proxy.url, repoPath: "/home/sprite/repo" });
    await until("COMPLETE", async () => (await stateOf(id)) === "COMPLETE");
    // a long poll opened while the run was still live (first poll) may still be in flight: let the loop settle
    await new Promise((r) => setTimeout(r, 1000));
    const quietFrom = proxy.seen.length;
    await new Promise((r) => setTimeout(r, 2000));
    expect(proxy.seen.slice(quietFrom)).toEqual([]);

    const client = wsClient(server.url);
    try {
      const sub = collect(client, EVENTS, { id });
      await until("long polls while watched", () => longPolls(proxy, quietFrom) > 0, 10_000);
      await until("status reads while watched", () => proxy.seen.slice(quietFrom).some((s) => s.path.startsWith("/healthz")), 10_000);
      sub.dispose();
      await until("the watcher released", () => !server.app.watchers.isWatched(rawId(id)));
    } finally {
      await client.dispose();
    }
    await new Promise((r) => setTimeout(r, 500));
    const releasedFrom = proxy.seen.length;
    await new Promise((r) => setTimeout(r, 2000));
    expect(proxy.seen.slice(releasedFrom)).toEqual([]);
  });

  it("a live run is long-polled without anyone watching", async () => {
    const repo = realpathSync(repoFromRecording("complete"));
    const run = await spawnFakeRun(repo);
    try {
      const dir = path.join(repo, ".superloop");
      mkdirSync(path.join(dir, "loops", "demo-loop"), { recursive: true });
      writeFileSync(
        path.join(dir, "loops", "demo-loop", "events.jsonl"),
        `${JSON.stringify({ timestamp: new Date().toISOString(), event: "loop_start", loop_id: "demo-loop", run_id: "r1", iteration: 1 })}\n`,
      );
      writeFileSync(path.join(dir, "state.json"), JSON.stringify({ active: true, loop_index: 0, iteration: 1, current_loop_id: "demo-loop", updated_at: new Date().toISOString() }));
      writeFileSync(path.join(dir, "active-run.json"), JSON.stringify({ repo, pid: run.pid, pgid: run.pid, loop_id: "demo-loop", iteration: 1, stage: "loop_start" }));
      const proxy = await agentFor(repo);
      const id = await register({ name: "svc-awake-live", transport: "SPRITE_SERVICE", agentUrl: proxy.url, repoPath: repo });
      await until("RUNNING", async () => (await stateOf(id)) === "RUNNING");
      const from = proxy.seen.length;
      await until("long polls while live", () => longPolls(proxy, from) > 0, 40_000);
      expect(server.app.watchers.isWatched(rawId(id))).toBe(false);
    } finally {
      run.kill();
    }
  });
});
