import { cpSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, expect, it } from "vitest";
import { listMigrations, MIGRATIONS_DIR, runMigrations } from "../../src/db/migrate";
import { createTestDatabase } from "../support/db";

// Upgrading a database that recorded attempts as AlertAttempt rows: the migration moves each delivery's attempts,
// in order, into AlertDelivery.attemptLog before dropping the table.

const MIGRATION = "20261203140100_alert_attempt_log";
let pool: pg.Pool | undefined;
afterAll(() => pool?.end());

it("moves every attempt into its delivery's attemptLog, oldest first", async () => {
  const url = await createTestDatabase();
  const before = mkdtempSync(path.join(tmpdir(), "ops-migrations-before-"));
  for (const m of (await listMigrations()).filter((m) => m < MIGRATION)) cpSync(path.join(MIGRATIONS_DIR, m), path.join(before, m), { recursive: true });
  await runMigrations(url, before);
  pool = new pg.Pool({ connectionString: url });
  await pool.query(
    `INSERT INTO "AlertDelivery" (id, sink, event, condition, severity, "dedupKey", "traceId", payload, status, attempts)
     VALUES ('d1', 'hook', 'trigger', 'run_failed', 'critical', 'k1', 't1', '{}', 'DELIVERED', 2), ('d2', 'hook', 'trigger', 'run_failed', 'critical', 'k2', 't2', '{}', 'PENDING', 0)`,
  );
  await pool.query(
    `INSERT INTO "AlertAttempt" ("deliveryId", n, "startedAt", "latencyMs", "httpStatus", error, outcome)
     VALUES ('d1', 1, '2026-11-30T10:00:00Z', 12, 500, 'HTTP 500', 'retry'), ('d1', 2, '2026-11-30T10:00:01Z', 8, 200, NULL, 'delivered')`,
  );
  expect(await runMigrations(url)).toContain(MIGRATION);
  // startedAt is written in the session's time zone: compared as instants
  const rows = (await pool.query<{ id: string; attemptLog: { startedAt: string }[] }>(`SELECT id, "attemptLog" FROM "AlertDelivery" ORDER BY id`)).rows.map((r) => ({
    ...r,
    attemptLog: r.attemptLog.map((a) => ({ ...a, startedAt: new Date(a.startedAt).toISOString() })),
  }));
  expect(rows).toEqual([
    {
      id: "d1",
      attemptLog: [
        { n: 1, startedAt: "2026-11-30T10:00:00.000Z", latencyMs: 12, httpStatus: 500, error: "HTTP 500", outcome: "retry" },
        { n: 2, startedAt: "2026-11-30T10:00:01.000Z", latencyMs: 8, httpStatus: 200, error: null, outcome: "delivered" },
      ],
    },
    { id: "d2", attemptLog: [] },
  ]);
  expect((await pool.query(`SELECT to_regclass('"AlertAttempt"') AS t`)).rows[0].t).toBeNull();
});
