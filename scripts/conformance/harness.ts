// Over 350 lines: one Harness class, the recorder of every scenario step (call, checkpoint, wait), shared by
// `npm run conformance` (the real runtime) and test/sim/conformance.test.ts (the simulator).
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

// The conformance harness: the runtime edges of docs/runtime.md as small scripts of CLI calls, run against
// a Superloop binary (the real `superloop.sh`, or the simulator bin/superloop-sim.mjs) in a fresh temp repo each. What the
// binary does is recorded the same way for both: every CLI call (exit code, key output lines) and checkpoints
// of the files the manager reads (which exist, state.json, the event names in order, whether the run's
// process is alive). `npm run conformance` records the real runtime under test/fixtures/runtime/; the test
// test/sim/conformance.test.ts runs the simulator through the same scenarios and compares.

export const LOOP = "demo-loop";
/** The files the manager reads (docs/runtime.md), relative to the repo. */
export const TRACKED_FILES = [
  ".superloop/state.json",
  ".superloop/active-run.json",
  `.superloop/loops/${LOOP}/events.jsonl`,
  `.superloop/loops/${LOOP}/run-summary.json`,
  `.superloop/loops/${LOOP}/approval.json`,
  `.superloop/loops/${LOOP}/rate-limit.json`,
  `.superloop/loops/${LOOP}/stuck.json`,
  `.superloop/loops/${LOOP}/escalation.json`,
] as const;

/** What a provider's rate-limit error looks like on one line (the Claude API's shape). */
export const RATE_LIMIT_LINE = '{"type":"error","error":{"type":"rate_limit_error","message":"Rate limit exceeded"}}';

export type MockMode = "success" | "failure" | "timeout" | "rate-limit" | "no-promise";
export interface LoopSetup {
  /** mode of the mock runner per role; roles not listed use `success` */
  roles?: Partial<Record<"planner" | "implementer" | "tester" | "reviewer", MockMode>>;
  maxIterations?: number;
  approval?: boolean;
  stuckThreshold?: number;
  /** per-role timeout: the runtime then runs runners under its monitor, which also detects rate limits */
  timeoutSeconds?: number;
}

export interface Binary {
  /** argv prefix: e.g. ["/opt/superloop/superloop.sh"] or [process.execPath, ".../superloop-sim.mjs"] */
  argv: string[];
  /** where the mock runner lives (written into config.json; the simulator only reads its mode) */
  mockRunner: string;
  env?: Record<string, string>;
  /** prefix for `init`; null when the binary has no `init` (the simulator: the harness creates the dirs) */
  supportsInit: boolean;
}

export interface CallRecord {
  label: string;
  command: string;
  exitCode: number | null;
  /** stdout+stderr lines that carry a verdict (errors, refusals, "No active state file found.") */
  keyLines: string[];
  stdout: string;
  stderr: string;
}

export interface EventRecord {
  event: string;
  status: string | null;
  role: string | null;
  reason: string | null;
}

export interface Checkpoint {
  label: string;
  files: string[];
  state: { active: boolean | null; current_loop_id: string | null } | null;
  activeRunStage: string | null;
  approvalStatus: string | null;
  events: EventRecord[];
  /** a process of the run (the launched group or active-run.json's pid) is alive */
  runAlive: boolean;
  /** active-run.json names a pid that is dead (a killed run) */
  activeRunPidDead: boolean | null;
}

export interface Recording {
  scenario: string;
  description: string;
  calls: CallRecord[];
  checkpoints: Checkpoint[];
}

