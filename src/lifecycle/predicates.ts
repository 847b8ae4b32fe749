import { STOP_EVENTS } from "./event-facts";
import type { RunFacts } from "./types";

type RuntimeView = Pick<RunFacts, "loopId" | "runtime">;

// Named readings of the raw facts, shared by the rule table, divergence flags and the doc so that each
// interpretation is written once.

export function approvalStatus(facts: RunFacts): string | null {
  return facts.runtime.approval?.status ?? null;
}

export function approvalPending(facts: RunFacts): boolean {
  return approvalStatus(facts) === "pending";
}

/** state.json says a loop is active and it is this loop. */
export function stateActiveForLoop(facts: RuntimeView): boolean {
  const state = facts.runtime.state;
  return state !== null && state.active && state.current_loop_id === facts.loopId;
}

/** active-run.json exists for this loop and its pid is not known to be dead. */
export function liveProcess(facts: RuntimeView): boolean {
  const activeRun = facts.runtime.activeRun;
  if (activeRun === null || facts.runtime.activeRunAlive === false) return false;
  return activeRun.loop_id === undefined || activeRun.loop_id === null || activeRun.loop_id === facts.loopId;
}

/**
 * active-run.json for this loop names a pid known to be dead (or no longer the run): the process was killed,
 * since every normal end and every crash removes the file in the runtime's exit trap.
 */
export function deadActiveRun(facts: RuntimeView): boolean {
  const activeRun = facts.runtime.activeRun;
  if (activeRun === null || facts.runtime.activeRunAlive !== false) return false;
  return activeRun.loop_id === undefined || activeRun.loop_id === null || activeRun.loop_id === facts.loopId;
}

/** active-run.json is present for this loop and the pid was positively checked alive. */
export function provenLiveProcess(facts: RuntimeView): boolean {
  return liveProcess(facts) && facts.runtime.activeRunAlive === true;
}

export function lastEventName(facts: RunFacts): string | null {
  return facts.events.last?.name ?? null;
}

export function lastEventIsStop(facts: RunFacts): boolean {
  const name = lastEventName(facts);
  return name !== null && (STOP_EVENTS as readonly string[]).includes(name);
}

/**
 * The runtime recorded a completion that is still current: a summary with completion_ok (or a final
 * loop_complete) and no newer activity of this loop. A new `run` sets state.active again, which is what
 * makes an old completion stop counting.
 */
export function completionRecorded(facts: RunFacts): boolean {
  const ok = facts.runtime.lastSummary?.completion_ok === true || lastEventName(facts) === "loop_complete";
  return ok && !stateActiveForLoop(facts);
}

/** The runtime itself ended the loop (completed, or stopped by its own limits). */
export function runFinished(facts: RunFacts): boolean {
  if (approvalPending(facts)) return false;
  return completionRecorded(facts) || (lastEventIsStop(facts) && !liveProcess(facts));
}

export const FAILURE_STATUSES = ["error", "timeout", "blocked", "rate_limited"] as const;

export function lastEventFailureStatus(facts: RunFacts): string | null {
  const status = facts.events.last?.status ?? null;
  return status !== null && (FAILURE_STATUSES as readonly string[]).includes(status) ? status : null;
}

/** The run's supervisor was still supervising (no exit recorded) when the Sprite last booted afresh. */
export function bootChangedUnderRun(facts: RuntimeView): boolean {
  const sup = facts.runtime.supervisor;
  if (!sup || (sup.status !== "running" && sup.status !== "starting")) return false;
  return sup.bootId !== null && sup.currentBootId !== null && sup.bootId !== sup.currentBootId;
}

/** active-run.json names this loop (or no loop): a `superloop run` process was there, alive or not. */
function activeRunForLoop(facts: RuntimeView): boolean {
  const activeRun = facts.runtime.activeRun;
  return activeRun !== null && (activeRun.loop_id === undefined || activeRun.loop_id === null || activeRun.loop_id === facts.loopId);
}

/**
 * A run's process was alive when its Sprite went cold: a cold Sprite has no processes (docs/sprites.md). Either the
 * Sprites API says COLD and the last reading showed the process not known dead (a process already dead before
 * the Sprite slept is `runtime_died`, not this), or active-run.json is still there and the Sprite's boot id is
 * newer than the one the run's supervisor recorded.
 */
export function sleptUnderRun(facts: RunFacts): boolean {
  if (!activeRunForLoop(facts)) return false;
  if (facts.sprite.status === "COLD") return facts.runtime.activeRunAlive !== false;
  return bootChangedUnderRun(facts);
}
