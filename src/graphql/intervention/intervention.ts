import type { InterventionAck, Run } from "../../generated/prisma/client";
import { activeAck } from "../../interventions/ack";
import type { Health } from "../../lifecycle/health";
import { parseStoredFacts } from "../../ingest/stored-facts";
import { needsIntervention, type Intervention } from "../../lifecycle/interventions";
import type { Divergence } from "../../lifecycle/types";
import { queryFromInfo } from "@pothos/plugin-prisma";
import type pg from "pg";
import { modelColumns, rowQuery } from "../../db/model-rows";
import { readRunsNeedingIntervention, selectsSprite } from "../../runs/run-reads";
import { builder } from "../builder";
import { RunRef } from "../run/run";
import { isResync, ResyncRequiredRef, tooSlow } from "../subscription-end";
import { subscriptionOverflows } from "../../observability/metrics";
import { divergenceOf, healthOf } from "../run/status";
import { hold } from "../../pubsub/subscription-scope";

// "What needs me?": every run an operator should look at, with why, since when, and what to do.

export interface InterventionView extends Intervention {
  run: Run;
  severity: "warning" | "critical";
  since: Date;
  /** the acknowledgement / snooze that holds it out of the queue, if any */
  acknowledgement?: InterventionAck | null;
}

const ACK = modelColumns<InterventionAck>("InterventionAck");

/** Open (not cleared) acknowledgements, newest first, by run id: of these runs, or of every run in the queue. */
export async function openAcks(pool: pg.Pool, runs: string[] | "queued"): Promise<Map<string, InterventionAck[]>> {
  const out = new Map<string, InterventionAck[]>();
  if (runs !== "queued" && !runs.length) return out;
  const which = runs === "queued" ? `a."runId" IN (SELECT id FROM "Run" WHERE "needsIntervention" AND "removedAt" IS NULL)` : `a."runId" = ANY($1::text[])`;
  const res = await rowQuery(pool, `SELECT ${ACK.select("a")} FROM "InterventionAck" a WHERE ${which} AND a."clearedAt" IS NULL ORDER BY a."createdAt" DESC`, runs === "queued" ? [] : [runs]);
  for (const r of res.map((row) => ACK.read(row))) out.set(r.runId, [...(out.get(r.runId) ?? []), r]);
  return out;
}

/** The intervention with its holding acknowledgement attached (or null when none holds). */
export function withAck(view: InterventionView, acks: readonly InterventionAck[], now = new Date()): InterventionView {
  return {
    ...view,
    acknowledgement: activeAck(
      acks,
      view.reasons.map((r) => r.code),
      now,
    ),
  };
}

export function interventionOf(run: Run): InterventionView | null {
  const health = healthOf(run);
  const d = divergenceOf(run);
  const divergence: Divergence = {
    activeMismatch: d.activeMismatch.raised ? { evidence: (d.activeMismatch.evidence ?? {}) as Record<string, unknown> } : null,
    approvalCompletionConflict: d.approvalCompletionConflict.raised ? { evidence: (d.approvalCompletionConflict.evidence ?? {}) as Record<string, unknown> } : null,
    cursorRegression: d.cursorRegression.raised ? { evidence: (d.cursorRegression.evidence ?? {}) as Record<string, unknown> } : null,
  };
  const found = needsIntervention({
    state: run.state,
    reason: run.stateReason,
    health: { status: health.status, reasons: health.reasons.map((r) => ({ ...r, since: r.since.toISOString() })) } as Health,
    divergence,
    ingestStatus: run.ingestStatus,
    approvalPending: (run.approval as { status?: string } | null)?.status === "pending",
    stateSince: run.stateSince.toISOString(),
    runtime: parseStoredFacts(run.facts).runtime,
  });
  if (!found) return null;
  const severity = found.reasons.some((r) => r.severity === "critical") ? "critical" : "warning";
  const since = new Date(Math.min(...found.reasons.map((r) => Date.parse(r.since))));
  return { ...found, run, severity, since };
}

const InterventionReasonRef = builder.simpleObject("InterventionReason", {
  fields: (t) => ({
    code: t.string({ description: "approval_pending, stale_running, cursor_fork, run_failed, divergence, ..." }),
    severity: t.string({ description: "warning | critical" }),
    since: t.field({ type: "DateTime" }),
    message: t.string(),
  }),
});

const SuggestedActionEnum = builder.enumType("SuggestedAction", {
  values: ["APPROVE", "REJECT", "CANCEL", "RESUME", "START", "RESTART", "RESET_CURSOR", "INSPECT"] as const,
});

