import {
  GatesSchema,
  SCHEMA_VERSION,
  SEQUENCE_SOURCE,
  StuckSchema,
  type ArtifactRef,
  type Gates,
  type LoopRunSnapshot,
  type RawEvent,
  type RunSummaryEntry,
  type Stuck,
  type SuperloopState,
} from "../src/contract";
import { lastSummaryEntry, readLoopArtifacts, relativeArtifactPaths } from "./artifacts";
import { baselineStatus } from "./baseline-status";
import { AdapterError } from "../src/contract";
import { eventName, isoNow, iterationOf, parseEventLine } from "./event-envelope";
import type { PageCursor } from "./events-reader";
import { openArtifact, readLineEndingAt, scanWholeFile, sha256Hex, statOrNull } from "./file-io";
import { loopPaths, type LoopPaths } from "./paths";

export interface ReadSnapshotOptions {
  repoPath: string;
  loopId: string;
  traceId?: string | null;
  now?: Date;
}

export interface SnapshotWithCursor {
  snapshot: LoopRunSnapshot;
  /** The byte-level cursor matching `snapshot.cursor`: lets a client continue with readEventsAfter from here. */
  eventsCursor: PageCursor;
}

interface EventsScan {
  ref: ArtifactRef;
  lineCount: number;
  lastEvent: RawEvent | null;
  cursor: PageCursor;
}

async function scanEvents(paths: LoopPaths, relativePath: string): Promise<EventsScan> {
  const fh = await openArtifact(paths.events, paths.repoPath, relativePath);
  if (fh === null) {
    throw new AdapterError("events_missing", `required artifact ${relativePath} is missing: the loop has not emitted events yet (or the loop id is wrong)`, { path: relativePath });
  }
  try {
    const stat = await fh.stat();
    if (!stat.isFile()) {
      throw new AdapterError("invalid_artifact", `${relativePath} is not a regular file`, { path: relativePath });
    }
    const scan = await scanWholeFile(fh, stat.size);
    let lastEvent: RawEvent | null = null;
    let lastLineHash: string | null = null;
    if (scan.lastNewlinePos >= 0) {
      const last = await readLineEndingAt(fh, scan.lastNewlinePos);
      if (last.kind !== "line") {
        throw new AdapterError(
          last.kind === "too_long" ? "line_too_long" : "io_error",
          `cannot read line ${scan.newlineCount} of ${relativePath} (${last.kind === "too_long" ? "line exceeds the 1 MiB limit" : "file shrank while reading"})`,
          { path: relativePath, line: scan.newlineCount },
        );
      }
      const parsed = parseEventLine(last.bytes, scan.newlineCount, relativePath);
      if (!parsed.ok) {
        throw new AdapterError(parsed.code, parsed.message, { path: relativePath, line: scan.newlineCount });
      }
      lastEvent = parsed.raw;
      lastLineHash = sha256Hex(last.bytes);
    }
    const endOfLastLine = scan.lastNewlinePos + 1;
    return {
      ref: {
        path: relativePath,
        exists: true,
        sizeBytes: scan.size,
        lineCount: scan.newlineCount,
        sha256: scan.sha256,
        mtimeEpoch: Math.floor(stat.mtimeMs / 1000),
      },
      lineCount: scan.newlineCount,
      lastEvent,
      cursor: {
        line: scan.newlineCount,
        byteOffset: endOfLastLine,
        lastLineHash,
        pendingBytes: scan.size - endOfLastLine,
        fileSize: scan.size,
        mtimeMs: stat.mtimeMs,
      },
    };
  } finally {
    await fh.close();
  }
}

function nonEmptyString(value: unknown): string | null {
  return typeof value === "string" && value.length > 0 ? value : null;
}

/**
 * Run id: the last event's (it reflects the newest activity, e.g. a loop_complete that carries the original run
 * id after an approval), then the latest summary's, then the approval's, else "unknown" (the v1 field is required).
 */
export function resolveRunId(lastEvent: RawEvent | null, summary: RunSummaryEntry | null, approvalRunId: unknown): string {
  return nonEmptyString(lastEvent?.run_id) ?? nonEmptyString(summary?.run_id) ?? nonEmptyString(approvalRunId) ?? "unknown";
}

