// npm run bench:reset — resetRunCursor on a run with LINES stored events (200,000 by default), through the
// GraphQL mutation, as an operator runs it: REPLAY_FROM_START (delete every stored event, re-ingest the file)
// then ADOPT_CURRENT (read the file's end through the transport, keep the events). For each: how long the
// mutation took, how long until ingestion caught up again, the event loop's worst delay meanwhile
// (perf_hooks.monitorEventLoopDelay) and the worst /health answer time. Last line: one JSON object.
import { monitorEventLoopDelay } from "node:perf_hooks";
import { registerSprite } from "../src/registry/register";
import { benchServer, round, repoWithLines } from "./support";

const LINES = Number(process.env.LINES ?? 200_000);
const { repo } = repoWithLines("ops-bench-reset-", LINES);

const server = await benchServer({ OPS_POLL_INTERVAL_MS: "3600000" });
const { run } = await registerSprite(server.app, { name: "bench-reset", transport: "LOCAL", repoPath: repo, loopId: "demo-loop" }, "bench");
const cursorLine = async () => (await server.app.db.run.findUniqueOrThrow({ where: { id: run.id } })).cursorLine;
while ((await cursorLine()) < LINES) await server.app.ingestor.syncRun(run.id);
const globalId = Buffer.from(`Run:${run.id}`).toString("base64");

async function measure(mode: "REPLAY_FROM_START" | "ADOPT_CURRENT") {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  let healthWorst = 0;
  let healthFailures = 0;
  let probing = true;
  const probe = (async () => {
    while (probing) {
      const t = performance.now();
      try {
        const res = await fetch(server.url.replace("/graphql", "/health"), { signal: AbortSignal.timeout(10_000) });
        await res.arrayBuffer();
        if (res.status !== 200) healthFailures++;
      } catch {
        healthFailures++;
      }
      healthWorst = Math.max(healthWorst, performance.now() - t);
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  delay.enable();
  const t0 = performance.now();
  const res = await fetch(server.url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      query: `mutation($id: ID!, $m: CursorResetMode!) { resetRunCursor(runId: $id, mode: $m) { __typename ... on CursorReset { deletedEvents newLine } ... on Error { message } } }`,
      variables: { id: globalId, m: mode },
    }),
  });
  const body = (await res.json()) as { data?: { resetRunCursor?: { __typename: string; deletedEvents?: number; newLine?: number } } };
  const mutationMs = performance.now() - t0;
  if (body.data?.resetRunCursor?.__typename !== "CursorReset") throw new Error(`reset failed: ${JSON.stringify(body)}`);
  // caught up: every line stored again (the poller re-ingests after a replay)
  while ((await cursorLine()) < LINES) await new Promise((r) => setTimeout(r, 50));
  const caughtUpMs = performance.now() - t0;
  delay.disable();
  probing = false;
  await probe;
  return {
    mutationMs: round(mutationMs, 0),
    caughtUpMs: round(caughtUpMs, 0),
    deletedEvents: body.data.resetRunCursor.deletedEvents ?? 0,
    loopDelayMaxMs: round(delay.max / 1e6, 1),
    loopDelayP99Ms: round(delay.percentile(99) / 1e6, 1),
    healthWorstMs: round(healthWorst, 1),
    healthFailures,
  };
}

const replay = await measure("REPLAY_FROM_START");
const adopt = await measure("ADOPT_CURRENT");
const stored = await server.app.db.event.count({ where: { runId: run.id } });
await server.close();
if (stored !== LINES) throw new Error(`stored ${stored} of ${LINES}`);
console.log(JSON.stringify({ bench: "reset", lines: LINES, replay, adopt }));
process.exit(0);
