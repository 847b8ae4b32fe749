import type pg from "pg";
import { alertsConfigSchema, EMPTY_ALERTS_CONFIG, type AlertsConfig } from "./config";
import type { DeliveryRow, EpisodeRow, RunInfo, Signal, SpriteInfo } from "./intake";

// The alert tables, written set-wise (one statement per kind of row per batch) so a burst of conditions
// costs a handful of round trips, not several per alert.

type Q = Pick<pg.PoolClient, "query">;

export const CONFIG_ID = "default";

export async function readAlertsConfig(db: Q): Promise<{ config: AlertsConfig; source: string | null; updatedAt: Date | null }> {
  const res = await db.query<{ config: unknown; source: string; updatedAt: Date }>(`SELECT config, source, "updatedAt" FROM "AlertConfig" WHERE id = $1`, [CONFIG_ID]);
  const row = res.rows[0];
  if (!row) return { config: EMPTY_ALERTS_CONFIG, source: null, updatedAt: null };
  const parsed = alertsConfigSchema.safeParse(row.config);
  // Stored configs were validated when written; one that no longer parses (a newer version's) sends nothing.
  return { config: parsed.success ? parsed.data : EMPTY_ALERTS_CONFIG, source: row.source, updatedAt: row.updatedAt };
}

export async function writeAlertsConfig(db: Q, config: AlertsConfig, source: string): Promise<void> {
  await db.query(
    `INSERT INTO "AlertConfig" (id, config, source, "updatedAt") VALUES ($1, $2::jsonb, $3, now())
     ON CONFLICT (id) DO UPDATE SET config = EXCLUDED.config, source = EXCLUDED.source, "updatedAt" = now()`,
    [CONFIG_ID, JSON.stringify(config), source],
  );
}

export async function insertEpisodes(db: Q, rows: readonly EpisodeRow[]): Promise<void> {
  if (!rows.length) return;
  await db.query(
    `INSERT INTO "AlertEpisode" (id, key, condition, severity, "runId", "spriteId", subject, sinks, "traceId", "openedAt", "lastNotifiedAt", "resolvedAt")
     SELECT x.id, x.key, x.condition, x.severity, x."runId", x."spriteId", x.subject, ARRAY(SELECT jsonb_array_elements_text(x.sinks)), x."traceId",
            x."openedAt", now(), x."resolvedAt"
       FROM jsonb_to_recordset($1::jsonb) AS x(id text, key text, condition text, severity text, "runId" text, "spriteId" text, subject jsonb,
            sinks jsonb, "traceId" text, "openedAt" timestamptz, "resolvedAt" timestamptz)
     ON CONFLICT (key) WHERE "resolvedAt" IS NULL DO NOTHING`,
    [JSON.stringify(rows.map((r) => ({ ...r, openedAt: r.openedAt.toISOString(), resolvedAt: r.resolvedAt?.toISOString() ?? null })))],
  );
}

export async function updateEpisodes(db: Q, rows: readonly EpisodeRow[]): Promise<void> {
  if (!rows.length) return;
  await db.query(
    `UPDATE "AlertEpisode" e SET severity = x.severity, subject = x.subject, sinks = ARRAY(SELECT jsonb_array_elements_text(x.sinks)), "resolvedAt" = x."resolvedAt"
       FROM jsonb_to_recordset($1::jsonb) AS x(id text, severity text, subject jsonb, sinks jsonb, "resolvedAt" timestamptz)
      WHERE e.id = x.id`,
    [JSON.stringify(rows.map((r) => ({ id: r.id, severity: r.severity, subject: r.subject, sinks: r.sinks, resolvedAt: r.resolvedAt?.toISOString() ?? null })))],
  );
}

/**
 * `raisedAt`: the time of the change that raised it (enqueue time for latency and dead-letter age). Rows marked
 * `preclaim` are inserted already claimed (attempt 1 under a `claimMs` window) unless an older delivery for the
 * same dedup key and sink is pending; the claimed ones come back, to be sent at once.
 */
