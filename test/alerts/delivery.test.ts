import { cpSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signature } from "../../src/alerts/messages";
import type { RunningServer } from "../../src/server";
import { startReceiver, type Receiver } from "../support/alert-receiver";
import { gql } from "../support/clients";
import { FIXTURES, repoFromRecording } from "../support/fixtures";
import { register, sync, waitFor } from "../support/runs";
import { startTestServer } from "../support/server";

// Alert delivery end to end with real local receivers: runs change state through the real ingest pipeline,
// the outbox trigger records it in the same transaction, the dispatcher routes and sends.

let server: RunningServer;
let rx: Receiver;
const SECRET = "whsec-test-0123456789";

function fleetFile(alerts: unknown): string {
  const dir = mkdtempSync(path.join(tmpdir(), "ops-alerts-fleet-"));
  const file = path.join(dir, "fleet.json");
  writeFileSync(file, JSON.stringify({ sprites: [], alerts }));
  return file;
}

beforeAll(async () => {
  rx = await startReceiver();
  process.env.TEST_ALERT_SIGNING = SECRET;
  process.env.TEST_ALERT_BEARER = "bearer-xyz";
  process.env.TEST_ALERT_PD_KEY = "pd-routing-key";
  const file = fleetFile({
    defaultMinSeverity: "warning",
    sinks: {
      hook: { type: "webhook", url: `${rx.url}/hook`, authTokenEnv: "TEST_ALERT_BEARER", signingSecretEnv: "TEST_ALERT_SIGNING", timeoutSeconds: 2 },
      flaky: { type: "webhook", url: `${rx.url}/flaky`, timeoutSeconds: 2 },
      pd: { type: "pagerduty_events", routingKeyEnv: "TEST_ALERT_PD_KEY", url: `${rx.url}/pd`, source: "ops-test" },
      slack: { type: "slack", webhookUrl: `${rx.url}/slack`, channel: "#ops" },
      refuses: { type: "webhook", url: `${rx.url}/refuses` },
    },
    routing: {
      routes: [
        { category: "awaiting_approval", sprites: ["hook-*"], sinks: ["hook"] },
        { category: "*", sprites: ["flaky-*"], sinks: ["flaky"] },
        { category: "awaiting_approval", sprites: ["pd-*"], sinks: ["pd", "slack"] },
        { category: "run_failed", sprites: ["dead-*"], sinks: ["refuses"] },
      ],
    },
    delivery: { baseBackoffMs: 100, maxBackoffMs: 400, deadLetterAfterSeconds: 60 },
  });
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "60000", OPS_FLEET_FILE: file });
});
afterAll(async () => {
  await server?.close();
  await rx?.close();
});

async function transitionAt(runRaw: string, to: string): Promise<number> {
  const t = await server.app.db.lifecycleTransition.findFirstOrThrow({ where: { runId: runRaw, to: to as never }, orderBy: { seq: "desc" } });
  return t.at.getTime();
}

