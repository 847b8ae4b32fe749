import { appendFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { RESET_ANSWER_WAIT_MS } from "../../src/ingest/reset";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { register, waitFor } from "../support/runs";
import { startTestServer } from "../support/server";

// Issue 13: resetRunCursor on a large run must not freeze the manager. The replay after a REPLAY_FROM_START
// runs in the poller's pages (sliced inserts, the event loop free between the steps of a page), /health answers
// all along, and the mutation's answer does not wait for the whole replay. How much the event loop is delayed
// meanwhile is measured by `npm run bench:reset` (200,000 events), not here.

const LINES = 30_000;
let server: RunningServer;

beforeAll(async () => {
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "3600000" });
}, 60_000);
afterAll(async () => {
  await server?.close();
});

function bigRepo(): string {
  const repo = mkdtempSync(path.join(tmpdir(), "reset-large-"));
  const dir = path.join(repo, ".superloop", "loops", "demo-loop");
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, "events.jsonl");
  writeFileSync(file, "");
  for (let from = 1; from <= LINES; from += 5_000) {
    const chunk: string[] = [];
    for (let i = from; i < from + 5_000; i++) {
      const event = i === 1 ? "loop_start" : i % 2 ? "role_start" : "role_end";
      chunk.push(
        JSON.stringify({
          timestamp: new Date(Date.UTC(2026, 10, 24) + i * 250).toISOString(),
          event,
          loop_id: "demo-loop",
          run_id: "r1",
          iteration: 1 + Math.floor(i / 40),
          role: "implementer",
          data: { duration_ms: i % 977, note: "x".repeat(200) },
        }),
      );
    }
    appendFileSync(file, chunk.join("\n") + "\n");
  }
  return repo;
}

it(
  `a REPLAY_FROM_START of ${LINES.toLocaleString("en")} stored events: /health answers throughout, the answer does not wait for the replay, every line stored once`,
  { timeout: 180_000 },
  async () => {
    const run = await register(server, "reset-large", bigRepo());
    const cursorLine = async () => (await server.app.db.run.findUniqueOrThrow({ where: { id: run.raw } })).cursorLine;
    while ((await cursorLine()) < LINES) await server.app.ingestor.syncRun(run.raw);

    let probing = true;
    const health: number[] = [];
    const probe = (async () => {
      while (probing) {
        const res = await fetch(server.url.replace("/graphql", "/health"), { signal: AbortSignal.timeout(20_000) });
        await res.arrayBuffer();
        health.push(res.status);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      const started = performance.now();
      const reset = await gql(server.url, `mutation($id: ID!) { resetRunCursor(runId: $id, mode: REPLAY_FROM_START) { __typename ... on CursorReset { deletedEvents newLine } } }`, { id: run.id });
      const answeredMs = performance.now() - started;
      const atAnswer = await cursorLine();
      expect(reset.data?.resetRunCursor).toEqual({ __typename: "CursorReset", deletedEvents: LINES, newLine: 0 });
      const answeredDuring = health.length;
      // A replay still under way when the answer came, or one short enough to fit the answer's wait.
      if (atAnswer === LINES) expect(answeredMs).toBeLessThan(RESET_ANSWER_WAIT_MS + 5_000);

      await waitFor(cursorLine, (line) => line === LINES, 150_000, "the replay to catch up");
      probing = false;
      await probe;
      expect(health.every((s) => s === 200)).toBe(true);
      expect(answeredDuring).toBeGreaterThan(0);
      // and while the replay went on after the answer, if it did (on a fast machine it fits in the answer's wait)
      if (atAnswer < LINES) expect(health.length).toBeGreaterThan(answeredDuring);
    } finally {
      probing = false;
      await probe.catch(() => undefined);
    }
    const rows = await server.app.pool.query<{ n: string; lines: string; max: number }>(`SELECT count(*) n, count(DISTINCT line) lines, max(line) max FROM "Event" WHERE "runId" = $1`, [run.raw]);
    expect(rows.rows[0]).toEqual({ n: String(LINES), lines: String(LINES), max: LINES });
  },
);
