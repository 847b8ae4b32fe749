import type { App } from "../app";
import { emptyEventFacts } from "../lifecycle/event-facts";
import type { EventCursor } from "../contract";

// The operator's way out of a fork (invariant 3 of docs/architecture.md): ingestion stays stopped until someone decides
// what the changed file means. Part of the ingest write path, and guarded by the same row lock.

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
  const client = await app.pool.connect();
  let result: ResetResult;
  let seq: number;
  let state: { state: string; stateReason: string; spriteId: string };
  try {
    await client.query("BEGIN");
    const cur = await client.query<{
      cursorLine: number;
      seq: number;
      state: string;
      stateReason: string;
      spriteId: string;
      facts: { events?: unknown; runtime?: unknown } | null;
      divergence: Record<string, unknown>;
    }>(`SELECT "cursorLine", seq, state, "stateReason", "spriteId", facts, divergence FROM "Run" WHERE id = $1 FOR UPDATE`, [runId]);
    const row = cur.rows[0];
    const del = await client.query(`DELETE FROM "Event" WHERE "runId" = $1 AND line > $2`, [runId, end.line]);
    seq = row.seq + 1;
    // Replaying from the start folds the events again from nothing; adopting keeps what was folded.
    const facts = mode === "REPLAY_FROM_START" ? { ...(row.facts ?? {}), events: emptyEventFacts() } : (row.facts ?? {});
    const divergence = { ...row.divergence, cursorRegression: null };
    // The lines now stored start again where the reset left them: history starts no later than the next line,
    // and an archive of the old lines no longer describes what is stored (its file stays where it is).
    await client.query(
      `UPDATE "Run" SET "cursorLine"=$2, "cursorByteOffset"=$3, "cursorLineHash"=$4, "ingestStatus"='OK', "ingestError"=NULL,
       facts=$5::jsonb, divergence=$6::jsonb, seq=$7, "updatedAt"=now(),
       "eventsRetainedFrom"=LEAST("eventsRetainedFrom", $2 + 1), archive=NULL WHERE id=$1`,
      [runId, end.line, end.byteOffset, end.lastLineHash, JSON.stringify(facts), JSON.stringify(divergence), seq],
    );
    result = { mode, previousLine: row.cursorLine, newLine: end.line, deletedEvents: del.rowCount ?? 0 };
    await client.query(
      `INSERT INTO "LifecycleTransition" ("runId", seq, "from", "to", reason, trigger, actor, evidence)
       VALUES ($1, $2, $3::"LifecycleState", $3::"LifecycleState", $4, 'cursor_reset', $5, $6::jsonb)`,
      [runId, seq, row.state, row.stateReason, actor, JSON.stringify({ ...result, note })],
    );
    await client.query("COMMIT");
    state = row;
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {});
    throw e;
  } finally {
    client.release();
  }
  app.bus.publish("run", runId, {
    runId,
    spriteId: state.spriteId,
    seq,
    previousState: state.state as never,
    state: state.state as never,
    reason: state.stateReason,
    lifecycleChanged: false,
    at: new Date(),
  });
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
