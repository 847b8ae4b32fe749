import type { LoopRunEvent } from "../contract";
import { unpackLine } from "../events/line-codec";
import { payloadOfLine } from "../events/stored-event";
import { peerText } from "../util/peer-text";

// An envelope becomes a stored row only if it is exactly what this run expects next: v1, this loop,
// the next line number. Anything else fails closed (invariant 3 of docs/architecture.md).

export interface EventRow {
  line: number;
  timestamp: Date;
  name: string;
  role: string | null;
  status: string | null;
  message: string | null;
  runtimeRunId: string | null;
  iteration: number | null;
  /** The line's `data` (v1 event.payload), for the projection and intent evidence; not stored (parsed from the line on read). */
  payload: Record<string, unknown> | null;
  /** The original line, byte-exact, without the newline. */
  text: string;
  /**
   * What is stored of it: `text` packed against this row's columns (src/events/line-codec.ts), filled in by the
   * line packer (src/events/line-packer.ts); "" until then, which no line packs to.
   */
  packed: string;
}

export class EnvelopeRejected extends Error {
  constructor(
    readonly code: "unsupported_schema_version" | "wrong_loop_id" | "sequence_gap" | "invalid_event" | "timestamp_out_of_range" | "nul_character" | "too_deep",
    message: string,
    readonly line: number,
  ) {
    super(message);
  }
}

/** Deepest nesting of an event's JSON that is stored (PostgreSQL's jsonb recursion is bounded by its stack). */
export const MAX_EVENT_DEPTH = 64;
/** Timestamps PostgreSQL and every client's date handling agree on. */
const MIN_TIME = Date.parse("0001-01-01T00:00:00Z");
const MAX_TIME = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * What PostgreSQL would refuse (a NUL in a text or jsonb string) or choke on (very deep nesting), found before
 * the insert so it is a named rejection of that line, not a failing commit retried forever. Iterative: a
 * 5,000-deep value must not overflow this stack either.
 */
export function unstorable(value: unknown): { code: "nul_character" | "too_deep"; where: string } | null {
  const stack: { v: unknown; depth: number; path: string }[] = [{ v: value, depth: 0, path: "" }];
  while (stack.length) {
    const { v, depth, path } = stack.pop()!;
    if (typeof v === "string") {
      if (v.includes("\u0000")) return { code: "nul_character", where: path || "(root)" };
      continue;
    }
    if (v === null || typeof v !== "object") continue;
    if (depth >= MAX_EVENT_DEPTH) return { code: "too_deep", where: path || "(root)" };
    if (Array.isArray(v)) v.forEach((x, i) => stack.push({ v: x, depth: depth + 1, path: `${path}[${i}]` }));
    else
      for (const [k, x] of Object.entries(v)) {
        if (k.includes("\u0000")) return { code: "nul_character", where: `${path}.(key)` };
        stack.push({ v: x, depth: depth + 1, path: `${path}.${k.slice(0, 40)}` });
      }
  }
  return null;
}

/**
 * Whether `unstorable(value)` is null, decided without building the paths a rejection names: the common case
 * (every stored line) costs a walk with no allocation; only a value that fails is walked again by unstorable
 * for its message. Same rules: a NUL in any string or key, an object or array at depth MAX_EVENT_DEPTH.
 */
export function storable(v: unknown, depth: number): boolean {
  if (typeof v === "string") return !v.includes("\u0000");
  if (v === null || typeof v !== "object") return true;
  if (depth >= MAX_EVENT_DEPTH) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (!storable(v[i], depth + 1)) return false;
    return true;
  }
  for (const k in v) {
    if (!Object.hasOwn(v, k)) continue;
    if (k.includes("\u0000") || !storable((v as Record<string, unknown>)[k], depth + 1)) return false;
  }
  return true;
}

/** `lines[i]` is the exact text envelopes[i] was read from (EventsPage.lines). The rows are not packed yet. */
export function rowsFromEnvelopes(envelopes: readonly LoopRunEvent[], lines: readonly string[], loopId: string, afterLine: number): EventRow[] {
  if (lines.length !== envelopes.length) {
    throw new EnvelopeRejected("invalid_event", `the page has ${lines.length} line texts for ${envelopes.length} events`, afterLine + 1);
  }
  const rows: EventRow[] = [];
  for (let i = 0; i < envelopes.length; i++) rows.push(rowFromEnvelope(envelopes[i], lines[i], loopId, afterLine + 1 + i));
  return rows;
}

