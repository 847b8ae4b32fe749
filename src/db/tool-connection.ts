import { existsSync, realpathSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { isPostgres, readPostmaster, startEmbeddedDatabase } from "./embedded";
import { loadOrCreateCredentials, urlFor } from "./pg-credentials";

// A connection for the database tools (db:backup, db:restore) that works in every setup:
// - DATABASE_URL: that server;
// - the embedded database while a manager runs on OPS_DATA_DIR: its live postmaster (postmaster.pid names the
//   port), as the owner role from pg-credentials.json — the manager keeps running;
// - the embedded database with no manager: started for the tool (holding the data-dir lock) and stopped after.

export interface ToolConnection {
  client: pg.Client;
  /** where it came from, for the tool's one-line report (no password) */
  describe: string;
  close(): Promise<void>;
}

export interface ToolConnectionOptions {
  databaseUrl?: string | undefined;
  dataDir: string;
  runtimeDir: string;
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: "superloop-ops db tool" });
  client.on("error", () => {});
  await client.connect();
  return client;
}

export async function openToolConnection(opts: ToolConnectionOptions): Promise<ToolConnection> {
  if (opts.databaseUrl) {
    const client = await connect(opts.databaseUrl);
    const u = new URL(opts.databaseUrl);
    return { client, describe: `${u.hostname}:${u.port || 5432}${u.pathname}`, close: () => client.end() };
  }
  const dataDir = path.resolve(opts.dataDir);
  const link = path.join(dataDir, "pg");
  const pgdata = existsSync(link) ? realpathSync(link) : null;
  const running = pgdata ? readPostmaster(pgdata) : null;
  if (running && running.status === "ready" && isPostgres(running.pid) && existsSync(path.join(dataDir, "pg-credentials.json"))) {
    const { credentials } = loadOrCreateCredentials(dataDir);
    const client = await connect(urlFor(credentials.owner, running.port, "ops"));
    return { client, describe: `the running embedded database of ${dataDir} (port ${running.port})`, close: () => client.end() };
  }
  const embedded = await startEmbeddedDatabase({ dataDir, runtimeDir: opts.runtimeDir });
  try {
    const client = await connect(embedded.ownerUrl);
    return {
      client,
      describe: `the embedded database of ${dataDir} (started for this command)`,
      async close() {
        await client.end().catch(() => {});
        await embedded.stop();
      },
    };
  } catch (e) {
    await embedded.stop();
    throw e;
  }
}
