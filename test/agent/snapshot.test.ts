import { createHash } from "node:crypto";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { AdapterError, readRuntimeFacts, readSnapshot, readSnapshotWithCursor, readEventsAfter } from "../../agent";
import { LoopRunSnapshotSchema, type RunStatus } from "../../src/contract";
import { LOOP, RECORDINGS, cleanupTempDirs, copyRecording, eventsPath, expectValidEnvelope, makeTempDir, readLines, spawnFakeRun, type Recording } from "./helpers";

const kills: Array<() => void> = [];
afterEach(() => {
  for (const kill of kills.splice(0)) kill();
});

afterAll(cleanupTempDirs);

interface Expected {
  status: RunStatus;
  eventCount: number;
  lastEventName: string;
  runId: string;
  iteration: number;
  hasPendingApproval: boolean;
  approvalStatus: string | null;
  completionOk: boolean | null;
}

// Ground truth from the fixtures README, expressed as the v1 baseline (docs/contract.md).
const EXPECTED: Record<Recording, Expected> = {
  approval: {
    status: "awaiting_approval",
    eventCount: 26,
    lastEventName: "approval_requested",
    runId: "2026-11-24T06:54:18Z",
    iteration: 1,
    hasPendingApproval: true,
    approvalStatus: "pending",
    completionOk: false,
  },
  approved: {
    status: "idle",
    eventCount: 27,
    lastEventName: "approval_decision",
    runId: "2026-11-24T06:54:18Z",
    iteration: 1,
    hasPendingApproval: false,
    approvalStatus: "approved",
    completionOk: false,
  },
  "approved-complete": {
    status: "complete",
    eventCount: 30,
    lastEventName: "loop_complete",
    runId: "2026-11-24T06:54:18Z",
    iteration: 1,
    hasPendingApproval: false,
    approvalStatus: null,
    completionOk: true,
  },
  rejected: {
    status: "awaiting_approval",
    eventCount: 54,
    lastEventName: "approval_requested",
    runId: "2026-11-24T06:58:14Z",
    iteration: 1,
    hasPendingApproval: true,
    approvalStatus: "pending",
    completionOk: false,
  },
  complete: { status: "complete", eventCount: 26, lastEventName: "loop_complete", runId: "2026-11-24T06:54:25Z", iteration: 1, hasPendingApproval: false, approvalStatus: null, completionOk: true },
  maxiter: { status: "stopped", eventCount: 50, lastEventName: "loop_stop", runId: "2026-11-24T06:54:32Z", iteration: 3, hasPendingApproval: false, approvalStatus: null, completionOk: false },
  // The baseline's known blind spot: state.active stays true after the runner crashed. The facts expose it.
  failure: { status: "running", eventCount: 3, lastEventName: "role_start", runId: "2026-11-24T06:54:43Z", iteration: 1, hasPendingApproval: false, approvalStatus: null, completionOk: null },
};

async function expectRef(repo: string, ref: { path: string; exists: boolean; sizeBytes: number; lineCount: number; sha256: string | null; mtimeEpoch: number | null }): Promise<void> {
  const abs = path.join(repo, ref.path);
  const bytes = await fsp.readFile(abs).catch(() => null);
  if (bytes === null) {
    expect(ref).toEqual({ path: ref.path, exists: false, sizeBytes: 0, lineCount: 0, sha256: null, mtimeEpoch: null });
    return;
  }
  const stat = await fsp.stat(abs);
  expect(ref.exists).toBe(true);
  expect(ref.sizeBytes).toBe(bytes.length);
  expect(ref.lineCount).toBe(bytes.toString("utf8").split("\n").length - 1);
  expect(ref.sha256).toBe(createHash("sha256").update(bytes).digest("hex"));
  expect(ref.mtimeEpoch).toBe(Math.floor(stat.mtimeMs / 1000));
}

