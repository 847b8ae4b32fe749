import { RawEventSchema, SCHEMA_VERSION, SEQUENCE_SOURCE, type LoopRunEvent, type RawEvent, type Source } from "../src/contract";
import { summarizeIssues } from "./artifacts";
import { jsonErrorReason, type AdapterErrorCode } from "../src/contract";
import { decodeUtf8 } from "./file-io";
import { MAX_LINE_BYTES } from "./limits";

export type ParsedLine = { ok: true; text: string; raw: RawEvent } | { ok: false; code: AdapterErrorCode; message: string };

/** Validates one events.jsonl line (bytes without the newline). `lineNumber` is 1-based and only used in messages. */
export function parseEventLine(bytes: Uint8Array, lineNumber: number, fileLabel = "events.jsonl"): ParsedLine {
  const where = `line ${lineNumber} of ${fileLabel}`;
  if (bytes.length > MAX_LINE_BYTES) {
    return {
      ok: false,
      code: "line_too_long",
      message: `${where} is ${bytes.length} bytes, above the ${MAX_LINE_BYTES}-byte line limit`,
    };
  }
  const text = decodeUtf8(bytes);
  if (text === null) {
    return { ok: false, code: "invalid_utf8", message: `${where} is not valid UTF-8` };
  }
  if (text.trim() === "") {
    return { ok: false, code: "invalid_json", message: `${where} is empty; expected one JSON object per line` };
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { ok: false, code: "invalid_json", message: `invalid JSON at ${where}: ${jsonErrorReason(error)}` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, code: "invalid_event", message: `${where} is not a JSON object` };
  }
  const result = RawEventSchema.safeParse(value);
  if (!result.success) {
    return { ok: false, code: "invalid_event", message: `invalid event at ${where}: ${summarizeIssues(result.error)}` };
  }
  return { ok: true, text, raw: result.data };
}

export function eventName(raw: RawEvent): string {
  // RawEventSchema guarantees one of the two.
  return raw.event ?? raw.type ?? "";
}

function stringOrNull(value: unknown): string | null {
  return typeof value === "string" && value.length > 0 ? value : null;
}

/** `iteration` as a non-negative integer; the runtime writes numbers, tolerate numeric strings. */
export function iterationOf(value: unknown): number | null {
  const n = typeof value === "number" ? value : typeof value === "string" && /^\d+$/.test(value) ? Number(value) : NaN;
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export interface EnvelopeFromLineOptions {
  raw: RawEvent;
  /** 1-based line number in events.jsonl: sequence.value and cursor.eventLineOffset. */
  line: number;
  /** Complete lines known in the file when this page was read. */
  lineCount: number;
  source: Source;
  traceId?: string | null;
  emittedAt: string;
}

/** Pure: one validated event line → one v1 `loop_run_event` envelope. */
export function envelopeFromLine(opts: EnvelopeFromLineOptions): LoopRunEvent {
  const { raw } = opts;
  const envelope: LoopRunEvent = {
    schemaVersion: SCHEMA_VERSION,
    envelopeType: "loop_run_event",
    emittedAt: opts.emittedAt,
    source: { repoPath: opts.source.repoPath, loopId: opts.source.loopId },
    sequence: { source: SEQUENCE_SOURCE, value: opts.line },
    cursor: { eventLineOffset: opts.line, eventLineCount: Math.max(opts.lineCount, opts.line) },
    run: {
      runId: stringOrNull(raw.run_id) ?? "unknown",
      iteration: iterationOf(raw.iteration) ?? 0,
    },
    event: {
      timestamp: raw.timestamp,
      name: eventName(raw),
      role: stringOrNull(raw.role),
      status: stringOrNull(raw.status),
      message: stringOrNull(raw.message),
      payload: isPlainObject(raw.data) ? raw.data : null,
      raw,
    },
  };
  if (opts.traceId !== undefined && opts.traceId !== null) envelope.traceId = opts.traceId;
  return envelope;
}

/** Emission time: ISO-8601 UTC with milliseconds, so envelopes emitted within one second still order. */
export function isoNow(now: Date = new Date()): string {
  return now.toISOString();
}
