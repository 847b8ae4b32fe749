import path from "node:path";
import { LOOP_ID_PATTERN, artifactPaths } from "../src/contract";
import { AdapterError } from "../src/contract";

/** Rejects anything that is not a plain directory name, so a loop id can never escape `.superloop/loops/`. */
export function assertLoopId(loopId: unknown): asserts loopId is string {
  if (typeof loopId !== "string" || !LOOP_ID_PATTERN.test(loopId) || loopId === "." || loopId === "..") {
    throw new AdapterError("invalid_loop_id", `invalid loop id ${JSON.stringify(loopId)}: expected a plain name matching ${String(LOOP_ID_PATTERN)}`, { loopId });
  }
}

export interface LoopPaths {
  repoPath: string;
  loopId: string;
  superloopDir: string;
  loopDir: string;
  events: string;
  runSummary: string;
  approval: string;
  heartbeat: string;
  state: string;
  activeRun: string;
}

export function loopPaths(repoPath: string, loopId: string): LoopPaths {
  assertLoopId(loopId);
  const repo = path.resolve(repoPath);
  const abs = (relative: string): string => path.join(repo, relative);
  return {
    repoPath: repo,
    loopId,
    superloopDir: abs(artifactPaths.superloopDir),
    loopDir: abs(artifactPaths.loopDir(loopId)),
    events: abs(artifactPaths.events(loopId)),
    runSummary: abs(artifactPaths.runSummary(loopId)),
    approval: abs(artifactPaths.approval(loopId)),
    heartbeat: abs(artifactPaths.heartbeat(loopId)),
    state: abs(artifactPaths.state),
    activeRun: abs(artifactPaths.activeRun),
  };
}
