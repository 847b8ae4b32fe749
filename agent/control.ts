import { spawn } from "node:child_process";
import { promises as fsp } from "node:fs";
import path from "node:path";
import { ActiveRunSchema, ControlIntentSchema, type ControlIntent, type ControlResult } from "../src/contract";
import { readJsonArtifact } from "./artifacts";
import { AdapterError, errnoCode, errorMessage, type AdapterErrorCode } from "../src/contract";
import { runBounded, DEFAULT_MAX_OUTPUT_BYTES } from "./run-command";
import { loopPaths, type LoopPaths } from "./paths";
import { isProcessAlive, isRunGroupAlive, isRunProcessAlive, isStoppedState, ownProcessGroup, readProcStat } from "./process-info";
import { readLaunchRecord, writeLaunchRecord } from "./launch-record";

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

function failure(base: Omit<ControlResult, "ok" | "error">, code: AdapterErrorCode, message: string): ControlResult {
  return { ...base, ok: false, error: { code, message } };
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
  // A file naming a group is not proof the group is the run: pids are reused (after a reboot, on a busy
  // machine). Only a group whose leader is this repo's `superloop run` is signalled (docs/runtime.md).
  const ours = await isRunGroupAlive(pgid, paths.repoPath);
  if (ours === false) {
    if ((await isProcessAlive(pgid)) === true) {
      return failure(withPid, "control_failed", `refusing to signal process group ${pgid}: it is not this repo's superloop run (pid reused)`);
    }
    return failure(withPid, "no_active_run", `process group ${pgid} from active-run.json no longer exists (stale file)`);
  }
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
    return startDetached(argv, paths, logDir, opts.startGraceMs ?? DEFAULT_START_GRACE_MS, opts.superviseCommand ?? null);
  }
  const timeoutMs = opts.timeoutMs ?? DEFAULT_CONTROL_TIMEOUT_MS;
  const result = await runCommandIntent(intent, argv, paths, timeoutMs);
  if (intent !== "cancel" || !result.ok) return result;
  return finishCancel(result, argv, paths, timeoutMs, opts.cancelKillAfterMs ?? 10_000);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Process groups that are still this repo's run: the launched one and the one active-run.json names. */
async function liveRunGroups(paths: LoopPaths): Promise<number[]> {
  const groups = new Set<number>();
  const launch = await readLaunchRecord(paths);
  if (launch !== null && (await isRunGroupAlive(launch.pgid, paths.repoPath)) === true) groups.add(launch.pgid);
  let activeRun = null;
  try {
    activeRun = (await readJsonArtifact(paths.activeRun, ".superloop/active-run.json", ActiveRunSchema)).value;
  } catch {
    activeRun = null;
  }
  const pid = activeRun?.pid ?? null;
  if (pid !== null && (await isRunProcessAlive(pid, paths.repoPath)) === true) {
    const pgid = activeRun?.pgid ?? pid;
    groups.add(pgid === pid || (await isRunGroupAlive(pgid, paths.repoPath)) === true ? pgid : pid);
  }
  const own = await ownProcessGroup();
  return [...groups].filter((g) => g > 1 && g !== process.pid && g !== own);
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    try {
      process.kill(pgid, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * `superloop cancel` exits 0 even when it killed nothing: before active-run.json exists ("No active state file
 * found."), or when the run's command line does not read `superloop.sh run`. So after it, whatever is still the
 * run (the launched group, the pid in active-run.json, both checked by command line) gets TERM (+CONT, a stopped
 * group holds TERM pending), then KILL; and when anything had to be killed the CLI runs once more, because the
 * run may have rewritten state.json after the first cancel deleted it. `verified.runGone` says whether the run
 * is gone at the end: the manager confirms on that, never on the exit code alone.
 */
async function finishCancel(first: ControlResult, argv: string[], paths: LoopPaths, timeoutMs: number, killAfterMs: number): Promise<ControlResult> {
  let groups = await liveRunGroups(paths);
  let stdout = first.stdout;
  const killed: number[] = [];
  if (groups.length > 0) {
    for (const g of groups) {
      signalGroup(g, "SIGTERM");
      signalGroup(g, "SIGCONT");
      killed.push(g);
    }
    const termDeadline = Date.now() + killAfterMs;
    while ((groups = await liveRunGroups(paths)).length > 0 && Date.now() < termDeadline) await sleep(100);
    for (const g of groups) signalGroup(g, "SIGKILL");
    const killDeadline = Date.now() + 2_000;
    while ((groups = await liveRunGroups(paths)).length > 0 && Date.now() < killDeadline) await sleep(50);
    const again = await runCommandIntent("cancel", argv, paths, timeoutMs);
    stdout = `${stdout}${stdout.endsWith("\n") || stdout === "" ? "" : "\n"}[ops] signalled the run's process group(s) ${killed.join(", ")} directly; cancel re-issued\n${again.stdout}`;
  }
  return { ...first, stdout, verified: { runGone: groups.length === 0 } };
}
