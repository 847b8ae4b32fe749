import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseFleetFile } from "../../src/registry/fleet-file";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { repoFromRecording } from "../support/fixtures";
import { startTestServer } from "../support/server";

// The registry through GraphQL: every transport, token env var names, the one-run-per-Sprite policy and its
// override, update/remove (history kept or purged), the fleet query, and OPS_FLEET_FILE incl. SIGHUP.

const REGISTER = `mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { __typename
  ... on RegisterSpritePayload { sprite { name transport agentUrl agentTokenEnv spritesApiName spritesApiTokenEnv maxConcurrentRuns healthProfile } run { id loopId } }
  ... on Error { message } ... on ValidationError { issues { path message } } ... on InvalidInput { field } } }`;
const ADD_RUN = `mutation($i: AddRunInput!) { addRun(input: $i) { __typename ... on RegisterSpritePayload { run { id loopId } } ... on Error { message } ... on PolicyViolation { policy } } }`;
const UPDATE = `mutation($n: String!, $i: UpdateSpriteInput!) { updateSprite(name: $n, input: $i) { __typename
  ... on Sprite { name healthProfile healthOverrides pollIntervalMs maxConcurrentRuns agentTokenEnv } ... on Error { message } ... on InvalidInput { field } ... on ValidationError { issues { path message } } } }`;
const REMOVE = `mutation($n: String!, $p: Boolean) { removeSprite(name: $n, purge: $p) { __typename ... on RemoveSpritePayload { name purged removedRuns } ... on Error { message } } }`;

let server: RunningServer;
let fleetFile: string;
beforeAll(async () => {
  fleetFile = path.join(mkdtempSync(path.join(tmpdir(), "ops-fleet-")), "fleet.json");
  writeFileSync(fleetFile, JSON.stringify({ sprites: [] }));
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "60000", OPS_FLEET_FILE: fleetFile });
});
afterAll(() => server?.close());

