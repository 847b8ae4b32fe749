import { builder } from "../builder";

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
    payload: t.expose("payload", { type: "JSON", nullable: true, description: "The line's `data` object" }),
    raw: t.expose("raw", { type: "JSON", description: "The original line, parsed" }),
  }),
});
