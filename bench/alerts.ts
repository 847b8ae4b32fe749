// npm run bench:alerts — alert delivery under load, next to ingest. In one manager (embedded database):
//   1. ingest LINES lines without alerts (no alert traffic: bench:ingest's measurement, the baseline of this run;
//      the outbox trigger stays installed — the manager's role does not own the tables — but an ingest commit
//      that changes no state or health writes nothing through it),
//   2. ingest LINES more lines with alerts: CONDITIONS runs entering FAILED at a steady RATE
//      (each an alert condition, raised by the outbox trigger in the changing transaction) sent meanwhile to a
//      webhook receiver running in another process,
//   3. ingest LINES more without alerts again (the machine is shared: the baseline is the mean of 1 and 3),
// then waits until every alert is delivered. Reports p99 enqueue (the change's commit) → first attempt and the
// ingest throughput with alerts vs the mean of the two baselines, and the CPU seconds each process spent (the
// alert path's cost per alert). Last line: one JSON object.
import { spawn } from "node:child_process";
import { alertsConfigSchema } from "../src/alerts/config";
import { writeAlertsConfig } from "../src/alerts/store";
import { registerSprite } from "../src/registry/register";
import type { RunningServer } from "../src/server";
import { cpuDelta, cpuSnapshot } from "./cpu-account";
import { benchServer, percentile, round, repoWithLines } from "./support";

const LINES = Number(process.env.LINES ?? 100_000);
const CONDITIONS = Number(process.env.CONDITIONS ?? 10_000);
const RATE = Number(process.env.RATE ?? 2000); // conditions per second

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

async function ingest(server: RunningServer, name: string, repo: string): Promise<number> {
  const t0 = performance.now();
  const { run } = await registerSprite(server.app, { name, transport: "LOCAL", repoPath: repo, loopId: "demo-loop" }, "bench");
  for (;;) {
    await server.app.ingestor.syncRun(run.id);
    const r = await server.app.db.run.findUniqueOrThrow({ where: { id: run.id } });
    if (r.ingestStatus !== "OK") throw new Error(`ingest stopped: ${r.ingestError}`);
    if (r.cursorLine >= LINES) break;
  }
  return Math.round(LINES / ((performance.now() - t0) / 1000));
}

const repos = [repoWithLines("ops-bench-alerts-repo-", LINES).repo, repoWithLines("ops-bench-alerts-repo-", LINES).repo, repoWithLines("ops-bench-alerts-repo-", LINES).repo];
const receiver = await startReceiver();
const server = await benchServer({ OPS_POLL_INTERVAL_MS: "3600000" });
const { pool } = server.app;
await writeAlertsConfig(
  pool,
  alertsConfigSchema.parse({
    sinks: { hook: { type: "webhook", url: receiver.url, timeoutSeconds: 5 } },
    routing: { defaultSinks: ["hook"] },
    delivery: { concurrency: 256 },
  }),
  "bench",
);
server.app.alerts?.invalidateConfig();

// The runs that will raise the conditions: rows only (not polled), as many as conditions.
const sprite = await pool.query<{ id: string }>(`INSERT INTO "Sprite" (id, name, transport, "updatedAt") VALUES (gen_random_uuid()::text, 'alert-bench', 'LOCAL', now()) RETURNING id`);
const ids = (
  await pool.query<{ id: string }>(
    `INSERT INTO "Run" (id, "spriteId", "loopId", "repoPath", state, "updatedAt")
     SELECT gen_random_uuid()::text, $1, 'loop-' || g, '/bench/' || g, 'RUNNING', now() FROM generate_series(1, $2) g RETURNING id`,
    [sprite.rows[0].id, CONDITIONS],
  )
).rows.map((r) => r.id);
const backlog = async () => (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "AlertSignal"`)).rows[0].n;
while ((await backlog()) > 0) await new Promise((r) => setTimeout(r, 50));

const labels = new Map([[receiver.pid, "receiver"]]);
const cpu0 = cpuSnapshot(labels);
const baselineA = await ingest(server, "bench-a", repos[0]);
const cpuA = cpuSnapshot(labels);

// Conditions at a steady rate, in small transactions, while the second ingest runs.
const produced = (async () => {
  const per = Math.max(1, Math.round(RATE / 20));
  const t0 = performance.now();
  for (let i = 0; i < ids.length; i += per) {
    await pool.query(`UPDATE "Run" SET state = 'FAILED', "stateReason" = 'bench', "updatedAt" = now() WHERE id = ANY($1::text[])`, [ids.slice(i, i + per)]);
    const due = t0 + ((i + per) / RATE) * 1000;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  return performance.now() - t0;
})();
const withAlerts = await ingest(server, "bench-b", repos[1]);
const produceMs = await produced;
const cpuB = cpuSnapshot(labels);

const drain0 = performance.now();
const delivered = async () => (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "AlertDelivery" WHERE status = 'DELIVERED'`)).rows[0].n;
while ((await delivered()) < CONDITIONS) {
  if (performance.now() - drain0 > 120_000) throw new Error(`only ${await delivered()} of ${CONDITIONS} delivered after 120 s`);
  await new Promise((r) => setTimeout(r, 50));
}
const cpuDrained = cpuSnapshot(labels);
const baselineC = await ingest(server, "bench-c", repos[2]);
const cpuC = cpuSnapshot(labels);

