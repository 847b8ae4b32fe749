import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dispatchOrForward, shouldDispatchLocally } from "../../src/cluster/dispatch-once";
import type { RunningServer } from "../../src/server";
import { createTestDatabase } from "../support/db";
import { register, waitFor } from "../support/runs";
import { startTestServer } from "../support/server";
import { freshRepo } from "./helpers";

// Control dispatch across replicas: only the lease holder dispatches; an intent requested through another
// replica stays REQUESTED until the holder picks it up; nothing is dispatched twice, whatever the race.
// (The control service's dispatch is plugged in through startServer's dispatchIntent; here a stand-in records each call.)

let url: string;
let a: RunningServer;
let b: RunningServer;
let db: pg.Client;
const calls: { replica: string; intentId: string }[] = [];

/** Each replica's stand-in dispatch, as the control service's would be called. */
const dispatchOf = new Map<RunningServer, (intentId: string) => Promise<void>>();

async function replica(id: string): Promise<RunningServer> {
  let s: RunningServer | null = null;
  // Stand-in for src/control: record the call, then move the intent on as the real dispatcher would.
  const dispatchIntent = async (intentId: string): Promise<void> => {
    calls.push({ replica: id, intentId });
    await new Promise((r) => setTimeout(r, 20)); // a dispatch takes a while: widen any race window
    const c = await s!.app.pool.connect();
    try {
      await c.query("BEGIN");
      const r = await c.query<{ runId: string }>(`UPDATE "ControlIntent" SET stage = 'DISPATCHED', "dispatchedAt" = now(), "updatedAt" = now() WHERE id = $1 RETURNING "runId"`, [intentId]);
      await c.query(`UPDATE "Run" SET seq = seq + 1 WHERE id = $1`, [r.rows[0].runId]);
      await c.query("COMMIT");
    } finally {
      c.release();
    }
  };
  s = await startTestServer({ DATABASE_URL: url, OPS_REPLICA_ID: id, OPS_POLL_INTERVAL_MS: "500" }, { dispatchIntent });
  dispatchOf.set(s, dispatchIntent);
  return s;
}

/** What the control service's request path does: a REQUESTED intent, committed with a seq bump. */
async function requestIntent(runId: string): Promise<{ id: string; runId: string }> {
  const id = randomUUID();
  const c = await a.app.pool.connect();
  try {
    await c.query("BEGIN");
    await c.query(
      `INSERT INTO "ControlIntent" (id, "runId", kind, stage, "idempotencyKey", "requestedBy", "traceId", "deadlineAt", "updatedAt")
       VALUES ($1, $2, 'CANCEL', 'REQUESTED', $1, 'test', $1, now() + interval '1 minute', now())`,
      [id, runId],
    );
    await c.query(`UPDATE "Run" SET seq = seq + 1 WHERE id = $1`, [runId]);
    await c.query("COMMIT");
  } finally {
    c.release();
  }
  return { id, runId };
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

describe("control dispatch across replicas", () => {
  let runId: string;
  let holder: RunningServer;
  let other: RunningServer;

  beforeAll(async () => {
    runId = (await register(a, "ctl-1", freshRepo())).raw;
    await waitFor(async () => a.app.cluster!.isLeaseHolder(runId) || b.app.cluster!.isLeaseHolder(runId), Boolean, 10_000, "a lease holder");
    holder = a.app.cluster!.isLeaseHolder(runId) ? a : b;
    other = holder === a ? b : a;
  });

  it("knows who dispatches", () => {
    expect(shouldDispatchLocally(holder.app.dispatch, runId)).toBe(true);
    expect(shouldDispatchLocally(other.app.dispatch, runId)).toBe(false);
  });

  it("an intent requested through the other replica is dispatched once, by the holder, and the request sees it", async () => {
    calls.length = 0;
    const intent = await requestIntent(runId);
    const outcome = await dispatchOrForward(other.app.dispatch, intent, () => dispatchOf.get(other)!(intent.id));
    expect(outcome).toBe("forwarded");
    await new Promise((r) => setTimeout(r, 300));
    expect(calls).toEqual([{ replica: holder === a ? "a" : "b", intentId: intent.id }]);
  });

  it("on the holder, the inline dispatch and the pickup never both run", async () => {
    calls.length = 0;
    const intent = await requestIntent(runId);
    const outcome = await dispatchOrForward(holder.app.dispatch, intent, () => dispatchOf.get(holder)!(intent.id));
    expect(["dispatched", "already"]).toContain(outcome);
    await new Promise((r) => setTimeout(r, 300));
    expect(calls.map((c) => c.intentId)).toEqual([intent.id]);
  });

  it("20 intents requested concurrently through both replicas: each dispatched exactly once, all by the holder", async () => {
    calls.length = 0;
    const intents = await Promise.all(Array.from({ length: 20 }, () => requestIntent(runId)));
    const outcomes = await Promise.all(
      intents.map((intent, i) => {
        const via = i % 2 ? a : b;
        return dispatchOrForward(via.app.dispatch, intent, () => dispatchOf.get(via)!(intent.id));
      }),
    );
    expect(outcomes.every((o) => o !== "queued" && o !== "busy")).toBe(true);
    await new Promise((r) => setTimeout(r, 300));
    expect(calls.map((c) => c.intentId).sort()).toEqual(intents.map((i) => i.id).sort());
    expect(new Set(calls.map((c) => c.replica))).toEqual(new Set([holder === a ? "a" : "b"]));
    const stages = await db.query(`SELECT stage::text, count(*)::int n FROM "ControlIntent" WHERE id = ANY($1) GROUP BY stage`, [intents.map((i) => i.id)]);
    expect(stages.rows).toEqual([{ stage: "DISPATCHED", n: 20 }]);
  });
});
