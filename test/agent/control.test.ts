import { spawn } from "node:child_process";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { AdapterError, buildControlArgv, executeControl, readProcStat, readRuntimeFacts } from "../../agent";
import { LOOP, cleanupTempDirs, copyRecording, makeTempDir, spawnFakeRun } from "./helpers";

afterAll(cleanupTempDirs);

const cleanups: Array<() => void> = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0)) cleanup();
});

interface StubBehaviour {
  exitCode?: number;
  sleepMs?: number;
  stdoutBytes?: number;
  stderr?: string;
}

/** A fake SUPERLOOP_BIN: appends {argv, pid, pgid} as one JSON line to `calls.jsonl`, then behaves as told. */
async function writeStub(behaviour: StubBehaviour = {}): Promise<{ bin: string; calls: () => Promise<Array<{ argv: string[]; pid: number; pgid: number }>> }> {
  const dir = await makeTempDir("stub-");
  const bin = path.join(dir, "superloop.sh");
  const callsFile = path.join(dir, "calls.jsonl");
  const script = `#!/usr/bin/env node
const fs = require("node:fs");
const stat = fs.readFileSync("/proc/self/stat", "utf8");
const pgid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
fs.appendFileSync(${JSON.stringify(callsFile)}, JSON.stringify({ argv: process.argv.slice(2), pid: process.pid, pgid }) + "\\n");
const b = ${JSON.stringify(behaviour)};
process.stdout.write("stub ran " + process.argv[2] + "\\n");
if (b.stdoutBytes) process.stdout.write("o".repeat(b.stdoutBytes));
if (b.stderr) process.stderr.write(b.stderr);
setTimeout(() => process.exit(b.exitCode ?? 0), b.sleepMs ?? 0);
`;
  await fsp.writeFile(bin, script, { mode: 0o755 });
  return {
    bin,
    calls: async () => {
      const text = await fsp.readFile(callsFile, "utf8").catch(() => "");
      return text
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { argv: string[]; pid: number; pgid: number });
    },
  };
}

async function expectThrows(promise: Promise<unknown>, code: string): Promise<void> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AdapterError);
  expect((error as AdapterError).code).toBe(code);
}

