// `npm run db:migrate`: applies pending migrations to DATABASE_URL, or to the embedded database when unset.
import { loadConfig } from "../src/config/config";
import { openDatabase } from "../src/db/database";

const config = loadConfig();
const db = await openDatabase({ databaseUrl: config.DATABASE_URL, dataDir: config.OPS_DATA_DIR, runtimeDir: config.OPS_PG_RUNTIME_DIR });
process.stdout.write(db.migrationsApplied.length ? `applied: ${db.migrationsApplied.join(", ")}\n` : "database is up to date\n");
await db.close();