export async function insertDeliveries(db: Q, rows: readonly (DeliveryRow & { raisedAt?: Date; preclaim?: boolean })[], claimMs = 0): Promise<ClaimedDelivery[]> {
  if (!rows.length) return [];
  const res = await db.query<{ id: string; attempts: number; createdAt: Date }>(
    `WITH x AS (
       SELECT e.n, x.*, (x.preclaim AND NOT EXISTS (SELECT 1 FROM "AlertDelivery" o WHERE o.status = 'PENDING' AND o."dedupKey" = x."dedupKey" AND o.sink = x.sink)) AS claim
         FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS e(v, n),
              jsonb_to_record(e.v) AS x(id text, "episodeId" text, sink text, event text, condition text, severity text, "dedupKey" text, "traceId" text,
              payload jsonb, "raisedAt" timestamptz, "nextAttemptAt" timestamptz, preclaim boolean))
     INSERT INTO "AlertDelivery" (id, "episodeId", sink, event, condition, severity, "dedupKey", "traceId", payload, "createdAt", "nextAttemptAt", attempts, "firstAttemptAt")
     SELECT x.id, x."episodeId", x.sink, x.event, x.condition, x.severity, x."dedupKey", x."traceId", x.payload,
            COALESCE(x."raisedAt", clock_timestamp()),
            CASE WHEN x.claim THEN clock_timestamp() + make_interval(secs => $2::double precision / 1000) ELSE x."nextAttemptAt" END,
            CASE WHEN x.claim THEN 1 ELSE 0 END,
            CASE WHEN x.claim THEN clock_timestamp() END
       FROM x ORDER BY x.n
     RETURNING id, attempts, "createdAt"`,
    [JSON.stringify(rows.map((r) => ({ ...r, preclaim: r.preclaim ?? false, raisedAt: r.raisedAt?.toISOString() ?? null, nextAttemptAt: r.nextAttemptAt.toISOString() }))), claimMs],
  );
  // The payloads are at hand: only what the database decided comes back (not every payload, parsed again).
  const byId = new Map(rows.map((r) => [r.id, r]));
  return res.rows
    .filter((r) => r.attempts === 1)
    .map((r) => {
      const row = byId.get(r.id)!;
      return { id: r.id, sink: row.sink, event: row.event, payload: row.payload, attempts: 1, createdAt: r.createdAt, firstAttempt: true };
    });
}

export interface ClaimedDelivery {
  id: string;
  sink: string;
  event: string;
  payload: unknown;
  attempts: number;
  createdAt: Date;
  firstAttempt: boolean;
}

/**
 * Claims due deliveries: each gets `attempts + 1` and a visibility window (nextAttemptAt moved past the send's
 * timeout). A process killed mid-send leaves the row PENDING, so it is sent again once the window passes.
 */
export async function claimDue(db: Q, limit: number, claimMs: number, ids: string[] | null = null): Promise<ClaimedDelivery[]> {
  // Due ones: the bound is the statement's time, not clock_timestamp(): a volatile bound cannot limit the index
  // scan, so every pending delivery (those claimed and in flight too) was read on every claim, even an empty one.
  const which = ids ? `x.id = ANY($3::text[])` : `x."nextAttemptAt" <= statement_timestamp()`;
  const res = await db.query<ClaimedDelivery>(
    `UPDATE "AlertDelivery" d SET attempts = d.attempts + 1, "nextAttemptAt" = clock_timestamp() + make_interval(secs => $2::double precision / 1000),
            "firstAttemptAt" = COALESCE(d."firstAttemptAt", clock_timestamp())
      WHERE d.id IN (
        SELECT x.id FROM "AlertDelivery" x
         WHERE x.status = 'PENDING' AND ${which}
           AND NOT EXISTS (SELECT 1 FROM "AlertDelivery" o WHERE o.status = 'PENDING' AND o."dedupKey" = x."dedupKey" AND o.sink = x.sink AND o.seq < x.seq)
         ORDER BY x."nextAttemptAt" LIMIT $1 FOR UPDATE SKIP LOCKED)
      RETURNING d.id, d.sink, d.event, d.payload, d.attempts, d."createdAt", d.attempts = 1 AS "firstAttempt"`,
    ids ? [limit, claimMs, ids] : [limit, claimMs],
  );
  return res.rows;
}

export interface AttemptResult {
  id: string;
  n: number;
  startedAt: Date;
  latencyMs: number;
  httpStatus: number | null;
  error: string | null;
  outcome: "delivered" | "retry" | "dead";
  /** for retry: when to try again */
  nextAttemptAt: Date | null;
}

export async function recordAttempts(db: Q, results: readonly AttemptResult[]): Promise<void> {
  if (!results.length) return;
  const json = JSON.stringify(results.map((r) => ({ ...r, startedAt: r.startedAt.toISOString(), nextAttemptAt: r.nextAttemptAt?.toISOString() ?? null })));
  await db.query(
    // The attempt is always logged; only a delivery still PENDING takes its outcome (a late answer to a claim that
    // had expired, for a delivery another attempt settled meanwhile, changes nothing else).
    `UPDATE "AlertDelivery" d SET
        status = CASE WHEN d.status = 'PENDING'
                      THEN (CASE x.outcome WHEN 'delivered' THEN 'DELIVERED' WHEN 'dead' THEN 'DEAD' ELSE 'PENDING' END)::"AlertDeliveryStatus" ELSE d.status END,
        "deliveredAt" = CASE WHEN d.status = 'PENDING' AND x.outcome = 'delivered' THEN clock_timestamp() ELSE d."deliveredAt" END,
        "nextAttemptAt" = CASE WHEN d.status = 'PENDING' THEN COALESCE(x."nextAttemptAt", d."nextAttemptAt") ELSE d."nextAttemptAt" END,
        "lastStatus" = CASE WHEN d.status = 'PENDING' THEN x."httpStatus" ELSE d."lastStatus" END,
        "lastError" = CASE WHEN d.status = 'PENDING' THEN x.error ELSE d."lastError" END,
        "attemptLog" = d."attemptLog" || jsonb_build_array(jsonb_build_object('n', x.n, 'startedAt', x."startedAt", 'latencyMs', x."latencyMs",
                                                                              'httpStatus', x."httpStatus", 'error', x.error, 'outcome', x.outcome))
       FROM jsonb_to_recordset($1::jsonb) AS x(id text, n int, "startedAt" timestamptz, "latencyMs" int, "httpStatus" int, error text, outcome text, "nextAttemptAt" timestamptz)
      WHERE d.id = x.id`,
    [json],
  );
}

