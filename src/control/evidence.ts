import { isActivePhaseEvent } from "../lifecycle/event-facts";
import { toMs } from "../lifecycle/time";

// Evidence per docs/control.md: which observation proves that an intent was accepted and that it took effect.
// Kept apart from the stage machine so the table of "what counts as proof" reads on its own.

export interface DispatchResult {
  /** command exit code; null when the command was launched detached and has not exited */
  exitCode: number | null;
  /** pid of a detached process (start) */
  pid?: number | null;
  /** the process-group signal was delivered (pause / resume) */
  signalDelivered?: boolean | null;
  stdout?: string | null;
  stderr?: string | null;
}

export interface PolledEvent {
  name: string;
  status: string | null;
  /** 1-based line in events.jsonl */
  line: number;
  timestamp: string;
  data?: Record<string, unknown> | null;
}

export interface PollFacts {
  stateExists: boolean;
  stateActive: boolean;
  activeRunExists: boolean;
  processStopped: boolean | null;
  processAlive: boolean | null;
  /** any process of the group the manager launched (START) is still the run; null = no launch known / cannot tell */
  launchAlive?: boolean | null;
  /** events ingested by this poll, in line order */
  newEvents: readonly PolledEvent[];
  lastSummaryCompletionOk: boolean | null;
}

export type Evidence = Record<string, unknown>;

export interface Verdict {
  observation: string;
  evidence: Evidence;
}

export type DispatchVerdict = ({ outcome: "accepted" } | { outcome: "failed"; error: string } | { outcome: "dispatched" }) & Verdict;

// Recorded under `result` so a stored transition can be read back as the intent's `dispatchResult`.
// stderr is capped: evidence is stored with every stage change.
function resultEvidence(result: DispatchResult): Evidence {
  const recorded: DispatchResult = {
    exitCode: result.exitCode,
    pid: result.pid ?? null,
    signalDelivered: result.signalDelivered ?? null,
    ...(result.stderr ? { stderr: result.stderr.slice(0, 2000) } : {}),
  };
  return { result: recorded };
}

/** What a dispatch result alone proves for each intent kind. */
// How the real runtime's `run` refuses (docs/runtime.md): stale `state.active` ("A loop is already running",
// "reentrant run blocked") and stuck.json. Matched on stderr so the operator sees `runtime_refused`, not a
// generic exit code.
const RUNTIME_REFUSAL = /reentrant run blocked|already running|stuck|another run is active|waiting for approval/i;

function refusalLine(stderr: string | null | undefined): string | null {
  const lines = (stderr ?? "")
    .split("\n")
    .map((l) => l.trim())
    .filter(Boolean);
  return lines.find((l) => RUNTIME_REFUSAL.test(l)) ?? null;
}

export function judgeDispatch(kind: string, result: DispatchResult): DispatchVerdict {
  const evidence = resultEvidence(result);
  if (result.exitCode !== null && result.exitCode !== 0) {
    const refusal = kind === "START" || kind === "RESTART" ? refusalLine(result.stderr) : null;
    if (refusal !== null) {
      return { outcome: "failed", error: "runtime_refused", observation: `runtime refused the run (exit ${result.exitCode}): ${refusal.slice(0, 300)}`, evidence };
    }
    return { outcome: "failed", error: "failed_command", observation: `command exited ${result.exitCode}`, evidence };
  }
  switch (kind) {
    case "CANCEL":
      if (result.exitCode === 0) return { outcome: "accepted", observation: "cancel command exited 0", evidence };
      return { outcome: "dispatched", observation: "cancel command has not reported an exit code", evidence };
    case "START":
    case "RESTART":
      if (typeof result.pid === "number" && result.pid > 0) {
        return { outcome: "accepted", observation: `run process started (pid ${result.pid})`, evidence };
      }
      return { outcome: "dispatched", observation: "start dispatched without a pid", evidence };
    case "PAUSE":
    case "RESUME":
      if (result.signalDelivered === false) {
        return { outcome: "failed", error: "signal_not_delivered", observation: "signal was not delivered", evidence };
      }
      if (result.signalDelivered === true || result.exitCode === 0) {
        return { outcome: "accepted", observation: `${kind === "PAUSE" ? "STOP" : "CONT"} signal delivered`, evidence };
      }
      return { outcome: "dispatched", observation: "signal delivery not reported", evidence };
    default:
      // approve / reject: a zero exit only means the CLI ran; acceptance is the approval_decision event.
      return { outcome: "dispatched", observation: "command exited 0; waiting for approval_decision", evidence };
  }
}

