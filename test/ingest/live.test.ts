import { appendFileSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { collect, wsClient } from "../support/clients";
import { eventsPath, fileLines } from "../support/fixtures";
import { getRun, register, waitFor } from "../support/runs";
import { spawnFakeRun } from "../support/fake-run";
import { startTestServer } from "../support/server";
import { originalLine } from "../../src/events/stored-event";

let n = 0;
export function line(name: string, extra: Record<string, unknown> = {}): string {
  n++;
  return JSON.stringify({ timestamp: new Date(Date.UTC(2026, 10, 24, 9, 0, 0, n)).toISOString(), event: name, loop_id: "demo-loop", run_id: "r-1", iteration: 1, ...extra }) + "\n";
}

function freshRepo(): string {
  const repo = mkdtempSync(path.join(tmpdir(), "ops-live-"));
  mkdirSync(path.join(repo, ".superloop", "loops", "demo-loop"), { recursive: true });
  return repo;
}

// Like the runtime's own writes, replace JSON files atomically: a poll never sees a half-written state.json.
function writeJson(file: string, value: unknown) {
  writeFileSync(`${file}.tmp`, JSON.stringify(value));
  renameSync(`${file}.tmp`, file);
}

// A live process that is this repo's `superloop run`: liveness is checked by command line, not just kill -0.
const kills: Array<() => void> = [];
afterAll(() => kills.forEach((kill) => kill()));

async function setRunning(repo: string) {
  const live = await spawnFakeRun(repo);
  kills.push(live.kill);
  writeJson(path.join(repo, ".superloop", "active-run.json"), { repo, pid: live.pid, pgid: live.pid, loop_id: "demo-loop", iteration: 1, stage: "planner", updated_at: "2026-11-24T09:00:00Z" });
  writeJson(path.join(repo, ".superloop", "state.json"), { active: true, loop_index: 0, iteration: 1, current_loop_id: "demo-loop", updated_at: "2026-11-24T09:00:00Z" });
}

let server: RunningServer;
beforeAll(async () => {
  // A long interval: anything seen quickly here was woken by fs.watch, not by the timer.
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "30000" });
});
afterAll(() => server?.close());

