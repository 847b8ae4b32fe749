import { randomUUID } from "node:crypto";
import { inSpan } from "../observability/otel";
import { currentTraceId, newTraceId, withTrace } from "../observability/trace";
import type pg from "pg";
import { dispatchOrForward, type IntentDispatchDeps } from "../cluster/dispatch-once";
import type { Config } from "../config/config";
import type { Db } from "../db/client";
import { inTransaction } from "../db/transaction";
import type { ControlIntent, Prisma, Sprite } from "../generated/prisma/client";
import type { Principal } from "../auth/principal";
import { viewOf, type StageRecord } from "../ingest/intents";
import { parseStoredFacts } from "../ingest/stored-facts";
import type { LifecycleState } from "../lifecycle/types";
import type { OpsBus } from "../pubsub/topics";
import type { Logger } from "../util/log";
import { TransportError, type RunTarget, type Transport } from "../transports/transport";
import type { RuntimeFacts as AdapterRuntimeFacts } from "../contract";
import { LINE_SQL_COLUMNS, payloadOf, type StoredEventLine } from "../events/stored-event";
import { catchUpFacts, dispatchDetails, observeControlResult, transportIntent } from "./dispatch-result";
import {
  advanceIntent,
  checkPrecondition,
  computeDeadline,
  intentDeadlineMs,
  isTerminalStage,
  stampsOf,
  type IntentKind,
  type Observation,
  type PreconditionError,
  type PreconditionRun,
  type StageTransition,
} from "./stages";

// The control service (invariant 4 of docs/architecture.md): a request becomes a ControlIntent row (REQUESTED, or REJECTED
// when a precondition refuses it — refusals are audited too), is dispatched once through the run's transport,
// and returns at DISPATCHED/ACCEPTED. Confirmation is the poller's job. Every stage change written here bumps
// Run.seq under the run's row lock, the same lock the ingest commit takes, so the two writers never interleave.

export interface ControlRequestInput {
  runId: string;
  kind: IntentKind;
  note: string | null;
  idempotencyKey: string | null;
  resumeAfterApprove: boolean;
  /** the trace of the request that asked for it (src/observability/trace.ts); generated when absent */
  traceId?: string | null;
}

export type ControlOutcome =
  | { kind: "intent"; intent: ControlIntent; replayed: boolean }
  | { kind: "not_found" }
  | { kind: "refused"; error: PreconditionError; message: string; intent: ControlIntent; state: LifecycleState; stateReason: string };

export interface ControlServiceOptions {
  db: Db;
  pool: pg.Pool;
  bus: OpsBus;
  log: Logger;
  config: Pick<Config, "OPS_INTENT_DEADLINE_MS" | "OPS_CONTROL_MODE">;
  transportFor: (sprite: Sprite) => Transport;
  /** Dispatch here, or leave the intent to the run's lease holder (src/cluster/dispatch-once.ts). */
  dispatch: IntentDispatchDeps;
  /** Ask whoever polls the run to look at it now (forwarded to the lease holder in a cluster). */
  requestSync: (runId: string) => Promise<void>;
  /** A Sprite's settings changed: whoever polls its runs re-reads it. */
  spriteChanged: (spriteId: string) => Promise<void>;
  /** Per-kind deadlines; kinds not listed use OPS_INTENT_DEADLINE_MS. */
  deadlineOverridesMs?: Partial<Record<IntentKind, number>>;
}

interface RunRow {
  id: string;
  state: LifecycleState;
  stateReason: string;
  approval: { status?: unknown } | null;
  divergence: Record<string, unknown> | null;
  ingestStatus: "OK" | "FORKED" | "ERROR";
  controlMode: "ENABLED" | "DISABLED";
  seq: number;
}

export { IDEMPOTENCY_KEY } from "./keys";
const IN_FLIGHT = "an intent of this kind is in flight";

function divergenceOpen(d: Record<string, unknown> | null): boolean {
  if (!d) return false;
  return ["activeMismatch", "approvalCompletionConflict", "cursorRegression"].some((k) => d[k] !== null && d[k] !== undefined);
}

