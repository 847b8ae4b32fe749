import { spawn } from "node:child_process";
import { appendFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createGunzip } from "node:zlib";
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { createTestDatabase } from "../support/db";
import { embeddedDirs } from "../support/embedded-dirs";
import { eventsPath, fileLines, repoFromRecording } from "../support/fixtures";
import { spawnManager } from "../support/manager-process";
import { register, waitFor } from "../support/runs";
import { startTestServer } from "../support/server";
import { gql } from "../support/clients";
import { backupDatabase, restoreDatabase } from "../../src/db/backup";
import { applyMigrations, listMigrations } from "../../src/db/migrate";
import { originalLine } from "../../src/events/stored-event";

// Issue 18: `npm run db:backup -- FILE` / `db:restore -- FILE` with the embedded database and with DATABASE_URL;
// a backup taken while the manager runs is one consistent snapshot, and a restore into a fresh database gives
// the same rows.

const ROOT = path.resolve(import.meta.dirname, "../..");
const work = mkdtempSync(path.join(tmpdir(), "ops-backup-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function npmRun(script: "db:backup" | "db:restore", file: string, env: Record<string, string>, extra: string[] = []): Promise<{ code: number | null; out: string }> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "scripts", script === "db:backup" ? "db-backup.ts" : "db-restore.ts"), file, ...extra], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  return new Promise((resolve) => child.on("exit", (code) => resolve({ code, out })));
}

function npmRunForce(file: string, url: string) {
  return npmRun("db:restore", file, { DATABASE_URL: url }, ["--force"]);
}

async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  c.on("error", () => {});
  await c.connect();
  return c;
}

const TABLES_SQL = `SELECT relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'public' AND c.relkind = 'r' AND relname <> '_prisma_migrations' ORDER BY relname`;

/** Every table's rows as sorted JSON text: two databases hold the same rows iff these are equal. */
async function allRows(c: pg.Client): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const { name } of (await c.query<{ name: string }>(TABLES_SQL)).rows) {
    const rows = await c.query<{ j: string }>(`SELECT row_to_json(t)::text AS j FROM "${name}" t`);
    out[name] = rows.rows.map((r) => r.j).sort();
  }
  return out;
}

/** The rows section of a backup file, per table, sorted. */
async function fileRows(file: string): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  let table: string | null = null;
  let first = true;
  for await (const line of createInterface({ input: createReadStream(file).pipe(createGunzip()), crlfDelay: Infinity })) {
    if (first) {
      first = false;
    } else if (line.startsWith("#table ")) {
      table = line.slice(7);
      out[table] = [];
    } else if (line.startsWith("#end ")) {
      out[table!].sort();
      table = null;
    } else if (table) out[table].push(line);
  }
  return out;
}

