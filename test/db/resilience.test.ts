import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { startEmbeddedDatabase, type EmbeddedDatabase } from "../../src/db/embedded";
import type { RunningServer } from "../../src/server";
import { collect, gql, wsClient } from "../support/clients";
import { alive, embeddedDirs, expectCleanOutput, postmaster, until } from "../support/embedded-dirs";
import { eventsPath } from "../support/fixtures";
import { spawnManager } from "../support/manager-process";
import { register } from "../support/runs";
import { startTestServer } from "../support/server";

// The database going away under a running manager (issue 13, item 2): terminated connections, a stopped server,
// a killed postmaster. The manager must not exit (in-process, an unhandled `error` event would fail this file),
// /ready must say 503 while the database is down, and ingest and subscriptions must carry on once it is back.

const dirs: ReturnType<typeof embeddedDirs>[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  for (const d of dirs) d.cleanup();
});

const line = (i: number) =>
  JSON.stringify({
    timestamp: new Date(Date.UTC(2026, 10, 24, 0, 0, i)).toISOString(),
    event: i === 1 ? "loop_start" : "role_end",
    loop_id: "demo-loop",
    run_id: "r1",
    iteration: 1,
    role: "tester",
    data: { i },
  }) + "\n";

async function ready(server: RunningServer): Promise<number> {
  const res = await fetch(server.url.replace(/\/graphql$/, "/ready"));
  await res.arrayBuffer();
  return res.status;
}

describe("database outages", () => {
  it("pg_terminate_backend, then the server stopped and started again: no exit, /ready 503 while down, ingest and subscriptions resume", { timeout: 120_000 }, async () => {
    const d = embeddedDirs("ops-resil-ext");
    dirs.push(d);
    // "The external server": an embedded PostgreSQL of the test's own, on a fixed port so it can come back.
    let ext: EmbeddedDatabase = await startEmbeddedDatabase({ dataDir: d.dataDir, runtimeDir: d.runtimeDir });
    const port = ext.port;
    cleanups.push(() => ext.stop());
    const superuser = () => {
      const creds = JSON.parse(readFileSync(path.join(d.dataDir, "pg-credentials.json"), "utf8")) as { superuser: { user: string; password: string } };
      return new pg.Client({ host: "127.0.0.1", port, user: creds.superuser.user, password: creds.superuser.password, database: "postgres" });
    };

    const server = await startTestServer({ DATABASE_URL: ext.ownerUrl, OPS_POLL_INTERVAL_MS: "200", OPS_CLUSTER: "off" });
    cleanups.push(() => server.close());
    const repo = mkdtempSync(path.join(tmpdir(), "ops-resil-repo-"));
    mkdirSync(path.join(repo, ".superloop", "loops", "demo-loop"), { recursive: true });
    writeFileSync(eventsPath(repo), [1, 2, 3].map(line).join(""));
    const run = await register(server, "resilient", repo);
    const client = wsClient(server.url);
    cleanups.push(async () => {
      await client.dispose();
    });
    const events = collect<{ runEvents: { events?: { line: number }[] } }>(client, `subscription($id: ID!) { runEvents(runId: $id) { ... on RunEventsBatch { events { line } } } }`, { id: run.id });
    const lines = () => events.items.flatMap((i) => i.data?.runEvents.events?.map((e) => e.line) ?? []);
    await until("lines 1-3 delivered", () => lines().includes(3));

    // 1. Every connection of the manager terminated by an administrator (57P01 on idle pooled connections).
    const su = superuser();
    su.on("error", () => {});
    await su.connect();
    const killed = await su.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'ops' AND pid <> pg_backend_pid()`);
    expect(killed.rowCount).toBeGreaterThan(0);
    await su.end();
    appendFileSync(eventsPath(repo), [4, 5].map(line).join(""));
    await until("lines 4-5 delivered after the terminations", () => lines().includes(5), 20_000);
    expect(await ready(server)).toBe(200);

    // 2. The server stops (fast shutdown: 57P01 on every connection) and stays down a while.
    await ext.stop();
    await until("/ready to say 503", async () => (await ready(server)) === 503, 20_000);
    const body = (await (await fetch(server.url.replace(/\/graphql$/, "/ready"))).json()) as { ok: boolean; checks: { database: string } };
    expect(body.ok).toBe(false);
    expect(body.checks.database).not.toBe("ok");
    expect((await fetch(server.url.replace(/\/graphql$/, "/health"))).status).toBe(200); // the process lives
    appendFileSync(eventsPath(repo), [6, 7, 8].map(line).join(""));
    await new Promise((r) => setTimeout(r, 1000)); // a few failed polls while it is down
    expect(await ready(server)).toBe(503);

    // 3. Back on the same port: no manager restart, everything resumes.
    ext = await startEmbeddedDatabase({ dataDir: d.dataDir, runtimeDir: d.runtimeDir, port });
    await until("/ready 200 again", async () => (await ready(server)) === 200, 30_000);
    await until("lines 6-8 delivered on the same subscription", () => lines().includes(8), 30_000);
    expect(events.error).toBeNull();
    expect(lines()).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const stored = await gql<{ run: { lastEventName: string; ingest: unknown } }>(server.url, `query($id: ID!) { run(id: $id) { ... on Run { lastEventName } } }`, { id: run.id });
    expect(stored.data!.run.lastEventName).toBe("role_end");
  });

  it("a killed postmaster of the embedded server is started again by the manager, which keeps serving", { timeout: 120_000 }, async () => {
    const d = embeddedDirs("ops-resil-emb");
    dirs.push(d);
    const m = await spawnManager(d.env, [], 120_000);
    cleanups.push(async () => {
      m.child.kill("SIGTERM");
      await m.exited;
    });
    const reg = await gql(m.url, `mutation { registerSprite(input: {name: "before", transport: LOCAL, repoPath: "/tmp", loopId: "l"}) { __typename } }`);
    expect(reg.data!.registerSprite.__typename).toBe("RegisterSpritePayload");
    const first = postmaster(d.dataDir)!;
    process.kill(first.pid, "SIGKILL");
    await until(
      "a new postmaster",
      () => {
        const now = postmaster(d.dataDir);
        return !!now && now.pid !== first.pid && alive(now.pid);
      },
      30_000,
    );
    await until("/ready 200", async () => (await fetch(m.url.replace(/\/graphql$/, "/ready"))).status === 200, 30_000);
    expect(m.child.exitCode).toBeNull();
    const list = await gql<{ sprites: { edges: { node: { name: string } }[] } }>(m.url, `{ sprites { edges { node { name } } } }`);
    expect(list.data!.sprites.edges.map((e) => e.node.name)).toEqual(["before"]);
    expect(m.output()).toContain("embedded PostgreSQL exited unexpectedly");
    m.child.kill("SIGTERM");
    expect(await m.exited).toBe(0);
    expectCleanOutput(m.output());
  });
});