async function lockRun(c: pg.PoolClient, runId: string): Promise<RunRow | null> {
  const r = await c.query<RunRow>(
    `SELECT r.id, r.state::text AS state, r."stateReason", r.approval, r.divergence, r."ingestStatus"::text AS "ingestStatus",
            s."controlMode"::text AS "controlMode", r.seq
       FROM "Run" r JOIN "Sprite" s ON s.id = r."spriteId"
      WHERE r.id = $1 AND r."removedAt" IS NULL FOR UPDATE OF r`,
    [runId],
  );
  return r.rows[0] ?? null;
}

async function bumpSeq(c: pg.PoolClient, runId: string): Promise<number> {
  const r = await c.query<{ seq: number }>(`UPDATE "Run" SET seq = seq + 1 WHERE id = $1 RETURNING seq`, [runId]);
  return r.rows[0].seq;
}

export class ControlService {
  constructor(private readonly opts: ControlServiceOptions) {}

  deadlineMs(kind: IntentKind): number {
    return intentDeadlineMs(kind, this.opts.config.OPS_INTENT_DEADLINE_MS, this.opts.deadlineOverridesMs);
  }

  /** Creates (or, for a known idempotency key, returns) an intent and dispatches it once. */
  async request(input: ControlRequestInput, principal: Principal, via: { followUpOf?: ControlIntent } = {}): Promise<ControlOutcome> {
    const app = this.opts;
    const key = input.idempotencyKey ?? randomUUID();
    const known = await app.db.controlIntent.findUnique({ where: { runId_idempotencyKey: { runId: input.runId, idempotencyKey: key } } });
    if (known) return this.replay(known);

    // RESTART must never act over a live run: the stored state may be a poll old, so ask the runtime side now.
    const liveRun = input.kind === "RESTART" ? await this.liveRunOf(input.runId) : null;
    const created = await inTransaction(app.pool, async (c): Promise<{ id: string | null; fresh: boolean; seq?: number } | null> => {
      const run = await lockRun(c, input.runId);
      if (!run) return null;
      // Identical concurrent requests queue on the row lock; all but the first find the row here.
      const again = await c.query<{ id: string }>(`SELECT id FROM "ControlIntent" WHERE "runId" = $1 AND "idempotencyKey" = $2`, [run.id, key]);
      if (again.rows[0]) return { id: again.rows[0].id, fresh: false };

      const refusal = liveRun ? { error: "PreconditionFailed" as const, message: `restart refused: ${liveRun}` } : await this.refusal(c, input.kind, run, via.followUpOf !== undefined);
      const id = randomUUID();
      const now = new Date();
      const records: StageRecord[] = [
        {
          stage: "REQUESTED",
          at: now.toISOString(),
          observation: via.followUpOf ? `requested as the follow-up of approve ${via.followUpOf.id}` : `requested by ${principal.name}`,
          evidence: { kind: input.kind, by: principal.name, role: principal.role, state: `${run.state}/${run.stateReason}`, ...(via.followUpOf ? { followUpOf: via.followUpOf.id } : {}) },
        },
      ];
      if (refusal) {
        const t = advanceIntent(
          { kind: input.kind, stage: "REQUESTED", requestedAt: now.toISOString(), dispatchedAt: null, acceptedAt: null, deadlineAt: now.toISOString(), resumeAfterApprove: false },
          { type: "precondition_failed", at: now.toISOString(), error: refusal.error, message: refusal.message },
        );
        for (const s of t ?? []) records.push({ stage: s.to, at: s.at, observation: s.observation, evidence: { ...s.evidence, state: run.state, stateReason: run.stateReason } });
      }
      const inserted = await c.query(
        `INSERT INTO "ControlIntent" (id, "runId", kind, stage, "idempotencyKey", "requestedBy", note, "resumeAfterApprove", "traceId",
                                      evidence, error, "deadlineAt", "requestedAt", "endedAt", "updatedAt")
         VALUES ($1, $2, $3::"IntentKind", $4::"IntentStage", $5, $6, $7, $8, $9, $10::jsonb, $11, $12, $13, $14, now())
         ON CONFLICT ("runId", "idempotencyKey") DO NOTHING RETURNING id`,
        [
          id,
          run.id,
          input.kind,
          refusal ? "REJECTED" : "REQUESTED",
          key,
          principal.name,
          input.note,
          input.kind === "APPROVE" && input.resumeAfterApprove,
          via.followUpOf?.traceId ?? input.traceId ?? currentTraceId() ?? newTraceId(),
          JSON.stringify(records),
          refusal?.error ?? null,
          computeDeadline(input.kind, now, this.opts.config.OPS_INTENT_DEADLINE_MS, this.opts.deadlineOverridesMs),
          now,
          refusal ? now : null,
        ],
      );
      if (inserted.rowCount !== 1) {
        const existing = await c.query<{ id: string }>(`SELECT id FROM "ControlIntent" WHERE "runId" = $1 AND "idempotencyKey" = $2`, [run.id, key]);
        return { id: existing.rows[0].id, fresh: false };
      }
      if (via.followUpOf) await this.linkFollowUp(c, via.followUpOf.id, id);
      const seq = await bumpSeq(c, run.id);
      return { id, fresh: true, seq };
    }).catch((e: unknown): { id: string | null; fresh: boolean; seq?: number } => {
      // A request racing past the lock on another connection still cannot create a second row.
      if ((e as { code?: string }).code === "23505") return { id: null, fresh: false };
      throw e;
    });

    if (!created) return { kind: "not_found" };
    const intent = created.id
      ? await app.db.controlIntent.findUniqueOrThrow({ where: { id: created.id } })
      : await app.db.controlIntent.findUniqueOrThrow({ where: { runId_idempotencyKey: { runId: input.runId, idempotencyKey: key } } });
    if (!created.fresh) return this.replay(intent);
    if (created.seq !== undefined) {
      app.bus.publish("intent", intent.runId, { intentId: intent.id, runId: intent.runId, seq: created.seq });
      if (via.followUpOf) app.bus.publish("intent", intent.runId, { intentId: via.followUpOf.id, runId: intent.runId, seq: created.seq });
    }
    if (intent.stage === "REJECTED") return this.replay(intent);

    await dispatchOrForward(app.dispatch, intent, () => this.dispatch(intent.id));
    // Confirmation comes from the poller: ask it to look now rather than at its next interval.
    const sync = app.requestSync(intent.runId).catch((e: unknown) => app.log.warn("sync after control failed", { runId: intent.runId, error: (e as Error).message }));
    const after = await app.db.controlIntent.findUniqueOrThrow({ where: { id: intent.id } });
    // An intent that already ended (a START the runtime refused) must not leave the run reading RUNNING/starting
    // to the caller's next request: wait for the re-projection before answering.
    if (isTerminalStage(after.stage)) await sync;
    return { kind: "intent", intent: after, replayed: false };
  }

