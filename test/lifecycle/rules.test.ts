// Over 350 lines: the lifecycle rule table tested row by row (one case per rule and edge), kept in one file so
// it reads beside src/lifecycle/rules.ts.
import { describe, expect, it } from "vitest";
import { isStale, projectLifecycle } from "../../src/lifecycle/project";
import { LIFECYCLE_RULES } from "../../src/lifecycle/rules";
import type { LastEventFacts, LifecycleState, RunFacts } from "../../src/lifecycle/types";
import { LOOP_ID, makeFacts, NOW, type FactsPatch } from "./support/facts";

const T = "2026-11-24T06:59:30Z"; // 30 s before NOW: fresh
const ACTIVE_STATE = { active: true, current_loop_id: LOOP_ID, iteration: 2, updated_at: T };
const INACTIVE_STATE = { active: false, current_loop_id: LOOP_ID, iteration: 2, updated_at: T };
const RESET_STATE = { active: false, current_loop_id: "", iteration: 0, updated_at: T };
const ACTIVE_RUN = { pid: 4242, pgid: 4242, loop_id: LOOP_ID, iteration: 2, stage: "implementer", updated_at: T };
const SUMMARY = { run_id: "r1", iteration: 2, completion_ok: false, ended_at: T };
const DONE_SUMMARY = { ...SUMMARY, completion_ok: true };

function last(name: string, status: string | null = null, timestamp = T): LastEventFacts {
  return { name, status, timestamp, runId: "r1", iteration: 2 };
}

function events(name: string, status: string | null = null, extra: FactsPatch["events"] = {}): FactsPatch["events"] {
  return { count: 10, last: last(name, status), latestRunId: "r1", latestLoopStartAt: "2026-11-24T06:50:00Z", latestIteration: 2, ...extra };
}

const onDisk = { loopDirExists: true, eventsFileExists: true };
const running: FactsPatch = {
  runtime: { ...onDisk, state: ACTIVE_STATE, activeRun: ACTIVE_RUN, activeRunAlive: true },
  events: events("role_start"),
};
function withPatch(base: FactsPatch, patch: FactsPatch): FactsPatch {
  return {
    ...base,
    ...patch,
    runtime: { ...base.runtime, ...patch.runtime },
    events: { ...base.events, ...patch.events },
    control: { ...base.control, ...patch.control },
  };
}

interface Row {
  name: string;
  patch: FactsPatch;
  state: LifecycleState;
  reason: string;
  ruleId: string;
}

