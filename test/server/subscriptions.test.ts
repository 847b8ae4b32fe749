import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { collect, gql, sse, wsClient } from "../support/clients";
import { startTestServer } from "../support/server";

const SUB = `subscription($f: RunLifecycleFilter) { runLifecycleChanged(filter: $f) {
  __typename ... on RunLifecycleChange { seq previousState state reason run { loopId sprite { name } } } } }`;
const REGISTER = `mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { __typename } }`;

let server: RunningServer;
let repo: string;
beforeAll(async () => {
  server = await startTestServer();
  repo = mkdtempSync(path.join(tmpdir(), "ops-repo-"));
});
afterAll(() => server?.close());

async function waitForSubscribers(n: number) {
  for (let i = 0; i < 100 && server.app.bus.size < n; i++) await new Promise((r) => setTimeout(r, 20));
  expect(server.app.bus.size).toBeGreaterThanOrEqual(n);
}

describe("subscriptions on /graphql", () => {
  it("delivers a published change over graphql-ws and over SSE", async () => {
    const client = wsClient(server.url);
    const ws = collect(client, SUB, { f: { sprite: null } });
    const stream = sse(server.url, SUB);
    await stream.ready;
    await waitForSubscribers(2);

    const r = await gql(server.url, REGISTER, { i: { name: "sub1", transport: "LOCAL", repoPath: repo, loopId: "demo-loop" } });
    expect(r.data!.registerSprite.__typename).toBe("RegisterSpritePayload");

    const expected = { __typename: "RunLifecycleChange", seq: 1, previousState: null, state: "IDLE", reason: "not_started", run: { loopId: "demo-loop", sprite: { name: "sub1" } } };
    expect((await ws.next(1))[0]).toEqual({ data: { runLifecycleChanged: expected } });
    expect((await stream.next(1))[0]).toEqual({ data: { runLifecycleChanged: expected } });
    ws.dispose();
    stream.close();
    await client.dispose();
  });

  it("filters by sprite and state", async () => {
    const client = wsClient(server.url);
    const onlyB = collect(client, SUB, { f: { sprite: "sub-b" } });
    const onlyRunning = collect(client, SUB, { f: { states: ["RUNNING"] } });
    await waitForSubscribers(2);
    await gql(server.url, REGISTER, { i: { name: "sub-a", transport: "LOCAL", repoPath: repo, loopId: "x" } });
    // a sprite registered after subscribing is resolved at subscribe time: sub-b does not exist yet -> ends
    expect(onlyB.done || onlyB.items.length === 0).toBe(true);
    await new Promise((r) => setTimeout(r, 200));
    expect(onlyRunning.items).toHaveLength(0);
    onlyRunning.dispose();
    await client.dispose();
  });
});
