import { createHash, randomUUID } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";

// Applies prisma/migrations/*/migration.sql in name order at start-up, each in its own transaction, recorded in
// Prisma's own "_prisma_migrations" table so `prisma migrate status` agrees. A session-level advisory lock makes
// replicas that start together apply each migration exactly once.

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../prisma/migrations");
export const LOCK_KEY = 774_201_901; // arbitrary, constant: "superloop-ops migrations"

const DDL = `CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
  "id" VARCHAR(36) PRIMARY KEY NOT NULL, "checksum" VARCHAR(64) NOT NULL, "finished_at" TIMESTAMPTZ,
  "migration_name" VARCHAR(255) NOT NULL, "logs" TEXT, "rolled_back_at" TIMESTAMPTZ,
  "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(), "applied_steps_count" INTEGER NOT NULL DEFAULT 0)`;

export async function listMigrations(dir = MIGRATIONS_DIR): Promise<string[]> {
  return (await readdir(dir, { withFileTypes: true }))
    .filter((d) => d.isDirectory())
    .map((d) => d.name)
    .sort();
}

async function appliedMigrations(client: pg.ClientBase): Promise<Map<string, string>> {
  const res = await client.query<{ migration_name: string; checksum: string }>(`SELECT migration_name, checksum FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`);
  return new Map(res.rows.map((r) => [r.migration_name, r.checksum]));
}

export async function runMigrations(connectionString: string, dir = MIGRATIONS_DIR): Promise<string[]> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [LOCK_KEY]);
    return await applyMigrations(client, { dir, transaction: "each" });
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [LOCK_KEY]).catch(() => {});
    await client.end();
  }
}

export interface ApplyOptions {
  dir?: string;
  /** only these migrations (a restore first applies the ones its backup was taken at) */
  only?: ReadonlySet<string> | null;
  /** "each": one transaction per migration; "caller": the caller's open transaction holds them all */
  transaction: "each" | "caller";
}

/** Applies the pending migrations on `client` (the caller holds the advisory lock or an exclusive database). */
export async function applyMigrations(client: pg.ClientBase, opts: ApplyOptions): Promise<string[]> {
  const dir = opts.dir ?? MIGRATIONS_DIR;
  const applied: string[] = [];
  await client.query(DDL);
  const done = await appliedMigrations(client);
  for (const name of await listMigrations(dir)) {
    if (done.has(name) || (opts.only && !opts.only.has(name))) continue;
    const sql = await readFile(path.join(dir, name, "migration.sql"), "utf8");
    const checksum = createHash("sha256").update(sql).digest("hex");
    const own = opts.transaction === "each";
    try {
      if (own) await client.query("BEGIN");
      await client.query(sql);
      await client.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, finished_at, migration_name, started_at, applied_steps_count)
         VALUES ($1, $2, now(), $3, now(), 1)`,
        [randomUUID(), checksum, name],
      );
      if (own) await client.query("COMMIT");
    } catch (e) {
      if (own) await client.query("ROLLBACK").catch(() => {});
      throw new Error(`migration ${name} failed: ${(e as Error).message}`, { cause: e });
    }
    applied.push(name);
  }
  return applied;
}

/** Names of migrations in the folder that the database has not applied (empty = up to date). */
export async function pendingMigrations(client: pg.ClientBase, dir = MIGRATIONS_DIR): Promise<string[]> {
  const exists = await client.query<{ t: string | null }>(`SELECT to_regclass('"_prisma_migrations"') AS t`);
  const all = await listMigrations(dir);
  if (!exists.rows[0]?.t) return all;
  const done = await appliedMigrations(client);
  return all.filter((n) => !done.has(n));
}