describe("registry mutations", () => {
  it("registers each transport; tokens only by env var NAME; cross-field rules come back as InvalidInput", async () => {
    const repo = repoFromRecording("complete");
    const ok = await gql(server.url, REGISTER, {
      i: { name: "svc-1", transport: "SPRITE_SERVICE", repoPath: "/home/sprite/repo", loopId: "demo-loop", agentUrl: "http://127.0.0.1:9/", agentTokenEnv: "AGENT_TOKEN_SVC1" },
    });
    expect(ok.data!.registerSprite).toMatchObject({
      __typename: "RegisterSpritePayload",
      sprite: { transport: "SPRITE_SERVICE", agentTokenEnv: "AGENT_TOKEN_SVC1", maxConcurrentRuns: 1, healthProfile: "default" },
    });
    const api = await gql(server.url, REGISTER, { i: { name: "api-1", transport: "SPRITES_API", repoPath: "/home/sprite/repo", loopId: "demo-loop" } });
    expect(api.data!.registerSprite.sprite).toMatchObject({ spritesApiName: "api-1", spritesApiTokenEnv: "SPRITES_TOKEN" });
    const local = await gql(server.url, REGISTER, { i: { name: "loc-1", transport: "LOCAL", repoPath: repo, loopId: "demo-loop" } });
    expect(local.data!.registerSprite.__typename).toBe("RegisterSpritePayload");

    const token = await gql(server.url, REGISTER, { i: { name: "svc-2", transport: "SPRITE_SERVICE", repoPath: "/r", loopId: "l", agentUrl: "http://x/", agentTokenEnv: "s3cr3t-t0ken!" } });
    expect(token.data!.registerSprite).toMatchObject({ __typename: "ValidationError", issues: [{ path: ["input", "agentTokenEnv"] }] });
    const noUrl = await gql(server.url, REGISTER, { i: { name: "svc-3", transport: "SPRITE_SERVICE", repoPath: "/r", loopId: "l" } });
    expect(noUrl.data!.registerSprite).toMatchObject({ __typename: "InvalidInput", field: "agentUrl" });
    const wrongKind = await gql(server.url, REGISTER, { i: { name: "loc-2", transport: "LOCAL", repoPath: repo, loopId: "l", agentUrl: "http://x/" } });
    expect(wrongKind.data!.registerSprite).toMatchObject({ __typename: "InvalidInput", field: "agentUrl" });
    const badOverrides = await gql(server.url, REGISTER, {
      i: { name: "loc-3", transport: "LOCAL", repoPath: repo, loopId: "l", healthProfile: "strict", healthOverrides: { ingestLagWarningSec: 1000 } },
    });
    expect(badOverrides.data!.registerSprite).toMatchObject({ __typename: "InvalidInput", field: "healthOverrides" });
    const dup = await gql(server.url, REGISTER, { i: { name: "loc-1", transport: "LOCAL", repoPath: repo, loopId: "other" } });
    expect(dup.data!.registerSprite.__typename).toBe("DuplicateName");
  });

  it("one loop run per Sprite unless maxConcurrentRuns allows more", async () => {
    const repo = repoFromRecording("complete");
    await gql(server.url, REGISTER, { i: { name: "pol-1", transport: "LOCAL", repoPath: repo, loopId: "demo-loop" } });
    const second = await gql(server.url, ADD_RUN, { i: { sprite: "pol-1", repoPath: repo, loopId: "second-loop" } });
    expect(second.data!.addRun).toMatchObject({ __typename: "PolicyViolation", policy: "one_run_per_sprite" });
    const raised = await gql(server.url, UPDATE, { n: "pol-1", i: { maxConcurrentRuns: 2 } });
    expect(raised.data!.updateSprite).toMatchObject({ maxConcurrentRuns: 2 });
    const ok = await gql(server.url, ADD_RUN, { i: { sprite: "pol-1", repoPath: repo, loopId: "second-loop" } });
    expect(ok.data!.addRun).toMatchObject({ __typename: "RegisterSpritePayload", run: { loopId: "second-loop" } });
    const lower = await gql(server.url, UPDATE, { n: "pol-1", i: { maxConcurrentRuns: 1 } });
    expect(lower.data!.updateSprite.__typename).toBe("PolicyViolation");
    const unknown = await gql(server.url, ADD_RUN, { i: { sprite: "nope", repoPath: repo, loopId: "x" } });
    expect(unknown.data!.addRun.__typename).toBe("NotFound");
  });

  it("updateSprite sets profile and overrides (null clears); removeSprite keeps history, purge deletes it; the name can be reused", async () => {
    const repo = repoFromRecording("maxiter");
    const reg = await gql(server.url, REGISTER, { i: { name: "upd-1", transport: "LOCAL", repoPath: repo, loopId: "demo-loop" } });
    const runId = reg.data!.registerSprite.run.id as string;
    await server.app.ingestor.syncRun(Buffer.from(runId, "base64").toString().split(":")[1]);
    const upd = await gql(server.url, UPDATE, { n: "upd-1", i: { healthProfile: "strict", healthOverrides: { transportFailureWarning: 2, transportFailureCritical: 3 }, pollIntervalMs: 500 } });
    expect(upd.data!.updateSprite).toMatchObject({ healthProfile: "strict", healthOverrides: { transportFailureWarning: 2, transportFailureCritical: 3 }, pollIntervalMs: 500 });
    const cleared = await gql(server.url, UPDATE, { n: "upd-1", i: { healthOverrides: null, healthProfile: null } });
    expect(cleared.data!.updateSprite).toMatchObject({ healthProfile: "default", healthOverrides: null, pollIntervalMs: 500 });

    const removed = await gql(server.url, REMOVE, { n: "upd-1" });
    expect(removed.data!.removeSprite).toEqual({ __typename: "RemoveSpritePayload", name: "upd-1", purged: false, removedRuns: 1 });
    const listed = await gql(server.url, `{ sprites { edges { node { name } } } all: sprites(includeRemoved: true) { edges { node { name removedAt } } } }`);
    expect(listed.data!.sprites.edges.map((e: { node: { name: string } }) => e.node.name)).not.toContain("upd-1");
    expect(listed.data!.all.edges.find((e: { node: { name: string } }) => e.node.name === "upd-1").node.removedAt).not.toBeNull();
    const raw = Buffer.from(runId, "base64").toString().split(":")[1];
    expect(await server.app.db.event.count({ where: { runId: raw } })).toBeGreaterThan(0);

    // registering the name again revives the Sprite and its run, with its history
    const again = await gql(server.url, REGISTER, { i: { name: "upd-1", transport: "LOCAL", repoPath: repo, loopId: "demo-loop" } });
    expect(again.data!.registerSprite.run.id).toBe(runId);
    const purged = await gql(server.url, REMOVE, { n: "upd-1", p: true });
    expect(purged.data!.removeSprite).toMatchObject({ purged: true });
    expect(await server.app.db.event.count({ where: { runId: raw } })).toBe(0);
    expect(await server.app.db.sprite.findUnique({ where: { name: "upd-1" } })).toBeNull();
  });

  it("a missing token variable is a health reason at poll time, with the variable named", async () => {
    const reg = await gql(server.url, REGISTER, {
      i: { name: "tok-1", transport: "SPRITES_API", repoPath: "/home/sprite/repo", loopId: "demo-loop", spritesApiTokenEnv: "OPS_TEST_UNSET_TOKEN", healthProfile: "strict" },
    });
    const raw = Buffer.from(reg.data!.registerSprite.run.id, "base64").toString().split(":")[1];
    for (let i = 0; i < 2; i++) await server.app.ingestor.syncRun(raw);
    const run = await server.app.db.run.findUniqueOrThrow({ where: { id: raw }, include: { sprite: true } });
    expect(run.health).toBe("CRITICAL");
    expect(JSON.stringify(run.healthReasons)).toContain("OPS_TEST_UNSET_TOKEN");
    expect(run.sprite.status).toBe("UNREACHABLE");
    const sprite = await gql(server.url, `{ sprite(name: "tok-1") { ... on Sprite { status health { status reasons { code message } } } } }`);
    expect(sprite.data!.sprite.health).toMatchObject({ status: "CRITICAL", reasons: [{ code: "transport_unreachable" }] });
  });

  it("fleet counts by state, health, transport and sprite status", async () => {
    const r = await gql(
      server.url,
      `{ fleet { sprites runs needsIntervention byState { state count } byHealth { status count } byTransport { transport sprites runs } bySpriteStatus { status count } } }`,
    );
    expect(r.errors).toBeUndefined();
    const f = r.data!.fleet;
    const liveRuns = await server.app.db.run.count({ where: { removedAt: null } });
    expect(f.runs).toBe(liveRuns);
    expect(f.byState.reduce((n: number, s: { count: number }) => n + s.count, 0)).toBe(liveRuns);
    expect(f.byHealth.reduce((n: number, s: { count: number }) => n + s.count, 0)).toBe(liveRuns);
    expect(f.byTransport.map((t: { transport: string }) => t.transport)).toEqual(["LOCAL", "SPRITES_API", "SPRITE_SERVICE"]);
    expect(f.byTransport.find((t: { transport: string }) => t.transport === "LOCAL")).toMatchObject({ runs: 3 });
    expect(f.bySpriteStatus.reduce((n: number, s: { count: number }) => n + s.count, 0)).toBe(f.sprites);
  });
});

