import { ZodError } from "zod";
import type { ControlIntent } from "../generated/prisma/client";
import { IDEMPOTENCY_KEY, type ControlOutcome } from "../control/service";
import { isTerminalStage, type IntentKind } from "../control/stages";
import { stageRecords, type StageRecord } from "../control/stage-write";
import { subscriptionOverflows } from "../observability/metrics";
import { hold } from "../pubsub/subscription-scope";
import { hasRole } from "../auth/principal";
import { ControlDisabledError, ControlFrozenError, NotFoundError, PreconditionFailedError, UnauthorizedError } from "../errors";
import { builder } from "./builder";
import { type Context } from "./context";
import { ErrorInterface, NotFoundRef } from "./errors";
import { localId } from "./ids";
import { ControlModeEnum, IntentKindEnum, IntentStageEnum, LifecycleStateEnum } from "./enums";
import { endOf, notFound, ResyncRequiredRef, tooSlow } from "./subscription-end";
import { SpriteRef } from "./sprite/sprite";
import { noteValidation } from "./validation";
import "./run/run";

// ControlIntent (a Relay node) and everything about it: its stage history, Run.intents, the refusals a control
// request can get, controlIntentUpdated, and the mutations that create intents (requestControl and its
// per-intent conveniences) plus setSpriteControlMode.

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

export { stageRecords };

