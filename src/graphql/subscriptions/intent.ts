import { NotFoundError } from "../../errors";
import type { ControlIntent } from "../../generated/prisma/client";
import { subscriptionOverflows } from "../../observability/metrics";
import { builder } from "../builder";
import { NotFoundRef } from "../errors";
import { isResync, ResyncRequiredRef, tooSlow } from "../types/resync";
import { localId } from "../ids";
import { ControlIntentRef } from "../types/intent";
import { hold } from "../../pubsub/subscription-scope";

// controlIntentUpdated: each committed stage change (or evidence change) of an intent, read back from the
// database so a message can never disagree with what is stored. With `intentId` the intent is sent once as it
// is now before any change, so a client that subscribes after its mutation returned cannot miss the end.

const ControlIntentUpdateRef = builder.unionType("ControlIntentUpdate", {
  description: "An intent as it is now, or how the subscription ended: ResyncRequired (read the intent, subscribe again) or NotFound",
  types: [ControlIntentRef, ResyncRequiredRef, NotFoundRef],
  resolveType: (v) => (v instanceof NotFoundError ? NotFoundRef : isResync(v) ? ResyncRequiredRef : ControlIntentRef),
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
          yield new NotFoundError("ControlIntent", String(intentId));
          return;
        }
        runKey = first.runId;
      } else if (runId) {
        const run = runKey ? await db.run.findUnique({ where: { id: runKey }, select: { id: true } }) : null;
        if (!run) {
          yield new NotFoundError("Run", String(runId));
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
          if (["CONFIRMED", "FAILED", "AMBIGUOUS", "REJECTED"].includes(now.stage)) return;
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
          if (oneId && ["CONFIRMED", "FAILED", "AMBIGUOUS", "REJECTED"].includes(intent.stage)) return;
        }
      } finally {
        sub.close();
      }
    },
    resolve: (intent) => intent,
  }),
}));
