import { appendFileSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SingletonLease } from "../../src/alerts/lease";
import { keepFrom, type RetentionPolicy, type RunGuard } from "../../src/retention/policy";
import { RetentionWorker } from "../../src/retention/pruner";
import { loadFleetFile } from "../../src/registry/fleet-file";
import type { RunningServer } from "../../src/server";
import { collect, gql, wsClient } from "../support/clients";
import { eventsPath, fileLines, repoFromRecording } from "../support/fixtures";
import { register, sync, waitFor } from "../support/runs";
import { startTestServer } from "../support/server";

// Issue 18: per-fleet and per-Sprite retention of events, in small batches, never the cursor's line, an open
// intent's evidence or anything of a run with an unresolved fork; visible as Run.eventsRetainedFrom, with event
// pages starting there.

describe("keepFrom (pure)", () => {
  const guard = (g: Partial<RunGuard> = {}): RunGuard => ({ cursorLine: 100, ingestUnresolved: false, openIntents: [], ...g });
  const cases: [string, RetentionPolicy, RunGuard, number | null, number][] = [
    ["count: the latest N stay", { maxEventsPerRun: 10 }, guard(), null, 91],
    ["count larger than the history: nothing goes", { maxEventsPerRun: 500 }, guard(), null, 1],
    ["age: up to the first young line", { maxAgeDays: 1 }, guard(), 40, 40],
    ["age: all old, the cursor's line stays", { maxAgeDays: 1 }, guard(), null, 100],
    ["age and count: whichever prunes more", { maxAgeDays: 1, maxEventsPerRun: 10 }, guard(), 40, 91],
    ["age and count: whichever prunes more (age)", { maxAgeDays: 1, maxEventsPerRun: 80 }, guard(), 40, 40],
    ["count 1: only the cursor's line", { maxEventsPerRun: 1 }, guard(), null, 100],
    ["an open intent keeps every line after its observed line", { maxEventsPerRun: 1 }, guard({ openIntents: [{ observedLine: 60 }] }), null, 61],
    ["the lowest open intent wins", { maxEventsPerRun: 1 }, guard({ openIntents: [{ observedLine: 80 }, { observedLine: 30 }] }), null, 31],
    ["an intent not yet dispatched reads after the cursor", { maxEventsPerRun: 1 }, guard({ openIntents: [{ observedLine: null }] }), null, 100],
    ["an unresolved fork keeps everything", { maxEventsPerRun: 1 }, guard({ ingestUnresolved: true }), null, 1],
    ["no events yet", { maxEventsPerRun: 1 }, guard({ cursorLine: 0 }), null, 1],
  ];
  it.each(cases)("%s", (_name, policy, g, young, want) => expect(keepFrom(policy, g, young)).toBe(want));
});

let server: RunningServer;
beforeAll(async () => {
  // The interval is long: the test drives passes itself with retention.tick(); the batch is small on purpose.
  server = await startTestServer({ OPS_RETENTION_INTERVAL_MS: "3600000", OPS_RETENTION_BATCH: "7", OPS_POLL_INTERVAL_MS: "100" });
});
afterAll(() => server?.close());

const RUN = `query($id: ID!) { run(id: $id) { ... on Run { eventsRetainedFrom ingest { status cursorLine } events(first: 3) { edges { node { line } } } } } }`;
type RunView = { eventsRetainedFrom: number; ingest: { status: string; cursorLine: number }; events: { edges: { node: { line: number } }[] } };
const view = async (id: string) => ((await gql(server.url, RUN, { id })).data as { run: RunView }).run;
const lines = async (raw: string) => (await server.app.db.event.findMany({ where: { runId: raw }, select: { line: true }, orderBy: { line: "asc" } })).map((e) => e.line);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

async function setRetention(policy: RetentionPolicy | null, sprite?: string) {
  const r = await gql(
    server.url,
    `mutation($s: String, $p: RetentionPolicyInput) { setRetention(sprite: $s, policy: $p) { __typename ... on FleetRetention { policy { maxAgeDays maxEventsPerRun } source } ... on Error { message } } }`,
    { s: sprite ?? null, p: policy },
  );
  expect(r.errors).toBeUndefined();
  return (r.data as { setRetention: Record<string, unknown> }).setRetention;
}

/** Passes until one prunes nothing; each prunes at most the batch (7). */
async function pruneAll(): Promise<number[]> {
  const passes: number[] = [];
  for (;;) {
    const { pruned } = await server.app.retention.tick();
    if (!pruned) return passes;
    passes.push(pruned);
  }
}

