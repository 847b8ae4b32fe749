// npm run bench:alerts — alert delivery under load, next to ingest. In one manager (embedded database), four
// phases of CONDITIONS / RATE seconds, each ingesting one events file into a fresh run for that long:
//   1. quiet: nothing else happens (bench:ingest's measurement),
//   2. without alerts: meanwhile CONDITIONS runs enter FAILED at a steady RATE with no enabled alert sink: what
//      the manager does for that traffic when nobody configured alerting (the state changes; the outbox trigger
//      and the dispatcher's intake still track each condition as an episode, which /metrics reports as
//      superloop_ops_alerts_open; nothing is sent),
//   3. with alerts: the same traffic (CONDITIONS other runs entering FAILED at RATE) with a webhook sink enabled:
//      every condition also becomes a delivery, sent to a receiver running in another process, its attempt
//      recorded; then every alert is drained,
//   4. without alerts again (the machine is shared: the baseline is the mean of 2 and 4).
// ingestRatio compares 3 with that baseline (same traffic, alerting off vs on); ingestRatioToQuiet compares 3
// with phase 1 (what the traffic and its alerts together cost ingest). Reports p99 enqueue (the change's commit)
// → first attempt, both ratios, and the CPU seconds each process spent (alerting's extra cost per alert).
// Last line: one JSON object.
import { spawn } from "node:child_process";
import { alertsConfigSchema } from "../src/alerts/config";
import { writeAlertsConfig } from "../src/alerts/store";
import { registerSprite } from "../src/registry/register";
import type { RunningServer } from "../src/server";
import { cpuDelta, cpuSnapshot, type CpuSnapshot } from "./cpu-account";
import { benchServer, percentile, round, repoWithLines, startProfile } from "./support";

const LINES = Number(process.env.LINES ?? 1_500_000);
const CONDITIONS = Number(process.env.CONDITIONS ?? 10_000);
// Conditions per second: 10,000 over 20 s is every run of a 10,000-run fleet failing within 20 s.
const RATE = Number(process.env.RATE ?? 500);

/** A webhook receiver in its own process (a real sink is not in the manager's process either). */
async function startReceiver(): Promise<{ url: string; pid: number; count: () => Promise<number>; stop: () => void }> {
  const child = spawn(
    process.execPath,
    [
      "-e",
      `const http = require("node:http"); let n = 0;
       const s = http.createServer((req, res) => { if (req.url === "/count") return res.end(String(n)); req.resume(); req.on("end", () => { n++; res.writeHead(204).end(); }); });
       s.keepAliveTimeout = 60000; s.listen(0, "127.0.0.1", () => console.log(s.address().port));`,
    ],
    { stdio: ["ignore", "pipe", "ignore"] },
  );
  process.once("exit", () => child.kill());
  const port = await new Promise<number>((resolve) => child.stdout.once("data", (d) => resolve(Number(String(d).trim()))));
  const url = `http://127.0.0.1:${port}`;
  return { url: `${url}/hook`, pid: child.pid!, count: async () => Number(await (await fetch(`${url}/count`)).text()), stop: () => child.kill() };
}

/**
 * Ingests `repo` into a fresh run until `until` settles; the throughput is the lines ingested over that window
 * (the window is the traffic's, so ingest is measured exactly while the traffic runs).
 */
async function ingest(server: RunningServer, name: string, repo: string, until: Promise<unknown>): Promise<number> {
  const { run } = await registerSprite(server.app, { name, transport: "LOCAL", repoPath: repo, loopId: "demo-loop" }, "bench");
  let over = false;
  void until.then(() => (over = true));
  const t0 = performance.now();
  let line = 0;
  while (!over) {
    await server.app.ingestor.syncRun(run.id);
    const r = await server.app.db.run.findUniqueOrThrow({ where: { id: run.id } });
    if (r.ingestStatus !== "OK") throw new Error(`ingest stopped: ${r.ingestError}`);
    line = r.cursorLine;
    if (line >= LINES && !over) throw new Error(`all ${LINES} lines ingested before the traffic ended: raise LINES`);
  }
  return Math.round(line / ((performance.now() - t0) / 1000));
}

