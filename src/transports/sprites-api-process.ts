import { AdapterError } from "../contract";
import { isRunArgvForRepo } from "../../agent/process-info";
import { ActiveRunSchema, type ActiveRun, type ControlResult } from "../contract";
import { sleep } from "./http";
import { parseArtifact } from "./sprites-api-artifacts";
import { lastLine, type SpritesApiClient } from "./sprites-api-client";

// SPRITES_API processes: the run's liveness and stop state read through `cat /proc/<pid>/stat`, whether a
// process is this repo's `superloop run` (its command line, as the agent's process-info.ts decides it), and
// pause/resume as a signal to the run's process group, only once that group's leader is known to be the run.

type Exec = Pick<SpritesApiClient, "exec">;

/** pid → its state letter and start time (clock ticks since boot: a reused pid has another) from /proc/<pid>/stat lines. */
export function procStates(text: string): Map<number, { state: string; start: string }> {
  const out = new Map<number, { state: string; start: string }>();
  for (const line of text.split("\n")) {
    const close = line.lastIndexOf(")");
    const pid = Number(line.slice(0, line.indexOf(" ")));
    if (close === -1 || !Number.isSafeInteger(pid)) continue;
    const fields = line.slice(close + 2).split(" "); // fields[0] is field 3 (state), fields[19] field 22 (starttime)
    if (fields[0]) out.set(pid, { state: fields[0], start: fields[19] ?? "" });
  }
  return out;
}

/** Same meaning as the agent's isProcessAlive/isProcessStopped, read through one `cat /proc/.../stat`. */
export async function liveness(
  client: Exec,
  activeRun: ActiveRun | null,
  repoPath: string,
  cache: { runProcess?: { key: string; isRun: boolean } },
): Promise<{ alive: boolean | null; stopped: boolean | null }> {
  const pid = activeRun?.pid ?? null;
  if (pid === null || !Number.isSafeInteger(pid) || pid <= 0) return { alive: null, stopped: null };
  const leader = activeRun?.pgid ?? pid;
  const files = [`/proc/${pid}/stat`];
  if (leader !== pid && Number.isSafeInteger(leader) && leader > 0) files.push(`/proc/${leader}/stat`);
  const out = await client.exec(["cat", ...files], { replayable: true });
  const states = procStates(out.stdout.toString("utf8"));
  const own = states.get(pid);
  // A live pid running something else is not the run (pids are reused, e.g. after a cold boot): the same
  // command-line check as the local adapter's isRunProcessAlive, read once per process rather than every poll.
  let alive = own !== undefined && own.state !== "Z";
  if (own !== undefined && alive) {
    const key = `${pid}:${own.start}`;
    if (cache.runProcess?.key !== key) cache.runProcess = { key, isRun: (await runLeader(client, pid, repoPath)) === "run" };
    alive = cache.runProcess.isRun;
  }
  const leaderState = states.get(leader)?.state;
  const stopped = !alive || leaderState === undefined ? null : leaderState === "T" || leaderState === "t";
  return { alive, stopped };
}

export async function signalRun(client: Exec & Pick<SpritesApiClient, "readFile">, intent: "pause" | "resume", activeRunPath: string, loopId: string, repoPath: string): Promise<ControlResult> {
  const signal = intent === "pause" ? "SIGSTOP" : "SIGCONT";
  const base = { intent, argv: null, exitCode: null, stdout: "", stderr: "", signal };
  const fail = (code: string, message: string, extra: Record<string, unknown> = {}): ControlResult => ({ ...base, ...extra, ok: false, error: { code, message } });
  const bytes = await client.readFile(activeRunPath, repoPath);
  if (bytes === null) return fail("no_active_run", `no active run: .superloop/active-run.json is missing, nothing to ${intent}`);
  let activeRun: ActiveRun;
  try {
    activeRun = parseArtifact(bytes, ".superloop/active-run.json", ActiveRunSchema);
  } catch (e) {
    return fail(e instanceof AdapterError ? e.code : "io_error", `cannot read .superloop/active-run.json: ${(e as Error).message}`);
  }
  if (typeof activeRun.loop_id === "string" && activeRun.loop_id.length > 0 && activeRun.loop_id !== loopId) {
    return fail("no_active_run", `the active run belongs to loop ${activeRun.loop_id}, not ${loopId}`);
  }
  const pgid = activeRun.pgid ?? activeRun.pid ?? null;
  if (pgid === null || !Number.isSafeInteger(pgid) || pgid < 2) return fail("control_failed", `refusing to signal process group ${String(pgid)} from active-run.json`);
  // A file naming a group is not proof the group is the run (pids are reused; the file may be forged): only a
  // group whose leader is this repo's `superloop run` is signalled, as the local adapter does (docs/runtime.md).
  const leader = await runLeader(client, pgid, repoPath);
  if (leader === "gone") return fail("no_active_run", `process group ${pgid} from active-run.json no longer exists (stale file)`, { pid: pgid });
  if (leader === "other") return fail("control_failed", `refusing to signal process group ${pgid}: it is not this repo's superloop run (pid reused)`, { pid: pgid });
  const out = await client.exec(["kill", "-s", intent === "pause" ? "STOP" : "CONT", "--", `-${pgid}`], { replayable: false });
  if (out.exitCode !== 0) {
    const err = out.stderr.toString("utf8");
    if (/no such process/i.test(err)) return fail("no_active_run", `process group ${pgid} from active-run.json no longer exists (stale file)`, { pid: pgid });
    return fail("control_failed", `cannot send ${signal} to process group ${pgid}: ${lastLine(err)}`, { pid: pgid });
  }
  const want = intent === "pause";
  const deadline = Date.now() + 2_000;
  let observed: boolean | null = null;
  for (;;) {
    const stat = await client.exec(["cat", `/proc/${pgid}/stat`], { replayable: true });
    const state = procStates(stat.stdout.toString("utf8")).get(pgid)?.state;
    observed = state === undefined ? null : state === "T" || state === "t";
    if (observed === want || observed === null || Date.now() >= deadline) break;
    await sleep(50);
  }
  return { ...base, pid: pgid, ok: true, verified: observed === null ? {} : { processStopped: observed } };
}

/** Whether process `pgid` in the Sprite is this repo's `superloop run` (its cwd read only for a relative --repo). */
export async function runLeader(client: Exec, pgid: number, repoPath: string): Promise<"run" | "other" | "gone"> {
  const cmd = await client.exec(["cat", `/proc/${pgid}/cmdline`], { replayable: true });
  const raw = cmd.stdout.toString("utf8");
  if (cmd.exitCode !== 0 || raw.length === 0) return "gone"; // no such process, or a zombie
  const argv = raw.replace(/\0$/, "").split("\0");
  if (isRunArgvForRepo(argv, repoPath, null)) return "run";
  const cwd = await client.exec(["readlink", `/proc/${pgid}/cwd`], { replayable: true });
  const dir = cwd.exitCode === 0 ? cwd.stdout.toString("utf8").trim() : "";
  return dir.length > 0 && isRunArgvForRepo(argv, repoPath, dir) ? "run" : "other";
}
