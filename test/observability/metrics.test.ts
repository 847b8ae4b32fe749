import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RunningServer } from "../../src/server";
import { gql } from "../support/clients";
import { fileLines, repoFromRecording } from "../support/fixtures";
import { register, sync, waitFor } from "../support/runs";
import { startTestServer } from "../support/server";

// /metrics in Prometheus text format, behind OPS_METRICS_TOKEN: the named series exist and move when work happens.

const TOKEN = "metrics-token-0123456789";
let server: RunningServer;
const metricsUrl = () => server.url.replace(/\/graphql$/, "/metrics");

beforeAll(async () => {
  server = await startTestServer({ OPS_POLL_INTERVAL_MS: "60000", OPS_METRICS_TOKEN: TOKEN });
});
afterAll(() => server?.close());

async function scrape(): Promise<string> {
  const res = await fetch(metricsUrl(), { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toContain("text/plain");
  return res.text();
}

/** Sum of a series' samples whose labels include every given label. */
function value(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got = Object.fromEntries([...(m[3] ?? "").matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) sum += Number(m[4]);
  }
  return sum;
}

describe("/metrics", () => {
  it("needs the token", async () => {
    expect((await fetch(metricsUrl())).status).toBe(401);
    expect((await fetch(metricsUrl(), { headers: { authorization: "Bearer wrong-token-0123456789" } })).status).toBe(401);
  });

  it("exposes the named series, and they move when work happens", async () => {
    const before = await scrape();
    for (const name of [
      "superloop_ops_runs",
      "superloop_ops_ingest_events_total",
      "superloop_ops_ingest_batches_total",
      "superloop_ops_poll_errors_total",
      "superloop_ops_intents",
      "superloop_ops_intent_dispatch_to_confirm_seconds",
      "superloop_ops_subscriptions",
      "superloop_ops_subscription_buffer_overflows_total",
      "superloop_ops_alert_deliveries_total",
      "superloop_ops_alert_retries_total",
      "superloop_ops_leases_held",
      "superloop_ops_alert_dispatcher_leader",
      "superloop_ops_http_request_duration_seconds",
      "superloop_ops_graphql_operation_duration_seconds",
      "superloop_ops_ingest_lag_seconds",
    ]) {
      expect(before, name).toContain(`# TYPE ${name} `);
    }
    const events0 = value(before, "superloop_ops_ingest_events_total");
    const batches0 = value(before, "superloop_ops_ingest_batches_total");
    const gqlOps0 = value(before, "superloop_ops_graphql_operation_duration_seconds_count", { type: "mutation" });

    const repo = repoFromRecording("approval");
    const run = await register(server, "m-1", repo);
    await sync(server, run.id);
    // a Sprite whose agent does not answer: a poll error labelled with its transport
    await gql(server.url, `mutation($i: RegisterSpriteInput!) { registerSprite(input: $i) { __typename } }`, {
      i: { name: "m-down", transport: "SPRITE_SERVICE", repoPath: "/r", loopId: "demo-loop", agentUrl: "http://127.0.0.1:9/", agentTokenEnv: "TEST_METRICS_UNSET_TOKEN" },
    });

    const after = await waitFor(scrape, (t) => value(t, "superloop_ops_poll_errors_total", { transport: "SPRITE_SERVICE" }) > 0, 10_000, "a poll error");
    expect(value(after, "superloop_ops_ingest_events_total") - events0).toBeGreaterThanOrEqual(fileLines(repo).length);
    expect(value(after, "superloop_ops_ingest_batches_total")).toBeGreaterThan(batches0);
    expect(value(after, "superloop_ops_runs", { state: "AWAITING_APPROVAL" })).toBe(1);
    expect(value(after, "superloop_ops_leases_held")).toBe(2);
    expect(value(after, "superloop_ops_alert_dispatcher_leader")).toBe(1);
    expect(value(after, "superloop_ops_graphql_operation_duration_seconds_count", { type: "mutation" })).toBeGreaterThan(gqlOps0);
    expect(value(after, "superloop_ops_http_request_duration_seconds_count", { route: "/graphql", method: "POST", status: "200" })).toBeGreaterThan(0);
    expect(after).toMatch(/superloop_ops_ingest_lag_seconds\{sprite="m-1",loop="demo-loop",run="[^"]+"\} \d/);
    // the run's AWAITING_APPROVAL opened an alert episode (no sinks configured: recorded, nothing sent)
    const open = await waitFor(scrape, (t) => value(t, "superloop_ops_alerts_open", { condition: "awaiting_approval" }) === 1, 5000, "the open alert");
    expect(value(open, "superloop_ops_alerts_raised_total", { condition: "awaiting_approval" })).toBeGreaterThanOrEqual(1);
  });
});
