import pg from "pg";
import { LEGACY_SUPERUSER_PASSWORD, type PgCredentials } from "./pg-credentials";

// Bootstraps the embedded server's roles and database as the superuser (see pg-credentials.ts for who does what).
// Idempotent: run at every start, so passwords in the credentials file always win and a data directory made by an
// older manager (fixed superuser password, tables owned by postgres) is upgraded in place.

async function connect(port: number, user: string, password: string, database: string): Promise<pg.Client> {
  const client = new pg.Client({ host: "127.0.0.1", port, user, password, database, connectionTimeoutMillis: 10_000 });
  client.on("error", () => {}); // a bootstrap session dying shows up as its next query failing
  await client.connect();
  return client;
}

/** The superuser session, upgrading a legacy fixed password to the stored random one on the way. */
async function superuser(port: number, c: PgCredentials, database: string): Promise<pg.Client> {
  try {
    return await connect(port, c.superuser.user, c.superuser.password, database);
  } catch (e) {
    if ((e as { code?: string }).code !== "28P01") throw e;
    const legacy = await connect(port, c.superuser.user, LEGACY_SUPERUSER_PASSWORD, database).catch(() => {
      throw new Error(`the embedded PostgreSQL refuses the stored superuser password (${(e as Error).message}): the data directory and pg-credentials.json do not belong together`);
    });
    await legacy.query(`ALTER ROLE ${legacy.escapeIdentifier(c.superuser.user)} WITH PASSWORD ${legacy.escapeLiteral(c.superuser.password)}`);
    return legacy;
  }
}

const LOGIN_ONLY = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS";

/** Roles, database and grants; returns nothing: afterwards owner and app can connect to `database`. */
export async function bootstrapRoles(port: number, c: PgCredentials, database: string): Promise<void> {
  const su = await superuser(port, c, "postgres");
  const id = (s: string) => su.escapeIdentifier(s);
  try {
    for (const r of [c.owner, c.app]) {
      const exists = (await su.query("SELECT 1 FROM pg_roles WHERE rolname = $1", [r.user])).rowCount;
      await su.query(`${exists ? "ALTER" : "CREATE"} ROLE ${id(r.user)} WITH ${LOGIN_ONLY} PASSWORD ${su.escapeLiteral(r.password)}`);
    }
    const db = await su.query<{ owner: string }>("SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1", [database]);
    if (db.rowCount === 0) await su.query(`CREATE DATABASE ${id(database)} OWNER ${id(c.owner.user)}`);
    else if (db.rows[0].owner !== c.owner.user) await su.query(`ALTER DATABASE ${id(database)} OWNER TO ${id(c.owner.user)}`);
    await su.query(`REVOKE ALL ON DATABASE ${id(database)} FROM PUBLIC`);
    await su.query(`GRANT CONNECT, TEMPORARY ON DATABASE ${id(database)} TO ${id(c.app.user)}`);
  } finally {
    await su.end().catch(() => {});
  }

  const inDb = await superuser(port, c, database);
  const owner = inDb.escapeIdentifier(c.owner.user);
  const app = inDb.escapeIdentifier(c.app.user);
  try {
    // Objects an older manager created as postgres: the owner must own them, or its next migration cannot alter them.
    await inDb.query(`DO $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND pg_get_userbyid(c.relowner) <> ${inDb.escapeLiteral(c.owner.user)} LOOP
    EXECUTE format('ALTER TABLE %s OWNER TO %I', r.name, ${inDb.escapeLiteral(c.owner.user)});
  END LOOP;
  FOR r IN SELECT c.oid::regclass AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind = 'S' AND pg_get_userbyid(c.relowner) <> ${inDb.escapeLiteral(c.owner.user)}
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype IN ('a', 'i')) LOOP
    EXECUTE format('ALTER SEQUENCE %s OWNER TO %I', r.name, ${inDb.escapeLiteral(c.owner.user)});
  END LOOP;
  FOR r IN SELECT t.oid::regtype AS name FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
           WHERE n.nspname = 'public' AND t.typtype IN ('e', 'd') AND pg_get_userbyid(t.typowner) <> ${inDb.escapeLiteral(c.owner.user)} LOOP
    EXECUTE format('ALTER TYPE %s OWNER TO %I', r.name, ${inDb.escapeLiteral(c.owner.user)});
  END LOOP;
  FOR r IN SELECT p.oid::regprocedure AS name FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) <> ${inDb.escapeLiteral(c.owner.user)} LOOP
    EXECUTE format('ALTER ROUTINE %s OWNER TO %I', r.name, ${inDb.escapeLiteral(c.owner.user)});
  END LOOP;
END $$`);
    await inDb.query(`GRANT USAGE ON SCHEMA public TO ${app}`);
    await inDb.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${app}`);
    await inDb.query(`GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO ${app}`);
    // Tables the owner's future migrations create are the app's to use too.
    await inDb.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO ${app}`);
    await inDb.query(`ALTER DEFAULT PRIVILEGES FOR ROLE ${owner} IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO ${app}`);
  } finally {
    await inDb.end().catch(() => {});
  }
}
