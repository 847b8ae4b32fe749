import { readEventsMapped } from "../../agent";
import { AdapterError, type EventCursor, type MappedEventsPage } from "../contract";
import { EnvelopeRejected, packedRow, rowFromEnvelope, type EventRow } from "../ingest/rows";
import { packLine } from "./line-codec";
import { stringTable } from "./string-table";

// A local run's catch-up page read, made into rows and packed on the line packer's thread
// (src/events/line-packer.ts), and handed back as its rows' columns. The manager's thread then only makes
// small row objects of them: reading, parsing, validating and packing 5,000 lines, and the few kilobytes of
// short-lived objects each line costs, happen on a heap of their own, while the manager's thread commits the
// page before (bench:ingest). The same reader, the same row rules and the same packing as in place: only
// where it runs differs.

/** What the thread is asked: the page after `cursor` of a run's events.jsonl, read as the local transport does. */
export interface PageRequest {
  repoPath: string;
  loopId: string;
  cursor: EventCursor;
  limit: number;
}

/** A page's end: where the next page starts, whether there is more, and the bad line that stopped it. */
export type PageEnd = Pick<MappedEventsPage<never>, "cursor" | "hasMore" | "error">;

/**
 * A page's rows as few and cheap-to-copy pieces (a message is copied string by string): the packed lines joined
 * by newlines (none holds one), times as epoch ms, iterations (NaN for none), and the other strings as indexes
 * into a table of their distinct values (-1 for none). Lines are consecutive from `firstLine`.
 */
export interface PageColumns {
  count: number;
  firstLine: number;
  packed: string;
  times: Float64Array;
  iterations: Float64Array;
  strings: string[];
  names: Int32Array;
  roles: Int32Array;
  statuses: Int32Array;
  messages: Int32Array;
  runIds: Int32Array;
}

/** Why a page could not be read, as it crosses threads (an Error's class does not). */
export type PageFailure =
  | { kind: "adapter"; code: AdapterError["code"]; message: string; details: Record<string, unknown> }
  | { kind: "rejected"; code: EnvelopeRejected["code"]; message: string; line: number }
  | { kind: "error"; message: string };

export type PageResult = { end: PageEnd; columns: PageColumns } | { failure: PageFailure };

/** On the thread: reads, validates and packs the page. Never throws: a failure is the result. */
export async function readPageColumns(req: PageRequest): Promise<PageResult> {
  const packed: string[] = [];
  const { strings, ref } = stringTable();
  const times: number[] = [];
  const iterations: number[] = [];
  const refs = { names: [] as number[], roles: [] as number[], statuses: [] as number[], messages: [] as number[], runIds: [] as number[] };
  try {
    const page = await readEventsMapped({ ...req, countLinesAhead: false }, (envelope, text) => {
      const row = rowFromEnvelope(envelope, text, req.loopId, req.cursor.line + 1 + packed.length);
      packed.push(packLine(text, row));
      times.push(row.timestamp.getTime());
      iterations.push(row.iteration ?? NaN);
      refs.names.push(ref(row.name));
      refs.roles.push(ref(row.role));
      refs.statuses.push(ref(row.status));
      refs.messages.push(ref(row.message));
      refs.runIds.push(ref(row.runtimeRunId));
      return null;
    });
    return {
      end: { cursor: page.cursor, hasMore: page.hasMore, error: page.error },
      columns: {
        count: packed.length,
        firstLine: req.cursor.line + 1,
        packed: packed.join("\n"),
        times: Float64Array.from(times),
        iterations: Float64Array.from(iterations),
        strings,
        names: Int32Array.from(refs.names),
        roles: Int32Array.from(refs.roles),
        statuses: Int32Array.from(refs.statuses),
        messages: Int32Array.from(refs.messages),
        runIds: Int32Array.from(refs.runIds),
      },
    };
  } catch (e) {
    if (e instanceof AdapterError) return { failure: { kind: "adapter", code: e.code, message: e.message, details: e.details } };
    if (e instanceof EnvelopeRejected) return { failure: { kind: "rejected", code: e.code, message: e.message, line: e.line } };
    return { failure: { kind: "error", message: e instanceof Error ? e.message : String(e) } };
  }
}

/** On the manager's thread: the rows of a page read on the thread, packed; or its failure, thrown as it was. */
export function pageRows(result: PageResult): { end: PageEnd; rows: EventRow[] } {
  if ("failure" in result) {
    const f = result.failure;
    if (f.kind === "adapter") throw new AdapterError(f.code, f.message, f.details);
    if (f.kind === "rejected") throw new EnvelopeRejected(f.code, f.message, f.line);
    throw new Error(`reading the page on the packing thread failed: ${f.message}`);
  }
  const c = result.columns;
  const packed = c.count ? c.packed.split("\n") : [];
  if (packed.length !== c.count) throw new Error(`the packing thread sent ${packed.length} packed lines for ${c.count} rows`);
  const at = (i: number): string | null => (i === -1 ? null : c.strings[i]);
  const rows: EventRow[] = new Array<EventRow>(c.count);
  for (let i = 0; i < c.count; i++) {
    const iteration = c.iterations[i];
    rows[i] = packedRow(
      {
        line: c.firstLine + i,
        timestamp: new Date(c.times[i]),
        name: c.strings[c.names[i]],
        role: at(c.roles[i]),
        status: at(c.statuses[i]),
        message: at(c.messages[i]),
        runtimeRunId: at(c.runIds[i]),
        iteration: Number.isNaN(iteration) ? null : iteration,
      },
      packed[i],
    );
  }
  return { end: result.end, rows };
}
