// `npm run db:restore -- FILE [--force]`: restores a db:backup file into DATABASE_URL, or into the embedded
// database under OPS_DATA_DIR (stop the manager first). The target must be empty (a fresh data directory or
// database) unless --force: then everything in it is dropped and replaced by the backup, in the restore's one
// transaction (src/db/restore-target.ts). The restore applies the backup's migrations, loads the rows, then
// applies this version's newer migrations.
import path from "node:path";
import { loadConfig } from "../src/config/config";
import { restoreDatabase } from "../src/db/backup";
import { applyMigrations, listMigrations, LOCK_KEY } from "../src/db/migrate";
import { openToolConnection } from "../src/db/tool-connection";

const args = process.argv.slice(2);
const force = args.includes("--force");
const rest = args.filter((a) => a !== "--force");
const file = rest[0];
if (!file || file.startsWith("-") || rest.length > 1) {
  process.stderr.write("usage: npm run db:restore -- FILE [--force]   (into DATABASE_URL, or the embedded database under OPS_DATA_DIR; --force replaces a target that is not empty)\n");
  process.exit(2);
}
const config = loadConfig();
const conn = await openToolConnection({ databaseUrl: config.DATABASE_URL, dataDir: config.OPS_DATA_DIR, runtimeDir: config.OPS_PG_RUNTIME_DIR });
try {
  const result = await restoreDatabase(conn.client, path.resolve(file), {
    known: await listMigrations(),
    force,
    migrate: async (client, only) => {
      await client.query("SELECT pg_advisory_xact_lock($1)", [LOCK_KEY]);
      return applyMigrations(client, { only, transaction: "caller" });
    },
  });
  const rows = Object.values(result.tables).reduce((a, b) => a + b, 0);
  process.stdout.write(`${JSON.stringify({ restored: result.file, into: conn.describe, replaced: force, rows, tables: result.tables })}\n`);
} catch (e) {
  process.stderr.write(`db:restore failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await conn.close();
}
