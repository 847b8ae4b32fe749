import { approvalPending } from "./predicates";
import { isAfter } from "./time";
import type { Divergence, DivergenceFlagName, Flag, RunFacts } from "./types";

// Divergence flags are raised next to the state, never folded into it: they mean "the runtime's own files
// disagree with each other or with what was ingested", which freezes automated control until an operator acts.

function activeMismatch(facts: RunFacts): Flag | null {
  const state = facts.runtime.state;
  if (state === null || state.active) return null;
  const lastActive = facts.events.lastActivePhaseEventAt;
  if (!isAfter(lastActive, state.updated_at)) return null;
  return {
    evidence: {
      "runtime.state.active": state.active,
      "runtime.state.updated_at": state.updated_at ?? null,
      "events.lastActivePhaseEventAt": lastActive,
    },
  };
}

function approvalCompletionConflict(facts: RunFacts): Flag | null {
  const summary = facts.runtime.lastSummary;
  if (!approvalPending(facts) || summary?.completion_ok !== true) return null;
  const approval = facts.runtime.approval;
  return {
    evidence: {
      "runtime.approval.status": approval?.status ?? null,
      "runtime.approval.run_id": approval?.run_id ?? null,
      "runtime.approval.iteration": approval?.iteration ?? null,
      "runtime.lastSummary.completion_ok": summary.completion_ok,
      "runtime.lastSummary.run_id": summary.run_id ?? null,
      "runtime.lastSummary.iteration": summary.iteration ?? null,
    },
  };
}

function cursorRegression(facts: RunFacts): Flag | null {
  const regression = facts.ingest.regression;
  if (regression === null) return null;
  return {
    evidence: {
      "ingest.regression.storedLines": regression.storedLines,
      "ingest.regression.fileLines": regression.fileLines,
      "ingest.status": facts.ingest.status,
      "ingest.error": facts.ingest.error,
    },
  };
}

export interface DivergenceFlagDoc {
  name: DivergenceFlagName;
  describe: string;
  facts: string;
}

export const DIVERGENCE_FLAGS: readonly (DivergenceFlagDoc & { detect: (facts: RunFacts) => Flag | null })[] = [
  {
    name: "activeMismatch",
    describe: "state.json exists with `active: false`, yet an event that only happens inside an active iteration " + "(iteration/role/gate phases) is newer than state.json's `updated_at`.",
    facts: "runtime.state.active, runtime.state.updated_at, events.lastActivePhaseEventAt",
    detect: activeMismatch,
  },
  {
    name: "approvalCompletionConflict",
    describe:
      "approval.json is `pending` while the last summary entry already says `completion_ok: true`: the loop " +
      "cannot be both waiting for a decision and complete. The state stays AWAITING_APPROVAL.",
    facts: "runtime.approval.status, runtime.lastSummary.completion_ok",
    detect: approvalCompletionConflict,
  },
  {
    name: "cursorRegression",
    describe: "events.jsonl now has fewer lines than were already ingested (truncated or replaced): ingestion is " + "stopped for the run until an operator resets the cursor.",
    facts: "ingest.regression.storedLines, ingest.regression.fileLines",
    detect: cursorRegression,
  },
];

export function detectDivergence(facts: RunFacts): Divergence {
  return {
    activeMismatch: activeMismatch(facts),
    approvalCompletionConflict: approvalCompletionConflict(facts),
    cursorRegression: cursorRegression(facts),
  };
}

export function hasDivergence(divergence: Divergence): boolean {
  return divergence.activeMismatch !== null || divergence.approvalCompletionConflict !== null || divergence.cursorRegression !== null;
}

export function raisedFlags(divergence: Divergence): DivergenceFlagName[] {
  return (Object.keys(divergence) as DivergenceFlagName[]).filter((name) => divergence[name] !== null);
}