describe("readSnapshot on every runtime recording", () => {
  for (const name of RECORDINGS) {
    it(`${name}: v1 snapshot with the baseline status and artifact refs`, async () => {
      const repo = await copyRecording(name);
      const expected = EXPECTED[name];
      const now = new Date("2026-11-24T08:00:00.000Z");
      const snapshot = await readSnapshot({ repoPath: repo, loopId: LOOP, traceId: "trace-snap", now });

      await expectValidEnvelope(snapshot);
      expect(LoopRunSnapshotSchema.parse(snapshot)).toEqual(snapshot);

      expect(snapshot.schemaVersion).toBe("v1");
      expect(snapshot.envelopeType).toBe("loop_run_snapshot");
      expect(snapshot.emittedAt).toBe("2026-11-24T08:00:00.000Z");
      expect(snapshot.traceId).toBe("trace-snap");
      expect(snapshot.source).toEqual({ repoPath: repo, loopId: LOOP });

      const lines = await readLines(eventsPath(repo));
      expect(lines.length).toBe(expected.eventCount);
      expect(snapshot.sequence).toEqual({ source: "cursor_event_line_offset", value: lines.length });
      expect(snapshot.cursor).toEqual({ eventLineOffset: lines.length, eventLineCount: lines.length });
      expect(snapshot.health.eventCount).toBe(lines.length);

      const last = JSON.parse(lines[lines.length - 1]) as { timestamp: string; event: string };
      expect(snapshot.health.lastEventName).toBe(expected.lastEventName);
      expect(snapshot.health.lastEventName).toBe(last.event);
      expect(snapshot.health.lastEventAt).toBe(last.timestamp);
      expect(snapshot.health.hasPendingApproval).toBe(expected.hasPendingApproval);

      expect(snapshot.run.status).toBe(expected.status);
      expect(snapshot.run.runId).toBe(expected.runId);
      expect(snapshot.run.iteration).toBe(expected.iteration);
      expect((snapshot.runtime.approval as { status?: string } | null)?.status ?? null).toBe(expected.approvalStatus);
      expect((snapshot.run.summary as { completion_ok?: boolean } | null)?.completion_ok ?? null).toBe(expected.completionOk);

      // Raw artifacts are passed through untouched (unknown keys kept).
      const state = JSON.parse(await fsp.readFile(path.join(repo, ".superloop/state.json"), "utf8")) as unknown;
      expect(snapshot.runtime.superloopState).toEqual(state);
      expect(snapshot.runtime.activeRun).toBeNull();
      expect(snapshot.runtime.heartbeat).toBeNull();

      const summaryFile = await fsp.readFile(path.join(repo, ".superloop/loops", LOOP, "run-summary.json"), "utf8").catch(() => null);
      if (summaryFile === null) {
        expect(snapshot.run.summary).toBeNull();
        expect(snapshot.health.gates).toBeNull();
        expect(snapshot.health.stuck).toBeNull();
        expect(snapshot.health.lastSummaryAt).toBeNull();
      } else {
        const summary = JSON.parse(summaryFile) as { updated_at: string; entries: Array<{ gates: Record<string, string>; stuck: { streak: number; threshold: number } }> };
        const latest = summary.entries[summary.entries.length - 1];
        expect(snapshot.run.summary).toEqual(latest);
        expect(snapshot.health.gates).toEqual(latest.gates);
        expect(snapshot.health.gates?.["lifecycle"]).toBe("ok"); // the key a strict v1 reading would drop
        expect(snapshot.health.stuck).toEqual({ streak: latest.stuck.streak, threshold: latest.stuck.threshold });
        expect(snapshot.health.lastSummaryAt).toBe(summary.updated_at);
      }

      for (const ref of Object.values(snapshot.artifacts)) await expectRef(repo, ref);
      expect(snapshot.artifacts.events.path).toBe(".superloop/loops/demo-loop/events.jsonl");
      expect(snapshot.artifacts.state.path).toBe(".superloop/state.json");
      expect(snapshot.artifacts.activeRun.exists).toBe(false);

      // Events: one envelope per line, in order, and the page ends where the snapshot's cursor is.
      const page = await readEventsAfter({ repoPath: repo, loopId: LOOP, cursor: { line: 0, byteOffset: 0, lastLineHash: null }, limit: 1000 });
      expect(page.envelopes.length).toBe(lines.length);
      expect(page.lines).toEqual(lines);
      expect(page.envelopes.map((e) => e.sequence.value)).toEqual(lines.map((_, i) => i + 1));
      for (const envelope of page.envelopes) await expectValidEnvelope(envelope);
      const withCursor = await readSnapshotWithCursor({ repoPath: repo, loopId: LOOP });
      expect(withCursor.eventsCursor).toMatchObject({ line: page.cursor.line, byteOffset: page.cursor.byteOffset, lastLineHash: page.cursor.lastLineHash, pendingBytes: 0 });
    });
  }

  it("failure: the runtime facts show the dead runtime the baseline calls running", async () => {
    const repo = await copyRecording("failure");
    const facts = await readRuntimeFacts({ repoPath: repo, loopId: LOOP });
    expect(facts.state?.active).toBe(true);
    expect(facts.activeRun).toBeNull();
    expect(facts.activeRunAlive).toBeNull();
    expect(facts.processStopped).toBeNull();
    expect(facts.lastSummary).toBeNull();
    expect(facts.approval).toBeNull();
    expect(facts).toMatchObject({ eventsFileExists: true, loopDirExists: true, heartbeat: null });
  });

  it("approved: facts carry the approval decision and the latest summary entry", async () => {
    const repo = await copyRecording("approved");
    const facts = await readRuntimeFacts({ repoPath: repo, loopId: LOOP });
    expect(facts.approval?.status).toBe("approved");
    expect((facts.approval as Record<string, unknown>)["decided_by"]).toBe("operator");
    expect(facts.lastSummary?.completion_ok).toBe(false);
    expect(facts.lastSummary?.gates?.["approval"]).toBe("pending");
  });

  it("facts for a loop that never ran: everything null, no error", async () => {
    const repo = await makeTempDir();
    const facts = await readRuntimeFacts({ repoPath: repo, loopId: "never-ran" });
    expect(facts).toEqual({
      state: null,
      activeRun: null,
      activeRunAlive: null,
      processStopped: null,
      approval: null,
      lastSummary: null,
      heartbeat: null,
      eventsFileExists: false,
      loopDirExists: false,
    });
  });
});

