import type { FileHandle } from "node:fs/promises";
import type { LoopRunEvent, RawEvent, Source } from "../src/contract";
import { AdapterError, SHA256_HEX_PATTERN, type EventCursor, type EventsPage, type EventsPageError, type LineOnlyCursor, type MappedEventsPage } from "../src/contract";
import { envelopeFromLine, isoNow, parseEventLine } from "./event-envelope";
import { NEWLINE, byteOffsetOfLine, countNewlines, openArtifact, readAt, readLineEndingAt, sha256Hex, statOrNull } from "./file-io";
import { MAX_LINE_BYTES, MAX_PAGE_BYTES, READ_CHUNK_BYTES } from "./limits";
import { loopPaths } from "./paths";

export type { EventCursor, EventsPage, EventsPageError, LineOnlyCursor, MappedEventsPage, PageCursor } from "../src/contract";

export interface ReadEventsOptions {
  repoPath: string;
  loopId: string;
  cursor: EventCursor | LineOnlyCursor;
  limit: number;
  traceId?: string | null;
  now?: Date;
  /**
   * Whether `eventLineCount` counts the complete lines after the page (up to LINE_COUNT_BUDGET_BYTES): a client
   * of the agent sees how far behind it is. Default true. The manager's in-process reader (the local transport)
   * stores no count, and counting 8 MB past each 1 MB catch-up page was a sixth of reading it (bench:ingest):
   * false gives the lines up to the page's end, exact only at the end of the file.
   */
  countLinesAhead?: boolean;
}

export const MAX_PAGE_LIMIT = 100_000;
/** How far past the page the reader counts newlines for `eventLineCount`; bounds the cost of a page. */
const LINE_COUNT_BUDGET_BYTES = 8 * 1024 * 1024;

function isFullCursor(cursor: EventCursor | LineOnlyCursor): cursor is EventCursor {
  return "byteOffset" in cursor && typeof (cursor as { byteOffset: unknown }).byteOffset === "number";
}

function assertCursorShape(cursor: EventCursor | LineOnlyCursor, limit: number): void {
  const bad = (message: string): never => {
    throw new AdapterError("invalid_request", message, { cursor });
  };
  if (!Number.isSafeInteger(cursor.line) || cursor.line < 0) bad("cursor line must be a non-negative integer");
  if (!Number.isSafeInteger(limit) || limit < 0 || limit > MAX_PAGE_LIMIT) {
    bad(`limit must be an integer between 0 and ${MAX_PAGE_LIMIT}`);
  }
  if (isFullCursor(cursor)) {
    if (!Number.isSafeInteger(cursor.byteOffset) || cursor.byteOffset < 0) bad("cursor byteOffset must be a non-negative integer");
    if (cursor.line === 0 && cursor.byteOffset !== 0) bad("cursor at line 0 must have byteOffset 0");
    if (cursor.line > 0 && cursor.byteOffset === 0) bad("cursor after line 1 or later must have byteOffset > 0");
    if (cursor.lastLineHash !== null && !SHA256_HEX_PATTERN.test(cursor.lastLineHash)) {
      bad("cursor lastLineHash must be 64 lowercase hex characters or null");
    }
  }
}

/** Cheap existence/size check so idle runs cost one stat() per poll. */
export async function statEvents(opts: { repoPath: string; loopId: string }): Promise<{
  exists: boolean;
  size: number;
  mtimeMs: number;
}> {
  const paths = loopPaths(opts.repoPath, opts.loopId);
  const stat = await statOrNull(paths.events);
  if (stat === null || !stat.isFile()) return { exists: false, size: 0, mtimeMs: 0 };
  return { exists: true, size: stat.size, mtimeMs: stat.mtimeMs };
}

interface ResolvedStart {
  line: number;
  byteOffset: number;
  lastLineHash: string | null;
}

/** The file no longer matches what was ingested. Exported so every transport fails with the same words. */
export function cursorForkError(message: string, details: Record<string, unknown>): AdapterError {
  return new AdapterError("cursor_fork", `${message}; ingestion must stop until an operator resets the cursor (replay from start or adopt the new file)`, details);
}

/**
 * There is no events.jsonl. A loop that has not run yet has none: an empty page, not an error. A file that
 * vanished after lines were read from it is a fork.
 */
export function pageWithoutEventsFile(cursor: EventCursor | LineOnlyCursor): EventsPage {
  return { ...frameWithoutEventsFile(cursor), envelopes: [], lines: [] };
}

function frameWithoutEventsFile(cursor: EventCursor | LineOnlyCursor): Omit<EventsPage, "envelopes" | "lines"> {
  if (cursor.line === 0) {
    return {
      cursor: { line: 0, byteOffset: 0, lastLineHash: null, pendingBytes: 0, fileSize: 0, mtimeMs: 0 },
      eventLineCount: 0,
      eventLineCountExact: true,
      hasMore: false,
      eventsFileExists: false,
    };
  }
  throw cursorForkError(`events.jsonl no longer exists but the cursor is at line ${cursor.line}`, { expected: { ...cursor }, actual: { exists: false } });
}

