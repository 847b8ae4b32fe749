import { spawn } from "node:child_process";
import { existsSync, openSync, closeSync } from "node:fs";
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import type { App } from "../src/app";
import { registerSprite, removeSprite } from "../src/registry/register";
import { DEMO_FLEET, type DemoSprite } from "./fleet";
import { DEMO_SUPERLOOP_BIN } from "./simulator-bin";

// Starts the demo fleet: a local repo per Sprite under OPS_DATA_DIR/demo/<sprite>, registered as a LOCAL
// Sprite, with a simulated `superloop run` launched in it. The manager observes these repos exactly as it
// would real ones. They are registered with demo = true, so their control intents (and theirs only) run the
// simulator (src/transports/index.ts picks the runtime binary per Sprite).

export { DEMO_SUPERLOOP_BIN };

export interface DemoOptions {
  /** multiplies every role's duration (tests use ~0.05) */
  speed?: number;
  /** defaults to DEMO_FLEET */
  sprites?: readonly DemoSprite[];
  /** poll interval of the demo Sprites (fs.watch wakes the poller earlier anyway) */
  pollIntervalMs?: number;
}

export interface DemoSpriteInfo {
  name: string;
  loopId: string;
  repoPath: string;
  runId: string;
}

export interface Demo {
  root: string;
  sprites: DemoSpriteInfo[];
  stop(): Promise<void>;
}

const ACTOR = "demo";

/** Only ever signal a process that really is our simulator: a pid in a stale file may belong to anything now. */
async function simulatorPid(pid: unknown): Promise<number | null> {
  if (typeof pid !== "number" || !Number.isInteger(pid) || pid < 2) return null;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "");
  return cmdline.includes(path.basename(DEMO_SUPERLOOP_BIN)) ? pid : null;
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* gone already */
    }
  }
}

/** Kills simulator processes still running in the demo repos (left by a previous demo or started by control). */
async function killRepoProcesses(root: string): Promise<void> {
  const names = await readdir(root).catch(() => [] as string[]);
  for (const name of names) {
    const raw = await readFile(path.join(root, name, ".superloop", "active-run.json"), "utf8").catch(() => null);
    if (raw === null) continue;
    let parsed: { pid?: unknown } = {};
    try {
      parsed = JSON.parse(raw) as { pid?: unknown };
    } catch {
      continue;
    }
    const pid = await simulatorPid(parsed.pid);
    // Detached runs lead their own group; SIGCONT so a paused one does not sit on the KILL.
    if (pid !== null) {
      killGroup(pid, "SIGKILL");
      killGroup(pid, "SIGCONT");
    }
  }
}

function loopConfig(s: DemoSprite, speed: number): unknown {
  return {
    loops: [
      {
        id: s.loopId,
        spec_file: ".superloop/specs/demo.md",
        max_iterations: s.maxIterations,
        approval: { enabled: s.approval },
        simulator: { step_ms: Math.max(20, Math.round(s.stepMs * speed)), pass_on_iteration: s.passOnIteration, invocations: s.invocations },
      },
    ],
  };
}

async function prepareRepo(repoPath: string, s: DemoSprite, speed: number): Promise<void> {
  await rm(repoPath, { recursive: true, force: true });
  await mkdir(path.join(repoPath, ".superloop", "specs"), { recursive: true });
  await writeFile(path.join(repoPath, ".superloop", "config.json"), `${JSON.stringify(loopConfig(s, speed), null, 2)}\n`);
  await writeFile(path.join(repoPath, ".superloop", "specs", "demo.md"), `# ${s.name}\n\n${s.story}\n`);
}

function launchRun(repoPath: string, loopId: string, logFile: string): number | null {
  const fd = openSync(logFile, "a");
  try {
    // Detached like the manager's own `start`: its own process group, so pause/resume/cancel signal only it.
    const child = spawn(process.execPath, [DEMO_SUPERLOOP_BIN, "run", "--repo", repoPath, "--loop", loopId], {
      cwd: repoPath,
      detached: true,
      stdio: ["ignore", fd, fd],
    });
    child.on("error", () => {});
    child.unref();
    return child.pid ?? null;
  } finally {
    closeSync(fd);
  }
}

/**
 * `--demo=off`: removes every demo Sprite (Sprite.demo) with its history, kills its simulators and deletes its
 * demo repo (only repos under OPS_DATA_DIR/demo: a path elsewhere is never deleted). Returns the names removed.
 */
export async function removeDemoFleet(app: App): Promise<string[]> {
  const root = path.resolve(app.config.OPS_DATA_DIR, "demo");
  await killRepoProcesses(root);
  const sprites = await app.db.sprite.findMany({ where: { demo: true }, include: { runs: { select: { repoPath: true } } } });
  for (const s of sprites) {
    await removeSprite(app, s.name, true);
    for (const r of s.runs) {
      const rel = path.relative(root, path.resolve(r.repoPath));
      if (rel && !rel.startsWith("..") && !path.isAbsolute(rel)) await rm(r.repoPath, { recursive: true, force: true });
    }
  }
  return sprites.map((s) => s.name);
}

/**
 * Registers the demo fleet and starts its runs. Running it again on the same data dir resets the demo: old
 * simulator processes are killed, the demo Sprites purged (with their history) and registered afresh.
 */
export async function startDemo(app: App, opts: DemoOptions = {}): Promise<Demo> {
  const speed = opts.speed ?? 1;
  const fleet = opts.sprites ?? DEMO_FLEET;
  const root = path.resolve(app.config.OPS_DATA_DIR, "demo");
  await mkdir(root, { recursive: true });
  await killRepoProcesses(root);

  const started = new Set<number>();
  const sprites: DemoSpriteInfo[] = [];
  for (const s of fleet) {
    const existing = await app.db.sprite.findUnique({ where: { name: s.name } });
    if (existing) await removeSprite(app, s.name, true);
    const repoPath = path.join(root, s.name);
    await prepareRepo(repoPath, s, speed);
    const { run } = await registerSprite(
      app,
      {
        name: s.name,
        transport: "LOCAL",
        repoPath,
        loopId: s.loopId,
        pollIntervalMs: opts.pollIntervalMs ?? 1000,
        demo: true,
        ...(s.healthOverrides ? { healthOverrides: s.healthOverrides } : {}),
      },
      ACTOR,
    );
    sprites.push({ name: s.name, loopId: s.loopId, repoPath, runId: run.id });
  }
  for (const s of sprites) {
    const pid = launchRun(s.repoPath, s.loopId, path.join(s.repoPath, ".superloop", "sim.log"));
    if (pid !== null) started.add(pid);
  }
  app.log.info("demo fleet started", { root, sprites: sprites.map((s) => s.name), superloopBin: DEMO_SUPERLOOP_BIN });

  return {
    root,
    sprites,
    async stop() {
      // The stuck run would otherwise outlive the manager forever, and runs started by control intents too.
      for (const pid of started) if (await simulatorPid(pid)) killGroup(pid, "SIGKILL");
      if (existsSync(root)) await killRepoProcesses(root);
    },
  };
}
