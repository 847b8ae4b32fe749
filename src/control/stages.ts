import type { IngestStatus, LifecycleState } from "../lifecycle/types";
import { toMs } from "../lifecycle/time";
import {
  cancelConfirmed,
  decisionVerdict,
  findApprovalCompletion,
  findApprovalDecision,
  judgeDispatch,
  pauseConfirmed,
  resumeConfirmed,
  startConfirmed,
  type DispatchResult,
  type Evidence,
  type PollFacts,
  type Verdict,
} from "./evidence";

export type { DispatchResult, PolledEvent, PollFacts } from "./evidence";

export type IntentKind = "CANCEL" | "APPROVE" | "REJECT" | "PAUSE" | "RESUME" | "START" | "RESTART";
export type IntentStage = "REQUESTED" | "DISPATCHED" | "ACCEPTED" | "CONFIRMED" | "FAILED" | "AMBIGUOUS" | "REJECTED";
export type ControlMode = "ENABLED" | "DISABLED";

export const INTENT_KINDS: readonly IntentKind[] = ["CANCEL", "APPROVE", "REJECT", "PAUSE", "RESUME", "START", "RESTART"];
export const TERMINAL_STAGES: ReadonlySet<IntentStage> = new Set(["CONFIRMED", "FAILED", "AMBIGUOUS", "REJECTED"]);

export function isTerminalStage(stage: IntentStage): boolean {
  return TERMINAL_STAGES.has(stage);
}

/** The stages an intent can still leave (the complement of TERMINAL_STAGES). */
export const OPEN_STAGES: readonly IntentStage[] = ["REQUESTED", "DISPATCHED", "ACCEPTED"];

/** Dispatched and not ended: the stages in which events and runtime facts can move an intent on. */
export function awaitsEvidence(stage: IntentStage): boolean {
  return stage === "DISPATCHED" || stage === "ACCEPTED";
}

export type StageStamp = "dispatchedAt" | "acceptedAt" | "confirmedAt" | "endedAt";

/** The one table of stage timestamps: the column a stage stamps when first entered; a terminal stage also ends. */
const STAGE_STAMP: Readonly<Partial<Record<IntentStage, StageStamp>>> = {
  DISPATCHED: "dispatchedAt",
  ACCEPTED: "acceptedAt",
  CONFIRMED: "confirmedAt",
};

/** The ControlIntent columns entering `stage` sets (each only if still null): used by every stage writer. */
export function stampsOf(stage: IntentStage): StageStamp[] {
  const stamp = STAGE_STAMP[stage];
  return [...(stamp ? [stamp] : []), ...(isTerminalStage(stage) ? (["endedAt"] as const) : [])];
}

// ---------------------------------------------------------------------------------------------- deadlines

/** How long an intent of `kind` waits for evidence: its per-kind override (OPS_INTENT_DEADLINES_MS), else the
 * manager's default (OPS_INTENT_DEADLINE_MS). */
export function intentDeadlineMs(kind: IntentKind, defaultMs: number, overrides: Readonly<Partial<Record<IntentKind, number>>> = {}): number {
  return overrides[kind] ?? defaultMs;
}

export function computeDeadline(kind: IntentKind, requestedAt: Date, defaultMs: number, overrides?: Readonly<Partial<Record<IntentKind, number>>>): Date {
  return new Date(requestedAt.getTime() + intentDeadlineMs(kind, defaultMs, overrides));
}

// ------------------------------------------------------------------------------------------ preconditions

export interface PreconditionRun {
  state: LifecycleState;
  reason: string;
  approvalPending: boolean;
  ingestStatus: IngestStatus;
  divergenceOpen: boolean;
  controlMode: ControlMode;
}

export type PreconditionError = "PreconditionFailed" | "ControlFrozen" | "ControlDisabled";
export type PreconditionResult = { ok: true } | { ok: false; error: PreconditionError; message: string };

const START_REFUSED: ReadonlySet<LifecycleState> = new Set(["RUNNING", "PAUSED", "AWAITING_APPROVAL"]);

function failed(message: string): PreconditionResult {
  return { ok: false, error: "PreconditionFailed", message };
}

