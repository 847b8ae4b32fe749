import type pg from "pg";
import { simulate, type ReplayRun, type SimulatedCandidate } from "./replay";
import type { Rule } from "./schema";

// simulatePolicy's reads: every run that existed in the window, with its stored transitions, event ingestion
// times and intent endings (from a week before the window, so an episode that began earlier keeps its key).

type Q = Pick<pg.PoolClient, "query">;
const LOOKBACK_MS = 7 * 24 * 3600_000;

export async function loadReplayRuns(db: Q, from: Date, to: Date, only: readonly string[] | null = null): Promise<ReplayRun[]> {
  const early = new Date(from.getTime() - LOOKBACK_MS);
  const runs = await db.query<{ id: string; loopId: string; spriteName: string; labels: string[]; transport: string }>(
    `SELECT r.id, r."loopId", s.name AS "spriteName", s.labels, s.transport::text AS transport
       FROM "Run" r JOIN "Sprite" s ON s.id = r."spriteId"
      WHERE r."createdAt" <= $2 AND (r."removedAt" IS NULL OR r."removedAt" >= $1) AND ($3::text[] IS NULL OR r.id = ANY($3::text[]))`,
    [from, to, only],
  );
  if (!runs.rows.length) return [];
  const ids = runs.rows.map((r) => r.id);
  const transitions = await db.query<{ runId: string; at: Date; to: string; reason: string; trigger: string }>(
    `SELECT "runId", at, "to"::text AS "to", reason, trigger FROM "LifecycleTransition" WHERE "runId" = ANY($1::text[]) AND at <= $2 ORDER BY "runId", seq, id`,
    [ids, to],
  );
  // the events stored in the window, and the last one stored before it (its timestamp is lastEventAt at `from`)
  const events = await db.query<{ runId: string; ingestedAt: Date; timestamp: Date }>(
    `SELECT e."runId", e."ingestedAt", e.timestamp FROM "Event" e
      WHERE e."runId" = ANY($1::text[]) AND e."ingestedAt" <= $3 AND e."ingestedAt" >= $2
     UNION ALL
     SELECT b."runId", b."ingestedAt", b.timestamp FROM unnest($1::text[]) AS r(id)
       CROSS JOIN LATERAL (SELECT "runId", "ingestedAt", timestamp, line FROM "Event" WHERE "runId" = r.id AND "ingestedAt" < $2 ORDER BY line DESC LIMIT 1) b
     ORDER BY 1, 2`,
    [ids, from, to],
  );
  const intents = await db.query<{ runId: string; id: string; kind: string; stage: string; endedAt: Date | null }>(
    `SELECT "runId", id, kind::text AS kind, stage::text AS stage, "endedAt" FROM "ControlIntent" WHERE "runId" = ANY($1::text[]) AND "endedAt" IS NOT NULL AND "endedAt" <= $3 AND "endedAt" >= $2`,
    [ids, early, to],
  );
  const group = <T extends { runId: string }>(rows: T[]) => {
    const m = new Map<string, T[]>();
    for (const r of rows) {
      let l = m.get(r.runId);
      if (!l) m.set(r.runId, (l = []));
      l.push(r);
    }
    return m;
  };
  const t = group(transitions.rows);
  const e = group(events.rows);
  const i = group(intents.rows);
  return runs.rows.map((r) => ({
    id: r.id,
    loopId: r.loopId,
    spriteName: r.spriteName,
    spriteLabels: r.labels,
    transport: r.transport,
    transitions: t.get(r.id) ?? [],
    events: e.get(r.id) ?? [],
    intents: i.get(r.id) ?? [],
  }));
}

export async function simulatePolicy(db: Q, rules: readonly Rule[], from: Date, to: Date): Promise<SimulatedCandidate[]> {
  return simulate(rules, await loadReplayRuns(db, from, to), from, to);
}
