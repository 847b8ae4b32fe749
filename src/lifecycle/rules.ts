import {
  approvalPending,
  deadActiveRun,
  approvalStatus,
  completionRecorded,
  lastEventFailureStatus,
  lastEventIsStop,
  lastEventName,
  liveProcess,
  provenLiveProcess,
  runFinished,
  sleptUnderRun,
  stateActiveForLoop,
} from "./predicates";
import { isAfter } from "./time";
import type { LifecycleRule, RunFacts } from "./types";

// A cancel only explains a vanished run if nothing started after it: neither a start the manager
// dispatched nor a `run` someone launched by hand (its loop_start would be newer than the cancel).
function cancelIsLatestControl(facts: RunFacts): boolean {
  const { cancelAcceptedAt, startDispatchedAt } = facts.control;
  if (cancelAcceptedAt === null) return false;
  if (isAfter(facts.events.latestLoopStartAt, cancelAcceptedAt)) return false;
  return startDispatchedAt === null || !isAfter(startDispatchedAt, cancelAcceptedAt);
}

function startIsLatestControl(facts: RunFacts): boolean {
  const { cancelAcceptedAt, startDispatchedAt } = facts.control;
  if (startDispatchedAt === null) return false;
  return cancelAcceptedAt === null || !isAfter(cancelAcceptedAt, startDispatchedAt);
}

const STOP_REASON_BY_EVENT: Record<string, string> = {
  rate_limit_stop: "rate_limited",
  no_progress_stop: "no_progress",
};

// A failure event's own name says more than its status (`timeout`, `error`) where the runtime has one.
const FAILURE_REASON_BY_EVENT: Record<string, string> = {
  role_timeout: "role_timeout",
  usage_limit_blocked: "usage_limit",
};

function failureReason(facts: RunFacts): string {
  return FAILURE_REASON_BY_EVENT[lastEventName(facts) ?? ""] ?? lastEventFailureStatus(facts) ?? "error";
}

function stopReason(facts: RunFacts): string {
  const name = lastEventName(facts) ?? "";
  const mapped = STOP_REASON_BY_EVENT[name];
  if (mapped !== undefined) return mapped;
  const reason = facts.events.stopReason;
  // data.reason goes into a machine-readable reason: only accept snake_case values from the runtime.
  return reason !== null && /^[a-z][a-z0-9_]*$/.test(reason) ? reason : "stopped";
}

/**
 * The lifecycle rules, first match wins. Order matters and is the point of this table: each rule assumes
 * every rule above it did not match.
 */
