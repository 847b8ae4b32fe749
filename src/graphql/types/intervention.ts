import type { Run } from "../../generated/prisma/client";
import type { Health } from "../../lifecycle/health";
import { parseStoredFacts } from "../../ingest/stored-facts";
import { needsIntervention, type Intervention } from "../../lifecycle/interventions";
import type { Divergence, LifecycleState } from "../../lifecycle/types";
import { builder } from "../builder";
import { RunRef } from "./run";
import { divergenceOf, healthOf } from "./run-status";

// "What needs me?": every run an operator should look at, with why, since when, and what to do.

export interface InterventionView extends Intervention {
  run: Run;
  severity: "warning" | "critical";
  since: Date;
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
    state: run.state as LifecycleState,
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
  }),
});

const bySeverityThenAge = (a: InterventionView, b: InterventionView) =>
  a.severity !== b.severity ? (a.severity === "critical" ? -1 : 1) : a.since.getTime() - b.since.getTime();

builder.queryFields((t) => ({
  interventions: t.field({
    type: [InterventionRef],
    description: "Runs that need an operator, critical first, then oldest first",
    resolve: async (_root, _args, ctx) => {
      const runs = await ctx.app.db.run.findMany({ where: { removedAt: null, needsIntervention: true } });
      return runs.map(interventionOf).filter((i): i is InterventionView => i !== null).sort(bySeverityThenAge);
    },
  }),
}));

interface InterventionChange {
  runId: string;
  seq: number;
  intervention: InterventionView | null;
}

const InterventionChangeRef = builder.objectRef<InterventionChange>("InterventionChange").implement({
  description: "A run entered, left or changed the intervention queue (intervention null = resolved)",
  fields: (t) => ({
    runId: t.exposeID("runId"),
    seq: t.exposeInt("seq"),
    intervention: t.field({ type: InterventionRef, nullable: true, resolve: (c) => c.intervention }),
  }),
});

builder.subscriptionFields((t) => ({
  interventionsChanged: t.field({
    type: InterventionChangeRef,
    subscribe: async function* (_root, _args, ctx) {
      const sub = ctx.app.bus.subscribe("run", "*", 1000);
      // Seed with the queue as it is now, so a run that leaves it after we subscribed is reported resolved.
      const last = new Map<string, string>();
      const keyOf = (v: InterventionView | null) => (v ? JSON.stringify([v.reasons.map((r) => r.code), v.suggestedActions, v.severity]) : "none");
      for (const run of await ctx.app.db.run.findMany({ where: { removedAt: null, needsIntervention: true } })) last.set(run.id, keyOf(interventionOf(run)));
      try {
        for await (const d of sub) {
          if (d.kind === "overflow") return; // the client re-reads `interventions` on reconnect
          const run = await ctx.app.db.run.findUnique({ where: { id: d.message.runId } });
          if (!run) continue;
          const view = run.removedAt ? null : interventionOf(run);
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
