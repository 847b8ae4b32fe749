import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { expect, it } from "vitest";
import { gql } from "../support/clients";
import { createTestDatabase } from "../support/db";
import { eventsPath } from "../support/fixtures";
import { spawnManager } from "../support/manager-process";
import { LINE_SQL_COLUMNS, originalLine, type StoredEventLine } from "../../src/events/stored-event";

// A manager killed with -9 in the middle of a large backlog must resume exactly where its last committed
// batch ended: no line stored twice, none skipped.
it("no duplicated or skipped event across a kill -9 in the middle of ingestion", { timeout: 180_000 }, async () => {
  const url = await createTestDatabase();
  const dataDir = mkdtempSync(path.join(tmpdir(), "ops-kill9-"));
  chmodSync(dataDir, 0o755);
  const repo = mkdtempSync(path.join(tmpdir(), "ops-kill9-repo-"));
  mkdirSync(path.join(repo, ".superloop", "loops", "demo-loop"), { recursive: true });
  const TOTAL = 120_000;
  const parts: string[] = [];
  for (let i = 1; i <= TOTAL; i++) {
    parts.push(
      JSON.stringify({
        timestamp: new Date(Date.UTC(2026, 10, 24, 0, 0, 0, i)).toISOString(),
        event: i === 1 ? "loop_start" : "role_end",
        loop_id: "demo-loop",
        run_id: "big",
        iteration: 1,
        role: "tester",
        data: { i, pad: "x".repeat(60) },
      }),
    );
  }
  writeFileSync(eventsPath(repo), parts.join("\n") + "\n");

  const env = { DATABASE_URL: url, OPS_DATA_DIR: dataDir, OPS_POLL_INTERVAL_MS: "200" };
  const first = await spawnManager(env);
  const reg = await gql(first.url, `mutation($r: String!) { registerSprite(input: {name: "big", transport: LOCAL, repoPath: $r, loopId: "demo-loop"}) { __typename } }`, { r: repo });
  expect(reg.data!.registerSprite.__typename).toBe("RegisterSpritePayload");

  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const cursor = async () => (await db.query<{ cursorLine: number }>(`SELECT "cursorLine" FROM "Run"`)).rows[0]?.cursorLine ?? 0;
  // kill once at least one batch is committed but the backlog is not done
  for (let i = 0; i < 600 && (await cursor()) === 0; i++) await new Promise((r) => setTimeout(r, 10));
  first.child.kill("SIGKILL");
  await first.exited;
  const atKill = await cursor();
  expect(atKill).toBeGreaterThan(0);
  expect(atKill).toBeLessThan(TOTAL);

  // more lines arrive while no manager runs
  appendFileSync(eventsPath(repo), JSON.stringify({ timestamp: "2026-11-25T00:00:00Z", event: "loop_stop", loop_id: "demo-loop", run_id: "big", iteration: 1, data: { reason: "stuck" } }) + "\n");

  const second = await spawnManager(env);
  for (let i = 0; i < 1200 && (await cursor()) < TOTAL + 1; i++) await new Promise((r) => setTimeout(r, 50));
  const stats = await db.query<{ n: string; min: number; max: number; distinct: string }>(`SELECT count(*) n, min(line) min, max(line) max, count(DISTINCT line) distinct FROM "Event"`);
  expect(stats.rows[0]).toEqual({ n: String(TOTAL + 1), min: 1, max: TOTAL + 1, distinct: String(TOTAL + 1) });
  // spot-check content against the file
  const fileLines = readFileSync(eventsPath(repo), "utf8").trimEnd().split("\n");
  const sample = await db.query<StoredEventLine & { line: number }>(`SELECT line, ${LINE_SQL_COLUMNS} FROM "Event" WHERE line IN ($1, $2, $3, $4) ORDER BY line`, [1, atKill, atKill + 1, TOTAL + 1]);
  for (const row of sample.rows) expect(originalLine(row)).toBe(fileLines[row.line - 1]);
  await db.end();
  second.child.kill("SIGTERM");
  await second.exited;
});
