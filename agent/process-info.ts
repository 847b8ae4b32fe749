import { promises as fsp } from "node:fs";
import path from "node:path";
import { errnoCode } from "../src/contract";

export interface ProcStat {
  /** One-letter scheduler state: R, S, D, T (stopped), t (traced), Z (zombie), ... */
  state: string;
  ppid: number;
  pgrp: number;
}

/** Parses /proc/<pid>/stat; null where /proc is unavailable or the process is gone. */
export async function readProcStat(pid: number | "self"): Promise<ProcStat | null> {
  let text: string;
  try {
    text = await fsp.readFile(`/proc/${pid}/stat`, "utf8");
  } catch {
    return null;
  }
  // The command name is in parentheses and may itself contain spaces or ')'.
  const close = text.lastIndexOf(")");
  if (close === -1) return null;
  const fields = text.slice(close + 2).split(" ");
  const state = fields[0];
  const ppid = Number(fields[1]);
  const pgrp = Number(fields[2]);
  if (state === undefined || state.length === 0 || !Number.isInteger(ppid) || !Number.isInteger(pgrp)) return null;
  return { state, ppid, pgrp };
}

export function isStoppedState(state: string): boolean {
  return state === "T" || state === "t";
}

/** kill(pid, 0): true = exists (EPERM still means it exists), false = gone or a zombie, null = unknown. */
export async function isProcessAlive(pid: number): Promise<boolean | null> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ESRCH") return false;
    if (code !== "EPERM") return null;
  }
  const stat = await readProcStat(pid);
  if (stat !== null && stat.state === "Z") return false;
  return true;
}

/** Whether the process-group leader is stopped (SIGSTOP); null when /proc cannot tell. */
export async function isProcessStopped(pid: number): Promise<boolean | null> {
  const stat = await readProcStat(pid);
  return stat === null ? null : isStoppedState(stat.state);
}

export async function ownProcessGroup(): Promise<number | null> {
  const stat = await readProcStat("self");
  return stat?.pgrp ?? null;
}

export function isNoSuchProcess(error: unknown): boolean {
  return errnoCode(error) === "ESRCH";
}

/** /proc/<pid>/cmdline as argv; null when the process is gone or /proc cannot tell. */
export async function readCmdline(pid: number): Promise<string[] | null> {
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  try {
    const raw = await fsp.readFile(`/proc/${pid}/cmdline`, "utf8");
    if (raw.length === 0) return null; // a zombie or a kernel thread
    return raw.replace(/\0$/, "").split("\0");
  } catch {
    return null;
  }
}

async function procAvailable(): Promise<boolean> {
  try {
    await fsp.access("/proc/self/cmdline");
    return true;
  } catch {
    return false;
  }
}

async function processCwd(pid: number): Promise<string | null> {
  try {
    return await fsp.readlink(`/proc/${pid}/cwd`);
  } catch {
    return null;
  }
}

/**
 * Whether an argv is a Superloop `run` of this repository: the word `run` followed (anywhere later) by
 * `--repo R` where R resolves to `repoPath` (relative paths against the process's cwd). Pure but for `cwd`.
 */
export function isRunArgvForRepo(argv: readonly string[], repoPath: string, cwd: string | null): boolean {
  const runAt = argv.indexOf("run");
  if (runAt === -1) return false;
  const want = path.resolve(repoPath);
  for (let i = runAt + 1; i < argv.length - 1; i++) {
    if (argv[i] !== "--repo") continue;
    const value = argv[i + 1];
    const resolved = path.isAbsolute(value) ? path.resolve(value) : cwd !== null ? path.resolve(cwd, value) : null;
    if (resolved === want) return true;
  }
  return false;
}

/**
 * Whether `pid` is alive AND is the Superloop `run` of `repoPath`. Pids are reused (a reboot, a busy
 * machine): a live pid running something else is not our run, so this answers false for it. Where /proc is
 * unavailable the command line cannot be checked and kill(pid, 0) is all there is.
 */
export async function isRunProcessAlive(pid: number, repoPath: string): Promise<boolean | null> {
  const alive = await isProcessAlive(pid);
  if (alive !== true) return alive;
  const argv = await readCmdline(pid);
  if (argv === null) return (await procAvailable()) ? false : true;
  return isRunArgvForRepo(argv, repoPath, await processCwd(pid));
}

/**
 * Whether any process of a group launched as the run is still there: its leader when the leader is still the
 * run, or members left behind by a leader that exited (the runner children of a killed run). A reused group
 * id (a new leader running something else) is not the run's.
 */
export async function isRunGroupAlive(pgid: number, repoPath: string): Promise<boolean | null> {
  if (!Number.isSafeInteger(pgid) || pgid <= 1) return null;
  const leader = await isRunProcessAlive(pgid, repoPath);
  if (leader === true) return true;
  if ((await isProcessAlive(pgid)) === true) return false; // the id belongs to someone else now
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ESRCH") return false;
    if (code !== "EPERM") return null;
  }
  return (await groupMembersAlive(pgid)) ?? true;
}

/** Live (non-zombie) processes in a group, from /proc; null where /proc cannot be listed. */
async function groupMembersAlive(pgid: number): Promise<boolean | null> {
  let entries: string[];
  try {
    entries = await fsp.readdir("/proc");
  } catch {
    return null;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readProcStat(Number(entry));
    if (stat !== null && stat.pgrp === pgid && stat.state !== "Z") return true;
  }
  return false;
}
