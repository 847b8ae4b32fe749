import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, expect, it } from "vitest";
import { startReceiver, type Receiver } from "../support/alert-receiver";
import { gql } from "../support/clients";
import { createTestDatabase } from "../support/db";
import { repoFromRecording } from "../support/fixtures";
import { spawnManager, type ManagerProcess } from "../support/manager-process";

// The alert dispatcher's lease with two real manager processes on one database: only the lease holder sends, so
// every alert reaches the receiver exactly once; kill -9 of the holder hands the lease (and the sending) to the
// other replica once it expires.

let rx: Receiver | null = null;
const managers: ManagerProcess[] = [];
afterAll(async () => {
  for (const m of managers) m.child.kill("SIGKILL");
  await rx?.close();
});

async function registerFailed(url: string, name: string): Promise<void> {
  const r = await gql(url, `mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { __typename ... on Error { message } } }`, {
    i: { name, transport: "LOCAL", repoPath: repoFromRecording("failure"), loopId: "demo-loop" },
  });
  expect(r.data?.registerSprite.__typename).toBe("RegisterSpritePayload");
}

async function leaderGauge(m: ManagerProcess): Promise<number> {
  const text = await (await fetch(m.url.replace(/\/graphql$/, "/metrics"))).text();
  return Number(/^superloop_ops_alert_dispatcher_leader (\d+)/m.exec(text)?.[1] ?? NaN);
}

it("two replicas: deliveries happen exactly once; killing the lease holder hands over", { timeout: 120_000 }, async () => {
  rx = await startReceiver();
  const url = await createTestDatabase();
  const dir = mkdtempSync(path.join(tmpdir(), "ops-alerts-lease-"));
  const fleet = path.join(dir, "fleet.json");
  writeFileSync(fleet, JSON.stringify({ sprites: [], alerts: { sinks: { hook: { type: "webhook", url: `${rx.url}/hook`, timeoutSeconds: 2 } }, routing: { defaultSinks: ["hook"] } } }));
  const spawnReplica = (id: string) =>
    spawnManager({
      DATABASE_URL: url,
      OPS_CLUSTER: "on",
      OPS_DATA_DIR: mkdtempSync(path.join(tmpdir(), `ops-alerts-lease-${id}-`)),
      OPS_REPLICA_ID: id,
      OPS_FLEET_FILE: fleet,
      OPS_POLL_INTERVAL_MS: "300",
      OPS_LEASE_TTL_MS: "2000",
      OPS_LEASE_RENEW_MS: "500",
    });
  const [a, b] = await Promise.all([spawnReplica("ra"), spawnReplica("rb")]);
  managers.push(a, b);
  const byId: Record<string, ManagerProcess> = { ra: a, rb: b };
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const hook = () => rx!.requests.filter((r) => r.path === "/hook");
    for (let i = 0; i < 8; i++) await registerFailed((i % 2 ? b : a).url, `lease-${i}`);
    await rx.waitFor(() => hook().length >= 8, 30_000, "8 alerts");
    await new Promise((r) => setTimeout(r, 1500));
    expect(hook()).toHaveLength(8);
    expect(new Set(hook().map((r) => r.json.deliveryId)).size).toBe(8);
    expect(new Set(hook().map((r) => r.json.dedupKey)).size).toBe(8);

    const lease = (await db.query<{ owner: string; token: number }>(`SELECT owner, token FROM "OpsLease" WHERE name = 'alert-dispatcher'`)).rows[0];
    const holder = byId[lease.owner];
    const other = holder === a ? b : a;
    expect([await leaderGauge(holder), await leaderGauge(other)]).toEqual([1, 0]);
    const done = await db.query<{ status: string; attempts: number }>(`SELECT status, attempts FROM "AlertDelivery"`);
    expect(done.rows.every((d) => d.status === "DELIVERED" && d.attempts === 1)).toBe(true);

    holder.child.kill("SIGKILL");
    await holder.exited;
    for (let i = 8; i < 12; i++) await registerFailed(other.url, `lease-${i}`);
    await rx.waitFor(() => hook().length >= 12, 40_000, "the alerts raised after the kill");
    await new Promise((r) => setTimeout(r, 1500));
    expect(hook()).toHaveLength(12);
    expect(new Set(hook().map((r) => r.json.deliveryId)).size).toBe(12);
    const after = (await db.query<{ owner: string; token: number }>(`SELECT owner, token FROM "OpsLease" WHERE name = 'alert-dispatcher'`)).rows[0];
    expect(after.owner).not.toBe(lease.owner);
    expect(after.token).toBeGreaterThan(lease.token);
    expect(await leaderGauge(other)).toBe(1);
  } finally {
    await db.end();
  }
});
