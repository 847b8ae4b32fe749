import { spawn } from "node:child_process";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { ActiveRunSchema, ControlIntentSchema, type ControlIntent, type ControlResult } from "../src/contract";
import { readJsonArtifact } from "./artifacts";
import { AdapterError, errnoCode } from "../src/contract";
import { runBounded, DEFAULT_MAX_OUTPUT_BYTES } from "./run-command";
import { loopPaths, type LoopPaths } from "./paths";
import { readProcStat } from "./process-info";
import { writeLaunchRecord } from "./launch-record";
import { failure, finishCancel, signalRunGroup } from "./run-signals";

export type { ControlIntent, ControlResult };

export interface ExecuteControlOptions {
  repoPath: string;
  loopId: string;
  /** A ControlIntent name; anything else is refused (parseIntent). */
  intent: string;
  by?: string;
  note?: string;
  /** Default: env SUPERLOOP_BIN, else "superloop.sh" looked up on PATH. */
  superloopBin?: string;
  /** Deadline for cancel/approve/reject; cancel itself waits ~10 s before SIGKILL, so keep this well above. */
  timeoutMs?: number;
  /** Where `start` writes the detached run's output. Default `<repo>/.superloop/ops-agent/logs`. */
  logDir?: string;
  /**
   * How long `start` waits for the runtime's answer: it ends as soon as the process exits (a refusal such as
   * "reentrant run blocked" takes the real runtime ~1 s) or active-run.json names the launched pid (accepted).
   */
  startGraceMs?: number;
  /** cancel: how long the run's processes get after SIGTERM before SIGKILL (the runtime's own cancel uses 10 s). */
  cancelKillAfterMs?: number;
  /** How long pause/resume wait to observe the stopped/running state in /proc. */
  verifyTimeoutMs?: number;
  /**
   * `start` launches the run under this supervisor command (e.g. `[node, agent.mjs, "supervise"]`), which holds
   * a Sprites Task while the run lives (agent/supervise.ts). Unset: the run is launched bare (LOCAL).
   */
  superviseCommand?: readonly string[] | null;
}

export const DEFAULT_CONTROL_TIMEOUT_MS = 120_000;
/**
 * Upper bound on how long `start` waits for the runtime's answer. It usually ends far sooner: the real runtime
 * refuses within ~1 s (exit 1) or writes active-run.json with the launched pid within ~1-2 s.
 */
export const DEFAULT_START_GRACE_MS = 10_000;
const DEFAULT_BY = "ops-agent";

export function defaultSuperloopBin(): string {
  const fromEnv = process.env["SUPERLOOP_BIN"];
  return fromEnv !== undefined && fromEnv.length > 0 ? fromEnv : "superloop.sh";
}

export function parseIntent(intent: unknown): ControlIntent {
  const parsed = ControlIntentSchema.safeParse(intent);
  if (!parsed.success) {
    throw new AdapterError("unsupported_intent", `unsupported intent ${JSON.stringify(intent)}: expected one of ${ControlIntentSchema.options.join(", ")}`, { intent });
  }
  return parsed.data;
}

function assertArgText(name: string, value: string, allowLeadingDash: boolean): void {
  // NUL would make spawn throw; other control characters have no business in a name or note.
  // eslint-disable-next-line no-control-regex -- rejects control characters in a name or note
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(value) || (name === "by" && /[\n\t]/.test(value))) {
    throw new AdapterError("invalid_request", `${name} contains control characters`, { field: name });
  }
  if (!allowLeadingDash && value.startsWith("-")) {
    throw new AdapterError("invalid_request", `${name} must not start with '-' (it would read as an option)`, { field: name });
  }
}

/** The exact argv for a command intent; null for the signal intents (pause/resume). Pure. */
export function buildControlArgv(intent: ControlIntent, ctx: { bin: string; repoPath: string; loopId: string; by?: string; note?: string }): string[] | null {
  const { bin, repoPath, loopId } = ctx;
  switch (intent) {
    case "cancel":
      return [bin, "cancel", "--repo", repoPath];
    case "approve":
    case "reject": {
      const by = ctx.by ?? DEFAULT_BY;
      assertArgText("by", by, false);
      const argv = [bin, "approve", "--repo", repoPath, "--loop", loopId, "--by", by];
      if (ctx.note !== undefined && ctx.note.length > 0) {
        assertArgText("note", ctx.note, true);
        argv.push("--note", ctx.note);
      }
      if (intent === "reject") argv.push("--reject");
      return argv;
    }
    case "start":
      return [bin, "run", "--repo", repoPath, "--loop", loopId];
    case "pause":
    case "resume":
      return null;
  }
}