const KEY_LINE = /^(error:|no active state file found|cancel|a loop is already running|.*reentrant run blocked|.*stuck)/i;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class Harness {
  readonly repo: string;
  readonly calls: CallRecord[] = [];
  readonly checkpoints: Checkpoint[] = [];
  private launched: { pid: number; exit: Promise<CallRecord> }[] = [];
  /** environment for the scenario's CLI calls on top of the binary's */
  extraEnv: Record<string, string> = {};

  constructor(
    readonly binary: Binary,
    readonly scenario: string,
  ) {
    this.repo = mkdtempSync(path.join(os.tmpdir(), `conformance-${scenario}-`));
  }

  normalise(text: string): string {
    let out = text.split(this.repo).join("<repo>");
    for (const part of this.binary.argv) if (part.length > 3) out = out.split(path.dirname(part)).join("<bin>");
    return (
      out
        .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/g, "<ts>")
        .replace(/\b(pid|PID|pgid|process group)\s+\d+/g, "$1 <pid>")
        // eslint-disable-next-line no-control-regex -- strips ANSI colour codes
        .replace(/\x1b\[[0-9;]*m/g, "")
    );
  }

  private keyLines(stdout: string, stderr: string): string[] {
    return `${stdout}\n${stderr}`
      .split("\n")
      .map((l) => this.normalise(l).trim())
      .filter((l) => KEY_LINE.test(l));
  }

  async setup(loop: LoopSetup): Promise<void> {
    const git = (...args: string[]) => spawnSync("git", args, { cwd: this.repo, stdio: "ignore" });
    git("init", "-q", "-b", "main");
    git("config", "user.email", "conformance@example.com");
    git("config", "user.name", "conformance");
    writeFileSync(path.join(this.repo, "README.md"), "# conformance\n");
    git("add", "README.md");
    git("commit", "-q", "-m", "init");
    if (this.binary.supportsInit) {
      const r = spawnSync(this.binary.argv[0], [...this.binary.argv.slice(1), "init", "--repo", this.repo], { env: this.env(), encoding: "utf8" });
      if (r.status !== 0) throw new Error(`init failed: ${r.stderr}`);
    } else {
      mkdirSync(path.join(this.repo, ".superloop", "specs"), { recursive: true });
    }
    this.writeConfig(loop);
    writeFileSync(path.join(this.repo, ".superloop/specs/conformance.md"), "# Conformance\n\nSay hello.\n");
  }

  /** config.json with one loop whose roles use the runtime's own mock runner (docs/runtime.md). */
  writeConfig(loop: LoopSetup): void {
    const modes: MockMode[] = ["success", "failure", "timeout", "rate-limit", "no-promise"];
    // mock-runner.sh's rate-limit mode prints its JSON over several lines, which the runtime's line-by-line
    // detector never recognises (it dies as a plain runner failure); a provider's one-line error is detected.
    const command = (mode: MockMode): string[] => (mode === "rate-limit" ? ["bash", "-c", `echo '${RATE_LIMIT_LINE}' >&2; exit 1`] : [this.binary.mockRunner, mode]);
    const runners = Object.fromEntries(modes.map((mode) => [`mock-${mode}`, { command: command(mode), args: ["{last_message_file}"], prompt_mode: "stdin" }]));
    const roles = Object.fromEntries((["planner", "implementer", "tester", "reviewer"] as const).map((role) => [role, { runner: `mock-${loop.roles?.[role] ?? "success"}` }]));
    const config = {
      runners,
      loops: [
        {
          id: LOOP,
          spec_file: ".superloop/specs/conformance.md",
          max_iterations: loop.maxIterations ?? 2,
          completion_promise: "SUPERLOOP_COMPLETE",
          checklists: [],
          tests: { mode: "disabled", commands: [] },
          evidence: { enabled: false },
          approval: { enabled: loop.approval === true, require_on_completion: loop.approval === true },
          timeouts: loop.timeoutSeconds ? { enabled: true, default: loop.timeoutSeconds } : { enabled: false },
          stuck: loop.stuckThreshold ? { enabled: true, threshold: loop.stuckThreshold, action: "report_and_stop" } : { enabled: false },
          roles,
        },
      ],
    };
    writeFileSync(path.join(this.repo, ".superloop/config.json"), `${JSON.stringify(config, null, 2)}\n`);
  }

  private env(): NodeJS.ProcessEnv {
    return { ...process.env, ...this.binary.env, ...this.extraEnv };
  }

  private args(command: string, extra: string[]): string[] {
    if (command === "run") return [command, "--repo", this.repo, "--loop", LOOP, ...extra];
    if (command === "approve") return [command, "--repo", this.repo, "--loop", LOOP, ...extra];
    return [command, "--repo", this.repo, ...extra];
  }

  /** One CLI call in its own process group (like the manager's launch); resolves when it exits. */
  spawnCall(label: string, command: string, extra: string[] = []): { pid: number; exit: Promise<CallRecord> } {
    const [file, ...prefix] = this.binary.argv;
    const child = spawn(file, [...prefix, ...this.args(command, extra)], { cwd: this.repo, env: this.env(), detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exit = new Promise<CallRecord>((resolve) => {
      child.on("close", (code) => {
        const record: CallRecord = {
          label,
          command: [command, ...extra].join(" "),
          exitCode: code,
          keyLines: this.keyLines(stdout, stderr),
          stdout: this.normalise(stdout).slice(-4000),
          stderr: this.normalise(stderr).slice(-4000),
        };
        this.calls.push(record);
        resolve(record);
      });
    });
    const handle = { pid: child.pid!, exit };
    this.launched.push(handle);
    return handle;
  }

  /**
   * One CLI call to its end: its exit, then (up to 10 s) the exit of the rest of its process group. The CLI
   * returns before every member of its group has gone; a checkpoint taken at once recorded that race on a loaded
   * machine (approval-wait's runAlive). What is still alive after 10 s is recorded as alive.
   */
  async call(label: string, command: string, extra: string[] = []): Promise<CallRecord> {
    const handle = this.spawnCall(label, command, extra);
    const record = await handle.exit;
    const deadline = Date.now() + 10_000;
    while (this.groupAlive(handle.pid) && Date.now() < deadline) await sleep(20);
    return record;
  }

  file(rel: string): string {
    return path.join(this.repo, rel);
  }

  readJson(rel: string): Record<string, unknown> | null {
    try {
      return JSON.parse(readFileSync(this.file(rel), "utf8")) as Record<string, unknown>;
    } catch {
      return null;
    }
  }

  events(): EventRecord[] {
    let text: string;
    try {
      text = readFileSync(this.file(`.superloop/loops/${LOOP}/events.jsonl`), "utf8");
    } catch {
      return [];
    }
    const out: EventRecord[] = [];
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      try {
        const e = JSON.parse(line) as Record<string, unknown>;
        const data = (e["data"] ?? {}) as Record<string, unknown>;
        out.push({
          event: String(e["event"] ?? e["type"]),
          status: typeof e["status"] === "string" ? e["status"] : null,
          role: typeof e["role"] === "string" ? e["role"] : null,
          reason: typeof data["reason"] === "string" ? data["reason"] : null,
        });
      } catch {
        // a half-written last line
      }
    }
    return out;
  }

  async waitFor(what: string, check: () => boolean, timeoutMs = 120_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error(`${this.scenario}: timed out waiting for ${what}`);
      await sleep(50);
    }
  }

  waitForEvent(name: string, role?: string, timeoutMs?: number): Promise<void> {
    return this.waitFor(`event ${name}${role ? `/${role}` : ""}`, () => this.events().some((e) => e.event === name && (role === undefined || e.role === role)), timeoutMs);
  }

  private pidAlive(pid: number): boolean {
    try {
      process.kill(pid, 0);
    } catch {
      return false;
    }
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
    } catch {
      return false;
    }
  }

  private groupAlive(pgid: number): boolean {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }

  /** Whether any `run` this harness launched still has a process (its group), or active-run.json's pid lives. */
  runAlive(): boolean {
    const active = this.readJson(".superloop/active-run.json");
    const pid = typeof active?.["pid"] === "number" ? active["pid"] : null;
    if (pid !== null && this.pidAlive(pid)) return true;
    return this.launched.some((l) => this.groupAlive(l.pid));
  }

  checkpoint(label: string): Checkpoint {
    const state = this.readJson(".superloop/state.json");
    const active = this.readJson(".superloop/active-run.json");
    const approval = this.readJson(`.superloop/loops/${LOOP}/approval.json`);
    const pid = typeof active?.["pid"] === "number" ? active["pid"] : null;
    const cp: Checkpoint = {
      label,
      files: TRACKED_FILES.filter((f) => existsSync(this.file(f))),
      state: state ? { active: typeof state["active"] === "boolean" ? state["active"] : null, current_loop_id: typeof state["current_loop_id"] === "string" ? state["current_loop_id"] : null } : null,
      activeRunStage: typeof active?.["stage"] === "string" ? active["stage"] : null,
      approvalStatus: typeof approval?.["status"] === "string" ? approval["status"] : null,
      events: this.events(),
      runAlive: this.runAlive(),
      activeRunPidDead: pid === null ? null : !this.pidAlive(pid),
    };
    this.checkpoints.push(cp);
    return cp;
  }

  /** SIGKILL the whole process group of the running `run` (an OOM kill, kill -9, a Sprite gone cold). */
  kill9(): void {
    const active = this.readJson(".superloop/active-run.json");
    const pid = typeof active?.["pid"] === "number" ? active["pid"] : null;
    const pgid = typeof active?.["pgid"] === "number" ? active["pgid"] : pid;
    for (const target of [pgid, ...this.launched.map((l) => l.pid)]) {
      if (target === null) continue;
      try {
        process.kill(-target, "SIGKILL");
      } catch {
        // gone
      }
    }
    if (pid !== null) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone
      }
    }
  }

  async waitAllExited(timeoutMs = 60_000): Promise<void> {
    await Promise.race([Promise.all(this.launched.map((l) => l.exit)), sleep(timeoutMs)]);
  }

  /** Leaves nothing running, whatever the scenario did. */
  async cleanup(): Promise<void> {
    for (const l of this.launched) {
      try {
        process.kill(-l.pid, "SIGKILL");
      } catch {
        // gone
      }
    }
    this.kill9();
    rmSync(this.repo, { recursive: true, force: true });
  }

  /** The final tracked files, the repo path replaced so recordings do not depend on the temp dir. */
  finalFiles(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const rel of TRACKED_FILES) {
      if (!existsSync(this.file(rel))) continue;
      out[rel] = readFileSync(this.file(rel), "utf8").split(this.repo).join("/home/sprite/repo");
    }
    return out;
  }
}

export interface Scenario {
  name: string;
  description: string;
  run: (h: Harness) => Promise<void>;
}

export async function runScenario(binary: Binary, scenario: Scenario): Promise<{ recording: Recording; files: Record<string, string> }> {
  const h = new Harness(binary, scenario.name);
  try {
    await h.setup({});
    await scenario.run(h);
    await h.waitAllExited();
    return { recording: { scenario: scenario.name, description: scenario.description, calls: h.calls, checkpoints: h.checkpoints }, files: h.finalFiles() };
  } finally {
    await h.cleanup();
  }
}
