import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { repoFromRecording } from "../support/fixtures";
import { register, waitFor } from "../support/runs";
import { killSims, opsctl, runState, startControlServer, TOKENS } from "./helpers";

// opsctl as a user runs it: a separate process (bin/opsctl.mjs through tsx) against a real server.

let server: RunningServer;

beforeAll(async () => {
  process.env["SIM_STEP_MS"] = "30";
  server = await startControlServer();
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
    await waitFor(() => runState(server, run.id), (s) => s.state === "AWAITING_APPROVAL", 15_000, "AWAITING_APPROVAL");

    const watching = opsctl(server, ["watch", "cli-1", "--json"], TOKENS.viewer, { signalAfterMs: 12000 });
    await new Promise((r) => setTimeout(r, 1500)); // let watch subscribe
    const human = await opsctl(server, ["approve", "cli-1", "--note", "ship it", "--wait", "--timeout", "20000"]);
    expect(human.stderr).toBe("");
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/APPROVE .* on cli-1\/demo-loop: (DISPATCHED|ACCEPTED)/);
    expect(human.stdout).toMatch(/: CONFIRMED — (approval_consumed|loop_complete) observed/);
    await waitFor(() => runState(server, run.id), (s) => s.state === "COMPLETE", 15_000, "COMPLETE");

    const watched = await watching;
    expect(watched.code).toBe(0);
    const lines = watched.stdout.trim().split("\n").map((l) => JSON.parse(l) as { type: string; kind?: string; stage?: string; state?: string });
    expect(lines.some((l) => l.type === "intent" && l.kind === "APPROVE" && l.stage === "CONFIRMED")).toBe(true);
    expect(lines.some((l) => l.type === "lifecycle" && l.state === "COMPLETE")).toBe(true);

    // --json: one document; the same key again returns the first outcome without acting
    const json = await opsctl(server, ["start", run.raw, "--json", "--wait", "--key", "cli-start-0001"]);
    expect(json.code).toBe(0);
    const doc = JSON.parse(json.stdout) as { ok: boolean; intent: { kind: string; stage: string; id: string } };
    expect(doc).toMatchObject({ ok: true, intent: { kind: "START", stage: "CONFIRMED" } });
    const again = JSON.parse((await opsctl(server, ["start", run.raw, "--json", "--key", "cli-start-0001"])).stdout) as typeof doc;
    expect(again.intent.id).toBe(doc.intent.id);
  });

  it("refusals and missing rights exit 1", async () => {
    const run = await register(server, "cli-2", repoFromRecording("complete"), "demo-loop", TOKENS.admin);
    await waitFor(() => runState(server, run.id), (s) => s.state === "COMPLETE", 15_000, "COMPLETE");
    const refused = await opsctl(server, ["approve", "cli-2"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/PreconditionFailed/);
    const viewer = await opsctl(server, ["cancel", "cli-2"], TOKENS.viewer);
    expect(viewer.code).toBe(1);
    expect(viewer.stderr).toMatch(/Unauthorized/);
    const anonymous = await opsctl(server, ["runs"], null);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(/authentication required/);
    const unknown = await opsctl(server, ["run", "no-such-sprite"]);
    expect(unknown.code).toBe(1);
  });

  it("runs and run <sprite> --json", async () => {
    const list = await opsctl(server, ["runs", "--json"], TOKENS.viewer);
    expect(list.code).toBe(0);
    const runs = JSON.parse(list.stdout) as { sprite: { name: string } }[];
    expect(runs.map((r) => r.sprite.name)).toEqual(expect.arrayContaining(["cli-1", "cli-2"]));
    const one = await opsctl(server, ["run", "cli-1", "--json"], TOKENS.viewer);
    expect(one.code).toBe(0);
    const detail = JSON.parse(one.stdout) as { state: string; intents: { kind: string }[] };
    expect(detail.state).toBe("COMPLETE");
    expect(detail.intents.map((i) => i.kind)).toEqual(expect.arrayContaining(["APPROVE", "START"]));
  });
});
