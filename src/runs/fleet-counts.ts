import type pg from "pg";
import type { HealthStatus, LifecycleState, SpriteStatus, TransportKind } from "../generated/prisma/enums";

// The fleet's counts (GraphQL `fleet`) in two grouped statements on the driver's pool, run together: runs by
// state x health x transport x intervention, Sprites by transport x status. Seven Prisma queries did the same
// and each cost more in Prisma's query compiler than in the database (bench:query).

export interface FleetCounts {
  sprites: number;
  runs: number;
  needsIntervention: number;
  byState: { state: LifecycleState; count: number }[];
  byHealth: { status: HealthStatus; count: number }[];
  byTransport: { transport: TransportKind; sprites: number; runs: number }[];
  bySpriteStatus: { status: SpriteStatus; count: number }[];
}

function add<K>(m: Map<K, number>, k: K, n: number): void {
  m.set(k, (m.get(k) ?? 0) + n);
}

const sorted = <K extends string>(m: Map<K, number>): [K, number][] => [...m].sort((a, b) => (a[0] < b[0] ? -1 : 1));

/** Counts of the observed (not removed) runs and Sprites; a run counts for a transport only if its Sprite is observed. */
export async function fleetCounts(pool: pg.Pool): Promise<FleetCounts> {
  const [runs, sprites] = await Promise.all([
    pool.query<{ state: LifecycleState; health: HealthStatus; transport: TransportKind | null; intervention: boolean; n: number }>(
      `SELECT r.state::text AS state, r.health::text AS health, CASE WHEN s."removedAt" IS NULL THEN s.transport::text END AS transport,
              r."needsIntervention" AS intervention, count(*)::int AS n
         FROM "Run" r LEFT JOIN "Sprite" s ON s.id = r."spriteId"
        WHERE r."removedAt" IS NULL
        GROUP BY 1, 2, 3, 4`,
    ),
    pool.query<{ transport: TransportKind; status: SpriteStatus; n: number }>(
      `SELECT transport::text AS transport, status::text AS status, count(*)::int AS n FROM "Sprite" WHERE "removedAt" IS NULL GROUP BY 1, 2`,
    ),
  ]);
  const byState = new Map<LifecycleState, number>();
  const byHealth = new Map<HealthStatus, number>();
  const runsByTransport = new Map<TransportKind, number>();
  let total = 0;
  let needsIntervention = 0;
  for (const r of runs.rows) {
    total += r.n;
    add(byState, r.state, r.n);
    add(byHealth, r.health, r.n);
    if (r.transport) add(runsByTransport, r.transport, r.n);
    if (r.intervention) needsIntervention += r.n;
  }
  const spritesByTransport = new Map<TransportKind, number>();
  const byStatus = new Map<SpriteStatus, number>();
  let spriteTotal = 0;
  for (const s of sprites.rows) {
    spriteTotal += s.n;
    add(spritesByTransport, s.transport, s.n);
    add(byStatus, s.status, s.n);
  }
  return {
    sprites: spriteTotal,
    runs: total,
    needsIntervention,
    byState: sorted(byState).map(([state, count]) => ({ state, count })),
    byHealth: sorted(byHealth).map(([status, count]) => ({ status, count })),
    byTransport: sorted(spritesByTransport).map(([transport, n]) => ({ transport, sprites: n, runs: runsByTransport.get(transport) ?? 0 })),
    bySpriteStatus: sorted(byStatus).map(([status, count]) => ({ status, count })),
  };
}
