import { builder } from "../builder";
import { LifecycleStateEnum } from "./enums";

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
