import { AdapterError, type EventCursor } from "../contract";
import { isTerminalStage } from "../control/stages";
import { MIN_THREADED, type LinePacker } from "../events/line-packer";
import type { PageEnd } from "../events/page-rows";
import type { Sprite } from "../generated/prisma/client";
import type { RuntimeFacts } from "../lifecycle/types";
import type { Logger } from "../util/log";
import { oneLine, yieldToLoop, type Entry, type Fence } from "./entry";
import { POLL_FAILED } from "./evaluate";
import type { PollCommitter } from "./poll-commit";
import { EnvelopeRejected, rowFromEnvelope, rowsFromEnvelopes, type EventRow } from "./rows";
import type { RunWithIntents } from "./run-row";
import type { StagedPage } from "./staged-page";
import { parseStoredFacts, toRuntimeFacts } from "./stored-facts";

// Reading what changed on a run's Sprite: its runtime facts (settled against an exit in progress) and its new
// event lines, page by page, each page committed before the next one is used (src/ingest/poll-commit.ts).

export interface ReadContext {
  commits: PollCommitter;
  packer: LinePacker;
  batchSize: number;
  log: Logger;
}

/** Rows made from a page's envelopes between two turns of the event loop, and packed together (LinePacker). */
const ROWS_PER_SLICE = MIN_THREADED;

/** A page's rows handed to the line packer ROWS_PER_SLICE at a time, as they are made. */
class PackingSlices {
  private slice: EventRow[] = [];
  private readonly packing: Promise<void>[] = [];

  constructor(private readonly packer: LinePacker) {}

  add(row: EventRow): EventRow {
    this.slice.push(row);
    if (this.slice.length === ROWS_PER_SLICE) this.flush();
    return row;
  }

  /** Every row added is packed. */
  async done(): Promise<void> {
    if (this.slice.length) this.flush();
    await Promise.all(this.packing);
  }

  /** The page is not used: the rows not handed over yet are not packed; those handed over are waited for. */
  async abandon(): Promise<void> {
    this.slice = [];
    await Promise.all(this.packing);
  }

  private flush(): void {
    this.packing.push(this.packer.pack(this.slice));
    this.slice = [];
  }
}

/** The fork reason when a checkpoint restore rewound the Sprite's files (see src/transports/sprite-checkpoints.ts). */
export const CHECKPOINT_RESTORED = "checkpoint_restored";

/**
 * A page read after a cursor, as its rows and what the commit needs of the rest, or why not (a prefetch never
 * rejects: see pollChanged). The envelopes are not kept: a catch-up page's thousands of them would outlive
 * several young-generation collections while the page before commits, for nothing.
 */
type PreparedPage = { page: PageEnd; rows: EventRow[]; staged: StagedPage | null } | { error: unknown };

/**
 * A poll of a run whose files may have changed: reads its runtime facts and every new page of events after the
 * stored cursor, committing page by page. Leaves the entry's fingerprint, time sensitivity and liveness as
 * committed.
 */
