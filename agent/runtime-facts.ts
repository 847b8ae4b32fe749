import path from "node:path";
import { z } from "zod";
import { EscalationSchema, RateLimitSchema, StuckFileSchema, SupervisorRecordSchema, type SupervisorFacts, type SupervisorRecord, type RuntimeFacts } from "../src/contract";
import { lastSummaryEntry, readJsonArtifact, readLoopArtifacts } from "./artifacts";
import { openOrNull, readAt, statOrNull } from "./file-io";
import { readLaunchRecord } from "./launch-record";
import { loopPaths, type LoopPaths } from "./paths";
import { isProcessStopped, isRunGroupAlive, isRunProcessAlive } from "./process-info";
import { currentBootId, supervisorRecordPath } from "./supervise";

export type { RuntimeFacts } from "../src/contract";

// Optional extra files: unreadable or half-written ones are reported as absent rather than failing the poll —
// they refine a state, the required artifacts decide it.
async function optional<S extends z.ZodType>(absolute: string, relative: string, schema: S): Promise<z.infer<S> | null> {
  try {
    return (await readJsonArtifact(absolute, relative, schema)).value;
  } catch {
    return null;
  }
}

const UsageConfigSchema = z.looseObject({
  loops: z.array(z.looseObject({ id: z.unknown(), usage_check: z.looseObject({ wait_on_limit: z.unknown(), max_wait_seconds: z.unknown() }).nullish() })).nullish(),
});

async function usageWaitMaxSeconds(paths: LoopPaths): Promise<number | null> {
  const config = await optional(path.join(paths.superloopDir, "config.json"), ".superloop/config.json", UsageConfigSchema);
  const loop = config?.loops?.find((l) => l.id === paths.loopId);
  const usage = loop?.usage_check;
  if (!usage || usage.wait_on_limit !== true) return null;
  // the runtime's default (`.usage_check.max_wait_seconds // 7200`)
  return typeof usage.max_wait_seconds === "number" && usage.max_wait_seconds >= 0 ? usage.max_wait_seconds : 7200;
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
  const rel = (name: string) => `.superloop/loops/${paths.loopId}/${name}`;
  const [artifacts, loopDirStat, eventsStat, launch, rateLimit, stuck, escalation, usageWait] = await Promise.all([
    readLoopArtifacts(paths),
    statOrNull(paths.loopDir),
    statOrNull(paths.events),
    readLaunchRecord(paths),
    optional(path.join(paths.loopDir, "rate-limit.json"), rel("rate-limit.json"), RateLimitSchema),
    optional(path.join(paths.loopDir, "stuck.json"), rel("stuck.json"), StuckFileSchema),
    optional(path.join(paths.loopDir, "escalation.json"), rel("escalation.json"), EscalationSchema),
    usageWaitMaxSeconds(paths),
  ]);
  const activeRun = artifacts.activeRun.value;
  const pid = activeRun?.pid ?? null;
  const leader = activeRun?.pgid ?? pid;
  const activeRunAlive = pid === null ? null : await isRunProcessAlive(pid, paths.repoPath);
  const record = await readSmallRegularFile(supervisorRecordPath(paths.repoPath, paths.loopId));
  const supervisor = supervisorFacts(record, paths.loopId, record === null ? null : currentBootId());
  const processStopped = leader === null || activeRunAlive === false ? null : await isProcessStopped(leader);
  const launchAlive = launch === null ? null : await isRunGroupAlive(launch.pgid, paths.repoPath);
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
    // The runtime-edge extras (docs/runtime.md) only when there is something to say: a transport that cannot read them (an older agent,
    // the Sprites API reader) then answers exactly the same facts as this reader for the same files.
    ...(launch !== null ? { launch: { pid: launch.pid, pgid: launch.pgid, startedAt: launch.startedAt }, launchAlive } : {}),
    ...(rateLimit !== null ? { rateLimit } : {}),
    ...(stuck !== null ? { stuck } : {}),
    ...(escalation !== null ? { escalation } : {}),
    ...(usageWait !== null ? { usageWaitMaxSeconds: usageWait } : {}),
    // Only with a record: facts of an unsupervised run look exactly as they did before the supervisor existed.
    ...(supervisor !== null ? { supervisor } : {}),
  };
}
