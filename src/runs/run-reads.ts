import type pg from "pg";
import type { Run, Sprite } from "../generated/prisma/client";
import { modelColumns, rowQuery } from "../db/model-rows";

// The API's reads of runs (runs(filter) pages, run(id), the interventions queue, the runs an audit page names) in
// plain SQL on the driver's pool, each one round trip with the run's Sprite joined when the request selects it.
// Prisma's client cost 1–3 ms of query compilation per call here, more than the database (bench:query).

const RUN = modelColumns<Run>("Run");
const SPRITE = modelColumns<Sprite>("Sprite");

export type RunRow = Run & { sprite?: Sprite };

export interface RunFilter {
  state?: readonly string[] | null;
  sprite?: string | null;
  needsIntervention?: boolean | null;
}

/** What a Pothos query (`{ include | select }`) asks of a run: only whether its Sprite is wanted matters here. */
export function selectsSprite(query: unknown): boolean {
  const q = query as { include?: Record<string, unknown>; select?: Record<string, unknown> } | null;
  return Boolean(q?.include?.["sprite"] ?? q?.select?.["sprite"]);
}

function selectRuns(withSprite: boolean): string {
  return withSprite ? `SELECT ${RUN.select("r")}, ${SPRITE.select("s")} FROM "Run" r JOIN "Sprite" s ON s.id = r."spriteId"` : `SELECT ${RUN.select("r")} FROM "Run" r`;
}

function readRow(row: readonly unknown[], withSprite: boolean): RunRow {
  const run: RunRow = RUN.read(row);
  if (withSprite) run.sprite = SPRITE.read(row, RUN.count);
  return run;
}

export interface RunPageQuery {
  filter?: RunFilter | null;
  /** Prisma's take: negative = the rows before the cursor (or the last ones), still returned oldest first. */
  take: number;
  /** Prisma's cursor: the page starts at this run (skip 1 = just after it; a run that does not exist = no rows). */
  cursorId?: string | null;
  skip?: number;
  withSprite: boolean;
}

/**
 * A page of observed runs oldest first (createdAt, then id), with Prisma's cursor semantics so the Relay
 * connection Pothos builds around it (cursors, hasNextPage) is the one it built around `findMany`. One difference:
 * the cursor's position is compared, not its row skipped, so a cursor whose run has since left the list (its state
 * changed, it was removed) pages on from where it was; Prisma's `skip: 1` skipped a run of the page instead.
 */
export async function readRunPage(pool: pg.Pool, q: RunPageQuery): Promise<RunRow[]> {
  const params: unknown[] = [];
  const where = [`r."removedAt" IS NULL`];
  const f = q.filter;
  if (f?.state?.length) {
    params.push(f.state);
    where.push(`r.state = ANY($${params.length}::"LifecycleState"[])`);
  }
  if (f?.sprite) {
    params.push(f.sprite);
    where.push(`r."spriteId" IN (SELECT id FROM "Sprite" WHERE name = $${params.length})`);
  }
  if (f?.needsIntervention != null) {
    params.push(f.needsIntervention);
    where.push(`r."needsIntervention" = $${params.length}`);
  }
  const backward = q.take < 0;
  if (q.cursorId != null) {
    params.push(q.cursorId);
    const c = `(SELECT "createdAt", id FROM "Run" WHERE id = $${params.length})`;
    const inclusive = (q.skip ?? 0) === 0;
    const op = backward ? (inclusive ? "<=" : "<") : inclusive ? ">=" : ">";
    where.push(`(r."createdAt", r.id) ${op} ${c}`);
  }
  params.push(Math.abs(q.take));
  const dir = backward ? "DESC" : "ASC";
  const res = await rowQuery(pool, `${selectRuns(q.withSprite)} WHERE ${where.join(" AND ")} ORDER BY r."createdAt" ${dir}, r.id ${dir} LIMIT $${params.length}`, params);
  const rows = res.map((r) => readRow(r, q.withSprite));
  return backward ? rows.reverse() : rows;
}

/** Runs by id (removed ones too, as `findUnique` finds them), in no particular order. */
export async function readRunsById(pool: pg.Pool, ids: readonly string[], withSprite: boolean): Promise<Map<string, RunRow>> {
  if (!ids.length) return new Map();
  const res = await rowQuery(pool, `${selectRuns(withSprite)} WHERE r.id = ANY($1::text[])`, [ids]);
  return new Map(res.map((r) => readRow(r, withSprite)).map((r) => [r.id, r]));
}

/** The observed runs flagged for an operator (the interventions queue before its rules and acknowledgements). */
export async function readRunsNeedingIntervention(pool: pg.Pool, withSprite: boolean): Promise<RunRow[]> {
  const res = await rowQuery(pool, `${selectRuns(withSprite)} WHERE r."removedAt" IS NULL AND r."needsIntervention"`);
  return res.map((r) => readRow(r, withSprite));
}
