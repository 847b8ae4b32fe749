import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { RunView } from "./conditions";
import type { AutoExecution, Reason } from "./eligibility";

// The candidate rows and the reads the engine needs (run views, automatic executions, intents per run). One
// row per rule, run and condition episode; `status` moves open → executing → executed (or suppressed, or ended
// when the condition no longer holds). Executing is a claim: UPDATE ... WHERE status = 'open'.

type Q = Pick<pg.PoolClient, "query">;

export interface Upsert {
  ruleId: string;
  runId: string;
  episodeKey: string;
  condition: string;
  action: string;
  severity: string;
  since: Date;
  detail: string;
  policyVersion: number;
  eligible: boolean;
  reasons: Reason[];
}

/** A stored candidate: what the engine upserts plus its lifecycle. */
export interface CandidateRow extends Upsert {
  id: string;
  status: "open" | "executing" | "executed" | "suppressed" | "ended";
  firstSeenAt: Date;
  lastSeenAt: Date;
  endedAt: Date | null;
  intentId: string | null;
  executedBy: string | null;
  executedAuto: boolean;
  executedAt: Date | null;
  executedReplica: string | null;
  suppressedBy: string | null;
  suppressedNote: string | null;
  suppressedUntil: Date | null;
}

const COLUMNS = `id, "ruleId", "runId", "episodeKey", condition, action, severity, since, detail, "policyVersion", eligible, reasons, status, "firstSeenAt", "lastSeenAt",
  "endedAt", "intentId", "executedBy", "executedAuto", "executedAt", "executedReplica", "suppressedBy", "suppressedNote", "suppressedUntil"`;

export async function loadRunViews(db: Q): Promise<RunView[]> {
  const r = await db.query<{
    id: string;
    loopId: string;
    spriteName: string;
    labels: string[];
    transport: string;
    state: string;
    stateReason: string;
    stateSince: Date;
    lastEventAt: Date | null;
    healthReasons: unknown;
    iId: string | null;
    iKind: string | null;
    iStage: string | null;
    iEndedAt: Date | null;
  }>(
    `SELECT r.id, r."loopId", s.name AS "spriteName", s.labels, s.transport::text AS transport, r.state::text AS state, r."stateReason", r."stateSince",
            r."lastEventAt", r."healthReasons", li.id AS "iId", li.kind::text AS "iKind", li.stage::text AS "iStage", li."endedAt" AS "iEndedAt"
       FROM "Run" r JOIN "Sprite" s ON s.id = r."spriteId"
       LEFT JOIN LATERAL (SELECT id, kind, stage, "endedAt" FROM "ControlIntent" WHERE "runId" = r.id AND "endedAt" IS NOT NULL ORDER BY "endedAt" DESC LIMIT 1) li ON true
      WHERE r."removedAt" IS NULL AND s."removedAt" IS NULL`,
  );
  return r.rows.map((x) => ({
    id: x.id,
    loopId: x.loopId,
    spriteName: x.spriteName,
    spriteLabels: x.labels,
    transport: x.transport,
    state: x.state,
    stateReason: x.stateReason,
    stateSince: x.stateSince,
    lastEventAt: x.lastEventAt,
    healthCodes: Array.isArray(x.healthReasons) ? x.healthReasons.map((h: { code?: unknown }) => (typeof h?.code === "string" ? h.code : "")) : [],
    lastIntent: x.iId ? { id: x.iId, kind: x.iKind!, stage: x.iStage!, endedAt: x.iEndedAt } : null,
  }));
}

/** The (state, reason) history of some runs, newest first, as the replay builds it (src/policy/replay.ts). */
export async function loadHistories(db: Q, runIds: readonly string[], limit: number): Promise<Map<string, { at: Date; state: string; reason: string }[]>> {
  const out = new Map<string, { at: Date; state: string; reason: string }[]>();
  if (!runIds.length) return out;
  const r = await db.query<{ runId: string; at: Date; state: string; reason: string }>(
    `SELECT "runId", at, "to"::text AS state, reason FROM "LifecycleTransition"
      WHERE "runId" = ANY($1::text[]) AND trigger <> 'control_mode' ORDER BY "runId", seq DESC, id DESC`,
    [runIds],
  );
  const full = new Set<string>();
  for (const row of r.rows) {
    if (full.has(row.runId)) continue;
    let list = out.get(row.runId);
    if (!list) out.set(row.runId, (list = []));
    const prev = list[list.length - 1];
    // entries that repeat the (state, reason) before them did not change it: the older one is when it began
    if (prev && prev.state === row.state && prev.reason === row.reason) {
      prev.at = row.at;
      continue;
    }
    if (list.length >= limit) full.add(row.runId);
    else list.push({ at: row.at, state: row.state, reason: row.reason });
  }
  return out;
}

