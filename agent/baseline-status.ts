import type { Approval, RunStatus, RunSummaryEntry, SuperloopState } from "../src/contract";

// The docs/contract.md baseline rule set, first match wins. Deliberately naive (it is what the v1 snapshot
// reports); the manager's lifecycle projection corrects its known blind spots with process liveness,
// event staleness and its own record of sent intents.

export interface BaselineInputs {
  loopId: string;
  state: SuperloopState | null;
  approval: Approval | null;
  lastSummary: RunSummaryEntry | null;
  lastEvent: { name: string; status: string | null } | null;
}

const STOP_EVENTS = new Set(["loop_stop", "rate_limit_stop", "no_progress_stop"]);
const FAILED_STATUSES = new Set(["error", "timeout", "blocked", "rate_limited"]);

export function baselineStatus(inputs: BaselineInputs): RunStatus {
  const { state, approval, lastSummary, lastEvent } = inputs;
  if (approval !== null && approval.status === "pending") return "awaiting_approval";
  if (lastSummary !== null && lastSummary.completion_ok === true) return "complete";
  if (state !== null && state.active === true && state.current_loop_id === inputs.loopId) return "running";
  if (lastEvent !== null && STOP_EVENTS.has(lastEvent.name)) return "stopped";
  if (lastEvent !== null && lastEvent.status !== null && FAILED_STATUSES.has(lastEvent.status)) return "failed";
  if (state !== null && state.active !== true && lastSummary !== null) return "idle";
  return "unknown";
}