export async function pollChanged(ctx: ReadContext, entry: Entry, fingerprint: string | null, spriteObservation: { status: Sprite["status"] }, fence: Fence): Promise<void> {
  const run = await ctx.commits.loadRun(entry.runId);
  if (!run) return;

  const facts = spriteObservation.status === "MISSING" ? null : await readSettledFacts(entry, parseStoredFacts(run.facts).runtime);
  // Reads work again: the failure streak ends here, and this poll's commit clears the health reason.
  entry.transportFailures = 0;
  entry.lastTransportError = null;
  entry.dirty = false;
  const cursor: EventCursor = { line: run.cursorLine, byteOffset: Number(run.cursorByteOffset), lastLineHash: run.cursorLineHash };
  let stored = parseStoredFacts(run.facts);
  let current: RunWithIntents = run;

  const failingPolls = run.ingestStatus === "ERROR" && !!run.ingestError?.startsWith(POLL_FAILED);
  if ((run.ingestStatus === "OK" || failingPolls) && facts) {
    // A catch-up keeps two pages ahead of the one committing: the next one's rows going into the database
    // (staged), the one after it being read, made into rows and packed (on a thread of its own for a large
    // page). So the file read, the parsing, the packing and the inserts overlap instead of adding up
    // (bench:ingest). A page read ahead is only used if the commits before it succeeded, from the cursor they
    // stored; otherwise it is dropped, its rows rolled back.
    const prepare = (from: EventCursor, catchingUp: boolean, previous?: Promise<unknown>): Promise<PreparedPage> => {
      // A catch-up (the page before was full) of a run whose files are on this machine: the page is read, made
      // into rows and packed on the packing thread, off this thread's heap (src/events/page-rows.ts). The
      // first page of a poll is read here: most polls read a few new lines, which a round trip would slow.
      const onThread =
        catchingUp && entry.transport.readEventsMapped ? ctx.packer.readPage({ repoPath: entry.target.repoPath, loopId: entry.target.loopId, cursor: from, limit: ctx.batchSize }) : null;
      const read = onThread ? onThread.then((page) => page ?? readInPlace(ctx, entry, from)) : readInPlace(ctx, entry, from);
      return read.then(
        // A catch-up page's rows go into the database once they are read and the page before's are in (`previous`),
        // while that page commits (src/ingest/staged-page.ts); its own commit goes on in their transaction.
        (page) => ({ page: page.end, rows: page.rows, staged: catchingUp ? ctx.commits.stage(entry.runId, page.rows, previous) : null }),
        (error: unknown) => ({ error }),
      );
    };
    let ended = false;
    /** The page after `p`'s, once `p`'s is read and more follows it (null: none, or the loop has ended). */
    const following = (p: Promise<PreparedPage | null>): Promise<PreparedPage | null> =>
      p.then((prepared) => (ended || !prepared || !continues(prepared) ? null : prepare(prepared.page.cursor, true, prepared.staged?.copied)));
    let next: Promise<PreparedPage | null> = prepare(cursor, false);
    let after = following(next);
    try {
      for (;;) {
        const prepared = await next;
        if (!prepared) break;
        if ("error" in prepared) {
          const e = prepared.error;
          if (e instanceof AdapterError && e.code === "cursor_fork") {
            // Still fail-closed; a checkpoint restore the Sprites API knows of becomes the fork's reason.
            const restore = await restoreBehind(ctx, entry, current);
            const fork = restore
              ? {
                  fork: `${CHECKPOINT_RESTORED}: the Sprite was restored to checkpoint ${restore.checkpointId} at ${restore.restoredAt}; ${e.message}`,
                  forkDetails: { ...e.details, reason: CHECKPOINT_RESTORED, checkpoint: restore },
                }
              : { fork: e.message, forkDetails: e.details };
            await ctx.commits.evaluateAndCommit(entry, facts, [], null, fork, fence, current);
            return;
          }
          if (e instanceof AdapterError || e instanceof EnvelopeRejected) {
            await ctx.commits.evaluateAndCommit(entry, facts, [], null, { ingestError: `${e.code}: ${e.message}` }, fence, current);
            return;
          }
          throw e;
        }
        const { page, rows, staged } = prepared;
        const nextCursor = rows.length ? { line: page.cursor.line, byteOffset: page.cursor.byteOffset, lastLineHash: page.cursor.lastLineHash } : null;
        const pageError = page.error ? `${page.error.code} at line ${page.error.line}: ${page.error.message}` : null;
        const more = continues(prepared);
        if (more) {
          next = after;
          after = following(next);
        }
        const committed = await ctx.commits
          .evaluateAndCommit(entry, facts, rows, nextCursor, pageError ? { ingestError: pageError } : { pollSucceeded: true }, fence, current, stored, staged)
          .finally(() => void staged?.abort());
        if (!committed) return;
        current = committed.run;
        stored = committed.stored;
        if (!more) break;
      }
    } finally {
      // However the loop ends, the pages read ahead and not committed are rolled back, and none is read after.
      ended = true;
      for (const p of [next, after]) void p.then((ahead) => (ahead && "staged" in ahead ? ahead.staged?.abort() : undefined));
    }
  } else {
    const committed = await ctx.commits.evaluateAndCommit(entry, facts, [], null, { pollSucceeded: true }, fence, current, stored);
    if (!committed) return;
    current = committed.run;
  }
  entry.lastFingerprint = fingerprint;
  // `current` is the run as committed by this poll (or as read, when nothing changed): no need to re-read it.
  const openIntent = current.intents.some((i) => !isTerminalStage(i.stage));
  entry.timeSensitive = current.state === "RUNNING" || current.health !== "HEALTHY" || openIntent;
  entry.live = current.state === "RUNNING" || current.state === "PAUSED" || openIntent;
}

/** Whether a page read has a page after it to read: it was full, and read to its end without a bad line. */
function continues(prepared: PreparedPage): prepared is Extract<PreparedPage, { page: PageEnd }> {
  return "page" in prepared && prepared.rows.length > 0 && prepared.page.hasMore && !prepared.page.error;
}

