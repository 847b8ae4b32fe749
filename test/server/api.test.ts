import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { startTestServer } from "../support/server";

const REGISTER = `mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) {
  __typename
  ... on RegisterSpritePayload { sprite { id name transport run { id } } run { id loopId state stateReason repoPath sprite { name } } }
  ... on Error { message }
  ... on ValidationError { issues { path message } }
} }`;

let server: RunningServer;
let repo: string;
beforeAll(async () => {
  server = await startTestServer();
  repo = mkdtempSync(path.join(tmpdir(), "ops-repo-"));
});
afterAll(() => server?.close());

describe("HTTP API", () => {
  it("serves /health and /ready", async () => {
    const base = server.url.replace("/graphql", "");
    expect((await fetch(`${base}/health`)).status).toBe(200);
    const ready = await fetch(`${base}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ ok: true, checks: { database: "ok", pendingMigrations: [] } });
  });

  it("registers a local sprite and lists it", async () => {
    const r = await gql(server.url, REGISTER, { i: { name: "alpha", transport: "LOCAL", repoPath: repo, loopId: "demo-loop" } });
    expect(r.errors).toBeUndefined();
    const p = r.data!.registerSprite;
    expect(p.__typename).toBe("RegisterSpritePayload");
    expect(p.run).toMatchObject({ loopId: "demo-loop", state: "IDLE", stateReason: "not_started", repoPath: repo, sprite: { name: "alpha" } });
    expect(p.sprite.run.id).toBe(p.run.id);

    const list = await gql(server.url, `{ sprites { edges { node { name transport } } } }`);
    expect(list.data!.sprites.edges).toContainEqual({ node: { name: "alpha", transport: "LOCAL" } });

    const one = await gql(server.url, `query($n: String!) { sprite(name: $n) { __typename ... on Sprite { name } } }`, { n: "alpha" });
    expect(one.data!.sprite).toEqual({ __typename: "Sprite", name: "alpha" });

    const byId = await gql(server.url, `query($id: ID!) { run(id: $id) { __typename ... on Run { loopId } } node(id: $id) { ... on Run { loopId } } }`, { id: p.run.id });
    expect(byId.data).toEqual({ run: { __typename: "Run", loopId: "demo-loop" }, node: { loopId: "demo-loop" } });

    const filtered = await gql(
      server.url,
      `{ idle: runs(filter: { state: [IDLE], sprite: "alpha" }) { edges { node { loopId } } } running: runs(filter: { state: [RUNNING] }) { edges { node { loopId } } } }`,
    );
    expect(filtered.data!.idle.edges).toHaveLength(1);
    expect(filtered.data!.running.edges).toHaveLength(0);
  });

  it("returns domain errors as data", async () => {
    const dup = await gql(server.url, REGISTER, { i: { name: "dup", transport: "LOCAL", repoPath: repo, loopId: "a" } });
    expect(dup.data!.registerSprite.__typename).toBe("RegisterSpritePayload");
    const again = await gql(server.url, REGISTER, { i: { name: "dup", transport: "LOCAL", repoPath: repo, loopId: "a" } });
    expect(again.data!.registerSprite).toMatchObject({ __typename: "DuplicateName", message: expect.stringContaining("dup") });

    const missing = await gql(server.url, REGISTER, { i: { name: "nopath", transport: "LOCAL", repoPath: "/definitely/not/here", loopId: "a" } });
    expect(missing.data!.registerSprite.__typename).toBe("InvalidInput");

    const unknown = await gql(server.url, `{ run(id: "00000000-0000-0000-0000-000000000000") { __typename ... on NotFound { entity id } } sprite(name: "zzz") { __typename } }`);
    expect(unknown.data).toEqual({ run: { __typename: "NotFound", entity: "Run", id: "00000000-0000-0000-0000-000000000000" }, sprite: { __typename: "NotFound" } });
  });

  it("reports invalid arguments as a typed validation error naming each field", async () => {
    const r = await gql(server.url, REGISTER, { i: { name: "Bad Name", transport: "LOCAL", repoPath: "relative", loopId: "../etc" } });
    const e = r.data!.registerSprite;
    expect(e.__typename).toBe("ValidationError");
    const paths = e.issues.map((i: { path: string[] }) => i.path.join("."));
    expect(paths).toEqual(expect.arrayContaining(["input.name", "input.repoPath", "input.loopId"]));
  });

  it("pages Run.events both ways by line number", async () => {
    const r = await gql(server.url, REGISTER, { i: { name: "paged", transport: "LOCAL", repoPath: repo, loopId: "p" } });
    const runId = r.data!.registerSprite.run.id as string;
    const raw = Buffer.from(runId, "base64").toString().split(":")[1];
    await server.app.db.event.createMany({
      data: Array.from({ length: 10 }, (_, i) => ({
        runId: raw,
        line: i + 1,
        timestamp: new Date(Date.UTC(2026, 0, 1, 0, 0, i)),
        name: `e${i + 1}`,
        packed: JSON.stringify({ event: `e${i + 1}` }),
      })),
    });
    const q = `query($id: ID!, $first: Int, $after: String, $last: Int, $before: String) { run(id: $id) { ... on Run {
      events(first: $first, after: $after, last: $last, before: $before) { edges { cursor node { line name } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } } }`;
    const first = await gql(server.url, q, { id: runId, first: 3, after: "4" });
    expect(first.data!.run.events.edges.map((e: { node: { line: number } }) => e.node.line)).toEqual([5, 6, 7]);
    expect(first.data!.run.events.edges[0].cursor).toBe("5");
    expect(first.data!.run.events.pageInfo.hasNextPage).toBe(true);
    const last = await gql(server.url, q, { id: runId, last: 2, before: "4" });
    expect(last.data!.run.events.edges.map((e: { node: { line: number } }) => e.node.line)).toEqual([2, 3]);
    expect(last.data!.run.events.pageInfo.hasPreviousPage).toBe(true);
    const bad = await gql(server.url, q, { id: runId, first: 3, after: "abc" });
    expect(bad.errors?.[0]?.message).toMatch(/invalid event cursor/);
  });

  it("masks unexpected errors", async () => {
    const r = await gql(server.url, `{ __typename }`);
    expect(r.data).toEqual({ __typename: "Query" });
    const broken = await gql(server.url, `{ nope }`);
    expect(broken.errors?.[0]?.message).toMatch(/Cannot query field "nope"/);
  });
});
