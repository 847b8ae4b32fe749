import { subscriptionOverflows } from "../../observability/metrics";
import type { RunChanged } from "../../pubsub/topics";
import { builder } from "../builder";
import { localId } from "../ids";
import { LifecycleStateEnum } from "../types/enums";
import { RunLifecycleUpdateRef, type Resync } from "../types/lifecycle-change";

const RunLifecycleFilter = builder.inputType("RunLifecycleFilter", {
  fields: (t) => ({
    sprite: t.string({ required: false, description: "Sprite name" }),
    run: t.id({ required: false, description: "Run id (Relay or raw)" }),
    states: t.field({ type: [LifecycleStateEnum], required: false, description: "Only changes into these states" }),
  }),
});

builder.subscriptionFields((t) => ({
  runLifecycleChanged: t.field({
    type: RunLifecycleUpdateRef,
    description: "Lifecycle changes as they commit, in seq order per run",
    args: { filter: t.arg({ type: RunLifecycleFilter, required: false }) },
    subscribe: async function* (_root, { filter }, ctx) {
      const runId = filter?.run ? localId(String(filter.run), "Run") : null;
      let spriteId: string | null = null;
      if (filter?.sprite) {
        const sprite = await ctx.app.db.sprite.findUnique({ where: { name: filter.sprite }, select: { id: true } });
        if (!sprite) return;
        spriteId = sprite.id;
      }
      const states = filter?.states?.length ? new Set<string>(filter.states) : null;
      const sub = ctx.app.bus.subscribe("run", runId ?? "*", 1000);
      let lastSeq: number | null = null;
      try {
        for await (const d of sub) {
          if (d.kind === "overflow") {
            subscriptionOverflows.inc({ subscription: "runLifecycleChanged" });
            const resync: Resync = { resyncRequired: true, reason: "subscriber_too_slow", lastSeq, lastCursor: null };
            yield resync;
            return;
          }
          const c: RunChanged = d.message;
          if (!c.lifecycleChanged) continue;
          if (spriteId && c.spriteId !== spriteId) continue;
          if (states && !states.has(c.state)) continue;
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
