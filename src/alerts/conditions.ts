import { z } from "zod";
import type { ConditionName, Severity } from "./config";

// Condition detection, pure: what is wrong with a run, an intent or a Sprite, from the snapshot the outbox
// trigger captured (migration 20261130140000_alerts). `reconcile` compares the conditions now active with the
// episodes still open for that subject: new ones are raised, gone ones resolved, worse ones escalated.

const reasonSchema = z.object({ code: z.string(), severity: z.string() });
export const runSnapshotSchema = z.object({
  state: z.string(),
  stateReason: z.string(),
  health: z.string(),
  reasons: z.array(reasonSchema),
  ingestStatus: z.string(),
  ingestError: z.string().nullable(),
  removed: z.boolean(),
  // Since migration 20261201140000 (absent in signals written before it):
  escalation: z
    .object({ status: z.string().nullable().optional(), reason: z.string().nullable().optional(), type: z.string().nullable().optional(), proposal: z.string().nullable().optional() })
    .nullable()
    .optional(),
  /** request times (ISO) of the run's recent START/RESTART intents that were not refused: its recovery attempts */
  recoveries: z.array(z.string()).optional(),
  /** the writing transaction: signals of one transaction happened together */
  tx: z.string().optional(),
  /** Since migration 20261202140000: the trace id of the control intent in flight (or written in the same
   * transaction) when the run changed: the request that caused it; null when no request did. */
  traceId: z.string().nullable().optional(),
});
export type RunSnapshot = z.infer<typeof runSnapshotSchema>;

export const intentSnapshotSchema = z.object({
  intentId: z.string(),
  kind: z.string(),
  stage: z.string(),
  error: z.string().nullable(),
  traceId: z.string(),
  requestedBy: z.string(),
  runState: z.string().nullable().optional(),
  runStateReason: z.string().nullable().optional(),
  recoveries: z.array(z.string()).optional(),
  tx: z.string().optional(),
});
export type IntentSnapshot = z.infer<typeof intentSnapshotSchema>;

export const spriteSnapshotSchema = z.object({ name: z.string(), status: z.string(), removed: z.boolean() });
export type SpriteSnapshot = z.infer<typeof spriteSnapshotSchema>;

export interface Condition {
  /** Stable per subject and condition: one open episode per key; also the PagerDuty dedup_key's tail. */
  key: string;
  condition: ConditionName;
  severity: Severity;
  summary: string;
  details: Record<string, unknown>;
  /** One-shot conditions (a policy action) have no "cleared" moment: no resolve is ever sent. */
  oneShot?: boolean;
}

const worst = (reasons: { severity: string }[]): Severity => (reasons.some((r) => r.severity === "critical") ? "critical" : "warning");

/** recovery_escalation thresholds (alerts config `conditions.recoveryEscalation`). */
export interface RecoverySettings {
  attempts: number;
  windowMinutes: number;
}
export const DEFAULT_RECOVERY: RecoverySettings = { attempts: 3, windowMinutes: 60 };

/** A run that is down: FAILED, or STOPPED for any reason but an operator's cancel. */
export const runIsDown = (state: string | null | undefined, reason: string | null | undefined): boolean => state === "FAILED" || (state === "STOPPED" && reason !== "cancelled");

/**
 * recovery_escalation: automatic (or manual) recovery is not working, a human has to look. Active when either
 *  - the run is down and at least `attempts` START/RESTART intents (not refused) were requested for it within the
 *    last `windowMinutes`: it keeps failing after restarts (each restart that ran and failed again, and each
 *    START/RESTART that itself ended FAILED or AMBIGUOUS, counts), or
 *  - the runtime's escalation.json is pending: the runtime itself escalated a recovery it may not do alone.
 * Clears when the run is no longer down and no escalation is pending.
 */
