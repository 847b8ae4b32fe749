import { hasDivergence } from "./divergence";
import type { Health, HealthReason, HealthReasonCode, HealthSeverity } from "./health";
import type { Divergence, IngestStatus, LifecycleState, RuntimeFacts } from "./types";

export type SuggestedAction = "APPROVE" | "REJECT" | "CANCEL" | "RESUME" | "START" | "RESTART" | "RESET_CURSOR" | "INSPECT";

export type InterventionCode =
  | "approval_pending"
  | "approved_pending_run"
  | "rejected_pending_run"
  | "stale_running"
  | "cursor_fork"
  | "ingest_error"
  | "run_failed"
  | "run_stopped"
  | "divergence"
  | "paused"
  | "sprite_missing"
  | "transport_unreachable"
  | "agent_incompatible"
  | "recovery_escalated";

export interface InterventionReason {
  code: InterventionCode;
  severity: HealthSeverity;
  since: string;
  message: string;
}

export interface Intervention {
  reasons: InterventionReason[];
  suggestedActions: SuggestedAction[];
}

export interface InterventionRun {
  state: LifecycleState;
  reason: string;
  health: Health;
  divergence: Divergence;
  ingestStatus: IngestStatus;
  approvalPending: boolean;
  /** when the run entered its current state: the `since` of state-derived reasons */
  stateSince: string;
  /** the projection's `stale` flag; health `ingest_stale` / `runtime_heartbeat_stale` count as well */
  stale?: boolean;
  /** runtime files that explain a state further (rate-limit.json, stuck.json, escalation.json) */
  runtime?: Pick<RuntimeFacts, "rateLimit" | "stuck" | "escalation"> | null;
}

// States the runtime leaves with `state.active` still true: its next `run` is refused until a cancel, which is
// what RESTART does (docs/runtime.md).
const RESTART_REASONS: ReadonlySet<string> = new Set(["runtime_died", "killed", "sprite_slept", "rate_limited", "error", "role_timeout"]);

function stopDetail(run: InterventionRun): string {
  const rate = run.runtime?.rateLimit;
  if (run.reason === "rate_limited") {
    const what = [rate?.role, rate?.message].filter(Boolean).join(": ");
    return `stopped: rate_limited${what ? ` (${what})` : ""}; the runtime never resumes by itself: RESTART (cancel, then run)`;
  }
  if (run.reason === "stuck" && run.runtime?.stuck) {
    return `stopped: stuck (streak ${run.runtime.stuck.streak ?? "?"}/${run.runtime.stuck.threshold ?? "?"}); stuck.json stays, so every later run is refused until it is removed`;
  }
  return `stopped: ${run.reason}`;
}

const ACTION_ORDER: readonly SuggestedAction[] = ["APPROVE", "REJECT", "RESUME", "START", "RESTART", "CANCEL", "RESET_CURSOR", "INSPECT"];

// Actions an operator can take while control is frozen by divergence or a fork: anything else would be
// refused with ControlFrozen, so suggesting it would only send the operator into an error.
const FROZEN_ACTIONS: ReadonlySet<SuggestedAction> = new Set(["RESET_CURSOR", "INSPECT"]);

function healthReason(health: Health, ...codes: HealthReasonCode[]): HealthReason | undefined {
  return health.reasons.find((reason) => codes.includes(reason.code));
}

/**
 * What an operator should look at, or null when nothing needs a human. COMPLETE, IDLE/not_started, a
 * healthy RUNNING run and a deliberate cancel need nothing.
 */
