import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentServer } from "../../agent";
import { supervise, supervisorRecordPath } from "../../agent/supervise";
import { SupervisorRecordSchema } from "../../src/contract";
import { SpritesApiTransport } from "../../src/transports/sprites-api";
import { SpriteServiceTransport } from "../../src/transports/sprite-service";
import type { ControlRequest, RunTarget } from "../../src/transports/transport";
import { startFakeSpritesApi, type FakeSpritesApi } from "../support/fake-sprites-api";

// Runs that survive hibernation (docs/sprites.md): a START through a remote transport runs the loop under the
// supervisor, which holds a Sprites Task while the loop lives; without it the fake's Sprite goes warm under the
// run and freezes it. The test never calls the API while it waits (that would be activity): it reads the
// Sprite's files from disk.

const SIM = path.resolve(import.meta.dirname, "../../bin/superloop-sim.mjs");
const IDLE_MS = 1200;
const FAST = { connectTimeoutMs: 2000, requestTimeoutMs: 10_000, retry: { attempts: 2, baseDelayMs: 20, maxDelayMs: 100 } };
const START: ControlRequest = { intent: "start", by: "test", idempotencyKey: "k", traceId: "t" };

/** A repo whose loop takes about `iterations` × 1.1 s at 200 ms per event, then completes. */
function simRepo(iterations: number): string {
  const repo = realpathSync(mkdtempSync(path.join(tmpdir(), "sup-repo-")));
  mkdirSync(path.join(repo, ".superloop"), { recursive: true });
  writeFileSync(
    path.join(repo, ".superloop", "config.json"),
    JSON.stringify({ loops: [{ id: "demo-loop", max_iterations: iterations + 1, simulator: { step_ms: 200, pass_on_iteration: iterations, invocations: ["pass"] } }] }),
  );
  return repo;
}

const eventsOf = (repo: string) => {
  const file = path.join(repo, ".superloop/loops/demo-loop/events.jsonl");
  return existsSync(file)
    ? readFileSync(file, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { event: string })
    : [];
};
const recordOf = (repo: string) => {
  const file = supervisorRecordPath(repo, "demo-loop");
  return existsSync(file) ? SupervisorRecordSchema.parse(JSON.parse(readFileSync(file, "utf8"))) : null;
};