describe("snapshot details", () => {
  it("an active run, a heartbeat and a live pid show up in runtime and facts", async () => {
    const repo = await copyRecording("approval");
    const run = await spawnFakeRun(repo);
    kills.push(run.kill);
    const activeRun = { repo, pid: run.pid, pgid: run.pid, loop_id: LOOP, iteration: 2, stage: "planner", updated_at: "2026-11-24T07:00:00Z", extra_key: "kept" };
    await fsp.writeFile(path.join(repo, ".superloop/active-run.json"), JSON.stringify(activeRun));
    await fsp.writeFile(path.join(repo, ".superloop/loops", LOOP, "heartbeat.v1.json"), JSON.stringify({ updatedAt: "2026-11-24T07:00:01Z", status: "ok", stage: "planner" }));
    const snapshot = await readSnapshot({ repoPath: repo, loopId: LOOP });
    await expectValidEnvelope(snapshot);
    expect(snapshot.runtime.activeRun).toEqual(activeRun);
    expect(snapshot.runtime.heartbeat).toEqual({ updatedAt: "2026-11-24T07:00:01Z", status: "ok", stage: "planner" });
    expect(snapshot.artifacts.heartbeat?.exists).toBe(true);
    expect(snapshot.artifacts.activeRun.exists).toBe(true);
    const facts = await readRuntimeFacts({ repoPath: repo, loopId: LOOP });
    expect(facts.activeRunAlive).toBe(true);
    expect(facts.processStopped).toBe(false);
    expect(facts.heartbeat?.status).toBe("ok");
  });

  it("a live pid that is not this repo's superloop run (a reused pid) is not the run", async () => {
    const repo = await copyRecording("approval");
    // this test process is alive, but its command line is vitest's, not `superloop.sh run --repo <repo>`
    await fsp.writeFile(path.join(repo, ".superloop/active-run.json"), JSON.stringify({ repo, pid: process.pid, pgid: process.pid, loop_id: LOOP }));
    expect((await readRuntimeFacts({ repoPath: repo, loopId: LOOP })).activeRunAlive).toBe(false);
    // the run of another repo is not this repo's run either
    const other = await spawnFakeRun(await makeTempDir());
    kills.push(other.kill);
    await fsp.writeFile(path.join(repo, ".superloop/active-run.json"), JSON.stringify({ repo, pid: other.pid, pgid: other.pid, loop_id: LOOP }));
    expect((await readRuntimeFacts({ repoPath: repo, loopId: LOOP })).activeRunAlive).toBe(false);
  });

  it("older event files use `type` instead of `event`", async () => {
    const repo = await copyRecording("complete");
    await fsp.appendFile(eventsPath(repo), `${JSON.stringify({ timestamp: "2026-11-24T07:00:00Z", type: "rate_limit_stop", status: "rate_limited", run_id: "r2", iteration: "4" })}\n`);
    const snapshot = await readSnapshot({ repoPath: repo, loopId: LOOP });
    expect(snapshot.health.lastEventName).toBe("rate_limit_stop");
    expect(snapshot.run.runId).toBe("r2");
    expect(snapshot.run.iteration).toBe(4);
    // completion_ok still wins over the stop event (first match).
    expect(snapshot.run.status).toBe("complete");
  });

  it("an unterminated last line is not counted and not used as the last event", async () => {
    const repo = await copyRecording("maxiter");
    await fsp.appendFile(eventsPath(repo), '{"timestamp":"2026-11-24T07:00:00Z","event":"loop_st');
    const { snapshot, eventsCursor } = await readSnapshotWithCursor({ repoPath: repo, loopId: LOOP });
    expect(snapshot.health.eventCount).toBe(50);
    expect(snapshot.health.lastEventName).toBe("loop_stop");
    expect(eventsCursor.pendingBytes).toBe('{"timestamp":"2026-11-24T07:00:00Z","event":"loop_st'.length);
  });

  it("an empty events.jsonl gives status from the other artifacts and no last event", async () => {
    const repo = await copyRecording("approval");
    await fsp.writeFile(eventsPath(repo), "");
    const snapshot = await readSnapshot({ repoPath: repo, loopId: LOOP });
    await expectValidEnvelope(snapshot);
    expect(snapshot.health).toMatchObject({ eventCount: 0, lastEventAt: null, lastEventName: null });
    expect(snapshot.run.runId).toBe("2026-11-24T06:54:18Z"); // from the summary
    expect(snapshot.run.status).toBe("awaiting_approval");
  });
});

