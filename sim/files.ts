import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { isJsonObject, type JsonObject } from "./artifacts";

// The simulator's file and process helpers: the artifacts it reads and writes under `.superloop/`, written the
// way the runtime writes them (pretty JSON, whole lines, whole seconds).

export const ROLES = ["planner", "implementer", "tester", "reviewer"] as const;
export type Role = (typeof ROLES)[number];
export const PROMISE = "SUPERLOOP_COMPLETE";
export const GATES = { tests: "skipped", validation: "skipped", prerequisites: "skipped", checklist: "ok", evidence: "skipped", lifecycle: "ok" } as const;

/** A usage error (exit 2) or a failure (exit 1): one line on stderr, then exit. */
export function fail(message: string, code = 1): never {
  process.stderr.write(`superloop-sim: ${message}\n`);
  process.exit(code);
}

/** The runtime's refusals: its own lines on stderr, exit 1, nothing written. */
export function refuse(lines: string[]): never {
  process.stderr.write(`${lines.join("\n")}\n`);
  process.exit(1);
}

/** A value read from a JSON file, as a message shows it (an object as JSON rather than "[object Object]"). */
export function show(value: unknown): string {
  return typeof value === "object" && value !== null ? JSON.stringify(value) : `${value as string | number | boolean | null | undefined}`;
}

// The runtime writes whole seconds.
export const now = (): string => new Date().toISOString().replace(/\.\d{3}Z$/, "Z");
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * A JSON artifact as read (its fields keep their order when it is written back): null when missing, unreadable,
 * not a JSON object, or not what `guard` expects.
 */
export function readJson<T extends JsonObject = JsonObject>(file: string, guard: (value: JsonObject) => value is T = (_v): _v is T => true): T | null {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, "utf8"));
  } catch {
    return null;
  }
  return isJsonObject(value) && guard(value) ? value : null;
}

// A reader must never see half a JSON file: write aside, then rename over.
export function writeJson(file: string, value: unknown): void {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(tmp, file);
}

// One appendFileSync per line: a concurrent reader sees whole lines, or at worst a half line it must wait for.
export function appendEvent(file: string, line: Record<string, unknown>): void {
  mkdirSync(path.dirname(file), { recursive: true });
  appendFileSync(file, `${JSON.stringify(line)}\n`);
}

export function countLoopStarts(file: string): number {
  if (!existsSync(file)) return 0;
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.includes('"event":"loop_start"')).length;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Our process group as `ps -o pgid` reports it (field 5 of /proc/self/stat). */
export function ownPgid(): number {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    const pgid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
    return Number.isInteger(pgid) && pgid > 0 ? pgid : process.pid;
  } catch {
    return process.pid;
  }
}

/** The real cancel only signals a pid whose command line reads like a superloop `run` (pids are reused). */
export function isRunCommand(pid: number): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    return argv.includes("run") && argv.some((a) => a.includes("superloop"));
  } catch {
    return false;
  }
}

export interface SimPaths {
  config: string;
  state: string;
  activeRun: string;
  loopDir: string;
  events: string;
  summary: string;
  approval: string;
  /** a loop file's path relative to the repo, as the runtime names it in events */
  rel(name: string): string;
}

export function paths(repo: string, loop?: string): SimPaths {
  const sl = path.join(repo, ".superloop");
  const loopDir = path.join(sl, "loops", loop ?? "_");
  return {
    config: path.join(sl, "config.json"),
    state: path.join(sl, "state.json"),
    activeRun: path.join(sl, "active-run.json"),
    loopDir,
    events: path.join(loopDir, "events.jsonl"),
    summary: path.join(loopDir, "run-summary.json"),
    approval: path.join(loopDir, "approval.json"),
    rel: (name) => `.superloop/loops/${loop}/${name}`,
  };
}