describe("command intents run the exact argv (never a shell)", () => {
  it("cancel, approve (with and without note), reject, start", async () => {
    const repo = await copyRecording("approval");
    const stub = await writeStub();

    const cancel = await executeControl({ repoPath: repo, loopId: LOOP, intent: "cancel", superloopBin: stub.bin });
    expect(cancel).toMatchObject({ ok: true, intent: "cancel", exitCode: 0, argv: [stub.bin, "cancel", "--repo", repo] });
    expect(cancel.stdout).toBe("stub ran cancel\n");

    const approve = await executeControl({ repoPath: repo, loopId: LOOP, intent: "approve", by: "alice", note: "ship it; $(rm -rf /) `x` 'q'", superloopBin: stub.bin });
    expect(approve.ok).toBe(true);
    expect(approve.argv).toEqual([stub.bin, "approve", "--repo", repo, "--loop", LOOP, "--by", "alice", "--note", "ship it; $(rm -rf /) `x` 'q'"]);

    const approveNoNote = await executeControl({ repoPath: repo, loopId: LOOP, intent: "approve", superloopBin: stub.bin });
    expect(approveNoNote.argv).toEqual([stub.bin, "approve", "--repo", repo, "--loop", LOOP, "--by", "ops-agent"]);

    const reject = await executeControl({ repoPath: repo, loopId: LOOP, intent: "reject", by: "bob", note: "needs tests", superloopBin: stub.bin });
    expect(reject.argv).toEqual([stub.bin, "approve", "--repo", repo, "--loop", LOOP, "--by", "bob", "--note", "needs tests", "--reject"]);

    const calls = await stub.calls();
    expect(calls.map((call) => call.argv)).toEqual([
      ["cancel", "--repo", repo],
      ["approve", "--repo", repo, "--loop", LOOP, "--by", "alice", "--note", "ship it; $(rm -rf /) `x` 'q'"],
      ["approve", "--repo", repo, "--loop", LOOP, "--by", "ops-agent"],
      ["approve", "--repo", repo, "--loop", LOOP, "--by", "bob", "--note", "needs tests", "--reject"],
    ]);
  });

  it("SUPERLOOP_BIN is the default binary", async () => {
    const repo = await copyRecording("approval");
    const stub = await writeStub();
    const previous = process.env["SUPERLOOP_BIN"];
    process.env["SUPERLOOP_BIN"] = stub.bin;
    try {
      const result = await executeControl({ repoPath: repo, loopId: LOOP, intent: "cancel" });
      expect(result.argv?.[0]).toBe(stub.bin);
      expect(await stub.calls()).toHaveLength(1);
    } finally {
      if (previous === undefined) delete process.env["SUPERLOOP_BIN"];
      else process.env["SUPERLOOP_BIN"] = previous;
    }
  });

  it("start runs `run --repo R --loop L` detached in its own process group, output to a log file", async () => {
    const repo = await copyRecording("complete");
    const stub = await writeStub({ sleepMs: 1500 });
    const logDir = await makeTempDir("logs-");
    const result = await executeControl({ repoPath: repo, loopId: LOOP, intent: "start", superloopBin: stub.bin, logDir, startGraceMs: 300 });
    expect(result).toMatchObject({ ok: true, intent: "start", exitCode: null, argv: [stub.bin, "run", "--repo", repo, "--loop", LOOP] });
    expect(result.pid).toBeGreaterThan(1);
    cleanups.push(() => {
      try {
        process.kill(-result.pid!, "SIGKILL");
      } catch {
        // gone
      }
    });
    // the detached stub records itself once node has started it, which may be after the grace on a busy machine
    await expect.poll(async () => (await stub.calls()).length, { timeout: 10_000 }).toBe(1);
    const calls = await stub.calls();
    expect(calls[0].argv).toEqual(["run", "--repo", repo, "--loop", LOOP]);
    expect(calls[0].pid).toBe(result.pid);
    expect(calls[0].pgid).toBe(result.pid); // setsid: its own group, so pause/resume/cancel never hit the agent
    expect(path.dirname(result.logFile!)).toBe(logDir);
    await expect.poll(() => fsp.readFile(result.logFile!, "utf8")).toContain("stub ran run");
  });

  it("start that fails at once is reported with its exit code and log tail", async () => {
    const repo = await copyRecording("complete");
    const stub = await writeStub({ exitCode: 3, stderr: "error: loop is locked\n" });
    const result = await executeControl({ repoPath: repo, loopId: LOOP, intent: "start", superloopBin: stub.bin, logDir: await makeTempDir(), startGraceMs: 2000 });
    expect(result).toMatchObject({ ok: false, exitCode: 3, error: { code: "control_failed" } });
    expect(result.error?.message).toMatch(/loop is locked/);
  });

  it("non-zero exit → control_failed with exit code and bounded stderr", async () => {
    const repo = await copyRecording("approval");
    const stub = await writeStub({ exitCode: 2, stderr: "error: no pending approval\n" });
    const result = await executeControl({ repoPath: repo, loopId: LOOP, intent: "approve", superloopBin: stub.bin });
    expect(result).toMatchObject({ ok: false, exitCode: 2, stderr: "error: no pending approval\n", error: { code: "control_failed" } });
    expect(result.error?.message).toMatch(/exited with code 2: error: no pending approval/);
  });

  it("captured output is bounded to 64 KiB", async () => {
    const repo = await copyRecording("approval");
    const stub = await writeStub({ stdoutBytes: 300_000 });
    const result = await executeControl({ repoPath: repo, loopId: LOOP, intent: "cancel", superloopBin: stub.bin });
    expect(result.ok).toBe(true);
    expect(result.stdout.length).toBeLessThan(64 * 1024 + 100);
    expect(result.stdout).toMatch(/^\[…\d+ bytes truncated…\]\n/);
  });

  it("timeout → control_timeout, the process group is killed", async () => {
    const repo = await copyRecording("approval");
    const stub = await writeStub({ sleepMs: 20_000 });
    const started = Date.now();
    const result = await executeControl({ repoPath: repo, loopId: LOOP, intent: "cancel", superloopBin: stub.bin, timeoutMs: 2_000 });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(result).toMatchObject({ ok: false, error: { code: "control_timeout" } });
    // the stub records its pid first thing; 2 s (not less) lets a node stub start on a loaded machine
    const [call] = await stub.calls();
    expect(call, "the stub never started").toBeDefined();
    await expect.poll(() => readProcStat(call.pid)).toBeNull();
  });

  it("missing binary → control_failed with a hint", async () => {
    const repo = await copyRecording("approval");
    const result = await executeControl({ repoPath: repo, loopId: LOOP, intent: "cancel", superloopBin: "/nonexistent/superloop.sh" });
    expect(result).toMatchObject({ ok: false, error: { code: "control_failed" } });
    expect(result.error?.message).toMatch(/SUPERLOOP_BIN/);
    const start = await executeControl({ repoPath: repo, loopId: LOOP, intent: "start", superloopBin: "/nonexistent/superloop.sh", logDir: await makeTempDir() });
    expect(start).toMatchObject({ ok: false, error: { code: "control_failed" } });
  });

  it("bad input is rejected before anything runs", async () => {
    const repo = await copyRecording("approval");
    const stub = await writeStub();
    await expectThrows(executeControl({ repoPath: repo, loopId: LOOP, intent: "delete", superloopBin: stub.bin }), "unsupported_intent");
    await expectThrows(executeControl({ repoPath: repo, loopId: "../x", intent: "cancel", superloopBin: stub.bin }), "invalid_loop_id");
    await expectThrows(executeControl({ repoPath: repo, loopId: LOOP, intent: "approve", by: "--reject", superloopBin: stub.bin }), "invalid_request");
    await expectThrows(executeControl({ repoPath: repo, loopId: LOOP, intent: "approve", note: "a\u0000b", superloopBin: stub.bin }), "invalid_request");
    expect(await stub.calls()).toHaveLength(0);
    expect(buildControlArgv("pause", { bin: "b", repoPath: "/r", loopId: "l" })).toBeNull();
  });
});

