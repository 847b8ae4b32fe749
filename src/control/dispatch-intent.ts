import type pg from "pg";
import type { ControlIntent, Prisma, Sprite } from "../generated/prisma/client";
import { LINE_SQL_COLUMNS, payloadOf, type StoredEventLine } from "../events/stored-event";
import { parseStoredFacts } from "../ingest/stored-facts";
import type { RunWriter } from "../runs/writer";
import type { Logger } from "../util/log";
import { TransportError, type RunTarget, type Transport } from "../transports/transport";
import type { RuntimeFacts as AdapterRuntimeFacts } from "../contract";
import { writeStageStep } from "./advance";
import { catchUpFacts, dispatchDetails, observeControlResult, transportIntent } from "./dispatch-result";
import { viewOf } from "./stage-write";
import { advanceIntent, awaitsEvidence, type Observation } from "./stages";

// One dispatch of one REQUESTED intent through its run's transport, and the stages its outcome proves. Called at
// most once per intent (src/cluster/dispatch-once.ts claims it); a transport error is FAILED with its reason,
// never retried here.

export interface DispatchDeps {
  pool: pg.Pool;
  runs: RunWriter;
  log: Logger;
  transportFor: (sprite: Sprite) => Transport;
}

export type IntentWithRun = Prisma.ControlIntentGetPayload<{ include: { run: { include: { sprite: true } } } }>;

export async function dispatchThroughTransport(deps: DispatchDeps, intent: IntentWithRun): Promise<void> {
  const intentId = intent.id;
  const { run } = intent;
  const kind = intent.kind;
  const startedAt = new Date();
  const fromLine = run.cursorLine;
  // Durably mark the dispatch as started before the command runs. A REQUESTED intent that already carries the
  // mark was being dispatched by a process that died before recording the outcome: the command may or may not
  // have run, so it ends AMBIGUOUS — never dispatched a second time.
  const claimed = await deps.pool.query(`UPDATE "ControlIntent" SET "dispatchedAt" = $2, "updatedAt" = now() WHERE id = $1 AND stage = 'REQUESTED' AND "dispatchedAt" IS NULL`, [intentId, startedAt]);
  if (claimed.rowCount === 0) {
    await writeStageStep(deps.runs, deps.pool, intentId, undefined, async (current) => ({ transitions: interrupted(current) }));
    return;
  }
  let observation: Observation;
  let details: Record<string, unknown> = {};
  try {
    const transport = deps.transportFor(run.sprite);
    const target = { runId: run.id, spriteName: run.sprite.name, repoPath: run.repoPath, loopId: run.loopId };
    const request = { by: intent.requestedBy, note: intent.note, idempotencyKey: intent.idempotencyKey, traceId: intent.traceId };
    if (kind === "RESTART") {
      ({ observation, details } = await restartThrough(transport, target, request));
    } else {
      const result = await transport.control(target, { intent: transportIntent(kind), ...request });
      observation = observeControlResult(kind, result, new Date().toISOString());
      details = dispatchDetails(result);
    }
  } catch (e) {
    observation = { type: "dispatch_failed", at: new Date().toISOString(), error: (e as Error).message };
    // The Sprites API refused to wake the Sprite for an org limit: named on the intent, with its numbers.
    if (e instanceof TransportError && e.code === "sprite_limit_exceeded") observation = { ...observation, code: e.code, details: { limit: e.details } };
  }
  deps.log.info("control intent dispatched", { intentId, runId: run.id, kind, observation: observation.type });
  await writeStageStep(deps.runs, deps.pool, intentId, startedAt, async (current, c, runRow) => {
    const view = { ...viewOf(current), dispatchedAt: startedAt.toISOString(), dispatchResult: null };
    const first = advanceIntent(view, observation) ?? [];
    if (first[0]) first[0] = { ...first[0], evidence: { ...first[0].evidence, dispatch: details } };
    const stage = first.length ? first[first.length - 1].to : view.stage;
    if (!awaitsEvidence(stage)) return { transitions: first };
    // Evidence the poller ingested while this intent was REQUESTED (it skips those): offer it now.
    const events = await c.query<StoredEventLine & { status: string | null; line: number }>(
      `SELECT status, line, ${LINE_SQL_COLUMNS} FROM "Event" WHERE "runId" = $1 AND line > $2 ORDER BY line LIMIT 5000`,
      [current.runId, fromLine],
    );
    // From here on the poller offers this intent every stored line after the last one read here, however
    // its polls interleave with this transaction (ControlIntent.observedLine).
    const observedLine = events.rows.length ? events.rows[events.rows.length - 1].line : fromLine;
    const polledAfter = runRow.lastPolledAt !== null && runRow.lastPolledAt >= startedAt;
    const runtime = polledAfter ? parseStoredFacts(runRow.facts).runtime : null;
    if (!events.rows.length && !runtime) return { transitions: first, observedLine };
    const facts = catchUpFacts(
      events.rows.map((e) => ({ name: e.name, status: e.status, line: e.line, timestamp: e.timestamp.toISOString(), data: payloadOf(e) })),
      runtime,
    );
    const acceptedAt = first.find((t) => t.to === "ACCEPTED")?.at ?? view.acceptedAt;
    const second = advanceIntent({ ...view, stage, acceptedAt }, { type: "poll", now: new Date(), facts }) ?? [];
    return { transitions: [...first, ...second], observedLine };
  });
}

