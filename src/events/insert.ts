import type pg from "pg";
import type { EventRow } from "../ingest/rows";
import { isoTime } from "../util/iso-time";

// How a page of event rows reaches the "Event" table: one COPY FROM STDIN on the caller's connection, inside
// the caller's transaction. COPY streams: each slice of rows is handed to the socket as soon as its text is
// built, so the server parses and inserts the first slices while the later ones are still being written and,
// once the page is written, while this process prepares the next page. A multi-row INSERT instead serializes
// a whole statement first, and the server waits for it (bench:ingest measures both the ingest and a COPY of the
// same rows built in advance, with this same function).
// COPY has no ON CONFLICT: a line already stored fails the whole COPY with a unique violation, which
// `isDuplicateLine` recognizes (the commit turns it into a cursor conflict and rolls back).

const COPY_EVENTS = `COPY "Event" ("runId","line","timestamp","name","role","status","message","runtimeRunId","iteration","packed") FROM STDIN`;

/** Rows per CopyData message (about 80 KB of text for Superloop's lines). */
const ROWS_PER_MESSAGE = 500;
/** How long a COPY writes messages before it lets the event loop turn. */
const SLICE_MS = 5;

const SPECIAL = /[\\\n\r\t]/;
const SPECIAL_ALL = /[\\\n\r\t]/g;
const ESCAPES: Record<string, string> = { "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** A text value as a field of COPY's text format: backslash, newline, carriage return and tab escaped. */
export function copyText(value: string): string {
  return SPECIAL.test(value) ? value.replace(SPECIAL_ALL, (c) => ESCAPES[c]) : value;
}

const nullable = (value: string | null): string => (value === null ? "\\N" : copyText(value));

/** The COPY text of rows[from, to): one line per row, fields in COPY_EVENTS' column order. */
export function copyLines(runIdField: string, rows: readonly EventRow[], from: number, to: number): string {
  let out = "";
  for (let i = from; i < to; i++) {
    const r = rows[i];
    // No line packs to "": a row that reaches here unpacked would store its original as nothing.
    if (r.packed === "") throw new Error(`event line ${r.line} was not packed`);
    out +=
      runIdField +
      "\t" +
      r.line +
      "\t" +
      isoTime(r.timestamp.getTime()) +
      "\t" +
      copyText(r.name) +
      "\t" +
      nullable(r.role) +
      "\t" +
      nullable(r.status) +
      "\t" +
      nullable(r.message) +
      "\t" +
      nullable(r.runtimeRunId) +
      "\t" +
      (r.iteration === null ? "\\N" : String(r.iteration)) +
      "\t" +
      copyText(r.packed) +
      "\n";
  }
  return out;
}

/** The driver's connection as a COPY FROM needs it (pg's Connection; its typings do not list these methods). */
interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
}

/**
 * A COPY FROM STDIN as a query of pg's client: the client calls these handlers as the server answers. The data
 * goes out one message per slice of rows, the event loop free every SLICE_MS (a page of large lines is
 * megabytes of text). Once the server has answered (done, or an error such as a duplicate line) nothing more is
 * sent: the server ignores CopyData still in flight after an error, and the connection serves the caller's
 * ROLLBACK next.
 */
class CopyIn implements pg.Submittable {
  private rowCount = 0;
  private settled = false;
  readonly done: Promise<number>;
  private resolve!: (rows: number) => void;
  private reject!: (e: Error) => void;

  constructor(
    private readonly text: string,
    private readonly chunks: () => Iterator<string>,
  ) {
    this.done = new Promise<number>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  submit(connection: pg.Connection): void {
    (connection as unknown as CopyConnection).query(this.text);
  }

  handleCopyInResponse(connection: pg.Connection): void {
    const c = connection as unknown as CopyConnection;
    const chunks = this.chunks();
    const step = (): void => {
      if (this.settled) return;
      try {
        // Messages go out back to back for up to SLICE_MS: yielding after each one let the ingest's other work
        // (the next page's parsing) take its turns in between while the server waited for rows (bench:ingest).
        const until = performance.now() + SLICE_MS;
        do {
          const next = chunks.next();
          if (next.done) {
            c.endCopyFrom();
            return;
          }
          c.sendCopyFromChunk(Buffer.from(next.value, "utf8"));
        } while (performance.now() < until);
      } catch (e) {
        // A row that cannot be written as COPY text: the server is told, fails the COPY, and handleError follows.
        c.sendCopyFail(`cannot write the rows: ${(e as Error).message}`);
        return;
      }
      setImmediate(step);
    };
    step();
  }

  handleCommandComplete(msg: { text?: string }): void {
    const match = /^COPY (\d+)/.exec(msg.text ?? "");
    if (match) this.rowCount = Number(match[1]);
  }

  handleReadyForQuery(): void {
    if (this.settled) return;
    this.settled = true;
    this.resolve(this.rowCount);
  }

  handleError(e: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.reject(e);
  }

  /** pg replaces it to run its query timeout; nothing to do otherwise. */
  callback(): void {}
}

/**
 * Inserts `rows` as events of run `runId` on `client` (in its open transaction); returns how many rows the
 * server stored. Rejects with the server's error when any row cannot be stored: then nothing of it is.
 */
export async function insertEvents(client: pg.PoolClient, runId: string, rows: readonly EventRow[]): Promise<number> {
  if (rows.length === 0) return 0;
  const runIdField = copyText(runId);
  const copy = new CopyIn(COPY_EVENTS, function* () {
    for (let from = 0; from < rows.length; from += ROWS_PER_MESSAGE) yield copyLines(runIdField, rows, from, Math.min(rows.length, from + ROWS_PER_MESSAGE));
  });
  client.query(copy);
  return copy.done;
}

/** Whether `e` is the server refusing a row because its (run, line) is already stored. */
export function isDuplicateLine(e: unknown): boolean {
  if (typeof e !== "object" || e === null) return false;
  const err = e as { code?: unknown; constraint?: unknown };
  return err.code === "23505" && err.constraint === "Event_runId_line_key";
}
