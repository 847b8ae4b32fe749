import { fleetCounts, type FleetCounts } from "../runs/fleet-counts";
import { builder } from "./builder";
import { HealthStatusEnum, LifecycleStateEnum, SpriteStatusEnum, TransportKindEnum } from "./enums";

// "How is the fleet doing?" in one query: counts of observed (not removed) runs and Sprites, by lifecycle
// state, health, transport and Sprite status, computed with grouped counts in the database (src/runs/fleet-counts.ts).

type Fleet = FleetCounts;

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
    resolve: (_root, _args, ctx) => fleetCounts(ctx.app.pool),
  }),
}));
