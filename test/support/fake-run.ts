import { spawn } from "node:child_process";

/**
 * A live process whose command line reads like the repo's superloop `run` (`bash -c ... superloop.sh run --repo
 * R`), in its own process group: liveness and signals only count processes that are the run (pids are reused,
 * so a test can no longer put its own pid in active-run.json and call it a run). Returns its pid (== pgid) and a
 * kill function for cleanup.
 */
export async function spawnFakeRun(repo: string, opts: { script?: string } = {}): Promise<{ pid: number; kill: () => void }> {
  const child = spawn("bash", ["-c", opts.script ?? "sleep 60; true", "superloop.sh", "run", "--repo", repo], { detached: true, stdio: "ignore" });
  await new Promise((resolve) => child.once("spawn", resolve));
  child.unref();
  const pid = child.pid!;
  return {
    pid,
    kill: () => {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {
        // gone
      }
    },
  };
}

const leftovers = new Set<number>();
let exitHook = false;

/**
 * The same, synchronously (the pid exists as soon as spawn returns; its command line a moment later), for
 * helpers that set up a "running" repo inline. Killed when the test process exits.
 */
export function fakeRunSync(repo: string): number {
  const child = spawn("bash", ["-c", "sleep 120; true", "superloop.sh", "run", "--repo", repo], { detached: true, stdio: "ignore" });
  child.unref();
  const pid = child.pid!;
  leftovers.add(pid);
  if (!exitHook) {
    exitHook = true;
    process.on("exit", () => {
      for (const p of leftovers) {
        try {
          process.kill(-p, "SIGKILL");
        } catch {
          // gone
        }
      }
    });
  }
  return pid;
}
