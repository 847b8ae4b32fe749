import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { repoWithLines } from "../../bench/support";
import { MIN_THREADED } from "../../src/events/line-packer";
import { readEventPage } from "../../src/events/page";
import { originalLine } from "../../src/events/stored-event";
import { PollCommitter } from "../../src/ingest/poll-commit";
import type { RunningServer } from "../../src/server";
import { columnsOf, packingThreadReady } from "../events/line-fixtures";
import { copyTransactionsOpen } from "../support/db";
import { until } from "../support/embedded-dirs";
import { fileLines } from "../support/fixtures";
import { register, sync, waitFor } from "../support/runs";
import { startTestServer } from "../support/server";

// A long history caught up from cold: pages of 5,000 lines, read and packed on the packing thread
// (src/events/line-packer.ts) while the page before commits. Every stored line must still be the file's own.

let server: RunningServer;
beforeAll(async () => {
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "3600000" });
});
afterAll(() => server?.close());

describe("catching up a long history", () => {
  it("stores every line byte-exact, pages packed on the thread included", async () => {
    const LINES = 60_000;
    const { repo } = repoWithLines("ops-catch-up-", LINES);
    // The thread starts on a first large page and packs the pages after it once ready: started here, so that a
    // slow start on a loaded machine cannot leave every page of this history packed in place.
    const packer = server.app.ingestor.packer;
    const warm = fileLines(repo)
      .slice(0, MIN_THREADED)
      .map((text, i) => ({ ...columnsOf(text), line: i + 1, status: null, message: null, payload: null, text, packed: "" }));
    await packer.pack(warm);
    await packingThreadReady(packer, 30_000);
    // The poll goes on from each page's commit without reading the run again (src/ingest/poll-commit.ts): its
    // intents are read once per poll, not once per page. Counted from before the run exists: its first poll may
    // start (and catch up) before register returns. This server has no other run.
    const pool = server.app.pool;
    const query = pool.query.bind(pool);
    let intentReads = 0;
    let polls = 0;
    pool.query = ((config: unknown, values?: unknown) => {
      const text = typeof config === "string" ? config : (config as { text?: string }).text;
      const params = typeof config === "string" ? values : (config as { values?: unknown[] }).values;
      if (text?.includes(`FROM "ControlIntent" i WHERE i."runId" = $1 ORDER BY`) && Array.isArray(params)) intentReads++;
      return query(config as never, values as never);
    }) as typeof pool.query;
    // A catch-up page's rows go into the database while the page before commits (src/ingest/staged-page.ts).
    const stage = vi.spyOn(PollCommitter.prototype, "stage");
    // And the poll reads two pages ahead of the one committing, never more: how far ahead of the last committed
    // line each page read on the thread starts, and which of those reads are done.
    let committedThrough = 0;
    const ahead: number[] = [];
    const aheadRead: number[] = [];
    const readPage = packer.readPage.bind(packer);
    const pageRead = vi.spyOn(packer, "readPage").mockImplementation((req) => {
      const pages = (req.cursor.line - committedThrough) / 5000;
      ahead.push(pages);
      const read = readPage(req);
      const settled = () => void aheadRead.push(pages);
      read?.then(settled, settled);
      return read;
    });
    // How far the poll reads ahead depends on how fast reads are against commits (a loaded machine's reads may
    // never get two pages ahead). So the first commit is held until a page two ahead of it has been read, and a
    // little longer: a poll reading three ahead would start that read meanwhile.
    let held = false;
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called below with the instance as `this`
    const evaluateAndCommit = PollCommitter.prototype.evaluateAndCommit;
    const commit = vi.spyOn(PollCommitter.prototype, "evaluateAndCommit").mockImplementation(async function (this: PollCommitter, ...args) {
      if (!held) {
        held = true;
        await until("a page read two ahead of the first commit", () => aheadRead.includes(2), 30_000);
        await new Promise((r) => setTimeout(r, 200));
      }
      const committed = await evaluateAndCommit.apply(this, args);
      if (committed) committedThrough = committed.run.cursorLine;
      return committed;
    });
    const run = await register(server, "catch-up", repo);
    try {
      await waitFor(
        async () => (polls++, (await sync(server, run.id)).ingest),
        (i) => i.cursorLine === LINES || i.status !== "OK",
        60_000,
        "the whole file ingested",
      );
    } finally {
      pool.query = query;
    }
    // Every page but each poll's first is staged (the pool has connections to spare: this server has no other run).
    const staged = stage.mock.results.filter((r) => r.type === "return" && r.value !== null).length;
    expect(staged).toBe(stage.mock.calls.length);
    expect(staged).toBeGreaterThanOrEqual(LINES / 5000 - (polls + 1));
    stage.mockRestore();
    pageRead.mockRestore();
    commit.mockRestore();
    // A page read from the cursor after the last commit is 0 ahead, the one after it 1 (being read while that
    // page commits), the one after that 2: read while the page before it is staged and the one before that commits.
    // Never 3, even while the first commit was held.
    expect(Math.max(...ahead)).toBe(2);
    expect(await copyTransactionsOpen(pool)).toBe(0);
    expect(intentReads).toBeGreaterThan(0);
    // One read per poll: the syncs here, and the poll registering the run started.
    expect(intentReads).toBeLessThanOrEqual(polls + 1);
    // Every line packed on the (warm) thread: a poll's first page handed over in slices of MIN_THREADED rows, the
    // pages after it (a catch-up of a local run) read, made into rows and packed there whole.
    expect(packer.pagesRead).toBeGreaterThan(0);
    expect(packer.batches.threaded * MIN_THREADED + packer.pagesRead * 5000).toBeGreaterThanOrEqual(LINES);
    const want = fileLines(repo);
    for (let after = 0; after < LINES; after += 5000) {
      const page = await readEventPage(server.app.pool, { runId: run.raw, after, before: LINES + 1, limit: 5000, descending: false });
      expect(page.map((e) => originalLine(e))).toEqual(want.slice(after, after + 5000));
    }
  }, 120_000);
});
