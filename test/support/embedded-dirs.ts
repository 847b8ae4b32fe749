import { chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { pidAlive } from "../../src/util/process";

// Data directories for managers that start their own embedded PostgreSQL (real processes, real signals).

export const alive = pidAlive;

/** Whether any process of the group is left. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function until(what: string, pred: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/**
 * A fresh data dir (mode 0700, as mktemp makes it: as root the postgres user cannot search it, so the cluster is
 * placed under `runtimeDir` and linked) and a runtime dir of its own (so tests never fill /var/lib).
 */
export function embeddedDirs(prefix: string): { dataDir: string; runtimeDir: string; env: Record<string, string>; cleanup(): void } {
  const dataDir = mkdtempSync(path.join(tmpdir(), `${prefix}-`));
  const runtimeDir = mkdtempSync(path.join(tmpdir(), `${prefix}-rt-`));
  chmodSync(runtimeDir, 0o755);
  return {
    dataDir,
    runtimeDir,
    env: { OPS_DATA_DIR: dataDir, OPS_PG_RUNTIME_DIR: runtimeDir, OPS_POLL_INTERVAL_MS: "200" },
    cleanup() {
      rmSync(dataDir, { recursive: true, force: true });
      rmSync(runtimeDir, { recursive: true, force: true });
    },
  };
}

export function pgdataOf(dataDir: string): string {
  const link = path.join(dataDir, "pg");
  return lstatSync(link).isSymbolicLink() ? path.resolve(dataDir, readlinkSync(link)) : link;
}

export function postmaster(dataDir: string): { pid: number; port: number } | null {
  const file = path.join(pgdataOf(dataDir), "postmaster.pid");
  if (!existsSync(file)) return null;
  const lines = readFileSync(file, "utf8").split("\n");
  return { pid: Number(lines[0]), port: Number(lines[3]) };
}

/** A client on the manager's database as one of its roles (credentials from the data dir, port from postmaster.pid). */
export async function connectAs(dataDir: string, role: "app" | "owner" | "superuser" = "app"): Promise<pg.Client> {
  const creds = JSON.parse(readFileSync(path.join(dataDir, "pg-credentials.json"), "utf8")) as Record<string, { user: string; password: string }>;
  const pm = postmaster(dataDir);
  if (!pm) throw new Error("no postmaster running");
  const client = new pg.Client({ host: "127.0.0.1", port: pm.port, user: creds[role].user, password: creds[role].password, database: "ops" });
  client.on("error", () => {});
  await client.connect();
  return client;
}

/** pids of the demo simulators that are running now (from each demo repo's active-run.json). */
export function demoSimulatorPids(dataDir: string): number[] {
  const root = path.join(dataDir, "demo");
  if (!existsSync(root)) return [];
  const pids: number[] = [];
  for (const name of readdirSync(root)) {
    try {
      const pid = (JSON.parse(readFileSync(path.join(root, name, ".superloop", "active-run.json"), "utf8")) as { pid?: number }).pid;
      if (typeof pid === "number" && alive(pid)) pids.push(pid);
    } catch {
      /* not running */
    }
  }
  return pids;
}

/**
 * No stack trace, no unhandled error, no PostgreSQL termination dump in a manager's output. The manager's own
 * JSON log lines may name such errors (a handled, reported outage); anything else may not.
 */
export function expectCleanOutput(output: string): void {
  const bad = output.split("\n").filter((l) => !l.startsWith('{"t":') && /^\s+at \S|unhandled|57P01|terminating connection|fatal:|Error: /i.test(l));
  if (bad.length) throw new Error(`unclean output:\n${bad.slice(0, 10).join("\n")}\n--- full output ---\n${output}`);
}
