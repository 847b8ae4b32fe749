import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { Worker } from "node:worker_threads";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { loadConfig } from "../src/config/config";
import { urlFor } from "../src/db/pg-credentials";
import { startServer, type RunningServer } from "../src/server";
import { realisticLine } from "./lines";

export { realisticLine };

/** A manager on the embedded database in a throwaway data directory, as `npm start` runs it. */
export async function benchServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "ops-bench-"));
  chmodSync(dataDir, 0o755);
  // OPS_CLUSTER from the shell lets a bench compare the single-process path with the cluster path.
  const cluster = process.env.OPS_CLUSTER ? { OPS_CLUSTER: process.env.OPS_CLUSTER } : {};
  return startServer(loadConfig({ PORT: "0", OPS_DATA_DIR: dataDir, LOG_LEVEL: "warn", ...cluster, ...env }));
}

/**
 * A connection to a bench server's embedded database as its owner: the manager's role has no DDL rights, and a
 * bench's set-up (bulk loads, VACUUM, TRUNCATE) needs them.
 */
export async function ownerClient(server: RunningServer): Promise<pg.Client> {
  const creds = JSON.parse(readFileSync(path.join(server.app.config.OPS_DATA_DIR, "pg-credentials.json"), "utf8")) as { owner: { user: string; password: string } };
  const dbUrl = new URL(server.app.databaseUrl);
  const owner = new pg.Client({ connectionString: urlFor(creds.owner, Number(dbUrl.port), dbUrl.pathname.slice(1)) });
  await owner.connect();
  return owner;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export const round = (n: number, d = 1) => Math.round(n * 10 ** d) / 10 ** d;

/** Samples RSS every few ms; returns the peak seen. */
export function rssSampler(everyMs = 25) {
  let peak = process.memoryUsage().rss;
  const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), everyMs);
  return { stop: () => (clearInterval(t), peak) };
}

/** A repo in a temp dir (`prefix`) whose demo-loop events.jsonl holds `lines` realistic lines, written in chunks. */
export function repoWithLines(prefix: string, lines: number): { repo: string; file: string } {
  const repo = mkdtempSync(path.join(tmpdir(), prefix));
  const dir = path.join(repo, ".superloop", "loops", "demo-loop");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "events.jsonl");
  writeFileSync(file, "");
  for (let from = 1; from <= lines; from += 10_000) {
    const chunk: string[] = [];
    for (let i = from; i < from + 10_000 && i <= lines; i++) chunk.push(realisticLine(i, "2026-11-24T00:00:00Z"));
    appendFileSync(file, chunk.join("\n") + "\n");
  }
  return { repo, file };
}

/** A CPU profile of this process from now until stop(file) (PROFILE=file of a bench): only the measured window. */
export async function startProfile(): Promise<{ stop: (file: string) => Promise<void> }> {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
  return {
    stop: async (file: string) => {
      const { profile } = await session.post("Profiler.stop");
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
    },
  };
}

/** A worker thread running a TypeScript module of the benches (tsx registered in it first). */
export function tsWorker(file: URL, workerData: unknown): Worker {
  return new Worker(`import("tsx/esm/api").then(({ register }) => { register(); return import(${JSON.stringify(file.href)}); });`, { eval: true, workerData });
}