  /** A description of the live run when the runtime side shows one (the pid checked by command line), else null. */
  private async liveRunOf(runId: string): Promise<string | null> {
    const run = await this.opts.db.run.findUnique({ where: { id: runId }, include: { sprite: true } });
    if (!run) return null;
    try {
      const facts = await this.opts.transportFor(run.sprite).readFacts({ runId, spriteName: run.sprite.name, repoPath: run.repoPath, loopId: run.loopId });
      return liveRunDescription(facts);
    } catch {
      return null; // unreachable: the dispatch reads the facts again and fails there if it must
    }
  }

  /** A known key returns its first outcome: the intent as it is now, or the same refusal again. */
  private async replay(intent: ControlIntent): Promise<ControlOutcome> {
    if (intent.stage === "REJECTED") {
      const records = (Array.isArray(intent.evidence) ? intent.evidence : []) as unknown as StageRecord[];
      const rejected = records.find((r) => r.stage === "REJECTED");
      const state = String(rejected?.evidence["state"] ?? "UNKNOWN") as LifecycleState;
      const error = (["PreconditionFailed", "ControlFrozen", "ControlDisabled"].includes(intent.error ?? "") ? intent.error : "PreconditionFailed") as PreconditionError;
      return { kind: "refused", error, message: rejected?.observation ?? "refused", intent, state, stateReason: String(rejected?.evidence["stateReason"] ?? "unknown") };
    }
    return { kind: "intent", intent, replayed: true };
  }

