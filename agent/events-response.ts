import type { EventsPage, EventsResponseCursor } from "../src/contract";
import { isoNow } from "./event-envelope";

/** The `cursor` of an events answer (agent and CLI alike); its fields feed the next request. */
export function responseCursor(page: EventsPage): EventsResponseCursor {
  return {
    eventLineOffset: page.cursor.line,
    eventLineCount: page.eventLineCount,
    byteOffset: page.cursor.byteOffset,
    lastLineHash: page.cursor.lastLineHash,
    pendingBytes: page.cursor.pendingBytes,
    updatedAt: isoNow(),
  };
}
