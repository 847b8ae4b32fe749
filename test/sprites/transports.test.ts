import { spawn } from "node:child_process";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAgentServer, readEventsAfter, readRuntimeFacts, type AgentServer, type EventCursor, type EventsPage } from "../../agent";
import { httpRequest, sendWithRetry } from "../../src/transports/http";
import { SpritesApiTransport } from "../../src/transports/sprites-api";
import { SpriteServiceTransport } from "../../src/transports/sprite-service";
import { TransportError, type RunTarget, type Transport } from "../../src/transports/transport";
import { writeRecordingStub } from "../agent/agent-client";
import { startFakeSpritesApi, type FakeSpritesApi } from "../support/fake-sprites-api";
import { eventsPath, FIXTURES, repoFromRecording } from "../support/fixtures";
import { startFaultProxy, type FaultProxy } from "./support/fault-proxy";

// Each remote transport against a real counterpart on loopback: the adapters' agent for sprite_service, the
// fake Sprites API (real exec of stat/dd/cat/kill) for sprites_api. The local reader is the reference.

const FAST = { connectTimeoutMs: 1000, requestTimeoutMs: 3000, retry: { attempts: 3, baseDelayMs: 20, maxDelayMs: 200 } };
const strip = (page: EventsPage) => ({ ...page, envelopes: page.envelopes.map((e) => ({ ...e, emittedAt: "-" })), cursor: { ...page.cursor, mtimeMs: 0, fileSize: 0, pendingBytes: 0 } });
const target = (repo: string, runId = "r1"): RunTarget => ({ runId, spriteName: "s", repoPath: repo, loopId: "demo-loop" });
const approvedCompleteTail = () => {
  const a = readFileSync(path.join(FIXTURES, "approval/.superloop/loops/demo-loop/events.jsonl"), "utf8").split("\n").filter(Boolean);
  const b = readFileSync(path.join(FIXTURES, "approved-complete/.superloop/loops/demo-loop/events.jsonl"), "utf8").split("\n").filter(Boolean);
  expect(b.slice(0, a.length)).toEqual(a);
  return b.slice(a.length);
};

async function readAll(t: Transport, tg: RunTarget, from: EventCursor, limit = 5): Promise<{ pages: EventsPage[]; end: EventCursor }> {
  const pages: EventsPage[] = [];
  let cursor = from;
  for (;;) {
    const page = await t.readEvents(tg, cursor, limit);
    pages.push(page);
    cursor = { line: page.cursor.line, byteOffset: page.cursor.byteOffset, lastLineHash: page.cursor.lastLineHash };
    if (!page.hasMore || page.error) return { pages, end: cursor };
  }
}

async function localAll(repo: string, from: EventCursor, limit = 5) {
  const pages: EventsPage[] = [];
  let cursor = from;
  for (;;) {
    const page = await readEventsAfter({ repoPath: repo, loopId: "demo-loop", cursor, limit });
    pages.push(page);
    cursor = { line: page.cursor.line, byteOffset: page.cursor.byteOffset, lastLineHash: page.cursor.lastLineHash };
    if (!page.hasMore || page.error) return { pages, end: cursor };
  }
}

