import { raisedFlags } from "./divergence";
import type { HealthThresholds } from "./thresholds";
import { addMs, ageMs, isAfter } from "./time";
import type { Divergence, IngestStatus, LifecycleState, SpriteStatus } from "./types";

export type HealthStatus = "HEALTHY" | "DEGRADED" | "CRITICAL";
export type HealthSeverity = "warning" | "critical";
export type HealthReasonCode =
  | "ingest_stale"
  | "runtime_heartbeat_stale"
  | "transport_unreachable"
  | "invalid_payload"
  | "cursor_fork"
  | "divergence_detected"
  | "control_ambiguous"
  | "control_failed"
  | "sprite_missing"
  | "loop_not_found"
  | "agent_incompatible";

export interface HealthReason {
  code: HealthReasonCode;
  severity: HealthSeverity;
  /** ISO time the condition started; kept across polls while the reason persists */
  since: string;
  message: string;
}

export interface Health {
  status: HealthStatus;
  reasons: HealthReason[];
}

export interface HealthInput {
  now: Date;
  state: LifecycleState;
  lastEventAt: string | null;
  /** when the current state began: measures a RUNNING run that has no event yet (a fresh start) */
  stateSince?: string | null;
  /** heartbeat.v1.json `timestamp ?? updatedAt`, null when absent */
  heartbeatAt: string | null;
  transport: { failureStreak: number; failingSince: string | null };
  ingest: { status: IngestStatus; error: string | null; since?: string | null };
  divergence: Divergence;
  /** the run's most recent control intent, if any: only a FAILED or AMBIGUOUS one matters here */
  lastIntent: { kind: string; stage: string; at: string; error?: string | null } | null;
  spriteStatus: SpriteStatus;
  thresholds: HealthThresholds;
  /** a LOCAL run with nothing ingested whose .superloop/loops/<loopId> does not exist (a wrong loop id?) */
  loopNotFound?: boolean;
  /**
   * A RUNNING run that is silent by design (waiting on a usage limit, docs/runtime.md): no lag reason before this
   * time; `"never"` when the runtime waits without limit.
   */
  quietUntil?: string | null;
  /** the Sprite's agent speaks a protocol this manager refuses: the message says which it accepts */
  agentIncompatible?: string | null;
  /** the reasons from the previous evaluation, so an unchanged reason keeps its original `since` */
  previousReasons?: readonly HealthReason[];
}

export interface HealthReasonDoc {
  code: HealthReasonCode;
  severity: string;
  describe: string;
}

/** Reason codes in presentation order (also the order of `Health.reasons` within one severity). */
export const HEALTH_REASON_CATALOG: readonly HealthReasonDoc[] = [
  { code: "sprite_missing", severity: "critical", describe: "The Sprite no longer exists." },
  {
    code: "agent_incompatible",
    severity: "critical",
    describe: "The Sprite's agent reports a protocol version this manager does not accept: nothing is read from it and control is refused until the matching agent is installed.",
  },
  {
    code: "cursor_fork",
    severity: "critical",
    describe: "events.jsonl was truncated or rewritten under the cursor; ingestion stopped until a cursor reset.",
  },
  {
    code: "invalid_payload",
    severity: "critical",
    describe: "Ingestion stopped at a malformed line or envelope (fail closed): the run is no longer observed.",
  },
  {
    code: "transport_unreachable",
    severity: "warning → critical",
    describe: "Consecutive transport failures reached the profile's warning, then critical, streak.",
  },
  {
    code: "ingest_stale",
    severity: "warning → critical",
    describe: "A RUNNING run's last event is older than the profile's ingest-lag warning, then critical, age.",
  },
  {
    code: "runtime_heartbeat_stale",
    severity: "warning → critical",
    describe: "A RUNNING run's heartbeat.v1.json (when present) is older than the same ingest-lag ages.",
  },
  {
    code: "divergence_detected",
    severity: "warning",
    describe: "A divergence flag is raised; automated control is frozen for the run until an operator acts.",
  },
  {
    code: "control_ambiguous",
    severity: "warning",
    describe: "The latest control intent passed its deadline without evidence of its effect.",
  },
  { code: "control_failed", severity: "warning", describe: "The latest control intent failed to dispatch or its command failed." },
  {
    code: "loop_not_found",
    severity: "warning",
    describe: "A LOCAL run's .superloop/loops/<loopId> does not exist and nothing was ingested: a wrong loop id, or a loop that never ran here.",
  },
];

const CODE_ORDER = HEALTH_REASON_CATALOG.map((entry) => entry.code);

function byPresentation(a: HealthReason, b: HealthReason): number {
  if (a.severity !== b.severity) return a.severity === "critical" ? -1 : 1;
  return CODE_ORDER.indexOf(a.code) - CODE_ORDER.indexOf(b.code);
}

export function statusOf(reasons: readonly HealthReason[]): HealthStatus {
  if (reasons.some((reason) => reason.severity === "critical")) return "CRITICAL";
  return reasons.length > 0 ? "DEGRADED" : "HEALTHY";
}

type Candidate = Omit<HealthReason, "since"> & { since: string | null };

function ageSeverity(ageSec: number, thresholds: HealthThresholds): HealthSeverity | null {
  if (ageSec > thresholds.ingestLagCriticalSec) return "critical";
  if (ageSec > thresholds.ingestLagWarningSec) return "warning";
  return null;
}

