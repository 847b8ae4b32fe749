import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startReceiver, type Receiver } from "../support/alert-receiver";
import { gql } from "../support/clients";
import { createTestDatabase } from "../support/db";
import { repoFromRecording } from "../support/fixtures";
import { spawnManager, type ManagerProcess } from "../support/manager-process";

// kill -9 of the manager while a delivery is in flight (the receiver holds the request): the delivery is still
// PENDING under its claim, so the restarted manager sends it again, with the same idempotency and dedup keys.

let rx: Receiver;
let manager: ManagerProcess | null = null;
beforeAll(async () => {
  rx = await startReceiver();
});
afterAll(async () => {
  manager?.child.kill("SIGKILL");
  await rx?.close();
});

describe("alert delivery across kill -9", () => {
  it("an alert in flight when the manager is killed is delivered after restart", async () => {
    const held: import("node:http").ServerResponse[] = [];
    rx.on("/hold", (_r, i, res) => {
      if (i === 0)
        held.push(res); // never answered: the manager dies waiting
      else res.writeHead(200).end();
    });
    const dir = mkdtempSync(path.join(tmpdir(), "ops-alerts-kill9-"));
    const fleet = path.join(dir, "fleet.json");
    writeFileSync(
      fleet,
      JSON.stringify({
        sprites: [{ name: "k9", transport: "LOCAL", repoPath: repoFromRecording("approval"), loopId: "demo-loop" }],
        alerts: { sinks: { hold: { type: "webhook", url: `${rx.url}/hold`, timeoutSeconds: 2 } }, routing: { defaultSinks: ["hold"] } },
      }),
    );
    const env = { DATABASE_URL: await createTestDatabase(), OPS_CLUSTER: "off", OPS_FLEET_FILE: fleet, OPS_DATA_DIR: dir, OPS_POLL_INTERVAL_MS: "500" };
    manager = await spawnManager(env);
    const [first] = await rx.waitFor((r) => r.some((x) => x.path === "/hold"), 20_000, "the first attempt");
    expect(first.json).toMatchObject({ event: "trigger", condition: "awaiting_approval" });
    manager.child.kill("SIGKILL");
    await manager.exited;
    for (const res of held) res.destroy();

    const restartedAt = Date.now();
    manager = await spawnManager(env);
    await rx.waitFor((r) => r.filter((x) => x.path === "/hold").length >= 2, 20_000, "the attempt after restart");
    const tries = rx.requests.filter((x) => x.path === "/hold");
    expect(tries).toHaveLength(2);
    expect(tries[1].at).toBeGreaterThan(restartedAt);
    expect(tries[1].json.dedupKey).toBe(first.json.dedupKey);
    expect(tries[1].headers["idempotency-key"]).toBe(first.headers["idempotency-key"]);
    expect(tries[1].json.deliveryId).toBe(first.json.deliveryId);
    const d = await (async () => {
      for (let i = 0; i < 200; i++) {
        const r = await gql(manager.url, `{ alertDeliveries { status attempts dedupKey } }`);
        const rows = r.data!.alertDeliveries as { status: string }[];
        if (rows[0]?.status === "DELIVERED") return rows;
        await new Promise((res) => setTimeout(res, 50));
      }
      throw new Error("delivery not recorded as DELIVERED");
    })();
    expect(d).toEqual([{ status: "DELIVERED", attempts: 2, dedupKey: first.json.dedupKey }]);
    manager.child.kill("SIGTERM");
    await manager.exited;
    manager = null;
  }, 90_000);
});
