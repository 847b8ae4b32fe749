import type { App } from "../app";
import { NotFoundError } from "../errors";
import { emptyEventFacts } from "../lifecycle/event-facts";
import type { EventCursor } from "../contract";

// The operator's way out of a fork (invariant 3 of docs/architecture.md): ingestion stays stopped until someone decides
// what the changed file means. Written through the run writer (src/runs/writer.ts), under the poller's row lock.

export type ResetMode = "REPLAY_FROM_START" | "ADOPT_CURRENT";

export interface ResetResult {
  mode: ResetMode;
  previousLine: number;
  newLine: number;
  deletedEvents: number;
}

export async function resetRunCursor(app: App, runId: string, mode: ResetMode, actor: string, note: string | null): Promise<ResetResult> {
  // ADOPT_CURRENT needs the file's current end: read through the run's transport without storing anything.
  const end: EventCursor = mode === "ADOPT_CURRENT" ? await app.ingestor.currentEnd(runId) : { line: 0, byteOffset: 0, lastLineHash: null };
  const written = await app.runs.write(runId, async (c, run) => {
    const more = await c.query<{ facts: { events?: unknown; runtime?: unknown } | null; divergence: Record<string, unknown> }>(`SELECT facts, divergence FROM "Run" WHERE id = $1`, [runId]);
    const { facts: stored, divergence } = more.rows[0];
    const del = await c.query(`DELETE FROM "Event" WHERE "runId" = $1 AND line > $2`, [runId, end.line]);
    // Replaying from the start folds the events again from nothing; adopting keeps what was folded.
    const facts = mode === "REPLAY_FROM_START" ? { ...(stored ?? {}), events: emptyEventFacts() } : (stored ?? {});
    const result: ResetResult = { mode, previousLine: run.cursorLine, newLine: end.line, deletedEvents: del.rowCount ?? 0 };
    // The lines now stored start again where the reset left them: history starts no later than the next line,
    // and an archive of the old lines no longer describes what is stored (its file stays where it is).
    const columns = {
      set: `"cursorLine"=$3, "cursorByteOffset"=$4, "cursorLineHash"=$5, "ingestStatus"='OK', "ingestError"=NULL, facts=$6::jsonb, divergence=$7::jsonb,
            "updatedAt"=now(), "eventsRetainedFrom"=LEAST("eventsRetainedFrom", $3 + 1), archive=NULL`,
      values: [end.line, end.byteOffset, end.lastLineHash, JSON.stringify(facts), JSON.stringify({ ...divergence, cursorRegression: null })],
    };
    const transition = { from: run.state, to: run.state, reason: run.stateReason, trigger: "cursor_reset", actor, evidence: { ...result, note } };
    return { columns, transition, result };
  });
  if (!written) throw new NotFoundError("Run", runId);
  const result = written.result;
  // The re-read starts now; a small run is caught up before the answer, a large replay (200,000 events is
  // tens of seconds) goes on in the poller's pages and the answer does not wait for it (the run's
  // ingest.cursorLine shows the progress).
  const caughtUp = app.requestSync(runId).catch((e: unknown) => app.log.warn("re-read after a cursor reset failed", { runId, error: (e as Error).message }));
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([caughtUp, new Promise<void>((resolve) => (timer = setTimeout(resolve, RESET_ANSWER_WAIT_MS)))]);
  clearTimeout(timer);
  return result;
}

/** How long the reset's answer waits for the re-read to catch up. */
export const RESET_ANSWER_WAIT_MS = 2_000;