async function until<T>(what: string, probe: () => T | null | false | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let api: FakeSpritesApi;
beforeAll(async () => {
  // max_run_after_disconnect far below the run's length: only a launch that escapes exec teardown survives.
  api = await startFakeSpritesApi({ idleMs: IDLE_MS, coldAfterMs: 60_000, maxRunAfterDisconnectMs: 200 });
  process.env.SUP_TEST_TOKEN = api.token;
});
afterAll(() => api.close());

const transport = (name: string, supervise = true) =>
  new SpritesApiTransport({ baseUrl: api.url, spriteName: name, tokenEnv: "SUP_TEST_TOKEN", superloopBin: SIM, nodeBin: process.execPath, supervise, ...FAST });
const target = (repo: string, name: string): RunTarget => ({ runId: name, spriteName: name, repoPath: repo, loopId: "demo-loop" });

describe("START over SPRITES_API with nothing installed in the Sprite", () => {
  it("a supervised run keeps its Sprite running across the idle period, and the Task is released at its end", async () => {
    const repo = simRepo(3);
    const sprite = api.create("sup-1", { dir: repo });
    const result = await transport("sup-1").control(target(repo, "sup-1"), START);
    expect(result).toMatchObject({ ok: true, intent: "start" });
    // The supervisor was written into the Sprite through the fs API, then run.
    expect(api.log.some((l) => l.startsWith("PUT /v1/sprites/sup-1/fs/write"))).toBe(true);
    const started = await until("the supervised run's pid", () => recordOf(repo)?.pid);
    expect(recordOf(repo)).toMatchObject({ status: "running", bootId: sprite.bootId, task: { name: "superloop-demo-loop", held: true } });
    const runStart = Date.now();
    const done = await until("the run's end", () => (recordOf(repo)?.status === "exited" ? recordOf(repo) : null), 30_000);
    expect(Date.now() - runStart).toBeGreaterThan(IDLE_MS * 2); // the run outlived two idle periods...
    expect(sprite.transitions.filter((t) => t.to !== "running")).toEqual([]); // ...without the Sprite sleeping
    expect(eventsOf(repo).at(-1)?.event).toBe("loop_complete");
    expect(done).toMatchObject({ pid: started, exitCode: 0, task: { held: false, released: true } });
    expect(sprite.taskLog).toContain("PUT /v1/tasks/superloop-demo-loop");
    expect(sprite.taskLog.at(-1)).toBe("DELETE /v1/tasks/superloop-demo-loop");
    expect(sprite.tasks.size).toBe(0);
    // With the Task gone and the run over, the Sprite is let go.
    await until("warm after the run", () => sprite.status === "warm", 10_000);
  });

  it("an unsupervised run freezes when its Sprite goes warm", async () => {
    const repo = simRepo(3);
    const sprite = api.create("bare-1", { dir: repo });
    expect(await transport("bare-1", false).control(target(repo, "bare-1"), START)).toMatchObject({ ok: true });
    await until("the run's first events", () => eventsOf(repo).length > 0);
    await until("warm under the run", () => sprite.status === "warm", 10_000);
    const frozenAt = eventsOf(repo).length;
    await new Promise((r) => setTimeout(r, 800));
    expect(eventsOf(repo).length).toBe(frozenAt);
    expect(eventsOf(repo).some((e) => e.event === "loop_complete")).toBe(false);
    expect(recordOf(repo)).toBeNull();
  });
});

describe("START over SPRITE_SERVICE", () => {
  it("the agent launches the run under `superloop-ops-agent supervise`, which takes and releases the Task", async () => {
    const repo = simRepo(1);
    const sprite = api.create("svc-sup-1", { dir: repo, idleMs: 60_000 });
    const agent = createAgentServer({
      repoPath: repo,
      token: "sup-agent",
      port: 0,
      superloopBin: SIM,
      // The agent CLI from source (tsx by absolute URL: the run's cwd is the repo, with no node_modules).
      superviseCommand: [
        process.execPath,
        "--import",
        pathToFileURL(path.resolve(import.meta.dirname, "../../node_modules/tsx/dist/loader.mjs")).href,
        path.resolve(import.meta.dirname, "../../agent/cli.ts"),
        "supervise",
      ],
    });
    const { port } = await agent.listen();
    const previous = process.env.SPRITE_API_SOCK;
    process.env.SPRITE_API_SOCK = sprite.socketPath; // the agent's environment inside that Sprite
    process.env.SUP_AGENT_TOKEN = "sup-agent";
    try {
      const t = new SpriteServiceTransport({ agentUrl: `http://127.0.0.1:${port}`, tokenEnv: "SUP_AGENT_TOKEN", ...FAST });
      const started = await t.control(target(repo, "svc-sup-1"), START);
      expect(started, JSON.stringify(started)).toMatchObject({ ok: true });
      await until("the supervised run's pid", () => recordOf(repo)?.pid);
      const done = await until("the run's end", () => (recordOf(repo)?.status === "exited" ? recordOf(repo) : null), 30_000);
      expect(done).toMatchObject({ exitCode: 0, task: { released: true } });
      expect(sprite.taskLog).toEqual(expect.arrayContaining(["PUT /v1/tasks/superloop-demo-loop", "DELETE /v1/tasks/superloop-demo-loop"]));
      expect((await t.readFacts(target(repo, "svc-sup-1"))).supervisor).toMatchObject({ status: "exited", exitCode: 0, taskReleased: true });
      await t.close?.();
    } finally {
      if (previous === undefined) delete process.env.SPRITE_API_SOCK;
      else process.env.SPRITE_API_SOCK = previous;
      await agent.close();
    }
  });
});

describe("the supervisor itself", () => {
  it("refreshes its Task while the run lives (here every 150 ms), exits with the run's code, and says when it has no Task", async () => {
    const repo = simRepo(1);
    const sprite = api.create("sup-direct", { dir: repo, idleMs: 60_000 });
    const code = await supervise({ repoPath: repo, loopId: "demo-loop", argv: ["sh", "-c", "sleep 1; exit 3"], refreshMs: 150, socketPath: sprite.socketPath });
    expect(code).toBe(3);
    expect(sprite.taskLog.filter((l) => l.startsWith("PUT")).length).toBeGreaterThanOrEqual(4);
    expect(recordOf(repo)).toMatchObject({ status: "exited", exitCode: 3, task: { released: true, error: null } });
    // Outside a Sprite (no Tasks socket) the run still runs; the record says why nothing kept the Sprite awake.
    const code2 = await supervise({ repoPath: repo, loopId: "demo-loop", argv: ["true"], socketPath: path.join(repo, "no.sock") });
    expect(code2).toBe(0);
    expect(recordOf(repo)).toMatchObject({ status: "exited", exitCode: 0, task: { held: false, error: expect.stringContaining("ENOENT") } });
  });
});
