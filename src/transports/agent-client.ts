import { z } from "zod";
import {
  ADAPTER_ERROR_CODES,
  AdapterError,
  EventsResponseCursorSchema,
  EventsResponseSchema,
  FactsResponseSchema,
  summarizeIssues,
  type AdapterErrorCode,
  type EventCursor,
  type EventsPage,
  type LineOnlyCursor,
  type LoopRunEvent,
  type RuntimeFacts,
} from "../contract";

// The manager's client of the in-Sprite agent's HTTP protocol, pure (no I/O): the `sprite_service` transport
// builds its requests and turns the answers back into the same EventsPage / RuntimeFacts / AdapterError
// (src/contract/agent-protocol.ts) the local transport gets in-process from agent/, so both produce identical
// results for the same files.

export interface EventsRequest {
  loopId: string;
  cursor: EventCursor | LineOnlyCursor;
  limit: number;
  waitMs?: number;
  /** Ask for the exact line texts (EventsPage.lines); without it they are re-serialized from `raw`. */
  includeLines?: boolean;
}

/** Path and query for `GET /ops/events`. */
export function eventsRequestPath(req: EventsRequest): string {
  const params = new URLSearchParams({ loopId: req.loopId, cursor: String(req.cursor.line), maxEvents: String(req.limit) });
  if ("byteOffset" in req.cursor) {
    params.set("byteOffset", String(req.cursor.byteOffset));
    if (req.cursor.lastLineHash !== null) params.set("lastLineHash", req.cursor.lastLineHash);
  }
  if (req.waitMs !== undefined && req.waitMs > 0) params.set("waitMs", String(req.waitMs));
  if (req.includeLines !== false) params.set("includeLines", "1");
  return `/ops/events?${params.toString()}`;
}

const ErrorAnswerSchema = z.looseObject({
  ok: z.literal(false),
  error: z.looseObject({ code: z.string(), message: z.string(), line: z.number().int().positive().optional(), details: z.record(z.string(), z.unknown()).optional() }),
  cursor: EventsResponseCursorSchema.optional(),
  file: z.object({ size: z.number(), mtimeMs: z.number() }).optional(),
});

function knownCode(code: string): AdapterErrorCode {
  return (ADAPTER_ERROR_CODES as readonly string[]).includes(code) ? (code as AdapterErrorCode) : "remote_error";
}

/** An agent error answer → the AdapterError the library would have thrown. */
export function adapterErrorFromResponse(status: number, body: unknown): AdapterError {
  const parsed = ErrorAnswerSchema.safeParse(body);
  if (!parsed.success) {
    return new AdapterError("remote_error", `agent answered HTTP ${status} with an unexpected body`, { status });
  }
  const { code, message, details } = parsed.data.error;
  return new AdapterError(knownCode(code), message, { ...(details ?? {}), status, ...(knownCode(code) !== code ? { remoteCode: code } : {}) });
}

/**
 * An answer to `GET /ops/events` → EventsPage. A bad first line (HTTP 422 with a cursor) becomes a page with
 * no envelopes and `error`, exactly like readEventsAfter; every other error answer throws the AdapterError.
 */
export function eventsPageFromResponse(status: number, body: unknown): EventsPage {
  if (status !== 200) {
    const error = ErrorAnswerSchema.safeParse(body);
    if (error.success && error.data.cursor !== undefined && error.data.error.line !== undefined) {
      const { cursor, file } = error.data;
      return {
        envelopes: [],
        lines: [],
        cursor: {
          line: cursor.eventLineOffset,
          byteOffset: cursor.byteOffset,
          lastLineHash: cursor.lastLineHash,
          pendingBytes: cursor.pendingBytes,
          fileSize: file?.size ?? 0,
          mtimeMs: file?.mtimeMs ?? 0,
        },
        eventLineCount: cursor.eventLineCount,
        eventLineCountExact: true,
        hasMore: false,
        eventsFileExists: true,
        error: { code: knownCode(error.data.error.code), message: error.data.error.message, line: error.data.error.line },
      };
    }
    throw adapterErrorFromResponse(status, body);
  }
  const parsed = EventsResponseSchema.safeParse(body);
  if (!parsed.success) {
    throw new AdapterError("remote_error", `agent events answer does not match the v1 contract: ${summarizeIssues(parsed.error)}`);
  }
  const answer = parsed.data;
  const envelopes: LoopRunEvent[] = answer.events;
  const lines = answer.lines ?? envelopes.map((envelope) => JSON.stringify(envelope.event.raw));
  if (lines.length !== envelopes.length) {
    throw new AdapterError("remote_error", `agent returned ${lines.length} lines for ${envelopes.length} events`);
  }
  const page: EventsPage = {
    envelopes,
    lines,
    cursor: {
      line: answer.cursor.eventLineOffset,
      byteOffset: answer.cursor.byteOffset,
      lastLineHash: answer.cursor.lastLineHash,
      pendingBytes: answer.cursor.pendingBytes,
      fileSize: answer.file?.size ?? 0,
      mtimeMs: answer.file?.mtimeMs ?? 0,
    },
    eventLineCount: answer.cursor.eventLineCount,
    eventLineCountExact: answer.eventLineCountExact ?? true,
    hasMore: answer.hasMore ?? false,
    eventsFileExists: answer.eventsFileExists ?? true,
  };
  if (answer.error !== undefined) {
    page.error = { code: knownCode(answer.error.code), message: answer.error.message, line: answer.error.line ?? answer.cursor.eventLineOffset + 1 };
  }
  return page;
}

/** An answer to `GET /ops/facts` → RuntimeFacts plus the events.jsonl stat (for cheap change detection). */
export function runtimeFactsFromResponse(status: number, body: unknown): { facts: RuntimeFacts; eventsStat: { exists: boolean; size: number; mtimeMs: number } } {
  if (status !== 200) throw adapterErrorFromResponse(status, body);
  const parsed = FactsResponseSchema.safeParse(body);
  if (!parsed.success) {
    throw new AdapterError("remote_error", `agent facts answer does not match the contract: ${summarizeIssues(parsed.error)}`);
  }
  return { facts: parsed.data.facts, eventsStat: parsed.data.eventsStat };
}
