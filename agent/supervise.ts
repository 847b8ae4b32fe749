import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { parseArgs } from "node:util";

// `superloop-ops-agent supervise`: runs `superloop run` as a child and holds a Sprites Task while it lives, so the
// Sprite stays running under a live loop (docs/sprites.md: a process left behind by exec is not activity, freezes
// when the Sprite goes warm and dies when it goes cold). It records the boot id, the run's pid and its exit in a
// JSON file next to the loop's artifacts, so the manager can tell "the Sprite slept under this run" (boot id
// changed) from "the run died". Node builtins only, on purpose: over SPRITES_API this module is bundled into one
// small file and written into the Sprite with the fs API (see src/transports/supervisor-script.ts).

export const SUPERVISOR_RECORD_VERSION = 1;
/** /proc/sys/kernel/random/boot_id on a Sprite; SUPERLOOP_OPS_BOOT_ID_FILE overrides it (the fake Sprites API). */
export const BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id";
/** The Sprite's own API socket (Tasks API); SPRITE_API_SOCK overrides it. */
export const SPRITE_API_SOCKET = "/.sprite/api.sock";

export interface SupervisorRecord {
  version: number;
  status: "starting" | "running" | "exited" | "spawn_failed";
  loopId: string;
  supervisorPid: number;
  bootId: string | null;
  pid: number | null;
  argv: string[];
  startedAt: string;
  endedAt: string | null;
  exitCode: number | null;
  signal: string | null;
  task: { name: string; held: boolean; lastRefreshAt: string | null; released: boolean; error: string | null };
}

/** Where the record of a loop's supervised run lives: next to the loop's artifacts, in the agent's directory. */
export function supervisorRecordPath(repoPath: string, loopId: string): string {
  return path.join(repoPath, ".superloop", "ops-agent", `supervisor-${loopId}.json`);
}

export function currentBootId(env: NodeJS.ProcessEnv = process.env): string | null {
  try {
    const id = readFileSync(env.SUPERLOOP_OPS_BOOT_ID_FILE || BOOT_ID_PATH, "utf8").trim();
    return id.length > 0 ? id : null;
  } catch {
    return null;
  }
}

export interface SuperviseOptions {
  repoPath: string;
  loopId: string;
  argv: string[];
  recordFile?: string;
  taskName?: string;
  /** Task refresh period (documented pattern: every 60 s) and expiry (5 min: a dead supervisor frees it soon). */
  refreshMs?: number;
  expire?: string;
  socketPath?: string;
  env?: NodeJS.ProcessEnv;
}

function writeAtomic(file: string, value: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, file);
}

/** One call to the Tasks API over the Sprite's unix socket; resolves with the HTTP status (never throws). */
function taskCall(socketPath: string, method: "PUT" | "DELETE", name: string, body?: unknown): Promise<{ status: number; error: string | null }> {
  return new Promise((resolve) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      {
        socketPath,
        method,
        path: `/v1/tasks/${encodeURIComponent(name)}`,
        headers: { host: "sprite", ...(payload !== undefined ? { "content-type": "application/json", "content-length": Buffer.byteLength(payload) } : {}) },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const status = res.statusCode ?? 0;
          resolve({ status, error: status >= 400 ? `HTTP ${status}: ${Buffer.concat(chunks).toString("utf8").slice(0, 200)}` : null });
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("Tasks API did not answer in 10 s")));
    req.on("error", (e) => resolve({ status: 0, error: e.message }));
    req.end(payload);
  });
}

