import { promises as fsp } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createAgentServer, type AgentServer } from "../../agent/agent-server";
import { call, writeRecordingStub } from "./agent-client";
import { LOOP, cleanupTempDirs, contractRoot, copyRecording, eventLine, eventsPath, expectValidEnvelope, makeTempDir, readLines, type Recording } from "./helpers";

afterAll(cleanupTempDirs);

const running: AgentServer[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((agent) => agent.close()));
});

async function startAgent(opts: { recording?: Recording; token?: string | null; stateDir?: string; repo?: string; superloopBin?: string; maxWaitMs?: number } = {}) {
  const repo = opts.repo ?? (await copyRecording(opts.recording ?? "approval"));
  const stub = await writeRecordingStub();
  const stateDir = opts.stateDir ?? (await makeTempDir("state-"));
  const agent = createAgentServer({
    repoPath: repo,
    token: opts.token === undefined ? null : opts.token,
    port: 0,
    stateDir,
    superloopBin: opts.superloopBin ?? stub.bin,
    ...(opts.maxWaitMs !== undefined ? { maxWaitMs: opts.maxWaitMs } : {}),
  });
  running.push(agent);
  const { port } = await agent.listen();
  return { agent, repo, stub, stateDir, base: `http://127.0.0.1:${port}` };
}

describe("agent: auth", () => {
  it("401 with exactly the reference body; Bearer and X-Ops-Token accepted; /healthz open", async () => {
    const { base } = await startAgent({ token: "s3cret-token" });
    const reference = JSON.parse(await fsp.readFile(path.join(contractRoot, "unauthorized-response.json"), "utf8")) as unknown;
    const attempts: Array<Record<string, string>> = [{}, { authorization: "Bearer wrong" }, { "x-ops-token": "s3cret-toke" }, { authorization: "Basic s3cret-token" }];
    for (const headers of attempts) {
      const res = await call(base, `/ops/snapshot?loopId=${LOOP}`, { headers });
      expect(res.status).toBe(401);
      expect(res.body).toEqual(reference);
    }
    const unauthorizedControl = await call(base, "/ops/control", { body: { loopId: LOOP, intent: "cancel" } });
    expect(unauthorizedControl.status).toBe(401);
    expect((await call(base, `/ops/snapshot?loopId=${LOOP}`, { headers: { authorization: "Bearer s3cret-token" } })).status).toBe(200);
    expect((await call(base, `/ops/snapshot?loopId=${LOOP}`, { headers: { authorization: "bearer s3cret-token" } })).status).toBe(200);
    expect((await call(base, `/ops/events?loopId=${LOOP}`, { headers: { "x-ops-token": "s3cret-token" } })).status).toBe(200);
    expect(await call(base, "/healthz")).toMatchObject({ status: 200, body: { ok: true } });
  });

  it("no token configured = open; OPS_AGENT_TOKEN is the default", async () => {
    const open = await startAgent();
    expect((await call(open.base, `/ops/snapshot?loopId=${LOOP}`)).status).toBe(200);
    process.env["OPS_AGENT_TOKEN"] = "from-env";
    try {
      const repo = await copyRecording("approval");
      const agent = createAgentServer({ repoPath: repo, port: 0 });
      running.push(agent);
      const { port } = await agent.listen();
      expect((await call(`http://127.0.0.1:${port}`, `/ops/snapshot?loopId=${LOOP}`)).status).toBe(401);
      expect((await call(`http://127.0.0.1:${port}`, `/ops/snapshot?loopId=${LOOP}`, { headers: { "x-ops-token": "from-env" } })).status).toBe(200);
    } finally {
      delete process.env["OPS_AGENT_TOKEN"];
    }
  });
});