const ROWS: readonly Row[] = [
  // sprite_missing
  { name: "running run on a missing sprite", patch: withPatch(running, { sprite: "MISSING" }), state: "FAILED", reason: "sprite_missing", ruleId: "sprite_missing" },
  { name: "never-started run on a missing sprite", patch: { sprite: "MISSING" }, state: "FAILED", reason: "sprite_missing", ruleId: "sprite_missing" },
  {
    name: "completed run on a missing sprite keeps COMPLETE",
    patch: { sprite: "MISSING", runtime: { ...onDisk, state: RESET_STATE, lastSummary: DONE_SUMMARY }, events: events("loop_complete") },
    state: "COMPLETE",
    reason: "completed",
    ruleId: "completed",
  },
  // sprite_slept / sprite_warm (issue 11: a cold Sprite has no processes; a warm one has frozen ones)
  { name: "running run on a COLD sprite failed: it slept", patch: withPatch(running, { sprite: "COLD" }), state: "FAILED", reason: "sprite_slept", ruleId: "sprite_slept" },
  {
    name: "supervised run whose boot id changed failed: it slept",
    patch: withPatch(running, { runtime: { activeRunAlive: false, supervisor: { status: "running", pid: 4242, bootId: "boot-a", currentBootId: "boot-b" } } }),
    state: "FAILED",
    reason: "sprite_slept",
    ruleId: "sprite_slept",
  },
  {
    name: "supervised run, same boot id, pid dead: killed, not a sleep",
    patch: withPatch(running, { runtime: { activeRunAlive: false, supervisor: { status: "running", pid: 4242, bootId: "boot-a", currentBootId: "boot-a" } } }),
    state: "FAILED",
    reason: "killed",
    ruleId: "killed",
  },
  {
    name: "supervisor recorded the exit before the reboot: not a sleep",
    patch: withPatch(running, { runtime: { activeRunAlive: false, supervisor: { status: "exited", pid: 4242, bootId: "boot-a", currentBootId: "boot-b" } } }),
    state: "FAILED",
    reason: "killed",
    ruleId: "killed",
  },
  {
    name: "completed run on a COLD sprite keeps COMPLETE",
    patch: { sprite: "COLD", runtime: { ...onDisk, state: RESET_STATE, lastSummary: DONE_SUMMARY }, events: events("loop_complete") },
    state: "COMPLETE",
    reason: "completed",
    ruleId: "completed",
  },
  { name: "running run on a WARM sprite is frozen: PAUSED, not failed", patch: withPatch(running, { sprite: "WARM" }), state: "PAUSED", reason: "sprite_warm", ruleId: "sprite_warm" },
  // approval_pending
  {
    name: "approval pending",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE, approval: { status: "pending", run_id: "r1", iteration: 2 }, lastSummary: SUMMARY }, events: events("approval_requested") },
    state: "AWAITING_APPROVAL",
    reason: "awaiting_approval",
    ruleId: "approval_pending",
  },
  {
    name: "approval pending wins over completion_ok",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE, approval: { status: "pending" }, lastSummary: DONE_SUMMARY }, events: events("approval_requested") },
    state: "AWAITING_APPROVAL",
    reason: "awaiting_approval",
    ruleId: "approval_pending",
  },
  // cancelled
  {
    name: "cancel accepted, state and active-run deleted",
    patch: { runtime: onDisk, events: events("role_start"), control: { cancelAcceptedAt: T } },
    state: "STOPPED",
    reason: "cancelled",
    ruleId: "cancelled",
  },
  {
    name: "cancel accepted, state still active but pid dead",
    patch: withPatch(running, { runtime: { activeRunAlive: false }, control: { cancelAcceptedAt: T } }),
    state: "STOPPED",
    reason: "cancelled",
    ruleId: "cancelled",
  },
  { name: "cancel accepted but the process is still alive (TERM pending)", patch: withPatch(running, { control: { cancelAcceptedAt: T } }), state: "RUNNING", reason: "running", ruleId: "running" },
  {
    name: "cancel accepted, then a start dispatched later",
    patch: { runtime: onDisk, events: events("role_start"), control: { cancelAcceptedAt: "2026-11-24T06:58:00Z", startDispatchedAt: T } },
    state: "RUNNING",
    reason: "starting",
    ruleId: "start_requested",
  },
  {
    name: "cancel accepted, then someone ran the loop by hand (newer loop_start)",
    patch: {
      runtime: { ...onDisk, state: RESET_STATE, lastSummary: DONE_SUMMARY },
      events: events("loop_complete", null, { latestLoopStartAt: T }),
      control: { cancelAcceptedAt: "2026-11-24T06:58:00Z" },
    },
    state: "COMPLETE",
    reason: "completed",
    ruleId: "completed",
  },
  // start_requested
  {
    name: "start dispatched on a completed run",
    patch: { runtime: { ...onDisk, state: RESET_STATE, lastSummary: DONE_SUMMARY }, events: events("loop_complete"), control: { startDispatchedAt: T } },
    state: "RUNNING",
    reason: "starting",
    ruleId: "start_requested",
  },
  { name: "start dispatched on a never-started loop", patch: { control: { startDispatchedAt: T } }, state: "RUNNING", reason: "starting", ruleId: "start_requested" },
  // paused
  { name: "pause confirmed, process stopped", patch: withPatch(running, { runtime: { processStopped: true }, control: { pauseConfirmedAt: T } }), state: "PAUSED", reason: "paused", ruleId: "paused" },
  {
    name: "pause confirmed, liveness unknown",
    patch: withPatch(running, { runtime: { activeRunAlive: null }, control: { pauseConfirmedAt: T } }),
    state: "PAUSED",
    reason: "paused",
    ruleId: "paused",
  },
  {
    name: "pause confirmed but the process is gone",
    patch: withPatch(running, { runtime: { activeRun: null }, control: { pauseConfirmedAt: T } }),
    state: "FAILED",
    reason: "runtime_died",
    ruleId: "runtime_died",
  },
  // process_stopped
  { name: "process group stopped by someone else", patch: withPatch(running, { runtime: { processStopped: true } }), state: "PAUSED", reason: "process_stopped", ruleId: "process_stopped" },
  // completed
  {
    name: 'summary completion_ok, state reset (current_loop_id "")',
    patch: { runtime: { ...onDisk, state: RESET_STATE, lastSummary: DONE_SUMMARY }, events: events("loop_complete") },
    state: "COMPLETE",
    reason: "completed",
    ruleId: "completed",
  },
  {
    name: "loop_complete event without a summary",
    patch: { runtime: { ...onDisk, state: RESET_STATE }, events: events("loop_complete") },
    state: "COMPLETE",
    reason: "completed",
    ruleId: "completed",
  },
  { name: "old completion while the loop runs again", patch: withPatch(running, { runtime: { lastSummary: DONE_SUMMARY } }), state: "RUNNING", reason: "running", ruleId: "running" },
  // running
  { name: "state active + live active-run.json", patch: running, state: "RUNNING", reason: "running", ruleId: "running" },
  { name: "state active + active-run.json, liveness unknown (remote)", patch: withPatch(running, { runtime: { activeRunAlive: null } }), state: "RUNNING", reason: "running", ruleId: "running" },
  {
    name: "state active for another loop, no process",
    patch: { runtime: { ...onDisk, state: { ...ACTIVE_STATE, current_loop_id: "other-loop" }, lastSummary: SUMMARY }, events: events("iteration_end") },
    state: "UNKNOWN",
    reason: "unknown",
    ruleId: "unknown",
  },
  // process_alive
  {
    name: "pid checked alive, state not yet active",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE, activeRun: ACTIVE_RUN, activeRunAlive: true, lastSummary: SUMMARY }, events: events("loop_start") },
    state: "RUNNING",
    reason: "running",
    ruleId: "process_alive",
  },
  {
    name: "active-run.json of another loop does not count",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE, activeRun: { ...ACTIVE_RUN, loop_id: "other" }, activeRunAlive: true, lastSummary: SUMMARY }, events: events("iteration_end") },
    state: "IDLE",
    reason: "idle",
    ruleId: "idle",
  },
  // stop_event
  {
    name: "loop_stop max_iterations",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE, lastSummary: SUMMARY }, events: events("loop_stop", null, { stopReason: "max_iterations" }) },
    state: "STOPPED",
    reason: "max_iterations",
    ruleId: "stop_event",
  },
  {
    name: "loop_stop stuck",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE, lastSummary: SUMMARY }, events: events("loop_stop", null, { stopReason: "stuck" }) },
    state: "STOPPED",
    reason: "stuck",
    ruleId: "stop_event",
  },
  { name: "loop_stop without a reason", patch: { runtime: { ...onDisk, state: INACTIVE_STATE }, events: events("loop_stop") }, state: "STOPPED", reason: "stopped", ruleId: "stop_event" },
  {
    name: "loop_stop with a reason that is not snake_case",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE }, events: events("loop_stop", null, { stopReason: "Out of budget!" }) },
    state: "STOPPED",
    reason: "stopped",
    ruleId: "stop_event",
  },
  {
    name: "rate_limit_stop leaves state active, process gone",
    patch: { runtime: { ...onDisk, state: ACTIVE_STATE, lastSummary: SUMMARY }, events: events("rate_limit_stop", "rate_limited") },
    state: "STOPPED",
    reason: "rate_limited",
    ruleId: "stop_event",
  },
  {
    name: "no_progress_stop (status blocked)",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE, lastSummary: SUMMARY }, events: events("no_progress_stop", "blocked") },
    state: "STOPPED",
    reason: "no_progress",
    ruleId: "stop_event",
  },
  // event_failure
  {
    name: "role_timeout (status timeout), process gone",
    patch: { runtime: { ...onDisk, state: ACTIVE_STATE }, events: events("role_timeout", "timeout") },
    state: "FAILED",
    reason: "role_timeout",
    ruleId: "event_failure",
  },
  {
    name: "usage_limit_blocked and the process gone (the wait timed out)",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE }, events: events("usage_limit_blocked", "error") },
    state: "FAILED",
    reason: "usage_limit",
    ruleId: "event_failure",
  },
  {
    name: "delegation_fail_role (status error)",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE }, events: events("delegation_fail_role", "error") },
    state: "FAILED",
    reason: "error",
    ruleId: "event_failure",
  },
  {
    name: "last event status error",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE, lastSummary: SUMMARY }, events: events("tests_end", "error") },
    state: "FAILED",
    reason: "error",
    ruleId: "event_failure",
  },
  {
    name: "last event status blocked",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE }, events: events("lifecycle_end", "blocked") },
    state: "FAILED",
    reason: "blocked",
    ruleId: "event_failure",
  },
  {
    name: "last event status rate_limited (not a stop event)",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE }, events: events("role_end", "rate_limited") },
    state: "FAILED",
    reason: "rate_limited",
    ruleId: "event_failure",
  },
  { name: "status error while the process keeps working", patch: withPatch(running, { events: events("tests_end", "error") }), state: "RUNNING", reason: "running", ruleId: "running" },
  // runtime_died
  { name: "state active, no active-run.json", patch: { runtime: { ...onDisk, state: ACTIVE_STATE }, events: events("role_start") }, state: "FAILED", reason: "runtime_died", ruleId: "runtime_died" },
  // killed: SIGKILL / OOM / a cold Sprite leave active-run.json with a dead pid (the exit trap never ran)
  { name: "state active, active-run.json with a dead pid", patch: withPatch(running, { runtime: { activeRunAlive: false } }), state: "FAILED", reason: "killed", ruleId: "killed" },
  {
    name: "killed after a rate-limit stop event was written",
    patch: withPatch(running, { runtime: { activeRunAlive: false }, events: events("rate_limit_stop", "rate_limited") }),
    state: "FAILED",
    reason: "killed",
    ruleId: "killed",
  },
  // waiting_usage_limit: the process sleeps on a usage limit, silent by design
  {
    name: "usage_limit_blocked, process alive",
    patch: withPatch(running, { events: events("usage_limit_blocked", "error") }),
    state: "RUNNING",
    reason: "waiting_usage_limit",
    ruleId: "waiting_usage_limit",
  },
  // stop reasons of docs/runtime.md
  {
    name: "rate_limit_stop, process gone, state still active",
    patch: { runtime: { ...onDisk, state: ACTIVE_STATE, rateLimit: { role: "planner", message: "Rate limit exceeded" } }, events: events("rate_limit_stop", "rate_limited") },
    state: "STOPPED",
    reason: "rate_limited",
    ruleId: "stop_event",
  },
  {
    name: "loop_stop lifecycle_gate_failed",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE }, events: events("loop_stop", null, { stopReason: "lifecycle_gate_failed" }) },
    state: "STOPPED",
    reason: "lifecycle_gate_failed",
    ruleId: "stop_event",
  },
  {
    name: "loop_stop no_progress",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE }, events: events("loop_stop", null, { stopReason: "no_progress" }) },
    state: "STOPPED",
    reason: "no_progress",
    ruleId: "stop_event",
  },
  {
    name: "loop_stop stuck with stuck.json",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE, stuck: { streak: 2, threshold: 2, reason: "no_change" } }, events: events("loop_stop", null, { stopReason: "stuck" }) },
    state: "STOPPED",
    reason: "stuck",
    ruleId: "stop_event",
  },
  {
    name: "loop_stop with an unknown, non-snake reason",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE }, events: events("loop_stop", null, { stopReason: "Weird Reason!" }) },
    state: "STOPPED",
    reason: "stopped",
    ruleId: "stop_event",
  },
  // approval_wait: a run while approval.json is pending stays AWAITING_APPROVAL
  {
    name: "approval_wait after a run while pending",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE, approval: { status: "pending" } }, events: events("approval_wait") },
    state: "AWAITING_APPROVAL",
    reason: "awaiting_approval",
    ruleId: "approval_pending",
  },
  // approved / rejected pending run
  {
    name: "approval approved, not yet consumed",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE, approval: { status: "approved" }, lastSummary: SUMMARY }, events: events("approval_decision", "approved") },
    state: "IDLE",
    reason: "approved_pending_run",
    ruleId: "approved_pending_run",
  },
  {
    name: "approval approved and the resumed run is working",
    patch: withPatch(running, { runtime: { approval: { status: "approved" } }, events: events("loop_start") }),
    state: "RUNNING",
    reason: "running",
    ruleId: "running",
  },
  {
    name: "approval rejected, no new run yet",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE, approval: { status: "rejected" }, lastSummary: SUMMARY }, events: events("approval_decision", "rejected") },
    state: "IDLE",
    reason: "rejected_pending_run",
    ruleId: "rejected_pending_run",
  },
  // not_started
  { name: "no loop directory", patch: {}, state: "IDLE", reason: "not_started", ruleId: "not_started" },
  { name: "loop directory without events.jsonl", patch: { runtime: { loopDirExists: true } }, state: "IDLE", reason: "not_started", ruleId: "not_started" },
  // idle
  {
    name: "state inactive with a summary",
    patch: { runtime: { ...onDisk, state: INACTIVE_STATE, lastSummary: SUMMARY }, events: events("iteration_end") },
    state: "IDLE",
    reason: "idle",
    ruleId: "idle",
  },
  // unknown
  { name: "events but no state and no summary", patch: { runtime: onDisk, events: events("role_start") }, state: "UNKNOWN", reason: "unknown", ruleId: "unknown" },
  { name: "events.jsonl exists but nothing ingested yet", patch: { runtime: onDisk }, state: "UNKNOWN", reason: "unknown", ruleId: "unknown" },
];

