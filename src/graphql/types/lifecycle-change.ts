import type { RunChanged } from "../../pubsub/topics";
import { NotFoundError } from "../../errors";
import { builder } from "../builder";
import { NotFoundRef } from "../errors";
import { isResync, ResyncRequiredRef } from "./resync";
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

export const RunLifecycleUpdateRef = builder.unionType("RunLifecycleUpdate", {
  types: [RunLifecycleChangeRef, ResyncRequiredRef, NotFoundRef],
  resolveType: (v) => (v instanceof NotFoundError ? NotFoundRef : isResync(v) ? ResyncRequiredRef : RunLifecycleChangeRef),
});

void RunRef;
