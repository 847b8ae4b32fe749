// npm run bench:ingest — a 200,000-line events.jsonl ingested from cold through the local transport into the
// embedded database, against the same file parsed with plain JSON.parse line by line (the floor).
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { registerSprite } from "../src/registry/register";
import { benchServer, realisticLine, round, rssSampler } from "./support";

const LINES = Number(process.env.LINES ?? 200_000);
const repo = mkdtempSync(path.join(tmpdir(), "ops-bench-repo-"));
const dir = path.join(repo, ".superloop", "loops", "demo-loop");
mkdirSync(dir, { recursive: true });
const file = path.join(dir, "events.jsonl");
// Written in chunks and parsed inside a function, so the bench's own copies are garbage before the peak-RSS
// sampling of the ingest starts.
writeFileSync(file, "");
for (let from = 1; from <= LINES; from += 10_000) {
  const chunk: string[] = [];
  for (let i = from; i < from + 10_000 && i <= LINES; i++) chunk.push(realisticLine(i, "2026-11-24T00:00:00Z"));
  appendFileSync(file, chunk.join("\n") + "\n");
}
const sizeMB = statSync(file).size / 1024 / 1024;

function baseline(): { parsed: number; ms: number } {
  const b0 = performance.now();
  const text = readFileSync(file, "utf8");
  let parsed = 0;
  for (const l of text.split("\n")) if (l) (JSON.parse(l), parsed++);
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
await server.close();
if (stored !== LINES) throw new Error(`stored ${stored} of ${LINES}`);

const eventsPerSec = Math.round(LINES / (ingestMs / 1000));
const baselineLinesPerSec = Math.round(parsed / (baselineMs / 1000));
console.log(`file: ${LINES} lines, ${round(sizeMB)} MB`);
console.log(`ingest (local transport → embedded PostgreSQL, 5,000 lines/transaction): ${round(ingestMs / 1000, 2)} s, ${eventsPerSec} events/s, peak RSS ${round(peakRss / 1024 / 1024)} MB`);
console.log(`baseline (JSON.parse line by line): ${round(baselineMs, 0)} ms, ${baselineLinesPerSec} lines/s; ingest is ${round(baselineLinesPerSec / eventsPerSec)}x slower than parsing alone`);
console.log(`target ≥ 20,000 events/s: ${eventsPerSec >= 20_000 ? "met" : "NOT met"}`);
console.log(JSON.stringify({ bench: "ingest", lines: LINES, eventsPerSec, baselineLinesPerSec, ingestSeconds: round(ingestMs / 1000, 2), peakRssMB: round(peakRss / 1024 / 1024) }));
process.exit(0);
