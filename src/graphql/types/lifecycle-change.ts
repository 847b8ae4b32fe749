import type { RunChanged } from "../../pubsub/topics";
import { builder } from "../builder";
import { LifecycleStateEnum } from "./enums";
import { RunRef } from "./run";

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

export interface Resync {
  resyncRequired: true;
  reason: string;
  lastSeq: number | null;
  lastCursor: string | null;
}

export const ResyncRequiredRef = builder.objectRef<Resync>("ResyncRequired").implement({
  description:
    "The subscriber fell too far behind; the server dropped its buffer and ends the subscription. Re-read current state with a query, then subscribe again from the last cursor.",
  fields: (t) => ({
    resyncRequired: t.boolean({ resolve: () => true }),
    reason: t.exposeString("reason"),
    lastSeq: t.exposeInt("lastSeq", { nullable: true }),
    lastCursor: t.exposeString("lastCursor", { nullable: true }),
  }),
});

export const RunLifecycleUpdateRef = builder.unionType("RunLifecycleUpdate", {
  types: [RunLifecycleChangeRef, ResyncRequiredRef],
  resolveType: (v) => ("resyncRequired" in v ? ResyncRequiredRef : RunLifecycleChangeRef),
});

void RunRef;