// One events file, ingested by a fresh run in each phase (a run of another Sprite each time).
const repo = repoWithLines("ops-bench-alerts-repo-", LINES).repo;
const receiver = await startReceiver();
const server = await benchServer({ OPS_POLL_INTERVAL_MS: "3600000" });
const { pool } = server.app;
/** The webhook sink enabled (phase 3) or disabled (phases 2 and 4: no enabled sink, an install without alerting). */
async function alerting(enabled: boolean): Promise<void> {
  await writeAlertsConfig(
    pool,
    alertsConfigSchema.parse({
      sinks: { hook: { type: "webhook", url: receiver.url, timeoutSeconds: 5, enabled } },
      routing: { defaultSinks: ["hook"] },
      delivery: { concurrency: 256 },
    }),
    "bench",
  );
  server.app.alerts?.invalidateConfig();
}
await alerting(false);

// The runs that will raise the conditions: rows only (not polled), CONDITIONS for each phase with traffic.
const sprite = await pool.query<{ id: string }>(`INSERT INTO "Sprite" (id, name, transport, "updatedAt") VALUES (gen_random_uuid()::text, 'alert-bench', 'LOCAL', now()) RETURNING id`);
const ids = (
  await pool.query<{ id: string }>(
    `INSERT INTO "Run" (id, "spriteId", "loopId", "repoPath", state, "updatedAt")
     SELECT gen_random_uuid()::text, $1, 'loop-' || g, '/bench/' || g, 'RUNNING', now() FROM generate_series(1, $2) g RETURNING id`,
    [sprite.rows[0].id, 3 * CONDITIONS],
  )
).rows.map((r) => r.id);
const batches = [ids.slice(0, CONDITIONS), ids.slice(CONDITIONS, 2 * CONDITIONS), ids.slice(2 * CONDITIONS)];
const backlog = async () => (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "AlertSignal"`)).rows[0].n;
while ((await backlog()) > 0) await new Promise((r) => setTimeout(r, 50));

const labels = new Map([[receiver.pid, "receiver"]]);
/** Conditions at a steady rate, in small transactions (each a few runs entering FAILED). */
async function produce(runs: readonly string[]): Promise<number> {
  const per = Math.max(1, Math.round(RATE / 20));
  const t0 = performance.now();
  for (let i = 0; i < runs.length; i += per) {
    await pool.query(`UPDATE "Run" SET state = 'FAILED', "stateReason" = 'bench', "updatedAt" = now() WHERE id = ANY($1::text[])`, [runs.slice(i, i + per)]);
    const due = t0 + ((i + per) / RATE) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  return performance.now() - t0;
}

/** One phase: ingest into a fresh run while `runs` fail at RATE (none: quiet, for as long). CPU counted until both end. */
async function phase(name: string, runs: readonly string[] | null): Promise<{ eventsPerSec: number; cpu: CpuSnapshot; produceMs: number }> {
  const c0 = cpuSnapshot(labels);
  const produced = runs ? produce(runs) : new Promise<number>((r) => setTimeout(() => r((CONDITIONS / RATE) * 1000), (CONDITIONS / RATE) * 1000));
  const eventsPerSec = await ingest(server, name, repo, produced);
  const produceMs = await produced;
  return { eventsPerSec, cpu: cpuDelta(c0, cpuSnapshot(labels)), produceMs };
}

const delivered = async () => (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "AlertDelivery" WHERE status = 'DELIVERED'`)).rows[0].n;
const quiet = await phase("bench-quiet", null);
const without1 = await phase("bench-without-1", batches[0]);
await alerting(true);
const prof = process.env.PROFILE ? await startProfile() : null;
const c3 = cpuSnapshot(labels);
const withAlerts = await phase("bench-with", batches[1]);
const drain0 = performance.now();
while ((await delivered()) < CONDITIONS) {
  if (performance.now() - drain0 > 120_000) throw new Error(`only ${await delivered()} of ${CONDITIONS} delivered after 120 s`);
  await new Promise((r) => setTimeout(r, 50));
}
const drainMs = performance.now() - drain0;
await prof?.stop(process.env.PROFILE!);
const withCpu = cpuDelta(c3, cpuSnapshot(labels));
await alerting(false);
const without2 = await phase("bench-without-2", batches[2]);

const lat = (await pool.query<{ ms: number }>(`SELECT extract(epoch FROM "firstAttemptAt" - "createdAt")::float8 * 1000 AS ms FROM "AlertDelivery" WHERE event = 'trigger'`)).rows
  .map((r) => r.ms)
  .sort((a, b) => a - b);
