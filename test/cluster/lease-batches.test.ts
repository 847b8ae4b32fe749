import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { LeaseManager } from "../../src/cluster/leases";
import { runMigrations } from "../../src/db/migrate";
import { createLogger } from "../../src/util/log";
import { createTestDatabase } from "../support/db";

// Issue 18 (30,000 runs on 3 replicas): a replica takes at most acquireBatch leases per round and follows with
// the next round at once while more are free, instead of taking every free run in one round (and starting to
// read them all at once) or waiting a whole renewal period per batch. Two managers acquiring at the same time
// never deadlock and never both hold a run.

let pool: pg.Pool;
beforeAll(async () => {
  const url = await createTestDatabase();
  await runMigrations(url);
  pool = new pg.Pool({ connectionString: url, max: 4 });
  await pool.query(`INSERT INTO "Sprite" (id, name, transport, "updatedAt") SELECT 'ls-' || g, 'lease-' || g, 'LOCAL', now() FROM generate_series(1, 60) g`);
  await pool.query(`INSERT INTO "Run" (id, "spriteId", "loopId", "repoPath", "updatedAt") SELECT 'lr-' || g, 'ls-' || g, 'demo-loop', '/nowhere', now() FROM generate_series(1, 60) g`);
});
afterAll(() => pool?.end());

function manager(replicaId: string, acquired: string[][]) {
  return new LeaseManager({
    pool,
    replicaId,
    ttlMs: 60_000,
    // a renewal period far beyond the test: every round after the first is a follow-up of a full batch
    renewMs: 30_000,
    slack: 0,
    acquireBatch: 7,
    log: createLogger("error"),
    onAcquired: (ids) => acquired.push(ids),
    onLost: () => {},
    announceReleased: async () => {},
  });
}

const until = async (cond: () => boolean, ms: number) => {
  const t0 = Date.now();
  while (!cond() && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 20));
};

it("takes its share in batches of acquireBatch, round after round, without waiting for the renewal period", async () => {
  const batches: string[][] = [];
  const m = manager("solo", batches);
  await m.start();
  // The first round alone: one batch, not the 60 free runs.
  expect(batches.map((b) => b.length)).toEqual([7]);
  await until(() => m.status().held === 60, 15_000);
  expect(m.status().held).toBe(60);
  expect(batches.every((b) => b.length <= 7)).toBe(true);
  expect(batches.length).toBeGreaterThanOrEqual(9);
  expect(new Set(batches.flat()).size).toBe(60);
  await m.stop();
  await m.releaseAll();
  // Released a second in the past: a stored now() (a millisecond column, rounded) could round up past the now()
  // of a peer's round a fraction of a millisecond later, which would then find the run still leased.
  const recent = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM "RunLease" WHERE owner = 'solo' AND "expiresAt" > now() - interval '500 milliseconds'`);
  expect(recent.rows[0].n).toBe(0);
});

it("two replicas acquiring at once split the runs without a deadlock or a run held twice", async () => {
  const a: string[][] = [];
  const b: string[][] = [];
  const ma = manager("a", a);
  const mb = manager("b", b);
  await Promise.all([ma.start(), mb.start()]);
  // Both are live now: each aims at ceil(60 / 2) = 30. The one that started first may have taken more than its
  // share before the other's heartbeat; it hands them back at its next round, which the cluster's "joined" and
  // "released" messages ask for (here: the test asks).
  const nudge = setInterval(() => {
    ma.requestRound(0);
    mb.requestRound(0);
  }, 100);
  await until(() => ma.status().held + mb.status().held === 60 && ma.status().held <= 30 && mb.status().held <= 30, 20_000);
  clearInterval(nudge);
  expect([ma.status().held, mb.status().held]).toEqual([30, 30]);
  expect(ma.status().lastError).toBeNull();
  expect(mb.status().lastError).toBeNull();
  const owners = await pool.query<{ owner: string; n: number }>(`SELECT owner, count(*)::int AS n FROM "RunLease" WHERE "expiresAt" > now() GROUP BY owner ORDER BY owner`);
  expect(owners.rows).toEqual([
    { owner: "a", n: 30 },
    { owner: "b", n: 30 },
  ]);
  const held = new Set([...ma.heldRunIds(), ...mb.heldRunIds()]);
  expect(held.size).toBe(60);
  await Promise.all([ma.stop(), mb.stop()]);
});
