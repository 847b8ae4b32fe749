import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { repoFromRecording } from "../support/fixtures";
import { register, waitFor } from "../support/runs";
import { buildOpsctl } from "../../scripts/build-opsctl";
import { killSims, opsctl, runState, startControlServer, TOKENS } from "./helpers";

// opsctl as a user runs it: a separate process (bin/opsctl.mjs) against a real server. The full command tree is
// in opsctl-cli.test.ts; this is the first version's story, updated where the strict CLI differs on purpose:
// -o json instead of --json, durations with units, distinct exit codes, and watch ending with the run.

let server: RunningServer;

beforeAll(async () => {
  process.env["SIM_STEP_MS"] = "30";
  [server] = await Promise.all([startControlServer(), buildOpsctl()]);
});
afterAll(async () => {
  await server?.close();
  killSims();
});

describe("opsctl", () => {
  it("usage errors exit 64", async () => {
    expect((await opsctl(server, [])).code).toBe(64);
    expect((await opsctl(server, ["cancel"])).code).toBe(64);
    expect((await opsctl(server, ["frobnicate", "x"])).code).toBe(64);
    const badKey = await opsctl(server, ["cancel", "x", "--key", "no spaces allowed"]);
    expect(badKey.code).toBe(64);
    expect(badKey.stderr).toMatch(/--key/);
  });

  it("approve --wait by Sprite name: streams the stages over graphql-ws, exits 0 at CONFIRMED; the run is COMPLETE", async () => {
    const run = await register(server, "cli-1", repoFromRecording("approval"), "demo-loop", TOKENS.admin);
    await waitFor(
      () => runState(server, run.id),
      (s) => s.state === "AWAITING_APPROVAL",
      15_000,
      "AWAITING_APPROVAL",
    );

    // no signal: watch ends by itself once the run is COMPLETE (and its open intents have settled)
    const watching = opsctl(server, ["watch", "cli-1", "-o", "json"], TOKENS.viewer);
    await new Promise((r) => setTimeout(r, 1500)); // let watch subscribe
    const human = await opsctl(server, ["approve", "cli-1", "--note", "ship it", "--wait", "--timeout", "20s"]);
    expect(human.stderr).toBe("");
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/APPROVE .* on cli-1\/demo-loop: (DISPATCHED|ACCEPTED)/);
    expect(human.stdout).toMatch(/: CONFIRMED — (approval_consumed|loop_complete) observed/);
    await waitFor(
      () => runState(server, run.id),
      (s) => s.state === "COMPLETE",
      15_000,
      "COMPLETE",
    );

    const watched = await watching;
    expect(watched.code).toBe(0);
    const raw = watched.stdout.trim().split("\n");
    expect(new Set(raw).size).toBe(raw.length); // never a line twice
    const lines = raw.map((l) => JSON.parse(l) as { type: string; kind?: string; stage?: string; state?: string });
    expect(lines.some((l) => l.type === "intent" && l.kind === "APPROVE" && l.stage === "CONFIRMED")).toBe(true);
    expect(lines.some((l) => l.type === "lifecycle" && l.state === "COMPLETE")).toBe(true);

    // -o json: one document with a result per run; the same key again returns the first outcome without acting
    const json = await opsctl(server, ["start", run.raw, "-o", "json", "--wait", "--key", "cli-start-0001"]);
    expect(json.code).toBe(0);
    const doc = JSON.parse(json.stdout) as { items: { ok: boolean; intent: { kind: string; stage: string; id: string } }[] };
    expect(doc.items[0]).toMatchObject({ ok: true, intent: { kind: "START", stage: "CONFIRMED" } });
    const again = JSON.parse((await opsctl(server, ["start", run.raw, "-o", "json", "--key", "cli-start-0001"])).stdout) as typeof doc;
    expect(again.items[0].intent.id).toBe(doc.items[0].intent.id);
  }, 60_000); // several real processes and a loop run to completion: slow on a loaded machine

  it("refusals exit 2, missing rights 77, an unknown run 3", async () => {
    const run = await register(server, "cli-2", repoFromRecording("complete"), "demo-loop", TOKENS.admin);
    await waitFor(
      () => runState(server, run.id),
      (s) => s.state === "COMPLETE",
      15_000,
      "COMPLETE",
    );
    const refused = await opsctl(server, ["approve", "cli-2"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/PreconditionFailed/);
    const viewer = await opsctl(server, ["cancel", "cli-2"], TOKENS.viewer);
    expect(viewer.code).toBe(77);
    expect(viewer.stderr).toMatch(/Unauthorized/);
    const anonymous = await opsctl(server, ["get", "runs"], null);
    expect(anonymous.code).toBe(77);
    expect(anonymous.stderr).toMatch(/authentication required/);
    const unknown = await opsctl(server, ["describe", "run", "no-such-sprite"]);
    expect(unknown.code).toBe(3);
  });

  it("get runs and describe run <sprite> -o json", async () => {
    const list = await opsctl(server, ["get", "runs", "-o", "json"], TOKENS.viewer);
    expect(list.code).toBe(0);
    const runs = (JSON.parse(list.stdout) as { items: { sprite: { name: string } }[] }).items;
    expect(runs.map((r) => r.sprite.name)).toEqual(expect.arrayContaining(["cli-1", "cli-2"]));
    const one = await opsctl(server, ["describe", "run", "cli-1", "-o", "json"], TOKENS.viewer);
    expect(one.code).toBe(0);
    const detail = JSON.parse(one.stdout) as { state: string; intents: { kind: string }[] };
    expect(detail.state).toBe("COMPLETE");
    expect(detail.intents.map((i) => i.kind)).toEqual(expect.arrayContaining(["APPROVE", "START"]));
  });
});
