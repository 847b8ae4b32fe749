import { execFile, spawn, type ChildProcess } from "node:child_process";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildAgent } from "../../scripts/build-agent";
import { call, writeRecordingStub } from "./agent-client";
import { LOOP, cleanupTempDirs, contractRoot, copyRecording, eventsPath, expectValidEnvelope, makeTempDir } from "./helpers";

const execFileAsync = promisify(execFile);

// The one-file deploy: build the bundle into a directory with no node_modules anywhere above it, run it with
// plain `node`, and drive every endpoint over HTTP.

let bundle: string;
let bundleBytes: number;
const children: ChildProcess[] = [];

beforeAll(async () => {
  const dir = await makeTempDir("bundle-");
  const built = await buildAgent({ outfile: path.join(dir, "superloop-ops-agent.mjs") });
  bundle = built.outfile;
  bundleBytes = built.bytes;
  await fsp.chmod(bundle, 0o755);
}, 60_000);

afterAll(async () => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  await cleanupTempDirs();
});

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, [bundle, ...args], { env: { ...process.env, ...env }, cwd: path.dirname(bundle) });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("bundled agent (dist/superloop-ops-agent.mjs)", () => {
  it("is one self-contained file", async () => {
    const text = await fsp.readFile(bundle, "utf8");
    expect(text.startsWith("#!/usr/bin/env node\n")).toBe(true);
    expect(text).not.toMatch(/from\s+["']zod["']|require\(["']zod["']\)/);
    const imports = [...text.matchAll(/^import .* from ["']([^"']+)["'];?$/gm)].map((m) => m[1]);
    expect(imports.every((specifier) => specifier.startsWith("node:"))).toBe(true);
    console.log(`agent bundle: ${bundleBytes} bytes`);
    expect(bundleBytes).toBeLessThan(1_500_000);
  });

  it("CLI: snapshot, events, control, usage errors and exit codes", async () => {
    const repo = await copyRecording("approval");
    const stub = await writeRecordingStub();

    const help = await cli(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/Usage:/);

    const snapshot = await cli(["snapshot", "--repo", repo, "--loop", LOOP, "--trace-id", "cli-trace"]);
    expect(snapshot.code).toBe(0);
    const snap = JSON.parse(snapshot.stdout) as Record<string, unknown>;
    await expectValidEnvelope(snap);
    expect(snap).toMatchObject({ traceId: "cli-trace", run: { status: "awaiting_approval" } });

    const events = await cli(["events", "--repo", repo, "--loop", LOOP, "--cursor", "20", "--max", "3"]);
    expect(events.code).toBe(0);
    const page = JSON.parse(events.stdout) as { events: Array<{ sequence: { value: number } }>; cursor: { eventLineOffset: number; byteOffset: number; lastLineHash: string } };
    expect(page.events.map((e) => e.sequence.value)).toEqual([21, 22, 23]);
    const more = await cli([
      "events",
      "--repo",
      repo,
      "--loop",
      LOOP,
      "--cursor",
      String(page.cursor.eventLineOffset),
      "--byte-offset",
      String(page.cursor.byteOffset),
      "--last-line-hash",
      page.cursor.lastLineHash,
    ]);
    expect((JSON.parse(more.stdout) as { events: unknown[] }).events).toHaveLength(3);

    const stateDir = await makeTempDir("cli-state-");
    const control = await cli(["control", "--repo", repo, "--loop", LOOP, "--intent", "approve", "--by", "carol", "--note", "ok", "--key", "cli-1", "--state-dir", stateDir], {
      SUPERLOOP_BIN: stub.bin,
    });
    expect(control.code).toBe(0);
    expect(JSON.parse(control.stdout)).toMatchObject({ ok: true, intent: "approve", replayed: false });
    const replay = await cli(["control", "--repo", repo, "--loop", LOOP, "--intent", "approve", "--by", "carol", "--note", "ok", "--key", "cli-1", "--state-dir", stateDir], {
      SUPERLOOP_BIN: stub.bin,
    });
    expect(JSON.parse(replay.stdout)).toMatchObject({ ok: true, replayed: true });
    expect(await stub.calls()).toEqual([["approve", "--repo", repo, "--loop", LOOP, "--by", "carol", "--note", "ok"]]);

    const unsupported = await cli(["control", "--repo", repo, "--loop", LOOP, "--intent", "nuke"]);
    expect(unsupported.code).toBe(1);
    expect(JSON.parse(unsupported.stdout)).toMatchObject({ ok: false, error: { code: "unsupported_intent" } });
    const missingLoop = await cli(["snapshot", "--repo", repo, "--loop", "ghost"]);
    expect(missingLoop.code).toBe(1);
    expect(JSON.parse(missingLoop.stdout)).toMatchObject({ error: { code: "artifact_root_missing" } });
    await fsp.appendFile(eventsPath(repo), "garbage\n");
    const bad = await cli(["events", "--repo", repo, "--loop", LOOP, "--cursor", "25"]);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout)).toMatchObject({ events: [{ sequence: { value: 26 } }], error: { code: "invalid_json", line: 27 } });

    for (const args of [["snapshot", "--loop", LOOP], ["events", "--repo", repo, "--loop", LOOP, "--cursor", "x"], ["frobnicate"], ["snapshot", "--repo", repo, "--loop", LOOP, "--bogus"], []]) {
      const usage = await cli(args);
      expect(usage.code, args.join(" ")).toBe(2);
    }

    // The shebang makes the file directly executable.
    const direct = await execFileAsync(bundle, ["--help"]);
    expect(direct.stdout).toMatch(/superloop-ops-agent/);
  });

  it("serve: every endpoint over HTTP, with a token", async () => {
    const repo = await copyRecording("approval");
    const stub = await writeRecordingStub();
    const stateDir = await makeTempDir("serve-state-");
    const child = spawn(process.execPath, [bundle, "serve", "--repo", repo, "--port", "0", "--state-dir", stateDir], {
      env: { ...process.env, OPS_AGENT_TOKEN: "bundle-token", SUPERLOOP_BIN: stub.bin },
      cwd: path.dirname(bundle),
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.push(child);
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const firstLine = await new Promise<string>((resolve, reject) => {
      const rl = createInterface({ input: child.stdout });
      rl.once("line", resolve);
      child.once("exit", (code) => reject(new Error(`agent exited ${code}: ${stderr}`)));
    });
    const ready = JSON.parse(firstLine) as { ok: boolean; port: number; auth: string };
    expect(ready).toMatchObject({ ok: true, auth: "token" });
    const base = `http://127.0.0.1:${ready.port}`;
    const auth = { authorization: "Bearer bundle-token" };

    expect(await call(base, "/healthz")).toMatchObject({ status: 200, body: { ok: true } });
    const unauthorized = JSON.parse(await fsp.readFile(path.join(contractRoot, "unauthorized-response.json"), "utf8")) as unknown;
    expect(await call(base, `/ops/snapshot?loopId=${LOOP}`)).toEqual(expect.objectContaining({ status: 401, body: unauthorized }));

    const snapshot = await call(base, `/ops/snapshot?loopId=${LOOP}`, { headers: { ...auth, "x-trace-id": "b-1" } });
    expect(snapshot.status).toBe(200);
    await expectValidEnvelope(snapshot.body);
    expect(snapshot.body).toMatchObject({ traceId: "b-1", run: { status: "awaiting_approval" }, health: { hasPendingApproval: true } });

    const events = await call(base, `/ops/events?loopId=${LOOP}&cursor=0&maxEvents=10`, { headers: { ...auth, "x-trace-id": "b-2" } });
    expect(events.status).toBe(200);
    const list = events.body["events"] as Array<Record<string, unknown>>;
    expect(list).toHaveLength(10);
    for (const envelope of list) {
      await expectValidEnvelope(envelope);
      expect(envelope["traceId"]).toBe("b-2");
    }
    const cursor = events.body["cursor"] as { eventLineOffset: number; byteOffset: number; lastLineHash: string; eventLineCount: number };
    expect(cursor).toMatchObject({ eventLineOffset: 10, eventLineCount: 26 });

    const waiting = call(base, `/ops/events?loopId=${LOOP}&cursor=26&waitMs=10000`, { headers: auth });
    await new Promise((resolve) => setTimeout(resolve, 200));
    await fsp.appendFile(eventsPath(repo), '{"timestamp":"2026-11-24T07:00:00Z","event":"approval_decision","role":"human","status":"approved","run_id":"r","iteration":1}\n');
    const woke = await waiting;
    expect((woke.body["events"] as Array<{ sequence: { value: number } }>).map((e) => e.sequence.value)).toEqual([27]);
    expect(woke.ms).toBeLessThan(3000);

    const fork = await call(base, `/ops/events?loopId=${LOOP}&cursor=10&byteOffset=${cursor.byteOffset}&lastLineHash=${"0".repeat(64)}`, { headers: auth });
    expect(fork).toMatchObject({ status: 409, body: { ok: false, error: { code: "cursor_fork" } } });

    const control = await call(base, "/ops/control", { headers: { ...auth, "idempotency-key": "b-key", "x-trace-id": "b-3" }, body: { loopId: LOOP, intent: "approve", by: "dave" } });
    expect(control).toMatchObject({ status: 200, body: { ok: true, intent: "approve", replayed: false, traceId: "b-3" } });
    const replayed = await call(base, "/ops/control", { headers: { ...auth, "idempotency-key": "b-key" }, body: { loopId: LOOP, intent: "approve", by: "dave" } });
    expect(replayed.body).toMatchObject({ ok: true, replayed: true });
    expect(await stub.calls()).toEqual([["approve", "--repo", repo, "--loop", LOOP, "--by", "dave"]]);

    const facts = await call(base, `/ops/facts?loopId=${LOOP}`, { headers: auth });
    expect(facts).toMatchObject({ status: 200, body: { ok: true, facts: { approval: { status: "pending" }, activeRun: null, loopDirExists: true }, eventsStat: { exists: true } } });

    expect(await call(base, "/ops/snapshot?loopId=ghost", { headers: auth })).toMatchObject({ status: 404 });
    expect(await call(base, "/ops/control", { headers: auth, body: { loopId: LOOP, intent: "explode" } })).toMatchObject({ status: 400 });

    // Request log on stderr: one JSON line per request, never the token.
    expect(stderr).toMatch(/"path":"\/ops\/control"/);
    expect(stderr).not.toContain("bundle-token");

    child.kill("SIGTERM");
    const exitCode = await new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    expect(exitCode).toBe(0);
  });
});
