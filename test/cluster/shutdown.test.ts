import { chmodSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import WebSocket from "ws";
import { expect, it } from "vitest";
import { gql } from "../support/clients";
import { createTestDatabase } from "../support/db";
import { spawnManager, type ManagerProcess } from "../support/manager-process";
import { freshRepo } from "./helpers";

// SIGTERM on one replica: its subscribers are told "going away" (1001), its leases are handed back at once and
// the other replica takes the runs over without waiting for the lease TTL.

it("a replica stopped with SIGTERM closes subscriptions with 1001 and hands its leases over at once", { timeout: 60_000 }, async () => {
  const url = await createTestDatabase();
  const spawnReplica = (id: string) => {
    const dataDir = mkdtempSync(path.join(tmpdir(), `ops-${id}-`));
    chmodSync(dataDir, 0o755);
    return spawnManager({ DATABASE_URL: url, OPS_DATA_DIR: dataDir, OPS_REPLICA_ID: id, OPS_POLL_INTERVAL_MS: "500", OPS_LEASE_TTL_MS: "30000", OPS_LEASE_RENEW_MS: "3000" });
  };
  const [s1, s2] = (await Promise.all(["s1", "s2"].map(spawnReplica))) as [ManagerProcess, ManagerProcess];
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    for (let i = 0; i < 6; i++) {
      const r = await gql(i % 2 ? s1.url : s2.url, `mutation($r: String!, $n: String!) { registerSprite(input: {name: $n, transport: LOCAL, repoPath: $r, loopId: "demo-loop"}) { __typename } }`, {
        r: freshRepo(),
        n: `sd-${i}`,
      });
      expect(r.data!.registerSprite.__typename).toBe("RegisterSpritePayload");
    }
    const held = async (owner: string) => Number((await db.query(`SELECT count(*) n FROM "RunLease" WHERE owner = $1 AND "expiresAt" > now()`, [owner])).rows[0].n);
    for (let i = 0; i < 100 && (await held("s1")) + (await held("s2")) < 6; i++) await new Promise((r) => setTimeout(r, 100));
    expect(await held("s1")).toBeGreaterThan(0);

    const ws = new WebSocket(s1.url.replace(/^http/, "ws"), "graphql-transport-ws");
    const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on("close", (code, reason) => resolve({ code, reason: String(reason) })));
    await new Promise<void>((resolve) => {
      ws.on("open", () => ws.send(JSON.stringify({ type: "connection_init", payload: {} })));
      ws.on("message", (m) => {
        if ((JSON.parse((m as Buffer).toString()) as { type: string }).type !== "connection_ack") return;
        ws.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query: "subscription { runLifecycleChanged { __typename } }" } }));
        resolve();
      });
    });

    const t0 = Date.now();
    s1.child.kill("SIGTERM");
    expect(await s1.exited).toBe(0);
    expect(await closed).toEqual({ code: 1001, reason: "Going away" });
    expect(await held("s1")).toBe(0); // handed back, not left to expire (TTL here is 30 s)
    expect((await db.query(`SELECT id FROM "OpsReplica"`)).rows.map((r) => r.id)).toEqual(["s2"]);
    for (let i = 0; i < 100 && (await held("s2")) < 6; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await held("s2")).toBe(6);
    expect(Date.now() - t0).toBeLessThan(10_000);
  } finally {
    await db.end();
    s1.child.kill("SIGKILL");
    s2.child.kill("SIGTERM");
    await s2.exited;
  }
});
