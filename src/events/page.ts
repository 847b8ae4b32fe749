import type pg from "pg";
import type { Event } from "../generated/prisma/client";
import { modelColumns, rowQuery } from "../db/model-rows";

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

const EVENT = modelColumns<Event>("Event");

/** The events of one page, as the Event rows Prisma would return (src/db/model-rows.ts). */
export async function readEventPage(pool: pg.Pool, q: EventPageQuery): Promise<Event[]> {
  const rows = await rowQuery(
    pool,
    `SELECT ${EVENT.select("e")} FROM "Event" e
      WHERE e."runId" = $1 AND ($2::int IS NULL OR e.line > $2) AND ($3::int IS NULL OR e.line < $3)
      ORDER BY e.line ${q.descending ? "DESC" : "ASC"} LIMIT $4`,
    [q.runId, q.after, q.before, q.limit],
  );
  return rows.map((r) => EVENT.read(r));
}