const lat = (await pool.query<{ ms: number }>(`SELECT extract(epoch FROM "firstAttemptAt" - "createdAt")::float8 * 1000 AS ms FROM "AlertDelivery" WHERE event = 'trigger'`)).rows
  .map((r) => r.ms)
  .sort((a, b) => a - b);
const stats = (
  await pool.query<{ dead: number; attempts: number; maxAttempts: number }>(
    `SELECT count(*) FILTER (WHERE status = 'DEAD')::int AS dead, sum(attempts)::int AS attempts, max(attempts)::int AS "maxAttempts" FROM "AlertDelivery"`,
  )
).rows[0];
const received = await receiver.count();
await server.close();
receiver.stop();

const baseline = Math.round((baselineA + baselineC) / 2);
const ratio = withAlerts / baseline;
const p50 = percentile(lat, 50);
const p99 = percentile(lat, 99);
console.log(`alert conditions: ${CONDITIONS} raised at ${RATE}/s over ${round(produceMs / 1000, 2)} s; ${lat.length} triggers delivered, ${received} requests received, ${stats.dead} dead`);
console.log(`enqueue → first attempt: p50 ${round(p50, 0)} ms, p99 ${round(p99, 0)} ms, max ${round(lat[lat.length - 1] ?? NaN, 0)} ms (target p99 < 1000 ms: ${p99 < 1000 ? "met" : "NOT met"})`);
console.log(
  `ingest: ${baselineA} and ${baselineC} events/s without alert traffic, ${withAlerts} events/s while alerts were raised and sent: ${round(ratio * 100, 1)}% (target ≥ 90%: ${ratio >= 0.9 ? "met" : "NOT met"})`,
);
// What the alert path costs the machine: CPU of every process (manager threads, PostgreSQL, the receiver) while
// alerts were raised and drained, minus the mean of the two baselines (each ingests the same lines without alerts).
const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
const cpuWithAlerts = sum(cpuDelta(cpuA, cpuDrained));
const cpuBaseline = (sum(cpuDelta(cpu0, cpuA)) + sum(cpuDelta(cpuDrained, cpuC))) / 2;
const alertCpuMsPerAlert = ((cpuWithAlerts - cpuBaseline) * 1000) / CONDITIONS;
console.log(
  `CPU seconds by process/thread: without alerts ${JSON.stringify(cpuDelta(cpu0, cpuA))} and ${JSON.stringify(cpuDelta(cpuDrained, cpuC))}; with alerts ${JSON.stringify(cpuDelta(cpuA, cpuB))}, then draining ${JSON.stringify(cpuDelta(cpuB, cpuDrained))}`,
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
    ingestEventsPerSecBaseline: baseline,
    ingestEventsPerSecBaselineRuns: [baselineA, baselineC],
    ingestEventsPerSecWithAlerts: withAlerts,
    ingestRatio: round(ratio, 3),
    cpuSecondsWithAlerts: round(cpuWithAlerts, 2),
    cpuSecondsBaseline: round(cpuBaseline, 2),
    alertCpuMsPerAlert: round(alertCpuMsPerAlert, 3),
    p99Met: p99 < 1000,
    ingestMet: ratio >= 0.9,
  }),
);
process.exit(0);
