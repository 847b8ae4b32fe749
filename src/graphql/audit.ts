import { createGraphQLError } from "graphql-yoga";
import { decodeAuditCursor, encodeAuditCursor, positionOf, queryAudit, type AuditEntry } from "../control/audit";
import { readRunsById } from "../runs/run-reads";
import { batched } from "./batch";
import { builder } from "./builder";
import { localId } from "./ids";
import { ControlIntentRef, stageRecords } from "./intent";
import { RunRef } from "./run/run";
import { LifecycleTransitionRef } from "./run/lifecycle";

// audit(runId, since, until, first, after): who did what to which run, when, why, with what evidence and outcome.

const AuditSourceEnum = builder.enumType("AuditSource", {
  values: {
    INTENT: { description: "A control intent (every request, including refused ones)" },
    TRANSITION: { description: "An operator transition: cursor reset, control-mode switch" },
  },
});

const str = (v: unknown): string | null => (typeof v === "string" ? v : null);

const AuditEntryRef = builder.objectRef<AuditEntry>("AuditEntry").implement({
  description: "One operator action on a run",
  fields: (t) => ({
    at: t.field({ type: "DateTime", resolve: (e) => e.at }),
    source: t.field({ type: AuditSourceEnum, resolve: (e) => (e.source === "intent" ? "INTENT" : "TRANSITION") }),
    actor: t.string({ resolve: (e) => (e.source === "intent" ? e.intent.requestedBy : (e.transition.actor ?? "")), description: "The token name of who did it" }),
    action: t.string({
      resolve: (e) => (e.source === "intent" ? e.intent.kind : e.transition.trigger),
      description: "Intent kind (CANCEL, APPROVE, ...) or transition trigger (cursor_reset, control_mode)",
    }),
    note: t.string({
      nullable: true,
      resolve: (e) => (e.source === "intent" ? e.intent.note : str((e.transition.evidence as Record<string, unknown> | null)?.["note"])),
    }),
    outcome: t.string({
      resolve: (e) => (e.source === "intent" ? (e.intent.error ? `${e.intent.stage}: ${e.intent.error}` : e.intent.stage) : `${e.transition.to}/${e.transition.reason}`),
      description: "The intent's stage (and error), or the run's state after the transition",
    }),
    evidence: t.field({ type: "JSON", resolve: (e) => (e.source === "intent" ? stageRecords(e.intent) : e.transition.evidence) }),
    runId: t.id({ resolve: (e) => (e.source === "intent" ? e.intent.runId : e.transition.runId) }),
    run: t.field({
      type: RunRef,
      nullable: true,
      // One query for the runs of the whole page, not one per entry.
      resolve: async (e, _a, ctx) => {
        const id = e.source === "intent" ? e.intent.runId : e.transition.runId;
        return (await batched(ctx, "auditRun", id, (ids) => readRunsById(ctx.app.pool, ids, false))) ?? null;
      },
    }),
    intent: t.field({ type: ControlIntentRef, nullable: true, resolve: (e) => (e.source === "intent" ? e.intent : null) }),
    transition: t.field({ type: LifecycleTransitionRef, nullable: true, resolve: (e) => (e.source === "transition" ? e.transition : null) }),
  }),
});

builder.queryFields((t) => ({
  audit: t.connection(
    {
      type: AuditEntryRef,
      description: "Control intents and operator transitions, newest first; by run and/or time window [since, until)",
      args: {
        runId: t.arg.id({ required: false }),
        since: t.arg({ type: "DateTime", required: false }),
        until: t.arg({ type: "DateTime", required: false }),
      },
      resolve: async (_root, args, ctx) => {
        if (args.last != null || args.before != null) throw createGraphQLError("audit pages forward only: use first/after");
        const limit = Math.min(Math.max(args.first ?? 50, 1), 200);
        const after = args.after ? decodeAuditCursor(args.after) : null;
        if (args.after && !after) throw createGraphQLError(`invalid audit cursor "${args.after}"`);
        const runId = args.runId ? localId(String(args.runId), "Run") : null;
        const rows = await queryAudit(ctx.app, { runId, since: args.since ?? null, until: args.until ?? null, after, limit: limit + 1 });
        const page = rows.slice(0, limit);
        const edges = page.map((node) => ({ node, cursor: encodeAuditCursor(positionOf(node)) }));
        return {
          edges,
          pageInfo: {
            hasNextPage: rows.length > limit,
            hasPreviousPage: after !== null,
            startCursor: edges[0]?.cursor ?? null,
            endCursor: edges[edges.length - 1]?.cursor ?? null,
          },
        };
      },
    },
    { name: "AuditConnection" },
    { name: "AuditEdge" },
  ),
}));
