import { randomUUID } from "node:crypto";
import { inSpan } from "../observability/otel";
import { currentTraceId, newTraceId, withTrace } from "../observability/trace";
import type pg from "pg";
import { dispatchOrForward, holdForRequester, type IntentDispatchDeps } from "../cluster/dispatch-once";
import type { Config } from "../config/config";
import type { Db } from "../db/client";
import type { ControlIntent, Sprite } from "../generated/prisma/client";
import type { Principal } from "../auth/principal";
import type { LifecycleState } from "../lifecycle/types";
import type { Logger } from "../util/log";
import type { Transport } from "../transports/transport";
import type { LockedRun, RunWriter } from "../runs/writer";
import { dispatchThroughTransport, liveRunDescription } from "./dispatch-intent";
import { stageRecords, type StageRecord } from "./stage-write";
import { advanceIntent, checkPrecondition, computeDeadline, intentDeadlineMs, isTerminalStage, OPEN_STAGES, type IntentKind, type PreconditionError, type PreconditionRun } from "./stages";

// The control service (invariant 4 of docs/architecture.md): a request becomes a ControlIntent row (REQUESTED, or REJECTED
// when a precondition refuses it — refusals are audited too), is dispatched once through the run's transport,
// and returns at DISPATCHED/ACCEPTED. Confirmation is the poller's job. Every intent written here goes through the
// run writer (src/runs/writer.ts): under the run's row lock, with a seq bump, like the poller's commits.

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
  /** Every intent and control-mode write (src/runs/writer.ts); it also publishes them. */
  runs: RunWriter;
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

/** The locked run with what the preconditions need. */
interface RunRow extends LockedRun {
  approval: { status?: unknown } | null;
  divergence: Record<string, unknown> | null;
  ingestStatus: "OK" | "FORKED" | "ERROR";
  controlMode: "ENABLED" | "DISABLED";
}

export { IDEMPOTENCY_KEY } from "./keys";
const IN_FLIGHT = "an intent of this kind is in flight";

function divergenceOpen(d: Record<string, unknown> | null): boolean {
  if (!d) return false;
  return ["activeMismatch", "approvalCompletionConflict", "cursorRegression"].some((k) => d[k] !== null && d[k] !== undefined);
}

/** What the preconditions read of a run the writer has locked. */
async function preconditionRow(c: pg.PoolClient, run: LockedRun): Promise<RunRow> {
  const r = await c.query<Omit<RunRow, keyof LockedRun>>(
    `SELECT r.approval, r.divergence, r."ingestStatus"::text AS "ingestStatus", s."controlMode"::text AS "controlMode"
       FROM "Run" r JOIN "Sprite" s ON s.id = r."spriteId" WHERE r.id = $1`,
    [run.id],
  );
  return { ...run, ...r.rows[0] };
}

type Created = { id: string | null; fresh: boolean } | null;

/** The id of the run's intent with this idempotency key, if there is one. */
async function intentByKey(c: pg.PoolClient, runId: string, key: string): Promise<string | null> {
  const r = await c.query<{ id: string }>(`SELECT id FROM "ControlIntent" WHERE "runId" = $1 AND "idempotencyKey" = $2`, [runId, key]);
  return r.rows[0]?.id ?? null;
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
    // Released once this request has asked for the intent's dispatch (or failed before it).
    const releases: (() => void)[] = [];
    try {
      return await this.create(input, principal, via, key, liveRun, releases);
    } finally {
      for (const release of releases) release();
    }
  }

  /** The rest of `request`: the intent created under the run's lock, dispatched or forwarded, answered. */
  private async create(input: ControlRequestInput, principal: Principal, via: { followUpOf?: ControlIntent }, key: string, liveRun: string | null, releases: (() => void)[]): Promise<ControlOutcome> {
    const app = this.opts;
    const written = app.runs.write<Created>(input.runId, async (c, locked) => {
      if (locked.removedAt) return { unchanged: true, result: null };
      // Identical concurrent requests queue on the row lock; all but the first find the row here.
      const again = await intentByKey(c, locked.id, key);
      if (again) return { unchanged: true, result: { id: again, fresh: false } };
      const run = await preconditionRow(c, locked);

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
        return { unchanged: true, result: { id: await intentByKey(c, run.id, key), fresh: false } };
      }
      // From before the commit: the fan-out may read the new row before this request's next step.
      releases.push(holdForRequester(app.dispatch, id));
      if (via.followUpOf) await this.linkFollowUp(c, via.followUpOf.id, id);
      // The new intent (and the approve it follows up, whose record now names it) are announced after the commit.
      return { touchedIntents: [id, ...(via.followUpOf ? [via.followUpOf.id] : [])], result: { id, fresh: true } };
    });
    const created: Created = await written.then(
      (w) => w?.result ?? null,
      (e: unknown): Created => {
        // A request racing past the lock on another connection still cannot create a second row.
        if ((e as { code?: string }).code === "23505") return { id: null, fresh: false };
        throw e;
      },
    );

    if (!created) return { kind: "not_found" };
    const intent = created.id
      ? await app.db.controlIntent.findUniqueOrThrow({ where: { id: created.id } })
      : await app.db.controlIntent.findUniqueOrThrow({ where: { runId_idempotencyKey: { runId: input.runId, idempotencyKey: key } } });
    if (!created.fresh) return this.replay(intent);
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
      const records = stageRecords(intent);
      const rejected = records.find((r) => r.stage === "REJECTED");
      const evidenceText = (key: string, fallback: string) => {
        const v = rejected?.evidence[key];
        return typeof v === "string" ? v : fallback;
      };
      const state = evidenceText("state", "UNKNOWN") as LifecycleState;
      const error = (["PreconditionFailed", "ControlFrozen", "ControlDisabled"].includes(intent.error ?? "") ? intent.error : "PreconditionFailed") as PreconditionError;
      return { kind: "refused", error, message: rejected?.observation ?? "refused", intent, state, stateReason: evidenceText("stateReason", "unknown") };
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
        WHERE "runId" = $1 AND kind = $2::"IntentKind" AND stage::text = ANY($3::text[]) LIMIT 1`,
      [run.id, kind, OPEN_STAGES],
    );
    const open = busy.rows[0];
    if (open) return { error: "PreconditionFailed", message: `${IN_FLIGHT} (${open.id}, ${open.stage})` };
    return null;
  }

  /** Notes the follow-up start's intent id on the approve's ACCEPTED record (the one that asked for it). */
  private async linkFollowUp(c: pg.PoolClient, approveId: string, startId: string): Promise<void> {
    const r = await c.query<{ evidence: unknown }>(`SELECT evidence FROM "ControlIntent" WHERE id = $1`, [approveId]);
    const records = r.rows[0] ? stageRecords(r.rows[0]) : [];
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
      () => dispatchThroughTransport(this.opts, intent),
    );
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
      await app.runs.write(id, async (_c, run) =>
        run.removedAt
          ? { unchanged: true, result: null }
          : {
              transition: {
                from: run.state,
                to: run.state,
                reason: `control_mode_${mode.toLowerCase()}`,
                trigger: "control_mode",
                actor,
                evidence: { sprite: spriteName, mode, previousMode: previous, note },
              },
              result: null,
            },
      );
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
