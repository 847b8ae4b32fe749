import { createHash } from "node:crypto";
import { TERMINAL_STAGES } from "../control/stages";
import { severityRank, stricterMode, type Mode, type PolicyDoc, type Rule, type Severity } from "./schema";

// Whether a candidate may be executed automatically, pure: every reason it may not, with the bash manager's
// reason codes where they apply. An empty list means eligible. The guards are separate functions (caps,
// cooldown, canary hash, auto-pause, retry guard) so each is tested on its own with tables.

export const REASON_CODES = [
  "mode_advisory",
  "review_expired",
  "kill_switch",
  "paused_manual",
  "paused_auto",
  "suppressed",
  "not_allowlisted",
  "below_threshold",
  "canary_excluded",
  "cooldown_active",
  "cap_exceeded",
  "retry_guard",
  "intent_in_flight",
] as const;
export type ReasonCode = (typeof REASON_CODES)[number];
export interface Reason {
  code: ReasonCode;
  message: string;
}

/** One automatic execution, for the caps and the cooldown. */
export interface AutoExecution {
  ruleId: string;
  runId: string;
  spriteName: string;
  at: Date;
}

export interface RuntimeSwitches {
  killSwitch: boolean;
  /** why the kill switch is on: the mutation (who) or the environment */
  killSwitchSource: string | null;
  paused: "manual" | "auto" | null;
  pausedReason: string | null;
}

export interface EligibilityInput {
  doc: PolicyDoc;
  reviewBy: Date | null;
  switches: RuntimeSwitches;
  rule: Rule;
  severity: Severity;
  runId: string;
  spriteName: string;
  suppressed: { by: string; until: Date | null } | null;
  /** automatic executions within the caps' window (any rule, any run) */
  recent: readonly AutoExecution[];
  /** the run's control intents, newest first: whether each was automatic and how it ended */
  runIntents: readonly { auto: boolean; stage: string }[];
  now: Date;
}

/** The global mode after governance: an expired review falls back to advisory. */
export function effectiveGlobalMode(doc: PolicyDoc, reviewBy: Date | null, now: Date): { mode: Mode; reviewExpired: boolean } {
  const expired = reviewBy !== null && reviewBy.getTime() <= now.getTime();
  return { mode: expired && doc.mode === "guarded_auto" ? "advisory" : doc.mode, reviewExpired: expired };
}

export function canaryBucket(salt: string, runId: string): number {
  const h = createHash("sha256").update(`${salt}:${runId}`).digest();
  return (h.readUInt32BE(0) % 10_000) / 100;
}

/** Deterministic cohort: the same salt and run always land in the same bucket (0 ≤ bucket < 100). */
export function inCanary(percent: number, salt: string, runId: string): boolean {
  if (percent >= 100) return true;
  return canaryBucket(salt, runId) < percent;
}

export function cooldownLeftMs(rule: Rule, doc: PolicyDoc, runId: string, recent: readonly AutoExecution[], now: Date): number {
  const cooldown = rule.cooldownMs ?? doc.limits.cooldownMs;
  const last = recent.filter((e) => e.ruleId === rule.id && e.runId === runId).reduce<number | null>((m, e) => Math.max(m ?? 0, e.at.getTime()), null);
  if (last === null) return 0;
  return Math.max(0, last + cooldown - now.getTime());
}

/** The first cap an execution would exceed, or null. */
export function capExceeded(doc: PolicyDoc, runId: string, spriteName: string, recent: readonly AutoExecution[], now: Date): string | null {
  const since = now.getTime() - doc.limits.windowMs;
  const inWindow = recent.filter((e) => e.at.getTime() > since);
  const win = `${Math.round(doc.limits.windowMs / 1000)} s`;
  const perRun = inWindow.filter((e) => e.runId === runId).length;
  if (perRun >= doc.limits.maxPerRun) return `per run: ${perRun} of ${doc.limits.maxPerRun} in ${win}`;
  const perSprite = inWindow.filter((e) => e.spriteName === spriteName).length;
  if (perSprite >= doc.limits.maxPerSprite) return `per Sprite ${spriteName}: ${perSprite} of ${doc.limits.maxPerSprite} in ${win}`;
  if (inWindow.length >= doc.limits.maxTotal) return `fleet: ${inWindow.length} of ${doc.limits.maxTotal} in ${win}`;
  return null;
}

