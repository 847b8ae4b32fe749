import { readlinkSync } from "node:fs";
import { getPriority, setPriority } from "node:os";

// Bulk work on a thread of its own (a catch-up's pages read and packed: src/events/pack-worker.ts) runs at a
// lower priority than the manager's thread and the database it feeds: on a machine with few cores, a thread at
// the same priority took the CPU from the PostgreSQL backend inserting the page before, and the insert, not the
// reading, is what a catch-up waits for (bench:ingest). It also leaves the manager's thread its requests.

/**
 * The nice value bulk threads run at: the lowest priority (Linux: 0 is the default, 19 the lowest). Interleaved
 * bench:ingest runs gave 0.79/0.84 of the raw insert at 19, 0.76/0.79 at 10, 0.75/0.79 at 0. A catch-up on a
 * machine busy with everything else crawls, and that is the point: the live runs' first pages are read on the
 * manager's thread, at its priority.
 */
export const BULK_THREAD_NICE = 19;

/**
 * Lowers the calling thread's priority to `nice` (never raises it); returns the thread's nice value after, or
 * null where a thread's priority cannot be set on its own (only Linux gives a thread its own nice value, by its
 * task id). Lowering a priority needs no privilege.
 */
export function lowerThreadPriority(nice: number = BULK_THREAD_NICE): number | null {
  if (process.platform !== "linux") return null;
  try {
    // "/proc/thread-self" links to "<pid>/task/<tid>": the task id setpriority(2) takes for one thread.
    const tid = Number(readlinkSync("/proc/thread-self").split("/").pop());
    if (!Number.isSafeInteger(tid) || tid <= 0) return null;
    if (getPriority(tid) < nice) setPriority(tid, nice);
    return getPriority(tid);
  } catch {
    return null;
  }
}
