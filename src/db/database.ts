import pg from "pg";
import { createDb, type Db } from "./client";
import { DataDirLockedError } from "./data-dir-lock";
import { startEmbeddedDatabase, type EmbeddedDatabase } from "./embedded";
import { DatabaseMonitor } from "./health";
import { runMigrations } from "./migrate";
import { EmbeddedUnavailableError } from "./server-user";

// Opens the configured database: an external server when DATABASE_URL is set, else the embedded one.
// Fails fast with one clear line (DatabaseStartError) instead of a driver stack trace.

export class DatabaseStartError extends Error {
  /** 2 = this setup cannot work as configured (say what to set); 1 = it failed this time */
  constructor(
    message: string,
    readonly exitCode: 1 | 2 = 1,
  ) {
    super(message);
  }
}

export interface Database {
  /** the manager's connection string (the embedded server: its non-superuser runtime role) */
  url: string;
  db: Db;
  embedded: EmbeddedDatabase | null;
  monitor: DatabaseMonitor;
  migrationsApplied: string[];
  close(): Promise<void>;
}

export interface OpenDatabaseOptions {
  databaseUrl?: string;
  dataDir: string;
  /** as root: where the embedded server's binaries/data go when the postgres user cannot reach the checkout */
  runtimeDir?: string;
  log?: { warn(msg: string, fields?: Record<string, unknown>): void; info(msg: string, fields?: Record<string, unknown>): void };
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
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("SELECT 1");
  } catch (e) {
    throw new DatabaseStartError(`cannot connect to PostgreSQL at ${redact(url)}: ${(e as Error).message}`);
  } finally {
    await client.end().catch(() => {});
  }
}

const NO_LOG = { warn: () => {}, info: () => {} };

export async function openDatabase(opts: OpenDatabaseOptions): Promise<Database> {
  const log = opts.log ?? NO_LOG;
  let embedded: EmbeddedDatabase | null = null;
  let url = opts.databaseUrl;
  let migrationUrl = url;
  if (!url) {
    try {
      embedded = await startEmbeddedDatabase({ dataDir: opts.dataDir, runtimeDir: opts.runtimeDir ?? "/var/lib/superloop-ops", log: (m) => log.warn(m) });
    } catch (e) {
      if (e instanceof EmbeddedUnavailableError || e instanceof DataDirLockedError) throw new DatabaseStartError(e.message, 2);
      throw new DatabaseStartError(`cannot start the embedded PostgreSQL under ${opts.dataDir}/pg: ${(e as Error).message}`);
    }
    url = embedded.url;
    // Migrations are DDL: the owner role runs them; the manager itself connects without DDL rights.
    migrationUrl = embedded.ownerUrl;
  }
  try {
    await probe(migrationUrl!);
    const migrationsApplied = await runMigrations(migrationUrl!).catch((e: unknown) => {
      throw new DatabaseStartError((e as Error).message);
    });
    await probe(url);
    const monitor = new DatabaseMonitor({ url, log });
    const { db, end } = createDb(url, monitor);
    return {
      url,
      db,
      embedded,
      monitor,
      migrationsApplied,
      async close() {
        // Our own connections first, then the server: it must never see us as clients it has to kick out.
        monitor.close();
        await db.$disconnect().catch(() => {});
        await end().catch(() => {});
        await embedded?.stop();
      },
    };
  } catch (e) {
    await embedded?.stop().catch(() => {});
    throw e;
  }
}