describe("alert delivery", () => {
  it("a run entering AWAITING_APPROVAL posts one signed webhook within 2 s", async () => {
    const run = await register(server, "hook-1", repoFromRecording("approval"));
    expect((await sync(server, run.id)).state).toBe("AWAITING_APPROVAL");
    const [got] = await rx.waitFor((r) => r.some((x) => x.path === "/hook"), 5000, "the webhook");
    const req = rx.requests.find((x) => x.path === "/hook")!;
    expect(req.at - (await transitionAt(run.raw, "AWAITING_APPROVAL"))).toBeLessThan(2000);
    expect(got).toBeDefined();
    expect(req.json).toMatchObject({
      version: 1,
      event: "trigger",
      condition: "awaiting_approval",
      severity: "warning",
      dedupKey: `superloop-ops:run:${run.raw}:awaiting_approval`,
      run: { id: run.raw, loopId: "demo-loop" },
      sprite: { name: "hook-1" },
    });
    expect(req.headers.authorization).toBe("Bearer bearer-xyz");
    const ts = Number(req.headers["x-superloop-timestamp"]);
    expect(Math.abs(Date.now() / 1000 - ts)).toBeLessThan(300);
    expect(req.headers["x-superloop-signature"]).toBe(signature(SECRET, ts, req.body));
    expect(req.headers["x-trace-id"]).toBe(req.json.traceId);
    // The condition persists across polls: still exactly one alert for this episode.
    await sync(server, run.id);
    await sync(server, run.id);
    await new Promise((r) => setTimeout(r, 500));
    expect(rx.requests.filter((x) => x.path === "/hook")).toHaveLength(1);
    const d = await gql(server.url, `{ alertDeliveries(sink: "hook") { status attempts event attemptLog { n httpStatus outcome latencyMs } } }`);
    expect(d.data!.alertDeliveries).toEqual([{ status: "DELIVERED", attempts: 1, event: "trigger", attemptLog: [{ n: 1, httpStatus: 200, outcome: "delivered", latencyMs: expect.any(Number) }] }]);
  });

  it("a receiver answering 500 three times, then 200, gets the alert on the fourth try", async () => {
    rx.on("/flaky", (_r, i, res) => res.writeHead(i < 3 ? 500 : 200).end());
    const run = await register(server, "flaky-1", repoFromRecording("failure"));
    expect((await sync(server, run.id)).state).toBe("FAILED");
    await rx.waitFor((r) => r.filter((x) => x.path === "/flaky").length >= 4, 15_000, "four tries");
    const tries = rx.requests.filter((x) => x.path === "/flaky");
    // one alert (run_failed), tried four times with the same idempotency and dedup keys
    expect(new Set(tries.map((t) => t.headers["idempotency-key"])).size).toBe(1);
    expect(new Set(tries.map((t) => t.json.dedupKey))).toEqual(new Set([`superloop-ops:run:${run.raw}:run_failed`]));
    const d = await waitFor(
      async () => (await gql(server.url, `{ alertDeliveries(sink: "flaky") { status attempts attemptLog { n httpStatus outcome } } }`)).data!.alertDeliveries,
      (x: { status: string; attempts: number; attemptLog: { httpStatus: number; outcome: string }[] }[]) => x[0]?.status === "DELIVERED",
      5000,
    );
    expect(d).toHaveLength(1);
    expect(d[0].attempts).toBe(4);
    expect(d[0].attemptLog.map((a: { httpStatus: number; outcome: string }) => [a.httpStatus, a.outcome])).toEqual([
      [500, "retry"],
      [500, "retry"],
      [500, "retry"],
      [200, "delivered"],
    ]);
    await new Promise((r) => setTimeout(r, 500));
    expect(rx.requests.filter((x) => x.path === "/flaky")).toHaveLength(4);
  });

  it("PagerDuty gets trigger then resolve with the same dedup key; Slack gets text and blocks", async () => {
    const repo = repoFromRecording("approval");
    const run = await register(server, "pd-1", repo);
    expect((await sync(server, run.id)).state).toBe("AWAITING_APPROVAL");
    await rx.waitFor((r) => r.some((x) => x.path === "/pd"), 5000, "the PagerDuty trigger");
    // The operator approves: the runtime's files move on (the "approved" recording extends "approval").
    cpSync(path.join(FIXTURES, "approved", ".superloop"), path.join(repo, ".superloop"), { recursive: true });
    expect((await sync(server, run.id)).state).not.toBe("AWAITING_APPROVAL");
    await rx.waitFor((r) => r.filter((x) => x.path === "/pd").length >= 2, 5000, "the PagerDuty resolve");
    const pd = rx.requests.filter((x) => x.path === "/pd").map((x) => x.json);
    expect(pd).toHaveLength(2);
    expect(pd[0]).toMatchObject({
      routing_key: "pd-routing-key",
      event_action: "trigger",
      dedup_key: `superloop-ops:run:${run.raw}:awaiting_approval`,
      payload: { source: "ops-test", severity: "warning", summary: expect.stringContaining("pd-1/demo-loop") },
    });
    expect(pd[1]).toEqual({ routing_key: "pd-routing-key", event_action: "resolve", dedup_key: pd[0].dedup_key });
    const slack = await rx.waitFor((r) => r.filter((x) => x.path === "/slack").length >= 2, 5000, "slack trigger + resolve");
    const msgs = slack.filter((x) => x.path === "/slack").map((x) => x.json);
    expect(msgs[0]).toMatchObject({ channel: "#ops", text: expect.stringContaining("pd-1/demo-loop"), blocks: expect.arrayContaining([expect.objectContaining({ type: "section" })]) });
    expect(msgs[1].text).toContain("RESOLVED");
  });

  it("a final 4xx dead-letters the delivery, visible in the API; testAlertSink sends a test message", async () => {
    rx.on("/refuses", (_r, _i, res) => res.writeHead(403).end("no"));
    const run = await register(server, "dead-1", repoFromRecording("failure"));
    await sync(server, run.id);
    const dead = await waitFor(
      async () => (await gql(server.url, `{ alertDeliveries(status: DEAD) { sink condition lastStatus lastError attempts } }`)).data!.alertDeliveries,
      (x: unknown[]) => x.length > 0,
      5000,
    );
    expect(dead).toEqual([{ sink: "refuses", condition: "run_failed", lastStatus: 403, lastError: expect.stringContaining("403"), attempts: 1 }]);

    const t = await gql(server.url, `mutation { testAlertSink(name: "hook") { __typename ... on AlertSinkTest { delivered status httpStatus } ... on Error { message } } }`);
    expect(t.data!.testAlertSink).toEqual({ __typename: "AlertSinkTest", delivered: true, status: "DELIVERED", httpStatus: 200 });
    const test = rx.requests.filter((x) => x.path === "/hook").at(-1)!;
    expect(test.json).toMatchObject({ event: "test", condition: "test" });
    expect(test.headers["x-superloop-signature"]).toBe(signature(SECRET, Number(test.headers["x-superloop-timestamp"]), test.body));
  });

  it("admin mutations refuse an enabled sink whose secret variable is unset, naming it", async () => {
    const r = await gql(server.url, `mutation($s: JSON!) { setAlertSink(name: "new", sink: $s) { __typename ... on Error { message } ... on AlertConfig { source } } }`, {
      s: { type: "webhook", url: "http://127.0.0.1:9/x", signingSecretEnv: "TEST_ALERT_NOT_SET_ANYWHERE" },
    });
    expect(r.data!.setAlertSink.__typename).toBe("InvalidInput");
    expect(r.data!.setAlertSink.message).toContain("TEST_ALERT_NOT_SET_ANYWHERE");
    const ok = await gql(server.url, `mutation($s: JSON!) { setAlertSink(name: "new", sink: $s) { __typename ... on AlertConfig { source config } } }`, {
      s: { type: "webhook", url: "http://127.0.0.1:9/x", enabled: false, signingSecretEnv: "TEST_ALERT_NOT_SET_ANYWHERE" },
    });
    expect(ok.data!.setAlertSink).toMatchObject({ __typename: "AlertConfig", source: "graphql" });
    expect(JSON.stringify(ok.data!.setAlertSink.config)).not.toContain(SECRET);
  });
});

describe("alert config at load", () => {
  it("an enabled sink whose secret variable is unset is a load error naming it", async () => {
    const file = fleetFile({ sinks: { pd: { type: "pagerduty", routingKeyEnv: "TEST_ALERT_UNSET_ROUTING_KEY" } } });
    await expect(startTestServer({ OPS_FLEET_FILE: file })).rejects.toThrow(/alerts\.sinks\.pd\.routingKeyEnv: environment variable TEST_ALERT_UNSET_ROUTING_KEY is not set/);
  });
});
