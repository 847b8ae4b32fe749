// npm run bench:retention — does pruning hold ingest back? The same 100,000 lines are ingested three times in one
// run: with the retention worker idle, while it prunes another run's 200,000 stored events as fast as it can
// (passes back to back, DELETEs of 1,000 in their own transactions), and idle again (the two idle runs bracket the
// busy one, so warm-up does not favour either side). Prints ingest events/s idle (mean) and while pruning, their
// ratio, and the pruning rate.
import { registerSprite } from "../src/registry/register";
import type { RunningServer } from "../src/server";
import { benchServer, round, repoWithLines } from "./support";

const LINES = Number(process.env.LINES ?? 100_000);
const STORED = Number(process.env.STORED ?? 200_000);

async function ingest(server: RunningServer, name: string, repo: string, lines: number): Promise<number> {
  const t0 = performance.now();
  const { run } = await registerSprite(server.app, { name, transport: "LOCAL", repoPath: repo, loopId: "demo-loop" }, "bench");
  for (;;) {
    await server.app.ingestor.syncRun(run.id);
    const r = await server.app.db.run.findUniqueOrThrow({ where: { id: run.id } });
    if (r.ingestStatus !== "OK") throw new Error(`ingest stopped: ${r.ingestError}`);
    if (r.cursorLine >= lines) break;
  }
  return performance.now() - t0;
}

const server = await benchServer({ OPS_POLL_INTERVAL_MS: "3600000", OPS_RETENTION_INTERVAL_MS: "3600000", OPS_RETENTION_BATCH: "10000" });
const [big, quiet, busy, after] = [
  repoWithLines("ops-bench-ret-", STORED).repo,
  repoWithLines("ops-bench-ret-", LINES).repo,
  repoWithLines("ops-bench-ret-", LINES).repo,
  repoWithLines("ops-bench-ret-", LINES).repo,
];
await ingest(server, "bench-big", big, STORED);

const quietMs = await ingest(server, "bench-quiet", quiet, LINES);

// Now the big run may keep one line: the worker prunes it pass after pass while the second copy is ingested.
await server.app.pool.query(`UPDATE "Sprite" SET retention = '{"maxEventsPerRun": 1}' WHERE name = 'bench-big'`);
let pruning = true;
let pruned = 0;
const p0 = performance.now();
let pruneMs = 0;
const pruner = (async () => {
  while (pruning) {
    const { pruned: n } = await server.app.retention.tick();
    pruned += n;
    if (n === 0) {
      pruneMs ||= performance.now() - p0;
      await new Promise((r) => setTimeout(r, 5));
    }
  }
})();
const busyMs = await ingest(server, "bench-busy", busy, LINES);
pruning = false;
await pruner;
pruneMs ||= performance.now() - p0;
const afterMs = await ingest(server, "bench-after", after, LINES);
await server.close();

const quietPerSec = Math.round(LINES / ((quietMs + afterMs) / 2 / 1000));
const busyPerSec = Math.round(LINES / (busyMs / 1000));
const ratio = round(busyPerSec / quietPerSec, 2);
const prunedPerSec = Math.round(pruned / (pruneMs / 1000));
console.log(`ingest of ${LINES} lines alone: ${quietPerSec} events/s; while retention pruned ${pruned} events of another run: ${busyPerSec} events/s (${Math.round(ratio * 100)}%)`);
console.log(`pruning: ${prunedPerSec} events/s (DELETEs of 1,000, each its own transaction); a shared 2-core machine gives pessimistic figures`);
console.log(JSON.stringify({ bench: "retention", lines: LINES, stored: STORED, ingestAlonePerSec: quietPerSec, ingestWhilePruningPerSec: busyPerSec, ratio, pruned, prunedPerSec }));
process.exit(0);
