// npm run bench:ingest — a 200,000-line events.jsonl ingested from cold through the local transport into the
// embedded database, against the same file parsed with plain JSON.parse line by line, and against the same
// stored rows inserted straight into the same table (the database's floor), in the same run. Also bytes per
// stored event (table + indexes), now and in the layout before the packed line (bench/storage.ts).
import { mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { registerSprite } from "../src/registry/register";
import { bytesPerRow, previousLayoutBytes, rawInsert, readStoredRows } from "./storage";
import { benchServer, round, rssSampler, repoWithLines } from "./support";

const LINES = Number(process.env.LINES ?? 200_000);
// Written in chunks and parsed inside a function, so the bench's own copies are garbage before the peak-RSS
// sampling of the ingest starts.
const { repo, file } = repoWithLines("ops-bench-repo-", LINES);
const sizeMB = statSync(file).size / 1024 / 1024;

function baseline(): { parsed: number; ms: number } {
  const b0 = performance.now();
  const text = readFileSync(file, "utf8");
  let parsed = 0;
  for (const l of text.split("\n")) {
    if (!l) continue;
    JSON.parse(l);
    parsed++;
  }
  return { parsed, ms: performance.now() - b0 };
}
const { parsed, ms: baselineMs } = baseline();
(globalThis as { gc?: () => void }).gc?.();

const server = await benchServer({ OPS_POLL_INTERVAL_MS: "3600000" });
const rss = rssSampler();
const t0 = performance.now();
const { run } = await registerSprite(server.app, { name: "bench", transport: "LOCAL", repoPath: repo, loopId: "demo-loop" }, "bench");
for (;;) {
  await server.app.ingestor.syncRun(run.id);
  const r = await server.app.db.run.findUniqueOrThrow({ where: { id: run.id } });
  if (r.cursorLine >= LINES || r.ingestStatus !== "OK") {
    if (r.ingestStatus !== "OK") throw new Error(`ingest stopped: ${r.ingestError}`);
    break;
  }
}
const ingestMs = performance.now() - t0;
const peakRss = rss.stop();
const stored = await server.app.db.event.count({ where: { runId: run.id } });
if (stored !== LINES) throw new Error(`stored ${stored} of ${LINES}`);
const BATCH = 5000; // the ingestor's lines per transaction (IngestorOptions.batchSize)
const bytesPerEvent = await bytesPerRow(server.app.pool, '"Event"', LINES);
const rows = await readStoredRows(server.app.pool, run.id);
const { run: second } = await registerSprite(server.app, { name: "bench-raw", transport: "LOCAL", repoPath: mkdtempSync(path.join(tmpdir(), "ops-bench-empty-")), loopId: "none" }, "bench");
const rawMs = await rawInsert(server.app.pool, second.id, rows, BATCH);
const previousBytesPerEvent = await previousLayoutBytes(server.app.pool, rows, BATCH);
await server.close();

const eventsPerSec = Math.round(LINES / (ingestMs / 1000));
const rawInsertPerSec = Math.round(LINES / (rawMs / 1000));
const ofRawInsert = round(eventsPerSec / rawInsertPerSec, 2);
const bytesRatio = round(bytesPerEvent / previousBytesPerEvent, 2);
const baselineLinesPerSec = Math.round(parsed / (baselineMs / 1000));
console.log(`file: ${LINES} lines, ${round(sizeMB)} MB`);
console.log(`ingest (local transport → embedded PostgreSQL, 5,000 lines/transaction): ${round(ingestMs / 1000, 2)} s, ${eventsPerSec} events/s, peak RSS ${round(peakRss / 1024 / 1024)} MB`);
console.log(`baseline (JSON.parse line by line): ${round(baselineMs, 0)} ms, ${baselineLinesPerSec} lines/s; ingest is ${round(baselineLinesPerSec / eventsPerSec)}x slower than parsing alone`);
console.log(
  `raw insert of the same stored rows into the same table (the same COPY, ${BATCH} rows/transaction): ${rawInsertPerSec} events/s; ingest is ${Math.round(ofRawInsert * 100)}% of it (target ≥ 80%: ${ofRawInsert >= 0.8 ? "met" : "NOT met"})`,
);
console.log(
  `storage: ${bytesPerEvent} bytes/event (table + indexes); the previous layout (payload + raw as jsonb) holds the same events in ${previousBytesPerEvent}: ${Math.round(bytesRatio * 100)}% (target ≤ 60%: ${bytesRatio <= 0.6 ? "met" : "NOT met"})`,
);
console.log(`target ≥ 40,000 events/s: ${eventsPerSec >= 40_000 ? "met" : "NOT met"} (a shared 2-core machine gives pessimistic figures)`);
console.log(
  JSON.stringify({
    bench: "ingest",
    lines: LINES,
    eventsPerSec,
    rawInsertPerSec,
    ofRawInsert,
    bytesPerEvent,
    previousBytesPerEvent,
    bytesRatio,
    baselineLinesPerSec,
    ingestSeconds: round(ingestMs / 1000, 2),
    peakRssMB: round(peakRss / 1024 / 1024),
  }),
);
process.exit(0);
