import pg from "pg";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { repoWithLines } from "../../bench/support";
import { PollCommitter } from "../../src/ingest/poll-commit";
import { commitPoll, CursorConflict, type CommitInput } from "../../src/ingest/commit";
import { packedRow, type EventRow } from "../../src/ingest/rows";
import { StagedPage } from "../../src/ingest/staged-page";
import { pruneChunk } from "../../src/retention/pruner";
import { removeSprite } from "../../src/registry/register";
import { VERBATIM } from "../../src/events/line-codec";
import type { Run } from "../../src/generated/prisma/client";
import type { RunningServer } from "../../src/server";
import { copyTransactionsOpen } from "../support/db";
import { repoFromRecording } from "../support/fixtures";
import { register, sync, waitFor } from "../support/runs";
import { startTestServer } from "../support/server";

// A catch-up page's rows COPYed ahead of its commit, in a transaction of their own (src/ingest/staged-page.ts),
// against a real database: they commit with the page's cursor or not at all, they are not held up by a writer
// holding the run's lock, a duplicate or a lost race rolls them back, and no connection is left in a
// transaction or kept from the pool.

let server: RunningServer;
beforeAll(async () => {
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "3600000" });
});
afterAll(() => server?.close());

async function freshRun(name: string): Promise<Run> {
  const run = await register(server, name, repoFromRecording("complete"));
  await sync(server, run.id);
  return server.app.db.run.findUniqueOrThrow({ where: { id: run.raw } });
}

/** Rows for lines from..to of a run, as a page would have made them (stored verbatim). */
function rows(from: number, to: number): EventRow[] {
  return Array.from({ length: to - from + 1 }, (_, i) =>
    packedRow(
      { line: from + i, timestamp: new Date(Date.UTC(2026, 10, 30, 12, 0, i)), name: "tick", role: null, status: null, message: null, runtimeRunId: null, iteration: null },
      `${VERBATIM}{"event":"tick","n":${from + i}}`,
    ),
  );
}

/** A poll's commit of `events` on top of `run` as read, its projection the run's own. */
function input(run: Run, events: EventRow[], staged: StagedPage | null): CommitInput {
  return {
    runId: run.id,
    expectedLine: run.cursorLine,
    expectedSeq: run.seq,
    events,
    cursor: { line: events[events.length - 1].line, byteOffset: Number(run.cursorByteOffset) + events.length * 30, lastLineHash: "a".repeat(64) },
    projection: {
      state: run.state,
      stateReason: run.stateReason,
      runtimeRunId: run.runtimeRunId,
      iteration: run.iteration,
      divergence: run.divergence,
      health: run.health,
      healthReasons: run.healthReasons,
      approval: run.approval,
      gates: run.gates,
      stuck: run.stuck,
      lastEventName: "tick",
      lastEventAt: events[events.length - 1].timestamp,
      facts: run.facts,
      ingestStatus: "OK",
      ingestError: null,
      needsIntervention: run.needsIntervention,
    },
    stateChanged: false,
    transition: null,
    intents: [],
    staged,
  };
}

const lines = async (runId: string) => (await server.app.db.event.findMany({ where: { runId }, select: { line: true }, orderBy: { line: "asc" } })).map((e) => e.line);

/**
 * Sessions of this database left inside a transaction after COPYing events: a staged page must never leave one
 * behind. Waited for a little: an abort ends its transaction in the background.
 */
async function openTransactions(): Promise<number> {
  const count = () => copyTransactionsOpen(server.app.pool);
  return waitFor(count, (n) => n === 0, 2000, "no transaction left open after a COPY").catch(() => count());
}

/** A fresh run with its next two lines staged, their COPY done. */
async function stagedRun(name: string): Promise<{ run: Run; page: EventRow[]; staged: StagedPage }> {
  const run = await freshRun(name);
  const page = rows(run.cursorLine + 1, run.cursorLine + 2);
  const staged = stage(run.id, page);
  await staged.copied;
  return { run, page, staged };
}

/** `p`'s value, or "still waiting" after 5 s: for what must not wait for a lock. */
function unlessWaiting<T>(p: Promise<T>): Promise<T | "still waiting"> {
  return Promise.race([p, new Promise<"still waiting">((r) => setTimeout(() => r("still waiting"), 5000))]);
}

function stage(runId: string, page: EventRow[]): StagedPage {
  const staged = StagedPage.start(server.app.pool, runId, page);
  if (!staged) throw new Error("the pool had no connection to spare");
  return staged;
}

