// npm run bench:fleet-cluster — REPLICAS managers (separate processes, OPS_CLUSTER=on) on one PostgreSQL holding
// RUNS idle runs (default 3 × 30,000): how the runs' leases are balanced across the replicas, and each replica's CPU
// and RSS once every run has been read once. The runs are inserted with one INSERT … SELECT (registering 30,000
// through the API would measure registration, not the fleet); all read the same finished loop's files, copied
// once (the idle path stats them like any other). Env: RUNS, REPLICAS, SECONDS, SETTLE_SECONDS, SYNC_COMMIT (on|off, default off: see below), PROGRESS (print the settle every 2 s), LOG_LEVEL (replicas; logs kept as r<N>.log in the data dir).
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, chmodSync, cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { startEmbeddedDatabase } from "../src/db/embedded";
import { runMigrations } from "../src/db/migrate";
import { startNodeFlags } from "./node-flags";
import { round } from "./support";

const RUNS = Number(process.env.RUNS ?? 30_000);
const REPLICAS = Number(process.env.REPLICAS ?? 3);
const SECONDS = Number(process.env.SECONDS ?? 30);
const SETTLE_SECONDS = Number(process.env.SETTLE_SECONDS ?? 1800);
const INTERVAL_MS = 2000;
const ROOT = path.resolve(import.meta.dirname, "..");
const FIXTURE = path.resolve(ROOT, "test/fixtures/recordings/complete/.superloop");

const dataDir = mkdtempSync(path.join(tmpdir(), "ops-bench-cluster-"));
chmodSync(dataDir, 0o755);
const database = await startEmbeddedDatabase({ dataDir: path.join(dataDir, "db"), runtimeDir: path.join(dataDir, "runtime") });
await runMigrations(database.ownerUrl);
const db = new pg.Client({ connectionString: database.ownerUrl });
await db.connect();
// Every run's first read commits once, and the ops_run_changed NOTIFY in that commit serializes commits across
// the cluster (PostgreSQL holds one lock over the notification queue until each commit is flushed): with a
// synchronous flush of ~16 ms (this machine's disk, `dd oflag=dsync`) that bounds the whole cluster to ~60 first
// reads a second, 30,000 in 500 s or more. The bench measures the idle fleet once settled, so by default the
// database does not wait for the flush (a crash loses the last commits, not consistency); SYNC_COMMIT=on measures
// the settle with it.
const SYNC_COMMIT = process.env.SYNC_COMMIT === "on" ? "on" : "off";
await db.query(`ALTER DATABASE ${pg.escapeIdentifier(db.database ?? "ops")} SET synchronous_commit = ${SYNC_COMMIT}`);

const repo = mkdtempSync(path.join(tmpdir(), "ops-bench-cluster-repo-"));
cpSync(FIXTURE, path.join(repo, ".superloop"), { recursive: true });
await db.query(`INSERT INTO "Sprite" (id, name, transport, "updatedAt") SELECT 'cs-' || g, 'cluster-' || g, 'LOCAL', now() FROM generate_series(1, $1) g`, [RUNS]);
await db.query(`INSERT INTO "Run" (id, "spriteId", "loopId", "repoPath", "updatedAt") SELECT 'cr-' || g, 'cs-' || g, 'demo-loop', $2, now() FROM generate_series(1, $1) g`, [RUNS, repo]);

