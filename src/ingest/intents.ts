import { recordStages, viewOf } from "../control/stage-write";
import { advanceIntent, awaitsEvidence } from "../control/stages";
import type { ControlIntent } from "../generated/prisma/client";
import type { RunFacts } from "../lifecycle/types";
import type { IntentUpdate } from "./commit";
import type { PolledEvent } from "../control/evidence";
import type { EventRow } from "./rows";

/** A row as intent evidence reads it: its payload parsed only for the events evidence reads it of (src/ingest/rows.ts). */
class RowEvidence implements PolledEvent {
  readonly name: string;
  readonly status: string | null;
  readonly line: number;
  readonly timestamp: string;

  constructor(private readonly row: EventRow) {
    this.name = row.name;
    this.status = row.status;
    this.line = row.line;
    this.timestamp = row.timestamp.toISOString();
  }

  get data(): Record<string, unknown> | null {
    return this.row.payload;
  }
}

// Intents are confirmed by what the poller observes (invariant 4 of docs/architecture.md), never by waiting in the
// mutation: every poll offers its observations to each open intent, and a tick checks the deadline. The change
// each intent gets is built by recordStages (src/control/stage-write.ts), like the control service's.

export type { StageRecord } from "../control/stage-write";

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
    if (!awaitsEvidence(intent.stage)) continue;
    const from = intent.observedLine;
    const offered = from === null ? newRows : all.filter((r) => r.line > from);
    const newEvents = offered.map((r) => new RowEvidence(r));
    const view = viewOf(intent);
    const transitions = [...(advanceIntent(view, { type: "poll", now, facts: { ...poll, newEvents } }) ?? [])];
    const after = transitions.length ? { ...view, stage: transitions[transitions.length - 1].to } : view;
    transitions.push(...(advanceIntent(after, { type: "tick", now }) ?? []));
    const observed = throughLine !== null && (from === null || throughLine > from) ? throughLine : null;
    if (transitions.length || observed !== null) updates.push({ ...recordStages(intent, transitions), observedLine: observed ?? intent.observedLine });
  }
  return updates;
}