/** A REQUESTED intent whose dispatch started earlier and never recorded its outcome ends AMBIGUOUS. */
function interrupted(current: ControlIntent) {
  if (current.stage !== "REQUESTED" || !current.dispatchedAt) return [];
  return [
    {
      from: "REQUESTED" as const,
      to: "AMBIGUOUS" as const,
      at: new Date().toISOString(),
      observation: "a dispatch started earlier and never recorded its outcome (its process stopped mid-command); not dispatched again",
      evidence: { dispatchStartedAt: current.dispatchedAt.toISOString() },
      error: "dispatch_interrupted",
    },
  ];
}

/** "pid N is alive and is the run" when the runtime side shows a live run of this loop, else null. */
export function liveRunDescription(facts: Pick<AdapterRuntimeFacts, "activeRun" | "activeRunAlive" | "launch" | "launchAlive">): string | null {
  if (facts.activeRun && facts.activeRunAlive === true) return `the run's process is alive (pid ${facts.activeRun.pid ?? "?"} in active-run.json); cancel it instead`;
  if (facts.launchAlive === true) return `the launched run is still alive (process group ${facts.launch?.pgid ?? "?"}); cancel it instead`;
  return null;
}

/**
 * RESTART through a transport: the runtime's only way out of stale `state.active` is `cancel` (it deletes
 * state.json), then `run`. The cancel's result and the facts read after it are kept as evidence; the start
 * is judged like a START (exit at once → FAILED with the runtime's message, loop_start → CONFIRMED).
 */
async function restartThrough(
  transport: Transport,
  target: RunTarget,
  request: { by: string; note: string | null; idempotencyKey: string; traceId: string },
): Promise<{ observation: Observation; details: Record<string, unknown> }> {
  const at = () => new Date().toISOString();
  const cancel = await transport.control(target, { ...request, intent: "cancel", idempotencyKey: `${request.idempotencyKey}:cancel` });
  const details: Record<string, unknown> = { cancel: dispatchDetails(cancel) };
  if (!cancel.ok) {
    return { observation: { type: "dispatch_failed", at: at(), error: `restart: cancel failed: ${cancel.error?.message ?? `exit ${cancel.exitCode}`}` }, details };
  }
  const after = await transport.readFacts(target);
  const live = liveRunDescription(after);
  const cleared = { stateActive: after.state?.active === true, activeRunExists: after.activeRun !== null, activeRunAlive: after.activeRunAlive, launchAlive: after.launchAlive ?? null };
  details["cleared"] = cleared;
  if (live !== null || cleared.stateActive) {
    const why = live ?? "state.json still says active after cancel";
    return { observation: { type: "dispatch_failed", at: at(), error: `restart: stale state not cleared: ${why}` }, details };
  }
  const start = await transport.control(target, { ...request, intent: "start", idempotencyKey: `${request.idempotencyKey}:start` });
  details["start"] = dispatchDetails(start);
  return { observation: observeControlResult("RESTART", start, at()), details };
}