export const InterventionRef = builder.objectRef<InterventionView>("Intervention").implement({
  description: "A run that needs an operator",
  fields: (t) => ({
    run: t.field({ type: RunRef, resolve: (i) => i.run }),
    severity: t.exposeString("severity"),
    since: t.expose("since", { type: "DateTime" }),
    reasons: t.field({ type: [InterventionReasonRef], resolve: (i) => i.reasons.map((r) => ({ ...r, since: new Date(r.since) })) }),
    suggestedActions: t.field({ type: [SuggestedActionEnum], resolve: (i) => i.suggestedActions }),
    acknowledgement: t.prismaField({
      type: "InterventionAck",
      nullable: true,
      description: "The acknowledgement or snooze holding this run out of the queue (only with includeAcknowledged)",
      resolve: (_query, i) => i.acknowledgement ?? null,
    }),
  }),
});

const bySeverityThenAge = (a: InterventionView, b: InterventionView) => (a.severity !== b.severity ? (a.severity === "critical" ? -1 : 1) : a.since.getTime() - b.since.getTime());

builder.queryFields((t) => ({
  interventions: t.field({
    type: [InterventionRef],
    description: "Runs that need an operator, critical first, then oldest first; acknowledged/snoozed ones only when asked for",
    args: { includeAcknowledged: t.arg.boolean({ required: false, defaultValue: false }) },
    resolve: async (_root, { includeAcknowledged }, ctx, info) => {
      // The runs with their Sprite joined when the request selects it under `run`, recorded for the Run fields:
      // otherwise each entry's run was loaded again, one Prisma query per run (bench:query). Plain SQL
      // (src/runs/run-reads.ts): Prisma's query compiler cost more than the query.
      const query = queryFromInfo({ context: ctx, info, typeName: "Run", path: ["run"] });
      // The queue's acknowledgements are read beside it (two connections, one wait): an acknowledgement of a run
      // that left the queue in between is ignored, one of a run that just entered it is read on the next call.
      const [runs, acks] = await Promise.all([readRunsNeedingIntervention(ctx.app.pool, selectsSprite(query)), openAcks(ctx.app.pool, "queued")]);
      return runs
        .map(interventionOf)
        .filter((i): i is InterventionView => i !== null)
        .map((i) => withAck(i, acks.get(i.run.id) ?? []))
        .filter((i) => includeAcknowledged || !i.acknowledgement)
        .sort(bySeverityThenAge);
    },
  }),
}));

interface InterventionChange {
  runId: string;
  seq: number;
  intervention: InterventionView | null;
}

const InterventionChangeRef = builder.objectRef<InterventionChange>("InterventionChange").implement({
  description: "A run entered, left or changed the intervention queue (intervention null = resolved, acknowledged or snoozed)",
  fields: (t) => ({
    runId: t.exposeID("runId"),
    seq: t.exposeInt("seq"),
    intervention: t.field({ type: InterventionRef, nullable: true, resolve: (c) => c.intervention }),
  }),
});

const InterventionsUpdateRef = builder.unionType("InterventionsUpdate", {
  description: "A change of the intervention queue, or ResyncRequired (re-read `interventions`, subscribe again)",
  types: [InterventionChangeRef, ResyncRequiredRef],
  resolveType: (v) => (isResync(v) ? ResyncRequiredRef : InterventionChangeRef),
});

builder.subscriptionFields((t) => ({
  interventionsChanged: t.field({
    type: InterventionsUpdateRef,
    subscribe: async function* (_root, _args, ctx) {
      const sub = hold(ctx, ctx.app.bus.subscribe("run", "*", 1000));
      // Seed with the queue as it is now, so a run that leaves it after we subscribed is reported resolved.
      const last = new Map<string, string>();
      const keyOf = (v: InterventionView | null) => (v ? JSON.stringify([v.reasons.map((r) => r.code), v.suggestedActions, v.severity]) : "none");
      const queued = await ctx.app.db.run.findMany({ where: { removedAt: null, needsIntervention: true } });
      const acks = await openAcks(
        ctx.app.pool,
        queued.map((r) => r.id),
      );
      for (const run of queued) {
        const v = interventionOf(run);
        last.set(run.id, keyOf(v && !withAck(v, acks.get(run.id) ?? []).acknowledgement ? v : null));
      }
      try {
        for await (const d of sub) {
          if (d.kind === "overflow") {
            subscriptionOverflows.inc({ subscription: "interventionsChanged" });
            yield tooSlow();
            return;
          }
          const run = await ctx.app.db.run.findUnique({ where: { id: d.message.runId } });
          if (!run) continue;
          const found = run.removedAt ? null : interventionOf(run);
          // An acknowledged or snoozed run is out of the queue for this subscriber too.
          const view = found && !withAck(found, (await openAcks(ctx.app.pool, [run.id])).get(run.id) ?? []).acknowledgement ? found : null;
          const key = keyOf(view);
          if ((last.get(run.id) ?? "unknown") === key) continue;
          const wasTracked = last.has(run.id);
          last.set(run.id, key);
          if (!wasTracked && view === null) continue; // never in the queue as far as this subscriber knows
          yield { runId: run.id, seq: d.message.seq, intervention: view };
        }
      } finally {
        sub.close();
      }
    },
    resolve: (c) => c,
  }),
}));