/** The page after `from` read and made into rows on this thread, packed (on the packing thread in slices). */
async function readInPlace(ctx: ReadContext, entry: Entry, from: EventCursor): Promise<{ end: PageEnd; rows: EventRow[] }> {
  const loopId = entry.target.loopId;
  // Each row goes to the line packer in slices as soon as it is made, so the packing thread packs a page while
  // this thread makes the page's later rows, instead of starting once the whole page is made.
  const slices = new PackingSlices(ctx.packer);
  let made = 0;
  try {
    const page = entry.transport.readEventsMapped
      ? // A reader in this process: each line becomes its row as it is read, and the page holds only its rows.
        // A page of envelopes held until the last line was read outlived several young-generation collections and
        // cost the catch-up more than making the rows (bench:ingest).
        await entry.transport.readEventsMapped(entry.target, from, ctx.batchSize, (envelope, text) => slices.add(rowFromEnvelope(envelope, text, loopId, from.line + 1 + made++)))
      : await entry.transport.readEvents(entry.target, from, ctx.batchSize).then(async (page) => {
          // Between the synchronous steps of a page (read, rows, evaluation): a long catch-up (a replay after a
          // cursor reset) must leave the event loop to requests between them. The rows are made in slices, the
          // event loop turning between them: the commit of the page before waits on this thread for each of its
          // statements, and the database idles while a whole page's rows are made (bench:ingest).
          await yieldToLoop();
          const items: EventRow[] = [];
          for (let i = 0; i < page.envelopes.length; i += ROWS_PER_SLICE) {
            if (i > 0) await yieldToLoop();
            const end = Math.min(page.envelopes.length, i + ROWS_PER_SLICE);
            for (const row of rowsFromEnvelopes(page.envelopes.slice(i, end), page.lines.slice(i, end), loopId, from.line + i)) items.push(slices.add(row));
          }
          return { items, cursor: page.cursor, hasMore: page.hasMore, error: page.error };
        });
    await slices.done();
    return { end: { cursor: page.cursor, hasMore: page.hasMore, error: page.error }, rows: page.items };
  } catch (e) {
    await slices.abandon();
    throw e;
  }
}

/** The checkpoint restore behind a fork, when the transport can tell and it happened since the last good poll. */
async function restoreBehind(ctx: ReadContext, entry: Entry, run: RunWithIntents): Promise<{ checkpointId: string; restoredAt: string } | null> {
  if (!entry.transport.restoredSince) return null;
  try {
    return await entry.transport.restoredSince(entry.target, run.lastPolledAt ?? run.createdAt);
  } catch (e) {
    ctx.log.warn("cannot ask the Sprites API about checkpoint restores", { runId: run.id, error: oneLine(e) });
    return null;
  }
}

/**
 * A run that ends normally removes active-run.json in its exit trap before its process dies, so a read that
 * saw the file and then found the pid dead may only have raced that exit: read again, once. Only a file still
 * naming the same dead pid after the pid was seen dead is a killed run; otherwise the second read (state.json
 * written by the exit, the file gone) is the truth. Without this a poll landing in that window reported
 * FAILED/killed for a completed run, and cost-aware polling then never read the Sprite again to correct it.
 */
async function readSettledFacts(entry: Entry, stored: RuntimeFacts | null): Promise<RuntimeFacts> {
  const first = toRuntimeFacts(await entry.transport.readFacts(entry.target));
  if (first.activeRun === null || first.activeRunAlive !== false) return first;
  // Already settled by an earlier poll (stored facts are a settled read): no second read on every poll after.
  if (stored?.activeRunAlive === false && stored.activeRun?.pid === first.activeRun.pid) return first;
  return toRuntimeFacts(await entry.transport.readFacts(entry.target));
}

/** Where events.jsonl ends now (complete lines), read page by page without storing anything (a cursor reset). */
export async function fileEnd(entry: Pick<Entry, "transport" | "target">, batchSize: number): Promise<EventCursor> {
  let cursor: EventCursor = { line: 0, byteOffset: 0, lastLineHash: null };
  for (;;) {
    const page = await entry.transport.readEvents(entry.target, cursor, batchSize);
    if (page.envelopes.length === 0) return cursor;
    cursor = { line: page.cursor.line, byteOffset: page.cursor.byteOffset, lastLineHash: page.cursor.lastLineHash };
    if (!page.hasMore || page.error) return cursor;
  }
}
