import { createGraphQLError } from "graphql-yoga";
import type { Event } from "../../generated/prisma/client";
import { NotFoundError } from "../../errors";
import { originalLine, payloadOf, rawObject } from "../../events/stored-event";
import { subscriptionOverflows } from "../../observability/metrics";
import { hold } from "../../pubsub/subscription-scope";
import { builder } from "../builder";
import { MAX_OUTBOUND_BYTES } from "../context";
import { NotFoundRef } from "../errors";
import { localId } from "../ids";
import { isResync, ResyncRequiredRef, tooSlow } from "../resync";
import { isLineCursor, MAX_LINE } from "../validation";

// A run's stored events: the Event node (Run.events is in ./run.ts) and runEvents, which replays stored events
// after the client's cursor, then continues live, with no gap and no duplicate at the seam: we subscribe before
// replaying, and every batch (replayed or live) is read from the database by line number, so the bus only says
// "there is more", never what it is.

export const EventRef = builder.prismaNode("Event", {
  id: { field: "id" },
  description: "One line of the run's events.jsonl, stored exactly once",
  fields: (t) => ({
    line: t.exposeInt("line", { description: "1-based line number in events.jsonl (the v1 sequence value)" }),
    timestamp: t.expose("timestamp", { type: "DateTime" }),
    name: t.exposeString("name"),
    role: t.exposeString("role", { nullable: true }),
    status: t.exposeString("status", { nullable: true }),
    message: t.exposeString("message", { nullable: true }),
    runtimeRunId: t.exposeString("runtimeRunId", { nullable: true }),
    iteration: t.exposeInt("iteration", { nullable: true }),
    payload: t.field({ type: "JSON", nullable: true, description: "The line's `data` object", resolve: (e) => payloadOf(e) }),
    raw: t.field({ type: "JSON", description: "The original line, parsed (keys in the line's order)", resolve: (e) => rawObject(e) }),
    rawLine: t.string({
      description: "The original line exactly as events.jsonl holds it (without the newline): byte-exact, for forensics and diffs",
      resolve: (e) => originalLine(e),
    }),
  }),
});

interface RunEventsBatch {
  events: Event[];
  cursor: string;
  hasMore: boolean;
}

const RunEventsBatchRef = builder.objectRef<RunEventsBatch>("RunEventsBatch").implement({
  fields: (t) => ({
    events: t.field({ type: [EventRef], resolve: (b) => b.events }),
    cursor: t.exposeString("cursor", { description: "Line number of the last event delivered so far; pass it as `after` to resume" }),
    hasMore: t.exposeBoolean("hasMore", { description: "More stored events follow at once (replay in progress)" }),
  }),
});

const RunEventsUpdateRef = builder.unionType("RunEventsUpdate", {
  description: "A batch of events, or how the subscription ended: ResyncRequired (resubscribe with `after: lastCursor`) or NotFound",
  types: [RunEventsBatchRef, ResyncRequiredRef, NotFoundRef],
  resolveType: (v) => (v instanceof NotFoundError ? NotFoundRef : isResync(v) ? ResyncRequiredRef : RunEventsBatchRef),
});

const CHUNK = 500;

builder.subscriptionFields((t) => ({
  runEvents: t.field({
    type: RunEventsUpdateRef,
    description: 'Stored events after `after` (a line number; null = from the start; "HEAD" = live only), then live ones',
    args: {
      runId: t.arg.id({ required: true }),
      after: t.arg.string({ required: false }),
    },
    subscribe: async function* (_root, args, ctx) {
      // Checked here, not by the zod plugin: a subscription has no error union, and a thrown ZodError is masked.
      if (args.after != null && args.after !== "HEAD" && !isLineCursor(args.after)) {
        throw createGraphQLError(`after must be a line number (at most ${MAX_LINE}) or "HEAD"`, { extensions: { code: "BAD_USER_INPUT" } });
      }
      const runId = localId(String(args.runId), "Run");
      const run = runId ? await ctx.app.db.run.findUnique({ where: { id: runId }, select: { id: true } }) : null;
      if (!run) {
        yield new NotFoundError("Run", String(args.runId));
        return;
      }
      const sub = hold(ctx, ctx.app.bus.subscribe("events", run.id, 256));
      // Someone watches this run's feed: its Sprite is kept awake until the subscription ends (src/ingest/watchers.ts).
      const watching = ctx.app.watchers ? hold(ctx, ctx.app.watchers.watch(run.id)) : null;
      try {
        let last: number;
        if (args.after === "HEAD") {
          const current = await ctx.app.db.run.findUniqueOrThrow({ where: { id: run.id }, select: { cursorLine: true } });
          last = current.cursorLine;
        } else {
          last = args.after ? Number(args.after) : 0;
        }
        const readFrom = (from: number, upTo: number | null) =>
          ctx.app.db.event.findMany({
            where: { runId: run.id, line: upTo === null ? { gt: from } : { gt: from, lte: upTo } },
            orderBy: { line: "asc" },
            take: CHUNK + 1,
          });
        // Replay: chunks of stored events until caught up.
        for (;;) {
          const rows = await readFrom(last, null);
          if (rows.length === 0) break;
          const batch = rows.slice(0, CHUNK);
          last = batch[batch.length - 1].line;
          yield { events: batch, cursor: String(last), hasMore: rows.length > CHUNK };
          if (rows.length <= CHUNK) break;
        }
        // Live: each notice means "lines up to toLine are committed".
        for await (const d of sub) {
          if (d.kind === "overflow" || (ctx.outboundBytes?.() ?? 0) > MAX_OUTBOUND_BYTES) {
            subscriptionOverflows.inc({ subscription: "runEvents" });
            yield tooSlow({ lastCursor: String(last) });
            return;
          }
          const upTo = d.message.toLine;
          while (last < upTo) {
            const rows = await readFrom(last, upTo);
            if (rows.length === 0) break;
            const batch = rows.slice(0, CHUNK);
            last = batch[batch.length - 1].line;
            yield { events: batch, cursor: String(last), hasMore: last < upTo };
          }
        }
      } finally {
        sub.close();
        watching?.close();
      }
    },
    resolve: (batch) => batch,
  }),
}));
