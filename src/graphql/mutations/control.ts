import { ZodError } from "zod";
import type { ControlIntent } from "../../generated/prisma/client";
import { IDEMPOTENCY_KEY, type ControlOutcome } from "../../control/service";
import type { IntentKind } from "../../control/stages";
import { builder } from "../builder";
import { type Context } from "../context";
import { hasRole } from "../../auth/principal";
import { NotFoundError, UnauthorizedError } from "../../errors";
import { localId } from "../ids";
import { ControlModeEnum, IntentKindEnum } from "../types/enums";
import { ControlDisabledError, ControlFrozenError, ControlIntentRef, PreconditionFailedError } from "../types/intent";
import { SpriteRef } from "../types/sprite";
import { noteValidation } from "../validation";

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
