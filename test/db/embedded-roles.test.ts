import { readFileSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { afterAll, expect, it } from "vitest";
import { startEmbeddedDatabase, type EmbeddedDatabase } from "../../src/db/embedded";
import { runMigrations } from "../../src/db/migrate";
import { CREDENTIALS_FILE, LEGACY_SUPERUSER_PASSWORD } from "../../src/db/pg-credentials";
import { embeddedDirs } from "../support/embedded-dirs";

// Issue 13, item 5: the embedded server gets random passwords at first start (0600 file in the data dir), listens
// on loopback only, and the manager connects as a role that is not a superuser and cannot change the schema;
// migrations run as the owner. A data dir from before (fixed superuser password, tables owned by postgres) is
// upgraded in place.

const d = embeddedDirs("ops-roles");
let db: EmbeddedDatabase | null = null;
afterAll(async () => {
  await db?.stop();
  d.cleanup();
});

async function as(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on("error", () => {});
  await c.connect();
  return c;
}
const creds = () => JSON.parse(readFileSync(path.join(d.dataDir, CREDENTIALS_FILE), "utf8")) as Record<"superuser" | "owner" | "app", { user: string; password: string }>;
const superuserUrl = (port: number, password: string) => `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/ops`;

it("random passwords, loopback only, a non-superuser app role without DDL; a legacy data dir is upgraded", { timeout: 120_000 }, async () => {
  db = await startEmbeddedDatabase({ dataDir: d.dataDir, runtimeDir: d.runtimeDir });
  await runMigrations(db.ownerUrl);
  expect(statSync(path.join(d.dataDir, CREDENTIALS_FILE)).mode & 0o777).toBe(0o600);
  const c = creds();
  expect(new Set([c.superuser.password, c.owner.password, c.app.password]).size).toBe(3);
  expect(c.superuser.password).toMatch(/^[A-Za-z0-9_-]{32}$/);

  // The old fixed password no longer opens the server.
  await expect(as(superuserUrl(db.port, LEGACY_SUPERUSER_PASSWORD))).rejects.toMatchObject({ code: "28P01" });

  const app = await as(db.url);
  expect((await app.query("SELECT current_user AS u, rolsuper AS s FROM pg_roles WHERE rolname = current_user")).rows[0]).toEqual({ u: "ops_app", s: false });
  expect((await app.query("SHOW listen_addresses")).rows[0]).toEqual({ listen_addresses: "127.0.0.1" });
  await expect(app.query("SHOW unix_socket_directories")).rejects.toMatchObject({ code: "42501" }); // not even that
  const look = await as(superuserUrl(db.port, c.superuser.password));
  expect((await look.query("SHOW unix_socket_directories")).rows[0]).toEqual({ unix_socket_directories: "" });
  await look.end();
  // What a superuser could do and the manager's role cannot: run programs, read server files, change the schema.
  await expect(app.query(`COPY (SELECT 1) TO PROGRAM 'true'`)).rejects.toMatchObject({ code: "42501" });
  await expect(app.query(`SELECT pg_read_file('postgresql.conf')`)).rejects.toMatchObject({ code: "42501" });
  await expect(app.query(`CREATE TABLE evil (x int)`)).rejects.toMatchObject({ code: "42501" });
  await expect(app.query(`DROP TABLE "Event"`)).rejects.toMatchObject({ code: "42501" });
  // ...while it reads and writes rows, and uses NOTIFY.
  await app.query(`INSERT INTO "Sprite" (id, name, transport, "updatedAt") VALUES ('s1', 'one', 'LOCAL', now())`);
  expect((await app.query(`SELECT count(*)::int n FROM "Sprite"`)).rows[0]).toEqual({ n: 1 });
  await app.query(`SELECT pg_notify('ops_test', 'x')`);
  await app.end();

  // A data dir made by an older manager: fixed superuser password, a table owned by postgres, no credentials file.
  const su = await as(superuserUrl(db.port, c.superuser.password));
  await su.query(`CREATE TABLE legacy_thing (x int)`);
  await su.query(`ALTER ROLE postgres WITH PASSWORD '${LEGACY_SUPERUSER_PASSWORD}'`);
  await su.end();
  await db.stop();
  rmSync(path.join(d.dataDir, CREDENTIALS_FILE));

  db = await startEmbeddedDatabase({ dataDir: d.dataDir, runtimeDir: d.runtimeDir });
  const fresh = creds();
  expect(fresh.superuser.password).not.toBe(c.superuser.password);
  await expect(as(superuserUrl(db.port, LEGACY_SUPERUSER_PASSWORD))).rejects.toMatchObject({ code: "28P01" });
  const owner = await as(db.ownerUrl);
  expect((await owner.query(`SELECT tableowner FROM pg_tables WHERE tablename = 'legacy_thing'`)).rows[0]).toEqual({ tableowner: "ops_owner" });
  await owner.query(`ALTER TABLE legacy_thing ADD COLUMN y int`); // the owner can migrate what postgres created
  await owner.end();
  const app2 = await as(db.url);
  expect((await app2.query(`SELECT count(*)::int n FROM "Sprite"`)).rows[0]).toEqual({ n: 1 }); // data kept
  await app2.end();
});
