import type { HealthStatus, LifecycleState, SpriteStatus, TransportKind } from "../generated/prisma/enums";
import { builder } from "./builder";
import { HealthStatusEnum, LifecycleStateEnum, SpriteStatusEnum, TransportKindEnum } from "./enums";

// "How is the fleet doing?" in one query: counts of observed (not removed) runs and Sprites, by lifecycle
// state, health, transport and Sprite status, computed with grouped counts in the database.

interface Fleet {
  sprites: number;
  runs: number;
  needsIntervention: number;
  byState: { state: LifecycleState; count: number }[];
  byHealth: { status: HealthStatus; count: number }[];
  byTransport: { transport: TransportKind; sprites: number; runs: number }[];
  bySpriteStatus: { status: SpriteStatus; count: number }[];
}

const StateCount = builder.simpleObject("FleetStateCount", { fields: (t) => ({ state: t.field({ type: LifecycleStateEnum }), count: t.int() }) });
const HealthCount = builder.simpleObject("FleetHealthCount", { fields: (t) => ({ status: t.field({ type: HealthStatusEnum }), count: t.int() }) });
const TransportCount = builder.simpleObject("FleetTransportCount", {
  fields: (t) => ({ transport: t.field({ type: TransportKindEnum }), sprites: t.int(), runs: t.int() }),
});
const SpriteStatusCount = builder.simpleObject("FleetSpriteStatusCount", { fields: (t) => ({ status: t.field({ type: SpriteStatusEnum }), count: t.int() }) });

const FleetRef = builder.objectRef<Fleet>("Fleet").implement({
  fields: (t) => ({
    sprites: t.exposeInt("sprites"),
    runs: t.exposeInt("runs"),
    needsIntervention: t.exposeInt("needsIntervention", { description: "Runs in the interventions queue" }),
    byState: t.field({ type: [StateCount], description: "Runs per lifecycle state (zero counts omitted)", resolve: (f) => f.byState }),
    byHealth: t.field({ type: [HealthCount], description: "Runs per health status", resolve: (f) => f.byHealth }),
    byTransport: t.field({ type: [TransportCount], description: "Sprites and runs per transport", resolve: (f) => f.byTransport }),
    bySpriteStatus: t.field({ type: [SpriteStatusCount], description: "Sprites per last observed status", resolve: (f) => f.bySpriteStatus }),
  }),
});

builder.queryFields((t) => ({
  fleet: t.field({
    type: FleetRef,
    description: "Counts of the observed fleet by lifecycle state, health, transport and Sprite status",
    resolve: async (_root, _args, ctx) => {
      const db = ctx.app.db;
      const live = { removedAt: null };
      const [byState, byHealth, spritesByTransport, runsBySprite, bySpriteStatus, needsIntervention] = await Promise.all([
        db.run.groupBy({ by: ["state"], where: live, _count: { _all: true } }),
        db.run.groupBy({ by: ["health"], where: live, _count: { _all: true } }),
        db.sprite.groupBy({ by: ["transport"], where: live, _count: { _all: true } }),
        db.run.groupBy({ by: ["spriteId"], where: live, _count: { _all: true } }),
        db.sprite.groupBy({ by: ["status"], where: live, _count: { _all: true } }),
        db.run.count({ where: { ...live, needsIntervention: true } }),
      ]);
      const transportOf = new Map((await db.sprite.findMany({ where: live, select: { id: true, transport: true } })).map((s) => [s.id, s.transport]));
      const runsPerTransport = new Map<TransportKind, number>();
      for (const r of runsBySprite) {
        const transport = transportOf.get(r.spriteId);
        if (transport) runsPerTransport.set(transport, (runsPerTransport.get(transport) ?? 0) + r._count._all);
      }
      return {
        sprites: spritesByTransport.reduce((n, s) => n + s._count._all, 0),
        runs: byState.reduce((n, s) => n + s._count._all, 0),
        needsIntervention,
        byState: byState.map((s) => ({ state: s.state, count: s._count._all })).sort((a, b) => (a.state < b.state ? -1 : 1)),
        byHealth: byHealth.map((s) => ({ status: s.health, count: s._count._all })).sort((a, b) => (a.status < b.status ? -1 : 1)),
        byTransport: spritesByTransport
          .map((s) => ({ transport: s.transport, sprites: s._count._all, runs: runsPerTransport.get(s.transport) ?? 0 }))
          .sort((a, b) => (a.transport < b.transport ? -1 : 1)),
        bySpriteStatus: bySpriteStatus.map((s) => ({ status: s.status, count: s._count._all })).sort((a, b) => (a.status < b.status ? -1 : 1)),
      };
    },
  }),
}));