describe("snapshot errors", () => {
  async function expectAdapterError(promise: Promise<unknown>, code: string, pattern?: RegExp): Promise<AdapterError> {
    const error = await promise.then(
      () => {
        throw new Error(`expected AdapterError ${code}`);
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AdapterError);
    const adapterError = error as AdapterError;
    expect(adapterError.code).toBe(code);
    if (pattern) expect(adapterError.message).toMatch(pattern);
    return adapterError;
  }

  it("artifact_root_missing for an unknown loop", async () => {
    const repo = await copyRecording("complete");
    await expectAdapterError(readSnapshot({ repoPath: repo, loopId: "other-loop" }), "artifact_root_missing", /other-loop/);
  });

  it("events_missing when the loop dir has no events.jsonl", async () => {
    const repo = await copyRecording("complete");
    await fsp.rm(eventsPath(repo));
    await expectAdapterError(readSnapshot({ repoPath: repo, loopId: LOOP }), "events_missing", /events\.jsonl/);
  });

  it("invalid_loop_id for path traversal", async () => {
    const repo = await copyRecording("complete");
    for (const bad of ["..", ".", "../complete", "a/b", "", "-x", "x".repeat(129), "a\u0000b"]) {
      await expectAdapterError(readSnapshot({ repoPath: repo, loopId: bad }), "invalid_loop_id");
    }
  });

  it.each([
    [".superloop/state.json"],
    [".superloop/active-run.json"],
    [".superloop/loops/demo-loop/run-summary.json"],
    [".superloop/loops/demo-loop/approval.json"],
    [".superloop/loops/demo-loop/heartbeat.v1.json"],
  ])("invalid_json names the artifact: %s", async (relative) => {
    const repo = await copyRecording("approval");
    await fsp.writeFile(path.join(repo, relative), '{"active": tru');
    const error = await expectAdapterError(readSnapshot({ repoPath: repo, loopId: LOOP }), "invalid_json");
    expect(error.message).toContain(relative);
    expect(error.details["path"]).toBe(relative);
  });

  it("invalid_artifact when a field the manager relies on has the wrong type", async () => {
    const repo = await copyRecording("approval");
    await fsp.writeFile(path.join(repo, ".superloop/state.json"), JSON.stringify({ active: "yes" }));
    const error = await expectAdapterError(readSnapshot({ repoPath: repo, loopId: LOOP }), "invalid_artifact", /active/);
    expect(error.message).toContain(".superloop/state.json");
  });

  it("invalid_utf8 in an artifact", async () => {
    const repo = await copyRecording("approval");
    await fsp.writeFile(path.join(repo, ".superloop/state.json"), Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]));
    await expectAdapterError(readSnapshot({ repoPath: repo, loopId: LOOP }), "invalid_utf8", /state\.json/);
  });

  it("a bad last event line fails with its line number", async () => {
    const repo = await copyRecording("complete");
    await fsp.appendFile(eventsPath(repo), '{"event":"loop_stop"}\n');
    const error = await expectAdapterError(readSnapshot({ repoPath: repo, loopId: LOOP }), "invalid_event", /line 27/);
    expect(error.details["line"]).toBe(27);
  });
});

describe("active-run.json read mid-write", () => {
  it("an empty active-run.json (the runtime writes it with `jq > file`) is a run being recorded, not a failed read", async () => {
    const repo = await copyRecording("approval");
    await fsp.writeFile(path.join(repo, ".superloop/active-run.json"), "");
    const facts = await readRuntimeFacts({ repoPath: repo, loopId: LOOP });
    expect(facts.activeRun).toEqual({});
    expect(facts.activeRunAlive).toBeNull();
    // any other unreadable JSON still fails loudly
    await fsp.writeFile(path.join(repo, ".superloop/active-run.json"), "{");
    await expect(readRuntimeFacts({ repoPath: repo, loopId: LOOP })).rejects.toMatchObject({ code: "invalid_json" });
  });
});