/**
 * Checks that the file still holds, right before the cursor, the line that was ingested there. Reads only
 * that line's bytes (backwards from byteOffset), so the cost does not depend on the file's length.
 */
async function verifyFullCursor(fh: FileHandle, size: number, cursor: EventCursor): Promise<ResolvedStart> {
  const expected = { line: cursor.line, byteOffset: cursor.byteOffset, lastLineHash: cursor.lastLineHash };
  if (cursor.line === 0) return { line: 0, byteOffset: 0, lastLineHash: null };
  if (cursor.byteOffset > size) {
    throw cursorForkError(`events.jsonl is ${size} bytes, shorter than the cursor at byte ${cursor.byteOffset} (line ${cursor.line})`, {
      expected,
      actual: { fileSize: size },
    });
  }
  const terminator = await readAt(fh, cursor.byteOffset - 1, 1);
  if (terminator.length !== 1 || terminator[0] !== NEWLINE) {
    throw cursorForkError(`events.jsonl has no line end at byte ${cursor.byteOffset} where line ${cursor.line} ended`, {
      expected,
      actual: { fileSize: size, byteAtCursor: terminator.length === 1 ? terminator[0] : null },
    });
  }
  const previous = await readLineEndingAt(fh, cursor.byteOffset - 1);
  if (previous.kind !== "line") {
    throw cursorForkError(`the line before byte ${cursor.byteOffset} cannot be the ingested line ${cursor.line}`, {
      expected,
      actual: { fileSize: size, reason: previous.kind },
    });
  }
  const actualHash = sha256Hex(previous.bytes);
  if (cursor.lastLineHash !== null && actualHash !== cursor.lastLineHash) {
    throw cursorForkError(`line ${cursor.line} of events.jsonl changed since it was ingested (rewrite)`, {
      expected,
      actual: { fileSize: size, lineStart: previous.start, lastLineHash: actualHash },
    });
  }
  return { line: cursor.line, byteOffset: cursor.byteOffset, lastLineHash: actualHash };
}

async function resolveLineOnlyCursor(fh: FileHandle, size: number, line: number): Promise<ResolvedStart> {
  if (line === 0) return { line: 0, byteOffset: 0, lastLineHash: null };
  const byteOffset = await byteOffsetOfLine(fh, size, line);
  if (byteOffset === null) {
    const available = (await countNewlines(fh, 0, size, Number.MAX_SAFE_INTEGER)).count;
    throw new AdapterError("cursor_beyond_end", `cursor line ${line} is beyond the end of events.jsonl (${available} complete lines); reset the cursor or replay from the start`, {
      expected: { line },
      actual: { lineCount: available, fileSize: size },
    });
  }
  const previous = await readLineEndingAt(fh, byteOffset - 1);
  const lastLineHash = previous.kind === "line" ? sha256Hex(previous.bytes) : null;
  return { line, byteOffset, lastLineHash };
}

/** Length of the unterminated tail after the last newline, found by a bounded backwards read. */
async function trailingFragmentBytes(fh: FileHandle, size: number, floor: number): Promise<number> {
  let position = size;
  const lowest = Math.max(floor, size - MAX_LINE_BYTES - 1);
  while (position > lowest) {
    const chunkStart = Math.max(lowest, position - READ_CHUNK_BYTES);
    const chunk = await readAt(fh, chunkStart, position - chunkStart);
    const nl = chunk.lastIndexOf(NEWLINE);
    if (nl >= 0) return size - (chunkStart + nl + 1);
    position = chunkStart;
  }
  return size - lowest;
}

/**
 * The page after the cursor, each good line handed to `take` as soon as it is read and validated: what `take`
 * returns is all the page keeps of the line. An error `take` throws ends the read (the file is closed) and is
 * the caller's.
 */
