import type pg from "pg";

// What db:restore finds in its target before it writes, and how `--force` empties it. A restore is one
// transaction that first applies the backup's own migrations, so the target must hold none of ours: by default a
// target with rows or with migrations the backup lacks is refused (nothing is changed); with --force every object
// of the schema (tables, views, sequences, types, functions: what migrations create) is dropped inside that same
// transaction, so a failed restore leaves the old contents in place. Roles, grants on the schema and default
// privileges stay: the schema itself is kept (see src/db/pg-roles.ts).

export class RestoreRefused extends Error {
  override readonly name = "RestoreRefused";
}

export interface TargetContents {
  /** tables (of the current schema) that hold at least one row, migration bookkeeping excluded */
  tablesWithRows: string[];
  /** migrations applied in the target that the backup does not have */
  extraMigrations: string[];
  /** other client sessions on the target database (a manager's pool among them): application names, or addresses */
  others: string[];
}

const MIGRATIONS_TABLE = "_prisma_migrations";

export async function inspectTarget(client: pg.ClientBase, backupMigrations: readonly string[]): Promise<TargetContents> {
  const tables = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND c.relname <> $1 ORDER BY 1`,
    [MIGRATIONS_TABLE],
  );
  const tablesWithRows: string[] = [];
  for (const { name } of tables.rows) {
    const has = await client.query<{ n: boolean }>(`SELECT EXISTS (SELECT 1 FROM "${name.replace(/"/g, '""')}") AS n`);
    if (has.rows[0]?.n) tablesWithRows.push(name);
  }
  const present = (await client.query<{ t: string | null }>(`SELECT to_regclass($1)::text AS t`, [`"${MIGRATIONS_TABLE}"`])).rows[0]?.t
    ? (await client.query<{ n: string }>(`SELECT migration_name AS n FROM "${MIGRATIONS_TABLE}" WHERE finished_at IS NOT NULL ORDER BY 1`)).rows.map((r) => r.n)
    : [];
  const others = (
    await client.query<{ a: string }>(
      `SELECT COALESCE(NULLIF(application_name, ''), host(client_addr), 'local') AS a FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'`,
    )
  ).rows.map((r) => r.a);
  return { tablesWithRows, extraMigrations: present.filter((m) => !backupMigrations.includes(m)), others };
}

/** Throws RestoreRefused unless the target may be restored into (with `force`: replaced). */
export function checkTarget(t: TargetContents, force: boolean): void {
  // Replacing the rows under a running manager would leave it with a history that changed behind its back.
  if (force && t.others.length) {
    throw new RestoreRefused(`--force: ${t.others.length} other session(s) are connected to the target database (${[...new Set(t.others)].join(", ")}): stop every manager on it first`);
  }
  if (force) return;
  const why = [
    t.tablesWithRows.length ? `tables ${t.tablesWithRows.join(", ")} hold rows` : null,
    t.extraMigrations.length ? `it has migrations the backup does not (${t.extraMigrations.join(", ")})` : null,
  ].filter((x): x is string => x !== null);
  if (why.length) {
    throw new RestoreRefused(`the target database is not empty (${why.join("; ")}): restore into an empty database, or pass --force to drop everything in it and restore the backup in its place`);
  }
}

/** Drops every object migrations created in the current schema (inside the caller's transaction). */
export async function clearTarget(client: pg.ClientBase): Promise<void> {
  // Objects that belong to an extension are the extension's to drop.
  const notExtension = `NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = o.oid AND d.deptype = 'e')`;
  const rels = await client.query<{ q: string; kind: string }>(
    `SELECT format('%I', o.relname) AS q, o.relkind::text AS kind FROM pg_class o JOIN pg_namespace n ON n.oid = o.relnamespace
      WHERE n.nspname = current_schema() AND o.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND ${notExtension}`,
  );
  const drop: Record<string, string> = { r: "TABLE", p: "TABLE", v: "VIEW", m: "MATERIALIZED VIEW", S: "SEQUENCE", f: "FOREIGN TABLE" };
  // Tables first (CASCADE takes their views, owned sequences and triggers), then whatever is left.
  for (const kinds of [
    ["r", "p"],
    ["v", "m", "S", "f"],
  ]) {
    for (const r of rels.rows.filter((x) => kinds.includes(x.kind))) await client.query(`DROP ${drop[r.kind]} IF EXISTS ${r.q} CASCADE`);
  }
  const fns = await client.query<{ q: string }>(
    `SELECT o.oid::regprocedure::text AS q FROM pg_proc o JOIN pg_namespace n ON n.oid = o.pronamespace WHERE n.nspname = current_schema() AND ${notExtension}`,
  );
  for (const f of fns.rows) await client.query(`DROP ROUTINE IF EXISTS ${f.q} CASCADE`);
  const types = await client.query<{ q: string; domain: boolean }>(
    `SELECT format('%I', o.typname) AS q, o.typtype = 'd' AS domain FROM pg_type o JOIN pg_namespace n ON n.oid = o.typnamespace
      WHERE n.nspname = current_schema() AND o.typtype IN ('e', 'd', 'r') AND ${notExtension}`,
  );
  for (const t of types.rows) await client.query(`DROP ${t.domain ? "DOMAIN" : "TYPE"} IF EXISTS ${t.q} CASCADE`);
}
