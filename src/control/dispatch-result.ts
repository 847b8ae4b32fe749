import type { ControlResult } from "../contract";
import type { RuntimeFacts } from "../lifecycle/types";
import type { DispatchResult, IntentKind, Observation, PollFacts, PolledEvent } from "./stages";

// What a transport's answer means for the stage machine. Pure: the service feeds the result in, the stage
// machine (src/control/stages.ts) decides the stages.

/** The transport's word for each intent kind (argv of the allowlisted command, or the signal). */
export function transportIntent(kind: Exclude<IntentKind, "RESTART">): "cancel" | "approve" | "reject" | "pause" | "resume" | "start" {
  return kind.toLowerCase() as "cancel" | "approve" | "reject" | "pause" | "resume" | "start";
}

/**
 * A command that ran and exited non-zero is `dispatch_ok` with its exit code (the stage machine records
 * DISPATCHED then FAILED/failed_command, keeping the exit code and stderr as evidence); a command that could not
 * run at all (not found, timed out, no process group to signal) is `dispatch_failed` with the reason.
 */
export function observeControlResult(kind: IntentKind, result: ControlResult, at: string): Observation {
  const ranAndExited = typeof result.exitCode === "number" && result.exitCode !== 0;
  if (!result.ok && !ranAndExited) {
    const reason = result.error ? `${result.error.code}: ${result.error.message}` : "the transport reported a failure";
    return { type: "dispatch_failed", at, error: reason };
  }
  const signal = kind === "PAUSE" || kind === "RESUME";
  const dispatch: DispatchResult = {
    exitCode: result.exitCode,
    pid: result.pid ?? null,
    // agent/control.ts reports ok only after kill(-pgid) returned without error
    signalDelivered: signal ? result.ok : null,
    stdout: result.stdout ? result.stdout.slice(0, 2000) : null,
    stderr: result.stderr ? result.stderr.slice(0, 2000) : null,
  };
  return { type: "dispatch_ok", at, result: dispatch };
}

/** Evidence kept next to the stage machine's own, for the audit: what exactly was executed. */
export function dispatchDetails(result: ControlResult): Record<string, unknown> {
  return {
    argv: result.argv,
    exitCode: result.exitCode,
    ...(result.pid !== undefined ? { pid: result.pid } : {}),
    ...(result.signal !== undefined ? { signal: result.signal } : {}),
    ...(result.verified !== undefined ? { verified: result.verified } : {}),
    ...(result.error !== undefined ? { error: result.error } : {}),
  };
}

/**
 * Facts for offering events that were ingested while the intent was still REQUESTED (the poller skips
 * REQUESTED intents, and an approve's `approval_decision` is usually ingested before the CLI has even
 * exited). Runtime facts are only trusted when the poller read them after the dispatch began; otherwise
 * they prove nothing in either direction.
 */
export function catchUpFacts(events: readonly PolledEvent[], stored: RuntimeFacts | null): PollFacts {
  if (stored === null) {
    return { stateExists: true, stateActive: true, activeRunExists: true, processStopped: null, processAlive: null, newEvents: events, lastSummaryCompletionOk: null };
  }
  return {
    stateExists: stored.state !== null,
    stateActive: stored.state?.active === true,
    activeRunExists: stored.activeRun !== null,
    processStopped: stored.processStopped,
    processAlive: stored.activeRunAlive,
    launchAlive: stored.launchAlive ?? null,
    newEvents: events,
    lastSummaryCompletionOk: stored.lastSummary?.completion_ok ?? null,
  };
}
