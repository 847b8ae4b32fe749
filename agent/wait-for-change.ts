import { watch, type FSWatcher } from "node:fs";
import { statOrNull } from "./file-io";

export interface FileState {
  exists: boolean;
  size: number;
  mtimeMs: number;
}

export interface WaitForChangeOptions {
  filePath: string;
  /** Directories to watch (the first that exists is used); fs.watch on the file alone misses its creation. */
  watchDirs: string[];
  since: FileState;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Poll fallback: fs.watch is unreliable on some filesystems (network, overlay) and may fail to start. */
  pollMs?: number;
}

export type WaitOutcome = "changed" | "timeout" | "aborted";

async function currentState(filePath: string): Promise<FileState> {
  const stat = await statOrNull(filePath).catch(() => null);
  return stat === null ? { exists: false, size: 0, mtimeMs: 0 } : { exists: true, size: stat.size, mtimeMs: stat.mtimeMs };
}

function differs(a: FileState, b: FileState): boolean {
  return a.exists !== b.exists || a.size !== b.size || a.mtimeMs !== b.mtimeMs;
}

/** Resolves as soon as the file's size/mtime/existence differs from `since`, or on timeout/abort. */
export function waitForFileChange(opts: WaitForChangeOptions): Promise<WaitOutcome> {
  return new Promise((resolve) => {
    let done = false;
    let watcher: FSWatcher | undefined;
    let checking = false;
    const finish = (outcome: WaitOutcome): void => {
      if (done) return;
      done = true;
      clearTimeout(deadline);
      clearInterval(poller);
      watcher?.close();
      opts.signal?.removeEventListener("abort", onAbort);
      resolve(outcome);
    };
    const check = (): void => {
      if (done || checking) return;
      checking = true;
      void currentState(opts.filePath).then((state) => {
        checking = false;
        if (differs(state, opts.since)) finish("changed");
      });
    };
    const onAbort = (): void => finish("aborted");
    const deadline = setTimeout(() => finish("timeout"), Math.max(0, opts.timeoutMs));
    const poller = setInterval(check, opts.pollMs ?? 250);
    if (opts.signal?.aborted === true) {
      finish("aborted");
      return;
    }
    opts.signal?.addEventListener("abort", onAbort);
    for (const dir of opts.watchDirs) {
      try {
        watcher = watch(dir, { persistent: false }, () => check());
        watcher.on("error", () => {
          watcher?.close();
          watcher = undefined;
        });
        break;
      } catch {
        // try the next directory; the poll covers the rest
      }
    }
    check(); // the file may have changed between the caller's read and this wait
  });
}
