import type { LifecycleState } from "../generated/prisma/enums";
import type { RunChanged } from "../pubsub/topics";

// The one place a `run` message is built: by the run writer after its commit (src/runs/writer.ts), by the
// registry for a run it creates or removes, and by the cluster fan-out from the rows another replica committed.
// The same rule everywhere decides whether a message is a lifecycle change.

/**
 * Triggers of transition rows that annotate a run's history without changing its lifecycle (a cursor reset, a
 * Sprite status, a control mode switch): messages for them say lifecycleChanged=false, and the runLifecycle
 * backlog skips them. A writer adding such a row with a new trigger must list it here.
 */
export const ANNOTATION_TRIGGERS: readonly string[] = ["cursor_reset", "sprite", "control_mode"];

/** Whether a transition row with this trigger is a change of the run's lifecycle (state or reason). */
export function isLifecycleTrigger(trigger: string): boolean {
  return !ANNOTATION_TRIGGERS.includes(trigger);
}

/** The run as a message names it: its position (seq) and its state after the change. */
export interface RunHead {
  id: string;
  spriteId: string;
  seq: number;
  state: LifecycleState;
  stateReason: string;
}

/** The transition a change recorded (as written, or as read back from LifecycleTransition). */
export interface ChangeTransition {
  from: LifecycleState | null;
  to: LifecycleState;
  reason: string;
  trigger: string;
  /** When it was recorded; a message for a change just committed is stamped now. */
  at?: Date;
}

/**
 * The message for `run` at `run.seq`: the transition recorded at that seq when there is one, otherwise a change
 * of something else about the run (its queue entry, an intent, its ingest status) with the state unchanged.
 */
export function runChanged(run: RunHead, transition: ChangeTransition | null, at: Date = new Date()): RunChanged {
  if (!transition) {
    return { runId: run.id, spriteId: run.spriteId, seq: run.seq, previousState: run.state, state: run.state, reason: run.stateReason, lifecycleChanged: false, at };
  }
  return {
    runId: run.id,
    spriteId: run.spriteId,
    seq: run.seq,
    previousState: transition.from,
    state: transition.to,
    reason: transition.reason,
    lifecycleChanged: isLifecycleTrigger(transition.trigger),
    at: transition.at ?? at,
  };
}