describe("sprites_api transport against the fake Sprites API", () => {
  let api: FakeSpritesApi;
  beforeAll(async () => {
    api = await startFakeSpritesApi();
    process.env.TEST_SPRITES_TOKEN = api.token;
    process.env.TEST_WRONG_TOKEN = "nope";
  });
  afterAll(() => api.close());
  const transport = (name: string, tokenEnv = "TEST_SPRITES_TOKEN", bin = "superloop.sh") => new SpritesApiTransport({ baseUrl: api.url, spriteName: name, tokenEnv, superloopBin: bin, ...FAST });

  it("maps status, 404 to MISSING, and a wrong or missing token to unauthorized / token_missing", async () => {
    api.create("st-1", { status: "warm" });
    expect(await transport("st-1").spriteStatus()).toEqual({ status: "WARM", labels: [] });
    expect((await transport("st-missing").spriteStatus()).status).toBe("MISSING");
    await expect(transport("st-1", "TEST_WRONG_TOKEN").spriteStatus()).rejects.toMatchObject({ code: "unauthorized" });
    await expect(transport("st-1", "TEST_NOT_SET").spriteStatus()).rejects.toMatchObject({ code: "token_missing", message: expect.stringContaining("TEST_NOT_SET") });
  });

  it("retries 429 honouring Retry-After, and gives up on a persistent 500 with its status and size (never the peer's text)", async () => {
    const s = api.create("st-2");
    s.failNext = { status: 429, count: 1, retryAfterSec: 0 };
    expect((await transport("st-2").spriteStatus()).status).toBe("RUNNING");
    s.failAlways = { status: 500, body: '{"error":"database on fire"}' };
    const err = await transport("st-2")
      .spriteStatus()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TransportError);
    // issue 13: a peer's words never reach viewer-readable fields; the status and the body's size do
    expect((err as TransportError).message).toMatch(/HTTP 500 \(\d+ bytes\)/);
    expect((err as TransportError).message).not.toContain("database on fire");
    s.failAlways = null;
  });

  it("reads events from byte offsets with the same envelopes as the local reader, then appends, then a fork", async () => {
    const repo = repoFromRecording("approval");
    api.create("ev-1", { dir: repo });
    const t = transport("ev-1");
    const zero = { line: 0, byteOffset: 0, lastLineHash: null };
    const remote = await readAll(t, target(repo), zero);
    const local = await localAll(repo, zero);
    expect(remote.pages.map(strip)).toEqual(local.pages.map(strip));
    for (const line of approvedCompleteTail()) appendFileSync(eventsPath(repo), line + "\n");
    const r2 = await readAll(t, target(repo), remote.end);
    const l2 = await localAll(repo, local.end);
    expect(r2.pages.map(strip)).toEqual(l2.pages.map(strip));
    expect(r2.end.line).toBeGreaterThan(remote.end.line);
    // the exec reads never fetched the whole log
    expect(api.log.filter((l) => l.includes("/fs/read") && l.includes("events"))).toEqual([]);

    // rewrite the last ingested line: a fork, named like the local reader names it
    const text = readFileSync(eventsPath(repo), "utf8");
    writeFileSync(eventsPath(repo), text.replace(/"loop_complete"/, '"loop_kompleet"'));
    const fork = await t.readEvents(target(repo), r2.end, 10).catch((e: unknown) => e);
    const localFork = await readEventsAfter({ repoPath: repo, loopId: "demo-loop", cursor: r2.end, limit: 10 }).catch((e: unknown) => e);
    expect(fork).toMatchObject({ code: "cursor_fork", message: (localFork as Error).message });
  });

  it("reads facts equal to the local reader's, waking a hibernated Sprite (slowly) on the way", async () => {
    const repo = repoFromRecording("approval");
    api.create("facts-1", { dir: repo });
    api.hibernate("facts-1", 300);
    const t = transport("facts-1");
    expect((await t.spriteStatus()).status).toBe("COLD");
    const started = Date.now();
    await t.fingerprint(target(repo));
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(await t.readFacts(target(repo))).toEqual(await readRuntimeFacts({ repoPath: repo, loopId: "demo-loop" }));
  });

  it("an exec answer without an exit frame is an error, never a success", async () => {
    const repo = repoFromRecording("complete");
    const s = api.create("noexit", { dir: repo, dropExitFrame: true });
    await expect(transport("noexit").fingerprint(target(repo))).rejects.toMatchObject({ code: "exec_incomplete" });
    s.dropExitFrame = false;
  });

  it("control: the superloop argv runs in the Sprite; pause/resume signal the run's process group", async () => {
    const repo = repoFromRecording("approval");
    api.create("ctl-1", { dir: repo });
    const stub = await writeRecordingStub();
    const t = transport("ctl-1", "TEST_SPRITES_TOKEN", stub.bin);
    const ok = await t.control(target(repo), { intent: "approve", by: "alice", note: "fine", idempotencyKey: "k1", traceId: "t1" });
    expect(ok).toMatchObject({ ok: true, exitCode: 0, argv: [stub.bin, "approve", "--repo", repo, "--loop", "demo-loop", "--by", "alice", "--note", "fine"] });
    const bad = await t.control(target(repo), { intent: "reject", by: "bob", note: "FAIL", idempotencyKey: "k2", traceId: "t2" });
    expect(bad).toMatchObject({ ok: false, exitCode: 1, error: { code: "control_failed" } });
    expect(await stub.calls()).toHaveLength(2);

    // a process group that is not the run (a reused pid, a forged file): never signalled
    const other = spawn("sleep", ["30"], { detached: true, stdio: "ignore" });
    writeFileSync(path.join(repo, ".superloop", "active-run.json"), JSON.stringify({ repo, pid: other.pid, pgid: other.pid, loop_id: "demo-loop", iteration: 1, stage: "planner" }));
    try {
      const refused = await t.control(target(repo), { intent: "pause", by: "a", idempotencyKey: "k5", traceId: "t5" });
      expect(refused).toMatchObject({ ok: false, error: { code: "control_failed" } });
      expect(refused.error?.message).toMatch(/not this repo's superloop run/);
      expect(readFileSync(`/proc/${other.pid}/stat`, "utf8").split(") ")[1][0]).not.toBe("T");
      expect((await t.readFacts(target(repo))).activeRunAlive).toBe(false); // alive, but not the run
    } finally {
      process.kill(-other.pid!, "SIGKILL");
    }

    // the run: a group whose leader's command line is `... run --repo <repo>` (a shell that stays the leader)
    const sleeper = spawn("sh", ["-c", "sleep 30; :", "superloop.sh", "run", "--repo", repo, "--loop", "demo-loop"], { detached: true, stdio: "ignore" });
    const pid = sleeper.pid!;
    writeFileSync(path.join(repo, ".superloop", "active-run.json"), JSON.stringify({ repo, pid, pgid: pid, loop_id: "demo-loop", iteration: 1, stage: "planner" }));
    try {
      expect(await t.control(target(repo), { intent: "pause", by: "a", idempotencyKey: "k3", traceId: "t3" })).toMatchObject({ ok: true, verified: { processStopped: true } });
      expect((await t.readFacts(target(repo))).processStopped).toBe(true);
      expect(await t.control(target(repo), { intent: "resume", by: "a", idempotencyKey: "k4", traceId: "t4" })).toMatchObject({ ok: true, verified: { processStopped: false } });
    } finally {
      process.kill(-pid, "SIGKILL");
    }
  });
});

