import { builder } from "../builder";
import { NotFoundError } from "../errors";
import { ControlModeEnum, SpriteStatusEnum, TransportKindEnum } from "./enums";

export const SpriteRef = builder.prismaNode("Sprite", {
  id: { field: "id" },
  description: "A Fly.io Sprite (or this machine, for the LOCAL transport) hosting loop runs",
  fields: (t) => ({
    name: t.exposeString("name"),
    transport: t.expose("transport", { type: TransportKindEnum }),
    status: t.expose("status", { type: SpriteStatusEnum, description: "Sprite runtime status as last observed" }),
    lastSeenAt: t.expose("lastSeenAt", { type: "DateTime", nullable: true }),
    controlMode: t.expose("controlMode", { type: ControlModeEnum }),
    healthProfile: t.exposeString("healthProfile"),
    pollIntervalMs: t.exposeInt("pollIntervalMs", { nullable: true }),
    maxConcurrentRuns: t.exposeInt("maxConcurrentRuns"),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    /** One loop run per Sprite is the default policy: this is that run (the most recent, when several). */
    run: t.prismaField({
      type: "Run",
      nullable: true,
      resolve: (query, sprite, _args, ctx) =>
        ctx.app.db.run.findFirst({ ...query, where: { spriteId: sprite.id, removedAt: null }, orderBy: { createdAt: "desc" } }),
    }),
    runs: t.relatedConnection("runs", { cursor: "id", query: { where: { removedAt: null }, orderBy: { createdAt: "asc" } } }),
  }),
});

builder.queryFields((t) => ({
  sprites: t.prismaConnection({
    type: "Sprite",
    cursor: "id",
    resolve: (query, _root, _args, ctx) => ctx.app.db.sprite.findMany({ ...query, orderBy: { name: "asc" } }),
  }),
  sprite: t.prismaField({
    type: "Sprite",
    errors: { types: [NotFoundError] },
    args: { name: t.arg.string({ required: true }) },
    resolve: async (query, _root, { name }, ctx) => {
      const sprite = await ctx.app.db.sprite.findUnique({ ...query, where: { name } });
      if (!sprite) throw new NotFoundError("Sprite", name);
      return sprite;
    },
  }),
}));
