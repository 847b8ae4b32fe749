import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TransportKind } from "../../src/generated/prisma/enums";
import { fleetCounts } from "../../src/runs/fleet-counts";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { startTestServer } from "../support/server";

// The fleet's counts come from two grouped SQL statements (src/runs/fleet-counts.ts). They must equal the
// counts Prisma's grouped queries gave before (the reference below, kept as the specification): removed runs and
// Sprites not counted, a run of a removed Sprite counted by state and health but not by transport.

let server: RunningServer;
beforeAll(async () => {
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "3600000" });
  const pool = server.app.pool;
  await pool.query(
    `INSERT INTO "Sprite" (id, name, transport, status, "removedAt", "updatedAt")
     SELECT 'fc-s' || g, 'fc-sprite-' || g, (ARRAY['LOCAL','SPRITE_SERVICE','SPRITES_API'])[1 + g % 3]::"TransportKind",
            (ARRAY['COLD','WARM','RUNNING','UNREACHABLE'])[1 + g % 4]::"SpriteStatus", CASE WHEN g = 7 THEN now() END, now()
       FROM generate_series(1, 12) g`,
  );
  await pool.query(
    `INSERT INTO "Run" (id, "spriteId", "loopId", "repoPath", state, "stateReason", health, "healthReasons", "needsIntervention", "removedAt", "updatedAt")
     SELECT 'fc-r' || g, 'fc-s' || (1 + g % 12), 'loop-' || g, '/srv/fc/' || g,
            (ARRAY['RUNNING','COMPLETE','STOPPED','FAILED','AWAITING_APPROVAL','IDLE'])[1 + g % 6]::"LifecycleState", 'test',
            (ARRAY['HEALTHY','DEGRADED','CRITICAL'])[1 + g % 3]::"HealthStatus", '[]'::jsonb, g % 4 = 0, CASE WHEN g % 9 = 0 THEN now() END, now()
       FROM generate_series(1, 90) g`,
  );
});
afterAll(() => server?.close());

/** The counts as Prisma's grouped queries computed them (the resolver before the SQL). */
async function reference() {
  const db = server.app.db;
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
  const by = <T extends string>(a: T, b: T) => (a < b ? -1 : 1);
  return {
    sprites: spritesByTransport.reduce((n, s) => n + s._count._all, 0),
    runs: byState.reduce((n, s) => n + s._count._all, 0),
    needsIntervention,
    byState: byState.map((s) => ({ state: s.state, count: s._count._all })).sort((a, b) => by(a.state, b.state)),
    byHealth: byHealth.map((s) => ({ status: s.health, count: s._count._all })).sort((a, b) => by(a.status, b.status)),
    byTransport: spritesByTransport.map((s) => ({ transport: s.transport, sprites: s._count._all, runs: runsPerTransport.get(s.transport) ?? 0 })).sort((a, b) => by(a.transport, b.transport)),
    bySpriteStatus: bySpriteStatus.map((s) => ({ status: s.status, count: s._count._all })).sort((a, b) => by(a.status, b.status)),
  };
}

describe("fleet counts", () => {
  it("equal the grouped Prisma counts, removed runs and Sprites left out", async () => {
    const counts = await fleetCounts(server.app.pool);
    expect(counts).toEqual(await reference());
    expect(counts.runs).toBe(80); // 90 runs, 10 removed
    const removedSpriteRuns = (await server.app.pool.query(`SELECT count(*)::int n FROM "Run" WHERE "spriteId" = 'fc-s7' AND "removedAt" IS NULL`)).rows[0].n as number;
    expect(counts.byTransport.reduce((n, t) => n + t.runs, 0)).toBe(80 - removedSpriteRuns);
  });

  it("the GraphQL fleet query answers them", async () => {
    const r = await gql(server.url, `{ fleet { sprites runs needsIntervention byState { state count } byTransport { transport sprites runs } } }`);
    const counts = await fleetCounts(server.app.pool);
    expect(r.data!.fleet).toEqual({
      sprites: counts.sprites,
      runs: counts.runs,
      needsIntervention: counts.needsIntervention,
      byState: counts.byState,
      byTransport: counts.byTransport,
    });
  });
});
