import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { eventsPath } from "../support/fixtures";
import { waitFor } from "../support/runs";
import { startTestServer } from "../support/server";

// A wrong loop id used to be accepted silently and stay IDLE/not_started, HEALTHY, forever. Registration of a
// LOCAL repo now checks .superloop/loops/<loopId> (and the loops config.json declares): a missing loop is still
// accepted (it may be created later) with a warning naming the loops that exist, and the run's health says
// loop_not_found until the loop appears.

let server: RunningServer;
beforeAll(async () => {
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "200" });
});
afterAll(async () => {
  await server?.close();
});

const REGISTER = `mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { __typename ... on RegisterSpritePayload { warnings run { id } } ... on Error { message } } }`;
const HEALTH = `query($id: ID!) { run(id: $id) { ... on Run { state stateReason health { status reasons { code severity message } } } } }`;

function repoWithLoops(): string {
  const repo = mkdtempSync(path.join(tmpdir(), "ops-loopcheck-"));
  mkdirSync(path.join(repo, ".superloop", "loops", "alpha"), { recursive: true });
  mkdirSync(path.join(repo, ".superloop", "loops", "beta"), { recursive: true });
  writeFileSync(path.join(repo, ".superloop", "config.json"), JSON.stringify({ loops: [{ id: "gamma" }, { id: "alpha" }] }));
  return repo;
}

async function register(name: string, repoPath: string, loopId: string) {
  const r = await gql<{ registerSprite: { __typename: string; warnings: string[]; run: { id: string } } }>(server.url, REGISTER, { i: { name, transport: "LOCAL", repoPath, loopId } });
  return r.data!.registerSprite;
}

type Health = { run: { state: string; health: { status: string; reasons: { code: string; severity: string }[] } } };
const health = async (id: string) => (await gql<Health>(server.url, HEALTH, { id })).data!.run;

describe("loop id check at registration", () => {
  it("an existing loop (a directory, or declared in config.json) registers without a warning", async () => {
    const repo = repoWithLoops();
    expect((await register("has-dir", repo, "beta")).warnings).toEqual([]);
    expect((await register("declared", repo, "gamma")).warnings).toEqual([]);
  });

  it("a missing loop is accepted with a warning naming the existing loops; loop_not_found until it appears", async () => {
    const repo = repoWithLoops();
    const r = await register("typo", repo, "alpah");
    expect(r.__typename).toBe("RegisterSpritePayload");
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toContain(`loop "alpah" not found`);
    expect(r.warnings[0]).toContain("existing loops: alpha, beta, gamma");

    const degraded = await waitFor(
      () => health(r.run.id),
      (h) => h.health.reasons.some((x) => x.code === "loop_not_found"),
      15_000,
      "loop_not_found",
    );
    expect(degraded).toMatchObject({ state: "IDLE", health: { status: "DEGRADED" } });
    expect(degraded.health.reasons.find((x) => x.code === "loop_not_found")?.severity).toBe("warning");

    // The loop appears (it runs for the first time): the reason goes away.
    mkdirSync(path.join(repo, ".superloop", "loops", "alpah"), { recursive: true });
    writeFileSync(eventsPath(repo, "alpah"), JSON.stringify({ timestamp: "2026-11-30T00:00:00Z", event: "loop_start", loop_id: "alpah", run_id: "r1", iteration: 1, data: {} }) + "\n");
    const healed = await waitFor(
      () => health(r.run.id),
      (h) => !h.health.reasons.some((x) => x.code === "loop_not_found"),
      15_000,
      "loop_not_found gone",
    );
    expect(healed.health.reasons.map((x) => x.code)).not.toContain("loop_not_found");
  });

  it("a repo without any loop says so", async () => {
    const repo = mkdtempSync(path.join(tmpdir(), "ops-loopcheck-empty-"));
    const r = await register("empty", repo, "demo-loop");
    expect(r.warnings[0]).toContain("no loops there yet");
  });
});
