import { spawn } from "node:child_process";
import { errnoCode, errorMessage } from "../src/contract";

export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;

/** Keeps the last `max` bytes of a stream: the end of a failing command's output is the useful part. */
export class TailBuffer {
  private chunks: Buffer[] = [];
  private length = 0;
  private dropped = 0;

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.length += chunk.length;
    while (this.length > this.max && this.chunks.length > 0) {
      const first = this.chunks[0];
      const excess = this.length - this.max;
      if (first.length <= excess) {
        this.chunks.shift();
        this.length -= first.length;
        this.dropped += first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.length -= excess;
        this.dropped += excess;
      }
    }
  }

  text(): string {
    const body = Buffer.concat(this.chunks, this.length).toString("utf8");
    return this.dropped > 0 ? `[…${this.dropped} bytes truncated…]\n${body}` : body;
  }
}

export interface RunResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  pid: number | undefined;
  /** Set when the process could not be started at all (e.g. ENOENT). */
  spawnError?: { code: string | undefined; message: string };
}

export interface RunOptions {
  file: string;
  args: string[];
  cwd?: string;
  timeoutMs: number;
  maxOutputBytes?: number;
  /** Grace between SIGTERM and SIGKILL once the timeout fires. */
  killGraceMs?: number;
}

/**
 * Runs an argv (never a shell string) in its own process group, so a timeout can take down the command
 * and everything it spawned, with bounded captured output.
 */
export function runBounded(opts: RunOptions): Promise<RunResult> {
  const max = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  const stdout = new TailBuffer(max);
  const stderr = new TailBuffer(max);
  return new Promise((resolve) => {
    let settled = false;
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const child = spawn(opts.file, opts.args, {
      cwd: opts.cwd,
      shell: false,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
      windowsHide: true,
    });
    const signalGroup = (signal: NodeJS.Signals): void => {
      if (child.pid === undefined) return;
      try {
        process.kill(-child.pid, signal);
      } catch {
        try {
          child.kill(signal);
        } catch {
          // already gone
        }
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      signalGroup("SIGTERM");
      killTimer = setTimeout(() => signalGroup("SIGKILL"), opts.killGraceMs ?? 2_000);
    }, opts.timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    const finish = (result: RunResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (killTimer !== undefined) clearTimeout(killTimer);
      resolve(result);
    };
    child.on("error", (error) => {
      finish({
        exitCode: null,
        signal: null,
        stdout: stdout.text(),
        stderr: stderr.text(),
        timedOut,
        pid: child.pid,
        spawnError: { code: errnoCode(error), message: errorMessage(error) },
      });
    });
    child.on("close", (code, signal) => {
      finish({ exitCode: code, signal, stdout: stdout.text(), stderr: stderr.text(), timedOut, pid: child.pid });
    });
  });
}