/** Iteration: last event, then state (only when it is about this loop), then latest summary, else 0. */
export function resolveIteration(loopId: string, lastEvent: RawEvent | null, state: SuperloopState | null, summary: RunSummaryEntry | null): number {
  const fromEvent = iterationOf(lastEvent?.iteration);
  if (fromEvent !== null) return fromEvent;
  if (state !== null && state.current_loop_id === loopId) {
    const fromState = iterationOf(state.iteration);
    if (fromState !== null) return fromState;
  }
  return iterationOf(summary?.iteration) ?? 0;
}

function gatesOf(summary: RunSummaryEntry | null): Gates | null {
  const parsed = GatesSchema.safeParse(summary?.gates);
  return parsed.success ? parsed.data : null;
}

function stuckOf(summary: RunSummaryEntry | null): Stuck | null {
  const stuck = summary?.stuck;
  if (stuck === null || stuck === undefined) return null;
  const parsed = StuckSchema.safeParse({ streak: stuck["streak"], threshold: stuck["threshold"] });
  return parsed.success ? parsed.data : null;
}

export async function readSnapshotWithCursor(opts: ReadSnapshotOptions): Promise<SnapshotWithCursor> {
  const paths = loopPaths(opts.repoPath, opts.loopId);
  const rel = relativeArtifactPaths(paths);
  const emittedAt = isoNow(opts.now);

  const loopDir = await statOrNull(paths.loopDir);
  if (loopDir === null || !loopDir.isDirectory()) {
    throw new AdapterError("artifact_root_missing", `artifact root ${paths.loopDir} is missing: check the repo path and loop id, or start the loop first`, {
      repoPath: paths.repoPath,
      loopId: paths.loopId,
    });
  }

  const [events, artifacts] = await Promise.all([scanEvents(paths, rel.events), readLoopArtifacts(paths)]);
  const state = artifacts.state.value;
  const approval = artifacts.approval.value;
  const summaryFile = artifacts.runSummary.value;
  const latest = lastSummaryEntry(summaryFile);
  const lastEvent = events.lastEvent;

  const status = baselineStatus({
    loopId: paths.loopId,
    state,
    approval,
    lastSummary: latest,
    lastEvent: lastEvent === null ? null : { name: eventName(lastEvent), status: nonEmptyString(lastEvent.status) },
  });

  const snapshot: LoopRunSnapshot = {
    schemaVersion: SCHEMA_VERSION,
    envelopeType: "loop_run_snapshot",
    emittedAt,
    source: { repoPath: paths.repoPath, loopId: paths.loopId },
    sequence: { source: SEQUENCE_SOURCE, value: events.lineCount },
    run: {
      runId: resolveRunId(lastEvent, latest, approval?.run_id),
      iteration: resolveIteration(paths.loopId, lastEvent, state, latest),
      status,
      summary: latest,
    },
    runtime: {
      superloopState: state,
      activeRun: artifacts.activeRun.value,
      approval,
      heartbeat: artifacts.heartbeat.value,
    },
    artifacts: {
      events: events.ref,
      runSummary: artifacts.runSummary.ref,
      state: artifacts.state.ref,
      activeRun: artifacts.activeRun.ref,
      approval: artifacts.approval.ref,
      heartbeat: artifacts.heartbeat.ref,
    },
    cursor: { eventLineOffset: events.lineCount, eventLineCount: events.lineCount },
    health: {
      eventCount: events.lineCount,
      lastEventAt: lastEvent?.timestamp ?? null,
      lastEventName: lastEvent === null ? null : eventName(lastEvent),
      lastSummaryAt: nonEmptyString(summaryFile?.updated_at) ?? nonEmptyString(latest?.ended_at),
      hasPendingApproval: approval?.status === "pending",
      gates: gatesOf(latest),
      stuck: stuckOf(latest),
    },
  };
  if (opts.traceId !== undefined && opts.traceId !== null) snapshot.traceId = opts.traceId;
  return { snapshot, eventsCursor: events.cursor };
}

/** The v1 `loop_run_snapshot` of one loop (docs/contract.md), with its baseline status. */
export async function readSnapshot(opts: ReadSnapshotOptions): Promise<LoopRunSnapshot> {
  return (await readSnapshotWithCursor(opts)).snapshot;
}