/** Never retry automatically after an AMBIGUOUS outcome: the run's newest intent decides (an operator's intent lifts it). */
export function retryGuarded(runIntents: readonly { auto: boolean; stage: string }[]): boolean {
  const newest = runIntents[0];
  return newest !== undefined && newest.auto && newest.stage === "AMBIGUOUS";
}

// intent stages arrive here as plain strings (candidate rows); the terminal ones are the control stage machine's
const TERMINAL: ReadonlySet<string> = TERMINAL_STAGES;
const BAD = new Set(["AMBIGUOUS", "FAILED"]);

/**
 * Auto-pause: the share of AMBIGUOUS/FAILED among the last `lastN` ended automatic executions (newest first).
 * Needs minExecutions ended ones (default: min(lastN, 3)) so one bad outcome does not stop everything.
 */
export function autoPauseVerdict(outcomes: readonly string[], cfg: PolicyDoc["autoPause"]): { pause: boolean; bad: number; considered: number; share: number } {
  const ended = outcomes.filter((s) => TERMINAL.has(s)).slice(0, cfg.lastN);
  const bad = ended.filter((s) => BAD.has(s)).length;
  const share = ended.length ? bad / ended.length : 0;
  const min = cfg.minExecutions ?? Math.min(cfg.lastN, 3);
  return { pause: ended.length >= min && bad > 0 && share >= cfg.maxBadShare, bad, considered: ended.length, share };
}

export function eligibilityReasons(i: EligibilityInput): Reason[] {
  const out: Reason[] = [];
  const add = (code: ReasonCode, message: string) => out.push({ code, message });
  const declared = stricterMode(i.doc.mode, i.rule.mode);
  if (declared !== "guarded_auto") add("mode_advisory", i.rule.mode !== "guarded_auto" ? `rule ${i.rule.id} is ${i.rule.mode}` : `the global mode is ${i.doc.mode}`);
  else if (effectiveGlobalMode(i.doc, i.reviewBy, i.now).reviewExpired) {
    add("review_expired", `the policy's review-by date ${i.reviewBy!.toISOString().slice(0, 10)} has passed: guarded_auto falls back to advisory until it is reviewed`);
  }
  if (i.switches.killSwitch) add("kill_switch", `the kill switch is on (${i.switches.killSwitchSource ?? "set"})`);
  if (i.switches.paused === "manual") add("paused_manual", `automation paused by an operator${i.switches.pausedReason ? `: ${i.switches.pausedReason}` : ""}`);
  if (i.switches.paused === "auto") add("paused_auto", `automation paused itself: ${i.switches.pausedReason ?? "too many bad outcomes"}`);
  if (i.suppressed) add("suppressed", `suppressed by ${i.suppressed.by}${i.suppressed.until ? ` until ${i.suppressed.until.toISOString()}` : ""}`);
  const allow = i.doc.allowlist;
  if (!allow.actions.includes(i.rule.action)) add("not_allowlisted", `${i.rule.action} is not in the allowlist (${allow.actions.join(", ") || "empty"})`);
  else if (allow.sprites && !allow.sprites.includes(i.spriteName)) add("not_allowlisted", `Sprite ${i.spriteName} is not in the allowlist`);
  if (severityRank(i.severity) < severityRank(i.doc.autoMinSeverity)) add("below_threshold", `severity ${i.severity} is below ${i.doc.autoMinSeverity}`);
  if (!inCanary(i.doc.canary.percent, i.doc.canary.salt, i.runId)) {
    add("canary_excluded", `run is in bucket ${canaryBucket(i.doc.canary.salt, i.runId).toFixed(2)}, outside the ${i.doc.canary.percent}% canary cohort`);
  }
  const cooldown = cooldownLeftMs(i.rule, i.doc, i.runId, i.recent, i.now);
  if (cooldown > 0) add("cooldown_active", `rule ${i.rule.id} acted on this run less than its cooldown ago (${Math.ceil(cooldown / 1000)} s left)`);
  const cap = capExceeded(i.doc, i.runId, i.spriteName, i.recent, i.now);
  if (cap) add("cap_exceeded", `cap reached: ${cap}`);
  if (retryGuarded(i.runIntents)) add("retry_guard", "the run's last automatic intent ended AMBIGUOUS: never retried automatically (an operator decides)");
  if (i.runIntents.some((x) => !TERMINAL.has(x.stage))) add("intent_in_flight", "an intent on this run has not ended yet");
  return out;
}