/** Whether an intent may be dispatched now. Checked in order: disabled, frozen, then per-kind state. */
export function checkPrecondition(kind: IntentKind, run: PreconditionRun): PreconditionResult {
  if (run.controlMode === "DISABLED") {
    return { ok: false, error: "ControlDisabled", message: "control is disabled for this Sprite" };
  }
  if (run.divergenceOpen || run.ingestStatus === "FORKED") {
    return {
      ok: false,
      error: "ControlFrozen",
      message: run.divergenceOpen ? "runtime facts diverge; control is frozen until an operator resolves it" : "the event cursor forked; control is frozen until the cursor is reset",
    };
  }
  const where = `${run.state}/${run.reason}`;
  switch (kind) {
    case "APPROVE":
    case "REJECT":
      return run.approvalPending ? { ok: true } : failed(`${kind.toLowerCase()} needs a pending approval (run is ${where})`);
    case "PAUSE":
      // a run still starting has no process group to signal yet
      return run.state === "RUNNING" && run.reason !== "starting" ? { ok: true } : failed(`pause needs a RUNNING run (run is ${where})`);
    case "RESUME":
      return run.state === "PAUSED" ? { ok: true } : failed(`resume needs a PAUSED run (run is ${where})`);
    case "CANCEL":
      return run.state === "RUNNING" || run.state === "PAUSED" ? { ok: true } : failed(`cancel needs a RUNNING or PAUSED run (run is ${where})`);
    case "START":
      if (START_REFUSED.has(run.state)) return failed(`start refused: run is ${where}`);
      if (run.reason === "sprite_missing") return failed("start refused: the Sprite no longer exists");
      return { ok: true };
    case "RESTART":
      // For a run the runtime still calls active although it is dead (crash, rate-limit stop, kill): never over
      // a live one. The service also checks the process itself before dispatching (see ControlService).
      if (START_REFUSED.has(run.state)) return failed(`restart refused: run is ${where} (cancel a live run instead)`);
      if (run.reason === "sprite_missing") return failed("restart refused: the Sprite no longer exists");
      return { ok: true };
  }
}

// ------------------------------------------------------------------------------------------ stage machine

export interface IntentView {
  kind: IntentKind;
  stage: IntentStage;
  requestedAt: string;
  dispatchedAt: string | null;
  acceptedAt: string | null;
  deadlineAt: string;
  resumeAfterApprove: boolean;
  dispatchResult?: DispatchResult | null;
}

export type Observation =
  | { type: "precondition_failed"; at: string; error: PreconditionError; message: string }
  | { type: "dispatch_started"; at: string }
  | { type: "dispatch_ok"; at: string; result: DispatchResult }
  /** `code`: a named cause the operator must see instead of the generic dispatch_failed (e.g. sprite_limit_exceeded). */
  | { type: "dispatch_failed"; at: string; error: string; code?: string; details?: Evidence }
  | { type: "poll"; now: Date; facts: PollFacts }
  | { type: "tick"; now: Date };

export interface StageTransition {
  from: IntentStage;
  to: IntentStage;
  /** ISO time of the observation that caused it */
  at: string;
  /** human-readable description of that observation */
  observation: string;
  evidence: Evidence;
  /** FAILED / AMBIGUOUS / REJECTED carry a machine-readable cause */
  error?: string;
  /** an approve with `resumeAfterApprove` asks the caller to dispatch a start once accepted */
  followUp?: "START";
}

class Steps {
  readonly list: StageTransition[] = [];
  constructor(
    public stage: IntentStage,
    private readonly at: string,
  ) {}
  go(to: IntentStage, verdict: Verdict, extra: Pick<StageTransition, "error" | "followUp"> = {}): void {
    this.list.push({ from: this.stage, to, at: this.at, observation: verdict.observation, evidence: verdict.evidence, ...extra });
    this.stage = to;
  }
}

// Kinds whose acceptance is the dispatch result itself; a poll cannot stand in for it (a vanished run after
// a cancel whose exit code is unknown could equally be a crash).
const ACCEPTED_BY_DISPATCH: ReadonlySet<IntentKind> = new Set(["CANCEL", "PAUSE", "RESUME"]);

function applyDispatchResult(intent: IntentView, steps: Steps, result: DispatchResult): void {
  const verdict = judgeDispatch(intent.kind, result);
  if (steps.stage === "REQUESTED") {
    // the DISPATCHED record carries the result too, so kinds that wait for later evidence keep it
    steps.go("DISPATCHED", { observation: `dispatched: ${verdict.observation}`, evidence: verdict.evidence });
  }
  if (steps.stage !== "DISPATCHED") return;
  if (verdict.outcome === "failed") steps.go("FAILED", verdict, { error: verdict.error });
  else if (verdict.outcome === "accepted") steps.go("ACCEPTED", verdict);
}