describe("agent: GET /ops/snapshot", () => {
  it("returns the v1 snapshot with the request's trace id", async () => {
    const { base, repo } = await startAgent({ recording: "maxiter" });
    const res = await call(base, `/ops/snapshot?loopId=${LOOP}`, { headers: { "x-trace-id": "trace-abc" } });
    expect(res.status).toBe(200);
    await expectValidEnvelope(res.body);
    expect(res.body).toMatchObject({ envelopeType: "loop_run_snapshot", traceId: "trace-abc", source: { repoPath: repo, loopId: LOOP }, run: { status: "stopped" } });
  });

  it("error statuses: 400 bad request, 404 unknown loop, 422 invalid artifact", async () => {
    const { base, repo } = await startAgent();
    expect(await call(base, "/ops/snapshot")).toMatchObject({ status: 400, body: { ok: false, error: { code: "invalid_request" } } });
    expect(await call(base, `/ops/snapshot?loopId=${encodeURIComponent("../../etc")}`)).toMatchObject({ status: 400, body: { ok: false, error: { code: "invalid_loop_id" } } });
    expect(await call(base, "/ops/snapshot?loopId=..")).toMatchObject({ status: 400, body: { error: { code: "invalid_loop_id" } } });
    expect(await call(base, "/ops/snapshot?loopId=nope", { headers: { "x-trace-id": "t-404" } })).toMatchObject({
      status: 404,
      body: { ok: false, error: { code: "artifact_root_missing" }, traceId: "t-404" },
    });
    await fsp.writeFile(path.join(repo, ".superloop/state.json"), "{");
    const invalid = await call(base, `/ops/snapshot?loopId=${LOOP}`);
    expect(invalid).toMatchObject({ status: 422, body: { ok: false, error: { code: "invalid_json" } } });
    expect((invalid.body["error"] as { message: string }).message).toContain(".superloop/state.json");
    await fsp.rm(eventsPath(repo));
    expect(await call(base, `/ops/snapshot?loopId=${LOOP}`)).toMatchObject({ status: 404, body: { error: { code: "events_missing" } } });
  });
});

