import { liveProcess, stateActiveForLoop } from "./predicates";
import type { RunFacts } from "./types";

export type RunIdSource = "loop_start" | "last_event" | "approval" | "summary";

export interface RunIdentity {
  runtimeRunId: string | null;
  runIdSource: RunIdSource | null;
  iteration: number | null;
}

function positive(value: number | null | undefined): number | null {
  return typeof value === "number" && value > 0 ? value : null;
}

/**
 * The runtime run id the manager exposes is the id of the latest `loop_start`: the invocation that most
 * recently acted on the loop. After an approval the completing `approval_consumed` / `loop_complete` events
 * carry the ORIGINAL run id (the one the summary and approval.json name) while `loop_start` carries a new
 * one; the original stays visible in the evidence and summary, but the identity follows the newest
 * invocation so that a later crash or stop is attributed to the process that actually ran.
 */
export function latestRunIdentity(facts: Pick<RunFacts, "loopId" | "runtime" | "events">): RunIdentity {
  const { events, runtime } = facts;
  let runtimeRunId: string | null = null;
  let runIdSource: RunIdSource | null = null;
  if (events.latestRunId !== null) {
    runtimeRunId = events.latestRunId;
    runIdSource = events.latestLoopStartAt !== null ? "loop_start" : "last_event";
  } else if (runtime.approval?.run_id) {
    runtimeRunId = runtime.approval.run_id;
    runIdSource = "approval";
  } else if (runtime.lastSummary?.run_id) {
    runtimeRunId = runtime.lastSummary.run_id;
    runIdSource = "summary";
  }

  // state.json's iteration is reset to 0 after completion, and loop_stop carries max+1, so the
  // live process and the latest iteration_start are the trustworthy sources.
  const iteration =
    (liveProcess(facts) ? positive(runtime.activeRun?.iteration) : null) ??
    positive(events.latestIteration) ??
    (stateActiveForLoop(facts) ? positive(runtime.state?.iteration) : null) ??
    positive(runtime.lastSummary?.iteration) ??
    positive(runtime.approval?.iteration);

  return { runtimeRunId, runIdSource, iteration };
}
