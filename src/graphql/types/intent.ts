import type { ControlIntent } from "../../generated/prisma/client";
import type { StageRecord } from "../../ingest/intents";
import type { LifecycleState } from "../../lifecycle/types";
import { builder } from "../builder";
import { ErrorInterface } from "../errors";
import { DomainError } from "../../errors";
import { IntentKindEnum, IntentStageEnum, LifecycleStateEnum } from "./enums";
import "./run";

// ControlIntent (a Relay node), its stage history, Run.intents, and the refusals a control request can get.

const StageRecordRef = builder.objectRef<StageRecord>("IntentStageRecord").implement({
  description: "One stage the intent entered, with the observation that caused it",
  fields: (t) => ({
    stage: t.field({ type: IntentStageEnum, resolve: (r) => r.stage }),
    at: t.field({ type: "DateTime", resolve: (r) => new Date(r.at) }),
    observation: t.exposeString("observation", { description: "What was observed, in words" }),
    evidence: t.field({ type: "JSON", resolve: (r) => r.evidence, description: "The facts behind it: command result, event line, runtime files" }),
    followUp: t.string({ nullable: true, resolve: (r) => r.followUp ?? null, description: "START when this stage asked for a follow-up start" }),
  }),
});

export function stageRecords(i: Pick<ControlIntent, "evidence">): StageRecord[] {
  return (Array.isArray(i.evidence) ? i.evidence : []) as unknown as StageRecord[];
}

export const ControlIntentRef = builder.prismaNode("ControlIntent", {
  id: { field: "id" },
  description: "An operator's request to act on a run, moved REQUESTED → DISPATCHED → ACCEPTED → CONFIRMED (or FAILED, AMBIGUOUS, REJECTED) by evidence",
  fields: (t) => ({
    kind: t.expose("kind", { type: IntentKindEnum }),
    stage: t.expose("stage", { type: IntentStageEnum }),
    terminal: t.boolean({ resolve: (i) => ["CONFIRMED", "FAILED", "AMBIGUOUS", "REJECTED"].includes(i.stage), description: "true once the stage can no longer change" }),
    idempotencyKey: t.exposeString("idempotencyKey"),
    requestedBy: t.exposeString("requestedBy", { description: "The token's name; never taken from the client" }),
    note: t.exposeString("note", { nullable: true }),
    resumeAfterApprove: t.exposeBoolean("resumeAfterApprove"),
    traceId: t.exposeString("traceId"),
    error: t.exposeString("error", { nullable: true, description: "Why it FAILED / is AMBIGUOUS / was REJECTED (machine-readable)" }),
    deadlineAt: t.expose("deadlineAt", { type: "DateTime" }),
    requestedAt: t.expose("requestedAt", { type: "DateTime" }),
    dispatchedAt: t.expose("dispatchedAt", { type: "DateTime", nullable: true }),
    acceptedAt: t.expose("acceptedAt", { type: "DateTime", nullable: true }),
    confirmedAt: t.expose("confirmedAt", { type: "DateTime", nullable: true }),
    endedAt: t.expose("endedAt", { type: "DateTime", nullable: true }),
    updatedAt: t.expose("updatedAt", { type: "DateTime" }),
    stages: t.field({ type: [StageRecordRef], resolve: stageRecords, description: "Every stage entered, oldest first" }),
    run: t.relation("run"),
  }),
});

builder.prismaObjectField("Run", "intents", (t) =>
  t.relatedConnection("intents", {
    cursor: "id",
    query: { orderBy: [{ requestedAt: "desc" }, { id: "desc" }] },
    description: "Control intents on this run, newest first",
  }),
);

// ------------------------------------------------------------------------------------------- refusals

/** A refused request: the refusal is stored as a REJECTED intent too (audit), returned here as `intent`. */
export class ControlRefusedError extends DomainError {
  constructor(
    message: string,
    readonly intent: ControlIntent | null,
    readonly state: LifecycleState | null,
    readonly stateReason: string | null,
  ) {
    super(message);
  }
}
export class PreconditionFailedError extends ControlRefusedError {}
export class ControlFrozenError extends ControlRefusedError {}
export class ControlDisabledError extends ControlRefusedError {}

for (const [cls, name, description] of [
  [PreconditionFailedError, "PreconditionFailed", "The run is not in a state where this intent makes sense (or one of its kind is in flight)"],
  [ControlFrozenError, "ControlFrozen", "Divergence or a cursor fork is open: control is frozen until an operator resolves it"],
  [ControlDisabledError, "ControlDisabled", "Passive mode: OPS_CONTROL_MODE=disabled or the Sprite's controlMode is DISABLED"],
] as const) {
  builder.objectType(cls, {
    name,
    description,
    interfaces: [ErrorInterface],
    isTypeOf: (e) => e instanceof cls,
    fields: (t) => ({
      intent: t.field({ type: ControlIntentRef, nullable: true, resolve: (e) => e.intent, description: "The REJECTED intent recording this refusal" }),
      state: t.field({ type: LifecycleStateEnum, nullable: true, resolve: (e) => e.state, description: "The run's state when it was refused" }),
      stateReason: t.string({ nullable: true, resolve: (e) => e.stateReason }),
    }),
  });
}