describe("agent: GET /ops/events", () => {
  it("old clients (cursor + maxEvents) and new ones (byteOffset + lastLineHash) page through without gaps", async () => {
    const { base, repo } = await startAgent({ recording: "rejected" });
    const all = await readLines(eventsPath(repo));
    const first = await call(base, `/ops/events?loopId=${LOOP}&cursor=0&maxEvents=20`, { headers: { "x-trace-id": "tr-1" } });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ ok: true, schemaVersion: "v1", traceId: "tr-1", source: { repoPath: repo, loopId: LOOP }, hasMore: true });
    const events = first.body["events"] as Array<{ traceId: string; sequence: { value: number }; event: { raw: unknown } }>;
    expect(events).toHaveLength(20);
    for (const event of events) {
      await expectValidEnvelope(event);
      expect(event.traceId).toBe("tr-1");
    }
    const cursor = first.body["cursor"] as { eventLineOffset: number; eventLineCount: number; byteOffset: number; lastLineHash: string; pendingBytes: number; updatedAt: string };
    expect(Object.keys(cursor).sort()).toEqual(["byteOffset", "eventLineCount", "eventLineOffset", "lastLineHash", "pendingBytes", "updatedAt"]);
    expect(cursor).toMatchObject({ eventLineOffset: 20, eventLineCount: 54, pendingBytes: 0 });

    // Old client: only the line number.
    const old = await call(base, `/ops/events?loopId=${LOOP}&cursor=${cursor.eventLineOffset}&maxEvents=20`);
    const oldEvents = old.body["events"] as Array<{ sequence: { value: number } }>;
    expect(oldEvents.map((e) => e.sequence.value)).toEqual(Array.from({ length: 20 }, (_, i) => 21 + i));
    expect(old.body).not.toHaveProperty("traceId");

    // New client: feeds cursor, byteOffset, lastLineHash back.
    const nextCursor = old.body["cursor"] as typeof cursor;
    const rest = await call(base, `/ops/events?loopId=${LOOP}&cursor=${nextCursor.eventLineOffset}&byteOffset=${nextCursor.byteOffset}&lastLineHash=${nextCursor.lastLineHash}`);
    const restEvents = rest.body["events"] as Array<{ sequence: { value: number }; event: { raw: unknown } }>;
    expect(restEvents.map((e) => e.sequence.value)).toEqual(Array.from({ length: 14 }, (_, i) => 41 + i));
    expect(rest.body["hasMore"]).toBe(false);
    expect(restEvents.map((e) => e.event.raw)).toEqual(all.slice(40).map((line) => JSON.parse(line) as unknown));
  });

  it("a loop that never ran: empty page, eventsFileExists false", async () => {
    const { base } = await startAgent();
    const res = await call(base, "/ops/events?loopId=fresh-loop&cursor=0");
    expect(res).toMatchObject({ status: 200, body: { ok: true, events: [], eventsFileExists: false, cursor: { eventLineOffset: 0, byteOffset: 0, lastLineHash: null } } });
  });

  it("409 on a fork (with both positions) and on a cursor beyond the end", async () => {
    const { base, repo } = await startAgent({ recording: "complete" });
    const page = await call(base, `/ops/events?loopId=${LOOP}&cursor=0`);
    const cursor = page.body["cursor"] as { eventLineOffset: number; byteOffset: number; lastLineHash: string };
    await fsp.writeFile(eventsPath(repo), `${eventLine({ event: "loop_start" })}\n`);
    const fork = await call(base, `/ops/events?loopId=${LOOP}&cursor=${cursor.eventLineOffset}&byteOffset=${cursor.byteOffset}&lastLineHash=${cursor.lastLineHash}`);
    expect(fork).toMatchObject({ status: 409, body: { ok: false, error: { code: "cursor_fork", details: { expected: { line: 26, byteOffset: cursor.byteOffset }, actual: {} } } } });
    expect(await call(base, `/ops/events?loopId=${LOOP}&cursor=99`)).toMatchObject({ status: 409, body: { error: { code: "cursor_beyond_end" } } });
  });

  it("a bad first line → 422 with its line number; good lines before it → 200 with `error`", async () => {
    const { base, repo } = await startAgent({ recording: "failure" });
    await fsp.appendFile(eventsPath(repo), '{"event":"no timestamp"}\n');
    const partial = await call(base, `/ops/events?loopId=${LOOP}&cursor=0`);
    expect(partial.status).toBe(200);
    expect((partial.body["events"] as unknown[]).length).toBe(3);
    expect(partial.body).toMatchObject({ ok: true, error: { code: "invalid_event", line: 4 }, cursor: { eventLineOffset: 3 } });
    const blocked = await call(base, `/ops/events?loopId=${LOOP}&cursor=3`);
    expect(blocked).toMatchObject({ status: 422, body: { ok: false, error: { code: "invalid_event", line: 4 } } });
    expect((blocked.body["error"] as { message: string }).message).toMatch(/line 4/);
  });

  it("400 for malformed query parameters", async () => {
    const { base } = await startAgent();
    for (const query of ["cursor=-1", "cursor=abc", "maxEvents=1.5", `lastLineHash=${"a".repeat(64)}`, "byteOffset=1&cursor=1&lastLineHash=xyz", "waitMs=-5"]) {
      const res = await call(base, `/ops/events?loopId=${LOOP}&${query}`);
      expect(res.status, query).toBe(400);
      expect(res.body).toMatchObject({ ok: false, error: { code: "invalid_request" } });
    }
  });

  it("long poll: answers as soon as a line lands, or when waitMs expires", async () => {
    const { base, repo } = await startAgent({ recording: "failure" });
    const tail = await call(base, `/ops/events?loopId=${LOOP}&cursor=0`);
    const cursor = tail.body["cursor"] as { eventLineOffset: number; byteOffset: number; lastLineHash: string };
    const q = `/ops/events?loopId=${LOOP}&cursor=${cursor.eventLineOffset}&byteOffset=${cursor.byteOffset}&lastLineHash=${cursor.lastLineHash}`;

    const expired = await call(base, `${q}&waitMs=300`);
    expect(expired.status).toBe(200);
    expect(expired.body["events"]).toEqual([]);
    expect(expired.ms).toBeGreaterThanOrEqual(250);

    const pending = call(base, `${q}&waitMs=10000`);
    await new Promise((resolve) => setTimeout(resolve, 150));
    await fsp.appendFile(eventsPath(repo), '{"timestamp":"2026-11-24T07:00:00Z","event":"role_e'); // half a line: keep waiting
    await new Promise((resolve) => setTimeout(resolve, 150));
    await fsp.appendFile(eventsPath(repo), 'nd","run_id":"r","iteration":1}\n');
    const res = await pending;
    expect(res.ms).toBeLessThan(3000);
    const events = res.body["events"] as Array<{ sequence: { value: number }; event: { name: string } }>;
    expect(events.map((e) => [e.sequence.value, e.event.name])).toEqual([[4, "role_end"]]);
  });

  it("waitMs is capped", async () => {
    const { base } = await startAgent({ recording: "failure", maxWaitMs: 200 });
    const res = await call(base, `/ops/events?loopId=${LOOP}&cursor=3&waitMs=60000`);
    expect(res.status).toBe(200);
    expect(res.ms).toBeLessThan(2000);
  });
});

