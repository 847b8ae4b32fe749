import { promises as fsp } from "node:fs";
import { errnoCode } from "./errors";

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
