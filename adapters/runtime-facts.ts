import { SupervisorRecordSchema, type ActiveRun, type Approval, type Heartbeat, type RunSummaryEntry, type SupervisorFacts, type SupervisorRecord, type SuperloopState } from "../src/contract";
import { lastSummaryEntry, readLoopArtifacts } from "./artifacts";
import { openOrNull, readAt, statOrNull } from "./file-io";
import { loopPaths } from "./paths";
import { isProcessAlive, isProcessStopped } from "./process-info";
import { currentBootId, supervisorRecordPath } from "./supervise";

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
  /** The loop's supervisor record (a supervised START), with the Sprite's boot id now; null without one. */
  supervisor?: SupervisorFacts | null;
}

/** Record + the boot id now → facts. An unreadable or foreign record counts as none (it only adds evidence). */
export function supervisorFacts(text: string | null, loopId: string, bootIdNow: string | null): SupervisorFacts | null {
  if (text === null) return null;
  let record: SupervisorRecord;
  try {
    const parsed = SupervisorRecordSchema.safeParse(JSON.parse(text));
    if (!parsed.success || parsed.data.loopId !== loopId) return null;
    record = parsed.data;
  } catch {
    return null;
  }
  return {
    status: record.status,
    pid: record.pid,
    exitCode: record.exitCode,
    bootId: record.bootId,
    currentBootId: bootIdNow,
    startedAt: record.startedAt,
    taskHeld: record.task.held,
    taskReleased: record.task.released,
  };
}

/** A regular file of at most 64 KiB as text, else null (never opens a FIFO or follows it into a huge read). */
async function readSmallRegularFile(filePath: string): Promise<string | null> {
  const st = await statOrNull(filePath);
  if (!st?.isFile() || st.size > 64 * 1024) return null;
  const fh = await openOrNull(filePath);
  if (fh === null) return null;
  try {
    return (await readAt(fh, 0, st.size)).toString("utf8");
  } finally {
    await fh.close();
  }
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
  const record = await readSmallRegularFile(supervisorRecordPath(paths.repoPath, paths.loopId));
  const supervisor = supervisorFacts(record, paths.loopId, record === null ? null : currentBootId());
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
    // Only with a record: facts of an unsupervised run look exactly as they did before the supervisor existed.
    ...(supervisor !== null ? { supervisor } : {}),
  };
}