interface Replica {
  id: string;
  child: ChildProcess;
  output: string;
}
function startReplica(id: string): Replica {
  // As `npm start` runs it, with its heap flags (bench/node-flags.ts).
  const child = spawn(process.execPath, [...startNodeFlags(), "--import", "tsx", path.join(ROOT, "src/main.ts")], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      // The owner role: a manager given DATABASE_URL checks its migrations itself, which needs DDL rights.
      DATABASE_URL: database.ownerUrl,
      OPS_CLUSTER: "on",
      OPS_REPLICA_ID: id,
      OPS_DATA_DIR: path.join(dataDir, id),
      OPS_POLL_INTERVAL_MS: String(INTERVAL_MS),
      PORT: "0",
      LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const r: Replica = { id, child, output: "" };
  // Each replica's log (warnings and up) is kept whole in the data dir, for a settle that goes wrong.
  const log = path.join(dataDir, `${id}.log`);
  const keep = (d: Buffer) => {
    r.output = (r.output + d).slice(-4000);
    appendFileSync(log, d);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  child.on("exit", (code) => {
    if (code === null || code === 0) return;
    console.error(`${id} exited ${code}: ${r.output}`);
    process.exit(1);
  });
  return r;
}
const replicas = Array.from({ length: REPLICAS }, (_, i) => startReplica(`r${i + 1}`));

/** user+system CPU seconds and RSS of a process, from /proc (Linux). */
function procStat(pid: number): { cpuSeconds: number; rssMB: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14, 15 of the line)
  const rssPages = Number(fields[21]);
  return { cpuSeconds: ticks / 100, rssMB: round((rssPages * 4096) / 1048576, 0) };
}

const leases = async () =>
  new Map((await db.query<{ owner: string; n: string }>(`SELECT owner, count(*) n FROM "RunLease" WHERE "expiresAt" > now() GROUP BY owner`)).rows.map((r) => [r.owner, Number(r.n)]));
// Settled: every run leased and read once (a run's first poll commits seq 1), on every replica.
const started = Date.now();
for (;;) {
  const polled = Number((await db.query<{ n: string }>(`SELECT count(*) n FROM "Run" WHERE seq > 0`)).rows[0].n);
  const held = [...(await leases()).values()].reduce((a, b) => a + b, 0);
  if (polled >= RUNS && held >= RUNS) break;
  if (Date.now() - started > SETTLE_SECONDS * 1000) throw new Error(`not settled after ${SETTLE_SECONDS} s: ${polled} of ${RUNS} runs read, ${held} leased (replica logs: ${dataDir}/r*.log)`);
  if (process.env.PROGRESS) console.error(`${round((Date.now() - started) / 1000, 0)} s: ${polled} read, ${held} leased ${JSON.stringify(Object.fromEntries(await leases()))}`);
  await new Promise((r) => setTimeout(r, 2000));
}
const settleSeconds = round((Date.now() - started) / 1000, 0);
await new Promise((r) => setTimeout(r, 10_000)); // rebalancing and the first burst of polls pass

const before = replicas.map((r) => procStat(r.child.pid!));
const t0 = Date.now();
await new Promise((r) => setTimeout(r, SECONDS * 1000));
const wall = (Date.now() - t0) / 1000;
const after = replicas.map((r) => procStat(r.child.pid!));
const held = await leases();
const perReplica = replicas.map((r, i) => ({
  replica: r.id,
  runs: held.get(r.id) ?? 0,
  cpuPercentOfOneCore: round(((after[i].cpuSeconds - before[i].cpuSeconds) / wall) * 100, 1),
  rssMB: after[i].rssMB,
}));
const counts = perReplica.map((p) => p.runs);
const imbalance = round(Math.max(...counts) / (RUNS / REPLICAS), 2);

console.log(
  `bench:fleet-cluster — ${REPLICAS} replicas on one PostgreSQL, ${RUNS} idle LOCAL runs, poll interval ${INTERVAL_MS} ms (synchronous_commit ${SYNC_COMMIT}; settled in ${settleSeconds} s, measured ${round(wall, 1)} s)`,
);
for (const p of perReplica) console.log(`  ${p.replica}: ${p.runs} runs, ${p.cpuPercentOfOneCore}% of one core, ${p.rssMB} MB RSS`);
console.log(`  balance: the busiest replica holds ${imbalance}× its fair share (${Math.ceil(RUNS / REPLICAS)})`);
console.log("  (a shared 2-core machine: figures are pessimistic; PostgreSQL is a separate process and not included)");
console.log(JSON.stringify({ bench: "fleet-cluster", replicas: REPLICAS, runs: RUNS, intervalMs: INTERVAL_MS, synchronousCommit: SYNC_COMMIT, settleSeconds, imbalance, perReplica }));

for (const r of replicas) r.child.kill("SIGTERM");
await Promise.all(replicas.map((r) => new Promise((res) => (r.child.exitCode !== null ? res(null) : r.child.on("exit", res)))));
await db.end();
await database.stop();
rmSync(repo, { recursive: true, force: true });
rmSync(dataDir, { recursive: true, force: true });
process.exit(0);