function lagReason(code: "ingest_stale" | "runtime_heartbeat_stale", what: string, at: string | null | undefined, input: HealthInput): Candidate | null {
  const age = ageMs(input.now, at);
  if (at === null || at === undefined || age === null) return null;
  const ageSec = age / 1000;
  const severity = ageSeverity(ageSec, input.thresholds);
  if (severity === null) return null;
  return {
    code,
    severity,
    // the condition began when the age crossed the warning line, not when it was first noticed
    since: addMs(at, input.thresholds.ingestLagWarningSec * 1000),
    message: `${what} is ${Math.round(ageSec)}s old (warning after ${input.thresholds.ingestLagWarningSec}s, critical after ${input.thresholds.ingestLagCriticalSec}s)`,
  };
}

function candidates(input: HealthInput): Candidate[] {
  const out: Candidate[] = [];
  const { thresholds } = input;

  if (input.spriteStatus === "MISSING") {
    out.push({ code: "sprite_missing", severity: "critical", since: null, message: "the Sprite no longer exists" });
  }
  if (input.agentIncompatible) {
    out.push({ code: "agent_incompatible", severity: "critical", since: null, message: input.agentIncompatible });
  }
  if (input.ingest.status === "FORKED") {
    out.push({
      code: "cursor_fork",
      severity: "critical",
      since: input.ingest.since ?? null,
      message: `event log no longer matches what was ingested${input.ingest.error ? `: ${input.ingest.error}` : ""}`,
    });
  }
  if (input.ingest.status === "ERROR") {
    out.push({
      code: "invalid_payload",
      severity: "critical",
      since: input.ingest.since ?? null,
      message: `ingestion stopped${input.ingest.error ? `: ${input.ingest.error}` : ""}`,
    });
  }
  const streak = input.transport.failureStreak;
  if (streak >= thresholds.transportFailureWarning) {
    out.push({
      code: "transport_unreachable",
      severity: streak >= thresholds.transportFailureCritical ? "critical" : "warning",
      since: input.transport.failingSince,
      message: `${streak} consecutive transport failures (warning at ${thresholds.transportFailureWarning}, critical at ${thresholds.transportFailureCritical})`,
    });
  }
  const quiet = input.quietUntil === "never" || (typeof input.quietUntil === "string" && isAfter(input.quietUntil, input.now.toISOString()));
  if (input.state === "RUNNING" && !quiet) {
    const stale = lagReason("ingest_stale", "last event", input.lastEventAt ?? input.stateSince, input);
    if (stale !== null) out.push(stale);
    // A heartbeat only means something while the runtime is supposed to be working.
    const heartbeat = lagReason("runtime_heartbeat_stale", "runtime heartbeat", input.heartbeatAt, input);
    if (heartbeat !== null) out.push(heartbeat);
  }
  if (input.loopNotFound) {
    out.push({ code: "loop_not_found", severity: "warning", since: null, message: "no .superloop/loops/<loopId> in the repo: check the loop id (registration named the loops that exist)" });
  }
  const flags = raisedFlags(input.divergence);
  if (flags.length > 0) {
    out.push({
      code: "divergence_detected",
      severity: "warning",
      since: null,
      message: `divergence: ${flags.join(", ")}; automated control is frozen for this run`,
    });
  }
  const intent = input.lastIntent;
  if (intent?.stage === "AMBIGUOUS") {
    out.push({
      code: "control_ambiguous",
      severity: "warning",
      since: intent.at,
      message: `${intent.kind} intent passed its deadline without evidence`,
    });
  }
  if (intent?.stage === "FAILED") {
    out.push({
      code: "control_failed",
      severity: "warning",
      since: intent.at,
      message: `${intent.kind} intent failed${intent.error ? `: ${intent.error}` : ""}`,
    });
  }
  return out;
}

export function projectHealth(input: HealthInput): Health {
  const previous = new Map((input.previousReasons ?? []).map((reason) => [reason.code, reason.since]));
  const now = input.now.toISOString();
  const reasons = candidates(input)
    .map((candidate): HealthReason => ({
      ...candidate,
      since: previous.get(candidate.code) ?? candidate.since ?? now,
    }))
    .sort(byPresentation);
  return { status: statusOf(reasons), reasons };
}

/**
 * Sprite-level roll-up: one reason per code, with the worst severity, the earliest `since`, and the message
 * of the worst occurrence, noting how many runs share it.
 */
export function rollUpHealth(healths: readonly Health[]): Health {
  const merged = new Map<HealthReasonCode, { reason: HealthReason; count: number }>();
  for (const health of healths) {
    for (const reason of health.reasons) {
      const seen = merged.get(reason.code);
      if (seen === undefined) {
        merged.set(reason.code, { reason: { ...reason }, count: 1 });
        continue;
      }
      const worse = reason.severity === "critical" && seen.reason.severity === "warning";
      const since = isAfter(seen.reason.since, reason.since) ? reason.since : seen.reason.since;
      seen.reason = worse ? { ...reason, since } : { ...seen.reason, since };
      seen.count += 1;
    }
  }
  const reasons = [...merged.values()].map(({ reason, count }) => (count > 1 ? { ...reason, message: `${reason.message} (${count} runs)` } : reason)).sort(byPresentation);
  return { status: statusOf(reasons), reasons };
}