describe("OPS_FLEET_FILE", () => {
  it("reports every error with its JSON path and changes nothing", () => {
    const bad = parseFleetFile(
      JSON.stringify({
        sprites: [
          { name: "ok-one", transport: "LOCAL", repoPath: "/r", loopId: "l" },
          { name: "Bad Name", transport: "SPRITE_SERVICE", repoPath: "relative", loopId: "l", agentTokenEnv: "has-dash" },
          {
            name: "ok-one",
            transport: "sprites_api",
            runs: [
              { repoPath: "/a", loopId: "x" },
              { repoPath: "/b", loopId: "y" },
            ],
          },
        ],
        extra: true,
      }),
    );
    expect(bad.ok).toBe(false);
    const paths = (bad as { errors: { path: string }[] }).errors.map((e) => e.path).sort();
    expect(paths).toEqual(
      expect.arrayContaining(["(root)", "sprites[1].name", "sprites[1].repoPath", "sprites[1].agentTokenEnv", "sprites[1].agentUrl", "sprites[2].maxConcurrentRuns", "sprites[2].name"]),
    );
    expect(parseFleetFile("{ nope")).toMatchObject({ ok: false, errors: [{ path: "(root)" }] });
  });

  it("applies (as on SIGHUP): creates and updates what is declared, reports (or prunes) what is not", async () => {
    const a = repoFromRecording("complete");
    const b = repoFromRecording("approval");
    writeFileSync(
      fleetFile,
      JSON.stringify({
        sprites: [
          { name: "ff-a", transport: "LOCAL", repoPath: a, loopId: "demo-loop", healthProfile: "relaxed" },
          {
            name: "ff-b",
            transport: "local",
            maxConcurrentRuns: 2,
            runs: [
              { repoPath: b, loopId: "demo-loop" },
              { repoPath: b, loopId: "other-loop" },
            ],
          },
          { name: "ff-svc", transport: "SPRITE_SERVICE", repoPath: "/home/sprite/repo", loopId: "demo-loop", agentUrl: "http://127.0.0.1:9", agentTokenEnv: "FF_TOKEN" },
        ],
      }),
    );
    const first = await gql(server.url, `mutation { reloadFleetFile { ... on FleetFileReport { ok created errors { path message } } } }`);
    expect(first.data!.reloadFleetFile).toMatchObject({ ok: true, created: ["ff-a", "ff-b", "ff-svc"] });
    const viaApi = await gql(server.url, `mutation { reloadFleetFile { __typename ... on FleetFileReport { ok created updated unchanged notInFile removed errors { path message } } } }`);
    const report = viaApi.data!.reloadFleetFile;
    expect(report).toMatchObject({ ok: true, created: [], updated: [], unchanged: ["ff-a", "ff-b", "ff-svc"], removed: [] });
    expect(report.notInFile).toEqual(expect.arrayContaining(["api-1", "loc-1", "svc-1"]));
    const ffb = await server.app.db.run.count({ where: { sprite: { name: "ff-b" }, removedAt: null } });
    expect(ffb).toBe(2);

    writeFileSync(
      fleetFile,
      JSON.stringify({
        prune: true,
        sprites: [
          { name: "ff-a", transport: "LOCAL", repoPath: a, loopId: "demo-loop", healthProfile: "strict" },
          { name: "ff-b", transport: "LOCAL", repoPath: b, loopId: "demo-loop" },
        ],
      }),
    );
    const pruned = await gql(server.url, `mutation { reloadFleetFile { ... on FleetFileReport { ok updated removed notInFile errors { path message } } } }`);
    expect(pruned.data!.reloadFleetFile).toMatchObject({ ok: true, updated: ["ff-a", "ff-b"], notInFile: [] });
    expect(pruned.data!.reloadFleetFile.removed).toEqual(expect.arrayContaining(["ff-b/other-loop", "ff-svc", "loc-1", "svc-1"]));
    expect((await server.app.db.sprite.findUniqueOrThrow({ where: { name: "ff-a" } })).healthProfile).toBe("strict");
    // history of pruned sprites is kept
    expect(await server.app.db.sprite.count({ where: { name: "ff-svc" } })).toBe(1);

    writeFileSync(fleetFile, JSON.stringify({ sprites: [{ name: "ff-a", transport: "SPRITE_SERVICE", repoPath: a, loopId: "demo-loop" }] }));
    const invalid = await gql(server.url, `mutation { reloadFleetFile { ... on FleetFileReport { ok errors { path message } } } }`);
    expect(invalid.data!.reloadFleetFile).toMatchObject({ ok: false, errors: [{ path: "sprites[0].agentUrl" }] });
    expect((await server.app.db.sprite.findUniqueOrThrow({ where: { name: "ff-a" } })).transport).toBe("LOCAL");
  });
});
