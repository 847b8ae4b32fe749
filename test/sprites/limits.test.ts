import { mkdirSync, mkdtempSync, realpathSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import type { HttpResponse } from "../../src/transports/http";
import { spriteLimitOf } from "../../src/transports/sprite-limits";
import { gql } from "../support/clients";
import { startFakeSpritesApi, type FakeSpritesApi } from "../support/fake-sprites-api";
import { startTestServer } from "../support/server";

// Issue 11: a START the Sprites API refuses because the organisation's running or warm Sprite limit is reached
// ends FAILED with a named cause (sprite_limit_exceeded) and the limit's code and numbers in words, not a
// generic http_error after retries; the fake refuses exactly when waking the Sprite would exceed a limit.

const SIM = path.resolve(import.meta.dirname, "../../bin/superloop-sim.mjs");

const answer = (status: number, body: unknown, headers: Record<string, string> = {}): HttpResponse => ({
  status,
  headers,
  body: Buffer.from(typeof body === "string" ? body : JSON.stringify(body)),
  chunks: [],
});

describe("spriteLimitOf reads a 429 as the official SDK does", () => {
  it.each([
    [
      "the SDK's concurrent limit",
      answer(429, { error: "concurrent_sprite_limit_exceeded", message: "Too many concurrent sprites", current_count: 5, limit: 5 }),
      { code: "concurrent_sprite_limit_exceeded", what: "running Sprites", limit: 5, current: 5, retryAfterSeconds: null },
    ],
    [
      "warm, Retry-After only",
      answer(429, { error: "warm_sprite_limit_exceeded" }, { "retry-after": "12" }),
      { code: "warm_sprite_limit_exceeded", what: "warm Sprites", limit: null, current: null, retryAfterSeconds: 12 },
    ],
    [
      "the body's retry_after_seconds first",
      answer(429, { error: "sprite_creation_rate_limited", limit: 10, window_seconds: 60, retry_after_seconds: 30 }, { "retry-after": "5" }),
      { code: "sprite_creation_rate_limited", what: "Sprite creations", limit: 10, current: null, retryAfterSeconds: 30 },
    ],
    ["an unknown *_limit_exceeded", answer(429, { error: "gpu_limit_exceeded", limit: 1 }), { code: "gpu_limit_exceeded", what: "gpu", limit: 1, current: null, retryAfterSeconds: null }],
  ])("%s", (_name, res, want) => expect(spriteLimitOf(res)).toEqual(want));

  it.each([
    ["a plain rate limit (retried as usual)", answer(429, { error: "rate_limited", message: "Too many requests", retry_after_seconds: 1 })],
    ["not a 429", answer(503, { error: "concurrent_sprite_limit_exceeded" })],
    ["not JSON", answer(429, "<html>slow down</html>")],
    ["a code that is not an identifier", answer(429, { error: "x_limit_exceeded\nforged line" })],
    ["numbers that are not counts", answer(429, { error: "concurrent_sprite_limit_exceeded", limit: "five", current_count: -1 })],
  ])("%s", (name, res) => {
    const got = spriteLimitOf(res);
    if (name.startsWith("numbers")) expect(got).toMatchObject({ limit: null, current: null });
    else expect(got).toBeNull();
  });
});

let server: RunningServer;
let api: FakeSpritesApi;

beforeAll(async () => {
  api = await startFakeSpritesApi({ idleMs: 60_000 });
  process.env.TEST_LIMITS_SPRITES_TOKEN = api.token;
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "300", SPRITES_API_URL: api.url, SUPERLOOP_BIN: SIM });
}, 60_000);
afterAll(async () => {
  await server?.close();
  await api?.close();
});

