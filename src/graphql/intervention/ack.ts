import { randomUUID } from "node:crypto";
import type { InterventionAck } from "../../generated/prisma/client";
import { ackHolds, ackCodes } from "../../interventions/ack";
import { builder } from "../builder";
import { type Context } from "../context";
import { hasRole } from "../../auth/principal";
import { NotFoundError, UnauthorizedError } from "../../errors";
import { localId } from "../ids";
import { interventionOf } from "./intervention";
import { RunRef } from "../run/run";
import { noteValidation } from "../validation";

// Acknowledge / snooze an intervention (operator), take it back, and "recently resolved": what happened to the
// items that left the queue (acknowledgements, snoozes and finished control intents), newest first.

export const InterventionAckRef = builder.prismaObject("InterventionAck", {
  description: "An operator acknowledged or snoozed a run's intervention",
  fields: (t) => ({
    id: t.exposeID("id"),
    kind: t.exposeString("kind", { description: "ACKNOWLEDGED (until a new reason appears) | SNOOZED (also ends at `until`)" }),
    by: t.exposeString("by", { description: "The token's name" }),
    note: t.exposeString("note", { nullable: true }),
    until: t.expose("until", { type: "DateTime", nullable: true }),
    reasonCodes: t.stringList({ resolve: (a) => ackCodes(a), description: "The reasons the operator saw" }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    clearedAt: t.expose("clearedAt", { type: "DateTime", nullable: true }),
    active: t.boolean({
      description: "Still holds the run out of the queue",
      resolve: async (a, _args, ctx) => {
        const run = await ctx.app.db.run.findUnique({ where: { id: a.runId } });
        const view = run ? interventionOf(run) : null;
        return (
          view !== null &&
          ackHolds(
            a,
            view.reasons.map((r) => r.code),
            new Date(),
          )
        );
      },
    }),
    run: t.relation("run"),
  }),
});

/** Holds an acknowledgement: a change of the run (src/runs/writer.ts), so every subscriber (any replica) re-reads the queue entry. */
async function recordAck(ctx: Context, runId: string, data: { kind: string; by: string; note: string | null; until: Date | null; reasonCodes: string[] } | null): Promise<InterventionAck | null> {
  const written = await ctx.app.runs.write(runId, async (c) => {
    if (!data) {
      await c.query(`UPDATE "InterventionAck" SET "clearedAt" = $2 WHERE "runId" = $1 AND "clearedAt" IS NULL`, [runId, new Date()]);
      return { announce: true, result: null };
    }
    const ack = await c.query<InterventionAck>(`INSERT INTO "InterventionAck" (id, "runId", kind, "by", note, until, "reasonCodes") VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) RETURNING *`, [
      randomUUID(),
      runId,
      data.kind,
      data.by,
      data.note,
      data.until,
      JSON.stringify(data.reasonCodes),
    ]);
    return { announce: true, result: ack.rows[0] };
  });
  return written?.result ?? null;
}

async function findRun(ctx: Context, id: string) {
  const raw = localId(id, "Run");
  const run = raw ? await ctx.app.db.run.findUnique({ where: { id: raw } }) : null;
  if (!run || run.removedAt) throw new NotFoundError("Run", id);
  return run;
}

builder.mutationFields((t) => ({
  acknowledgeIntervention: t.field({
    type: InterventionAckRef,
    description: "Take a run out of the intervention queue (operator): until a reason the operator did not see appears, or, with snoozeMinutes, at most that long. Recorded with who and why.",
    errors: { types: [UnauthorizedError, NotFoundError] },
    args: {
      runId: t.arg.id({ required: true }),
      note: t.arg.string({ required: false, validate: noteValidation }),
      snoozeMinutes: t.arg.int({ required: false, validate: { min: 1, max: 60 * 24 * 14 }, description: "Snooze: come back after this long even if nothing changed" }),
    },
    resolve: async (_root, { runId, note, snoozeMinutes }, ctx) => {
      if (!hasRole(ctx.principal, "operator")) throw new UnauthorizedError("operator");
      const run = await findRun(ctx, String(runId));
      const view = interventionOf(run);
      const until = snoozeMinutes ? new Date(Date.now() + snoozeMinutes * 60_000) : null;
      const ack = await recordAck(ctx, run.id, {
        kind: snoozeMinutes ? "SNOOZED" : "ACKNOWLEDGED",
        by: ctx.principal!.name,
        note: note?.trim() || null,
        until,
        reasonCodes: view?.reasons.map((r) => r.code) ?? [],
      });
      return ack!;
    },
  }),
  clearInterventionAck: t.field({
    type: RunRef,
    description: "Put an acknowledged or snoozed run back in the queue (operator)",
    errors: { types: [UnauthorizedError, NotFoundError] },
    args: { runId: t.arg.id({ required: true }) },
    resolve: async (_root, { runId }, ctx) => {
      if (!hasRole(ctx.principal, "operator")) throw new UnauthorizedError("operator");
      const run = await findRun(ctx, String(runId));
      await recordAck(ctx, run.id, null);
      return ctx.app.db.run.findUniqueOrThrow({ where: { id: run.id } });
    },
  }),
}));

interface Resolved {
  at: Date;
  kind: string;
  by: string;
  note: string | null;
  until: Date | null;
  outcome: string;
  runId: string;
}

const ResolvedRef = builder.objectRef<Resolved>("ResolvedItem").implement({
  description: "Something an operator did about a run, and what came of it",
  fields: (t) => ({
    at: t.expose("at", { type: "DateTime" }),
    kind: t.exposeString("kind", { description: "ACKNOWLEDGED | SNOOZED | APPROVE | REJECT | CANCEL | START | ... (the intent's kind)" }),
    by: t.exposeString("by"),
    note: t.exposeString("note", { nullable: true }),
    until: t.expose("until", { type: "DateTime", nullable: true }),
    outcome: t.exposeString("outcome", { description: "The intent's stage (CONFIRMED, FAILED, ...) or, for acknowledgements, ACTIVE | CLEARED | EXPIRED" }),
    run: t.prismaField({ type: "Run", nullable: true, resolve: (query, r, _a, ctx) => ctx.app.db.run.findUnique({ ...query, where: { id: r.runId } }) }),
  }),
});

builder.queryFields((t) => ({
  recentlyResolved: t.field({
    type: [ResolvedRef],
    description: "What operators did about runs in the last `hours` (acknowledgements, snoozes, control intents that finished), newest first",
    args: {
      hours: t.arg.int({ required: false, defaultValue: 24, validate: { min: 1, max: 24 * 14 } }),
      first: t.arg.int({ required: false, defaultValue: 20, validate: { min: 1, max: 200 } }),
    },
    resolve: async (_root, { hours, first }, ctx) => {
      const since = new Date(Date.now() - (hours ?? 24) * 3600_000);
      const n = first ?? 20;
      const now = new Date();
      const [acks, intents] = await Promise.all([
        ctx.app.db.interventionAck.findMany({ where: { createdAt: { gte: since } }, orderBy: { createdAt: "desc" }, take: n }),
        ctx.app.db.controlIntent.findMany({
          where: { endedAt: { gte: since } },
          orderBy: { endedAt: "desc" },
          take: n,
          select: { runId: true, kind: true, requestedBy: true, note: true, stage: true, endedAt: true, requestedAt: true },
        }),
      ]);
      const items: Resolved[] = [
        ...acks.map((a) => ({
          at: a.createdAt,
          kind: a.kind,
          by: a.by,
          note: a.note,
          until: a.until,
          outcome: a.clearedAt ? "CLEARED" : a.until && a.until <= now ? "EXPIRED" : "ACTIVE",
          runId: a.runId,
        })),
        ...intents.map((i) => ({ at: i.endedAt ?? i.requestedAt, kind: i.kind, by: i.requestedBy, note: i.note, until: null, outcome: i.stage, runId: i.runId })),
      ];
      return items.sort((a, b) => b.at.getTime() - a.at.getTime()).slice(0, n);
    },
  }),
}));
