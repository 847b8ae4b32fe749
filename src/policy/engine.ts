// Over 350 lines: one class, the policy engine's cycle under its lease (catch up, claim a candidate, guard,
// perform, record), whose steps share the lease and the evaluation state.
import type pg from "pg";
import { SingletonLease } from "../alerts/lease";
import type { ControlOutcome, ControlService } from "../control/service";
import type { Logger } from "../util/log";
import { Waker } from "../util/waker";
import type { IntentKind } from "../control/stages";
import { raisePolicyActionAlert } from "../alerts/policy-action";
import {
  claimCandidate,
  staleExecuting,
  endCandidates,
  finishCandidate,
  getCandidate,
  loadAutoExecutions,
  loadHistories,
  insertEnded,
  loadRunIntents,
  loadRunViews,
  reopenExpired,
  upsertCandidates,
  type CandidateRow,
  type Upsert,
} from "./candidates";
import { proposalsFor, statePredicate, type RunView } from "./conditions";
import { HISTORY, simulate } from "./replay";
import { loadReplayRuns } from "./simulate";
import { autoPauseVerdict, eligibilityReasons, effectiveGlobalMode, type AutoExecution, type Reason } from "./eligibility";
import type { Rule } from "./schema";
import { inTransaction } from "../db/transaction";
import { readPolicy, readRuntime, switchesOf, updateRuntime } from "./store";

// The policy engine's shell: one replica at a time evaluates (SingletonLease "policy-engine"), every tick:
// rules × runs → candidates (one per condition episode) with their eligibility reasons; in guarded_auto the
// eligible ones become ordinary control intents through the control service, requestedBy policy:<rule>, with
// the caps re-checked after each. Auto-pause trips when recent automatic outcomes go bad, and raises an alert
// in the same transaction. The decisions themselves are the pure functions of conditions.ts/eligibility.ts.

export interface PolicyEngineOptions {
  owner: string;
  /** single process: take a lease a killed predecessor left at once */
  takeover: boolean;
  leaseTtlMs: number;
  tickMs: number;
  /** OPS_POLICY_KILL_SWITCH: no automatic execution whatever the database says */
  envKillSwitch: boolean;
}

export type ExecuteResult = { kind: "executed"; candidate: CandidateRow; outcome: ControlOutcome | null } | { kind: "not_open"; candidate: CandidateRow | null };

export interface EvaluationReport {
  candidates: number;
  executed: string[];
  paused: boolean;
}

/** Transactions commit after their now(): the catch-up replays from a little before the previous evaluation. */
const CATCH_UP_MARGIN_MS = 5000;
/** A claim older than this with no recorded result was interrupted (a crash, a kill -9): perform it again. */
const STALE_EXECUTING_MS = 120_000;

const viewFingerprint = (r: RunView): string => `${r.state}|${r.stateReason}|${r.stateSince.getTime()}|${r.lastEventAt?.getTime() ?? ""}|${r.lastIntent?.id ?? ""}|${r.lastIntent?.stage ?? ""}`;

/** What the engine uses (composed in src/server.ts): the pool, the log, the alert outbox's wake-up, control requests. */
export interface PolicyEngineDeps {
  pool: pg.Pool;
  log: Logger;
  alerts?: { wake(): void };
  control?: Pick<ControlService, "request">;
}

export class PolicyEngine {
  private readonly lease: SingletonLease;
  private stopped = false;
  private loopDone: Promise<void> | null = null;
  private readonly waker = new Waker();
  private readonly listeners = new Set<() => void>();
  private fingerprint = "";
  private running: Promise<EvaluationReport | null> | null = null;
  /** the previous evaluation: when, and each run's view then */
  private lastEvaluation: { at: Date; seen: Map<string, string> } | null = null;

  constructor(
    private readonly app: PolicyEngineDeps,
    readonly opts: PolicyEngineOptions,
  ) {
    this.lease = new SingletonLease(app.pool, "policy-engine", opts.owner, opts.leaseTtlMs, opts.takeover);
  }

  get isLeader(): boolean {
    return this.lease.held;
  }

  start(): void {
    this.loopDone ??= this.loop();
  }

