import { ZodError } from "zod";
import type { Run } from "../../generated/prisma/client";
import { resetRunCursor, type ResetResult } from "../../ingest/reset";
import { builder } from "../builder";
import { hasRole } from "../../auth/principal";
import { NotFoundError, RunNotPolledError, UnauthorizedError } from "../../errors";
import { localId } from "../ids";
import { RunRef } from "./run";
import { noteValidation } from "../validation";

async function findRun(ctx: { app: { db: { run: { findUnique(a: { where: { id: string } }): Promise<Run | null> } } } }, id: string): Promise<Run> {
  const raw = localId(id, "Run");
  const run = raw ? await ctx.app.db.run.findUnique({ where: { id: raw } }) : null;
  if (!run) throw new NotFoundError("Run", id);
  return run;
}

const ResetModeEnum = builder.enumType("CursorResetMode", {
  values: {
    REPLAY_FROM_START: { description: "Delete the run's stored events and ingest the current file from line 1" },
    ADOPT_CURRENT: { description: "Accept the current file as the baseline: continue after its last complete line" },
  },
});

const CursorResetRef = builder.objectRef<ResetResult & { run: Run }>("CursorReset").implement({
  fields: (t) => ({
    run: t.field({ type: RunRef, resolve: (r) => r.run }),
    mode: t.field({ type: ResetModeEnum, resolve: (r) => r.mode }),
    previousLine: t.exposeInt("previousLine"),
    newLine: t.exposeInt("newLine"),
    deletedEvents: t.exposeInt("deletedEvents"),
  }),
});

builder.mutationFields((t) => ({
  syncRun: t.field({
    type: RunRef,
    description: "Poll the run now (on the replica that holds its lease) and return it as stored after that poll (operator); RunNotPolled when no replica polled it within 5 s",
    errors: { types: [UnauthorizedError, NotFoundError, RunNotPolledError] },
    args: { runId: t.arg.id({ required: true }) },
    resolve: async (_root, { runId }, ctx) => {
      if (!hasRole(ctx.principal, "operator")) throw new UnauthorizedError("operator");
      const run = await findRun(ctx, String(runId));
      await ctx.app.requestSync(run.id);
      return ctx.app.db.run.findUniqueOrThrow({ where: { id: run.id } });
    },
  }),
  resetRunCursor: t.field({
    type: CursorResetRef,
    description: "Resume ingestion of a FORKED/ERROR run after deciding what the changed file means (admin); recorded as a transition",
    errors: { types: [ZodError, UnauthorizedError, NotFoundError] },
    args: {
      runId: t.arg.id({ required: true }),
      mode: t.arg({ type: ResetModeEnum, required: true }),
      note: t.arg.string({ required: false, validate: noteValidation }),
    },
    resolve: async (_root, { runId, mode, note }, ctx) => {
      if (!hasRole(ctx.principal, "admin")) throw new UnauthorizedError("admin");
      const run = await findRun(ctx, String(runId));
      const result = await resetRunCursor(ctx.app, run.id, mode, ctx.principal!.name, note ?? null);
      return { ...result, run: await ctx.app.db.run.findUniqueOrThrow({ where: { id: run.id } }) };
    },
  }),
}));
