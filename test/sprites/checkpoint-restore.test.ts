import { appendFileSync, cpSync, readFileSync, truncateSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { restoreSince } from "../../src/transports/sprite-checkpoints";
import { gql } from "../support/clients";
import { startFakeSpritesApi, type FakeSpritesApi } from "../support/fake-sprites-api";
import { eventsPath, repoFromRecording } from "../support/fixtures";
import { startTestServer } from "../support/server";

// Issue 11: a checkpoint restore rewinds the Sprite's files, so the event log the manager ingested is suddenly
// shorter or different: a fork, still fail-closed, but recognised as such: ingest.forkReason checkpoint_restored
// and the checkpoint named in the error, from the Sprites API's checkpoint listing. A rewrite without a restore
// (or after a checkpoint was only taken) stays an unexplained fork (log_changed).

describe("restoreSince reads the checkpoint listing", () => {
  const since = new Date("2026-11-24T10:00:00Z");
  const v0 = { id: "v0", create_time: "2026-11-24T09:00:00Z" };
  const v1 = { id: "v1", create_time: "2026-11-24T10:30:00Z", source_id: "v0" };
  it.each([
    ["a restore of v0 after `since`", [{ id: "Current", create_time: "2026-11-24T10:05:00Z", source_id: "v0" }, v0], { checkpointId: "v0", restoredAt: "2026-11-24T10:05:00.000Z" }],
    ["a restore before `since`", [{ id: "Current", create_time: "2026-11-24T09:30:00Z", source_id: "v0" }, v0], null],
    ["a checkpoint taken (same moment as Current)", [{ id: "Current", create_time: v1.create_time, source_id: "v1" }, v1, v0], null],
    ["no Current entry", [v1, v0], null],
    ["a source the listing does not have", [{ id: "Current", create_time: "2026-11-24T10:05:00Z", source_id: "v9" }, v0], null],
    ["not a list", { checkpoints: [] }, null],
    [
      "a hostile id",
      [
        { id: "Current", create_time: "2026-11-24T10:05:00Z", source_id: "v0\nforged" },
        { id: "v0\nforged", create_time: v0.create_time },
      ],
      null,
    ],
  ])("%s", (_name, listing, want) => expect(restoreSince(listing, since)).toEqual(want));
});

let server: RunningServer;
let api: FakeSpritesApi;

beforeAll(async () => {
  api = await startFakeSpritesApi();
  process.env.TEST_CKPT_SPRITES_TOKEN = api.token;
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "3600000", SPRITES_API_URL: api.url });
}, 60_000);
afterAll(async () => {
  await server?.close();
  await api?.close();
});

const call = async (method: string, p: string, body?: unknown) => {
  const res = await fetch(`${api.url}${p}`, { method, headers: { authorization: `Bearer ${api.token}`, "content-type": "application/json" }, ...(body ? { body: JSON.stringify(body) } : {}) });
  const text = await res.text();
  expect(res.status, text).toBe(200);
  return text;
};

interface IngestView {
  status: string;
  cursorLine: number;
  lastError: string | null;
  forkReason: string | null;
}
async function syncIngest(id: string): Promise<IngestView> {
  const r = await gql(server.url, `mutation($id: ID!) { syncRun(runId: $id) { ... on Run { ingest { status cursorLine lastError forkReason } } } }`, { id });
  return r.data!.syncRun.ingest as IngestView;
}

describe("a restore through the Sprites API", () => {
  it("makes the fork checkpoint_restored (still FORKED), naming the checkpoint; a plain rewrite after a checkpoint was taken stays log_changed", async () => {
    const sprite = api.create("ckpt-1");
    cpSync(path.join(repoFromRecording("complete"), ".superloop"), path.join(sprite.dir, ".superloop"), { recursive: true });
    const file = eventsPath(sprite.dir);
    const lines = readFileSync(file, "utf8").split("\n").filter(Boolean);
    const r = await gql(server.url, `mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { ... on RegisterSpritePayload { run { id } } ... on Error { message } } }`, {
      i: { name: "ckpt-1", transport: "SPRITES_API", repoPath: sprite.dir, loopId: "demo-loop", spritesApiTokenEnv: "TEST_CKPT_SPRITES_TOKEN" },
    });
    const id = r.data!.registerSprite.run.id as string;
    expect(await syncIngest(id)).toMatchObject({ status: "OK", cursorLine: lines.length, forkReason: null });

    // a checkpoint, more events ingested, then the restore rewinds the log
    expect(await call("POST", "/v1/sprites/ckpt-1/checkpoint", { comment: "before the experiment" })).toMatch(/"type":"complete".*v0/);
    appendFileSync(file, lines.slice(-3).join("\n") + "\n");
    expect(await syncIngest(id)).toMatchObject({ status: "OK", cursorLine: lines.length + 3 });
    await new Promise((res) => setTimeout(res, 20));
    await call("POST", "/v1/sprites/ckpt-1/checkpoints/v0/restore");
    expect(readFileSync(file, "utf8").split("\n").filter(Boolean)).toHaveLength(lines.length);

    const forked = await syncIngest(id);
    expect(forked).toMatchObject({ status: "FORKED", cursorLine: lines.length + 3, forkReason: "checkpoint_restored" });
    expect(forked.lastError).toMatch(/^checkpoint_restored: the Sprite was restored to checkpoint v0 at \S+; events\.jsonl is \d+ bytes, shorter than the cursor/);
    // fail-closed: nothing more is ingested until an operator decides
    expect(await syncIngest(id)).toMatchObject({ status: "FORKED", forkReason: "checkpoint_restored" });
    const health = await gql(server.url, `query($id: ID!) { node(id: $id) { ... on Run { health { reasons { code message } } } } }`, { id });
    expect(health.data!.node.health.reasons).toContainEqual({ code: "cursor_fork", message: expect.stringContaining("checkpoint_restored") });

    // the operator adopts the restored log; then a checkpoint is only taken, and the log is cut by hand
    const adopt = await gql(server.url, `mutation($id: ID!) { resetRunCursor(runId: $id, mode: ADOPT_CURRENT) { __typename } }`, { id });
    expect(adopt.data!.resetRunCursor.__typename).toBe("CursorReset");
    expect(await syncIngest(id)).toMatchObject({ status: "OK", cursorLine: lines.length, forkReason: null });
    await call("POST", "/v1/sprites/ckpt-1/checkpoint", { comment: "after the restore" });
    truncateSync(file, Buffer.byteLength(lines.slice(0, -2).join("\n") + "\n"));
    expect(await syncIngest(id)).toMatchObject({ status: "FORKED", forkReason: "log_changed", lastError: expect.not.stringMatching(/checkpoint_restored/) });
  });
});