export const LIFECYCLE_RULES: readonly LifecycleRule[] = [
  {
    id: "sprite_missing",
    state: "FAILED",
    reason: "sprite_missing",
    when: (f) => f.sprite.status === "MISSING" && !runFinished(f),
    describe:
      "The Sprite no longer exists and the runtime had not finished the loop. An UNREACHABLE Sprite " +
      "changes nothing (the last known files still stand), and a run the runtime already completed or stopped " +
      "keeps that outcome even if its Sprite is deleted afterwards.",
    facts: "sprite.status, runtime.lastSummary.completion_ok, events.last.name, runtime.approval.status",
  },
  {
    id: "approval_pending",
    state: "AWAITING_APPROVAL",
    reason: "awaiting_approval",
    when: approvalPending,
    describe: "approval.json has status `pending`. Also after a reject and a new `run` that asks again. Wins over a " + "completed summary (that combination raises `approvalCompletionConflict`).",
    facts: "runtime.approval.status, runtime.approval.run_id, runtime.approval.iteration, runtime.approval.requested_at",
  },
  {
    id: "cancelled",
    state: "STOPPED",
    reason: "cancelled",
    when: (f) => cancelIsLatestControl(f) && !liveProcess(f) && f.runtime.launchAlive !== true,
    describe:
      "The manager's cancel was accepted (exit 0) and no live process remains. `superloop cancel` deletes " +
      "state.json and active-run.json and writes no event, so only the manager's own knowledge explains the " +
      "disappearance; without it the same files read as `runtime_died` or `unknown`.",
    facts: "control.cancelAcceptedAt, control.startDispatchedAt, events.latestLoopStartAt, runtime.state, runtime.activeRun, runtime.activeRunAlive",
  },
  {
    id: "start_requested",
    state: "RUNNING",
    reason: "starting",
    when: startIsLatestControl,
    describe:
      "The manager dispatched a start and `loop_start` has not been ingested yet. Reported as RUNNING so the " +
      "run does not flap back to its previous terminal state during the seconds the runtime takes to begin; " +
      "the `starting` reason keeps it distinguishable, and `stale` flags a start that never produced an event.",
    facts: "control.startDispatchedAt, control.cancelAcceptedAt, events.latestLoopStartAt",
  },
  {
    id: "sprite_slept",
    state: "FAILED",
    reason: "sprite_slept",
    when: (f) => sleptUnderRun(f) && !runFinished(f),
    describe:
      "state.json/active-run.json show a run of this loop in progress, and its Sprite went cold under it: the " +
      "Sprites API reports COLD, or the Sprite's boot id differs from the one the run's supervisor recorded. A " +
      "cold Sprite has no processes, so the run died (its files stay as they were: `active: true`, a stale " +
      "active-run.json). The way out is cancel, then start (preferably supervised, which keeps the Sprite awake).",
    facts: "sprite.status, runtime.supervisor.bootId, runtime.supervisor.currentBootId, runtime.state.active, runtime.activeRun",
  },
  {
    id: "sprite_warm",
    state: "PAUSED",
    reason: "sprite_warm",
    when: (f) => f.sprite.status === "WARM" && stateActiveForLoop(f) && liveProcess(f),
    describe:
      "A live run's Sprite is warm (suspended): its processes are frozen and make no progress until something " +
      "wakes the Sprite; the manager does not wake it just to look. Not failed: a wake resumes the run (its model " +
      "connections may have dropped). A supervised START keeps the Sprite running instead.",
    facts: "sprite.status, runtime.state.active, runtime.activeRun.pid, runtime.activeRunAlive",
  },
  {
    id: "paused",
    state: "PAUSED",
    reason: "paused",
    when: (f) => f.control.pauseConfirmedAt !== null && liveProcess(f),
    describe: "The manager's pause was confirmed (no resume since) and the run's process still exists.",
    facts: "control.pauseConfirmedAt, runtime.activeRun.pid, runtime.activeRunAlive, runtime.processStopped",
  },
  {
    id: "process_stopped",
    state: "PAUSED",
    reason: "process_stopped",
    when: (f) => f.runtime.processStopped === true && liveProcess(f),
    describe:
      "The run's process group is observed SIGSTOPped although the manager did not pause it (someone " +
      "signalled it by hand). The process cannot make progress, so calling it RUNNING would be wrong.",
    facts: "runtime.processStopped, runtime.activeRun.pid, runtime.activeRunAlive",
  },
  {
    id: "completed",
    state: "COMPLETE",
    reason: "completed",
    when: completionRecorded,
    describe:
      "The last summary entry has `completion_ok: true` (or the last event is `loop_complete`) and state.json " +
      "does not show this loop active again. After an approved completion state.json is reset with " +
      '`current_loop_id: ""`, which this rule accepts; a later `run` of the same loop sets `active` again and ' +
      "the old completion stops counting.",
    facts: "runtime.lastSummary.completion_ok, runtime.lastSummary.run_id, events.last.name, runtime.state.active, runtime.state.current_loop_id",
  },
  {
    id: "waiting_usage_limit",
    state: "RUNNING",
    reason: "waiting_usage_limit",
    when: (f) => lastEventName(f) === "usage_limit_blocked" && liveProcess(f),
    describe:
      "The last event is `usage_limit_blocked` and the run's process is alive: with `usage_check.wait_on_limit` the " +
      "runtime sleeps until the limit resets, writing nothing for up to `max_wait_seconds` (default 7200, 0 = " +
      "forever). Running, not failed; not stale until that wait is over.",
    facts: "events.last.name, events.last.timestamp, runtime.activeRun.pid, runtime.activeRunAlive, runtime.usageWaitMaxSeconds",
  },
  {
    id: "running",
    state: "RUNNING",
    reason: "running",
    when: (f) => stateActiveForLoop(f) && liveProcess(f),
    describe:
      "state.json is active for this loop and active-run.json is present with a pid not known to be dead " +
      "(liveness that cannot be checked remotely counts as alive; staleness is reported separately).",
    facts: "runtime.state.active, runtime.state.current_loop_id, runtime.activeRun.pid, runtime.activeRun.stage, runtime.activeRunAlive",
  },
  {
    id: "process_alive",
    state: "RUNNING",
    reason: "running",
    when: provenLiveProcess,
    describe: "active-run.json for this loop with a pid checked alive, while state.json does not (yet) say active: the " + "window between `loop_start` and the first iteration's state write.",
    facts: "runtime.activeRun.pid, runtime.activeRun.loop_id, runtime.activeRunAlive, runtime.state.active",
  },
  {
    id: "killed",
    state: "FAILED",
    reason: "killed",
    when: deadActiveRun,
    describe:
      "active-run.json for this loop is still there but its pid is dead, or is no longer this repo's `superloop " +
      "run` (pids are reused): the process was killed (SIGKILL, OOM, a Sprite gone cold) — a normal end or a " +
      "crash removes the file in the exit trap. Checked on every poll even when no file changed, so it shows " +
      "within one poll interval. `state.active` stays true: the next `run` is refused until a cancel (RESTART).",
    facts: "runtime.activeRun.pid, runtime.activeRun.loop_id, runtime.activeRunAlive, runtime.state.active, events.last.name",
  },
  {
    id: "stop_event",
    state: "STOPPED",
    reason: stopReason,
    reasonDoc:
      "`loop_stop` → its `data.reason` (`max_iterations`, `stuck`, `lifecycle_gate_failed`, `no_progress`, … else " +
      "`stopped`); `rate_limit_stop` → `rate_limited`; `no_progress_stop` → `no_progress`",
    when: lastEventIsStop,
    describe:
      "The last event is one the runtime emits when it ends the loop by its own limits. Checked before " +
      "`runtime_died` because a rate-limit stop leaves `state.active == true` after the process exits. A " +
      "rate limit carries the provider's message from rate-limit.json and never resumes by itself (the next " +
      "`run` is refused until a cancel: RESTART); `stuck` leaves stuck.json, and every later `run` is refused " +
      "while it exists.",
    facts: "events.last.name, events.stopReason, runtime.rateLimit.message, runtime.rateLimit.role, runtime.stuck.reason, runtime.state.active",
  },
  {
    id: "event_failure",
    state: "FAILED",
    reason: failureReason,
    reasonDoc: "`role_timeout` → `role_timeout`; `usage_limit_blocked` with no live process → `usage_limit`; else the event status: `error`, `timeout`, `blocked` or `rate_limited`",
    when: (f) => lastEventFailureStatus(f) !== null,
    describe: "The last event carries a failure status and no rule above shows the run still working past it.",
    facts: "events.last.name, events.last.status",
  },
  {
    id: "runtime_died",
    state: "FAILED",
    reason: "runtime_died",
    when: (f) => stateActiveForLoop(f) && !liveProcess(f),
    describe: "state.json still says this loop is active but active-run.json is gone (or its pid is dead): the " + "runtime crashed (e.g. a runner exited non-zero) without writing a final event.",
    facts: "runtime.state.active, runtime.state.current_loop_id, runtime.activeRun, runtime.activeRunAlive, events.last.name",
  },
  {
    id: "approved_pending_run",
    state: "IDLE",
    reason: "approved_pending_run",
    when: (f) => approvalStatus(f) === "approved",
    describe:
      "approval.json has status `approved`: the approve was accepted but completion only happens when the " +
      "runtime runs again (it consumes the approval and emits `loop_complete`). Not AWAITING_APPROVAL (nobody " +
      "needs to decide) and not COMPLETE (no completion recorded yet): IDLE until a `run` starts.",
    facts: "runtime.approval.status, runtime.approval.run_id, events.last.name",
  },
  {
    id: "rejected_pending_run",
    state: "IDLE",
    reason: "rejected_pending_run",
    when: (f) => approvalStatus(f) === "rejected",
    describe: "approval.json has status `rejected`: the next `run` starts a new iteration with the reviewer's note; " + "until then nothing runs.",
    facts: "runtime.approval.status, runtime.approval.run_id, events.last.name",
  },
  {
    id: "not_started",
    state: "IDLE",
    reason: "not_started",
    when: (f) => f.events.count === 0 && (!f.runtime.loopDirExists || !f.runtime.eventsFileExists),
    describe: "Nothing ingested and the loop directory or its events.jsonl does not exist: the loop never ran.",
    facts: "events.count, runtime.loopDirExists, runtime.eventsFileExists",
  },
  {
    id: "idle",
    state: "IDLE",
    reason: "idle",
    when: (f) => f.runtime.state !== null && !f.runtime.state.active && f.runtime.lastSummary !== null,
    describe: "state.json exists with `active: false` and a summary exists, and nothing above explains more.",
    facts: "runtime.state.active, runtime.lastSummary.run_id, events.last.name",
  },
  {
    id: "unknown",
    state: "UNKNOWN",
    reason: "unknown",
    when: () => true,
    describe: "No rule above matched; the facts are recorded as evidence for an operator to read.",
    facts: "runtime.state, runtime.activeRun, runtime.approval.status, events.count, events.last.name",
  },
];
