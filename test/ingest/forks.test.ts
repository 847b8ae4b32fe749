import { appendFileSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { commitPoll, CursorConflict } from "../../src/ingest/commit";
import { resetRunCursor } from "../../src/ingest/reset";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { eventsPath, fileLines, repoFromRecording } from "../support/fixtures";
import { getRun, register, sync } from "../support/runs";
import { startTestServer } from "../support/server";
import { rawObject } from "../../src/events/stored-event";

const RESET = `mutation($id: ID!, $mode: CursorResetMode!, $note: String) { resetRunCursor(runId: $id, mode: $mode, note: $note) {
  __typename ... on CursorReset { mode previousLine newLine deletedEvents run { ingest { status cursorLine lastError } } } ... on Error { message } } }`;

let server: RunningServer;
beforeAll(async () => {
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "60000" });
});
afterAll(() => server?.close());

async function stored(runRaw: string) {
  return (await server.app.db.event.findMany({ where: { runId: runRaw }, orderBy: { line: "asc" } })).map((e) => rawObject(e));
}

describe("cursor forks fail closed", () => {
  it("a truncated log stops ingestion until an operator resets the cursor (replay from start)", async () => {
    const repo = repoFromRecording("complete");
    const run = await register(server, "fork-trunc", repo);
    expect((await sync(server, run.id)).ingest.cursorLine).toBe(26);

    const lines = fileLines(repo);
    writeFileSync(eventsPath(repo), lines.slice(0, 10).join("\n") + "\n");
    const forked = await sync(server, run.id);
    expect(forked.ingest.status).toBe("FORKED");
    expect(forked.ingest.lastError).toMatch(/fork|shorter|truncat/i);
    expect(forked.divergence.cursorRegression.raised).toBe(true);
    expect(forked.health.reasons.map((r: { code: string }) => r.code)).toContain("cursor_fork");

    // nothing more is ingested while forked, even when the file grows again
    appendFileSync(eventsPath(repo), lines.slice(10).join("\n") + "\n" + lines[0] + "\n");
    expect((await sync(server, run.id)).ingest).toMatchObject({ status: "FORKED", cursorLine: 26 });

    const iv = await gql(server.url, `{ interventions { run { loopId sprite { name } } suggestedActions reasons { code } } }`);
    const mine = iv.data!.interventions.find((i: { run: { sprite: { name: string } } }) => i.run.sprite.name === "fork-trunc");
    expect(mine.suggestedActions).toContain("RESET_CURSOR");

    const r = await gql(server.url, RESET, { id: run.id, mode: "REPLAY_FROM_START", note: "log was rotated" });
    expect(r.data!.resetRunCursor).toMatchObject({ __typename: "CursorReset", mode: "REPLAY_FROM_START", previousLine: 26, newLine: 0, deletedEvents: 26 });
    const after = await getRun(server, run.id);
    expect(after.ingest).toMatchObject({ status: "OK", cursorLine: 27 });
    expect(after.divergence.cursorRegression.raised).toBe(false);
    expect(await stored(run.raw)).toEqual(fileLines(repo).map((l) => JSON.parse(l)));
    const reset = await server.app.db.lifecycleTransition.findFirst({ where: { runId: run.raw, trigger: "cursor_reset" } });
    expect(reset).toMatchObject({ actor: "anonymous", evidence: expect.objectContaining({ mode: "REPLAY_FROM_START", note: "log was rotated" }) });
  });

  it("a rewritten last line (same length) is a fork; ADOPT_CURRENT continues after the new file's end", async () => {
    const repo = repoFromRecording("maxiter");
    const run = await register(server, "fork-rewrite", repo);
    await sync(server, run.id);
    const lines = fileLines(repo);
    const last = lines[lines.length - 1];
    lines[lines.length - 1] = last.replace("max_iterations", "max_iterationz");
    writeFileSync(eventsPath(repo), lines.join("\n") + "\n");
    expect((await sync(server, run.id)).ingest.status).toBe("FORKED");

    const r = await gql(server.url, RESET, { id: run.id, mode: "ADOPT_CURRENT" });
    expect(r.data!.resetRunCursor).toMatchObject({ mode: "ADOPT_CURRENT", previousLine: 50, newLine: 50, deletedEvents: 0 });
    appendFileSync(eventsPath(repo), JSON.stringify({ timestamp: "2026-11-24T07:00:00Z", event: "loop_start", loop_id: "demo-loop", run_id: "again", iteration: 1 }) + "\n");
    const after = await sync(server, run.id);
    expect(after.ingest).toMatchObject({ status: "OK", cursorLine: 51 });
    expect(after.runtimeRunId).toBe("again");
  });

  it("a poll that read the run before a cursor reset cannot commit after it (seq guard), even with the same line count", async () => {
    const repo = repoFromRecording("complete");
    const run = await register(server, "stale-commit", repo);
    await sync(server, run.id);
    const before = await server.app.db.run.findUniqueOrThrow({ where: { id: run.raw } });
    await resetRunCursor(server.app, run.raw, "ADOPT_CURRENT", "test", null); // same 26 lines, bumps seq
    const stale = commitPoll(server.app.pool, {
      runId: run.raw,
      expectedLine: before.cursorLine,
      expectedSeq: before.seq,
      events: [],
      cursor: { line: before.cursorLine, byteOffset: Number(before.cursorByteOffset), lastLineHash: "0".repeat(64) },
      projection: {
        state: "FAILED",
        stateReason: "stale_view",
        runtimeRunId: null,
        iteration: null,
        divergence: {},
        health: "CRITICAL",
        healthReasons: [],
        approval: null,
        gates: null,
        stuck: null,
        lastEventName: null,
        lastEventAt: null,
        facts: {},
        ingestStatus: "FORKED",
        ingestError: "stale",
        needsIntervention: true,
      },
      stateChanged: true,
      transition: null,
      intents: [],
    });
    await expect(stale).rejects.toBeInstanceOf(CursorConflict);
    const after = await server.app.db.run.findUniqueOrThrow({ where: { id: run.raw } });
    expect(after).toMatchObject({ ingestStatus: "OK", cursorLineHash: before.cursorLineHash, state: "COMPLETE" });
  });

  it("an events file that vanishes after lines were ingested is a fork", async () => {
    const repo = repoFromRecording("complete");
    const run = await register(server, "fork-gone", repo);
    await sync(server, run.id);
    rmSync(eventsPath(repo));
    expect((await sync(server, run.id)).ingest.status).toBe("FORKED");
  });

  it("a malformed line stops ingestion at that line, with its number, and nothing after it is stored", async () => {
    const repo = mkdtempSync(path.join(tmpdir(), "ops-bad-"));
    mkdirSync(path.join(repo, ".superloop", "loops", "demo-loop"), { recursive: true });
    const good = (i: number) => JSON.stringify({ timestamp: `2026-11-24T08:00:0${i}Z`, event: "role_end", loop_id: "demo-loop", run_id: "x", iteration: 1 });
    writeFileSync(eventsPath(repo), [good(1), good(2), '{"timestamp":"2026-11-24T08:00:03Z","loop_id":"demo-loop"}', good(4)].join("\n") + "\n");
    const run = await register(server, "bad-line", repo);
    const s = await sync(server, run.id);
    expect(s.ingest.status).toBe("ERROR");
    expect(s.ingest.cursorLine).toBe(2);
    expect(s.ingest.lastError).toMatch(/line 3/);
    expect((await stored(run.raw)).length).toBe(2);
    expect(s.health.reasons.map((r: { code: string }) => r.code)).toContain("invalid_payload");

    // the operator fixes the line and replays
    writeFileSync(eventsPath(repo), [good(1), good(2), good(3), good(4)].join("\n") + "\n");
    await gql(server.url, RESET, { id: run.id, mode: "REPLAY_FROM_START" });
    expect((await getRun(server, run.id)).ingest).toMatchObject({ status: "OK", cursorLine: 4 });
  });

  it("an empty file, or one truncated to zero, is handled (zero lines ingested is not a fork)", async () => {
    const repo = mkdtempSync(path.join(tmpdir(), "ops-empty-"));
    mkdirSync(path.join(repo, ".superloop", "loops", "demo-loop"), { recursive: true });
    writeFileSync(eventsPath(repo), "");
    const run = await register(server, "empty-log", repo);
    expect((await sync(server, run.id)).ingest).toMatchObject({ status: "OK", cursorLine: 0 });
    truncateSync(eventsPath(repo), 0);
    expect((await sync(server, run.id)).ingest.status).toBe("OK");
  });
});
