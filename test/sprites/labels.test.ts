import { mkdirSync, mkdtempSync, realpathSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Api } from "../../cli/api";
import { parseSelector, selectRuns } from "../../cli/selection";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { startFakeSpritesApi, type FakeSpritesApi } from "../support/fake-sprites-api";
import { startTestServer } from "../support/server";

// Sprite labels come from GET /v1/sprites/{name} (issue 11): they reach Sprite.labels, follow changes made in
// the Sprites API, and select runs with opsctl's --label.

let server: RunningServer;
let api: FakeSpritesApi;

beforeAll(async () => {
  api = await startFakeSpritesApi();
  process.env.TEST_LABELS_SPRITES_TOKEN = api.token;
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "150", SPRITES_API_URL: api.url });
}, 60_000);
afterAll(async () => {
  await server?.close();
  await api?.close();
});

async function register(name: string, labels: string[]): Promise<string> {
  const sprite = api.create(name, { labels });
  const repo = realpathSync(mkdtempSync(path.join(sprite.dir, "repo-")));
  mkdirSync(path.join(repo, ".superloop"), { recursive: true });
  const r = await gql(server.url, `mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { ... on RegisterSpritePayload { run { id } } ... on Error { message } } }`, {
    i: { name, transport: "SPRITES_API", repoPath: repo, loopId: "demo-loop", spritesApiTokenEnv: "TEST_LABELS_SPRITES_TOKEN" },
  });
  const id = r.data?.registerSprite?.run?.id as string | undefined;
  if (!id) throw new Error(`register failed: ${JSON.stringify(r)}`);
  return id;
}

async function labelsOf(name: string): Promise<string[]> {
  const r = await gql(server.url, `query($n: String!) { sprite(name: $n) { ... on Sprite { labels } } }`, { n: name });
  return (r.data?.sprite?.labels as string[] | undefined) ?? [];
}

async function waitLabels(name: string, want: string[]): Promise<void> {
  const deadline = Date.now() + 20_000;
  let got: string[] = [];
  while (Date.now() < deadline) {
    got = await labelsOf(name);
    if (JSON.stringify(got) === JSON.stringify(want)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`labels of ${name}: ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

describe("labels from the Sprites API", () => {
  it("reach Sprite.labels, follow changes, and select runs with --label", async () => {
    const infra = await register("lbl-infra", ["team=infra", "gpu"]);
    const web = await register("lbl-web", ["team=web"]);
    await waitLabels("lbl-infra", ["team=infra", "gpu"]);
    await waitLabels("lbl-web", ["team=web"]);

    const cli = new Api(server.url, undefined);
    const pick = async (...label: string[]) => (await selectRuns(cli, parseSelector({ label }))).map((r) => r.id).sort();
    expect(await pick("team=infra")).toEqual([infra]);
    expect(await pick("gpu")).toEqual([infra]);
    expect(await pick("team=web")).toEqual([web]);
    expect(await pick("team=infra", "gpu")).toEqual([infra]);
    expect(await pick("team=nobody")).toEqual([]);

    // relabelled in the Sprites API: the next status poll carries it over, and the selectors follow
    api.sprites.get("lbl-web")!.labels = ["team=infra", "tier=canary"];
    await waitLabels("lbl-web", ["team=infra", "tier=canary"]);
    expect(await pick("team=infra")).toEqual([infra, web].sort());
    expect(await pick("tier=canary")).toEqual([web]);
  });
});