/** The row of an envelope read from `text`, which must be line `expected` of this loop. Not packed yet. */
export function rowFromEnvelope(env: LoopRunEvent, text: string, loopId: string, expected: number): EventRow {
  const line = env.sequence?.value;
  if (env.schemaVersion !== "v1" || env.envelopeType !== "loop_run_event") {
    throw new EnvelopeRejected("unsupported_schema_version", `line ${line}: envelope ${peerText(env.schemaVersion)}/${peerText(env.envelopeType)} is not v1 loop_run_event`, line);
  }
  if (env.source?.loopId !== loopId) {
    throw new EnvelopeRejected("wrong_loop_id", `line ${line}: envelope is for loop ${peerText(env.source?.loopId)}, expected ${peerText(loopId, 128)}`, line);
  }
  if (line !== expected) {
    throw new EnvelopeRejected("sequence_gap", `expected line ${expected}, got ${line}: refusing to skip or repeat lines`, line);
  }
  const ts = new Date(env.event.timestamp);
  if (Number.isNaN(ts.getTime())) {
    throw new EnvelopeRejected("invalid_event", `line ${line}: timestamp ${peerText(env.event.timestamp)} is not a date`, line);
  }
  if (ts.getTime() < MIN_TIME || ts.getTime() > MAX_TIME) {
    throw new EnvelopeRejected("timestamp_out_of_range", `line ${line}: timestamp ${peerText(env.event.timestamp, 40)} is outside years 1-9999`, line);
  }
  const raw = env.event.raw;
  const { name, role, status, message } = env.event;
  const fine = storable(raw, 0) && storable(name, 1) && storable(role, 1) && storable(status, 1) && storable(message, 1);
  const bad = fine ? null : (unstorable(raw) ?? unstorable([name, role, status, message]));
  if (bad) {
    const why = bad.code === "nul_character" ? "a NUL character (\\u0000), which PostgreSQL cannot store" : `nesting deeper than ${MAX_EVENT_DEPTH} levels`;
    throw new EnvelopeRejected(bad.code, `line ${line}: the event has ${why} at ${peerText(bad.where, 120)}`, line);
  }
  const runtimeRunId = typeof raw.run_id === "string" ? raw.run_id : (env.run?.runId ?? null);
  const iteration = typeof raw.iteration === "number" && Number.isInteger(raw.iteration) ? raw.iteration : null;
  return new ReadRow(line, ts, name, role, status, message, runtimeRunId, iteration, text);
}

/**
 * A row made from a line just read. It holds the line's text only until the line is packed, and not its
 * payload: a catch-up page's rows live until the page commits (the next page being made meanwhile), and each
 * line's text and parsed `data` held that long were most of what the young-generation collections had to copy
 * (bench:ingest). The text is given back by unpacking, the payload by parsing it, for the rare reader of either
 * (a loop_stop's reason, an approval decision's status).
 */
class ReadRow implements EventRow {
  private original: string | null;
  private stored = "";

  constructor(
    readonly line: number,
    readonly timestamp: Date,
    readonly name: string,
    readonly role: string | null,
    readonly status: string | null,
    readonly message: string | null,
    readonly runtimeRunId: string | null,
    readonly iteration: number | null,
    /** The line; null for a row whose packed line is set at once (packedRow). */
    text: string | null,
  ) {
    this.original = text;
  }

  get text(): string {
    return this.original ?? unpackLine(this.stored, this);
  }

  get packed(): string {
    return this.stored;
  }

  set packed(packed: string) {
    this.stored = packed;
    if (packed !== "") this.original = null;
  }

  get payload(): Record<string, unknown> | null {
    return payloadOfLine(this.text);
  }
}

/** A stored event's columns (or a row packed elsewhere) as a row: its text and payload come from `packed` when asked. */
export function packedRow(c: Omit<EventRow, "payload" | "text" | "packed">, packed: string): EventRow {
  const row = new ReadRow(c.line, c.timestamp, c.name, c.role, c.status, c.message, c.runtimeRunId, c.iteration, null);
  row.packed = packed;
  return row;
}