describe("agent: POST /ops/control", () => {
  it("runs the intent and answers {ok, intent, result, replayed, traceId}", async () => {
    const { base, repo, stub } = await startAgent();
    const res = await call(base, "/ops/control", { body: { loopId: LOOP, intent: "approve", by: "alice", note: "lgtm" }, headers: { "x-trace-id": "trace-ctl" } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true, intent: "approve", replayed: false, traceId: "trace-ctl", result: { ok: true, exitCode: 0 } });
    expect(await stub.calls()).toEqual([["approve", "--repo", repo, "--loop", LOOP, "--by", "alice", "--note", "lgtm"]]);
  });

  it("an idempotency key (body or header) replays the stored response and never re-executes, even concurrently and after a restart", async () => {
    const stateDir = await makeTempDir("state-");
    const first = await startAgent({ stateDir });
    const body = { loopId: LOOP, intent: "reject", by: "bob", note: "SLOW", idempotencyKey: "key-1" };
    const responses = await Promise.all(Array.from({ length: 5 }, () => call(first.base, "/ops/control", { body })));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(responses.filter((r) => r.body["replayed"] === false)).toHaveLength(1);
    expect(responses.filter((r) => r.body["replayed"] === true)).toHaveLength(4);
    expect(await first.stub.calls()).toHaveLength(1);
    const original = responses.find((r) => r.body["replayed"] === false)!.body;

    const viaHeader = await call(first.base, "/ops/control", { body: { loopId: LOOP, intent: "cancel" }, headers: { "idempotency-key": "key-2" } });
    const viaHeaderAgain = await call(first.base, "/ops/control", { body: { loopId: LOOP, intent: "cancel" }, headers: { "idempotency-key": "key-2", "x-trace-id": "second" } });
    expect(viaHeaderAgain.body).toMatchObject({ replayed: true, traceId: "second", result: viaHeader.body["result"] });
    expect(await first.stub.calls()).toHaveLength(2);

    await first.agent.close();
    const second = await startAgent({ stateDir, repo: first.repo, superloopBin: first.stub.bin });
    const replay = await call(second.base, "/ops/control", { body });
    expect(replay.status).toBe(200);
    expect(replay.body).toMatchObject({ replayed: true, result: original["result"] });
    expect(await first.stub.calls()).toHaveLength(2);

    const conflict = await call(second.base, "/ops/control", { body: { ...body, intent: "approve" } });
    expect(conflict).toMatchObject({ status: 409, body: { ok: false, error: { code: "idempotency_key_conflict" } } });
  });

  it("a failed command is stored and replayed as a failure, with a 500", async () => {
    const { base, stub } = await startAgent();
    const body = { loopId: LOOP, intent: "approve", note: "FAIL", idempotencyKey: "k-fail" };
    const res = await call(base, "/ops/control", { body });
    expect(res).toMatchObject({ status: 500, body: { ok: false, intent: "approve", replayed: false, result: { ok: false, exitCode: 1 }, error: { code: "control_failed" } } });
    const again = await call(base, "/ops/control", { body });
    expect(again).toMatchObject({ status: 500, body: { ok: false, replayed: true } });
    expect(await stub.calls()).toHaveLength(1);
  });

  it("no active run for pause → 409", async () => {
    const { base } = await startAgent();
    expect(await call(base, "/ops/control", { body: { loopId: LOOP, intent: "pause" } })).toMatchObject({ status: 409, body: { ok: false, error: { code: "no_active_run" } } });
  });

  it("bad requests: unsupported intent, bad JSON, bad loop id, too large, unknown route, wrong method", async () => {
    const { base, stub } = await startAgent();
    expect(await call(base, "/ops/control", { body: { loopId: LOOP, intent: "rm -rf" } })).toMatchObject({ status: 400, body: { error: { code: "unsupported_intent" } } });
    expect(await call(base, "/ops/control", { rawBody: "{nope", method: "POST" })).toMatchObject({ status: 400, body: { error: { code: "invalid_json" } } });
    expect(await call(base, "/ops/control", { body: [1] })).toMatchObject({ status: 400, body: { error: { code: "invalid_request" } } });
    expect(await call(base, "/ops/control", { body: { loopId: "a/../../b", intent: "cancel" } })).toMatchObject({ status: 400, body: { error: { code: "invalid_loop_id" } } });
    expect(await call(base, "/ops/control", { body: { intent: "cancel" } })).toMatchObject({ status: 400, body: { error: { code: "invalid_request" } } });
    expect(await call(base, "/ops/control", { body: { loopId: LOOP, intent: "approve", by: "--reject" } })).toMatchObject({ status: 400, body: { error: { code: "invalid_request" } } });
    expect(await call(base, "/ops/control", { body: { loopId: LOOP, intent: "cancel", note: "x".repeat(70_000) } })).toMatchObject({ status: 413 });
    expect(await call(base, "/ops/nothing")).toMatchObject({ status: 404, body: { ok: false, error: { code: "not_found" } } });
    expect(await call(base, "/ops/control")).toMatchObject({ status: 405 });
    expect(await call(base, "/ops/snapshot?loopId=x", { method: "DELETE" })).toMatchObject({ status: 405 });
    expect(await call(base, `/ops/snapshot?loopId=${LOOP}`, { headers: { "x-trace-id": "x".repeat(300) } })).toMatchObject({ status: 400 });
    expect(await stub.calls()).toHaveLength(0);
    expect(await call(base, "/healthz")).toMatchObject({ status: 200 });
  });
});