describe("db:backup / db:restore", () => {
  it("DATABASE_URL: a backup taken while the manager ingests is consistent, and restores row for row", { timeout: 120_000 }, async () => {
    const server = await startTestServer({ OPS_CLUSTER: "off", OPS_POLL_INTERVAL_MS: "50" });
    const source = server.app.config.DATABASE_URL!;
    const repo = repoFromRecording("maxiter");
    const run = await register(server, "backup-1", repo);
    const lines = fileLines(repo);
    // A writer appends lines while the manager ingests them and the backup runs.
    let writing = true;
    let appended = 0;
    const writer = (async () => {
      while (writing) {
        appendFileSync(eventsPath(repo), `${lines[appended % lines.length]}\n`);
        appended++;
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    await waitFor(
      () => server.app.db.event.count(),
      (n) => n > lines.length + 20,
      20_000,
      "ingest under way",
    );
    const live = path.join(work, "live.backup.gz");
    const b = await npmRun("db:backup", live, { DATABASE_URL: source });
    writing = false;
    await writer;
    expect(b.code, b.out).toBe(0);
    expect(JSON.parse(b.out.trim().split("\n").pop()!)).toMatchObject({ backup: live });

    const restored = await createTestDatabase();
    const r = await npmRun("db:restore", live, { DATABASE_URL: restored });
    expect(r.code, r.out).toBe(0);
    const target = await connect(restored);
    // One snapshot: every run's cursor agrees with the events stored for it (a table-by-table copy taken at
    // different instants would hold events beyond the cursor, or a cursor beyond the events).
    const runs = await target.query<{ id: string; cursorLine: number; n: number; max: number | null }>(
      `SELECT r.id, r."cursorLine", count(e.id)::int AS n, max(e.line) AS max FROM "Run" r LEFT JOIN "Event" e ON e."runId" = r.id GROUP BY r.id`,
    );
    expect(runs.rows).toHaveLength(1);
    expect(runs.rows[0].n).toBeGreaterThan(lines.length);
    expect(runs.rows[0]).toMatchObject({ cursorLine: runs.rows[0].n, max: runs.rows[0].n });
    // The rows are the source's rows (the source has only moved on since).
    const src = await connect(source);
    const sample = await target.query<{ j: string }>(`SELECT row_to_json(e)::text AS j FROM "Event" e ORDER BY id`);
    const same = await src.query<{ j: string }>(`SELECT row_to_json(e)::text AS j FROM "Event" e WHERE id <= $1 ORDER BY id`, [
      (await target.query<{ m: string }>(`SELECT max(id)::text AS m FROM "Event"`)).rows[0].m,
    ]);
    expect(sample.rows.map((x) => x.j)).toEqual(same.rows.map((x) => x.j));
    // Restored ids continue after the restored ones.
    await target.query(`INSERT INTO "OpsReplica" (id, "heartbeatAt") VALUES ('x', now())`);
    const nextEventId = await target.query<{ n: string }>(`SELECT nextval(pg_get_serial_sequence('"Event"', 'id'))::text AS n`);
    expect(BigInt(nextEventId.rows[0].n)).toBeGreaterThan(BigInt(runs.rows[0].n));
    await target.end();

    // Quiet now: a backup of the stopped manager's database restores into another fresh one with identical rows.
    await waitFor(
      () => server.app.db.run.findUnique({ where: { id: run.raw } }),
      (x) => x?.cursorLine === lines.length + appended,
      20_000,
      "ingest caught up",
    );
    await server.close();
    const quiet = path.join(work, "quiet.backup.gz");
    expect((await npmRun("db:backup", quiet, { DATABASE_URL: source })).code).toBe(0);
    const second = await createTestDatabase();
    expect((await npmRun("db:restore", quiet, { DATABASE_URL: second })).code).toBe(0);
    const again = await connect(second);
    const want = await allRows(src);
    expect(Object.values(want).reduce((n, rows) => n + rows.length, 0)).toBeGreaterThan(lines.length + appended);
    expect(await allRows(again)).toEqual(want);
    // A restore never lands on a database that has data: it refuses, says why and what to do, and changes nothing.
    const refused = await npmRun("db:restore", live, { DATABASE_URL: second });
    expect(refused.code).toBe(1);
    expect(refused.out).toMatch(/the target database is not empty \(tables .*Event.* hold rows\): restore into an empty database, or pass --force/);
    expect(await allRows(again)).toEqual(want);
    // --force replaces it, but never under a session still connected to it (here: `again`, as a manager would be).
    const busy = await npmRunForce(live, second);
    expect(busy.code).toBe(1);
    expect(busy.out).toMatch(/--force: 1 other session\(s\) are connected/);
    expect(await allRows(again)).toEqual(want);
    await again.end();
    const forced = await npmRunForce(live, second);
    expect(forced.code, forced.out).toBe(0);
    expect(JSON.parse(forced.out.trim().split("\n").pop()!)).toMatchObject({ restored: live, replaced: true });
    // Now it holds exactly the live backup's rows, as the fresh database it was first restored into does.
    const replaced = await connect(second);
    const first = await connect(restored);
    await first.query(`DELETE FROM "OpsReplica" WHERE id = 'x'`); // the probe row inserted above
    expect(await allRows(replaced)).toEqual(await allRows(first));
    const migrations = await replaced.query<{ n: string }>(`SELECT migration_name AS n FROM "_prisma_migrations" ORDER BY 1`);
    expect(migrations.rows.map((x) => x.n)).toEqual(await listMigrations());
    await replaced.end();
    await first.end();
    await src.end();
  });

  it("a backup taken at an older schema restores through this version's newer migrations (they upgrade its rows)", async () => {
    // A database as the version before the packed event line left it: Event.raw jsonb.
    const oldUrl = await createTestDatabase();
    const old = await connect(oldUrl);
    const all = await listMigrations();
    const before = all.filter((m) => m < "20261201180000");
    await applyMigrations(old, { only: new Set(before), transaction: "each" });
    await old.query(`INSERT INTO "Sprite" (id, name, transport, "updatedAt") VALUES ('s1', 'old-sprite', 'LOCAL', now())`);
    await old.query(`INSERT INTO "Run" (id, "spriteId", "loopId", "repoPath", "cursorLine", "updatedAt") VALUES ('r1', 's1', 'demo-loop', '/repo', 2, now())`);
    for (const line of [1, 2]) {
      await old.query(`INSERT INTO "Event" ("runId", line, "timestamp", name, payload, raw) VALUES ('r1', $1, now(), 'loop_start', '{"a":1}', $2::jsonb)`, [
        line,
        JSON.stringify({ event: "loop_start", line, data: { a: 1 } }),
      ]);
    }
    const file = path.join(work, "old-schema.backup.gz");
    const b = await backupDatabase(old, file);
    expect(b.migrations).toEqual(before);
    await old.end();

    const fresh = await connect(await createTestDatabase());
    const r = await restoreDatabase(fresh, file, { known: all, migrate: (c, only) => applyMigrations(c, { only, transaction: "caller" }) });
    expect(r.tables).toMatchObject({ Sprite: 1, Run: 1, Event: 2 });
    const applied = await fresh.query<{ n: string }>(`SELECT migration_name AS n FROM "_prisma_migrations" ORDER BY 1`);
    expect(applied.rows.map((x) => x.n)).toEqual(all);
    // The newer migration converted the restored rows as it converts a live database's.
    const events = await fresh.query(`SELECT packed, "timestamp", name, role, "runtimeRunId", iteration FROM "Event" ORDER BY line`);
    expect(events.rows.map((e) => JSON.parse(originalLine(e)))).toEqual([
      { event: "loop_start", line: 1, data: { a: 1 } },
      { event: "loop_start", line: 2, data: { a: 1 } },
    ]);
    expect((await fresh.query(`SELECT "eventsRetainedFrom" FROM "Run"`)).rows).toEqual([{ eventsRetainedFrom: 1 }]);
    await fresh.end();
  });

  it("embedded: a backup of a running manager's data dir restores into a fresh data dir with the same rows", { timeout: 180_000 }, async () => {
    const a = embeddedDirs("ops-backup-a");
    const b = embeddedDirs("ops-backup-b");
    const manager = await spawnManager({ ...a.env, OPS_POLL_INTERVAL_MS: "100" });
    try {
      const repo = repoFromRecording("complete");
      const reg = await gql(manager.url, `mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { __typename ... on RegisterSpritePayload { run { id } } } }`, {
        i: { name: "embedded-1", transport: "LOCAL", repoPath: repo, loopId: "demo-loop" },
      });
      const runId = (reg.data as { registerSprite: { run: { id: string } } }).registerSprite.run.id;
      const total = fileLines(repo).length;
      await waitFor(
        async () => (await gql(manager.url, `query($id: ID!) { run(id: $id) { ... on Run { ingest { cursorLine } } } }`, { id: runId })).data as { run: { ingest: { cursorLine: number } } },
        (d) => d.run.ingest.cursorLine === total,
        30_000,
        "ingested",
      );
      // The manager keeps running: the backup connects to its live postmaster.
      const file = path.join(work, "embedded.backup.gz");
      const backup = await npmRun("db:backup", file, a.env);
      expect(backup.code, backup.out).toBe(0);
      expect(backup.out).toMatch(/the running embedded database/);
      const rows = await fileRows(file);
      expect(rows.Event).toHaveLength(total);

      const restore = await npmRun("db:restore", file, b.env);
      expect(restore.code, restore.out).toBe(0);
      // Read the fresh data dir back through the same tool (it starts that embedded server for the command).
      const check = path.join(work, "embedded-restored.backup.gz");
      const reread = await npmRun("db:backup", check, b.env);
      expect(reread.code, reread.out).toBe(0);
      expect(reread.out).toMatch(/started for this command/);
      expect(await fileRows(check)).toEqual(rows);
    } finally {
      manager.child.kill("SIGTERM");
      await manager.exited;
      a.cleanup();
      b.cleanup();
    }
  });
});
