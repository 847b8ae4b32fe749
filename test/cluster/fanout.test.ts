import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { collect, gql, wsClient } from "../support/clients";
import { createTestDatabase } from "../support/db";
import { register, waitFor } from "../support/runs";
import { startTestServer } from "../support/server";
import { append, freshRepo, line, setRunning, setStopped } from "./helpers";

// Two replicas in one process on one database: what one commits reaches the other's subscribers through
// NOTIFY and a cursor read, once, in seq order.

let url: string;
let a: RunningServer;
let b: RunningServer;
let db: pg.Client;

function replica(id: string): Promise<RunningServer> {
  return startTestServer({ DATABASE_URL: url, OPS_REPLICA_ID: id, OPS_POLL_INTERVAL_MS: "200" });
}

beforeAll(async () => {
  url = await createTestDatabase();
  a = await replica("a");
  b = await replica("b");
  db = new pg.Client({ connectionString: url });
  await db.connect();
});
afterAll(async () => {
  await db?.end();
  await a?.close();
  await b?.close();
});

const SUB = `subscription { runLifecycleChanged { ... on RunLifecycleChange { runId seq previousState state reason } ... on ResyncRequired { reason } } }`;

describe("cross-replica fan-out", () => {
  it("delivers every lifecycle change to subscribers on both replicas, once each, in seq order", async () => {
    const ca = wsClient(a.url);
    const cb = wsClient(b.url);
    const sa = collect(ca, SUB);
    const sb = collect(cb, SUB);
    await waitFor(
      async () => a.app.bus.listenerCount("run", "*") + b.app.bus.listenerCount("run", "*"),
      (n) => n >= 2,
      5000,
      "subscribers",
    );

    const repo = freshRepo();
    const run = await register(a, "fan-1", repo);
    setRunning(repo);
    append(repo, line("loop_start"), line("iteration_start"), line("role_start", { role: "planner" }));
    await waitFor(
      async () => (await db.query(`SELECT state FROM "Run" WHERE id = $1`, [run.raw])).rows[0]?.state,
      (s) => s === "RUNNING",
      10_000,
      "RUNNING",
    );
    setStopped(repo);
    append(repo, line("loop_stop", { data: { reason: "max_iterations" } }));
    await waitFor(
      async () => (await db.query(`SELECT state FROM "Run" WHERE id = $1`, [run.raw])).rows[0]?.state,
      (s) => s === "STOPPED",
      10_000,
      "STOPPED",
    );

    const stored = (
      await db.query<{ seq: number; from: string | null; to: string; reason: string }>(
        `SELECT seq, "from", "to", reason FROM "LifecycleTransition" WHERE "runId" = $1 AND trigger NOT IN ('cursor_reset','sprite','control_mode') ORDER BY seq`,
        [run.raw],
      )
    ).rows.map((t) => ({ runId: run.raw, seq: t.seq, previousState: t.from, state: t.to, reason: t.reason }));
    expect(stored.length).toBeGreaterThanOrEqual(3);
    for (const s of [sa, sb]) {
      const got = await s.next(stored.length, 5000);
      await new Promise((r) => setTimeout(r, 200)); // anything extra (a duplicate) would arrive by now
      expect(got.map((g) => g.data!.runLifecycleChanged)).toEqual(stored);
    }
    await ca.dispose();
    await cb.dispose();
  });

  it("polls each run on exactly one replica", async () => {
    const repos = Array.from({ length: 6 }, () => freshRepo());
    for (const [i, repo] of repos.entries()) await register(i % 2 ? a : b, `lease-${i}`, repo);
    const leases = await waitFor(
      async () => (await db.query<{ n: string }>(`SELECT count(*) n FROM "RunLease" WHERE "expiresAt" > now()`)).rows[0].n,
      (n) => Number(n) === 7,
      10_000,
      "every run leased",
    );
    expect(Number(leases)).toBe(7);
    const heldA = a.app.cluster!.leases.heldRunIds();
    const heldB = b.app.cluster!.leases.heldRunIds();
    expect(heldA.filter((id) => heldB.includes(id))).toEqual([]);
    expect(heldA.length + heldB.length).toBe(7);
    // a lease row exists a moment before its holder's scheduler has added the run (ingestor.add is async)
    await waitFor(
      async () => a.app.ingestor.scheduler.size + b.app.ingestor.scheduler.size,
      (n) => n === 7,
      5000,
      "7 runs scheduled",
    );
    // balance: at most ceil(7 / 2) + 1 each
    expect(Math.max(heldA.length, heldB.length)).toBeLessThanOrEqual(5);
  });

  it("syncRun on the replica that does not poll the run is forwarded to the one that does", async () => {
    const repo = freshRepo();
    const run = await register(a, "sync-1", repo);
    const holder = a.app.cluster!.isLeaseHolder(run.raw) ? a : b;
    const other = holder === a ? b : a;
    expect(other.app.cluster!.isLeaseHolder(run.raw)).toBe(false);
    append(repo, line("loop_start"));
    const r = await gql(other.url, `mutation($id: ID!) { syncRun(runId: $id) { ... on Run { ingest { cursorLine } } } }`, { id: run.id });
    expect(r.data!.syncRun.ingest.cursorLine).toBe(1);
  });

  it("a replica whose LISTEN session drops reconnects and delivers what was committed meanwhile, in order", async () => {
    const repo = freshRepo();
    const run = await register(a, "reconnect-1", repo);
    const cb = wsClient(b.url);
    const sb = collect(cb, `subscription($f: RunLifecycleFilter) { runLifecycleChanged(filter: $f) { ... on RunLifecycleChange { seq state reason } } }`, { f: { run: run.id } });
    await waitFor(
      async () => b.app.bus.listenerCount("run", run.raw),
      (n) => n >= 1,
      5000,
      "subscriber",
    );
    const before = b.app.cluster!.status().listener.reconnects;
    // Cut b's LISTEN session, then commit three changes at once, before it can be back.
    await db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'superloop-ops b'`);
    const seq0 = (await db.query<{ seq: number }>(`SELECT seq FROM "Run" WHERE id = $1`, [run.raw])).rows[0].seq;
    for (let i = 1; i <= 3; i++) {
      // As a writer does it: seq + 1 under the row lock, a transition with that seq, one transaction.
      await db.query("BEGIN");
      const { seq } = (await db.query<{ seq: number }>(`UPDATE "Run" SET seq = seq + 1, "stateReason" = $2 WHERE id = $1 RETURNING seq`, [run.raw, `manual_${i}`])).rows[0];
      await db.query(`INSERT INTO "LifecycleTransition" ("runId", seq, "from", "to", reason, trigger) VALUES ($1, $2, 'IDLE', 'IDLE', $3, 'test')`, [run.raw, seq, `manual_${i}`]);
      await db.query("COMMIT");
    }
    // (The replica polling the run may record changes of its own in between: compare with what is stored.)
    const stored = async () =>
      (
        await db.query<{ seq: number; to: string; reason: string }>(
          `SELECT seq, "to"::text AS "to", reason FROM "LifecycleTransition" WHERE "runId" = $1 AND seq > $2 AND trigger NOT IN ('cursor_reset','sprite','control_mode') ORDER BY seq`,
          [run.raw, seq0],
        )
      ).rows.map((t) => ({ seq: t.seq, state: t.to, reason: t.reason }));
    const received = () => sb.items.map((g) => g.data!.runLifecycleChanged as { seq: number; state: string; reason: string }).filter((c) => c.seq > seq0);
    await waitFor(async () => received().length >= (await stored()).length && received().length >= 3, Boolean, 10_000, "changes after the reconnect");
    expect(received()).toEqual(await stored());
    expect(received().map((c) => c.reason)).toEqual(expect.arrayContaining(["manual_1", "manual_2", "manual_3"]));
    await waitFor(
      async () => b.app.cluster!.status().listener,
      (l) => l.connected && l.reconnects > before,
      5000,
      "reconnected",
    );
    await cb.dispose();
  });

  it("refuses to start a second live replica with the same OPS_REPLICA_ID", async () => {
    const before = a.app.cluster!.leases.heldRunIds().length;
    await expect(replica("a")).rejects.toThrow(/OPS_REPLICA_ID a is in use/);
    // ...and leaves the live one's leases and heartbeat alone
    const live = await db.query<{ n: number }>(`SELECT count(*)::int n FROM "RunLease" WHERE owner = 'a' AND "expiresAt" > now()`);
    expect(live.rows[0].n).toBe(before);
    expect((await db.query(`SELECT 1 FROM "OpsReplica" WHERE id = 'a'`)).rowCount).toBe(1);
  });

  it("/ready reports leases and the LISTEN session", async () => {
    const res = await fetch(a.url.replace("/graphql", "/ready"));
    const body = (await res.json()) as { ok: boolean; checks: { cluster: { replicaId: string; leases: { held: number }; listener: { connected: boolean; lastNotificationAt: string | null } } } };
    expect(res.status).toBe(200);
    expect(body.checks.cluster).toMatchObject({ replicaId: "a", listener: { connected: true } });
    expect(body.checks.cluster.listener.lastNotificationAt).not.toBeNull();
    expect(typeof body.checks.cluster.leases.held).toBe("number");
  });
});

const SYNC = `mutation($id: ID!) { syncRun(runId: $id) { __typename ... on Run { ingest { cursorLine } } ... on RunNotPolled { message waitedMs } } }`;

/** A run registered with no line yet, its lease held by one replica (which has started polling it). */
async function heldRun(name: string): Promise<{ run: { id: string; raw: string }; repo: string; holder: RunningServer; other: RunningServer }> {
  const repo = freshRepo();
  const run = await register(a, name, repo);
  const holder = await waitFor(
    async () => [a, b].find((r) => r.app.ingestor.observes(run.raw)),
    (r) => r !== undefined,
    10_000,
    "a replica polling the run",
  );
  return { run, repo, holder: holder!, other: holder === a ? b : a };
}

// syncRun on a replica that does not poll the run (src/cluster/index.ts forwardSync) returns the run as stored
// after a poll of it, wherever that poll happened, or says that no poll happened: never the run as stored before,
// as if it were fresh. Last in this file: the second one leaves a run's lease to a replica that is gone.
describe("a syncRun forwarded to the run's lease holder", () => {
  it("polls the run even when the holder's poller does not have it yet (its lease was just taken)", async () => {
    const { run, repo, holder, other } = await heldRun("sync-not-added");
    // The moment between taking a lease and adding the run to the poller (ingestor.add is async), held open: a
    // trigger of a run the poller does not have polls nothing, and the sync returned the run as stored before.
    holder.app.ingestor.remove(run.raw);
    expect(holder.app.cluster!.isLeaseHolder(run.raw)).toBe(true);
    append(repo, line("loop_start"));
    const r = await gql(other.url, SYNC, { id: run.id });
    expect(r.data!.syncRun).toEqual({ __typename: "Run", ingest: { cursorLine: 1 } });
    expect(holder.app.ingestor.observes(run.raw)).toBe(true);
  });

  it("is RunNotPolled, naming the holder, when the holder never answers; not the run as stored before", async () => {
    const { run, repo, other } = await heldRun("sync-ghost");
    // A lease held by a replica that is gone without releasing it (kill -9): nobody polls the run until it expires.
    await db.query(`UPDATE "RunLease" SET owner = 'ghost', "expiresAt" = now() + interval '60 seconds' WHERE "runId" = $1`, [run.raw]);
    append(repo, line("loop_start"));
    const t0 = Date.now();
    const r = await gql(other.url, SYNC, { id: run.id });
    expect(r.data!.syncRun).toEqual({
      __typename: "RunNotPolled",
      message: "the run was not polled within 5000 ms: its lease holder ghost did not answer; try again",
      waitedMs: 5000,
    });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(4900);
  });
});
