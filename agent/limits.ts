/** Longest accepted event line (bytes, without the newline). Longer lines are rejected, never truncated. */
export const MAX_LINE_BYTES = 1024 * 1024;
/** Largest JSON artifact (state, summary, approval, ...) the readers will load into memory. */
export const MAX_JSON_ARTIFACT_BYTES = 32 * 1024 * 1024;
/** Chunk size for forward and backward scans of events.jsonl. */
export const READ_CHUNK_BYTES = 64 * 1024;
/**
 * Most line bytes in one events page (at least one line is always served): valid but large lines cannot make
 * a page, its JSON answer or its database batch unbounded. The rest of the file comes in the next pages.
 */
export const MAX_PAGE_BYTES = 8 * 1024 * 1024;
