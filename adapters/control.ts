import { spawn } from "node:child_process";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { ActiveRunSchema, ControlIntentSchema, type ControlIntent, type ControlResult } from "../src/contract";
import { readJsonArtifact } from "./artifacts";
import { AdapterError, errnoCode, errorMessage, type AdapterErrorCode } from "./errors";
import { runBounded, DEFAULT_MAX_OUTPUT_BYTES } from "./run-command";
import { loopPaths, type LoopPaths } from "./paths";
import { isStoppedState, ownProcessGroup, readProcStat } from "./process-info";

export type { ControlIntent, ControlResult };

export interface ExecuteControlOptions {
  repoPath: string;
  loopId: string;
  intent: ControlIntent | string;
  by?: string;
  note?: string;
  /** Default: env SUPERLOOP_BIN, else "superloop.sh" looked up on PATH. */
  superloopBin?: string;
  /** Deadline for cancel/approve/reject; cancel itself waits ~10 s before SIGKILL, so keep this well above. */
  timeoutMs?: number;
  /** Where `start` writes the detached run's output. Default `<repo>/.superloop/ops-agent/logs`. */
  logDir?: string;
  /** How long `start` watches the new process for an immediate failure. */
  startGraceMs?: number;
  /** How long pause/resume wait to observe the stopped/running state in /proc. */
  verifyTimeoutMs?: number;
  /**
   * `start` launches the run under this supervisor command (e.g. `[node, agent.mjs, "supervise"]`), which holds
   * a Sprites Task while the run lives (adapters/supervise.ts). Unset: the run is launched bare (LOCAL).
   */
  superviseCommand?: readonly string[] | null;
}

export const DEFAULT_CONTROL_TIMEOUT_MS = 120_000;
const DEFAULT_BY = "ops-agent";

export function defaultSuperloopBin(): string {
  const fromEnv = process.env["SUPERLOOP_BIN"];
  return fromEnv !== undefined && fromEnv.length > 0 ? fromEnv : "superloop.sh";
}

export function parseIntent(intent: unknown): ControlIntent {
  const parsed = ControlIntentSchema.safeParse(intent);
  if (!parsed.success) {
    throw new AdapterError(
      "unsupported_intent",
      `unsupported intent ${JSON.stringify(intent)}: expected one of ${ControlIntentSchema.options.join(", ")}`,
      { intent },
    );
  }
  return parsed.data;
}

function assertArgText(name: string, value: string, allowLeadingDash: boolean): void {
  // NUL would make spawn throw; other control characters have no business in a name or note.
  if (/[\u0000-\u0008\u000b-\u001f\u007f]/.test(value) || (name === "by" && /[\n\t]/.test(value))) {
    throw new AdapterError("invalid_request", `${name} contains control characters`, { field: name });
  }
  if (!allowLeadingDash && value.startsWith("-")) {
    throw new AdapterError("invalid_request", `${name} must not start with '-' (it would read as an option)`, { field: name });
  }
}

