import { createGraphQLError } from "graphql-yoga";
import { resolveCursorConnection, type ResolveCursorConnectionArgs } from "@pothos/plugin-relay";
import { builder } from "../builder";
import { NotFoundError } from "../../errors";
import { localId } from "../ids";
import { LifecycleStateEnum } from "../enums";
import { EventRef } from "./events";
import { readEventPage } from "../../events/page";
import { divergenceOf, DivergenceRef, healthOf, HealthRef, ingestOf, IngestInfoRef } from "./status";
import { isLineCursor, MAX_LINE } from "../validation";
import { readRunPage, readRunsById, selectsSprite } from "../../runs/run-reads";

export const RunRef = builder.prismaNode("Run", {
  id: { field: "id" },
  description: "A managed loop run: one Superloop loop in one repo on one Sprite, with its projected lifecycle",
  fields: (t) => ({
    loopId: t.exposeString("loopId"),
    repoPath: t.exposeString("repoPath"),
    state: t.expose("state", { type: LifecycleStateEnum }),
    stateReason: t.exposeString("stateReason", { description: "Machine-readable reason for the state (docs/lifecycle.md)" }),
    stateSince: t.expose("stateSince", { type: "DateTime" }),
    runtimeRunId: t.exposeString("runtimeRunId", { nullable: true, description: "Superloop's run id of the latest loop_start" }),
    iteration: t.exposeInt("iteration", { nullable: true }),
    lastEventName: t.exposeString("lastEventName", { nullable: true }),
    lastEventAt: t.expose("lastEventAt", { type: "DateTime", nullable: true }),
    seq: t.exposeInt("seq", { description: "Monotonic change counter of this run" }),
    sprite: t.relation("sprite"),
    health: t.field({ type: HealthRef, resolve: healthOf }),
    divergence: t.field({ type: DivergenceRef, resolve: divergenceOf }),
    ingest: t.field({ type: IngestInfoRef, resolve: ingestOf }),
    approval: t.expose("approval", { type: "JSON", nullable: true, description: "approval.json as last seen (status, run_id, iteration, requested_at)" }),
    gates: t.expose("gates", { type: "JSON", nullable: true, description: "Gates of the last run-summary entry" }),
    stuck: t.expose("stuck", { type: "JSON", nullable: true, description: "{streak, threshold} of the last run-summary entry" }),
    transitions: t.relatedConnection("transitions", { cursor: "id", query: { orderBy: { seq: "asc" } }, description: "Lifecycle history, oldest first" }),
    events: t.connection(
      {
        type: EventRef,
        description: 'Stored events ordered by line; cursors are line numbers, so `after: "120"` starts at line 121',
        resolve: (run, args, ctx) =>
          resolveCursorConnection({ args, toCursor: (e) => String(e.line), defaultSize: 50, maxSize: 500 }, ({ before, after, limit, inverted }: ResolveCursorConnectionArgs) =>
            readEventPage(ctx.app.pool, {
              runId: run.id,
              after: after ? parseLineCursor(after) : null,
              before: before ? parseLineCursor(before) : null,
              limit,
              descending: inverted,
            }),
          ),
      },
      { name: "RunEventsConnection" },
      { name: "RunEventsEdge" },
    ),
  }),
});

function parseLineCursor(cursor: string): number {
  // A GraphQLError is shown to the client as is; a plain Error would be masked as "Unexpected error".
  if (!isLineCursor(cursor)) {
    throw createGraphQLError(`invalid event cursor "${cursor.slice(0, 40)}": expected a line number (at most ${MAX_LINE})`, { extensions: { code: "BAD_USER_INPUT" } });
  }
  return Number(cursor);
}

const RunFilter = builder.inputType("RunFilter", {
  fields: (t) => ({
    state: t.field({ type: [LifecycleStateEnum], required: false, description: "Any of these states" }),
    sprite: t.string({ required: false, description: "Sprite name" }),
    needsIntervention: t.boolean({ required: false }),
  }),
});

builder.queryFields((t) => ({
  runs: t.prismaConnection({
    type: "Run",
    cursor: "id",
    args: { filter: t.arg({ type: RunFilter, required: false }) },
    // Plain SQL with Prisma's cursor semantics (src/runs/run-reads.ts): Pothos still builds the page around it.
    resolve: (query, _root, { filter }, ctx) => readRunPage(ctx.app.pool, { filter, take: query.take, skip: query.skip, cursorId: query.cursor?.id ?? null, withSprite: selectsSprite(query) }),
  }),
  run: t.prismaField({
    type: "Run",
    errors: { types: [NotFoundError] },
    args: { id: t.arg.id({ required: true, description: "Relay id or raw run id" }) },
    resolve: async (query, _root, { id }, ctx) => {
      const raw = localId(String(id), "Run");
      const run = raw ? (await readRunsById(ctx.app.pool, [raw], selectsSprite(query))).get(raw) : null;
      if (!run) throw new NotFoundError("Run", String(id));
      return run;
    },
  }),
}));