describe("lifecycle rules (first match wins)", () => {
  it.each(ROWS)("$name → $state/$reason ($ruleId)", (row) => {
    const projection = projectLifecycle(makeFacts(row.patch));
    expect({ state: projection.state, reason: projection.reason, ruleId: projection.ruleId }).toEqual({
      state: row.state,
      reason: row.reason,
      ruleId: row.ruleId,
    });
  });

  it.each(LIFECYCLE_RULES.map((rule) => rule.id))("rule %s is exercised by a table row", (id) => {
    expect(ROWS.some((row) => row.ruleId === id)).toBe(true);
  });

  it("rule ids are unique and the table ends with a catch-all", () => {
    const ids = LIFECYCLE_RULES.map((rule) => rule.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(LIFECYCLE_RULES.at(-1)?.when(makeFacts())).toBe(true);
  });

  it("evidence holds exactly the facts the matching rule reads", () => {
    const projection = projectLifecycle(makeFacts({ runtime: { ...onDisk, state: ACTIVE_STATE }, events: events("role_start") }));
    expect(projection.evidence).toEqual({
      "runtime.state.active": true,
      "runtime.state.current_loop_id": LOOP_ID,
      "runtime.activeRun": null,
      "runtime.activeRunAlive": null,
      "events.last.name": "role_start",
    });
  });

  it("is deterministic and does not mutate its input", () => {
    const facts = makeFacts(running);
    const copy = structuredClone(facts);
    expect(projectLifecycle(facts)).toEqual(projectLifecycle(facts));
    expect(facts).toEqual(copy);
  });
});

describe("stale", () => {
  const old = "2026-11-24T06:50:00Z"; // 10 min before NOW
  const rows: readonly { name: string; facts: RunFacts; stale: boolean }[] = [
    { name: "running, last event 30 s ago", facts: makeFacts(running), stale: false },
    { name: "running, last event 10 min ago", facts: makeFacts(withPatch(running, { events: { last: last("role_start", null, old) } })), stale: true },
    { name: "running, exactly at the threshold", facts: makeFacts(withPatch(running, { events: { last: last("role_start", null, "2026-11-24T06:55:00Z") } })), stale: false },
    {
      name: "running, no event: falls back to active-run.json updated_at",
      facts: makeFacts(withPatch(running, { events: { count: 0, last: null }, runtime: { activeRun: { ...ACTIVE_RUN, updated_at: old } } })),
      stale: true,
    },
    {
      name: "starting, dispatched 30 s ago after an old run",
      facts: makeFacts({ events: events("loop_complete", null, { last: last("loop_complete", null, old) }), control: { startDispatchedAt: T } }),
      stale: false,
    },
    { name: "starting, dispatched 10 min ago and still no loop_start", facts: makeFacts({ control: { startDispatchedAt: old } }), stale: true },
    {
      name: "awaiting approval for hours is not stale",
      facts: makeFacts({ runtime: { ...onDisk, approval: { status: "pending" } }, events: { count: 5, last: last("approval_requested", null, "2026-11-24T01:00:00Z") } }),
      stale: false,
    },
    { name: "custom threshold", facts: makeFacts(withPatch(running, { staleAfterMs: 10_000 })), stale: true },
  ];
  it.each(rows)("$name → stale=$stale", (row) => {
    expect(projectLifecycle(row.facts).stale).toBe(row.stale);
  });

  it("only RUNNING can be stale", () => {
    const facts = makeFacts({ now: NOW, events: { last: last("x", null, "2020-01-01T00:00:00Z") } });
    expect(isStale(facts, "IDLE", "idle")).toBe(false);
    expect(isStale(facts, "RUNNING", "running")).toBe(true);
  });
});