export function recoveryCondition(
  runId: string,
  label: string,
  s: { state: string | null | undefined; stateReason: string | null | undefined; recoveries?: string[] | undefined; escalation?: RunSnapshot["escalation"] },
  now: Date,
  settings: RecoverySettings = DEFAULT_RECOVERY,
): Condition | null {
  const since = now.getTime() - settings.windowMinutes * 60_000;
  const attempts = (s.recoveries ?? []).filter((t) => Date.parse(t) >= since).length;
  const down = runIsDown(s.state, s.stateReason);
  const escalated = s.escalation != null && (s.escalation.status ?? "pending") === "pending";
  if (!(down && attempts >= settings.attempts) && !escalated) return null;
  const why = down && attempts >= settings.attempts ? `still ${s.state} (${s.stateReason}) after ${attempts} START/RESTART attempts in ${settings.windowMinutes} min` : "";
  const esc = escalated ? `the runtime escalated a recovery: ${s.escalation!.reason ?? s.escalation!.type ?? "approval required"}` : "";
  return {
    key: `run:${runId}:recovery_escalation`,
    condition: "recovery_escalation",
    severity: "critical",
    summary: `${label}: recovery escalation: ${[why, esc].filter(Boolean).join("; ")}`,
    details: { state: s.state, stateReason: s.stateReason, recoveryAttempts: attempts, windowMinutes: settings.windowMinutes, escalation: escalated ? s.escalation : null },
  };
}

export function runConditions(runId: string, label: string, s: RunSnapshot, now: Date = new Date(), recovery: RecoverySettings = DEFAULT_RECOVERY): Condition[] {
  if (s.removed) return [];
  const out: Condition[] = [];
  const add = (condition: ConditionName, severity: Severity, summary: string, details: Record<string, unknown> = {}) =>
    out.push({ key: `run:${runId}:${condition}`, condition, severity, summary: `${label}: ${summary}`, details });
  const codes = (...c: string[]) => s.reasons.filter((r) => c.includes(r.code));

  if (s.state === "AWAITING_APPROVAL") add("awaiting_approval", "warning", "waiting for an operator's approval", { stateReason: s.stateReason });
  if (s.state === "FAILED") add("run_failed", "critical", `run failed (${s.stateReason})`, { stateReason: s.stateReason });
  if (s.state === "STOPPED") add("run_stopped", "warning", `run stopped (${s.stateReason})`, { stateReason: s.stateReason });
  const stale = codes("ingest_stale", "runtime_heartbeat_stale");
  if (stale.length) add("run_stale", worst(stale), "no recent events or heartbeat", { reasons: stale.map((r) => r.code) });
  if (s.ingestStatus === "FORKED" || codes("cursor_fork").length) add("cursor_fork", "critical", "events.jsonl was rewritten under the cursor; ingestion stopped", { ingestError: s.ingestError });
  if (s.ingestStatus === "ERROR" || codes("invalid_payload").length) add("ingest_error", "critical", `ingestion stopped: ${s.ingestError ?? "invalid payload"}`, { ingestError: s.ingestError });
  const unreachable = codes("transport_unreachable");
  if (unreachable.length) add("transport_unreachable", worst(unreachable), "the run's transport keeps failing", {});
  if (codes("divergence_detected").length) add("divergence_detected", "warning", "runtime and projection disagree; automated control frozen", {});
  // The bash manager's categories; "info" unless categorySeverity raises them, so a specific condition above
  // is not announced twice by default.
  if (s.health === "CRITICAL") add("health_critical", "info", "health is CRITICAL", { reasons: s.reasons.map((r) => r.code) });
  if (s.health === "DEGRADED") add("health_degraded", "info", "health is DEGRADED", { reasons: s.reasons.map((r) => r.code) });
  const rec = recoveryCondition(runId, label, s, now, recovery);
  if (rec) out.push(rec);
  return out;
}

/**
 * An intent that ended AMBIGUOUS or FAILED opens an episode for that intent. It resolves (src/alerts/intake.ts)
 * when the intent itself is CONFIRMED after all, when a later intent on the same run is CONFIRMED, or when the run
 * next changes to health HEALTHY and not down in a later transaction than the failure (the run recovered), or
 * when the run is purged.
 */
