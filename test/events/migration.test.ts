import { cpSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { listMigrations, MIGRATIONS_DIR, runMigrations } from "../../src/db/migrate";
import { LINE_SQL_COLUMNS, originalLine, payloadOf, type StoredEventLine } from "../../src/events/stored-event";
import { createTestDatabase } from "../support/db";

// Migration 20261201180000_event_packed_line on a database that holds events in the previous layout (payload and
// raw as jsonb): every row keeps its content, readable through the same functions as newly ingested rows.

const MIGRATION = "20261201180000_event_packed_line";
let url: string;
let db: pg.Client;

beforeAll(async () => {
  url = await createTestDatabase();
  // The migrations before this one, in a directory of their own.
  const before = mkdtempSync(path.join(tmpdir(), "ops-migrations-before-"));
  for (const name of await listMigrations()) if (name < MIGRATION) cpSync(path.join(MIGRATIONS_DIR, name), path.join(before, name), { recursive: true });
  await runMigrations(url, before);
  db = new pg.Client({ connectionString: url });
  await db.connect();
});
afterAll(() => db?.end());

it("converts payload+raw jsonb rows to packed lines with the same content, then stores new lines packed", async () => {
  await db.query(`INSERT INTO "Sprite" (id, name, transport, "updatedAt") VALUES ('s1', 'old', 'LOCAL', now())`);
  await db.query(`INSERT INTO "Run" (id, "spriteId", "repoPath", "loopId", "updatedAt") VALUES ('r1', 's1', '/repo', 'demo-loop', now())`);
  const lines = [
    '{"timestamp":"2026-11-24T06:54:18Z","event":"loop_start","loop_id":"demo-loop","run_id":"R","iteration":1,"data":{"max_iterations":3,"tests_mode":"disabled"}}',
    '{"timestamp":"2026-11-24T06:54:19Z","event":"loop_stop","loop_id":"demo-loop","run_id":"R","iteration":1}',
  ];
  for (const [i, line] of lines.entries()) {
    const o = JSON.parse(line) as { timestamp: string; event: string; run_id: string; iteration: number; data?: unknown };
    await db.query(`INSERT INTO "Event" ("runId", line, "timestamp", name, "runtimeRunId", iteration, payload, raw) VALUES ('r1', $1, $2, $3, $4, $5, $6::jsonb, $7::jsonb)`, [
      i + 1,
      o.timestamp,
      o.event,
      o.run_id,
      o.iteration,
      o.data === undefined ? null : JSON.stringify(o.data),
      line,
    ]);
  }
  expect(await runMigrations(url)).toContain(MIGRATION);

  const rows = (await db.query<StoredEventLine & { line: number }>(`SELECT line, ${LINE_SQL_COLUMNS} FROM "Event" ORDER BY line`)).rows;
  expect(rows).toHaveLength(2);
  for (const [i, row] of rows.entries()) {
    // jsonb never kept the bytes: the migrated line is jsonb's rendering of it, with the same content.
    expect(JSON.parse(originalLine(row))).toEqual(JSON.parse(lines[i]));
  }
  expect(payloadOf(rows[0])).toEqual({ max_iterations: 3, tests_mode: "disabled" });
  expect(payloadOf(rows[1])).toBeNull();
  const columns = (await db.query<{ column_name: string }>(`SELECT column_name FROM information_schema.columns WHERE table_name = 'Event'`)).rows.map((r) => r.column_name);
  expect(columns).toContain("packed");
  expect(columns).not.toContain("raw");
  expect(columns).not.toContain("payload");
});