export function needsIntervention(run: InterventionRun): Intervention | null {
  const reasons: InterventionReason[] = [];
  const actions = new Set<SuggestedAction>();
  const add = (reason: InterventionReason, ...suggested: SuggestedAction[]) => {
    reasons.push(reason);
    for (const action of suggested) actions.add(action);
  };

  if (run.approvalPending) {
    add({ code: "approval_pending", severity: "warning", since: run.stateSince, message: "an approval is waiting for a decision" }, "APPROVE", "REJECT");
  }
  if (run.state === "IDLE" && run.reason === "approved_pending_run") {
    add({ code: "approved_pending_run", severity: "warning", since: run.stateSince, message: "approved; completion needs another run" }, "START");
  }
  if (run.state === "IDLE" && run.reason === "rejected_pending_run") {
    add({ code: "rejected_pending_run", severity: "warning", since: run.stateSince, message: "rejected; the next iteration needs another run" }, "START");
  }
  const lag = healthReason(run.health, "ingest_stale", "runtime_heartbeat_stale");
  if (run.state === "RUNNING" && (run.stale === true || lag !== undefined)) {
    add(
      {
        code: "stale_running",
        severity: lag?.severity ?? "warning",
        since: lag?.since ?? run.stateSince,
        message: lag?.message ?? "running but no sign of life within the stale threshold",
      },
      "CANCEL",
      "INSPECT",
    );
  }
  if (run.state === "PAUSED") {
    add({ code: "paused", severity: "warning", since: run.stateSince, message: `paused (${run.reason})` }, "RESUME");
  }
  if (run.state === "FAILED" && run.reason !== "sprite_missing") {
    const restart = RESTART_REASONS.has(run.reason);
    add(
      { code: "run_failed", severity: "critical", since: run.stateSince, message: `failed: ${run.reason}${restart ? "; the runtime still says active, so a plain start is refused: RESTART" : ""}` },
      restart ? "RESTART" : "START",
      "INSPECT",
    );
  }
  if (run.state === "STOPPED" && run.reason !== "cancelled") {
    add({ code: "run_stopped", severity: "warning", since: run.stateSince, message: stopDetail(run) }, RESTART_REASONS.has(run.reason) ? "RESTART" : "START");
  }
  const escalation = run.runtime?.escalation;
  if (escalation && (escalation.status ?? "pending") === "pending") {
    // The runtime carries on and nothing in it resolves this (no CLI): an attention item, not a blocked run.
    add(
      {
        code: "recovery_escalated",
        severity: "warning",
        since: escalation.timestamp ?? run.stateSince,
        message: `recovery escalated: ${escalation.reason ?? escalation.type ?? "approval required"}; proposal: ${escalation.proposal ?? "(none given)"}`,
      },
      "INSPECT",
    );
  }
  const missing = healthReason(run.health, "sprite_missing");
  if (missing !== undefined || run.reason === "sprite_missing") {
    add({ code: "sprite_missing", severity: "critical", since: missing?.since ?? run.stateSince, message: "the Sprite no longer exists" }, "INSPECT");
  }
  const unreachable = healthReason(run.health, "transport_unreachable");
  if (unreachable?.severity === "critical") {
    add({ code: "transport_unreachable", severity: "critical", since: unreachable.since, message: unreachable.message }, "INSPECT");
  }
  // The Sprite's agent speaks another protocol: the run is not observed at all until the matching agent is installed.
  const incompatible = healthReason(run.health, "agent_incompatible");
  if (incompatible) add({ code: "agent_incompatible", severity: "critical", since: incompatible.since, message: incompatible.message }, "INSPECT");
  if (run.ingestStatus === "FORKED") {
    const fork = healthReason(run.health, "cursor_fork");
    add({ code: "cursor_fork", severity: "critical", since: fork?.since ?? run.stateSince, message: fork?.message ?? "event log forked" }, "RESET_CURSOR", "INSPECT");
  }
  if (run.ingestStatus === "ERROR") {
    const invalid = healthReason(run.health, "invalid_payload");
    add({ code: "ingest_error", severity: "critical", since: invalid?.since ?? run.stateSince, message: invalid?.message ?? "ingestion stopped" }, "INSPECT");
  }
  const frozen = hasDivergence(run.divergence) || run.ingestStatus === "FORKED";
  if (hasDivergence(run.divergence)) {
    const divergence = healthReason(run.health, "divergence_detected");
    add(
      {
        code: "divergence",
        severity: "warning",
        since: divergence?.since ?? run.stateSince,
        message: divergence?.message ?? "runtime facts disagree; control is frozen",
      },
      "INSPECT",
    );
  }

  if (reasons.length === 0) return null;
  const suggestedActions = ACTION_ORDER.filter((action) => actions.has(action) && (!frozen || FROZEN_ACTIONS.has(action)));
  return { reasons, suggestedActions };
}
