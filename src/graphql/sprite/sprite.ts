import type { Prisma } from "../../generated/prisma/client";
import { rollUpHealth, type Health, type HealthReason } from "../../lifecycle/health";
import { parseTransportConfig } from "../../transports/config";
import { builder } from "../builder";
import { NotFoundError } from "../../errors";
import { ControlModeEnum, SpriteStatusEnum, TransportKindEnum } from "../enums";
import { HealthRef } from "../run/status";

const configOf = (json: unknown) => {
  const parsed = parseTransportConfig(json);
  return parsed.ok ? parsed.config : {};
};

export const SpriteRef = builder.prismaNode("Sprite", {
  id: { field: "id" },
  description: "A Fly.io Sprite (or this machine, for the LOCAL transport) hosting loop runs",
  fields: (t) => ({
    name: t.exposeString("name"),
    transport: t.expose("transport", { type: TransportKindEnum }),
    status: t.expose("status", { type: SpriteStatusEnum, description: "Sprite runtime status as last observed" }),
    lastSeenAt: t.expose("lastSeenAt", { type: "DateTime", nullable: true, description: "Last time the Sprite answered (any status but UNREACHABLE/MISSING)" }),
    controlMode: t.expose("controlMode", { type: ControlModeEnum }),
    healthProfile: t.exposeString("healthProfile", { description: "strict | balanced | relaxed, or default = OPS_HEALTH_PROFILE" }),
    healthOverrides: t.field({ type: "JSON", nullable: true, resolve: (s) => configOf(s.transportConfig).healthOverrides ?? null }),
    pollIntervalMs: t.exposeInt("pollIntervalMs", { nullable: true }),
    maxConcurrentRuns: t.exposeInt("maxConcurrentRuns"),
    agentUrl: t.string({ nullable: true, description: "SPRITE_SERVICE agent URL", resolve: (s) => configOf(s.transportConfig).agentUrl ?? null }),
    agentTokenEnv: t.string({ nullable: true, description: "Name of the env var holding the agent token (never the token)", resolve: (s) => configOf(s.transportConfig).agentTokenEnv ?? null }),
    spritesApiName: t.string({ nullable: true, resolve: (s) => (s.transport === "SPRITES_API" ? (configOf(s.transportConfig).spritesApiName ?? s.name) : null) }),
    spritesApiTokenEnv: t.string({ nullable: true, description: "Name of the env var holding the Sprites API token", resolve: (s) => configOf(s.transportConfig).spritesApiTokenEnv ?? null }),
    demo: t.exposeBoolean("demo", { description: "A demo Sprite (npm start -- --demo): simulated runs, controls run the built-in simulator" }),
    awakeByManagerSeconds: t.exposeFloat("awakeByManagerSeconds", {
      description:
        "Estimated seconds this manager kept the Sprite awake (billed): each fs/exec request (SPRITES_API) or agent request (SPRITE_SERVICE, long polls included) counts as ~30 s of activity, overlaps once",
    }),
    labels: t.exposeStringList("labels", { description: "Labels from the Sprites API, as last observed (empty for other transports)" }),
    removedAt: t.expose("removedAt", { type: "DateTime", nullable: true }),
    createdAt: t.expose("createdAt", { type: "DateTime" }),
    health: t.field({
      type: HealthRef,
      description: "Roll-up of its runs' health: one reason per code, worst severity, earliest since",
      resolve: async (sprite, _args, ctx) => {
        const runs = await ctx.app.db.run.findMany({ where: { spriteId: sprite.id, removedAt: null }, select: { health: true, healthReasons: true } });
        const rolled = rollUpHealth(runs.map((r): Health => ({ status: r.health, reasons: (Array.isArray(r.healthReasons) ? r.healthReasons : []) as unknown as HealthReason[] })));
        return { status: rolled.status, reasons: rolled.reasons.map((r) => ({ ...r, since: new Date(r.since) })) };
      },
    }),
    /** One loop run per Sprite is the default policy: this is that run (the most recent, when several). */
    run: t.prismaField({
      type: "Run",
      nullable: true,
      resolve: (query, sprite, _args, ctx) => ctx.app.db.run.findFirst({ ...query, where: { spriteId: sprite.id, removedAt: null }, orderBy: { createdAt: "desc" } }),
    }),
    runs: t.relatedConnection("runs", { cursor: "id", query: { where: { removedAt: null }, orderBy: { createdAt: "asc" } } }),
  }),
});

builder.queryFields((t) => ({
  sprites: t.prismaConnection({
    type: "Sprite",
    cursor: "id",
    args: { includeRemoved: t.arg.boolean({ required: false, defaultValue: false }) },
    resolve: (query, _root, { includeRemoved }, ctx) => {
      const where: Prisma.SpriteWhereInput = includeRemoved ? {} : { removedAt: null };
      return ctx.app.db.sprite.findMany({ ...query, where, orderBy: { name: "asc" } });
    },
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
