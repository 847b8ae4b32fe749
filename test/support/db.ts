import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";

/** A fresh, empty database on the shared test server; the server under test migrates it at start. */
export async function createTestDatabase(): Promise<string> {
  const admin = inject("pgAdminUrl");
  const name = `t_${randomBytes(6).toString("hex")}`;
  const client = new pg.Client({ connectionString: admin });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE "${name}"`);
  } finally {
    await client.end();
  }
  const url = new URL(admin);
  url.pathname = `/${name}`;
  return url.toString();
}

/**
 * Sessions of the pool's database left inside a transaction after COPYing events: what a staged catch-up page
 * (src/ingest/staged-page.ts) that was neither committed nor rolled back looks like.
 */
export async function copyTransactionsOpen(pool: pg.Pool): Promise<number> {
  const res = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND state LIKE 'idle in transaction%' AND query LIKE 'COPY "Event"%'`);
  return Number(res.rows[0].n);
}
