import { cursorForkError, envelopeFromLine, MAX_LINE_BYTES, pageWithoutEventsFile, parseEventLine, sha256Hex, type LoopPaths } from "../../agent";
import type { EventCursor, EventsPage, EventsPageError } from "../contract";
import { currentTraceId } from "../observability/trace";

// SPRITES_API events: a page after the cursor from one ranged read of events.jsonl in the Sprite (dd from a
// little before the cursor's byte offset), never the whole log. The line before the cursor is re-hashed to detect
// a rewritten file, then complete lines are walked exactly as the agent's reader walks them (agent/events-reader.ts),
// so the page equals the local transport's for the same bytes.

/** Bytes read before the cursor to find the last ingested line (longer lines take a second read). */
const BACK_WINDOW = 64 * 1024;

export interface RangeReader {
  /** `count` bytes of the file from `offset` (fewer at its end); null when the file does not exist. */
  readRange(file: string, offset: number, count: number): Promise<Buffer | null>;
}

/** `opts.chunk`: bytes read after the cursor; `opts.stat`: the file's last stat, for size and mtime past the read. */
export async function readEventsPage(
  reader: RangeReader,
  p: LoopPaths,
  cursor: EventCursor,
  limit: number,
  opts: { chunk: number; stat: { size: number; mtimeMs: number } | undefined },
): Promise<EventsPage> {
  const source = { repoPath: p.repoPath, loopId: p.loopId };
  const emittedAt = new Date().toISOString();
  const start = Math.max(0, cursor.byteOffset - BACK_WINDOW);
  const requested = cursor.byteOffset - start + opts.chunk;
  const bytes = await reader.readRange(p.events, start, requested);
  if (bytes === null) return pageWithoutEventsFile(cursor);
  const eof = bytes.length < requested;
  const seenSize = start + bytes.length;
  const rel = cursor.byteOffset - start;
  let lastLineHash = cursor.lastLineHash;

  if (cursor.line > 0) {
    const expected = { line: cursor.line, byteOffset: cursor.byteOffset, lastLineHash: cursor.lastLineHash };
    if (seenSize < cursor.byteOffset) {
      throw cursorForkError(`events.jsonl is ${seenSize} bytes, shorter than the cursor at byte ${cursor.byteOffset} (line ${cursor.line})`, { expected, actual: { fileSize: seenSize } });
    }
    if (bytes[rel - 1] !== 0x0a) {
      throw cursorForkError(`events.jsonl has no line end at byte ${cursor.byteOffset} where line ${cursor.line} ended`, {
        expected,
        actual: { fileSize: seenSize, byteAtCursor: bytes[rel - 1] ?? null },
      });
    }
    let line: Buffer | null = null;
    const nl = rel >= 2 ? bytes.lastIndexOf(0x0a, rel - 2) : -1;
    if (nl !== -1 || start === 0) line = bytes.subarray(nl + 1, rel - 1);
    else {
      // The last ingested line is longer than the window: read back as far as a line may be long.
      const backStart = Math.max(0, cursor.byteOffset - MAX_LINE_BYTES - 2);
      const back = await reader.readRange(p.events, backStart, cursor.byteOffset - backStart);
      const backNl = back && back.length >= 2 ? back.lastIndexOf(0x0a, back.length - 2) : -1;
      if (back !== null && back.length === cursor.byteOffset - backStart && (backNl !== -1 || backStart === 0)) line = back.subarray(backNl + 1, back.length - 1);
    }
    if (line === null) {
      throw cursorForkError(`the line before byte ${cursor.byteOffset} cannot be the ingested line ${cursor.line}`, { expected, actual: { fileSize: seenSize, reason: "too_long" } });
    }
    const actualHash = sha256Hex(line);
    if (cursor.lastLineHash !== null && actualHash !== cursor.lastLineHash) {
      throw cursorForkError(`line ${cursor.line} of events.jsonl changed since it was ingested (rewrite)`, {
        expected,
        actual: { fileSize: seenSize, lastLineHash: actualHash },
      });
    }
    lastLineHash = actualHash;
  }

  // Forward: complete lines after the cursor, exactly as the agent's reader walks them.
  const good: { line: number; text: string; raw: Parameters<typeof envelopeFromLine>[0]["raw"]; endOffset: number; hash: string }[] = [];
  let pageError: EventsPageError | undefined;
  let hasMore = false;
  let lineNo = cursor.line;
  let from = rel;
  while (from < bytes.length) {
    const nl = bytes.indexOf(0x0a, from);
    if (nl === -1) break;
    if (good.length >= limit) {
      hasMore = true;
      break;
    }
    const lineBytes = bytes.subarray(from, nl);
    const parsed = parseEventLine(lineBytes, lineNo + 1);
    if (!parsed.ok) {
      pageError = { code: parsed.code, message: parsed.message, line: lineNo + 1 };
      break;
    }
    lineNo += 1;
    good.push({ line: lineNo, text: parsed.text, raw: parsed.raw, endOffset: start + nl + 1, hash: sha256Hex(lineBytes) });
    from = nl + 1;
  }
  const stoppedEarly = hasMore || pageError !== undefined;
  const remainder = bytes.length - from;
  if (!stoppedEarly && remainder > MAX_LINE_BYTES) {
    pageError = { code: "line_too_long", message: `line ${lineNo + 1} of events.jsonl exceeds the ${MAX_LINE_BYTES}-byte line limit`, line: lineNo + 1 };
  } else if (!stoppedEarly && !eof) {
    hasMore = good.length > 0; // the read ended inside a line and the file goes on
  }
  const last = good[good.length - 1];
  const cursorLine = last?.line ?? cursor.line;
  const cursorOffset = last?.endOffset ?? cursor.byteOffset;
  const reachedEof = eof && !hasMore && pageError === undefined;

  let eventLineCount = cursorLine;
  if (!reachedEof) {
    for (let i = bytes.indexOf(0x0a, cursorOffset - start); i !== -1; i = bytes.indexOf(0x0a, i + 1)) eventLineCount++;
  }
  const lastNl = bytes.lastIndexOf(0x0a);
  const pendingBytes = eof ? bytes.length - (lastNl === -1 ? 0 : lastNl + 1) : 0;
  const stat = opts.stat;

  const page: EventsPage = {
    envelopes: good.map((g) => envelopeFromLine({ raw: g.raw, line: g.line, lineCount: eventLineCount, source, traceId: currentTraceId(), emittedAt })),
    lines: good.map((g) => g.text),
    cursor: {
      line: cursorLine,
      byteOffset: cursorOffset,
      lastLineHash: last?.hash ?? lastLineHash,
      pendingBytes,
      fileSize: eof ? seenSize : Math.max(seenSize, stat?.size ?? 0),
      mtimeMs: stat?.mtimeMs ?? 0,
    },
    eventLineCount,
    eventLineCountExact: eof,
    hasMore,
    eventsFileExists: true,
  };
  if (pageError !== undefined) page.error = pageError;
  return page;
}