  wake(): void {
    this.waker.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.waker.wake();
    await this.loopDone;
    await this.running?.catch(() => null);
    await this.lease.release().catch(() => {});
  }

  /** Local listeners (subscriptions) hear about every evaluation that changed the candidates. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  notify(): void {
    for (const l of [...this.listeners]) l();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.tick();
      } catch (e) {
        this.app.log.warn("policy evaluation failed", { error: (e as Error).message });
      }
      await this.waker.sleep(this.opts.tickMs);
    }
  }

  /** One evaluation if this replica holds the lease; null otherwise. Concurrent calls share one run. */
  tick(now: Date = new Date()): Promise<EvaluationReport | null> {
    this.running ??= (async () => {
      try {
        if (this.stopped || !(await this.lease.refresh())) return null;
        return await this.evaluate(now);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  private async evaluate(now: Date): Promise<EvaluationReport> {
    const { pool } = this.app;
    const policy = await readPolicy(pool);
    const runtime = await readRuntime(pool, this.opts.envKillSwitch);
    const switches = switchesOf(runtime);
    await reopenExpired(pool);
    for (const stale of await staleExecuting(pool, STALE_EXECUTING_MS)) {
      this.app.log.warn("policy candidate left executing by an interrupted executor: performing it again", { candidateId: stale.id, replica: stale.executedReplica });
      await this.perform(stale, stale.executedBy ?? `policy:${stale.ruleId}`, stale.executedAuto, "resumed after an interrupted execution");
    }
    // No rule that can propose (the default: no rules): no run can match, so none is loaded, and none is replayed.
    const watching = policy.doc.mode !== "off" && policy.doc.rules.some((r) => r.mode !== "off");
    const runs = watching ? await this.withHistories(await loadRunViews(pool), policy.doc.rules) : [];
    const proposals = runs.flatMap((run) => proposalsFor(policy.doc.rules, run, now).map((p) => ({ ...p, run })));
    const auto = await loadAutoExecutions(pool);
    const recent: AutoExecution[] = auto.map(({ stage: _s, ...e }) => e);
    const intents = await loadRunIntents(pool, [...new Set(proposals.map((p) => p.run.id))]);
    const suppressed = await this.suppressions();
    const reasonsOf = (rule: Rule, run: RunView, key: string): Reason[] =>
      eligibilityReasons({
        doc: policy.doc,
        reviewBy: policy.reviewBy,
        switches,
        rule,
        severity: rule.severity,
        runId: run.id,
        spriteName: run.spriteName,
        suppressed: suppressed.get(key) ?? null,
        recent,
        runIntents: intents.get(run.id) ?? [],
        now,
      });
    const upserts: Upsert[] = proposals.map((p) => {
      const reasons = reasonsOf(p.rule, p.run, `${p.rule.id}|${p.run.id}|${p.hit.episodeKey}`);
      return {
        ruleId: p.rule.id,
        runId: p.run.id,
        episodeKey: p.hit.episodeKey,
        condition: p.rule.condition.type,
        action: p.rule.action,
        severity: p.rule.severity,
        since: p.hit.since,
        detail: p.hit.detail,
        policyVersion: policy.version,
        eligible: reasons.length === 0,
        reasons,
      };
    });
    const rows = await upsertCandidates(pool, upserts);
    await endCandidates(
      pool,
      rows.map((r) => r.id),
    );
    // with nothing watched the next evaluation starts afresh
    const caughtUp = watching ? await this.catchUp(runs, policy.doc.rules, policy.version, now) : ((this.lastEvaluation = null), 0);

    // Guarded execution, oldest episode first; each execution counts against the caps of the next.
    const executed: string[] = [];
    const global = effectiveGlobalMode(policy.doc, policy.reviewBy, now);
    if (global.mode === "guarded_auto") {
      const byKey = new Map(proposals.map((p) => [`${p.rule.id}|${p.run.id}|${p.hit.episodeKey}`, p]));
      for (const row of [...rows].sort((a, b) => a.since.getTime() - b.since.getTime())) {
        if (!row.eligible || row.status !== "open") continue;
        const p = byKey.get(`${row.ruleId}|${row.runId}|${row.episodeKey}`);
        if (!p) continue;
        const again = reasonsOf(p.rule, p.run, "");
        if (again.length) {
          await pool.query(`UPDATE "PolicyCandidate" SET eligible = false, reasons = $2::jsonb WHERE id = $1`, [row.id, JSON.stringify(again)]);
          continue;
        }
        const r = await this.execute(row.id, `policy:${row.ruleId}`, true, `automatic (${p.hit.detail})`);
        if (r.kind !== "executed") continue;
        executed.push(row.id);
        if (row.action !== "ALERT") {
          recent.unshift({ ruleId: row.ruleId, runId: row.runId, spriteName: p.run.spriteName, at: new Date() });
          intents.set(row.runId, [{ auto: true, stage: "REQUESTED" }, ...(intents.get(row.runId) ?? [])]);
        }
      }
    }
    const paused = await this.checkAutoPause(auto, runtime.paused, runtime.resumedAt, policy.doc.autoPause);
    const after = await pool.query<{ id: string; status: string; eligible: boolean; reasons: Reason[] }>(
      `SELECT id, status, eligible, reasons FROM "PolicyCandidate" WHERE status <> 'ended' OR "endedAt" > now() - interval '1 hour' ORDER BY id`,
    );
    const fp = JSON.stringify(after.rows.map((r) => [r.id, r.status, r.eligible, r.reasons.map((x) => x.code)]));
    if (fp !== this.fingerprint || executed.length || paused || caughtUp) {
      this.fingerprint = fp;
      this.notify();
    }
    return { candidates: rows.length, executed, paused };
  }

  /**
   * An episode that came and went between two evaluations (shorter than a tick) is still an episode. A run whose
   * view did not change since the last evaluation cannot have had one that does not still hold now (conditions
   * only grow truer with time), so only the runs that changed are replayed, over the stored transitions and
   * events since the last evaluation (with a margin for late commits); what the replay finds is recorded as
   * ended. Live and simulatePolicy then agree by construction.
   */
  private async catchUp(runs: readonly RunView[], rules: readonly Rule[], version: number, now: Date): Promise<number> {
    const previous = this.lastEvaluation;
    const seen = new Map(runs.map((r) => [r.id, viewFingerprint(r)]));
    this.lastEvaluation = { at: now, seen };
    if (!previous) return 0;
    const changed = runs.filter((r) => previous.seen.get(r.id) !== seen.get(r.id)).map((r) => r.id);
    if (!changed.length) return 0;
    const from = new Date(previous.at.getTime() - CATCH_UP_MARGIN_MS);
    const replayed = await loadReplayRuns(this.app.pool, from, now, changed);
    const byId = new Map(rules.map((r) => [r.id, r]));
    const found = simulate(rules, replayed, from, now);
    return insertEnded(
      this.app.pool,
      found.map((c) => ({
        ruleId: c.ruleId,
        runId: c.runId,
        episodeKey: c.episodeKey,
        condition: c.condition,
        action: c.action,
        severity: byId.get(c.ruleId)?.severity ?? "warning",
        since: c.since,
        detail: c.detail,
        policyVersion: version,
      })),
    );
  }

  /** Runs a state-like rule matches now get their (state, reason) history: the episode began where it last broke. */
  private async withHistories(runs: RunView[], rules: readonly Rule[]): Promise<RunView[]> {
    const predicates = rules
      .filter((r) => r.mode !== "off")
      .map((r) => statePredicate(r.condition))
      .filter((p) => p !== null);
    const need = runs.filter((run) => predicates.some((p) => p(run.state, run.stateReason))).map((r) => r.id);
    const histories = await loadHistories(this.app.pool, need, HISTORY);
    return runs.map((run) => (histories.has(run.id) ? { ...run, history: histories.get(run.id)! } : run));
  }

  private async suppressions(): Promise<Map<string, { by: string; until: Date | null }>> {
    const r = await this.app.pool.query<{ ruleId: string; runId: string; episodeKey: string; suppressedBy: string; suppressedUntil: Date | null }>(
      `SELECT "ruleId", "runId", "episodeKey", "suppressedBy", "suppressedUntil" FROM "PolicyCandidate" WHERE status = 'suppressed'`,
    );
    return new Map(r.rows.map((x) => [`${x.ruleId}|${x.runId}|${x.episodeKey}`, { by: x.suppressedBy, until: x.suppressedUntil }]));
  }

  /** Pauses automation (and raises a policy_action alert, in the same transaction) when recent outcomes went bad. */
  private async checkAutoPause(
    auto: readonly (AutoExecution & { stage: string | null })[],
    paused: string | null,
    resumedAt: Date | null,
    cfg: Parameters<typeof autoPauseVerdict>[1],
  ): Promise<boolean> {
    if (paused) return false;
    const considered = auto.filter((e) => !resumedAt || e.at > resumedAt).map((e) => e.stage ?? "REQUESTED");
    const v = autoPauseVerdict(considered, cfg);
    if (!v.pause) return false;
    const reason = `${v.bad} of the last ${v.considered} automatic executions ended AMBIGUOUS or FAILED (threshold ${Math.round(cfg.maxBadShare * 100)}%)`;
    const done = await inTransaction(this.app.pool, async (c) => {
      const next = await updateRuntime(c, "policy-engine", "paused", reason, (r) =>
        r.paused ? null : { ...r, paused: "auto", pausedBy: "policy-engine", pausedReason: reason, pausedAt: new Date() },
      );
      if (!next) return false;
      await raisePolicyActionAlert(c, {
        policy: "policy-engine",
        action: "PAUSE_AUTOMATION",
        actionId: `auto_pause:${next.pausedAt!.toISOString()}`,
        severity: "critical",
        summary: `automation paused itself: ${reason}`,
        details: { ...v, reason },
      });
      return true;
    });
    if (done) {
      this.app.log.warn("policy automation paused", { reason });
      this.app.alerts?.wake();
    }
    return done;
  }

  /**
   * Executes an open candidate once: claims it (so no other replica or operator can), then asks the control
   * service for an ordinary intent with requestedBy policy:<rule> (an ALERT rule raises a policy_action alert).
   */
  async execute(candidateId: string, by: string, auto: boolean, note: string): Promise<ExecuteResult> {
    const { app } = this;
    const claimed = await claimCandidate(app.pool, candidateId, by, auto, this.opts.owner);
    if (!claimed) return { kind: "not_open", candidate: await getCandidate(app.pool, candidateId) };
    const outcome = await this.perform(claimed, by, auto, note);
    return { kind: "executed", candidate: (await getCandidate(app.pool, candidateId))!, outcome };
  }

  /** Carries out a claimed candidate's action and records it executed; safe to repeat (idempotent keys). */
  private async perform(claimed: CandidateRow, by: string, auto: boolean, note: string): Promise<ControlOutcome | null> {
    const { app } = this;
    const candidateId = claimed.id;
    let intentId: string | null = null;
    let outcome: ControlOutcome | null = null;
    try {
      if (claimed.action === "ALERT") {
        const run = await app.pool.query<{ spriteId: string }>(`SELECT "spriteId" FROM "Run" WHERE id = $1`, [claimed.runId]);
        await inTransaction(app.pool, (c) =>
          raisePolicyActionAlert(c, {
            policy: claimed.ruleId,
            action: "ALERT",
            actionId: claimed.id,
            severity: claimed.severity as "info" | "warning" | "critical",
            summary: claimed.detail,
            runId: claimed.runId,
            spriteId: run.rows[0]?.spriteId ?? null,
            details: { candidateId: claimed.id, executedBy: by, automatic: auto, episodeKey: claimed.episodeKey },
          }),
        );
        app.alerts?.wake();
      } else if (app.control) {
        outcome = await app.control.request(
          {
            runId: claimed.runId,
            kind: claimed.action as IntentKind,
            note: `policy ${claimed.ruleId}: ${note}`.slice(0, 1000),
            idempotencyKey: `policy:${claimed.id}`,
            resumeAfterApprove: false,
          },
          { name: `policy:${claimed.ruleId}`, role: "operator" },
        );
        intentId = outcome.kind === "not_found" ? null : outcome.intent.id;
      }
    } finally {
      await finishCandidate(app.pool, claimed.id, intentId);
      this.notify();
    }
    app.log.info("policy candidate executed", { candidateId, ruleId: claimed.ruleId, runId: claimed.runId, action: claimed.action, by, auto, intentId });
    return outcome;
  }
}
