import type { ActiveRun, Approval, Heartbeat, RunSummaryEntry, SuperloopState } from "../src/contract";
import { lastSummaryEntry, readLoopArtifacts } from "./artifacts";
import { statOrNull } from "./file-io";
import { loopPaths } from "./paths";
import { isProcessAlive, isProcessStopped } from "./process-info";

export interface RuntimeFacts {
  state: SuperloopState | null;
  activeRun: ActiveRun | null;
  /** kill(pid, 0) on active-run.json's pid; null when there is no active run (or no pid in it). */
  activeRunAlive: boolean | null;
  /** /proc/<pgid>/stat state 'T' for the process-group leader; null when unknown. */
  processStopped: boolean | null;
  approval: Approval | null;
  lastSummary: RunSummaryEntry | null;
  heartbeat: Heartbeat | null;
  eventsFileExists: boolean;
  loopDirExists: boolean;
}

/** The facts the manager's lifecycle projection needs beyond the v1 snapshot (liveness, stop state). */
export async function readRuntimeFacts(opts: { repoPath: string; loopId: string }): Promise<RuntimeFacts> {
  const paths = loopPaths(opts.repoPath, opts.loopId);
  const [artifacts, loopDirStat, eventsStat] = await Promise.all([
    readLoopArtifacts(paths),
    statOrNull(paths.loopDir),
    statOrNull(paths.events),
  ]);
  const activeRun = artifacts.activeRun.value;
  const pid = activeRun?.pid ?? null;
  const leader = activeRun?.pgid ?? pid;
  const activeRunAlive = pid === null ? null : await isProcessAlive(pid);
  const processStopped = leader === null || activeRunAlive === false ? null : await isProcessStopped(leader);
  return {
    state: artifacts.state.value,
    activeRun,
    activeRunAlive,
    processStopped,
    approval: artifacts.approval.value,
    lastSummary: lastSummaryEntry(artifacts.runSummary.value),
    heartbeat: artifacts.heartbeat.value,
    eventsFileExists: eventsStat?.isFile() ?? false,
    loopDirExists: loopDirStat?.isDirectory() ?? false,
  };
}