/** Automatic executions, newest first, with their intent's stage (for caps, cooldowns and auto-pause). */
export async function loadAutoExecutions(db: Q, limit = 5000): Promise<(AutoExecution & { stage: string | null })[]> {
  const r = await db.query<AutoExecution & { stage: string | null }>(
    `SELECT c."ruleId", c."runId", s.name AS "spriteName", c."executedAt" AS at, i.stage::text AS stage
       FROM "PolicyCandidate" c JOIN "Run" r ON r.id = c."runId" JOIN "Sprite" s ON s.id = r."spriteId"
       LEFT JOIN "ControlIntent" i ON i.id = c."intentId"
      WHERE c."executedAuto" AND c."executedAt" IS NOT NULL AND c.action <> 'ALERT'
      ORDER BY c."executedAt" DESC LIMIT $1`,
    [limit],
  );
  return r.rows;
}

/** Each run's intents, newest first, marked automatic when a policy executed them by itself. */
export async function loadRunIntents(db: Q, runIds: readonly string[]): Promise<Map<string, { auto: boolean; stage: string }[]>> {
  const out = new Map<string, { auto: boolean; stage: string }[]>();
  if (!runIds.length) return out;
  const r = await db.query<{ runId: string; stage: string; auto: boolean }>(
    `SELECT i."runId", i.stage::text AS stage, EXISTS (SELECT 1 FROM "PolicyCandidate" c WHERE c."intentId" = i.id AND c."executedAuto") AS auto
       FROM "ControlIntent" i WHERE i."runId" = ANY($1::text[]) ORDER BY i."requestedAt" DESC`,
    [runIds],
  );
  for (const row of r.rows) {
    let list = out.get(row.runId);
    if (!list) out.set(row.runId, (list = []));
    if (list.length < 20) list.push({ auto: row.auto, stage: row.stage });
  }
  return out;
}

/** Creates or refreshes the candidate of each episode; returns the rows as stored. */
export async function upsertCandidates(db: Q, rows: readonly Upsert[]): Promise<CandidateRow[]> {
  if (!rows.length) return [];
  const r = await db.query<CandidateRow>(
    `INSERT INTO "PolicyCandidate" (id, "ruleId", "runId", "episodeKey", condition, action, severity, since, detail, "policyVersion", eligible, reasons)
     SELECT x.id, x."ruleId", x."runId", x."episodeKey", x.condition, x.action, x.severity, x.since, x.detail, x."policyVersion", x.eligible, x.reasons
       FROM jsonb_to_recordset($1::jsonb) AS x(id text, "ruleId" text, "runId" text, "episodeKey" text, condition text, action text, severity text,
            since timestamptz, detail text, "policyVersion" int, eligible boolean, reasons jsonb)
     ON CONFLICT ("ruleId", "runId", "episodeKey") DO UPDATE SET "lastSeenAt" = now(), detail = EXCLUDED.detail,
        -- an executed candidate keeps what it was executed under: its reasons, action and policy version then
        eligible = CASE WHEN "PolicyCandidate".status IN ('executing', 'executed') THEN "PolicyCandidate".eligible ELSE EXCLUDED.eligible END,
        reasons = CASE WHEN "PolicyCandidate".status IN ('executing', 'executed') THEN "PolicyCandidate".reasons ELSE EXCLUDED.reasons END,
        "policyVersion" = CASE WHEN "PolicyCandidate".status IN ('executing', 'executed') THEN "PolicyCandidate"."policyVersion" ELSE EXCLUDED."policyVersion" END,
        action = CASE WHEN "PolicyCandidate".status IN ('executing', 'executed') THEN "PolicyCandidate".action ELSE EXCLUDED.action END,
        severity = EXCLUDED.severity, condition = EXCLUDED.condition,
        "endedAt" = NULL, status = CASE WHEN "PolicyCandidate".status = 'ended' THEN 'open' ELSE "PolicyCandidate".status END
     RETURNING ${COLUMNS}`,
    [JSON.stringify(rows.map((x) => ({ ...x, id: randomUUID(), since: x.since.toISOString() })))],
  );
  return r.rows;
}

/**
 * Episodes that began and ended between two evaluations (found by replaying the stored transitions since the
 * last one): recorded as ended, so the live record misses nothing simulatePolicy would report.
 */
