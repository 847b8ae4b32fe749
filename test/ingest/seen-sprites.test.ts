import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { SeenSprites } from "../../src/ingest/seen-sprites";
import { runMigrations } from "../../src/db/migrate";
import { createTestDatabase } from "../support/db";

// Issue 18 (bench:fleet at 10,000 runs): "still seen" refreshes of Sprite.lastSeenAt are written together, one
// statement per flush for every Sprite marked meanwhile, and never move lastSeenAt backwards.

let pool: pg.Pool;
beforeAll(async () => {
  const url = await createTestDatabase();
  await runMigrations(url);
  pool = new pg.Pool({ connectionString: url, max: 2 });
  await pool.query(`INSERT INTO "Sprite" (id, name, transport, "updatedAt") SELECT 'ss-' || g, 'seen-' || g, 'LOCAL', now() FROM generate_series(1, 3) g`);
});
afterAll(() => pool?.end());

const seen = async () =>
  Object.fromEntries((await pool.query<{ id: string; at: Date | null }>(`SELECT id, "lastSeenAt" AS at FROM "Sprite" ORDER BY id`)).rows.map((r) => [r.id, r.at?.getTime() ?? null]));

it("writes the marks of every Sprite in one flush, the latest mark of each, never backwards", async () => {
  const statements: string[] = [];
  const counting = { query: (text: string, values: unknown[]) => (statements.push(text), pool.query(text, values)) } as unknown as pg.Pool;
  const errors: unknown[] = [];
  const s = new SeenSprites(counting, (e) => errors.push(e), 0);
  const t = Date.parse("2026-12-01T10:00:00.000Z");
  s.mark("ss-1", new Date(t));
  s.mark("ss-2", new Date(t + 1000));
  s.mark("ss-1", new Date(t + 2000));
  expect(await seen()).toEqual({ "ss-1": null, "ss-2": null, "ss-3": null });
  await s.flush();
  expect(statements).toHaveLength(1);
  expect(await seen()).toEqual({ "ss-1": t + 2000, "ss-2": t + 1000, "ss-3": null });
  // An older mark (a status change written meanwhile carried a later time) does not move it back.
  s.mark("ss-1", new Date(t));
  await s.stop();
  expect((await seen())["ss-1"]).toBe(t + 2000);
  await s.flush(); // nothing pending: no statement
  expect(statements).toHaveLength(2);
  expect(errors).toEqual([]);
});
