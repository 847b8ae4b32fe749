import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { createTestDatabase } from "../support/db";
import { register, waitFor } from "../support/runs";
import { startTestServer } from "../support/server";
import { append, freshRepo, line } from "./helpers";

// syncRun on a replica that does not poll the run (src/cluster/index.ts forwardSync): it returns the run as
// stored after a poll of it, wherever that poll happened, or says that no poll happened. Never the run as stored
// before, as if it were fresh.

let url: string;
let a: RunningServer;
let b: RunningServer;
let db: pg.Client;

beforeAll(async () => {
  url = await createTestDatabase();
  a = await startTestServer({ DATABASE_URL: url, OPS_REPLICA_ID: "a", OPS_POLL_INTERVAL_MS: "3600000" });
  b = await startTestServer({ DATABASE_URL: url, OPS_REPLICA_ID: "b", OPS_POLL_INTERVAL_MS: "3600000" });
  db = new pg.Client({ connectionString: url });
  await db.connect();
});
afterAll(async () => {
  await db?.end();
  await a?.close();
  await b?.close();
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
