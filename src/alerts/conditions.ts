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
});
export type RunSnapshot = z.infer<typeof runSnapshotSchema>;

export const intentSnapshotSchema = z.object({
  intentId: z.string(),
  kind: z.string(),
  stage: z.string(),
  error: z.string().nullable(),
  traceId: z.string(),
  requestedBy: z.string(),
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
  /** One-shot conditions (an intent that ended badly) have no "cleared" moment: no resolve is ever sent. */
  oneShot?: boolean;
}

const worst = (reasons: { severity: string }[]): Severity => (reasons.some((r) => r.severity === "critical") ? "critical" : "warning");

export function runConditions(runId: string, label: string, s: RunSnapshot): Condition[] {
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
  return out;
}

export function intentConditions(runId: string, label: string, s: IntentSnapshot): Condition[] {
  const details = { intentId: s.intentId, kind: s.kind, stage: s.stage, error: s.error, requestedBy: s.requestedBy, runId };
  if (s.stage === "AMBIGUOUS") {
    return [{ key: `intent:${s.intentId}:intent_ambiguous`, condition: "intent_ambiguous", severity: "warning", summary: `${label}: ${s.kind} intent is AMBIGUOUS (no evidence of its effect by its deadline)`, details, oneShot: true }];
  }
  if (s.stage === "FAILED") {
    return [{ key: `intent:${s.intentId}:intent_failed`, condition: "intent_failed", severity: "warning", summary: `${label}: ${s.kind} intent FAILED${s.error ? `: ${s.error}` : ""}`, details, oneShot: true }];
  }
  return [];
}

export function spriteConditions(spriteId: string, s: SpriteSnapshot): Condition[] {
  if (s.removed) return [];
  if (s.status === "MISSING") return [{ key: `sprite:${spriteId}:sprite_missing`, condition: "sprite_missing", severity: "critical", summary: `Sprite ${s.name} no longer exists`, details: { status: s.status } }];
  if (s.status === "UNREACHABLE") return [{ key: `sprite:${spriteId}:sprite_unreachable`, condition: "sprite_unreachable", severity: "warning", summary: `Sprite ${s.name} is unreachable`, details: { status: s.status } }];
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
export function reconcile(open: readonly OpenEpisode[], active: readonly Condition[], oneShotKeys: (key: string) => boolean = (k) => k.startsWith("intent:")): Reconciled {
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
