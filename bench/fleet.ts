// npm run bench:fleet — CPU and memory of one manager polling 1,000 (RUNS) idle LOCAL runs at a 2 s interval.
// Idle = finished loops whose files do not change: the cost measured is the poller's idle path (sprite status,
// fingerprint, skip). Targets: 1,000 runs under 10% of one core and 250 MB RSS; 10,000 under 100% and 1 GB.
// Env: RUNS, SECONDS, WARMUP_SECONDS, PROFILE (a .cpuprofile of the measured window), HEAP_SNAPSHOT (a
// .heapsnapshot after it). Also printed: the peak RSS of the setup (the catch-up of the 1,000 histories) and the
// heap right after it, where V8's old generation grows if its growth is not bounded (package.json's start flags).
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { benchServer, round, rssSampler, startProfile } from "./support";

const RUNS = Number(process.env.RUNS ?? 1000);
const SECONDS = Number(process.env.SECONDS ?? 30);
const WARMUP_SECONDS = Number(process.env.WARMUP_SECONDS ?? 10);
const INTERVAL_MS = 2000;
const FIXTURE = path.resolve(import.meta.dirname, "../test/fixtures/recordings/complete/.superloop");

const root = mkdtempSync(path.join(tmpdir(), "ops-bench-fleet-"));
const server = await benchServer({ OPS_POLL_INTERVAL_MS: String(INTERVAL_MS), LOG_LEVEL: "error" });
const app = server.app;

const setupStarted = Date.now();
const setupRss = rssSampler(100);
// Sprites and runs are inserted in bulk, then handed to the ingestor as registration does: registering 10,000
// runs one by one through the API while the first ones are being ingested measures registration, not the fleet.
const repos: string[] = [];
for (let i = 0; i < RUNS; i++) {
  const repo = path.join(root, `repo-${i}`);
  cpSync(FIXTURE, path.join(repo, ".superloop"), { recursive: true });
  repos.push(repo);
}
await app.pool.query(`INSERT INTO "Sprite" (id, name, transport, "updatedAt") SELECT 'fs-' || g, 'idle-' || g, 'LOCAL', now() FROM generate_series(0, $1 - 1) g`, [RUNS]);
await app.pool.query(
  `INSERT INTO "Run" (id, "spriteId", "loopId", "repoPath", "updatedAt") SELECT 'fr-' || (g - 1), 'fs-' || (g - 1), 'demo-loop', r, now() FROM unnest($1::text[]) WITH ORDINALITY AS t(r, g)`,
  [repos],
);
await app.ingestor.addMany(Array.from({ length: RUNS }, (_, i) => `fr-${i}`));
// Every run ingested once (its whole history) before anything is measured.
for (;;) {
  const pending = await app.db.run.count({ where: { state: { not: "COMPLETE" } } });
  if (pending === 0) break;
  await new Promise((r) => setTimeout(r, 500));
}
const setupMs = Date.now() - setupStarted;
const setupPeakRss = setupRss.stop();
const afterSetup = process.memoryUsage();
await new Promise((r) => setTimeout(r, WARMUP_SECONDS * 1000));

let polls = 0;
const poll = app.ingestor.poll.bind(app.ingestor);
app.ingestor.poll = (runId: string) => {
  polls++;
  return poll(runId);
};
const profiler = process.env.PROFILE ? await startProfile() : null;
const rss = rssSampler(100);
const cpu0 = process.cpuUsage();
const t0 = performance.now();
await new Promise((r) => setTimeout(r, SECONDS * 1000));
const cpu = process.cpuUsage(cpu0);
const wallMs = performance.now() - t0;
const peakRss = rss.stop();
if (profiler) await profiler.stop(process.env.PROFILE!);
if (process.env.HEAP_SNAPSHOT) (await import("node:v8")).writeHeapSnapshot(process.env.HEAP_SNAPSHOT);
const memory = process.memoryUsage();
const rssNow = memory.rss;

const cpuTarget = RUNS <= 1000 ? 10 : 100;
const rssTarget = RUNS <= 1000 ? 250 : 1024;
const cpuPercentOfOneCore = round(((cpu.user + cpu.system) / 1000 / wallMs) * 100, 1);
const rssMB = round(Math.max(peakRss, rssNow) / 1024 / 1024, 0);
const pollsPerSecond = round(polls / (wallMs / 1000), 0);

process.stdout.write(
  [
    `bench:fleet — ${RUNS} idle LOCAL runs, poll interval ${INTERVAL_MS} ms (setup ${round(setupMs / 1000, 1)} s, warm-up ${WARMUP_SECONDS} s, measured ${round(wallMs / 1000, 1)} s)`,
    `  polls:      ${polls} (${pollsPerSecond}/s; expected ~${Math.round(RUNS / (INTERVAL_MS / 1000))}/s)`,
    `  CPU:        ${cpuPercentOfOneCore}% of one core (user ${round(cpu.user / 1000)} ms, system ${round(cpu.system / 1000)} ms)  target < ${cpuTarget}%`,
    `  memory:     ${rssMB} MB RSS (peak)  target < ${rssTarget} MB`,
    `  heap:       ${round(memory.heapUsed / 1048576)} MB used of ${round(memory.heapTotal / 1048576)} MB, external ${round(memory.external / 1048576)} MB`,
    `  setup:      ${round(setupPeakRss / 1048576, 0)} MB RSS (peak); heap ${round(afterSetup.heapUsed / 1048576)} MB used of ${round(afterSetup.heapTotal / 1048576)} MB after it`,
    `  (the embedded PostgreSQL is a separate process and not included)`,
    "",
  ].join("\n"),
);
process.stdout.write(
  JSON.stringify({
    bench: "fleet",
    runs: RUNS,
    intervalMs: INTERVAL_MS,
    cpuPercentOfOneCore,
    rssMB,
    setupPeakRssMB: round(setupPeakRss / 1048576, 0),
    pollsPerSecond,
    seconds: round(wallMs / 1000, 1),
  }) + "\n",
);
await server.close();
rmSync(root, { recursive: true, force: true });
process.exit(0);
