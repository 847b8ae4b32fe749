import type { z } from "zod";
import type { AdapterErrorCode } from "./adapter-error";
import type { SupervisorFacts } from "./agent-api";
import type { ActiveRun, Approval, Escalation, Heartbeat, RateLimit, RunSummaryEntry, StuckFile, SuperloopState } from "./artifacts";
import type { LoopRunEvent } from "./v1";

// What the in-Sprite agent (agent/) and the manager (src/) exchange, as the manager's code sees it: a page of
// events with its cursor and the runtime facts of a loop. The agent's readers produce these in-process (the LOCAL
// transport) and its HTTP answers are turned back into them (src/transports/agent-client.ts), so both sides
// import them from here.

/**
 * A position in events.jsonl. `line` = complete lines consumed (v1 eventLineOffset), `byteOffset` = bytes up to
 * and including that line's newline, `lastLineHash` = sha256 hex of that line's bytes (no newline), null at line 0.
 */
export interface EventCursor {
  line: number;
  byteOffset: number;
  lastLineHash: string | null;
}

/** Old clients only know the line number; the reader then scans once to find the byte offset. */
export interface LineOnlyCursor {
  line: number;
}

export interface PageCursor extends EventCursor {
  /** Bytes of an unterminated last line, left for a later read. */
  pendingBytes: number;
  fileSize: number;
  mtimeMs: number;
}

export interface EventsPageError {
  code: AdapterErrorCode;
  message: string;
  /** 1-based line number of the offending line. */
  line: number;
}

export interface EventsPage {
  envelopes: LoopRunEvent[];
  /** Raw text of each envelope's line, same order, without the newline. */
  lines: string[];
  cursor: PageCursor;
  /** Complete lines in the file as far as known (v1 eventLineCount); exact unless `eventLineCountExact` is false. */
  eventLineCount: number;
  eventLineCountExact: boolean;
  hasMore: boolean;
  eventsFileExists: boolean;
  /** Set when a bad line stopped the page: the good lines before it are returned, the cursor stops before it. */
  error?: EventsPageError;
}

/** A page of events as what its reader's caller made of each line (see readEventsMapped), and where it ends. */
export type MappedEventsPage<T> = Omit<EventsPage, "envelopes" | "lines"> & { items: T[] };

export interface RuntimeFacts {
  state: SuperloopState | null;
  activeRun: ActiveRun | null;
  /**
   * active-run.json's pid is alive AND its command line is this repo's superloop `run` (pids are reused);
   * null when there is no active run (or no pid in it).
   */
  activeRunAlive: boolean | null;
  /** /proc/<pgid>/stat state 'T' for the process-group leader; null when unknown. */
  processStopped: boolean | null;
  approval: Approval | null;
  lastSummary: RunSummaryEntry | null;
  heartbeat: Heartbeat | null;
  eventsFileExists: boolean;
  loopDirExists: boolean;
  /** the process a `start` through the agent's control launched (see agent/launch-record.ts) */
  launch?: { pid: number; pgid: number; startedAt: string } | null;
  /** whether any process of that launched group is still the run; null without a launch record */
  launchAlive?: boolean | null;
  /** loops/<loop>/rate-limit.json (rate_limit_stop) */
  rateLimit?: RateLimit | null;
  /** loops/<loop>/stuck.json: the next `run` refuses while it exists */
  stuck?: StuckFile | null;
  /** loops/<loop>/escalation.json: a recovery waiting for a human */
  escalation?: Escalation | null;
  /** the loop's `usage_check.max_wait_seconds` when `wait_on_limit` is on (0 = forever); null when off */
  usageWaitMaxSeconds?: number | null;
  /** The loop's supervisor record (a supervised START), with the Sprite's boot id now; null without one. */
  supervisor?: SupervisorFacts | null;
}

/** The first few issues of a failed parse, one line (for an error message). */
export function summarizeIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.map(String).join(".") : "(root)"}: ${issue.message}`)
    .join("; ");
}
