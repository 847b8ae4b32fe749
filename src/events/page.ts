import type pg from "pg";
import type { Event } from "../generated/prisma/client";

// A page of a run's stored events by line number (Run.events): keyset on the (runId, line) unique index, so the
// first page and a page after line 999,900 of a million-line run cost the same, and no page counts the run's
// events. Plain SQL on the driver's pool: this is the API's hottest read, and Prisma's query compiler cost more
// per page than the query itself (bench:query).

export interface EventPageQuery {
  runId: string;
  /** Events after this line (exclusive). */
  after: number | null;
  /** Events before this line (exclusive). */
  before: number | null;
  limit: number;
  /** Newest first (a `last: N` page): the caller reverses it. */
  descending: boolean;
}

const COLUMNS = `id, "runId", line, "timestamp", name, role, status, message, "runtimeRunId", iteration, packed, "ingestedAt"`;

/** The events of one page, as the Event rows Prisma would return (id as bigint). */
export async function readEventPage(pool: pg.Pool, q: EventPageQuery): Promise<Event[]> {
  const res = await pool.query<Omit<Event, "id"> & { id: string }>(
    `SELECT ${COLUMNS} FROM "Event"
      WHERE "runId" = $1 AND ($2::int IS NULL OR line > $2) AND ($3::int IS NULL OR line < $3)
      ORDER BY line ${q.descending ? "DESC" : "ASC"} LIMIT $4`,
    [q.runId, q.after, q.before, q.limit],
  );
  return res.rows.map((r) => ({ ...r, id: BigInt(r.id) }));
}
