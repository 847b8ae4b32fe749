import path from "node:path";
import type { z } from "zod";
import type { ArtifactRef } from "../src/contract";
import {
  ActiveRunSchema,
  ApprovalSchema,
  HeartbeatSchema,
  RunSummarySchema,
  SuperloopStateSchema,
  type ActiveRun,
  type Approval,
  type Heartbeat,
  type RunSummary,
  type RunSummaryEntry,
  type SuperloopState,
} from "../src/contract";
import { AdapterError, errnoCode, errorMessage, jsonErrorReason, summarizeIssues } from "../src/contract";
import { decodeUtf8, openArtifact, readAt, sha256Hex, statOrNull } from "./file-io";
import { MAX_JSON_ARTIFACT_BYTES } from "./limits";
import type { LoopPaths } from "./paths";

export interface JsonArtifact<T> {
  value: T | null;
  ref: ArtifactRef;
}

export function missingRef(relativePath: string): ArtifactRef {
  return { path: relativePath, exists: false, sizeBytes: 0, lineCount: 0, sha256: null, mtimeEpoch: null };
}

export function countNewlinesIn(bytes: Uint8Array): number {
  let count = 0;
  for (let index = bytes.indexOf(0x0a); index !== -1; index = bytes.indexOf(0x0a, index + 1)) count += 1;
  return count;
}

/**
 * Reads one JSON artifact. Missing file = null (every artifact but events.jsonl is optional). The parsed
 * value and the ref (size, hash, ...) come from the same bytes, so they never describe two different versions.
 */
export async function readJsonArtifact<S extends z.ZodType>(absolutePath: string, relativePath: string, schema: S): Promise<JsonArtifact<z.infer<S>>> {
  let bytes: Buffer;
  let mtimeMs: number;
  // the repository root: the absolute path without the relative one (both name the same file)
  const root = absolutePath.endsWith(relativePath) ? absolutePath.slice(0, absolutePath.length - relativePath.length) || "/" : path.dirname(absolutePath);
  try {
    const fh = await openArtifact(absolutePath, root, relativePath);
    if (fh === null) return { value: null, ref: missingRef(relativePath) };
    try {
      const stat = await fh.stat();
      if (stat.size > MAX_JSON_ARTIFACT_BYTES) {
        throw new AdapterError("invalid_artifact", `${relativePath} is ${stat.size} bytes, above the ${MAX_JSON_ARTIFACT_BYTES}-byte limit for JSON artifacts`, {
          path: relativePath,
          sizeBytes: stat.size,
        });
      }
      // read what stat promised, not "until EOF": a file growing meanwhile cannot push past the budget
      bytes = await readAt(fh, 0, stat.size);
      mtimeMs = stat.mtimeMs;
    } finally {
      await fh.close();
    }
  } catch (error) {
    if (error instanceof AdapterError) throw error;
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") return { value: null, ref: missingRef(relativePath) };
    throw new AdapterError("io_error", `cannot read ${relativePath}: ${errorMessage(error)}`, { path: relativePath });
  }

  const ref: ArtifactRef = {
    path: relativePath,
    exists: true,
    sizeBytes: bytes.length,
    lineCount: countNewlinesIn(bytes),
    sha256: sha256Hex(bytes),
    mtimeEpoch: Math.floor(mtimeMs / 1000),
  };

  const text = decodeUtf8(bytes);
  if (text === null) {
    throw new AdapterError("invalid_utf8", `${relativePath} is not valid UTF-8`, { path: relativePath });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new AdapterError("invalid_json", `invalid JSON in ${relativePath}: ${jsonErrorReason(error)}; the runtime may be mid-write, retry, or inspect the file`, { path: relativePath });
  }
  const result = schema.safeParse(parsed);
  if (!result.success) {
    throw new AdapterError("invalid_artifact", `${relativePath} does not have the expected shape: ${summarizeIssues(result.error)}`, {
      path: relativePath,
      issues: result.error.issues.map((issue) => ({ path: issue.path.map(String), message: issue.message })),
    });
  }
  return { value: result.data, ref };
}

export { summarizeIssues } from "../src/contract";

export interface LoopArtifacts {
  state: JsonArtifact<SuperloopState>;
  activeRun: JsonArtifact<ActiveRun>;
  approval: JsonArtifact<Approval>;
  runSummary: JsonArtifact<RunSummary>;
  heartbeat: JsonArtifact<Heartbeat>;
}

export function relativeArtifactPaths(paths: LoopPaths): Record<keyof LoopArtifacts | "events", string> {
  const rel = (absolute: string): string => absolute.slice(paths.repoPath.length + 1);
  return {
    state: rel(paths.state),
    activeRun: rel(paths.activeRun),
    approval: rel(paths.approval),
    runSummary: rel(paths.runSummary),
    heartbeat: rel(paths.heartbeat),
    events: rel(paths.events),
  };
}

/**
 * The runtime writes active-run.json with `jq ... > file` (docs/runtime.md): between the truncate and the write a
 * reader sees an empty file. That is a run being recorded, not a broken artifact: present, contents unknown
 * (no pid, so liveness is unknown too), rather than a failed poll.
 */
async function readActiveRun(absolutePath: string, relativePath: string): Promise<JsonArtifact<ActiveRun>> {
  try {
    return await readJsonArtifact(absolutePath, relativePath, ActiveRunSchema);
  } catch (error) {
    if (error instanceof AdapterError && error.code === "invalid_json") {
      const st = await statOrNull(absolutePath);
      if (st !== null && st.isFile() && st.size === 0) {
        return { value: {}, ref: { path: relativePath, exists: true, sizeBytes: 0, lineCount: 0, sha256: sha256Hex(new Uint8Array()), mtimeEpoch: Math.floor(st.mtimeMs / 1000) } };
      }
    }
    throw error;
  }
}

export async function readLoopArtifacts(paths: LoopPaths): Promise<LoopArtifacts> {
  const rel = relativeArtifactPaths(paths);
  const [state, activeRun, approval, runSummary, heartbeat] = await Promise.all([
    readJsonArtifact(paths.state, rel.state, SuperloopStateSchema),
    readActiveRun(paths.activeRun, rel.activeRun),
    readJsonArtifact(paths.approval, rel.approval, ApprovalSchema),
    readJsonArtifact(paths.runSummary, rel.runSummary, RunSummarySchema),
    readJsonArtifact(paths.heartbeat, rel.heartbeat, HeartbeatSchema),
  ]);
  return { state, activeRun, approval, runSummary, heartbeat };
}

export function lastSummaryEntry(summary: RunSummary | null): RunSummaryEntry | null {
  if (summary === null || summary.entries.length === 0) return null;
  return summary.entries[summary.entries.length - 1] ?? null;
}
