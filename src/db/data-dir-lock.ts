import { linkSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { pidAlive } from "../util/process";

// One data directory, one embedded manager. A second manager on a live data directory would adopt the first
// one's PostgreSQL and stop it on its way out, crashing the first. The lock file names its holder (pid and the
// process's start time, so a pid reused after a reboot or by another program is not mistaken for it); a lock
// whose holder is gone (kill -9) is taken over, and the orphaned postmaster is adopted as before.

export const LOCK_FILE = "manager.lock";

export class DataDirLockedError extends Error {
  constructor(
    readonly file: string,
    readonly holder: LockHolder,
  ) {
    super(`another superloop-ops manager (pid ${holder.pid}, started ${holder.startedAt}) is using the data directory ${path.dirname(file)}: stop it first, or give this one its own OPS_DATA_DIR`);
  }
}

export interface LockHolder {
  pid: number;
  /** /proc/<pid>/stat start time (clock ticks since boot), null where /proc is absent */
  startTicks: number | null;
  host: string;
  startedAt: string;
}

/** The start time of a live process (field 22 of /proc/<pid>/stat), or null if it is gone or unknowable. */
export function processStartTicks(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may contain spaces and parentheses: count fields after its closing ")".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? ticks : null;
  } catch {
    return null;
  }
}

/** Pure: is the process recorded in a lock still the one holding it? */
export function holderIsLive(h: LockHolder, now: { alive: boolean; startTicks: number | null; host: string }): boolean {
  if (h.host !== now.host) return true; // a data dir shared over the network: we cannot tell, so never steal it
  if (!now.alive) return false;
  return h.startTicks === null || now.startTicks === null || h.startTicks === now.startTicks;
}

function readHolder(file: string): LockHolder | null {
  try {
    const h = JSON.parse(readFileSync(file, "utf8")) as Partial<LockHolder>;
    if (typeof h.pid !== "number" || !Number.isInteger(h.pid) || h.pid < 1) return null;
    return { pid: h.pid, startTicks: typeof h.startTicks === "number" ? h.startTicks : null, host: typeof h.host === "string" ? h.host : os.hostname(), startedAt: String(h.startedAt ?? "?") };
  } catch {
    return null;
  }
}

export interface DataDirLock {
  file: string;
  /** the lock was left by a manager that is gone (its PostgreSQL may still run: adopt it) */
  tookOver: LockHolder | null;
  release(): void;
}

/**
 * Takes the data directory's lock or throws DataDirLockedError. The new lock is written aside and hard-linked
 * into place, so two managers starting together cannot both get it.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  const file = path.join(dataDir, LOCK_FILE);
  const me: LockHolder = { pid: process.pid, startTicks: processStartTicks(process.pid), host: os.hostname(), startedAt: new Date().toISOString() };
  const tmp = `${file}.${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(me)}\n`, { mode: 0o600 });
  let tookOver: LockHolder | null = null;
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        linkSync(tmp, file);
        break;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== "EEXIST" || attempt >= 5) throw e;
      }
      const holder = readHolder(file);
      if (holder && holder.pid !== process.pid && holderIsLive(holder, { alive: pidAlive(holder.pid), startTicks: processStartTicks(holder.pid), host: os.hostname() })) {
        throw new DataDirLockedError(file, holder);
      }
      // Stale (its holder is gone) or unreadable (a crash while writing it): remove it and try again.
      tookOver = holder;
      try {
        unlinkSync(file);
      } catch {
        /* someone else removed it first: the link below decides */
      }
    }
  } finally {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
  }
  let released = false;
  return {
    file,
    tookOver,
    release() {
      if (released) return;
      released = true;
      // Only our own lock: never remove one a successor took over after us.
      if (readHolder(file)?.pid === process.pid) {
        try {
          unlinkSync(file);
        } catch {
          /* gone */
        }
      }
    },
  };
}