export async function insertEnded(db: Q, rows: readonly Omit<Upsert, "eligible" | "reasons">[]): Promise<number> {
  if (!rows.length) return 0;
  const r = await db.query(
    `INSERT INTO "PolicyCandidate" (id, "ruleId", "runId", "episodeKey", condition, action, severity, since, detail, "policyVersion", status, "endedAt")
     SELECT x.id, x."ruleId", x."runId", x."episodeKey", x.condition, x.action, x.severity, x.since, x.detail, x."policyVersion", 'ended', now()
       FROM jsonb_to_recordset($1::jsonb) AS x(id text, "ruleId" text, "runId" text, "episodeKey" text, condition text, action text, severity text,
            since timestamptz, detail text, "policyVersion" int)
     ON CONFLICT ("ruleId", "runId", "episodeKey") DO NOTHING`,
    [JSON.stringify(rows.map((x) => ({ ...x, id: randomUUID(), since: x.since.toISOString() })))],
  );
  return r.rowCount ?? 0;
}

/** Open or suppressed candidates whose condition no longer holds (or whose rule is gone) end. */
export async function endCandidates(db: Q, keep: readonly string[]): Promise<number> {
  const r = await db.query(`UPDATE "PolicyCandidate" SET status = 'ended', "endedAt" = now() WHERE status IN ('open', 'suppressed') AND NOT (id = ANY($1::text[]))`, [keep]);
  return r.rowCount ?? 0;
}

/** Suppressions whose `until` passed open again. */
export async function reopenExpired(db: Q): Promise<number> {
  const r = await db.query(`UPDATE "PolicyCandidate" SET status = 'open' WHERE status = 'suppressed' AND "suppressedUntil" IS NOT NULL AND "suppressedUntil" <= now()`);
  return r.rowCount ?? 0;
}

/** Takes an open candidate for execution; null when it is not open any more (another replica or operator took it). */
export async function claimCandidate(db: Q, id: string, by: string, auto: boolean, replica: string): Promise<CandidateRow | null> {
  const r = await db.query<CandidateRow>(
    `UPDATE "PolicyCandidate" SET status = 'executing', "executedBy" = $2, "executedAuto" = $3, "executedAt" = now(), "executedReplica" = $4
      WHERE id = $1 AND status = 'open' RETURNING ${COLUMNS}`,
    [id, by, auto, replica],
  );
  return r.rows[0] ?? null;
}

/**
 * Candidates claimed longer ago than `olderThanMs` and still `executing`: their executor died between the claim
 * and recording the result. Performing them again is safe (the intent's idempotency key and the alert's action id
 * are the candidate's), so the engine finishes them instead of leaving a state that is no longer true.
 */
export async function staleExecuting(db: Q, olderThanMs: number): Promise<CandidateRow[]> {
  return (await db.query<CandidateRow>(`SELECT ${COLUMNS} FROM "PolicyCandidate" WHERE status = 'executing' AND "executedAt" < now() - make_interval(secs => $1::float8 / 1000)`, [olderThanMs])).rows;
}

export async function finishCandidate(db: Q, id: string, intentId: string | null): Promise<void> {
  await db.query(`UPDATE "PolicyCandidate" SET status = 'executed', "intentId" = $2 WHERE id = $1`, [id, intentId]);
}

export async function suppressCandidate(db: Q, id: string, by: string, note: string, until: Date | null): Promise<CandidateRow | null> {
  const r = await db.query<CandidateRow>(
    `UPDATE "PolicyCandidate" SET status = 'suppressed', "suppressedBy" = $2, "suppressedNote" = $3, "suppressedUntil" = $4 WHERE id = $1 AND status IN ('open', 'suppressed') RETURNING ${COLUMNS}`,
    [id, by, note, until],
  );
  return r.rows[0] ?? null;
}

export async function getCandidate(db: Q, id: string): Promise<CandidateRow | null> {
  return (await db.query<CandidateRow>(`SELECT ${COLUMNS} FROM "PolicyCandidate" WHERE id = $1`, [id])).rows[0] ?? null;
}

export async function listCandidates(db: Q, filter: { statuses: readonly string[] | null; runId: string | null; limit: number }): Promise<CandidateRow[]> {
  return (
    await db.query<CandidateRow>(
      `SELECT ${COLUMNS} FROM "PolicyCandidate" WHERE ($1::text[] IS NULL OR status = ANY($1::text[])) AND ($2::text IS NULL OR "runId" = $2)
        ORDER BY COALESCE("executedAt", "lastSeenAt") DESC LIMIT $3`,
      [filter.statuses, filter.runId, filter.limit],
    )
  ).rows;
}