describe("sprite_service transport against the real agent", () => {
  let agent: AgentServer;
  let proxy: FaultProxy;
  let repo: string;
  let stub: Awaited<ReturnType<typeof writeRecordingStub>>;
  beforeAll(async () => {
    repo = repoFromRecording("approval");
    stub = await writeRecordingStub();
    agent = createAgentServer({ repoPath: repo, token: "agent-secret", port: 0, superloopBin: stub.bin, maxWaitMs: 5000 });
    const { port } = await agent.listen();
    proxy = await startFaultProxy(`http://127.0.0.1:${port}`);
    process.env.TEST_AGENT_TOKEN = "agent-secret";
  });
  afterAll(async () => {
    await proxy.close();
    await agent.close();
  });
  const transport = (tokenEnv = "TEST_AGENT_TOKEN", extra: Partial<ConstructorParameters<typeof SpriteServiceTransport>[0]> = {}) =>
    new SpriteServiceTransport({ agentUrl: proxy.url, tokenEnv, ...FAST, ...extra });

  it("events and facts equal the local reader's", async () => {
    proxy.fault = { kind: "pass" };
    const t = transport();
    const zero = { line: 0, byteOffset: 0, lastLineHash: null };
    expect((await readAll(t, target(repo), zero)).pages.map(strip)).toEqual((await localAll(repo, zero)).pages.map(strip));
    expect(await t.readFacts(target(repo))).toEqual(await readRuntimeFacts({ repoPath: repo, loopId: "demo-loop" }));
    expect(await t.spriteStatus()).toEqual({ status: "RUNNING" });
  });

  it("401, missing token variable, garbage, wrong version, wrong loop id, timeouts, 503 with Retry-After", async () => {
    const zero = { line: 0, byteOffset: 0, lastLineHash: null };
    process.env.TEST_AGENT_WRONG = "wrong";
    await expect(transport("TEST_AGENT_WRONG").readFacts(target(repo))).rejects.toMatchObject({ code: "unauthorized" });
    await expect(transport("TEST_AGENT_UNSET").readFacts(target(repo))).rejects.toMatchObject({ code: "token_missing" });
    proxy.fault = { kind: "garbage" };
    await expect(transport().readEvents(target(repo), zero, 10)).rejects.toMatchObject({ code: "invalid_payload" });
    proxy.fault = { kind: "rewrite", fn: (b) => ({ ...b, events: (b.events as Record<string, unknown>[]).map((e) => ({ ...e, schemaVersion: "v2" })) }) };
    await expect(transport().readEvents(target(repo), zero, 10)).rejects.toMatchObject({ code: "invalid_payload", message: expect.stringContaining("schemaVersion") });
    proxy.fault = { kind: "rewrite", fn: (b) => ({ ...b, source: { repoPath: repo, loopId: "other-loop" } }) };
    await expect(transport().readFacts(target(repo))).rejects.toMatchObject({ code: "invalid_payload", message: expect.stringContaining("other-loop") });
    proxy.fault = { kind: "delay", ms: 1500 };
    await expect(transport("TEST_AGENT_TOKEN", { requestTimeoutMs: 300, retry: { attempts: 1, baseDelayMs: 1, maxDelayMs: 1 } }).readFacts(target(repo))).rejects.toMatchObject({ code: "timeout" });
    proxy.fault = { kind: "status", status: 503, retryAfterSec: 0, times: 2 };
    expect((await transport().readFacts(target(repo))).approval?.status).toBe("pending");
    proxy.fault = { kind: "reset" };
    expect((await transport().spriteStatus()).status).toBe("UNREACHABLE");
    proxy.fault = { kind: "pass" };
  });

  it("control sends Idempotency-Key and X-Trace-Id; a retried POST runs once (the agent dedupes)", async () => {
    proxy.fault = { kind: "status", status: 503, times: 1 };
    const before = (await stub.calls()).length;
    const result = await transport().control(target(repo), { intent: "approve", by: "ops", idempotencyKey: "idem-1", traceId: "trace-1" });
    expect(result).toMatchObject({ ok: true, intent: "approve" });
    const again = await transport().control(target(repo), { intent: "approve", by: "ops", idempotencyKey: "idem-1", traceId: "trace-2" });
    expect(again).toEqual(result);
    expect((await stub.calls()).length - before).toBe(1);
    const posts = proxy.seen.filter((s) => s.method === "POST");
    expect(posts.slice(-3).map((p) => [p.idempotencyKey, p.traceId])).toEqual([
      ["idem-1", "trace-1"],
      ["idem-1", "trace-1"],
      ["idem-1", "trace-2"],
    ]);
  });

  it("watch() long-polls and fires when a line lands", async () => {
    proxy.fault = { kind: "pass" };
    const t = transport();
    const tg = target(repo, "watch-run");
    await readAll(t, tg, { line: 0, byteOffset: 0, lastLineHash: null }, 1000);
    let fired = 0;
    const stop = t.watch(tg, () => fired++);
    try {
      await new Promise((r) => setTimeout(r, 400));
      expect(fired).toBe(0);
      appendFileSync(eventsPath(repo), JSON.stringify({ timestamp: "2026-11-24T10:00:00Z", event: "loop_start", loop_id: "demo-loop", run_id: "x", iteration: 1 }) + "\n");
      const deadline = Date.now() + 3000;
      while (fired === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(fired).toBe(1);
    } finally {
      stop();
    }
  });
});

describe("http client", () => {
  it("connect errors are never-sent (safe to retry); a non-replayable request is not retried after it may have arrived", async () => {
    const err = await httpRequest({ url: new URL("http://127.0.0.1:1/x"), connectTimeoutMs: 500, totalTimeoutMs: 1000 }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "unreachable", details: { sent: false } });
    const stubServer = await startFaultProxy("http://127.0.0.1:1");
    stubServer.fault = { kind: "reset" };
    await expect(
      sendWithRetry(
        { url: new URL(stubServer.url + "/ops/control"), method: "POST", body: "{}", connectTimeoutMs: 500, totalTimeoutMs: 1000 },
        { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 },
        { replayable: false },
      ),
    ).rejects.toBeInstanceOf(TransportError);
    expect(stubServer.seen).toHaveLength(1);
    await stubServer.close();
  });
});
