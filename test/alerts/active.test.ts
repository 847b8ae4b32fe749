import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { alertsConfigSchema } from "../../src/alerts/config";
import { writeAlertsConfig } from "../../src/alerts/store";
import type { RunningServer } from "../../src/server";
import { startTestServer } from "../support/server";

// The outbox triggers write a signal only while an enabled sink exists: without one, a run or Sprite changing
// state pays nothing for alerts. Each change is made in a transaction that is rolled back, so the signal it wrote
// (or did not) is counted before the dispatcher could consume it.

let server: RunningServer;
let runId: string;
let spriteId: string;

beforeAll(async () => {
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "60000" });
  const { pool } = server.app;
  spriteId = (await pool.query<{ id: string }>(`INSERT INTO "Sprite" (id, name, transport, "updatedAt") VALUES (gen_random_uuid()::text, 'active-a', 'LOCAL', now()) RETURNING id`)).rows[0].id;
  runId = (
    await pool.query<{ id: string }>(
      `INSERT INTO "Run" (id, "spriteId", "loopId", "repoPath", state, "updatedAt") VALUES (gen_random_uuid()::text, $1, 'loop', '/active', 'RUNNING', now()) RETURNING id`,
      [spriteId],
    )
  ).rows[0].id;
});
afterAll(async () => {
  await server?.close();
});

/** Signals written by a run failing and its Sprite going missing, counted inside the changing transaction. */
async function signalsOfAChange(): Promise<{ run: number; sprite: number }> {
  const client = await server.app.pool.connect();
  try {
    await client.query("BEGIN");
    await client.query(`UPDATE "Run" SET state = 'FAILED', "stateReason" = 'test' WHERE id = $1`, [runId]);
    await client.query(`UPDATE "Sprite" SET status = 'MISSING' WHERE id = $1`, [spriteId]);
    const r = await client.query<{ run: number; sprite: number }>(
      `SELECT count(*) FILTER (WHERE subject = 'run' AND "runId" = $1)::int AS run, count(*) FILTER (WHERE subject = 'sprite' AND "spriteId" = $2)::int AS sprite FROM "AlertSignal"`,
      [runId, spriteId],
    );
    return r.rows[0];
  } finally {
    await client.query("ROLLBACK");
    client.release();
  }
}

const config = (enabled: boolean) => alertsConfigSchema.parse({ sinks: { hook: { type: "webhook", url: "http://127.0.0.1:9/hook", enabled } }, routing: { defaultSinks: ["hook"] } });

describe("alert signals only while a sink is enabled", () => {
  it("writes none with no alert config, none with only a disabled sink, one per change with an enabled sink", async () => {
    expect(await signalsOfAChange()).toEqual({ run: 0, sprite: 0 });
    await writeAlertsConfig(server.app.pool, config(false), "test");
    expect(await signalsOfAChange()).toEqual({ run: 0, sprite: 0 });
    await writeAlertsConfig(server.app.pool, config(true), "test");
    expect(await signalsOfAChange()).toEqual({ run: 1, sprite: 1 });
    await writeAlertsConfig(server.app.pool, config(false), "test");
    expect(await signalsOfAChange()).toEqual({ run: 0, sprite: 0 });
  });
});