const stats = (
  await pool.query<{ dead: number; attempts: number; maxAttempts: number }>(
    `SELECT count(*) FILTER (WHERE status = 'DEAD')::int AS dead, sum(attempts)::int AS attempts, max(attempts)::int AS "maxAttempts" FROM "AlertDelivery"`,
  )
).rows[0];
if (process.env.BUCKETS)
  console.table(
    (
      await pool.query(
        `SELECT date_trunc('second', "createdAt") s, count(*)::int n, round(max(extract(epoch FROM "firstAttemptAt" - "createdAt"))::numeric * 1000) maxms, round(avg(extract(epoch FROM "firstAttemptAt" - "createdAt"))::numeric * 1000) avgms FROM "AlertDelivery" GROUP BY 1 ORDER BY 1`,
      )
    ).rows,
  );
const received = await receiver.count();
await server.close();
receiver.stop();

const baseline = Math.round((without1.eventsPerSec + without2.eventsPerSec) / 2);
const ratio = withAlerts.eventsPerSec / baseline;
const quietRatio = withAlerts.eventsPerSec / quiet.eventsPerSec;
const p50 = percentile(lat, 50);
const p99 = percentile(lat, 99);
console.log(
  `alert conditions: ${CONDITIONS} raised at ${RATE}/s over ${round(withAlerts.produceMs / 1000, 2)} s; ${lat.length} triggers delivered (all within ${round(drainMs / 1000, 2)} s of the last change), ${received} requests received, ${stats.dead} dead`,
);
console.log(`enqueue → first attempt: p50 ${round(p50, 0)} ms, p99 ${round(p99, 0)} ms, max ${round(lat[lat.length - 1] ?? NaN, 0)} ms (target p99 < 1000 ms: ${p99 < 1000 ? "met" : "NOT met"})`);
console.log(
  `ingest while ${RATE} runs/s fail: ${without1.eventsPerSec} and ${without2.eventsPerSec} events/s without alerting, ${withAlerts.eventsPerSec} events/s with every failure alerted: ${round(ratio * 100, 1)}% (target ≥ 90%: ${ratio >= 0.9 ? "met" : "NOT met"})`,
);
console.log(`ingest with nothing else happening: ${quiet.eventsPerSec} events/s (alerted phase: ${round(quietRatio * 100, 1)}% of it)`);
// What alerting costs the machine: CPU of every process (manager threads, PostgreSQL, the receiver) in the
// alerted phase (until drained) minus the mean of the two phases with the same traffic and no sink.
const sum = (o: Record<string, number>) => Object.values(o).reduce((x, y) => x + y, 0);
const cpuBaseline = (sum(without1.cpu) + sum(without2.cpu)) / 2;
const alertCpuMsPerAlert = ((sum(withCpu) - cpuBaseline) * 1000) / CONDITIONS;
console.log(
  `CPU seconds by process/thread: quiet ${JSON.stringify(quiet.cpu)}; without alerting ${JSON.stringify(without1.cpu)} and ${JSON.stringify(without2.cpu)}; with alerting, until drained ${JSON.stringify(withCpu)}`,
);
console.log(
  JSON.stringify({
    bench: "alerts",
    conditions: CONDITIONS,
    ratePerSec: RATE,
    delivered: lat.length,
    received,
    dead: stats.dead,
    attempts: stats.attempts,
    p50EnqueueToFirstAttemptMs: round(p50, 1),
    p99EnqueueToFirstAttemptMs: round(p99, 1),
    lines: LINES,
    ingestEventsPerSecQuiet: quiet.eventsPerSec,
    ingestEventsPerSecBaseline: baseline,
    ingestEventsPerSecBaselineRuns: [without1.eventsPerSec, without2.eventsPerSec],
    ingestEventsPerSecWithAlerts: withAlerts.eventsPerSec,
    ingestRatio: round(ratio, 3),
    ingestRatioToQuiet: round(quietRatio, 3),
    cpuSecondsWithAlerts: round(sum(withCpu), 2),
    cpuSecondsBaseline: round(cpuBaseline, 2),
    alertCpuMsPerAlert: round(alertCpuMsPerAlert, 3),
    p99Met: p99 < 1000,
    ingestMet: ratio >= 0.9,
  }),
);
process.exit(0);
