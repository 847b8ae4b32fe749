// The live event feed's bookkeeping, free of the DOM so it can be tested on its own. Lines are the run's
// events.jsonl line numbers: unique and contiguous, so "have I shown this?" is one comparison, and a replay
// after a reconnect (the server re-sends from our cursor, or earlier if it never saw our newest cursor)
// cannot produce a duplicate row.

export interface FeedEvent {
  line: number;
  name: string;
  timestamp: string;
  role: string | null;
  status: string | null;
  message: string | null;
  iteration: number | null;
}

export interface FeedBatch {
  events: FeedEvent[];
  cursor: string;
  hasMore: boolean;
}

/** What the runEvents subscription sends: a batch, or how it ended (ResyncRequired, NotFound). */
export type FeedUpdate = (FeedBatch & { __typename: "RunEventsBatch" }) | { __typename: "ResyncRequired" | "NotFound" };

export class FeedState {
  /** highest line shown; `after` for the next (re)subscription */
  cursor: number;
  readonly limit: number;
  private rows: FeedEvent[] = [];
  duplicatesDropped = 0;

  constructor(after: number, limit = 500) {
    this.cursor = after;
    this.limit = limit;
  }

  /** Applies a batch; returns only the events not shown before, in line order. */
  accept(batch: FeedBatch): FeedEvent[] {
    const fresh: FeedEvent[] = [];
    for (const e of [...batch.events].sort((a, b) => a.line - b.line)) {
      if (e.line <= this.cursor) {
        this.duplicatesDropped++;
        continue;
      }
      this.cursor = e.line;
      fresh.push(e);
    }
    // An empty batch may still move the cursor (the server's cursor is authoritative once we are caught up).
    const serverCursor = Number(batch.cursor);
    if (Number.isInteger(serverCursor) && serverCursor > this.cursor && batch.events.length === 0) this.cursor = serverCursor;
    this.rows.push(...fresh);
    if (this.rows.length > this.limit) this.rows.splice(0, this.rows.length - this.limit);
    return fresh;
  }

  get shown(): readonly FeedEvent[] {
    return this.rows;
  }
}
