// npm run bench:latency — append one line to a running loop's events.jsonl and time until a graphql-ws
// subscriber (runEvents, after: HEAD) receives it; p50/p99 over 500 appends on the local transport.
import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createClient } from "graphql-ws";
import WebSocket from "ws";
import { registerSprite } from "../src/registry/register";
import { benchServer, percentile, realisticLine, round } from "./support";

const APPENDS = Number(process.env.APPENDS ?? 500);
const repo = mkdtempSync(path.join(tmpdir(), "ops-latency-"));
const dir = path.join(repo, ".superloop", "loops", "demo-loop");
mkdirSync(dir, { recursive: true });
const file = path.join(dir, "events.jsonl");
writeFileSync(file, realisticLine(1, "lat") + "\n");
writeFileSync(path.join(repo, ".superloop", "state.json"), JSON.stringify({ active: true, loop_index: 0, iteration: 1, current_loop_id: "demo-loop", updated_at: new Date().toISOString() }));
writeFileSync(path.join(repo, ".superloop", "active-run.json"), JSON.stringify({ repo, pid: process.pid, pgid: process.pid, loop_id: "demo-loop", iteration: 1, stage: "tester" }));

// The interval poll is 2 s (the default): what is measured is the fs.watch path.
const server = await benchServer({ OPS_POLL_INTERVAL_MS: "2000" });
const { run } = await registerSprite(server.app, { name: "latency", transport: "LOCAL", repoPath: repo, loopId: "demo-loop" }, "bench");
await server.app.ingestor.syncRun(run.id);

const client = createClient({ url: server.url.replace(/^http/, "ws"), webSocketImpl: WebSocket, lazy: false, retryAttempts: 0 });
const received = new Map<number, number>();
let wake: (() => void) | null = null;
client.subscribe<{ runEvents: { events?: { line: number }[] } }>(
  { query: `subscription($id: ID!) { runEvents(runId: $id, after: "HEAD") { ... on RunEventsBatch { events { line } } } }`, variables: { id: run.id } },
  {
    next: (v) => {
      const now = performance.now();
      for (const e of v.data?.runEvents.events ?? []) received.set(e.line, now);
      wake?.();
    },
    error: (e) => console.error("subscription error", e),
    complete: () => {},
  },
);
for (let i = 0; i < 200 && server.app.bus.listenerCount("events", run.id) === 0; i++) await new Promise((r) => setTimeout(r, 10));

const latencies: number[] = [];
for (let k = 0; k < APPENDS; k++) {
  const line = k + 2;
  const t0 = performance.now();
  appendFileSync(file, realisticLine(line, "lat") + "\n");
  while (!received.has(line)) {
    await new Promise<void>((r) => {
      wake = r;
      setTimeout(r, 5);
    });
    if (performance.now() - t0 > 10_000) throw new Error(`line ${line} not delivered within 10 s`);
  }
  latencies.push(received.get(line)! - t0);
  await new Promise((r) => setTimeout(r, 10 + Math.random() * 10));
}
await client.dispose();
await server.close();

latencies.sort((a, b) => a - b);
const p50 = round(percentile(latencies, 50), 2);
const p99 = round(percentile(latencies, 99), 2);
console.log(`${APPENDS} appends, local transport (fs.watch), graphql-ws runEvents subscriber`);
console.log(`append → delivered: p50 ${p50} ms, p99 ${p99} ms, max ${round(latencies.at(-1)!, 2)} ms`);
console.log(`target p99 < 100 ms: ${p99 < 100 ? "met" : "NOT met"}`);
console.log(JSON.stringify({ bench: "latency", appends: APPENDS, p50Ms: p50, p99Ms: p99, maxMs: round(latencies.at(-1)!, 2) }));
process.exit(0);
