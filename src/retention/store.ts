import type pg from "pg";
import { retentionPolicySchema, type RetentionPolicy } from "./policy";

// Where retention policies live: the fleet's in "RetentionConfig" (row "fleet"), a Sprite's in Sprite.retention.
// Stored JSON is parsed on the way out: a hand-edited row that no longer parses counts as no policy (keep all).

export const FLEET_ROW = "fleet";

export function parsePolicy(json: unknown): RetentionPolicy | null {
  if (json === null || json === undefined) return null;
  const parsed = retentionPolicySchema.safeParse(json);
  return parsed.success ? parsed.data : null;
}

export async function readFleetRetention(pool: pg.Pool | pg.ClientBase): Promise<{ policy: RetentionPolicy | null; source: string | null; updatedAt: Date | null }> {
  const res = await pool.query<{ config: unknown; source: string; updatedAt: Date }>(`SELECT config, source, "updatedAt" FROM "RetentionConfig" WHERE id = $1`, [FLEET_ROW]);
  const row = res.rows[0];
  return row ? { policy: parsePolicy(row.config), source: row.source, updatedAt: row.updatedAt } : { policy: null, source: null, updatedAt: null };
}

/** null clears the fleet's policy (keep everything). */
export async function writeFleetRetention(pool: pg.Pool, policy: RetentionPolicy | null, source: "fleet-file" | "graphql"): Promise<void> {
  if (policy === null) {
    await pool.query(`DELETE FROM "RetentionConfig" WHERE id = $1`, [FLEET_ROW]);
    return;
  }
  await pool.query(
    `INSERT INTO "RetentionConfig" (id, config, source, "updatedAt") VALUES ($1, $2::jsonb, $3, now())
     ON CONFLICT (id) DO UPDATE SET config = EXCLUDED.config, source = EXCLUDED.source, "updatedAt" = now()`,
    [FLEET_ROW, JSON.stringify(policy), source],
  );
}
