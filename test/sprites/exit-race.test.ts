import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { startFakeSpritesApi, type FakeSpritesApi } from "../support/fake-sprites-api";
import { startTestServer } from "../support/server";

// A run that ends normally removes active-run.json in its exit trap, then its process exits. A poll that read
// the file just before and checks the pid just after finds a dead pid next to a file that is already gone: it
// must not say FAILED/killed. Found in CI (test/sprites/sleep.test.ts ended FAILED/killed for a completed run,
// and cost-aware polling never looked again). Here the end happens exactly inside that window: the fake Sprites
// API swaps the files to the real runtime's end state (test/fixtures/runtime/success) when the manager execs
// `cat /proc/<pid>/stat` for the pid it just read.

const FINAL = path.resolve(import.meta.dirname, "../fixtures/runtime/success/files");
const LOOP = ".superloop/loops/demo-loop";

let server: RunningServer;
let api: FakeSpritesApi;
beforeAll(async () => {
  api = await startFakeSpritesApi();
  process.env.TEST_EXIT_RACE_SPRITES_TOKEN = api.token;
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "200", SPRITES_API_URL: api.url });
}, 60_000);
afterAll(async () => {
  await server?.close();
  await api?.close();
});

/** A pid that belonged to a process which has exited (what the pid of a just-ended run is). */
function deadPid(): number {
  const r = spawnSync("sh", ["-c", "echo $$"], { encoding: "utf8" });
  return Number(r.stdout.trim());
}

it("a run that completes between the read of active-run.json and its pid check is COMPLETE, never FAILED/killed", async () => {
  const repo = realpathSync(mkdtempSync(path.join(tmpdir(), "exit-race-")));
  cpSync(FINAL, repo, { recursive: true });
  // The moment before the exit trap: every event but loop_complete, state active, active-run.json present.
  const events = readFileSync(path.join(repo, LOOP, "events.jsonl"), "utf8")
    .trimEnd()
    .split("\n");
  const finalEvents = `${events.join("\n")}\n`;
  const finalState = readFileSync(path.join(repo, ".superloop/state.json"), "utf8");
  writeFileSync(path.join(repo, LOOP, "events.jsonl"), `${events.slice(0, -1).join("\n")}\n`);
  writeFileSync(path.join(repo, ".superloop/state.json"), JSON.stringify({ ...JSON.parse(finalState), active: true }));
  const pid = deadPid();
  writeFileSync(
    path.join(repo, ".superloop/active-run.json"),
    JSON.stringify({ repo, pid, pgid: pid, loop_id: "demo-loop", iteration: 1, stage: "loop_complete", updated_at: new Date().toISOString() }),
  );

  let swapped = false;
  api.beforeExec = (_s, cmds) => {
    if (swapped || cmds[0] !== "cat" || cmds[1] !== `/proc/${pid}/stat`) return;
    swapped = true;
    writeFileSync(path.join(repo, LOOP, "events.jsonl"), finalEvents);
    writeFileSync(path.join(repo, ".superloop/state.json"), finalState);
    rmSync(path.join(repo, ".superloop/active-run.json"));
  };
  api.create("race-1", { dir: repo });
  const reg = await gql(server.url, `mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { ... on RegisterSpritePayload { run { id } } ... on Error { message } } }`, {
    i: { name: "race-1", transport: "SPRITES_API", repoPath: repo, loopId: "demo-loop", spritesApiTokenEnv: "TEST_EXIT_RACE_SPRITES_TOKEN" },
  });
  const id = reg.data?.registerSprite?.run?.id as string;
  expect(id, JSON.stringify(reg)).toBeTruthy();

  const deadline = Date.now() + 20_000;
  let run: { state: string; stateReason: string; transitions: { edges: { node: { to: string; reason: string } }[] } } | null = null;
  for (;;) {
    const r = await gql(server.url, `query($id: ID!) { node(id: $id) { ... on Run { state stateReason transitions(first: 50) { edges { node { to reason } } } } } }`, { id });
    if (!r.data) throw new Error(JSON.stringify(r.errors));
    run = r.data.node as typeof run;
    if (run!.state === "COMPLETE" || run!.state === "FAILED" || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  api.beforeExec = null;
  expect(swapped).toBe(true);
  expect(run).toMatchObject({ state: "COMPLETE", stateReason: "completed" });
  expect(run!.transitions.edges.map((e) => `${e.node.to}/${e.node.reason}`)).not.toContain("FAILED/killed");
}, 40_000);