async function readPage<T>(opts: ReadEventsOptions, take: (raw: RawEvent, text: string, line: number) => T): Promise<MappedEventsPage<T>> {
  const paths = loopPaths(opts.repoPath, opts.loopId);
  assertCursorShape(opts.cursor, opts.limit);

  const repoStat = await statOrNull(paths.repoPath);
  if (repoStat === null || !repoStat.isDirectory()) {
    throw new AdapterError("artifact_root_missing", `repository path ${paths.repoPath} does not exist or is not a directory`, {
      repoPath: paths.repoPath,
    });
  }

  const fh = await openArtifact(paths.events, paths.repoPath);
  if (fh === null) return { ...frameWithoutEventsFile(opts.cursor), items: [] };

  try {
    const stat = await fh.stat();
    if (!stat.isFile()) {
      throw new AdapterError("invalid_artifact", `${paths.events} is not a regular file`, { path: paths.events });
    }
    // Reading stops at the size seen here: bytes appended meanwhile belong to the next page.
    const size = stat.size;
    const start = isFullCursor(opts.cursor) ? await verifyFullCursor(fh, size, opts.cursor) : await resolveLineOnlyCursor(fh, size, opts.cursor.line);

    const items: T[] = [];
    let pageError: EventsPageError | undefined;
    let hasMore = false;
    let lineNo = start.line;
    let lineStart = start.byteOffset; // file offset of the current (partial) line's first byte
    let position = start.byteOffset;
    let pieces: Buffer[] = [];
    let piecesLength = 0;
    let reachedEof = false;
    let pageBytes = 0;
    let lastLineBytes: Buffer | null = null;

    reading: while (true) {
      if (position >= size) {
        reachedEof = true;
        break;
      }
      const chunk = await readAt(fh, position, Math.min(READ_CHUNK_BYTES, size - position));
      if (chunk.length === 0) {
        reachedEof = true; // truncated while reading: the next call sees the fork
        break;
      }
      let from = 0;
      while (from < chunk.length) {
        const nl = chunk.indexOf(NEWLINE, from);
        if (nl === -1) {
          pieces.push(chunk.subarray(from));
          piecesLength += chunk.length - from;
          if (piecesLength > MAX_LINE_BYTES) {
            pageError = {
              code: "line_too_long",
              message: `line ${lineNo + 1} of events.jsonl exceeds the ${MAX_LINE_BYTES}-byte line limit`,
              line: lineNo + 1,
            };
            break reading;
          }
          break;
        }
        const piece = chunk.subarray(from, nl);
        const lineBytes = piecesLength === 0 ? piece : Buffer.concat([...pieces, piece], piecesLength + piece.length);
        pieces = [];
        piecesLength = 0;
        const lineEnd = position + nl + 1;
        const thisLine = lineNo + 1;
        if (items.length >= opts.limit || (items.length > 0 && pageBytes + lineBytes.length > MAX_PAGE_BYTES)) {
          hasMore = true;
          break reading;
        }
        const parsed = parseEventLine(lineBytes, thisLine);
        if (!parsed.ok) {
          pageError = { code: parsed.code, message: parsed.message, line: thisLine };
          break reading;
        }
        items.push(take(parsed.raw, parsed.text, thisLine));
        // Only the page's last line is hashed (the cursor's lastLineHash): one digest per page, not per line.
        lastLineBytes = lineBytes;
        pageBytes += lineBytes.length;
        lineNo = thisLine;
        lineStart = lineEnd;
        from = nl + 1;
      }
      position += chunk.length;
    }

    const cursorLine = lineNo;
    const cursorOffset = lineStart;
    const cursorHash = lastLineBytes !== null ? sha256Hex(lastLineBytes) : start.lastLineHash;

    // eventLineCount: lines up to the page end, plus the complete lines after it (bounded count).
    let eventLineCount = cursorLine;
    let eventLineCountExact = true;
    if (!reachedEof || pageError !== undefined) {
      const rest = opts.countLinesAhead === false ? { count: 0, exact: false } : await countNewlines(fh, cursorOffset, size, LINE_COUNT_BUDGET_BYTES);
      eventLineCount += rest.count;
      eventLineCountExact = rest.exact;
    }
    const pendingBytes = reachedEof && pageError === undefined ? size - lineStart : await trailingFragmentBytes(fh, size, cursorOffset);

    const page: MappedEventsPage<T> = {
      items,
      cursor: {
        line: cursorLine,
        byteOffset: cursorOffset,
        lastLineHash: cursorHash,
        pendingBytes,
        fileSize: size,
        mtimeMs: stat.mtimeMs,
      },
      eventLineCount,
      eventLineCountExact,
      hasMore,
      eventsFileExists: true,
    };
    if (pageError !== undefined) page.error = pageError;
    return page;
  } finally {
    await fh.close();
  }
}

/** The envelopes' source: the run's paths as the reader resolves them. */
function sourceOf(opts: ReadEventsOptions): Source {
  const paths = loopPaths(opts.repoPath, opts.loopId);
  return { repoPath: paths.repoPath, loopId: paths.loopId };
}

export async function readEventsAfter(opts: ReadEventsOptions): Promise<EventsPage> {
  const source = sourceOf(opts);
  const emittedAt = isoNow(opts.now);
  const { items, ...page } = await readPage(opts, (raw, text, line) => ({ raw, text, line }));
  const envelopes = items.map((entry) => envelopeFromLine({ raw: entry.raw, line: entry.line, lineCount: page.eventLineCount, source, traceId: opts.traceId ?? null, emittedAt }));
  return { envelopes, lines: items.map((entry) => entry.text), ...page };
}

/**
 * The page after the cursor with each line's envelope handed to `map` as the line is read, the page keeping
 * only what `map` returns: a reader in the caller's process (the manager's local transport) turns a catch-up
 * page into rows without holding a page of envelopes first. Each envelope's `cursor.eventLineCount` is its own
 * line (the count past it is not known yet); everything else is what readEventsAfter gives.
 */
export async function readEventsMapped<T>(opts: ReadEventsOptions, map: (envelope: LoopRunEvent, text: string) => T): Promise<MappedEventsPage<T>> {
  const source = sourceOf(opts);
  const emittedAt = isoNow(opts.now);
  return readPage(opts, (raw, text, line) => map(envelopeFromLine({ raw, line, lineCount: line, source, traceId: opts.traceId ?? null, emittedAt }), text));
}
