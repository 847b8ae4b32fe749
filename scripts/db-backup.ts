// `npm run db:backup -- FILE`: a consistent snapshot of DATABASE_URL, or of the embedded database under
// OPS_DATA_DIR (also while a manager runs on it), gzipped to FILE. See src/db/backup.ts for the format.
import path from "node:path";
import { loadConfig } from "../src/config/config";
import { backupDatabase } from "../src/db/backup";
import { openToolConnection } from "../src/db/tool-connection";

const file = process.argv[2];
if (!file || file.startsWith("-")) {
  process.stderr.write("usage: npm run db:backup -- FILE   (DATABASE_URL, or the embedded database under OPS_DATA_DIR)\n");
  process.exit(2);
}
const config = loadConfig();
const conn = await openToolConnection({ databaseUrl: config.DATABASE_URL, dataDir: config.OPS_DATA_DIR, runtimeDir: config.OPS_PG_RUNTIME_DIR });
try {
  const result = await backupDatabase(conn.client, path.resolve(file));
  const rows = Object.values(result.tables).reduce((a, b) => a + b, 0);
  process.stdout.write(`${JSON.stringify({ backup: result.file, from: conn.describe, rows, tables: result.tables, migrations: result.migrations.length })}\n`);
} catch (e) {
  process.stderr.write(`db:backup failed: ${(e as Error).message}\n`);
  process.exitCode = 1;
} finally {
  await conn.close();
}
