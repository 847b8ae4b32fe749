import { createGraphQLError } from "graphql-yoga";
import { subscriptionOverflows } from "../../observability/metrics";
import type { RunChanged } from "../../pubsub/topics";
import { ANNOTATION_TRIGGERS } from "../../runs/changed";
import { hold } from "../../pubsub/subscription-scope";
import { builder } from "../builder";
import { NotFoundRef } from "../errors";
import { localId } from "../ids";
import { LifecycleStateEnum } from "../enums";
import { endOf, notFound, ResyncRequiredRef, tooSlow } from "../subscription-end";

// A run's lifecycle: its stored transitions (Run.transitions) and runLifecycleChanged, the committed changes
// as they happen (or resumed after a seq).

export const LifecycleTransitionRef = builder.prismaNode("LifecycleTransition", {
  id: { field: "id" },
  description: "A change of a run's lifecycle state and the evidence that caused it",
  fields: (t) => ({
    seq: t.exposeInt("seq"),
    from: t.expose("from", { type: LifecycleStateEnum, nullable: true }),
    to: t.expose("to", { type: LifecycleStateEnum }),
    reason: t.exposeString("reason"),
    trigger: t.exposeString("trigger", { description: "ingest | ingest_error | control | cursor_reset | register | sprite" }),
    actor: t.exposeString("actor", { nullable: true, description: "Who caused it, for operator actions" }),
    evidence: t.expose("evidence", { type: "JSON" }),
    at: t.expose("at", { type: "DateTime" }),
  }),
});

export const RunLifecycleChangeRef = builder.objectRef<RunChanged>("RunLifecycleChange").implement({
  description: "A committed change of a run's lifecycle state",
  fields: (t) => ({
    runId: t.exposeID("runId", { description: "Raw run id" }),
    run: t.prismaField({
      type: "Run",
      nullable: true,
      description: "The run as it is now (null if it was purged since)",
      resolve: (query, c, _args, ctx) => ctx.app.db.run.findUnique({ ...query, where: { id: c.runId } }),
    }),
    seq: t.exposeInt("seq", { description: "The run's change counter at this change; strictly increasing per run" }),
    previousState: t.expose("previousState", { type: LifecycleStateEnum, nullable: true }),
    state: t.expose("state", { type: LifecycleStateEnum }),
    reason: t.exposeString("reason"),
    at: t.expose("at", { type: "DateTime" }),
  }),
});

export const RunLifecycleUpdateRef = builder.unionType("RunLifecycleUpdate", {
  types: [RunLifecycleChangeRef, ResyncRequiredRef, NotFoundRef],
  resolveType: (v) => endOf(v) ?? RunLifecycleChangeRef,
});

const RunLifecycleFilter = builder.inputType("RunLifecycleFilter", {
  fields: (t) => ({
    sprite: t.string({ required: false, description: "Sprite name" }),
    run: t.id({ required: false, description: "Run id (Relay or raw)" }),
    states: t.field({ type: [LifecycleStateEnum], required: false, description: "Only changes into these states" }),
  }),
});

/** Transition triggers that annotate the history without changing the lifecycle (never delivered here). */
const NOT_LIFECYCLE = [...ANNOTATION_TRIGGERS];

builder.subscriptionFields((t) => ({
  runLifecycleChanged: t.field({
    type: RunLifecycleUpdateRef,
    description: "Lifecycle changes as they commit, in seq order per run. A change that moves neither the state nor its reason (X → X, same reason) is not delivered.",
    args: {
      filter: t.arg({ type: RunLifecycleFilter, required: false }),
      afterSeq: t.arg.int({
        required: false,
        description: "Resume position (needs filter.run): first deliver the run's committed changes with a higher seq, then live ones, none twice. Pass the seq of the last change received.",
      }),
    },
    subscribe: async function* (_root, { filter, afterSeq }, ctx) {
      if (ctx.resyncNow) {
        yield tooSlow();
        return;
      }
      const runId = filter?.run ? localId(String(filter.run), "Run") : null;
      if (afterSeq != null && !filter?.run) throw createGraphQLError("afterSeq needs filter.run: seq is a per-run position");
      if (filter?.run && !runId) {
        yield notFound("Run", String(filter.run));
        return;
      }
      let spriteId: string | null = null;
      if (filter?.sprite) {
        const sprite = await ctx.app.db.sprite.findUnique({ where: { name: filter.sprite }, select: { id: true } });
        if (!sprite) {
          yield notFound("Sprite", filter.sprite);
          return;
        }
        spriteId = sprite.id;
      }
      const states = filter?.states?.length ? new Set<string>(filter.states) : null;
      // Each run's reason before subscribing: a change committed after this read is still compared against the
      // reason it replaced, so a real change is never mistaken for a no-op.
      const current = await ctx.app.db.run.findMany({ where: runId ? { id: runId } : { removedAt: null }, select: { id: true, stateReason: true, spriteId: true } });
      if (runId && !current[0]) {
        yield notFound("Run", String(filter?.run));
        return;
      }
      // Subscribe before reading the backlog, so nothing committed in between is lost (duplicates are dropped by seq).
      const sub = hold(ctx, ctx.app.bus.subscribe("run", runId ?? "*", 1000));
      let lastSeq: number | null = null;
      const delivered = new Map<string, number>();
      // Each run's reason as this subscriber last knew it: a same-state change with the same reason is a no-op.
      const reasons = new Map<string, string>();
      const wanted = (c: RunChanged) => (!spriteId || c.spriteId === spriteId) && (!states || states.has(c.state));
      const isNoop = (c: RunChanged) => c.previousState === c.state && reasons.get(c.runId) === c.reason;
      try {
        if (afterSeq != null && runId) {
          const run = current[0];
          const backlog = await ctx.app.db.lifecycleTransition.findMany({
            where: { runId, seq: { gt: afterSeq }, trigger: { notIn: NOT_LIFECYCLE } },
            orderBy: { seq: "asc" },
          });
          const before = await ctx.app.db.lifecycleTransition.findFirst({
            where: { runId, seq: { lte: afterSeq }, trigger: { notIn: NOT_LIFECYCLE } },
            orderBy: { seq: "desc" },
            select: { reason: true },
          });
          if (before) reasons.set(runId, before.reason);
          for (const tr of backlog) {
            const c: RunChanged = { runId, spriteId: run.spriteId, seq: tr.seq, previousState: tr.from, state: tr.to, reason: tr.reason, lifecycleChanged: true, at: tr.at };
            delivered.set(runId, c.seq);
            const noop = isNoop(c);
            reasons.set(runId, c.reason);
            if (noop || !wanted(c)) continue;
            lastSeq = c.seq;
            yield c;
          }
          if (!backlog.length) reasons.set(runId, run.stateReason);
        } else {
          for (const r of current) reasons.set(r.id, r.stateReason);
        }
        for await (const d of sub) {
          if (d.kind === "overflow") {
            subscriptionOverflows.inc({ subscription: "runLifecycleChanged" });
            yield tooSlow({ lastSeq });
            return;
          }
          const c: RunChanged = d.message;
          if (!c.lifecycleChanged) continue;
          if (c.seq <= (delivered.get(c.runId) ?? -1)) continue;
          delivered.set(c.runId, c.seq);
          const noop = isNoop(c);
          reasons.set(c.runId, c.reason);
          if (noop || !wanted(c)) continue;
          lastSeq = c.seq;
          yield c;
        }
      } finally {
        sub.close();
      }
    },
    resolve: (payload) => payload,
  }),
}));