function eventEvidence(event: PolledEvent): Evidence {
  return { event: event.name, line: event.line, timestamp: event.timestamp, status: event.status };
}

function decisionStatus(event: PolledEvent): string | null {
  const fromData = event.data?.["status"];
  return event.status ?? (typeof fromData === "string" ? fromData : null);
}

export function findApprovalDecision(events: readonly PolledEvent[], status: "approved" | "rejected"): PolledEvent | null {
  return events.find((event) => event.name === "approval_decision" && decisionStatus(event) === status) ?? null;
}

/** Approve is confirmed by the runtime consuming the approval or completing: only after the decision line. */
export function findApprovalCompletion(facts: PollFacts, afterLine: number): Verdict | null {
  const event = facts.newEvents.find((candidate) => candidate.line > afterLine && (candidate.name === "approval_consumed" || candidate.name === "loop_complete"));
  if (event !== undefined) return { observation: `${event.name} observed`, evidence: eventEvidence(event) };
  if (facts.lastSummaryCompletionOk === true) {
    return { observation: "last summary has completion_ok", evidence: { lastSummaryCompletionOk: true } };
  }
  return null;
}

export function decisionVerdict(event: PolledEvent): Verdict {
  return { observation: `approval_decision ${decisionStatus(event) ?? ""} observed`.trim(), evidence: eventEvidence(event) };
}

function pollEvidence(facts: PollFacts): Evidence {
  return {
    stateExists: facts.stateExists,
    stateActive: facts.stateActive,
    activeRunExists: facts.activeRunExists,
    processAlive: facts.processAlive,
    processStopped: facts.processStopped,
    launchAlive: facts.launchAlive ?? null,
  };
}

/**
 * The real runtime writes active-run.json ~1.2 s after `run` starts; until then a run launched by hand leaves
 * no file to see. A cancel is only confirmed by an observation at least this long after it was accepted, so a
 * run still starting has had time to show itself.
 */
export const CANCEL_SETTLE_MS = 2_500;

/**
 * cancel: no live run left — state.json inactive or gone, active-run.json gone, the pid it named not the run
 * any more, and no process left of the group the manager launched. Missing files alone never confirm: a
 * cancel in the first second of a run finds no files while the run goes on (docs/runtime.md).
 */
export function cancelConfirmed(facts: PollFacts, acceptedAt: string | null = null, now: Date | null = null): Verdict | null {
  const stateQuiet = !facts.stateExists || !facts.stateActive;
  if (!stateQuiet || facts.activeRunExists || facts.processAlive === true || facts.launchAlive === true) return null;
  const accepted = toMs(acceptedAt);
  if (accepted !== null && now !== null && now.getTime() - accepted < CANCEL_SETTLE_MS) return null;
  return { observation: "no live run: state inactive or gone, active-run.json gone, no process of the run left", evidence: pollEvidence(facts) };
}

export function pauseConfirmed(facts: PollFacts): Verdict | null {
  if (facts.processStopped !== true) return null;
  return { observation: "process group observed stopped", evidence: pollEvidence(facts) };
}

export function resumeConfirmed(facts: PollFacts): Verdict | null {
  if (facts.processAlive === false) return null;
  if (facts.processStopped === false) {
    return { observation: "process group observed running again", evidence: pollEvidence(facts) };
  }
  // Where the stop flag cannot be read, a fresh active-phase event is the process visibly working again.
  const event = facts.newEvents.find((candidate) => isActivePhaseEvent(candidate.name));
  if (event !== undefined) return { observation: `${event.name} observed after resume`, evidence: eventEvidence(event) };
  return null;
}

/**
 * start: `loop_start` no earlier than the dispatch. Runtime timestamps have whole seconds, so the dispatch
 * time is floored before comparing; otherwise a loop_start in the same second would be ignored.
 */
export function startConfirmed(facts: PollFacts, dispatchedAt: string | null): Verdict | null {
  const dispatched = toMs(dispatchedAt);
  const floor = dispatched === null ? null : Math.floor(dispatched / 1000) * 1000;
  const event = facts.newEvents.find((candidate) => {
    if (candidate.name !== "loop_start") return false;
    const at = toMs(candidate.timestamp);
    return floor === null || at === null || at >= floor;
  });
  return event === undefined ? null : { observation: "loop_start observed", evidence: eventEvidence(event) };
}
