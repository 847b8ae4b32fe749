import { unpackLine, type LineColumns } from "./line-codec";

// Everything that reads an event's line, its parsed object or its `data` goes through here, so the stored form
// (src/events/line-codec.ts) stays a detail of this module: GraphQL Event.raw/rawLine/payload, the history
// resolvers, intent evidence, the export of a run's events as its original JSONL.

/** The columns of an "Event" row that give back its original line. */
export interface StoredEventLine extends LineColumns {
  packed: string;
}

/** Lines already unpacked, by row (rows read from the database are never changed): an events page asking for
 * `rawLine` and `payload` unpacks each line once. */
const unpacked = new WeakMap<StoredEventLine, string>();

/** The event's original events.jsonl line, byte-exact, without the newline. */
export function originalLine(row: StoredEventLine): string {
  let line = unpacked.get(row);
  if (line === undefined) unpacked.set(row, (line = unpackLine(row.packed, row)));
  return line;
}

/** The original lines as the file held them: each followed by "\n" (what an export writes). */
export function originalJsonl(rows: readonly StoredEventLine[]): string {
  let out = "";
  for (const r of rows) out += originalLine(r) + "\n";
  return out;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The line parsed (keys in the line's own order). Lines are validated JSON objects before they are stored. */
export function rawObject(row: StoredEventLine): Record<string, unknown> {
  return parsedLine(originalLine(row));
}

/** The line's `data` object, as the v1 envelope's `event.payload`: null when absent or not an object. */
export function payloadOf(row: StoredEventLine): Record<string, unknown> | null {
  return payloadOfLine(originalLine(row));
}

/** payloadOf of a line at hand (a row made from a line just read, not packed yet). */
export function payloadOfLine(line: string): Record<string, unknown> | null {
  const data = parsedLine(line)["data"];
  return isRecord(data) ? data : null;
}

function parsedLine(line: string): Record<string, unknown> {
  const value: unknown = JSON.parse(line);
  return isRecord(value) ? value : {};
}

/** Prisma `select` of the columns originalLine needs. */
export const LINE_COLUMNS = { packed: true, timestamp: true, name: true, role: true, runtimeRunId: true, iteration: true } as const;
/** The same for raw SQL. */
export const LINE_SQL_COLUMNS = `packed, "timestamp", name, role, "runtimeRunId", iteration`;
