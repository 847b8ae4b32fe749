import { ActiveRunSchema, AdapterError, errnoCode, errorMessage, type AdapterErrorCode, type ControlResult } from "../src/contract";
import { readJsonArtifact } from "./artifacts";
import { readLaunchRecord } from "./launch-record";
import type { LoopPaths } from "./paths";
import { isProcessAlive, isRunGroupAlive, isRunProcessAlive, isStoppedState, ownProcessGroup, readProcStat } from "./process-info";

// Signals to the run's process group: pause/resume (SIGSTOP/SIGCONT, verified in /proc), and the follow-up of a
// cancel that the runtime's CLI reports done while the run still lives. Only a group whose leader is this repo's
// `superloop run` (its command line) is ever signalled, never the agent's own group or groups 0 and 1.

export function failure(base: Omit<ControlResult, "ok" | "error">, code: AdapterErrorCode, message: string): ControlResult {
  return { ...base, ok: false, error: { code, message } };
}

export async function signalRunGroup(intent: "pause" | "resume", paths: LoopPaths, verifyTimeoutMs: number): Promise<ControlResult> {
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
  let observed: boolean | null;
  while (true) {
    const stat = await readProcStat(pgid);
    observed = stat === null ? null : isStoppedState(stat.state);
    if (observed === wantStopped || observed === null || Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const verified = observed === null ? {} : { processStopped: observed };
  return { ...withPid, ok: true, verified };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Process groups that are still this repo's run: the launched one and the one active-run.json names. */
async function liveRunGroups(paths: LoopPaths): Promise<number[]> {
  const groups = new Set<number>();
  const launch = await readLaunchRecord(paths);
  if (launch !== null && (await isRunGroupAlive(launch.pgid, paths.repoPath)) === true) groups.add(launch.pgid);
  const activeRun = await readJsonArtifact(paths.activeRun, ".superloop/active-run.json", ActiveRunSchema).then(
    (r) => r.value,
    () => null,
  );
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
export async function finishCancel(first: ControlResult, reissue: () => Promise<ControlResult>, paths: LoopPaths, killAfterMs: number): Promise<ControlResult> {
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
    const again = await reissue();
    stdout = `${stdout}${stdout.endsWith("\n") || stdout === "" ? "" : "\n"}[ops] signalled the run's process group(s) ${killed.join(", ")} directly; cancel re-issued\n${again.stdout}`;
  }
  return { ...first, stdout, verified: { runGone: groups.length === 0 } };
}