function onPoll(intent: IntentView, steps: Steps, facts: PollFacts, now: Date): void {
  if (steps.stage !== "DISPATCHED" && steps.stage !== "ACCEPTED") return;
  switch (intent.kind) {
    case "APPROVE": {
      let afterLine = 0;
      if (steps.stage === "DISPATCHED") {
        const decision = findApprovalDecision(facts.newEvents, "approved");
        if (decision === null) return;
        steps.go("ACCEPTED", decisionVerdict(decision), intent.resumeAfterApprove ? { followUp: "START" } : {});
        afterLine = decision.line;
      }
      const completion = findApprovalCompletion(facts, afterLine);
      if (completion !== null) steps.go("CONFIRMED", completion);
      return;
    }
    case "REJECT": {
      const decision = findApprovalDecision(facts.newEvents, "rejected");
      if (decision === null) return;
      // the rejection is both the acceptance and the whole effect
      if (steps.stage === "DISPATCHED") steps.go("ACCEPTED", decisionVerdict(decision));
      steps.go("CONFIRMED", decisionVerdict(decision));
      return;
    }
    case "START":
    case "RESTART": {
      const started = startConfirmed(facts, intent.dispatchedAt);
      if (started === null) {
        // The process it launched is gone and left no run on disk (e.g. cancelled in its startup window): its
        // loop_start can no longer come. Whether it started at all is unknown, so AMBIGUOUS now, not at the
        // deadline (an open START blocks the next one until then).
        if (steps.stage === "ACCEPTED" && facts.launchAlive === false && !facts.stateExists && !facts.activeRunExists) {
          steps.go(
            "AMBIGUOUS",
            { observation: "the launched run is gone without a loop_start observed and left no run on disk", evidence: { launchAlive: false, stateExists: false, activeRunExists: false } },
            { error: "exited_before_loop_start" },
          );
        }
        return;
      }
      // loop_start proves the process started even if the dispatch reported no pid
      if (steps.stage === "DISPATCHED") steps.go("ACCEPTED", started);
      steps.go("CONFIRMED", started);
      return;
    }
    default: {
      if (steps.stage !== "ACCEPTED" || !ACCEPTED_BY_DISPATCH.has(intent.kind)) return;
      const verdict = intent.kind === "CANCEL" ? cancelConfirmed(facts, intent.acceptedAt, now) : intent.kind === "PAUSE" ? pauseConfirmed(facts) : resumeConfirmed(facts);
      if (verdict !== null) steps.go("CONFIRMED", verdict);
    }
  }
}

/**
 * Whether an intent still waiting at `stage` turns AMBIGUOUS when its deadline passes. An accepted approve
 * without resume is the exception: its completion waits for someone to run the loop again, which may be any
 * time later, and the decision event already proves the approve took effect.
 */
function expiresAt(intent: IntentView, stage: IntentStage): boolean {
  if (isTerminalStage(stage)) return false;
  return !(stage === "ACCEPTED" && intent.kind === "APPROVE" && !intent.resumeAfterApprove);
}

function onDeadline(intent: IntentView, steps: Steps, now: Date): void {
  const deadline = toMs(intent.deadlineAt);
  if (deadline === null || now.getTime() <= deadline || !expiresAt(intent, steps.stage)) return;
  steps.go(
    "AMBIGUOUS",
    {
      observation: `deadline passed at ${STAGE_WORD[steps.stage]} without evidence`,
      evidence: { deadlineAt: intent.deadlineAt, now: now.toISOString(), stage: steps.stage },
    },
    { error: "deadline_exceeded" },
  );
}

const STAGE_WORD: Record<IntentStage, string> = {
  REQUESTED: "requested",
  DISPATCHED: "dispatched",
  ACCEPTED: "accepted",
  CONFIRMED: "confirmed",
  FAILED: "failed",
  AMBIGUOUS: "ambiguous",
  REJECTED: "rejected",
};

function observedAt(observation: Observation): string {
  return observation.type === "poll" || observation.type === "tick" ? observation.now.toISOString() : observation.at;
}

/**
 * Applies one observation to an intent. Returns the transitions it causes, in order (one observation may
 * move an intent several steps, e.g. DISPATCHED → ACCEPTED → CONFIRMED when approval_decision and
 * approval_consumed arrive in the same batch), or null when nothing changes. Terminal stages never change.
 * Evidence is checked before the deadline, so proof that arrives in the same poll as the deadline wins.
 */
export function advanceIntent(intent: IntentView, observation: Observation): StageTransition[] | null {
  if (isTerminalStage(intent.stage)) return null;
  const steps = new Steps(intent.stage, observedAt(observation));
  switch (observation.type) {
    case "precondition_failed":
      if (steps.stage === "REQUESTED") {
        steps.go("REJECTED", { observation: observation.message, evidence: { error: observation.error } }, { error: observation.error });
      }
      break;
    case "dispatch_started":
      if (steps.stage === "REQUESTED") steps.go("DISPATCHED", { observation: "dispatched", evidence: {} });
      break;
    case "dispatch_ok":
      applyDispatchResult(intent, steps, observation.result);
      break;
    case "dispatch_failed":
      if (steps.stage === "REQUESTED" || steps.stage === "DISPATCHED") {
        steps.go("FAILED", { observation: `dispatch failed: ${observation.error}`, evidence: { error: observation.error, ...observation.details } }, { error: observation.code ?? "dispatch_failed" });
      }
      break;
    case "poll":
      // a result stored with the DISPATCHED stage but not yet judged (e.g. recorded by a process that
      // stopped before advancing) is judged first, so evidence is never lost to the order of writes
      if (intent.dispatchResult && steps.stage === "DISPATCHED") applyDispatchResult(intent, steps, intent.dispatchResult);
      onPoll(intent, steps, observation.facts, observation.now);
      onDeadline(intent, steps, observation.now);
      break;
    case "tick":
      onDeadline(intent, steps, observation.now);
      break;
  }
  return steps.list.length > 0 ? steps.list : null;
}