/** The exact argv for a command intent; null for the signal intents (pause/resume). Pure. */
export function buildControlArgv(
  intent: ControlIntent,
  ctx: { bin: string; repoPath: string; loopId: string; by?: string; note?: string },
): string[] | null {
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

function failure(
  base: Omit<ControlResult, "ok" | "error">,
  code: AdapterErrorCode,
  message: string,
): ControlResult {
  return { ...base, ok: false, error: { code, message } };
}

function lastLine(text: string): string {
  const lines = text.trim().split("\n");
  return (lines[lines.length - 1] ?? "").slice(0, 300);
}

async function runCommandIntent(intent: ControlIntent, argv: string[], paths: LoopPaths, timeoutMs: number): Promise<ControlResult> {
  const [file, ...args] = argv as [string, ...string[]];
  const run = await runBounded({ file, args, cwd: paths.repoPath, timeoutMs });
  const base = { intent, argv, exitCode: run.exitCode, stdout: run.stdout, stderr: run.stderr, ...(run.pid !== undefined ? { pid: run.pid } : {}), ...(run.signal !== null ? { signal: run.signal } : {}) };
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

/** `superloop run`, detached into its own session/process group so it outlives the agent, output to a log file. */
async function startDetached(argv: string[], paths: LoopPaths, logDir: string, graceMs: number, supervise: readonly string[] | null): Promise<ControlResult> {
  // Under a supervisor the spawned process is the supervisor; `argv` (what is reported) stays the run's own.
  const launch = supervise && supervise.length > 0 ? [...supervise, "--repo", paths.repoPath, "--loop", paths.loopId, "--", ...argv] : argv;
  const [file, ...args] = launch as [string, ...string[]];
  await fsp.mkdir(logDir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const logFile = path.join(logDir, `start-${paths.loopId}-${stamp}.log`);
  const log = await fsp.open(logFile, "a");
  const base = { intent: "start" as const, argv, exitCode: null, stdout: "", stderr: "", logFile };
  try {
    const child = spawn(file, args, { cwd: paths.repoPath, detached: true, shell: false, stdio: ["ignore", log.fd, log.fd] });
    const early = await new Promise<{ kind: "spawned" } | { kind: "error"; error: Error }>((resolve) => {
      child.once("spawn", () => resolve({ kind: "spawned" }));
      child.once("error", (error) => resolve({ kind: "error", error }));
    });
    if (early.kind === "error") {
      const hint = errnoCode(early.error) === "ENOENT" ? " (not found: set SUPERLOOP_BIN or put superloop.sh on PATH)" : "";
      return failure(base, "control_failed", `cannot start ${file}: ${early.error.message}${hint}`);
    }
    const pid = child.pid;
    // Watch briefly: a run that fails at once (bad loop id, lock held) is reported now, not as a silent no-op.
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null } | null>((resolve) => {
      const timer = setTimeout(() => resolve(null), graceMs);
      child.once("exit", (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal });
      });
    });
    child.unref();
    const withPid = pid !== undefined ? { ...base, pid } : base;
    if (exit === null) return { ...withPid, ok: true };
    const output = await readTail(logFile, DEFAULT_MAX_OUTPUT_BYTES);
    const result = { ...withPid, exitCode: exit.code, stderr: output, ...(exit.signal !== null ? { signal: exit.signal } : {}) };
    if (exit.code === 0) return { ...result, ok: true };
    return failure(result, "control_failed", `${path.basename(file)} run exited at once with code ${exit.code ?? exit.signal}: ${lastLine(output)}`);
  } finally {
    await log.close();
  }
}

async function signalRunGroup(intent: "pause" | "resume", paths: LoopPaths, verifyTimeoutMs: number): Promise<ControlResult> {
  const signal = intent === "pause" ? "SIGSTOP" : "SIGCONT";
  const base = { intent, argv: null, exitCode: null, stdout: "", stderr: "", signal };
  let activeRun;
  try {
    activeRun = (await readJsonArtifact(paths.activeRun, ".superloop/active-run.json", ActiveRunSchema)).value;
  } catch (error) {
    const code = error instanceof AdapterError ? error.code : "io_error";
    return failure(base, code, `cannot read .superloop/active-run.json: ${errorMessage(error)}`);
  }
  if (activeRun === null) {
    return failure(base, "no_active_run", `no active run: .superloop/active-run.json is missing, nothing to ${intent}`);
  }
  if (typeof activeRun.loop_id === "string" && activeRun.loop_id.length > 0 && activeRun.loop_id !== paths.loopId) {
    return failure(base, "no_active_run", `the active run belongs to loop ${activeRun.loop_id}, not ${paths.loopId}`);
  }
  const pgid = activeRun.pgid ?? activeRun.pid ?? null;
  // Never signal group 0/1 (ourselves / everything) or the agent's own group.
  const own = await ownProcessGroup();
  if (pgid === null || pgid < 2 || pgid === process.pid || pgid === own) {
    return failure(base, "control_failed", `refusing to signal process group ${String(pgid)} from active-run.json`);
  }
  const withPid = { ...base, pid: pgid };
  try {
    process.kill(-pgid, signal);
  } catch (error) {
    if (errnoCode(error) === "ESRCH") {
      return failure(withPid, "no_active_run", `process group ${pgid} from active-run.json no longer exists (stale file)`);
    }
    return failure(withPid, "control_failed", `cannot send ${signal} to process group ${pgid}: ${errorMessage(error)}`);
  }
  const wantStopped = intent === "pause";
  const deadline = Date.now() + verifyTimeoutMs;
  let observed: boolean | null = null;
  while (true) {
    const stat = await readProcStat(pgid);
    observed = stat === null ? null : isStoppedState(stat.state);
    if (observed === wantStopped || observed === null || Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const verified = observed === null ? {} : { processStopped: observed };
  return { ...withPid, ok: true, verified };
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
    return startDetached(argv, paths, logDir, opts.startGraceMs ?? 500, opts.superviseCommand ?? null);
  }
  return runCommandIntent(intent, argv, paths, opts.timeoutMs ?? DEFAULT_CONTROL_TIMEOUT_MS);
}