/** Runs the loop under a Task; resolves with the exit code to exit with (the child's, or 127 when it cannot start). */
export async function supervise(opts: SuperviseOptions): Promise<number> {
  const env = opts.env ?? process.env;
  const [file, ...args] = opts.argv;
  if (file === undefined) throw new Error("supervise: no command to run");
  const recordFile = opts.recordFile ?? supervisorRecordPath(opts.repoPath, opts.loopId);
  const socketPath = opts.socketPath ?? (env.SPRITE_API_SOCK || SPRITE_API_SOCKET);
  const refreshMs = opts.refreshMs ?? 60_000;
  const expire = opts.expire ?? "5m";
  const record: SupervisorRecord = {
    version: SUPERVISOR_RECORD_VERSION,
    status: "starting",
    loopId: opts.loopId,
    supervisorPid: process.pid,
    bootId: currentBootId(env),
    pid: null,
    argv: opts.argv,
    startedAt: new Date().toISOString(),
    endedAt: null,
    exitCode: null,
    signal: null,
    task: { name: opts.taskName ?? `superloop-${opts.loopId}`, held: false, lastRefreshAt: null, released: false, error: null },
  };
  const save = () => writeAtomic(recordFile, record);
  const refresh = async () => {
    const r = await taskCall(socketPath, "PUT", record.task.name, { expire });
    record.task.held = r.error === null;
    record.task.error = r.error;
    if (r.error === null) record.task.lastRefreshAt = new Date().toISOString();
    save();
  };
  // The Task first: the Sprite must not go warm between the child's start and the first refresh.
  await refresh();

  // Its own process group (pid == pgid, like a setsid launch): superloop's cancel then kills the whole run, and
  // a pause (SIGSTOP to the run's group) does not stop this supervisor, which keeps the Task alive.
  const child = spawn(file, args, { cwd: opts.repoPath, env, detached: true, stdio: ["ignore", "inherit", "inherit"] });
  const spawned = await new Promise<Error | null>((resolve) => {
    child.once("spawn", () => resolve(null));
    child.once("error", (e) => resolve(e));
  });
  if (spawned !== null) {
    Object.assign(record, { status: "spawn_failed", endedAt: new Date().toISOString(), exitCode: 127 });
    record.task.error = spawned.message;
    process.stderr.write(`supervise: cannot start ${file}: ${spawned.message}\n`);
  } else {
    Object.assign(record, { status: "running", pid: child.pid ?? null });
    save();
    const timer = setInterval(() => void refresh(), refreshMs);
    const forward = (signal: NodeJS.Signals) => () => {
      if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, signal);
        } catch {
          // the group is gone already
        }
      }
    };
    const onTerm = forward("SIGTERM");
    const onInt = forward("SIGINT");
    process.on("SIGTERM", onTerm);
    process.on("SIGINT", onInt);
    const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    clearInterval(timer);
    process.off("SIGTERM", onTerm);
    process.off("SIGINT", onInt);
    Object.assign(record, { status: "exited", endedAt: new Date().toISOString(), exitCode: exit.code, signal: exit.signal });
  }
  const released = await taskCall(socketPath, "DELETE", record.task.name);
  record.task.held = false;
  record.task.released = released.error === null || released.status === 404;
  if (released.error !== null && released.status !== 404) record.task.error = released.error;
  save();
  return record.exitCode ?? (record.signal !== null ? 128 + 15 : 1);
}

export const SUPERVISE_USAGE = `Usage: superloop-ops-agent supervise --repo R --loop L [--record FILE] [--task-name N] [--refresh-ms N] [--expire 5m] -- COMMAND [ARGS...]`;

/** `supervise` argv → options. Plain checks (no zod): this module must bundle without dependencies. */
export function parseSuperviseArgs(argv: string[]): SuperviseOptions {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      repo: { type: "string" },
      loop: { type: "string" },
      record: { type: "string" },
      "task-name": { type: "string" },
      "refresh-ms": { type: "string" },
      expire: { type: "string" },
    },
    allowPositionals: true,
    strict: true,
  });
  if (!values.repo || !path.isAbsolute(values.repo)) throw new Error("--repo must be an absolute path");
  if (!values.loop || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(values.loop)) throw new Error("--loop must be a loop id");
  if (positionals.length === 0) throw new Error("the command to supervise follows --");
  const refresh = values["refresh-ms"];
  if (refresh !== undefined && (!/^\d{1,9}$/.test(refresh) || Number(refresh) < 100 || Number(refresh) > 60_000)) {
    throw new Error("--refresh-ms must be 100..60000 (the Tasks API pattern refreshes at least every minute)");
  }
  const expire = values.expire;
  if (expire !== undefined && !/^([1-9]\d{0,3}s|[1-5]m)$/.test(expire)) throw new Error("--expire must be at most 5m (e.g. 30s, 5m)");
  return {
    repoPath: values.repo,
    loopId: values.loop,
    argv: positionals,
    ...(values.record ? { recordFile: values.record } : {}),
    ...(values["task-name"] ? { taskName: values["task-name"] } : {}),
    ...(refresh !== undefined ? { refreshMs: Number(refresh) } : {}),
    ...(expire !== undefined ? { expire } : {}),
  };
}

/** The `supervise` command: exit code = the supervised run's. */
export async function superviseMain(argv: string[]): Promise<number> {
  let opts: SuperviseOptions;
  try {
    opts = parseSuperviseArgs(argv);
  } catch (e) {
    process.stderr.write(`supervise: ${(e as Error).message}\n${SUPERVISE_USAGE}\n`);
    return 2;
  }
  return supervise(opts);
}
