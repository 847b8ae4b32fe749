import type { ControlIntent } from "../generated/prisma/client";
import { stampsOf, type IntentStage, type IntentView, type StageStamp, type StageTransition } from "./stages";

// What a list of stage transitions does to an intent's stored row: the new stage, the stamps, the evidence log
// and the error. Pure; both writers of intent stages (the poller's commit and the control service's dispatch)
// build their change here and hand it to the run writer (src/runs/writer.ts), which applies it under the run's lock.

/** One entry of ControlIntent.evidence: a stage entered, when, on what observation. */
export interface StageRecord {
  stage: IntentStage;
  at: string;
  observation: string;
  evidence: Record<string, unknown>;
  followUp?: "START";
}

/** A stage change of one intent, as the run writer applies it. */
export interface IntentStageChange {
  id: string;
  /** The stage the change was computed from: it applies only if the intent is still there (no lost writes). */
  expectedStage: IntentStage;
  stage: IntentStage;
  /** Last event line offered to the intent as evidence (see ControlIntent.observedLine); null keeps it. */
  observedLine: number | null;
  /** Timestamp columns to set, each only if still null, to the time of the observation that entered its stage. */
  stamps: { column: StageStamp; at: Date }[];
  /** The whole evidence log after the change. */
  evidence: StageRecord[];
  /** The last transition's cause (FAILED/AMBIGUOUS/REJECTED); null keeps the stored one. */
  error: string | null;
  /** An approve with resumeAfterApprove was accepted: the writer asks for its follow-up START after the commit. */
  followUp: "START" | null;
}

/** The intent's evidence log as stored (a JSON array; anything else reads as empty). */
export function stageRecords(i: { evidence: unknown }): StageRecord[] {
  return Array.isArray(i.evidence) ? [...(i.evidence as StageRecord[])] : [];
}

/** The intent as the stage machine (./stages.ts) sees it. */
export function viewOf(i: ControlIntent): IntentView {
  const dispatch = stageRecords(i).find((r) => r.stage === "DISPATCHED" || r.stage === "ACCEPTED");
  return {
    kind: i.kind,
    stage: i.stage,
    requestedAt: i.requestedAt.toISOString(),
    dispatchedAt: i.dispatchedAt?.toISOString() ?? null,
    acceptedAt: i.acceptedAt?.toISOString() ?? null,
    deadlineAt: i.deadlineAt.toISOString(),
    resumeAfterApprove: i.resumeAfterApprove,
    dispatchResult: (dispatch?.evidence.result as never) ?? null,
  };
}

/**
 * Applies transitions to an intent's stored record. Each stamp takes the time of the first transition entering
 * its stage; `dispatchedAt` overrides that for the dispatch stamp (the dispatch's start, marked before the command ran).
 */
export function recordStages(i: Pick<ControlIntent, "id" | "stage" | "evidence" | "observedLine">, transitions: readonly StageTransition[], dispatchedAt?: Date): IntentStageChange {
  const records = stageRecords(i);
  const stamps = new Map<StageStamp, Date>();
  let error: string | null = null;
  for (const t of transitions) {
    records.push({ stage: t.to, at: t.at, observation: t.observation, evidence: t.evidence, ...(t.followUp ? { followUp: t.followUp } : {}) });
    for (const column of stampsOf(t.to)) if (!stamps.has(column)) stamps.set(column, column === "dispatchedAt" && dispatchedAt ? dispatchedAt : new Date(t.at));
    if (t.error) error = t.error;
  }
  return {
    id: i.id,
    expectedStage: i.stage,
    stage: transitions.length ? transitions[transitions.length - 1].to : i.stage,
    observedLine: i.observedLine,
    stamps: [...stamps].map(([column, at]) => ({ column, at })),
    evidence: records,
    error,
    followUp: transitions.find((t) => t.followUp)?.followUp ?? null,
  };
}
