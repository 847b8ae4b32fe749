import { advanceIntent, isTerminalStage, stampsOf, type IntentStage, type StageTransition } from "../control/stages";
import type { ControlIntent } from "../generated/prisma/client";
import type { RunFacts } from "../lifecycle/types";
import type { IntentUpdate } from "./commit";
import type { EventRow } from "./rows";

// Intents are confirmed by what the poller observes (invariant 4 of docs/architecture.md), never by waiting in the
// mutation: every poll offers its observations to each open intent, and a tick checks the deadline.

export interface StageRecord {
  stage: IntentStage;
  at: string;
  observation: string;
  evidence: Record<string, unknown>;
  followUp?: "START";
}

export function viewOf(i: ControlIntent) {
  const records = (Array.isArray(i.evidence) ? i.evidence : []) as unknown as StageRecord[];
  const dispatch = records.find((r) => r.stage === "DISPATCHED" || r.stage === "ACCEPTED");
  return {
    kind: i.kind,
    stage: i.stage,
    requestedAt: i.requestedAt.toISOString(),
    dispatchedAt: i.dispatchedAt?.toISOString() ?? null,
    acceptedAt: i.acceptedAt?.toISOString() ?? null,
    deadlineAt: i.deadlineAt.toISOString(),
    resumeAfterApprove: i.resumeAfterApprove,
    dispatchResult: (dispatch?.evidence?.result as never) ?? null,
  };
}

/** Applies transitions to an intent's stored record: the new stage, stamps, evidence log and error. */
export function toUpdate(i: ControlIntent, transitions: readonly StageTransition[]): IntentUpdate {
  const records = (Array.isArray(i.evidence) ? [...i.evidence] : []) as unknown as StageRecord[];
  const stamps = new Set<IntentUpdate["stamps"][number]>();
  let error: string | null = null;
  for (const t of transitions) {
    records.push({ stage: t.to, at: t.at, observation: t.observation, evidence: t.evidence, ...(t.followUp ? { followUp: t.followUp } : {}) });
    for (const stamp of stampsOf(t.to)) stamps.add(stamp);
    if (t.error) error = t.error;
  }
  return {
    id: i.id,
    expectedStage: i.stage,
    stage: transitions.length ? transitions[transitions.length - 1].to : i.stage,
    observedLine: i.observedLine,
    stamps: [...stamps],
    evidence: records,
    error,
    followUp: transitions.find((t) => t.followUp)?.followUp ?? null,
  };
}

/**
 * `backlog` holds stored events an intent has not been offered yet (after its observedLine, up to the cursor the
 * poll started from); `newRows` are this poll's. `throughLine` is the cursor after this poll.
 */
export function advanceIntents(
  intents: readonly ControlIntent[],
  facts: RunFacts,
  newRows: readonly EventRow[],
  now: Date,
  backlog: readonly EventRow[] = [],
  throughLine: number | null = null,
): IntentUpdate[] {
  const updates: IntentUpdate[] = [];
  const runtime = facts.runtime;
  const poll = {
    stateExists: runtime.state !== null,
    stateActive: runtime.state?.active === true,
    activeRunExists: runtime.activeRun !== null,
    processStopped: runtime.processStopped,
    processAlive: runtime.activeRunAlive,
    launchAlive: runtime.launchAlive ?? null,
    lastSummaryCompletionOk: runtime.lastSummary?.completion_ok ?? null,
  };
  const all = [...backlog, ...newRows];
  for (const intent of intents) {
    if (isTerminalStage(intent.stage) || intent.stage === "REQUESTED") continue;
    const from = intent.observedLine;
    const offered = from === null ? newRows : all.filter((r) => r.line > from);
    const newEvents = offered.map((r) => ({ name: r.name, status: r.status, line: r.line, timestamp: r.timestamp.toISOString(), data: r.payload }));
    const view = viewOf(intent);
    const transitions = [...(advanceIntent(view, { type: "poll", now, facts: { ...poll, newEvents } }) ?? [])];
    const after = transitions.length ? { ...view, stage: transitions[transitions.length - 1].to } : view;
    transitions.push(...(advanceIntent(after, { type: "tick", now }) ?? []));
    const observed = throughLine !== null && (from === null || throughLine > from) ? throughLine : null;
    if (transitions.length || observed !== null) updates.push({ ...toUpdate(intent, transitions), observedLine: observed ?? intent.observedLine });
  }
  return updates;
}