  private async refusal(c: pg.PoolClient, kind: IntentKind, run: RunRow, followUp: boolean): Promise<{ error: PreconditionError; message: string } | null> {
    if (this.opts.config.OPS_CONTROL_MODE === "disabled") {
      return { error: "ControlDisabled", message: "control is disabled on this manager (OPS_CONTROL_MODE=disabled)" };
    }
    const facts: PreconditionRun = {
      // The follow-up start of an approve skips the state check: the approve was the operator's decision, and the
      // run reads RUNNING/starting from the moment it was dispatched. Disabled and frozen still apply.
      state: followUp ? "IDLE" : run.state,
      reason: followUp ? "approved_pending_run" : run.stateReason,
      approvalPending: run.approval?.status === "pending",
      ingestStatus: run.ingestStatus,
      divergenceOpen: divergenceOpen(run.divergence),
      controlMode: run.controlMode,
    };
    const check = checkPrecondition(kind, facts);
    if (!check.ok) return { error: check.error, message: check.message };
    const busy = await c.query<{ id: string; stage: string }>(
      `SELECT id, stage::text AS stage FROM "ControlIntent"
        WHERE "runId" = $1 AND kind = $2::"IntentKind" AND stage NOT IN ('CONFIRMED','FAILED','AMBIGUOUS','REJECTED') LIMIT 1`,
      [run.id, kind],
    );
    const open = busy.rows[0];
    if (open) return { error: "PreconditionFailed", message: `${IN_FLIGHT} (${open.id}, ${open.stage})` };
    return null;
  }

  /** Notes the follow-up start's intent id on the approve's ACCEPTED record (the one that asked for it). */
  private async linkFollowUp(c: pg.PoolClient, approveId: string, startId: string): Promise<void> {
    const r = await c.query<{ evidence: StageRecord[] }>(`SELECT evidence FROM "ControlIntent" WHERE id = $1`, [approveId]);
    const records = Array.isArray(r.rows[0]?.evidence) ? r.rows[0].evidence : [];
    const asking = [...records].reverse().find((x) => x.followUp === "START");
    if (asking) asking.evidence = { ...asking.evidence, followUpIntentId: startId };
    else records.push({ stage: "ACCEPTED", at: new Date().toISOString(), observation: "follow-up start requested", evidence: { followUpIntentId: startId } });
    await c.query(`UPDATE "ControlIntent" SET evidence = $2::jsonb, "updatedAt" = now() WHERE id = $1`, [approveId, JSON.stringify(records)]);
  }

  /**
   * Runs one REQUESTED intent through its transport and records the outcome. Called at most once per intent
   * (src/cluster/dispatch-once.ts claims it); a transport error is FAILED with its reason, never retried here.
   */
  async dispatch(intentId: string): Promise<void> {
    const app = this.opts;
    const intent = await app.db.controlIntent.findUnique({ where: { id: intentId }, include: { run: { include: { sprite: true } } } });
    if (!intent || intent.stage !== "REQUESTED") return;
    // Dispatch under the intent's trace, wherever it runs (the requesting replica, the lease holder, a retry).
    if (currentTraceId() !== intent.traceId) return withTrace(intent.traceId, () => this.dispatch(intentId));
    return inSpan(
      "control.dispatch",
      { "superloop.intent_id": intentId, "superloop.intent_kind": intent.kind, "superloop.run_id": intent.runId, "superloop.transport": intent.run.sprite.transport },
      () => this.dispatchTraced(intent),
    );
  }

