import type { LifecycleState } from "../generated/prisma/enums";
import type { Bus } from "./bus";

// Messages carry ids and positions only; subscribers read what they need from the database, so a message
// can never disagree with committed state.
export interface RunChanged {
  runId: string;
  spriteId: string;
  seq: number;
  previousState: LifecycleState | null;
  state: LifecycleState;
  reason: string;
  /** true when the lifecycle state or reason changed in this commit */
  lifecycleChanged: boolean;
  at: Date;
}

export interface EventsAppended {
  runId: string;
  seq: number;
  fromLine: number;
  toLine: number;
}

export interface IntentUpdated {
  intentId: string;
  runId: string;
  seq: number;
}

export interface Topics extends Record<string, unknown> {
  run: RunChanged;
  events: EventsAppended;
  intent: IntentUpdated;
}

export type OpsBus = Bus<Topics>;