export interface IntakeBatch {
  signals: Signal[];
  runs: (RunInfo & { labels: unknown })[];
  sprites: (SpriteInfo & { labels: unknown })[];
  open: EpisodeRow[];
}

/**
 * BEGIN and everything intake reads, in one round trip (a multi-statement simple query): the next signals (locked,
 * SKIP LOCKED so a second dispatcher never takes the same ones), their runs and Sprites with labels, and the
 * episodes open for them. Round trips are what delay intake while ingest keeps the event loop busy. Runs and
 * episodes are looked up per id of the batch (LATERAL ... OFFSET 0 keeps the planner from hashing every open
 * episode or run instead): a batch costs what it holds, not what the tables hold.
 */
export async function beginIntakeBatch(db: Q, limit: number): Promise<IntakeBatch> {
  const n = Math.max(1, Math.floor(limit));
  const results = (await db.query(`BEGIN;
    WITH sig AS MATERIALIZED (SELECT id, subject, "runId", "spriteId", snapshot, at FROM "AlertSignal" ORDER BY id LIMIT ${n} FOR UPDATE SKIP LOCKED),
         rid AS MATERIALIZED (SELECT DISTINCT "runId" AS id FROM sig WHERE "runId" IS NOT NULL),
         sid AS MATERIALIZED (SELECT DISTINCT "spriteId" AS id FROM sig WHERE "spriteId" IS NOT NULL AND subject IN ('sprite', 'policy'))
    SELECT
      (SELECT COALESCE(json_agg(json_build_object('id', id::text, 'subject', subject, 'runId', "runId", 'spriteId', "spriteId", 'snapshot', snapshot, 'at', at) ORDER BY id), '[]') FROM sig) AS signals,
      (SELECT COALESCE(json_agg(json_build_object('id', r.id, 'loopId', r."loopId", 'repoPath', r."repoPath", 'spriteId', s.id, 'spriteName', s.name, 'labels', to_jsonb(s.labels))), '[]')
         FROM rid CROSS JOIN LATERAL (SELECT * FROM "Run" WHERE id = rid.id OFFSET 0) r JOIN "Sprite" s ON s.id = r."spriteId") AS runs,
      (SELECT COALESCE(json_agg(json_build_object('id', s.id, 'name', s.name, 'labels', to_jsonb(s.labels))), '[]') FROM sid JOIN "Sprite" s ON s.id = sid.id) AS sprites,
      (SELECT COALESCE(json_agg(to_jsonb(e)), '[]') FROM (
         SELECT x.* FROM rid CROSS JOIN LATERAL (
           SELECT id, key, condition, severity, "runId", "spriteId", subject, sinks, "traceId", "openedAt", "resolvedAt" FROM "AlertEpisode"
            WHERE "runId" = rid.id AND "resolvedAt" IS NULL AND (key LIKE 'run:%' OR key LIKE 'intent:%') OFFSET 0) x
         UNION ALL
         SELECT x.* FROM sid CROSS JOIN LATERAL (
           SELECT id, key, condition, severity, "runId", "spriteId", subject, sinks, "traceId", "openedAt", "resolvedAt" FROM "AlertEpisode"
            WHERE "spriteId" = sid.id AND "resolvedAt" IS NULL AND key LIKE 'sprite:%' OFFSET 0) x) e) AS open`)) as unknown as pg.QueryResult[];
  const row = results[1].rows[0] as {
    signals: (Omit<Signal, "at"> & { at: string })[];
    runs: IntakeBatch["runs"];
    sprites: IntakeBatch["sprites"];
    open: (Omit<EpisodeRow, "openedAt" | "resolvedAt"> & { openedAt: string; resolvedAt: string | null })[];
  };
  return {
    signals: row.signals.map((s) => ({ ...s, at: new Date(s.at) })),
    runs: row.runs,
    sprites: row.sprites,
    open: row.open.map((e) => ({ ...e, openedAt: new Date(e.openedAt), resolvedAt: e.resolvedAt === null ? null : new Date(e.resolvedAt) })),
  };
}

/** Removes the consumed signals and commits, in one round trip. Ids are the outbox's bigint keys. */
export async function consumeSignalsAndCommit(db: Q, ids: readonly string[]): Promise<void> {
  const safe = ids.filter((id) => /^\d+$/.test(id));
  await db.query(safe.length ? `DELETE FROM "AlertSignal" WHERE id IN (${safe.join(",")}); COMMIT` : "COMMIT");
}