function lastLine(text: string): string {
  const lines = text.trim().split("\n");
  return (lines[lines.length - 1] ?? "").slice(0, 300);
}

async function runCommandIntent(intent: ControlIntent, argv: string[], paths: LoopPaths, timeoutMs: number): Promise<ControlResult> {
  const [file, ...args] = argv as [string, ...string[]];
  const run = await runBounded({ file, args, cwd: paths.repoPath, timeoutMs });
  const base = {
    intent,
    argv,
    exitCode: run.exitCode,
    stdout: run.stdout,
    stderr: run.stderr,
    ...(run.pid !== undefined ? { pid: run.pid } : {}),
    ...(run.signal !== null ? { signal: run.signal } : {}),
  };
  if (run.spawnError !== undefined) {
    const hint = run.spawnError.code === "ENOENT" ? ` (not found: set SUPERLOOP_BIN or put superloop.sh on PATH)` : "";
    return failure(base, "control_failed", `cannot run ${file}: ${run.spawnError.message}${hint}`);
  }
  if (run.timedOut) {
    return failure(base, "control_timeout", `${path.basename(file)} ${args[0] ?? ""} did not finish within ${timeoutMs} ms and was killed`);
  }
  if (run.exitCode !== 0) {
    const detail = lastLine(run.stderr) || lastLine(run.stdout);
    const how = run.exitCode === null ? `was killed by ${run.signal ?? "a signal"}` : `exited with code ${run.exitCode}`;
    return failure(base, "control_failed", `${path.basename(file)} ${args[0] ?? ""} ${how}${detail ? `: ${detail}` : ""}`);
  }
  return { ...base, ok: true };
}

async function readTail(filePath: string, max: number): Promise<string> {
  try {
    const fh = await fsp.open(filePath, "r");
    try {
      const { size } = await fh.stat();
      const start = Math.max(0, size - max);
      const buffer = Buffer.alloc(size - start);
      await fh.read(buffer, 0, buffer.length, start);
      return buffer.toString("utf8");
    } finally {
      await fh.close();
    }
  } catch {
    return "";
  }
}

/** Size of events.jsonl now (0 when missing): where the launched run's own events will begin. */
async function eventsSize(paths: LoopPaths): Promise<number> {
  try {
    return (await fsp.stat(paths.events)).size;
  } catch {
    return 0;
  }
}

/** Whether a loop_start was appended to events.jsonl after byte `offset` (i.e. by the run launched then). */
async function loopStartAfter(paths: LoopPaths, offset: number): Promise<boolean> {
  try {
    const fh = await fsp.open(paths.events, "r");
    try {
      const { size } = await fh.stat();
      const length = Math.min(Math.max(0, size - offset), 256 * 1024);
      const buffer = Buffer.alloc(length);
      await fh.read(buffer, 0, length, offset);
      return buffer.toString("utf8").includes('"event":"loop_start"');
    } finally {
      await fh.close();
    }
  } catch {
    return false;
  }
}

/** active-run.json names the launched process, its group, or (under a supervisor) a child of it. */
async function activeRunNames(paths: LoopPaths, pid: number): Promise<boolean> {
  let activeRun;
  try {
    activeRun = (await readJsonArtifact(paths.activeRun, ".superloop/active-run.json", ActiveRunSchema)).value;
  } catch {
    return false; // written with `jq > file`: may be read empty
  }
  if (!activeRun || typeof activeRun.pid !== "number") return false;
  if (activeRun.pid === pid || activeRun.pgid === pid) return true;
  return (await readProcStat(activeRun.pid))?.ppid === pid;
}

