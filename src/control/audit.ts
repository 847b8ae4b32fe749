import type { App } from "../app";
import type { ControlIntent, LifecycleTransition } from "../generated/prisma/client";
import { modelColumns, rowQuery } from "../db/model-rows";

// The audit trail: every control intent (including refused ones) and every operator transition (cursor resets,
// control-mode switches: transitions that carry an actor), merged by time, newest first. Keyset pagination on
// (at, source, id) so entries written while a client pages through never shift or repeat.

export type AuditEntry = { source: "intent"; at: Date; intent: ControlIntent } | { source: "transition"; at: Date; transition: LifecycleTransition };

export interface AuditQuery {
  runId?: string | null;
  since?: Date | null;
  until?: Date | null;
  /** keyset position of the last entry seen */
  after?: AuditPosition | null;
  limit: number;
}

export interface AuditPosition {
  at: Date;
  source: "intent" | "transition";
  id: string;
}

const INTENT = modelColumns<ControlIntent>("ControlIntent");
const TRANSITION = modelColumns<LifecycleTransition>("LifecycleTransition");

export function encodeAuditCursor(p: AuditPosition): string {
  return Buffer.from(JSON.stringify([p.at.toISOString(), p.source, p.id])).toString("base64url");
}

export function decodeAuditCursor(cursor: string): AuditPosition | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (!Array.isArray(v) || v.length !== 3) return null;
    const [at, source, id] = v as unknown[];
    const date = typeof at === "string" ? new Date(at) : null;
    if (!date || Number.isNaN(date.getTime()) || (source !== "intent" && source !== "transition") || typeof id !== "string") return null;
    return { at: date, source, id };
  } catch {
    return null;
  }
}

export function positionOf(e: AuditEntry): AuditPosition {
  return { at: e.at, source: e.source, id: e.source === "intent" ? e.intent.id : String(e.transition.id) };
}

export async function queryAudit(app: App, q: AuditQuery): Promise<AuditEntry[]> {
  const params: unknown[] = [q.runId ?? null, q.since ?? null, q.until ?? null];
  let intentAfter = "";
  let transitionAfter = "";
  if (q.after) {
    params.push(q.after.at, q.after.source, q.after.id);
    // The keyset (at, source, id) < position, in each branch (at <= position first: what the index can use).
    intentAfter = `AND "requestedAt" <= $4 AND ("requestedAt", 'intent'::text, id) < ($4::timestamptz, $5::text, $6::text)`;
    transitionAfter = `AND at <= $4 AND (at, 'transition'::text, id::text) < ($4::timestamptz, $5::text, $6::text)`;
  }
  params.push(q.limit);
  const limit = `$${params.length}`;
  // Each branch is read newest first along its time index and cut at the page size before the merge, so a page
  // costs the same whether the window holds a hundred entries or a week's worth (bench:query). The page's full
  // rows are joined in the same statement: one round trip, no Prisma query per source (bench:query).
  const rows = await rowQuery(
    app.pool,
    `WITH page AS (
       SELECT source, id, iid, tid, at FROM (
         (SELECT 'intent'::text AS source, id, id AS iid, NULL::bigint AS tid, "requestedAt" AS at FROM "ControlIntent"
           WHERE ($1::text IS NULL OR "runId" = $1) AND ($2::timestamptz IS NULL OR "requestedAt" >= $2) AND ($3::timestamptz IS NULL OR "requestedAt" < $3) ${intentAfter}
           ORDER BY "requestedAt" DESC, id DESC LIMIT ${limit})
         UNION ALL
         (SELECT 'transition'::text, id::text, NULL::text, id, at FROM "LifecycleTransition"
           WHERE actor IS NOT NULL AND ($1::text IS NULL OR "runId" = $1) AND ($2::timestamptz IS NULL OR at >= $2) AND ($3::timestamptz IS NULL OR at < $3) ${transitionAfter}
           ORDER BY at DESC, id::text DESC LIMIT ${limit})
       ) entries
       ORDER BY at DESC, source DESC, id DESC LIMIT ${limit}
     )
     SELECT page.source, page.at, ${INTENT.select("i")}, ${TRANSITION.select("t")}
       FROM page LEFT JOIN "ControlIntent" i ON i.id = page.iid LEFT JOIN "LifecycleTransition" t ON t.id = page.tid
      ORDER BY page.at DESC, page.source DESC, page.id DESC`,
    params,
  );
  const out: AuditEntry[] = [];
  for (const r of rows) {
    const at = r[1] as Date;
    if (r[0] === "intent") out.push({ source: "intent", at, intent: INTENT.read(r, 2) });
    else out.push({ source: "transition", at, transition: TRANSITION.read(r, 2 + INTENT.count) });
  }
  return out;
}