async function register(name: string): Promise<string> {
  const sprite = api.create(name);
  const repo = realpathSync(mkdtempSync(path.join(sprite.dir, "repo-")));
  mkdirSync(path.join(repo, ".superloop"), { recursive: true });
  writeFileSync(
    path.join(repo, ".superloop", "config.json"),
    JSON.stringify({ loops: [{ id: "demo-loop", max_iterations: 2, simulator: { step_ms: 50, pass_on_iteration: 1, invocations: ["pass"] } }] }),
  );
  const r = await gql(server.url, `mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { ... on RegisterSpritePayload { run { id } } ... on Error { message } } }`, {
    i: { name, transport: "SPRITES_API", repoPath: repo, loopId: "demo-loop", spritesApiTokenEnv: "TEST_LIMITS_SPRITES_TOKEN", requestTimeoutMs: 10_000 },
  });
  const id = r.data?.registerSprite?.run?.id as string | undefined;
  if (!id) throw new Error(`register failed: ${JSON.stringify(r)}`);
  return id;
}

interface IntentView {
  stage: string;
  terminal: boolean;
  error: string | null;
  stages: { stage: string; observation: string; evidence: { limit?: Record<string, unknown> } }[];
}
async function startAndSettle(runId: string): Promise<IntentView> {
  const r = await gql(server.url, `mutation($id: ID!) { startRun(runId: $id) { __typename ... on ControlIntent { id } ... on Error { message } } }`, { id: runId });
  const intentId = r.data?.startRun?.id as string | undefined;
  if (!intentId) throw new Error(`start refused: ${JSON.stringify(r)}`);
  const deadline = Date.now() + 30_000;
  for (;;) {
    const q = await gql(server.url, `query($id: ID!) { node(id: $id) { ... on ControlIntent { stage terminal error stages { stage observation evidence } } } }`, { id: intentId });
    const intent = q.data?.node as IntentView;
    if (intent.terminal || (intent.stage !== "REQUESTED" && intent.stage !== "DISPATCHED")) return intent;
    if (Date.now() > deadline) throw new Error(`intent did not settle: ${JSON.stringify(intent)}`);
    await new Promise((res) => setTimeout(res, 100));
  }
}

describe("org limits refuse a START, by name", () => {
  it("running limit: FAILED/sprite_limit_exceeded naming concurrent_sprite_limit_exceeded, the Sprite not woken; a warm limit likewise; once lifted the START goes through", async () => {
    await register("lim-busy"); // running
    const cold = await register("lim-cold");
    api.hibernate("lim-cold", 50);

    api.limits = { running: 1, warm: null, retryAfterSeconds: 30 };
    const running = await startAndSettle(cold);
    expect(running).toMatchObject({ stage: "FAILED", error: "sprite_limit_exceeded" });
    const failed = running.stages.find((s) => s.stage === "FAILED")!;
    expect(failed.observation).toMatch(/organisation's limit on running Sprites is reached \(concurrent_sprite_limit_exceeded; limit 1, 1 now, retry after 30 s\)/);
    expect(failed.evidence.limit).toMatchObject({ limit: "concurrent_sprite_limit_exceeded", limitValue: 1, current: 1, retryAfterSeconds: 30 });
    expect(api.sprites.get("lim-cold")!.status).toBe("cold");
    expect(api.sprites.get("lim-cold")!.transitions.some((t) => t.to === "running")).toBe(false);

    api.limits = { running: null, warm: 1, retryAfterSeconds: 7 };
    const warm = await startAndSettle(cold);
    expect(warm).toMatchObject({ stage: "FAILED", error: "sprite_limit_exceeded" });
    expect(warm.stages.find((s) => s.stage === "FAILED")!.observation).toMatch(/limit on warm Sprites is reached \(warm_sprite_limit_exceeded; limit 1, 1 now, retry after 7 s\)/);
    expect(api.sprites.get("lim-cold")!.status).toBe("cold");

    api.limits = { running: null, warm: null, retryAfterSeconds: 30 };
    const ok = await startAndSettle(cold);
    expect(ok.error).toBeNull();
    expect(["ACCEPTED", "CONFIRMED"]).toContain(ok.stage);
  });
});