  private async dispatchTraced(intent: Prisma.ControlIntentGetPayload<{ include: { run: { include: { sprite: true } } } }>): Promise<void> {
    const app = this.opts;
    const intentId = intent.id;
    const { run } = intent;
    const kind = intent.kind;
    const startedAt = new Date();
    const fromLine = run.cursorLine;
    // Durably mark the dispatch as started before the command runs. A REQUESTED intent that already carries the
    // mark was being dispatched by a process that died before recording the outcome: the command may or may not
    // have run, so it ends AMBIGUOUS — never dispatched a second time.
    const claimed = await app.pool.query(`UPDATE "ControlIntent" SET "dispatchedAt" = $2, "updatedAt" = now() WHERE id = $1 AND stage = 'REQUESTED' AND "dispatchedAt" IS NULL`, [intentId, startedAt]);
    if (claimed.rowCount === 0) {
      await this.advance(intentId, {}, async (current) =>
        current.stage === "REQUESTED" && current.dispatchedAt
          ? [
              {
                from: "REQUESTED",
                to: "AMBIGUOUS",
                at: new Date().toISOString(),
                observation: "a dispatch started earlier and never recorded its outcome (its process stopped mid-command); not dispatched again",
                evidence: { dispatchStartedAt: current.dispatchedAt.toISOString() },
                error: "dispatch_interrupted",
              },
            ]
          : [],
      );
      return;
    }
    let observation: Observation;
    let details: Record<string, unknown> = {};
    try {
      const transport = this.opts.transportFor(run.sprite);
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
    app.log.info("control intent dispatched", { intentId, runId: run.id, kind, observation: observation.type });
    await this.advance(intentId, { dispatchedAt: startedAt }, async (current, c, runRow) => {
      const view = { ...viewOf(current), dispatchedAt: startedAt.toISOString(), dispatchResult: null };
      const first = advanceIntent(view, observation) ?? [];
      if (first[0]) first[0] = { ...first[0], evidence: { ...first[0].evidence, dispatch: details } };
      const stage = first.length ? first[first.length - 1].to : view.stage;
      if (stage !== "DISPATCHED" && stage !== "ACCEPTED") return first;
      // Evidence the poller ingested while this intent was REQUESTED (it skips those): offer it now.
      const events = await c.query<StoredEventLine & { status: string | null; line: number }>(
        `SELECT status, line, ${LINE_SQL_COLUMNS} FROM "Event" WHERE "runId" = $1 AND line > $2 ORDER BY line LIMIT 5000`,
        [current.runId, fromLine],
      );
      // From here on the poller offers this intent every stored line after the last one read here, however
      // its polls interleave with this transaction (ControlIntent.observedLine).
      const observed = events.rows.length ? events.rows[events.rows.length - 1].line : fromLine;
      await c.query(`UPDATE "ControlIntent" SET "observedLine" = $2 WHERE id = $1`, [current.id, observed]);
      const polledAfter = runRow.lastPolledAt !== null && runRow.lastPolledAt >= startedAt;
      const runtime = polledAfter ? parseStoredFacts(runRow.facts).runtime : null;
      if (!events.rows.length && !runtime) return first;
      const facts = catchUpFacts(
        events.rows.map((e) => ({ name: e.name, status: e.status, line: e.line, timestamp: e.timestamp.toISOString(), data: payloadOf(e) })),
        runtime,
      );
      const acceptedAt = first.find((t) => t.to === "ACCEPTED")?.at ?? view.acceptedAt;
      const second = advanceIntent({ ...view, stage, acceptedAt }, { type: "poll", now: new Date(), facts }) ?? [];
      return [...first, ...second];
    });
  }

  /** Called after the poller committed an approve's acceptance that asks for a start: dispatch it, once. */
  async followUp(runId: string, intentId: string): Promise<void> {
    const approve = await this.opts.db.controlIntent.findUnique({ where: { id: intentId } });
    if (!approve || approve.runId !== runId || approve.kind !== "APPROVE" || !approve.resumeAfterApprove) return;
    // The key makes this exactly once: a second call (a replayed commit, another replica) finds the row.
    const outcome = await this.request(
      { runId, kind: "START", note: `resume after approve ${intentId}`, idempotencyKey: `follow-up:${intentId}`, resumeAfterApprove: false },
      { name: approve.requestedBy, role: "operator" },
      { followUpOf: approve },
    );
    if (outcome.kind === "refused") this.opts.log.warn("follow-up start refused", { runId, intentId, reason: outcome.message });
  }

  /**
   * Applies stage transitions computed under the run's row lock and records them with a seq bump. `build` sees
   * the intent as stored and the locked run; returning no transition changes nothing.
   */
  private async advance(
    intentId: string,
    stamps: { dispatchedAt?: Date },
    build: (intent: ControlIntent, c: pg.PoolClient, run: { facts: unknown; lastPolledAt: Date | null }) => Promise<StageTransition[]>,
  ): Promise<void> {
    const app = this.opts;
    const done = await inTransaction(app.pool, async (c) => {
      const owner = await c.query<{ runId: string }>(`SELECT "runId" FROM "ControlIntent" WHERE id = $1`, [intentId]);
      const runId = owner.rows[0]?.runId;
      if (!runId) return null;
      const run = await c.query<{ facts: unknown; lastPolledAt: Date | null }>(`SELECT facts, "lastPolledAt" FROM "Run" WHERE id = $1 FOR UPDATE`, [runId]);
      if (!run.rows[0]) return null;
      const current = (await c.query<ControlIntent>(`SELECT * FROM "ControlIntent" WHERE id = $1`, [intentId])).rows[0];
      if (!current || isTerminalStage(current.stage)) return null;
      const transitions = await build(current, c, run.rows[0]);
      if (!transitions.length) return null;
      const records = (Array.isArray(current.evidence) ? [...current.evidence] : []) as unknown as StageRecord[];
      const set: Record<string, Date> = {};
      let error: string | null = null;
      for (const t of transitions) {
        records.push({ stage: t.to, at: t.at, observation: t.observation, evidence: t.evidence, ...(t.followUp ? { followUp: t.followUp } : {}) });
        for (const column of stampsOf(t.to)) set[column] ??= column === "dispatchedAt" && stamps.dispatchedAt ? stamps.dispatchedAt : new Date(t.at);
        if (t.error) error = t.error;
      }
      const columns = Object.keys(set);
      const assignments = columns.map((k, i) => `, "${k}" = COALESCE("${k}", $${i + 5})`).join("");
      const stage = transitions[transitions.length - 1].to;
      await c.query(`UPDATE "ControlIntent" SET stage = $2::"IntentStage", evidence = $3::jsonb, error = COALESCE($4, error), "updatedAt" = now()${assignments} WHERE id = $1`, [
        intentId,
        stage,
        JSON.stringify(records),
        error,
        ...columns.map((k) => set[k]),
      ]);
      const seq = await bumpSeq(c, runId);
      return { runId, seq, followUp: transitions.some((t) => t.followUp === "START") };
    });
    if (!done) return;
    app.bus.publish("intent", done.runId, { intentId, runId: done.runId, seq: done.seq });
    if (done.followUp) void this.followUp(done.runId, intentId).catch((e: unknown) => app.log.warn("follow-up start failed", { intentId, error: (e as Error).message }));
  }

  /**
   * Passive mode per Sprite (admin). Recorded on each of its runs as an operator transition (trigger
   * `control_mode`, state unchanged) so the audit shows who switched it, when and why.
   */
  async setSpriteControlMode(spriteName: string, mode: "ENABLED" | "DISABLED", note: string | null, actor: string): Promise<Sprite | null> {
    const app = this.opts;
    const sprite = await app.db.sprite.findUnique({ where: { name: spriteName } });
    if (!sprite || sprite.removedAt) return null;
    const previous = sprite.controlMode;
    const updated = await app.db.sprite.update({ where: { id: sprite.id }, data: { controlMode: mode } });
    const runs = await app.db.run.findMany({ where: { spriteId: sprite.id, removedAt: null }, select: { id: true } });
    for (const { id } of runs) {
      const r = await inTransaction(app.pool, async (c) => {
        const row = await lockRun(c, id);
        if (!row) return null;
        const seq = await bumpSeq(c, id);
        await c.query(
          `INSERT INTO "LifecycleTransition" ("runId", seq, "from", "to", reason, trigger, actor, evidence)
           VALUES ($1, $2, $3::"LifecycleState", $3::"LifecycleState", $4, 'control_mode', $5, $6::jsonb)`,
          [id, seq, row.state, `control_mode_${mode.toLowerCase()}`, actor, JSON.stringify({ sprite: spriteName, mode, previousMode: previous, note })],
        );
        return { seq, row };
      });
      if (r) {
        app.bus.publish("run", id, { runId: id, spriteId: sprite.id, seq: r.seq, previousState: r.row.state, state: r.row.state, reason: r.row.stateReason, lifecycleChanged: false, at: new Date() });
      }
    }
    await app.spriteChanged(sprite.id);
    return updated;
  }
}

/**
 * OPS_INTENT_DEADLINES_MS="APPROVE=120000,START=30000": per-kind deadlines on top of OPS_INTENT_DEADLINE_MS.
 * Invalid entries stop the start-up with the entry named, like every other setting.
 */
export function parseDeadlineOverrides(spec: string | undefined): Partial<Record<IntentKind, number>> {
  const out: Partial<Record<IntentKind, number>> = {};
  const kinds = new Set<string>(["CANCEL", "APPROVE", "REJECT", "PAUSE", "RESUME", "START", "RESTART"]);
  for (const part of (spec ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean)) {
    const m = /^([A-Z]+)=(\d{2,9})$/.exec(part);
    if (!m || !kinds.has(m[1])) throw new Error(`OPS_INTENT_DEADLINES_MS: "${part}" is not KIND=milliseconds (kinds: ${[...kinds].join(", ")})`);
    out[m[1] as IntentKind] = Number(m[2]);
  }
  return out;
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