describe("pause/resume signal the run's process group", () => {
  async function sleepingGroup(): Promise<number> {
    const child = spawn("sleep", ["30"], { detached: true, stdio: "ignore" });
    await new Promise((resolve) => child.once("spawn", resolve));
    const pid = child.pid!;
    child.unref();
    cleanups.push(() => {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // gone
      }
    });
    return pid;
  }

  async function writeActiveRun(repo: string, fields: Record<string, unknown>): Promise<void> {
    await fsp.writeFile(path.join(repo, ".superloop/active-run.json"), JSON.stringify({ repo, loop_id: LOOP, iteration: 1, stage: "planner", updated_at: "2026-11-24T07:00:00Z", ...fields }));
  }

  it("pause stops a real process group (verified via /proc), resume continues it", async () => {
    const repo = await copyRecording("failure");
    const run = await spawnFakeRun(repo);
    cleanups.push(run.kill);
    const pid = run.pid;
    await writeActiveRun(repo, { pid, pgid: pid });

    const paused = await executeControl({ repoPath: repo, loopId: LOOP, intent: "pause" });
    expect(paused).toMatchObject({ ok: true, intent: "pause", argv: null, signal: "SIGSTOP", pid, verified: { processStopped: true } });
    expect((await readProcStat(pid))?.state).toBe("T");
    expect((await readRuntimeFacts({ repoPath: repo, loopId: LOOP })).processStopped).toBe(true);
    expect((await readRuntimeFacts({ repoPath: repo, loopId: LOOP })).activeRunAlive).toBe(true);

    const resumed = await executeControl({ repoPath: repo, loopId: LOOP, intent: "resume" });
    expect(resumed).toMatchObject({ ok: true, intent: "resume", signal: "SIGCONT", verified: { processStopped: false } });
    expect((await readProcStat(pid))?.state).not.toBe("T");
    expect((await readRuntimeFacts({ repoPath: repo, loopId: LOOP })).processStopped).toBe(false);
  });

  it("a group named by active-run.json that is not this repo's superloop run is never signalled (pid reuse)", async () => {
    const repo = await copyRecording("failure");
    const pid = await sleepingGroup();
    await writeActiveRun(repo, { pid, pgid: pid });
    const result = await executeControl({ repoPath: repo, loopId: LOOP, intent: "pause" });
    expect(result).toMatchObject({ ok: false, error: { code: "control_failed" } });
    expect(result.error?.message).toMatch(/not this repo's superloop run/);
    expect((await readProcStat(pid))?.state).not.toBe("T");
  });

  it("no active-run.json → no_active_run", async () => {
    const repo = await copyRecording("failure");
    const result = await executeControl({ repoPath: repo, loopId: LOOP, intent: "pause" });
    expect(result).toMatchObject({ ok: false, error: { code: "no_active_run" } });
  });

  it("a stale active-run.json (dead pid) → no_active_run, facts say not alive", async () => {
    const repo = await copyRecording("failure");
    const child = spawn("true", [], { detached: true, stdio: "ignore" });
    await new Promise((resolve) => child.once("exit", resolve));
    await writeActiveRun(repo, { pid: child.pid, pgid: child.pid });
    const result = await executeControl({ repoPath: repo, loopId: LOOP, intent: "pause" });
    expect(result).toMatchObject({ ok: false, error: { code: "no_active_run" } });
    expect((await readRuntimeFacts({ repoPath: repo, loopId: LOOP })).activeRunAlive).toBe(false);
  });

  it("the active run of another loop is not touched", async () => {
    const repo = await copyRecording("failure");
    const pid = await sleepingGroup();
    await writeActiveRun(repo, { pid, pgid: pid, loop_id: "other-loop" });
    const result = await executeControl({ repoPath: repo, loopId: LOOP, intent: "pause" });
    expect(result).toMatchObject({ ok: false, error: { code: "no_active_run" } });
    expect((await readProcStat(pid))?.state).not.toBe("T");
  });

  it("refuses to signal the agent's own process group", async () => {
    const repo = await copyRecording("failure");
    const own = (await readProcStat("self"))!.pgrp;
    await writeActiveRun(repo, { pid: own, pgid: own });
    const result = await executeControl({ repoPath: repo, loopId: LOOP, intent: "pause" });
    expect(result).toMatchObject({ ok: false, error: { code: "control_failed" } });
    expect(result.error?.message).toMatch(/refusing/);
  });
});