describe("retention on a real database", () => {
  it("per Sprite, by count, in batches: eventsRetainedFrom moves and event pages start there", async () => {
    const run = await register(server, "ret-count", repoFromRecording("maxiter"));
    expect((await sync(server, run.id)).ingest.cursorLine).toBe(50);
    expect(await view(run.id)).toMatchObject({ eventsRetainedFrom: 1, events: { edges: [{ node: { line: 1 } }, { node: { line: 2 } }, { node: { line: 3 } }] } });
    await setRetention({ maxEventsPerRun: 10 }, "ret-count");
    const passes = await pruneAll();
    // 40 lines go in passes of at most 7 (setRetention also starts a pass of its own, which may take the first 7).
    expect(passes.every((n) => n <= 7)).toBe(true);
    expect(passes.length).toBeGreaterThanOrEqual(5);
    expect(await lines(run.raw)).toEqual(range(41, 50));
    const v = await view(run.id);
    expect(v.eventsRetainedFrom).toBe(41);
    expect(v.events.edges.map((e) => e.node.line)).toEqual([41, 42, 43]);
    // Paging across the gap: a cursor before it continues at the first retained line; one after it as before.
    const page = async (after: string) =>
      (
        (await gql(server.url, `query($id: ID!, $a: String) { run(id: $id) { ... on Run { events(first: 2, after: $a) { edges { node { line } } } } } }`, { id: run.id, a: after })).data as {
          run: { events: { edges: { node: { line: number } }[] } };
        }
      ).run.events.edges.map((e) => e.node.line);
    expect(await page("3")).toEqual([41, 42]);
    expect(await page("44")).toEqual([45, 46]);
    // The runEvents subscription replays from the same place.
    const ws = wsClient(server.url);
    const sub = collect<{ runEvents: { events: { line: number }[] } }>(ws, `subscription($id: ID!) { runEvents(runId: $id, after: "0") { ... on RunEventsBatch { events { line } cursor } } }`, {
      id: run.id,
    });
    const [first] = await sub.next(1);
    expect(first.data!.runEvents.events.map((e) => e.line)).toEqual(range(41, 50));
    sub.dispose();
    await ws.dispose();
    // New lines keep coming after pruning; the window slides.
    const repoLines = fileLines(repoFromRecording("maxiter"));
    appendFileSync(eventsPath((await server.app.db.run.findUniqueOrThrow({ where: { id: run.raw } })).repoPath), `${repoLines.slice(0, 5).join("\n")}\n`);
    expect((await sync(server, run.id)).ingest.cursorLine).toBe(55);
    await pruneAll();
    expect(await lines(run.raw)).toEqual(range(46, 55));
    await setRetention(null, "ret-count");
  });

  it("never the events an open intent reads, nor anything of a run with an unresolved fork", async () => {
    const repo = repoFromRecording("complete");
    const run = await register(server, "ret-guard", repo);
    expect((await sync(server, run.id)).ingest.cursorLine).toBe(26);
    // An intent in flight that has been offered lines up to 5: every line after 5 is its evidence.
    const intent = await server.app.db.controlIntent.create({
      data: {
        runId: run.raw,
        kind: "CANCEL",
        stage: "DISPATCHED",
        idempotencyKey: "ret-guard-1",
        requestedBy: "test",
        traceId: "t-ret",
        observedLine: 5,
        deadlineAt: new Date(Date.now() + 3_600_000),
      },
    });
    await setRetention({ maxEventsPerRun: 1 }, "ret-guard");
    await pruneAll();
    expect(await lines(run.raw)).toEqual(range(6, 26));
    expect((await view(run.id)).eventsRetainedFrom).toBe(6);
    // Once the intent has ended, its lines may go (the cursor's line always stays).
    await server.app.db.controlIntent.update({ where: { id: intent.id }, data: { stage: "FAILED", endedAt: new Date() } });
    await pruneAll();
    expect(await lines(run.raw)).toEqual([26]);

    // A fork: the stored lines are what an operator compares with the rewritten file; none goes until resolved.
    const repo2 = repoFromRecording("complete");
    const forked = await register(server, "ret-fork", repo2);
    expect((await sync(server, forked.id)).ingest.cursorLine).toBe(26);
    writeFileSync(eventsPath(repo2), fileLines(repo2).slice(0, 10).join("\n") + "\n");
    expect((await sync(server, forked.id)).ingest.status).toBe("FORKED");
    await setRetention({ maxEventsPerRun: 1 }, "ret-fork");
    expect(await pruneAll()).toEqual([]);
    expect(await lines(forked.raw)).toEqual(range(1, 26));
    // Resolved by replaying from the start: history starts at line 1 again, and retention applies again.
    const reset = await gql(server.url, `mutation($id: ID!) { resetRunCursor(runId: $id, mode: REPLAY_FROM_START) { __typename } }`, { id: forked.id });
    expect(reset.errors).toBeUndefined();
    await waitFor(
      () => view(forked.id),
      (v) => v.ingest.status === "OK" && v.ingest.cursorLine === 10,
      10_000,
      "replayed",
    );
    expect((await view(forked.id)).eventsRetainedFrom).toBe(1);
    await pruneAll();
    expect(await lines(forked.raw)).toEqual([10]);
    await setRetention(null, "ret-guard");
    await setRetention(null, "ret-fork");
  });

  it("the fleet's policy by age applies to Sprites without their own; a Sprite's own wins; the fleet file sets both", async () => {
    const a = await register(server, "ret-age-a", repoFromRecording("complete"));
    const b = await register(server, "ret-age-b", repoFromRecording("complete"));
    for (const r of [a, b]) expect((await sync(server, r.id)).ingest.cursorLine).toBe(26);
    // The recordings are days old: a one-day limit makes every line old (the cursor's stays); b keeps 20 lines.
    await setRetention({ maxEventsPerRun: 20 }, "ret-age-b");
    expect(await setRetention({ maxAgeDays: 1 })).toMatchObject({ policy: { maxAgeDays: 1, maxEventsPerRun: null }, source: "graphql" });
    await pruneAll();
    expect(await lines(a.raw)).toEqual([26]);
    expect(await lines(b.raw)).toEqual(range(7, 26));
    await setRetention(null);
    await setRetention(null, "ret-age-b");

    // The fleet file: the fleet's policy and a Sprite's, applied on load.
    const dir = mkdtempSync(path.join(tmpdir(), "ops-ret-fleet-"));
    const file = path.join(dir, "fleet.json");
    const repo = (await server.app.db.run.findUniqueOrThrow({ where: { id: b.raw } })).repoPath;
    writeFileSync(
      file,
      JSON.stringify({ retention: { maxAgeDays: 30 }, sprites: [{ name: "ret-age-b", transport: "LOCAL", repoPath: repo, loopId: "demo-loop", retention: { maxEventsPerRun: 5 } }] }),
    );
    const report = await loadFleetFile(server.app, file);
    expect(report.errors).toEqual([]);
    const q = await gql(server.url, `{ fleetRetention { policy { maxAgeDays } source } sprite(name: "ret-age-b") { ... on Sprite { retention { maxEventsPerRun } } } }`);
    expect(q.data).toMatchObject({ fleetRetention: { policy: { maxAgeDays: 30 }, source: "fleet-file" }, sprite: { retention: { maxEventsPerRun: 5 } } });
    // An invalid policy is refused with its path.
    writeFileSync(file, JSON.stringify({ retention: { maxEventsPerRun: 0 }, sprites: [] }));
    expect((await loadFleetFile(server.app, file)).errors[0]?.path).toBe("retention.maxEventsPerRun");
    await setRetention(null);
    await setRetention(null, "ret-age-b");
  });

  it("cluster mode: only the holder of the retention lease prunes", async () => {
    const run = await register(server, "ret-lease", repoFromRecording("maxiter"));
    expect((await sync(server, run.id)).ingest.cursorLine).toBe(50);
    // Set in the table (setRetention would also start a pass of the server's own worker).
    await server.app.pool.query(`UPDATE "Sprite" SET retention = '{"maxEventsPerRun": 1}' WHERE name = 'ret-lease'`);
    const quiet = { debug() {}, info() {}, warn() {}, error() {} };
    const worker = (owner: string) =>
      new RetentionWorker({ pool: server.app.pool, log: quiet, intervalMs: 3_600_000, budget: 5, lease: new SingletonLease(server.app.pool, "retention-test", owner, 60_000) });
    const [a, b] = [worker("replica-a"), worker("replica-b")];
    expect((await a.tick()).pruned).toBe(5);
    expect((await b.tick()).pruned).toBe(0); // a holds the lease: b does nothing although there is work
    expect((await a.tick()).pruned).toBe(5);
    await a.stop(); // hands the lease back
    expect((await b.tick()).pruned).toBe(5);
    await b.stop();
    expect((await view(run.id)).eventsRetainedFrom).toBe(16);
    await setRetention(null, "ret-lease");
  });

  it("pruning never loses or duplicates a line of a run that is ingesting meanwhile", async () => {
    const repo = repoFromRecording("maxiter");
    const run = await register(server, "ret-live", repo);
    const source = fileLines(repo);
    await setRetention({ maxEventsPerRun: 3 }, "ret-live");
    let total = source.length;
    for (let i = 0; i < 30; i++) {
      appendFileSync(eventsPath(repo), `${source[i % source.length]}\n`);
      total++;
      await server.app.retention.tick();
    }
    await waitFor(
      () => view(run.id),
      (v) => v.ingest.cursorLine === total,
      10_000,
      "ingest caught up",
    );
    const stored = await lines(run.raw);
    const from = (await view(run.id)).eventsRetainedFrom;
    expect(stored).toEqual(range(from, total));
    await pruneAll();
    expect(await lines(run.raw)).toEqual(range(total - 2, total));
    await setRetention(null, "ret-live");
  });
});
