import { mkdirSync, mkdtempSync, realpathSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { httpRequest } from "../../src/transports/http";
import { execQuery } from "../../src/transports/sprites-exec";
import { gql } from "../support/clients";
import { startFakeSpritesApi, type FakeSpritesApi } from "../support/fake-sprites-api";
import { startTestServer } from "../support/server";

// Truth across sleep and what observing costs (docs/sprites.md), end to end: the manager STARTs a loop over
// SPRITES_API (supervised), the fake's Sprite goes cold under it, and the run must leave RUNNING for
// FAILED/sprite_slept within 40 s without the manager waking the Sprite to find out. A run that completes lets
// its Sprite go warm: after it ended the fake sees nothing from the manager but status reads.

const SIM = path.resolve(import.meta.dirname, "../../bin/superloop-sim.mjs");
const IDLE_MS = 1500;

function simRepo(iterations: number): string {
  const repo = realpathSync(mkdtempSync(path.join(tmpdir(), "sleep-repo-")));
  mkdirSync(path.join(repo, ".superloop"), { recursive: true });
  writeFileSync(
    path.join(repo, ".superloop", "config.json"),
    JSON.stringify({ loops: [{ id: "demo-loop", max_iterations: iterations + 1, simulator: { step_ms: 150, pass_on_iteration: iterations, invocations: ["pass"] } }] }),
  );
  return repo;
}

let server: RunningServer;
let api: FakeSpritesApi;

beforeAll(async () => {
  api = await startFakeSpritesApi({ idleMs: IDLE_MS, coldAfterMs: 120_000 });
  process.env.TEST_SLEEP_SPRITES_TOKEN = api.token;
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "400", SPRITES_API_URL: api.url, SUPERLOOP_BIN: SIM });
}, 60_000);
afterAll(async () => {
  await server?.close();
  await api?.close();
});

async function register(name: string, repo: string): Promise<string> {
  const r = await gql(server.url, `mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { ... on RegisterSpritePayload { run { id } } ... on Error { message } } }`, {
    i: { name, transport: "SPRITES_API", repoPath: repo, loopId: "demo-loop", spritesApiTokenEnv: "TEST_SLEEP_SPRITES_TOKEN", requestTimeoutMs: 10_000 },
  });
  const id = r.data?.registerSprite?.run?.id as string | undefined;
  if (!id) throw new Error(`register failed: ${JSON.stringify(r)}`);
  return id;
}

interface RunView {
  state: string;
  stateReason: string | null;
  sprite: { status: string; awakeByManagerSeconds: number };
}
async function runOf(id: string): Promise<RunView> {
  const r = await gql(server.url, `query($id: ID!) { node(id: $id) { ... on Run { state stateReason sprite { status awakeByManagerSeconds } } } }`, { id });
  return r.data!.node as RunView;
}
async function waitRun(id: string, what: string, pred: (r: RunView) => boolean, timeoutMs = 30_000): Promise<RunView> {
  const deadline = Date.now() + timeoutMs;
  let last: RunView | null = null;
  for (;;) {
    last = await runOf(id);
    if (pred(last)) return last;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
async function start(id: string): Promise<void> {
  const r = await gql(server.url, `mutation($id: ID!) { startRun(runId: $id) { __typename ... on Error { message } } }`, { id });
  expect(r.data?.startRun?.__typename, JSON.stringify(r)).toBe("ControlIntent");
}
const wakingRequests = (name: string, since: number) => api.requests.filter((q) => q.at >= since && q.path.startsWith(`/v1/sprites/${name}/`)).map((q) => `${q.method} ${q.path} ${q.cmds.join(" ")}`);

describe("a run whose Sprite goes cold", () => {
  it("leaves RUNNING for FAILED/sprite_slept within 40 s, without a request that wakes the Sprite; the new boot id confirms it once awake", async () => {
    const repo = simRepo(200); // far longer than the test
    const sprite = api.create("sleep-1", { dir: repo });
    const id = await register("sleep-1", repo);
    await start(id);
    await waitRun(id, "RUNNING/running", (r) => r.state === "RUNNING" && r.stateReason === "running");
    const bootBefore = sprite.bootId;
    const coldAt = Date.now();
    api.goCold("sleep-1");
    const failed = await waitRun(id, "FAILED/sprite_slept", (r) => r.state === "FAILED", 40_000);
    expect(failed).toMatchObject({ state: "FAILED", stateReason: "sprite_slept", sprite: { status: "COLD" } });
    expect(Date.now() - coldAt).toBeLessThan(40_000);
    // Observed through GET /v1/sprites/{name} only: the Sprite is still cold.
    expect(wakingRequests("sleep-1", coldAt)).toEqual([]);
    expect(sprite.status).toBe("cold");
    expect(sprite.bootId).not.toBe(bootBefore);

    // Someone else wakes the Sprite: the manager reads it once, and the boot id confirms what happened.
    await httpRequest({
      url: new URL(`${api.url}/v1/sprites/sleep-1/exec?${execQuery(["true"])}`),
      method: "POST",
      body: "",
      headers: { authorization: `Bearer ${api.token}` },
      connectTimeoutMs: 2000,
      totalTimeoutMs: 5000,
    });
    const wokeAt = Date.now();
    await waitRun(id, "the Sprite seen awake", (r) => r.sprite.status === "RUNNING");
    await new Promise((r) => setTimeout(r, 1500)); // a few polls, with reads this time
    expect(wakingRequests("sleep-1", wokeAt).length).toBeGreaterThan(0);
    expect(await runOf(id)).toMatchObject({ state: "FAILED", stateReason: "sprite_slept" });
  }, 90_000);
});

describe("cost-aware polling", () => {
  it("once the run is complete the manager only reads the Sprite's status, and the Sprite goes warm", async () => {
    const repo = simRepo(1);
    const sprite = api.create("cost-1", { dir: repo });
    const id = await register("cost-1", repo);
    await start(id);
    const done = await waitRun(id, "COMPLETE", (r) => r.state === "COMPLETE", 40_000);
    expect(done.sprite.awakeByManagerSeconds).toBeGreaterThan(0);
    const endedAt = Date.now();
    await new Promise((r) => setTimeout(r, 200)); // let a poll that was already reading finish
    const quietFrom = Date.now();
    const warm = Date.now();
    while (sprite.status !== "warm") {
      if (Date.now() - warm > 15_000) throw new Error("the Sprite never went warm after its run ended");
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1200)); // several more polls while it is warm
    expect(wakingRequests("cost-1", quietFrom)).toEqual([]);
    const statusPolls = api.requests.filter((q) => q.at >= endedAt && q.method === "GET" && q.path === "/v1/sprites/cost-1");
    expect(statusPolls.length).toBeGreaterThan(2);
    expect(sprite.status).toBe("warm");
    expect(await runOf(id)).toMatchObject({ state: "COMPLETE", sprite: { status: "WARM" } });
  }, 90_000);
});