export function intentConditions(runId: string, label: string, s: IntentSnapshot): Condition[] {
  const details = { intentId: s.intentId, kind: s.kind, stage: s.stage, error: s.error, requestedBy: s.requestedBy, runId, tx: s.tx ?? null };
  if (s.stage === "AMBIGUOUS") {
    return [
      {
        key: `intent:${s.intentId}:intent_ambiguous`,
        condition: "intent_ambiguous",
        severity: "warning",
        summary: `${label}: ${s.kind} intent is AMBIGUOUS (no evidence of its effect by its deadline)`,
        details,
      },
    ];
  }
  if (s.stage === "FAILED") {
    return [{ key: `intent:${s.intentId}:intent_failed`, condition: "intent_failed", severity: "warning", summary: `${label}: ${s.kind} intent FAILED${s.error ? `: ${s.error}` : ""}`, details }];
  }
  return [];
}

/** A healthy run clears its intents' alerts: health HEALTHY and not down. */
export const runIsHealthy = (s: RunSnapshot): boolean => !s.removed && s.health === "HEALTHY" && !runIsDown(s.state, s.stateReason);

export const policySnapshotSchema = z.object({
  actionId: z.string().min(1).max(200),
  policy: z.string().min(1).max(200),
  action: z.string().min(1).max(200),
  summary: z.string().min(1).max(2000),
  severity: z.enum(["info", "warning", "critical"]),
  runId: z.string().nullable(),
  spriteId: z.string().nullable(),
  traceId: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
});
export type PolicySnapshot = z.infer<typeof policySnapshotSchema>;

/** A policy action is announced once (one-shot): an event, not a state that later clears. */
export function policyConditions(label: string | null, s: PolicySnapshot): Condition[] {
  return [
    {
      key: `policy:${s.actionId}:policy_action`,
      condition: "policy_action",
      severity: s.severity,
      summary: `${label ? `${label}: ` : ""}policy ${s.policy}: ${s.summary}`,
      details: { ...s.details, policy: s.policy, action: s.action, actionId: s.actionId },
      oneShot: true,
    },
  ];
}

export function spriteConditions(spriteId: string, s: SpriteSnapshot): Condition[] {
  if (s.removed) return [];
  if (s.status === "MISSING")
    return [{ key: `sprite:${spriteId}:sprite_missing`, condition: "sprite_missing", severity: "critical", summary: `Sprite ${s.name} no longer exists`, details: { status: s.status } }];
  if (s.status === "UNREACHABLE")
    return [{ key: `sprite:${spriteId}:sprite_unreachable`, condition: "sprite_unreachable", severity: "warning", summary: `Sprite ${s.name} is unreachable`, details: { status: s.status } }];
  return [];
}

export interface OpenEpisode {
  key: string;
  severity: Severity;
}

export interface Reconciled {
  raise: Condition[];
  /** still active but now more severe than when raised: announced again at the new severity */
  escalate: Condition[];
  resolve: string[];
}

const RANK: Record<Severity, number> = { info: 0, warning: 1, critical: 2 };

/** Open episodes of one subject vs the conditions active for it now. One-shot conditions never resolve. */
export function reconcile(open: readonly OpenEpisode[], active: readonly Condition[], oneShotKeys: (key: string) => boolean = (k) => k.startsWith("policy:")): Reconciled {
  const byKey = new Map(open.map((e) => [e.key, e]));
  const activeKeys = new Set(active.map((c) => c.key));
  const raise: Condition[] = [];
  const escalate: Condition[] = [];
  for (const c of active) {
    const e = byKey.get(c.key);
    if (!e) raise.push(c);
    else if (RANK[c.severity] > RANK[e.severity]) escalate.push(c);
  }
  const resolve = open.filter((e) => !activeKeys.has(e.key) && !oneShotKeys(e.key)).map((e) => e.key);
  return { raise, escalate, resolve };
}
