import type { Run } from "../../generated/prisma/client";
import { builder } from "../builder";
import { HealthStatusEnum, IngestStatusEnum } from "../enums";

// The run's derived status blocks, as the ingest pipeline stored them.

export interface HealthReason {
  code: string;
  severity: string;
  since: string;
  message: string;
}

export const HealthReasonRef = builder.simpleObject("HealthReason", {
  fields: (t) => ({
    code: t.string({ description: "e.g. ingest_stale, transport_unreachable, cursor_fork, divergence_detected, control_ambiguous, sprite_missing" }),
    severity: t.string({ description: "warning | critical" }),
    since: t.field({ type: "DateTime" }),
    message: t.string(),
  }),
});

export const HealthRef = builder.simpleObject("Health", {
  fields: (t) => ({
    status: t.field({ type: HealthStatusEnum }),
    reasons: t.field({ type: [HealthReasonRef] }),
  }),
});

export function healthOf(run: Pick<Run, "health" | "healthReasons">) {
  const reasons = (Array.isArray(run.healthReasons) ? run.healthReasons : []) as unknown as HealthReason[];
  return { status: run.health, reasons: reasons.map((r) => ({ ...r, since: new Date(r.since) })) };
}

export const DivergenceFlagRef = builder.simpleObject("DivergenceFlag", {
  fields: (t) => ({
    raised: t.boolean(),
    evidence: t.field({ type: "JSON", nullable: true }),
  }),
});

export const DivergenceRef = builder.simpleObject("Divergence", {
  description: "Runtime facts that contradict each other. Any raised flag freezes automated control until an operator acts.",
  fields: (t) => ({
    open: t.boolean({ description: "true when any flag is raised" }),
    activeMismatch: t.field({ type: DivergenceFlagRef, description: "state.json inactive while active-phase events keep arriving" }),
    approvalCompletionConflict: t.field({ type: DivergenceFlagRef, description: "approval pending but the summary says complete" }),
    cursorRegression: t.field({ type: DivergenceFlagRef, description: "the event log got shorter than what was ingested" }),
  }),
});

type FlagJson = { evidence?: unknown } | null | undefined;
export function divergenceOf(run: Pick<Run, "divergence">) {
  const d = (run.divergence ?? {}) as Record<string, FlagJson>;
  const flag = (f: FlagJson) => ({ raised: f != null, evidence: f?.evidence ?? null });
  const activeMismatch = flag(d.activeMismatch);
  const approvalCompletionConflict = flag(d.approvalCompletionConflict);
  const cursorRegression = flag(d.cursorRegression);
  return { open: activeMismatch.raised || approvalCompletionConflict.raised || cursorRegression.raised, activeMismatch, approvalCompletionConflict, cursorRegression };
}

export const IngestInfoRef = builder.simpleObject("IngestInfo", {
  fields: (t) => ({
    status: t.field({ type: IngestStatusEnum, description: "OK, or FORKED/ERROR: ingestion stopped until resetRunCursor" }),
    cursorLine: t.int({ description: "Lines of events.jsonl stored" }),
    cursorByteOffset: t.string({ description: "Byte offset after the last stored line (a string: it can exceed 2^31)" }),
    lastError: t.string({ nullable: true }),
    forkReason: t.string({
      nullable: true,
      description: "When FORKED: checkpoint_restored (the Sprites API reports a checkpoint restore since the last good poll) or log_changed (truncated or rewritten, cause unknown)",
    }),
    lastPolledAt: t.field({ type: "DateTime", nullable: true }),
  }),
});

export function ingestOf(run: Run) {
  return {
    status: run.ingestStatus,
    cursorLine: run.cursorLine,
    cursorByteOffset: String(run.cursorByteOffset),
    lastError: run.ingestError,
    forkReason: run.ingestStatus !== "FORKED" ? null : run.ingestError?.startsWith("checkpoint_restored:") ? "checkpoint_restored" : "log_changed",
    lastPolledAt: run.lastPolledAt,
  };
}
