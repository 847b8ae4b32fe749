import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";

// The embedded server's passwords: random, generated at first start, kept in OPS_DATA_DIR/pg-credentials.json
// (mode 0600, owned by whoever runs the manager). Three roles, each doing only its job:
//   postgres   superuser: bootstrap only (roles, the database, ownership); never used by the running manager
//   ops_owner  owns the database and its tables: runs the migrations (DDL)
//   ops_app    the running manager: reads and writes rows, LISTEN/NOTIFY; no DDL, no superuser powers
//              (so no COPY ... FROM PROGRAM, no file access, no role changes)

export const CREDENTIALS_FILE = "pg-credentials.json";
/** What this manager used before random passwords: tried once to upgrade an existing data directory. */
export const LEGACY_SUPERUSER_PASSWORD = "superloop-ops";

const role = z.object({ user: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/), password: z.string().regex(/^[A-Za-z0-9_-]{16,}$/) });
const schema = z.object({ version: z.literal(1), superuser: role, owner: role, app: role });
export type PgCredentials = z.infer<typeof schema>;

const secret = () => randomBytes(24).toString("base64url");

export function newCredentials(): PgCredentials {
  return {
    version: 1,
    superuser: { user: "postgres", password: secret() },
    owner: { user: "ops_owner", password: secret() },
    app: { user: "ops_app", password: secret() },
  };
}

/** Reads the credentials, or creates and stores new ones (written aside, 0600, then renamed into place). */
export function loadOrCreateCredentials(dataDir: string): { credentials: PgCredentials; created: boolean } {
  const file = path.join(dataDir, CREDENTIALS_FILE);
  if (existsSync(file)) {
    const parsed = schema.safeParse(JSON.parse(readFileSync(file, "utf8")));
    if (!parsed.success) throw new Error(`${file} is not a valid credentials file (${parsed.error.issues[0]?.message}): remove it to generate new passwords`);
    chmodSync(file, 0o600); // in case someone loosened it
    return { credentials: parsed.data, created: false };
  }
  const credentials = newCredentials();
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  renameSync(tmp, file);
  return { credentials, created: true };
}

export function urlFor(r: { user: string; password: string }, port: number, database: string): string {
  return `postgresql://${encodeURIComponent(r.user)}:${encodeURIComponent(r.password)}@127.0.0.1:${port}/${database}`;
}
