import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { raisePolicyActionAlert } from "../../src/alerts/policy-action";
import { withTrace } from "../../src/observability/trace";
import type { RunningServer } from "../../src/server";
import { startReceiver, type Receiver } from "../support/alert-receiver";
import { repoFromRecording } from "../support/fixtures";
import { register, sync } from "../support/runs";
import { startTestServer } from "../support/server";

// recovery_escalation, intent alerts that resolve, and policy_action, end to end: the database triggers write the
// outbox in the changing transaction, a real dispatcher routes and sends to a real PagerDuty-shaped receiver.
// Intent stages are moved with SQL (what the control service and ingest write), so each case is exact and fast.

let server: RunningServer;
let rx: Receiver;

beforeAll(async () => {
  rx = await startReceiver();
  process.env.TEST_COND_PD_KEY = "pd-key-conditions";
  const dir = mkdtempSync(path.join(tmpdir(), "ops-alerts-cond-"));
  const file = path.join(dir, "fleet.json");
  writeFileSync(
    file,
    JSON.stringify({
      sprites: [],
      alerts: {
        sinks: { pd: { type: "pagerduty", routingKeyEnv: "TEST_COND_PD_KEY", url: `${rx.url}/pd` } },
        routing: { routes: [{ category: ["intent_failed", "intent_ambiguous", "recovery_escalation", "policy_action"], sinks: ["pd"], minSeverity: "info" }] },
      },
    }),
  );
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "60000", OPS_FLEET_FILE: file });
});
afterAll(async () => {
  await server?.close();
  await rx?.close();
});

const pd = (pred: (j: any) => boolean) => rx.requests.filter((r) => r.path === "/pd" && pred(r.json)).map((r) => r.json);

/** An intent of `kind` moved ACCEPTED → `stage` (the update is what fires the outbox trigger). */
async function intent(runRaw: string, kind: string, stage: string, traceId: string = randomUUID()): Promise<string> {
  const id = randomUUID();
  await server.app.pool.query(
    `INSERT INTO "ControlIntent" (id, "runId", kind, stage, "idempotencyKey", "requestedBy", "traceId", "deadlineAt", "updatedAt")
     VALUES ($1, $2, $3::"IntentKind", 'ACCEPTED', $1, 'test', $4, now() + interval '1 minute', now())`,
    [id, runRaw, kind, traceId],
  );
  await server.app.pool.query(`UPDATE "ControlIntent" SET stage = $2::"IntentStage", error = CASE WHEN $2 = 'FAILED' THEN 'refused by test' END WHERE id = $1`, [id, stage]);
  return id;
}

describe("intent alerts resolve", () => {
  it("an AMBIGUOUS intent triggers, a later CONFIRMED intent on the run resolves with the same dedup key", async () => {
    const run = await register(server, "intents-1", repoFromRecording("approval"));
    await sync(server, run.id);
    const bad = await intent(run.raw, "APPROVE", "AMBIGUOUS", "trace-ambiguous-1");
    const key = `superloop-ops:intent:${bad}:intent_ambiguous`;
    await rx.waitFor(() => pd((j) => j.dedup_key === key).length >= 1, 5000, "the trigger");
    const [trigger] = pd((j) => j.dedup_key === key);
    expect(trigger).toMatchObject({ event_action: "trigger", payload: { severity: "warning", custom_details: expect.objectContaining({ traceId: "trace-ambiguous-1" }) } });
    // still open: nothing else for it
    await new Promise((r) => setTimeout(r, 300));
    expect(pd((j) => j.dedup_key === key)).toHaveLength(1);
    await intent(run.raw, "APPROVE", "CONFIRMED");
    await rx.waitFor(() => pd((j) => j.dedup_key === key).length >= 2, 5000, "the resolve");
    expect(pd((j) => j.dedup_key === key).map((j) => j.event_action)).toEqual(["trigger", "resolve"]);
    const ep = await server.app.pool.query(`SELECT "resolvedAt" FROM "AlertEpisode" WHERE key = $1`, [`intent:${bad}:intent_ambiguous`]);
    expect(ep.rows[0].resolvedAt).not.toBeNull();
  });
});

describe("recovery_escalation", () => {
  it("a failed run whose third START/RESTART within the hour fails again raises it once (critical)", async () => {
    const run = await register(server, "recover-1", repoFromRecording("failure"));
    expect((await sync(server, run.id)).state).toBe("FAILED");
    await intent(run.raw, "RESTART", "CONFIRMED");
    await intent(run.raw, "RESTART", "CONFIRMED");
    const key = `superloop-ops:run:${run.raw}:recovery_escalation`;
    await new Promise((r) => setTimeout(r, 300));
    expect(pd((j) => j.dedup_key === key)).toEqual([]);
    await intent(run.raw, "START", "FAILED");
    await rx.waitFor(() => pd((j) => j.dedup_key === key).length >= 1, 5000, "recovery_escalation");
    const [t] = pd((j) => j.dedup_key === key);
    expect(t).toMatchObject({ event_action: "trigger", payload: { severity: "critical", summary: expect.stringContaining("after 3 START/RESTART attempts") } });
    await intent(run.raw, "START", "FAILED");
    await new Promise((r) => setTimeout(r, 300));
    expect(pd((j) => j.dedup_key === key)).toHaveLength(1);
  });
});

describe("policy_action", () => {
  it("raisePolicyActionAlert in the action's transaction is sent once with the trace id; a rolled-back one is not", async () => {
    const run = await register(server, "policy-1", repoFromRecording("failure"));
    const client = await server.app.pool.connect();
    try {
      await client.query("BEGIN");
      await withTrace("trace-policy-7", () =>
        raisePolicyActionAlert(client, { policy: "restart-on-failure", action: "RESTART", summary: "restarted after runtime_died", runId: run.raw, actionId: "act-1", details: { attempt: 1 } }),
      );
      await client.query("COMMIT");
      await client.query("BEGIN");
      await raisePolicyActionAlert(client, { policy: "restart-on-failure", action: "RESTART", summary: "never happened", runId: run.raw, actionId: "act-rolled-back" });
      await client.query("ROLLBACK");
    } finally {
      client.release();
    }
    // Prisma interactive transactions are accepted too.
    await server.app.db.$transaction((tx) => raisePolicyActionAlert(tx, { policy: "pause-noisy", action: "PAUSE", summary: "paused", severity: "info", actionId: "act-2" }));
    await rx.waitFor(() => pd((j) => String(j.dedup_key).includes(":policy:")).length >= 2, 5000, "policy alerts");
    await new Promise((r) => setTimeout(r, 300));
    const got = pd((j) => String(j.dedup_key).includes(":policy:"));
    expect(got.map((j) => j.dedup_key).sort()).toEqual(["superloop-ops:policy:act-1:policy_action", "superloop-ops:policy:act-2:policy_action"]);
    const one = got.find((j) => j.dedup_key.includes("act-1"))!;
    expect(one).toMatchObject({
      event_action: "trigger",
      payload: { summary: "policy-1/demo-loop: policy restart-on-failure: restarted after runtime_died", custom_details: expect.objectContaining({ traceId: "trace-policy-7" }) },
    });
  });
});