export const ControlIntentRef = builder.prismaNode("ControlIntent", {
  id: { field: "id" },
  description: "An operator's request to act on a run, moved REQUESTED → DISPATCHED → ACCEPTED → CONFIRMED (or FAILED, AMBIGUOUS, REJECTED) by evidence",
  fields: (t) => ({
    kind: t.expose("kind", { type: IntentKindEnum }),
    stage: t.expose("stage", { type: IntentStageEnum }),
    terminal: t.boolean({ resolve: (i) => isTerminalStage(i.stage), description: "true once the stage can no longer change" }),
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

// ------------------------------------------------------------------------------------------- subscription

// controlIntentUpdated: each committed stage change (or evidence change) of an intent, read back from the
// database so a message can never disagree with what is stored. With `intentId` the intent is sent once as it
// is now before any change, so a client that subscribes after its mutation returned cannot miss the end.

const ControlIntentUpdateRef = builder.unionType("ControlIntentUpdate", {
  description: "An intent as it is now, or how the subscription ended: ResyncRequired (read the intent, subscribe again) or NotFound",
  types: [ControlIntentRef, ResyncRequiredRef, NotFoundRef],
  resolveType: (v) => endOf(v) ?? ControlIntentRef,
});

builder.subscriptionFields((t) => ({
  controlIntentUpdated: t.field({
    type: ControlIntentUpdateRef,
    description: "Control intents as their stages change; filter by run or by one intent (sent first as it is now)",
    args: {
      runId: t.arg.id({ required: false, description: "Run id (Relay or raw)" }),
      intentId: t.arg.id({ required: false, description: "ControlIntent id (Relay or raw)" }),
    },
    subscribe: async function* (_root, { runId, intentId }, ctx) {
      const db = ctx.app.db;
      const oneId = intentId ? localId(String(intentId), "ControlIntent") : null;
      let runKey = runId ? localId(String(runId), "Run") : null;
      let first: ControlIntent | null = null;
      if (intentId) {
        first = oneId ? await db.controlIntent.findUnique({ where: { id: oneId } }) : null;
        if (!first) {
          yield notFound("ControlIntent", String(intentId));
          return;
        }
        runKey = first.runId;
      } else if (runId) {
        const run = runKey ? await db.run.findUnique({ where: { id: runKey }, select: { id: true } }) : null;
        if (!run) {
          yield notFound("Run", String(runId));
          return;
        }
      }
      const sub = hold(ctx, ctx.app.bus.subscribe("intent", runKey ?? "*", 1000));
      const sent = new Map<string, string>();
      let lastSeq: number | null = null;
      const fresh = (i: ControlIntent) => {
        const key = `${i.stage}|${i.updatedAt.getTime()}`;
        if (sent.get(i.id) === key) return false;
        sent.set(i.id, key);
        return true;
      };
      try {
        if (first) {
          // re-read after subscribing: a change between the first read and the subscription is not lost
          const now = await db.controlIntent.findUniqueOrThrow({ where: { id: first.id } });
          fresh(now);
          yield now;
          if (isTerminalStage(now.stage)) return;
        }
        for await (const d of sub) {
          if (d.kind === "overflow") {
            subscriptionOverflows.inc({ subscription: "controlIntentUpdated" });
            yield tooSlow({ lastSeq });
            return;
          }
          const m = d.message;
          if (oneId && m.intentId !== oneId) continue;
          const intent = await db.controlIntent.findUnique({ where: { id: m.intentId } });
          if (!intent || !fresh(intent)) continue;
          lastSeq = m.seq;
          yield intent;
          // one intent: the stream ends with its terminal stage
          if (oneId && isTerminalStage(intent.stage)) return;
        }
      } finally {
        sub.close();
      }
    },
    resolve: (intent) => intent,
  }),
}));

// ------------------------------------------------------------------------------------------- mutations

// requestControl and its per-intent conveniences (operator), setSpriteControlMode (admin). Every refusal is
// data: the union of ControlIntent and the error types below. `requestedBy` is the caller's token name.

const CONTROL_ERRORS = [ZodError, UnauthorizedError, NotFoundError, PreconditionFailedError, ControlFrozenError, ControlDisabledError];
const KEY_MESSAGE = "8-128 characters: letters, digits and . _ : -";
const keyValidation = { regex: [IDEMPOTENCY_KEY, { message: KEY_MESSAGE }] as [RegExp, { message: string }] };

const RequestControlInput = builder.inputType("RequestControlInput", {
  fields: (t) => ({
    runId: t.id({ required: true, description: "Relay id or raw run id" }),
    intent: t.field({ type: IntentKindEnum, required: true }),
    note: t.string({ required: false, validate: noteValidation, description: "Why (kept in the audit; passed to approve/reject as --note)" }),
    idempotencyKey: t.string({ required: false, validate: keyValidation, description: "The same key for the same run returns the first intent instead of acting again; default: a random UUID" }),
    resumeAfterApprove: t.boolean({ required: false, description: "APPROVE only: run the loop again once the decision is recorded, so it can complete" }),
  }),
});

async function control(ctx: Context, runId: string, kind: IntentKind, note: string | null | undefined, key: string | null | undefined, resume: boolean | null | undefined): Promise<ControlIntent> {
  if (!hasRole(ctx.principal, "operator")) throw new UnauthorizedError("operator");
  const service = ctx.app.control;
  if (!service) throw new ControlDisabledError("this manager has no control service", null, null, null);
  const raw = localId(runId, "Run");
  const outcome: ControlOutcome = raw
    ? await service.request({ runId: raw, kind, note: note ?? null, idempotencyKey: key ?? null, resumeAfterApprove: resume ?? false, traceId: ctx.traceId ?? null }, ctx.principal!)
    : { kind: "not_found" };
  switch (outcome.kind) {
    case "intent":
      return outcome.intent;
    case "not_found":
      throw new NotFoundError("Run", runId);
    case "refused": {
      const E = outcome.error === "ControlFrozen" ? ControlFrozenError : outcome.error === "ControlDisabled" ? ControlDisabledError : PreconditionFailedError;
      throw new E(outcome.message, outcome.intent, outcome.state, outcome.stateReason);
    }
  }
}

const CONVENIENCE: readonly [string, IntentKind, string][] = [
  ["cancelRun", "CANCEL", "Cancel the run (superloop cancel); confirmed when no live run remains"],
  ["approveRun", "APPROVE", "Approve the pending approval; with resumeAfterApprove the loop is run again to complete"],
  ["rejectRun", "REJECT", "Reject the pending approval"],
  ["pauseRun", "PAUSE", "SIGSTOP the run's process group; confirmed when it is observed stopped"],
  ["resumeRun", "RESUME", "SIGCONT the run's process group; confirmed when it is observed running"],
  ["startRun", "START", "Run the loop (superloop run, detached); confirmed by loop_start; a runtime refusal (e.g. stale state) is FAILED/runtime_refused at once"],
  [
    "restartRun",
    "RESTART",
    "For a run the runtime still calls active although it is dead (crash, rate-limit stop, kill): cancel (clears the stale state), check it is cleared, then run; confirmed by loop_start; refused over a live run",
  ],
];

builder.mutationFields((t) => ({
  requestControl: t.field({
    type: ControlIntentRef,
    description: "Ask for a control action on a run (operator). Returns at DISPATCHED/ACCEPTED; follow it with controlIntentUpdated",
    errors: { types: CONTROL_ERRORS },
    args: { input: t.arg({ type: RequestControlInput, required: true }) },
    resolve: (_root, { input }, ctx) => control(ctx, String(input.runId), input.intent, input.note, input.idempotencyKey, input.resumeAfterApprove),
  }),
  ...Object.fromEntries(
    CONVENIENCE.map(([name, kind, description]) => [
      name,
      t.field({
        type: ControlIntentRef,
        description: `${description} (operator)`,
        errors: { types: CONTROL_ERRORS },
        args: {
          runId: t.arg.id({ required: true }),
          note: t.arg.string({ required: false, validate: noteValidation }),
          idempotencyKey: t.arg.string({ required: false, validate: keyValidation }),
          ...(kind === "APPROVE" ? { resumeAfterApprove: t.arg.boolean({ required: false, description: "Run the loop again once the decision is recorded" }) } : {}),
        },
        resolve: (_root, args, ctx) => control(ctx, String(args.runId), kind, args.note, args.idempotencyKey, (args as { resumeAfterApprove?: boolean | null }).resumeAfterApprove),
      }),
    ]),
  ),
  setSpriteControlMode: t.field({
    type: SpriteRef,
    description: "Passive mode for one Sprite: DISABLED refuses every control intent on its runs (admin); recorded in the audit",
    errors: { types: [ZodError, UnauthorizedError, NotFoundError] },
    args: {
      sprite: t.arg.string({ required: true, description: "Sprite name" }),
      mode: t.arg({ type: ControlModeEnum, required: true }),
      note: t.arg.string({ required: false, validate: noteValidation }),
    },
    resolve: async (_root, { sprite, mode, note }, ctx) => {
      if (!hasRole(ctx.principal, "admin")) throw new UnauthorizedError("admin");
      const updated = await ctx.app.control?.setSpriteControlMode(sprite, mode, note ?? null, ctx.principal!.name);
      if (!updated) throw new NotFoundError("Sprite", sprite);
      return updated;
    },
  }),
}));