/** `superloop run`, detached into its own session/process group so it outlives the agent, output to a log file. */
async function startDetached(argv: string[], paths: LoopPaths, logDir: string, graceMs: number, supervise: readonly string[] | null): Promise<ControlResult> {
  // Under a supervisor the spawned process is the supervisor; `argv` (what is reported) stays the run's own.
  const launch = supervise && supervise.length > 0 ? [...supervise, "--repo", paths.repoPath, "--loop", paths.loopId, "--", ...argv] : argv;
  const [file, ...args] = launch as [string, ...string[]];
  await fsp.mkdir(logDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const logFile = path.join(logDir, `start-${paths.loopId}-${stamp}.log`);
  const log = await fsp.open(logFile, "a");
  const eventsBefore = await eventsSize(paths);
  const base = { intent: "start" as const, argv, exitCode: null, stdout: "", stderr: "", logFile };
  try {
    const child = spawn(file, args, { cwd: paths.repoPath, detached: true, shell: false, stdio: ["ignore", log.fd, log.fd] });
    // Listen at once: a refusal can exit before the awaits below, and a missed `exit` would read as accepted.
    let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
    child.once("exit", (code, signal) => {
      exited = { code, signal };
    });
    const early = await new Promise<{ kind: "spawned" } | { kind: "error"; error: Error }>((resolve) => {
      child.once("spawn", () => resolve({ kind: "spawned" }));
      child.once("error", (error) => resolve({ kind: "error", error }));
    });
    if (early.kind === "error") {
      const hint = errnoCode(early.error) === "ENOENT" ? " (not found: set SUPERLOOP_BIN or put superloop.sh on PATH)" : "";
      return failure(base, "control_failed", `cannot start ${file}: ${early.error.message}${hint}`);
    }
    const pid = child.pid;
    // Recorded before anything else: until the runtime writes active-run.json (~1 s) this is the only way a
    // cancel or a liveness check can find the run.
    if (pid !== undefined) {
      await writeLaunchRecord(paths, { pid, pgid: pid, argv, startedAt: new Date().toISOString() }).catch(() => undefined);
    }
    // Wait for the runtime's answer: a refusal (stale state, stuck.json, bad loop) exits non-zero within about a
    // second; an accepted run writes active-run.json with its pid. Only a silent launch waits the whole grace.
    const deadline = Date.now() + graceMs;
    while (exited === null && Date.now() < deadline) {
      if (pid !== undefined && (await activeRunNames(paths, pid))) break;
      await new Promise((resolve) => setTimeout(resolve, Math.min(50, Math.max(1, deadline - Date.now()))));
    }
    const exit = exited as { code: number | null; signal: NodeJS.Signals | null } | null;
    child.unref();
    const withPid = pid !== undefined ? { ...base, pid } : base;
    if (exit === null) return { ...withPid, ok: true };
    // Exited before we saw active-run.json, but after the runtime accepted the run (it wrote loop_start): the
    // start worked and the run died at once (e.g. its first runner failed). That is the run's failure, shown by
    // the lifecycle (runtime_died), not a refusal of the start.
    if (exit.code !== 0 && (await loopStartAfter(paths, eventsBefore))) return { ...withPid, ok: true };
    const output = await readTail(logFile, DEFAULT_MAX_OUTPUT_BYTES);
    const result = { ...withPid, exitCode: exit.code, stderr: output, ...(exit.signal !== null ? { signal: exit.signal } : {}) };
    if (exit.code === 0) return { ...result, ok: true };
    return failure(result, "control_failed", `${path.basename(file)} run exited at once with code ${exit.code ?? exit.signal}: ${lastLine(output)}`);
  } finally {
    await log.close();
  }
}

/**
 * Executes one allowlisted intent. Invalid input (loop id, intent, option text) throws AdapterError; anything
 * that goes wrong while executing is reported in the result (`ok: false`, `error.code`).
 */
export async function executeControl(opts: ExecuteControlOptions): Promise<ControlResult> {
  const paths = loopPaths(opts.repoPath, opts.loopId);
  const intent = parseIntent(opts.intent);
  const bin = opts.superloopBin ?? defaultSuperloopBin();
  const ctx: { bin: string; repoPath: string; loopId: string; by?: string; note?: string } = {
    bin,
    repoPath: paths.repoPath,
    loopId: paths.loopId,
  };
  if (opts.by !== undefined) ctx.by = opts.by;
  if (opts.note !== undefined) ctx.note = opts.note;
  const argv = buildControlArgv(intent, ctx);
  if (intent === "pause" || intent === "resume") {
    return signalRunGroup(intent, paths, opts.verifyTimeoutMs ?? 2_000);
  }
  if (argv === null) throw new AdapterError("internal_error", `no command for intent ${intent}`);
  if (intent === "start") {
    const logDir = opts.logDir ?? path.join(paths.superloopDir, "ops-agent", "logs");
    return startDetached(argv, paths, logDir, opts.startGraceMs ?? DEFAULT_START_GRACE_MS, opts.superviseCommand ?? null);
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CONTROL_TIMEOUT_MS;
  const result = await runCommandIntent(intent, argv, paths, timeoutMs);
  if (intent !== "cancel" || !result.ok) return result;
  return finishCancel(result, () => runCommandIntent("cancel", argv, paths, timeoutMs), paths, opts.cancelKillAfterMs ?? 10_000);
}
