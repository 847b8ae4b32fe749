import pg from "pg";
import { createDb, type Db } from "./client";
import { startEmbeddedDatabase, type EmbeddedDatabase } from "./embedded";
import { runMigrations } from "./migrate";

// Opens the configured database: an external server when DATABASE_URL is set, else the embedded one.
// Fails fast with one clear line (DatabaseStartError) instead of a driver stack trace.

export class DatabaseStartError extends Error {}

export interface Database {
  url: string;
  db: Db;
  embedded: EmbeddedDatabase | null;
  migrationsApplied: string[];
  close(): Promise<void>;
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparseable URL)";
  }
}

async function probe(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  try {
    await client.connect();
    await client.query("SELECT 1");
  } catch (e) {
    throw new DatabaseStartError(`cannot connect to PostgreSQL at ${redact(url)}: ${(e as Error).message}`);
  } finally {
    await client.end().catch(() => {});
  }
}

export async function openDatabase(opts: { databaseUrl?: string; dataDir: string; log?: (m: string) => void }): Promise<Database> {
  let embedded: EmbeddedDatabase | null = null;
  let url = opts.databaseUrl;
  if (!url) {
    try {
      embedded = await startEmbeddedDatabase(opts.dataDir, opts.log);
    } catch (e) {
      throw new DatabaseStartError(`cannot start the embedded PostgreSQL under ${opts.dataDir}/pg: ${(e as Error).message}`);
    }
    url = embedded.url;
  }
  await probe(url);
  let migrationsApplied: string[];
  try {
    migrationsApplied = await runMigrations(url);
  } catch (e) {
    await embedded?.stop();
    throw new DatabaseStartError((e as Error).message);
  }
  const db = createDb(url);
  return {
    url,
    db,
    embedded,
    migrationsApplied,
    async close() {
      await db.$disconnect();
      await embedded?.stop();
    },
  };
}