describe("live ingestion", () => {
  it("a loop that never ran is IDLE/not_started, then follows appends as they land", async () => {
    const repo = freshRepo();
    const run = await register(server, "live-1", repo);
    const first = await waitFor(
      () => getRun(server, run.id),
      (r) => r.ingest.status === "OK",
      5000,
    );
    expect(first).toMatchObject({ state: "IDLE", stateReason: "not_started", ingest: { cursorLine: 0 } });

    const client = wsClient(server.url);
    const changes = collect(client, `subscription($f: RunLifecycleFilter) { runLifecycleChanged(filter: $f) { ... on RunLifecycleChange { seq previousState state reason } } }`, {
      f: { run: run.id },
    });
    for (let i = 0; i < 100 && server.app.bus.listenerCount("run", run.raw) < 1; i++) await new Promise((r) => setTimeout(r, 20));

    await setRunning(repo);
    appendFileSync(eventsPath(repo), line("loop_start") + line("iteration_start") + line("role_start", { role: "planner" }));
    const running = await waitFor(
      () => getRun(server, run.id),
      (r) => r.state === "RUNNING",
      5000,
      "RUNNING via fs.watch",
    );
    expect(running).toMatchObject({ stateReason: "running", runtimeRunId: "r-1", ingest: { cursorLine: 3 } });

    // a half-written line is left for later, then completed
    const tail = line("role_end", { role: "planner" });
    appendFileSync(eventsPath(repo), tail.slice(0, 20));
    await server.app.ingestor.syncRun(run.raw);
    expect((await getRun(server, run.id)).ingest.cursorLine).toBe(3);
    appendFileSync(eventsPath(repo), tail.slice(20));
    await waitFor(
      () => getRun(server, run.id),
      (r) => r.ingest.cursorLine === 4,
      5000,
    );

    // the runtime's normal end: loop_stop, active-run.json removed, state inactive
    appendFileSync(eventsPath(repo), line("loop_stop", { data: { reason: "max_iterations" } }));
    rmSync(path.join(repo, ".superloop", "active-run.json"));
    writeJson(path.join(repo, ".superloop", "state.json"), { active: false, loop_index: 0, iteration: 1, current_loop_id: "demo-loop", updated_at: "2026-11-24T09:01:00Z" });
    const stopped = await waitFor(
      () => getRun(server, run.id),
      (r) => r.state === "STOPPED",
      5000,
    );
    expect(stopped.stateReason).toBe("max_iterations");

    // Files land one at a time, so a poll may see a moment in between (e.g. events before state.json): the
    // subscriber must see every committed change, in seq order, ending at STOPPED after RUNNING.
    await waitFor(
      async () => changes.items.map((g) => g.data!.runLifecycleChanged.state).at(-1),
      (s) => s === "STOPPED",
      5000,
      "STOPPED delivered",
    );
    const got = changes.items.map((g) => g.data!.runLifecycleChanged);
    const seqs = got.map((c) => c.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
    const states = got.map((c) => c.state);
    expect(states.indexOf("RUNNING")).toBeGreaterThanOrEqual(0);
    expect(states.lastIndexOf("RUNNING")).toBeLessThan(states.length - 1);
    expect(got[0]!.previousState).toBe("IDLE");
    for (let i = 1; i < got.length; i++) expect(got[i]!.previousState).toBe(got[i - 1]!.state);
    changes.dispose();
    await client.dispose();

    const stored = await server.app.db.event.findMany({ where: { runId: run.raw }, orderBy: { line: "asc" } });
    expect(stored.map((e) => originalLine(e))).toEqual(fileLines(repo));
  });

  it("runEvents replays then goes live with no gap and no duplicate under a concurrent append", async () => {
    const repo = freshRepo();
    await setRunning(repo);
    let text = "";
    for (let i = 0; i < 1200; i++) text += line(i === 0 ? "loop_start" : "role_end", { i });
    appendFileSync(eventsPath(repo), text);
    const run = await register(server, "live-2", repo);
    await waitFor(
      () => getRun(server, run.id),
      (r) => r.ingest.cursorLine === 1200,
      10_000,
    );

    const client = wsClient(server.url);
    const sub = collect(client, `subscription($id: ID!, $after: String) { runEvents(runId: $id, after: $after) { __typename ... on RunEventsBatch { events { line } cursor hasMore } } }`, {
      id: run.id,
      after: "100",
    });
    // append while the replay is in flight, in many small writes
    const appender = (async () => {
      for (let k = 0; k < 40; k++) {
        appendFileSync(eventsPath(repo), line("role_end", { k }) + line("role_start", { k }));
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await appender;
    const total = 1200 + 80;
    await waitFor(
      async () => sub.items.flatMap((b) => b.data!.runEvents.events ?? []).length,
      (c) => c >= total - 100,
      15_000,
      "all events delivered",
    );
    const delivered = sub.items.flatMap((b) => (b.data!.runEvents.events ?? []).map((e: { line: number }) => e.line));
    expect(delivered).toEqual(Array.from({ length: total - 100 }, (_, i) => 101 + i));
    expect(sub.items.at(-1)!.data!.runEvents.cursor).toBe(String(total));
    expect(sub.items.some((b) => b.data!.runEvents.__typename === "ResyncRequired")).toBe(false);

    // HEAD: live only
    const head = collect(client, `subscription($id: ID!) { runEvents(runId: $id, after: "HEAD") { ... on RunEventsBatch { events { line } } } }`, { id: run.id });
    await new Promise((r) => setTimeout(r, 200));
    appendFileSync(eventsPath(repo), line("role_end"));
    const h = await head.next(1);
    expect(h[0].data!.runEvents.events.map((e: { line: number }) => e.line)).toEqual([total + 1]);
    sub.dispose();
    head.dispose();
    await client.dispose();
  });

  it("tells a subscriber that falls too far behind to resync, and ends its subscription", async () => {
    const repo = freshRepo();
    const run = await register(server, "live-3", repo);
    const client = wsClient(server.url);
    const sub = collect(
      client,
      `subscription($id: ID!) { runEvents(runId: $id, after: "HEAD") { __typename ... on RunEventsBatch { events { line } cursor } ... on ResyncRequired { resyncRequired lastCursor } } }`,
      { id: run.id },
    );
    for (let i = 0; i < 100 && server.app.bus.listenerCount("events", run.raw) < 1; i++) await new Promise((r) => setTimeout(r, 20));
    // A burst of notices far beyond the subscriber's buffer, faster than it can read them.
    for (let i = 1; i <= 5000; i++) server.app.bus.publish("events", run.raw, { runId: run.raw, seq: i, fromLine: i, toLine: i });
    await waitFor(
      async () => sub.done,
      (d) => d,
      10_000,
      "subscription to end",
    );
    // the last message says resync, from the cursor of the last event delivered (none were: HEAD of an empty log)
    expect(sub.items.at(-1)!.data!.runEvents).toEqual({ __typename: "ResyncRequired", resyncRequired: true, lastCursor: "0" });
    await client.dispose();
  });
});