describe("a staged page", () => {
  it("commits with the page's cursor and projection, in the transaction its rows went into", async () => {
    const run = await freshRun("staged-commit");
    const page = rows(run.cursorLine + 1, run.cursorLine + 3);
    const staged = stage(run.id, page);
    expect(await staged.copied).toBe(3);
    // Not visible before its commit.
    expect((await lines(run.id)).length).toBe(run.cursorLine);
    const committed = await commitPoll(server.app.runs, input(run, page, staged));
    expect(committed).toMatchObject({ inserted: 3, seq: run.seq + 1 });
    expect(committed.run.cursorLine).toBe(run.cursorLine + 3);
    expect((await lines(run.id)).slice(-3)).toEqual([run.cursorLine + 1, run.cursorLine + 2, run.cursorLine + 3]);
    expect(await openTransactions()).toBe(0);
    await staged.abort(); // taken: nothing to do
    expect((await lines(run.id)).length).toBe(run.cursorLine + 3);
  });

  it("is COPYed once the page before's COPY has settled, not before (one COPY of a run at a time)", async () => {
    const run = await freshRun("staged-after");
    let settle!: () => void;
    const before = new Promise<void>((resolve) => (settle = resolve));
    const staged = StagedPage.start(server.app.pool, run.id, rows(run.cursorLine + 1, run.cursorLine + 2), before)!;
    let copied = false;
    void staged.copied.then(() => (copied = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(copied).toBe(false);
    settle();
    expect(await staged.copied).toBe(2);
    await staged.abort();
    // A page before that failed does not keep this one from its COPY (its commit then decides: here, aborted).
    const next = StagedPage.start(server.app.pool, run.id, rows(run.cursorLine + 1, run.cursorLine + 2), Promise.reject(new Error("failed")))!;
    expect(await next.copied).toBe(2);
    await next.abort();
    expect(await openTransactions()).toBe(0);
  });

  it("is COPYed while another writer holds the run's lock (the lock does not wait for rows that only reference the run)", async () => {
    const run = await freshRun("staged-under-lock");
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const lockTaken = new Promise<void>((r) => (locked = r));
    const writer = server.app.runs.write(run.id, async () => {
      locked();
      await held;
      return { announce: true, result: null };
    });
    await lockTaken;
    const page = rows(run.cursorLine + 1, run.cursorLine + 2);
    const staged = stage(run.id, page);
    const copied = await unlessWaiting(staged.copied);
    release();
    await writer;
    expect(copied).toBe(2);
    // The other writer moved the run's seq: this page's view is stale, and its rows go with its commit.
    await expect(commitPoll(server.app.runs, input(run, page, staged))).rejects.toBeInstanceOf(CursorConflict);
    expect((await lines(run.id)).length).toBe(run.cursorLine);
    expect(await openTransactions()).toBe(0);
  });

  it("does not hold up the retention pruner, which locks the run too; both then commit", async () => {
    const { run, page, staged } = await stagedRun("staged-prune");
    const candidate = { id: run.id, cursorLine: run.cursorLine, eventsRetainedFrom: run.eventsRetainedFrom, policy: { maxEventsPerRun: 5 }, archivedLines: null };
    const pruned = await unlessWaiting(pruneChunk(server.app.pool, candidate, new Date(), 1000));
    expect(pruned).toBe(run.cursorLine - 5);
    await commitPoll(server.app.runs, input(run, page, staged));
    expect(await lines(run.id)).toEqual(Array.from({ length: 7 }, (_, i) => run.cursorLine - 4 + i));
    expect(await openTransactions()).toBe(0);
  });

  it("does not make a purge of its Sprite fail: the purge waits for it, then deletes the run", async () => {
    const { run, page, staged } = await stagedRun("staged-purge");
    // The purge's DELETE waits for the staged rows' transaction (their foreign key check holds a share lock on
    // the run's row). The staged commit, a holder of that row's lock already, takes its own lock ahead of the
    // waiting DELETE (PostgreSQL does not queue a locker behind a waiter for a row it holds): it commits, then
    // the purge deletes the run with everything of it.
    const purge = removeSprite(server.app, "staged-purge", true);
    await new Promise((r) => setTimeout(r, 200));
    await commitPoll(server.app.runs, input(run, page, staged));
    await expect(purge).resolves.toMatchObject({ purged: true });
    expect(await server.app.db.run.findUnique({ where: { id: run.id } })).toBeNull();
    expect(await lines(run.id)).toEqual([]);
    expect(await openTransactions()).toBe(0);
  });

  it("of lines already stored fails as a cursor conflict, and nothing of its commit is stored", async () => {
    const run = await freshRun("staged-duplicate");
    const page = rows(run.cursorLine - 1, run.cursorLine + 1); // overlaps the last two stored lines
    const staged = stage(run.id, page);
    await expect(staged.copied).rejects.toThrow(/already stored/);
    await expect(commitPoll(server.app.runs, input(run, page, staged))).rejects.toBeInstanceOf(CursorConflict);
    const after = await server.app.db.run.findUniqueOrThrow({ where: { id: run.id } });
    expect({ cursorLine: after.cursorLine, seq: after.seq }).toEqual({ cursorLine: run.cursorLine, seq: run.seq });
    expect(await lines(run.id)).not.toContain(run.cursorLine + 1);
    expect(await openTransactions()).toBe(0);
  });

  it("aborted, is rolled back and its connection returned; it cannot be committed after", async () => {
    const run = await freshRun("staged-abort");
    const page = rows(run.cursorLine + 1, run.cursorLine + 4);
    const staged = stage(run.id, page);
    await staged.copied;
    await staged.abort();
    await staged.abort();
    await expect(staged.take()).rejects.toThrow(/already aborted/);
    expect((await lines(run.id)).length).toBe(run.cursorLine);
    expect(await openTransactions()).toBe(0);
    // The same lines commit normally afterwards: nothing of the aborted page is held anywhere.
    await commitPoll(server.app.runs, input(run, rows(run.cursorLine + 1, run.cursorLine + 4), null));
    expect((await lines(run.id)).length).toBe(run.cursorLine + 4);
  });

  it("is not started when the pool has no connection to spare, nor beyond a quarter of the pool at once", async () => {
    const run = await freshRun("staged-no-spare");
    let line = run.cursorLine;
    const one = () => rows(++line, line); // lines of their own: no COPY waits for another's
    const pool = new pg.Pool({ connectionString: server.app.databaseUrl, max: 8 });
    try {
      // A quarter of 8: two pages staged at once, not a third.
      const first = StagedPage.start(pool, run.id, one());
      const second = StagedPage.start(pool, run.id, one());
      expect(first).not.toBeNull();
      expect(second).not.toBeNull();
      expect(StagedPage.start(pool, run.id, one())).toBeNull();
      await first!.abort();
      const third = StagedPage.start(pool, run.id, one());
      expect(third).not.toBeNull();
      await second!.abort();
      await third!.abort();
      // Every connection of the pool in use: none to spare.
      const held = await Promise.all(Array.from({ length: 8 }, () => pool.connect()));
      expect(StagedPage.start(pool, run.id, one())).toBeNull();
      held.forEach((c) => c.release());
      const fourth = StagedPage.start(pool, run.id, one());
      expect(fourth).not.toBeNull();
      await fourth!.abort();
      expect(StagedPage.start(pool, run.id, [])).toBeNull();
      // A pool of fewer than four connections stages nothing.
      const small = new pg.Pool({ connectionString: server.app.databaseUrl, max: 3 });
      expect(StagedPage.start(small, run.id, one())).toBeNull();
      await small.end();
    } finally {
      await pool.end();
    }
  });

  it("and a writer of the same lines holding the run's lock: one of them commits, the other loses a race", async () => {
    const { run, page, staged } = await stagedRun("staged-deadlock");
    // The plain commit locks the run, then waits at the unique index for the staged rows; the staged commit then
    // waits for the lock. PostgreSQL ends one of the two (deadlock_timeout, 1 s): a RunConflict, not an error.
    const plain = commitPoll(server.app.runs, input(run, rows(run.cursorLine + 1, run.cursorLine + 2), null));
    await new Promise((r) => setTimeout(r, 200));
    const viaStaged = commitPoll(server.app.runs, input(run, page, staged));
    const outcomes = await Promise.allSettled([plain, viaStaged]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(["fulfilled", "rejected"]);
    const lost = outcomes.find((o) => o.status === "rejected") as PromiseRejectedResult;
    expect(lost.reason).toBeInstanceOf(CursorConflict);
    expect((await lines(run.id)).slice(-2)).toEqual([run.cursorLine + 1, run.cursorLine + 2]);
    expect((await server.app.db.run.findUniqueOrThrow({ where: { id: run.id } })).cursorLine).toBe(run.cursorLine + 2);
    expect(await openTransactions()).toBe(0);
  });
});

describe("a catch-up", () => {
  it("whose commit loses a race rolls back the page staged after it, and the retry stores every line once", async () => {
    const LINES = 15_000; // three pages
    const { repo } = repoWithLines("ops-staged-race-", LINES);
    const stage = vi.spyOn(PollCommitter.prototype, "stage");
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with the instance as `this`
    const commit = PollCommitter.prototype.evaluateAndCommit;
    let pages = 0;
    let raced = false;
    const spy = vi.spyOn(PollCommitter.prototype, "evaluateAndCommit").mockImplementation(async function (this: PollCommitter, ...args) {
      const [entry, , rows] = args;
      if (rows.length > 0 && ++pages === 2) {
        // The third page is read and staged meanwhile; then another writer moves the run under the second.
        await waitFor(
          async () => stage.mock.results.filter((r) => r.type === "return" && r.value !== null).length,
          (n) => n >= 2,
          10_000,
          "the third page staged",
        );
        await stage.mock.results[1].value.copied;
        await server.app.runs.write(entry.runId, async () => ({ announce: false, result: null }));
        raced = true;
      }
      return commit.apply(this, args);
    });
    try {
      const run = await register(server, "staged-race", repo);
      await waitFor(
        async () => (await sync(server, run.id)).ingest,
        (i) => i.cursorLine === LINES || i.status !== "OK",
        30_000,
        "the whole file ingested",
      );
      expect(raced).toBe(true);
      expect(await server.app.db.event.count({ where: { runId: run.raw } })).toBe(LINES);
      expect(await openTransactions()).toBe(0);
    } finally {
      spy.mockRestore();
      stage.mockRestore();
    }
  });
});
